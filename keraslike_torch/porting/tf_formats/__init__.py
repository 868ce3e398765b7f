"""TensorFlow's own formats, read without TensorFlow: tf.keras SavedModel directories and TF-format
weight checkpoints (tensor bundles), as :class:`~keraslike_torch.porting.formats.KerasFile` objects.

Modules: :mod:`.protowire` (protobuf wire format), :mod:`.tensor_bundle` (the ``.index`` table and
data shards, crc32c-checked), :mod:`.object_graph` (which variable belongs to which layer),
:mod:`.saved_model` (the Keras metadata and the dispatch).
"""

from .saved_model import BundleWeights, open_tf, refuse_by_name, tf_kind

__all__ = ["BundleWeights", "open_tf", "refuse_by_name", "tf_kind"]
