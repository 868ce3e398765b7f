"""tf.keras SavedModel directories and TF-format checkpoints, written by tf-keras at test time and
compared with tf-keras's own loading (``tf_keras.models.load_model(dir)``, ``model.load_weights(prefix)``);
corrupted and hostile bundles; the TF 2.0-2.4 layout (Keras metadata inside saved_model.pb)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from test_files import randomize

import keraslike_torch as kt
from keraslike_torch.porting.formats import open_keras_file
from keraslike_torch.porting.tf_formats import refuse_by_name
from keraslike_torch.porting.tf_formats.tensor_bundle import TensorBundle, masked_crc32c, read_table

PATTERNS = ["tokens", "seq2seq", "nested_bn", "stack"]
SAVEDMODEL_F64 = ["tokens", "seq2seq", "nested_bn"]


def models(tfk):
    """The loader test patterns: Embedding(mask_zero) on pre-padded ids into Bidirectional (hard_sigmoid),
    TimeDistributed, GRU(reset_after=False) and SimpleRNN; seq2seq state wiring; a nested model
    holding BatchNormalization (its trainable weights listed before its moving statistics); a
    Sequential stack."""
    L = tfk.layers
    ids = tfk.Input((9,), name="ids")
    e = L.Embedding(20, 6, mask_zero=True, name="emb")(ids)
    b = L.Bidirectional(L.LSTM(4, return_sequences=True, recurrent_activation="hard_sigmoid"), name="bi")(e)
    t = L.TimeDistributed(L.Dense(5, activation="tanh"), name="td")(b)
    g = L.GRU(4, return_sequences=True, reset_after=False, name="gru")(t)
    tokens = tfk.Model(ids, [L.SimpleRNN(3, activation="relu", name="srnn")(g), g])
    enc = tfk.Input((None, 4), name="enc")
    dec = tfk.Input((None, 3), name="dec")
    _, h, c = L.LSTM(5, return_state=True, name="encoder")(enc)
    y1 = L.LSTM(5, return_sequences=True, name="decoder")(dec, initial_state=[h, c])
    y2, hb = L.GRU(5, return_state=True, name="gru_state")(dec, initial_state=h)
    seq2seq = tfk.Model([enc, dec], [y1, y2, hb])
    x = tfk.Input((6, 3), name="x")
    h = L.LSTM(4, return_sequences=True, name="l1")(x)
    h = L.GRU(4, reset_after=False, recurrent_activation="hard_sigmoid", name="g1")(h)
    head = tfk.Sequential([tfk.Input((4,)), L.Dense(5, name="d1"), L.BatchNormalization(name="bn"),
                           L.Dense(2, name="d2")], name="head")
    stack = tfk.Sequential([tfk.Input((6, 3)), L.LSTM(5, return_sequences=True, recurrent_activation="hard_sigmoid"),
                            L.Bidirectional(L.SimpleRNN(3, return_sequences=True)), L.GRU(2)], name="stack")
    return {"tokens": tokens, "seq2seq": seq2seq, "nested_bn": tfk.Model(x, head(h)), "stack": stack}


def model_inputs(name, rng, dtype):
    if name == "tokens":
        ids = rng.integers(1, 20, (3, 9))
        ids[0, :4] = 0  # pre-padded (pad_sequences' default)
        ids[1, :8] = 0
        ids[2, :] = 0  # a fully masked row
        return [ids]
    if name == "seq2seq":
        return [rng.standard_normal((3, 7, 4)).astype(dtype), rng.standard_normal((3, 5, 3)).astype(dtype)]
    return [rng.standard_normal((3, 6, 3)).astype(dtype)]


@pytest.fixture(scope="module")
def written(tfk, tmp_path_factory):
    """{(pattern, dtype): (tf-keras model, SavedModel dir or None, checkpoint prefix)}; plus a
    SavedModel saved with traces (tf-keras's default) and the TF 2.0-2.4 layout."""
    root = tmp_path_factory.mktemp("tfformats")
    rng = np.random.default_rng(7)
    out = {}
    for dtype in ("float32", "float64"):
        tfk.backend.set_floatx(dtype)
        try:
            built = models(tfk)
        finally:
            tfk.backend.set_floatx("float32")
        for name, model in built.items():
            randomize(model, rng)
            for layer in model.get_layer("head").layers if name == "nested_bn" else []:
                if type(layer).__name__ == "BatchNormalization":
                    ws = layer.get_weights()
                    layer.set_weights([*ws[:3], np.abs(ws[3]) + 0.5])
            sm = None
            if dtype == "float32" or name in SAVEDMODEL_F64:
                sm = root / f"{name}_{dtype}_sm"
                model.save(sm, save_traces=False)
            prefix = root / f"{name}_{dtype}_ckpt" / "weights"
            model.save_weights(prefix)
            out[(name, dtype)] = (model, sm, prefix)
    traced = tfk.Sequential([tfk.Input((6, 3)), tfk.layers.LSTM(3, recurrent_activation="hard_sigmoid")])
    randomize(traced, rng)
    out["traced"] = root / "traced_sm"
    traced.save(out["traced"])  # save_traces=True (the default): graphs and functions in saved_model.pb
    out["tf24"] = tf24_layout(out[("seq2seq", "float32")][1], root / "tf24_sm")
    return out


def tf24_layout(src: Path, dst: Path) -> Path:
    """A TF 2.0-2.4 SavedModel from a TF 2.21 one: TF < 2.5 wrote each Keras object's metadata into
    its SavedUserObject.metadata in saved_model.pb and no keras_metadata.pb. TF 2.21 leaves that
    field empty, so it is filled from keras_metadata.pb (same node ids), which is then removed."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tf_keras.protobuf import saved_metadata_pb2

    shutil.copytree(src, dst)
    meta = saved_metadata_pb2.SavedMetadata.FromString((dst / "keras_metadata.pb").read_bytes())
    sm = saved_model_pb2.SavedModel.FromString((dst / "saved_model.pb").read_bytes())
    nodes = sm.meta_graphs[0].object_graph_def.nodes
    for node in meta.nodes:
        assert nodes[node.node_id].user_object.identifier == node.identifier
        assert not nodes[node.node_id].user_object.metadata  # TF 2.21 does not write it there
        nodes[node.node_id].user_object.metadata = node.metadata
    (dst / "saved_model.pb").write_bytes(sm.SerializeToString())
    (dst / "keras_metadata.pb").unlink()
    return dst


def _parity(reference, ours, x, what):
    try:
        kt.testing.assert_keras_parity(reference, ours, x)
    except AssertionError as e:
        raise AssertionError(f"{what}:\n{e}") from None


@pytest.mark.parametrize("name,dtype", [(n, "float32") for n in PATTERNS] + [(n, "float64") for n in SAVEDMODEL_F64])
def test_savedmodel_matches_tf_keras(written, tfk, name, dtype, rng):
    model, sm, _ = written[(name, dtype)]
    reference = tfk.models.load_model(sm, compile=False)
    ours = kt.load_model(sm)
    assert ours.count_params() == reference.count_params()
    assert next(ours.parameters()).dtype == {"float32": torch.float32, "float64": torch.float64}[dtype]
    _parity(reference, ours, model_inputs(name, rng, dtype), f"SavedModel {name} {dtype}")
    again = kt.load_model(sm / "saved_model.pb")  # the file itself names the directory
    for a, b in zip(again.get_keras_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", PATTERNS)
def test_checkpoint_matches_tf_keras(written, tfk, name, dtype, rng):
    model, _, prefix = written[(name, dtype)]
    tfk.backend.set_floatx(dtype)
    try:
        reference = tfk.models.model_from_json(model.to_json())
    finally:
        tfk.backend.set_floatx("float32")
    reference.load_weights(prefix)
    ours = kt.model_from_json(model.to_json())
    kt.load_weights(ours, prefix)
    _parity(reference, ours, model_inputs(name, rng, dtype), f"checkpoint {name} {dtype}")
    for a, b in zip(ours.get_keras_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    by_index = kt.model_from_json(model.to_json())
    kt.load_weights(by_index, str(prefix) + ".index")
    for a, b in zip(by_index.get_keras_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_read_weights_by_layer_name(written):
    model, sm, prefix = written[("tokens", "float32")]
    for path in (sm, prefix):
        arrays = kt.read_weights(path)
        expected = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
        assert list(arrays) == list(expected), path
        for name, ws in expected.items():
            assert len(arrays[name]) == len(ws)
            for a, b in zip(arrays[name], ws):
                np.testing.assert_array_equal(a, b)


def test_traced_savedmodel(written, tfk, rng):
    """tf-keras's default save (graphs and functions traced into saved_model.pb): only the
    metadata is decoded; the model matches tf-keras's loading of the same directory."""
    reference = tfk.models.load_model(written["traced"], compile=False)
    ours = kt.load_model(written["traced"])
    assert (written["traced"] / "saved_model.pb").stat().st_size > 100_000  # it does hold graphs
    assert ours.keras_layers()[0][1].cell.recurrent_activation.name == "hard_sigmoid_keras2"
    _parity(reference, ours, model_inputs("stack", rng, "float32"), "traced SavedModel")


def test_tf24_layout(written, tfk, rng):
    """Keras metadata in saved_model.pb's object graph (TF 2.0-2.4), no keras_metadata.pb."""
    path = written["tf24"]
    assert not (path / "keras_metadata.pb").exists()
    reference = tfk.models.load_model(path, compile=False)  # tf-keras's own reader of that layout
    ours = kt.load_model(path)
    with open_keras_file(path) as kf:
        assert kf.kind == "saved_model" and kf.generation == 2
        assert kf.extra["tensorflow_version"] == "2.21.0"
    _parity(reference, ours, model_inputs("seq2seq", rng, "float32"), "TF 2.4-layout SavedModel")


def test_by_name_is_refused_like_tf_keras(written, tfk):
    model, _, prefix = written[("stack", "float32")]
    with pytest.raises(NotImplementedError):  # tf-keras: topological loading only for TF format
        tfk.models.model_from_json(model.to_json()).load_weights(prefix, by_name=True)
    with open_keras_file(prefix) as kf, pytest.raises(kt.KerasFileError, match="layer order only"):
        refuse_by_name(kf, True)


def test_cli_inspect_and_convert(written, tmp_path, capsys):
    from keraslike_torch.tools.cli import main

    model, sm, prefix = written[("seq2seq", "float32")]
    assert main(["inspect", str(sm)]) == 0
    printed = capsys.readouterr().out
    assert "format: saved_model" in printed and "all layers convert" in printed
    assert main(["inspect", str(prefix)]) == 0
    assert "encoder" in capsys.readouterr().out
    assert main(["convert", str(sm) + "/", str(tmp_path / "out"), "--verify"]) == 0  # against tf-keras's loading
    assert (tmp_path / "out" / "model.py").exists() and "verify: OK" in capsys.readouterr().out
    arch = tmp_path / "arch.json"
    arch.write_text(model.to_json())
    assert main(["convert", f"{prefix}.index", str(tmp_path / "out2"), "--architecture", str(arch), "--verify"]) == 0
    assert "verify: OK" in capsys.readouterr().out


# ---- corrupted and hostile bundles ------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def write_table(entries: dict[str, bytes]) -> bytes:
    """A LevelDB-format table (one data block, one index block) like TF's bundle writer's."""
    def block(items: list[tuple[bytes, bytes]]) -> bytes:
        body, restarts = b"", []
        for k, v in items:
            restarts.append(len(body))
            body += _varint(0) + _varint(len(k)) + _varint(len(v)) + k + v
        body += struct.pack(f"<{len(restarts)}I", *restarts) + struct.pack("<I", len(restarts))
        return body + b"\0" + struct.pack("<I", masked_crc32c(body + b"\0"))

    items = sorted((k.encode(), v) for k, v in entries.items())
    data = block(items)
    index = block([(items[-1][0], _varint(0) + _varint(len(data) - 5))])
    footer = _varint(0) + _varint(0) + _varint(len(data)) + _varint(len(index) - 5)
    footer += b"\0" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    return data + index + footer


def write_bundle(prefix: Path, tensors: dict[str, np.ndarray], graph: bytes | None, shape=None, sliced=False,
                 **override) -> None:
    """A bundle with the given float tensors (and object graph) through our table writer;
    ``shape`` and ``override`` replace the shape and other BundleEntryProto fields of every tensor."""
    from tensorflow.core.framework import tensor_shape_pb2
    from tensorflow.core.protobuf import tensor_bundle_pb2

    data = b""
    entries = {"": tensor_bundle_pb2.BundleHeaderProto(num_shards=1).SerializeToString()}
    for key, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        e = tensor_bundle_pb2.BundleEntryProto(dtype=1, offset=len(data), size=len(raw), crc32c=masked_crc32c(raw))
        e.shape.dim.extend([tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in (shape or a.shape)])
        for field, value in override.items():
            setattr(e, field, value)
        if sliced:  # a partitioned variable's entry lists its slices
            e.slices.add().extent.add(start=0, length=1)
        entries[key] = e.SerializeToString()
        data += raw
    if graph is not None:
        from keraslike_torch.porting.tf_formats.tensor_bundle import crc32c, mask

        length = struct.pack("<I", len(graph))
        crc = crc32c(length)
        record = _varint(len(graph)) + struct.pack("<I", mask(crc)) + graph
        crc = crc32c(graph, crc32c(struct.pack("<I", mask(crc)), crc))
        e = tensor_bundle_pb2.BundleEntryProto(dtype=7, offset=len(data), size=len(record), crc32c=mask(crc))
        entries["_CHECKPOINTABLE_OBJECT_GRAPH"] = e.SerializeToString()
        data += record
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{prefix}.index").write_bytes(write_table(entries))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)


def object_graph(children: list[list[tuple[int, str]]], variables: dict[int, str]) -> bytes:
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    g = trackable_object_graph_pb2.TrackableObjectGraph()
    for i, refs in enumerate(children):
        node = g.nodes.add()
        for target, name in refs:
            node.children.add(node_id=target, local_name=name)
        if i in variables:
            node.attributes.add(name="VARIABLE_VALUE", full_name=f"dense/{variables[i].split('/')[1]}",
                                checkpoint_key=variables[i])
    return g.SerializeToString()


DENSE_KEYS = {"layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.ones((3, 2), "float32"),
              "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE": np.arange(2, dtype="float32")}
DENSE_GRAPH = [[(1, "layer_with_weights-0"), (1, "layer-0")], [(2, "kernel"), (3, "bias")], [], []]
DENSE_VARS = {2: "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE",
              3: "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE"}


def dense_model():
    return kt.model_from_json('{"class_name": "Sequential", "config": {"name": "s", "layers": ['
                              '{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 3], "name": "i"}},'
                              '{"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}')


def test_table_writer_agrees_with_tensorflow(tf, tmp_path):
    """The hand-built bundles below are read by TensorFlow itself: the writer is faithful."""
    write_bundle(tmp_path / "w", DENSE_KEYS, object_graph(DENSE_GRAPH, DENSE_VARS))
    reader = tf.train.load_checkpoint(str(tmp_path / "w"))
    np.testing.assert_array_equal(reader.get_tensor(next(iter(DENSE_KEYS))), np.ones((3, 2)))
    model = dense_model()
    kt.load_weights(model, tmp_path / "w")
    np.testing.assert_array_equal(model.get_keras_weights()[1], np.arange(2))


def _unchanged(model, before):
    for a, b in zip(model.get_keras_weights(), before):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def ckpt(written, tmp_path):
    """A copy of a tf-keras checkpoint, the model it fits and that model's weights before loading."""
    model, _, prefix = written[("stack", "float32")]
    dst = tmp_path / "ck"
    shutil.copytree(prefix.parent, dst)
    ours = kt.model_from_json(model.to_json())
    return dst / "weights", ours, ours.get_keras_weights()


def test_bad_crc(ckpt):
    prefix, model, before = ckpt
    with TensorBundle(str(prefix)) as b:
        entry = next(e for e in b.entries.values() if e.key.endswith("VARIABLE_VALUE") and e.size)
    shard = Path(f"{prefix}.data-00000-of-00001")
    raw = bytearray(shard.read_bytes())
    raw[entry.offset + 1] ^= 0x40
    shard.write_bytes(bytes(raw))
    with pytest.raises(kt.KerasFileError, match="crc32c") as info:
        kt.load_weights(model, prefix)
    assert entry.key in str(info.value) and "weights.data-00000-of-00001" in str(info.value)
    _unchanged(model, before)


def test_bad_index_block_crc(ckpt):
    prefix, model, before = ckpt
    index = Path(f"{prefix}.index")
    raw = bytearray(index.read_bytes())
    raw[20] ^= 0x01
    index.write_bytes(bytes(raw))
    with pytest.raises(kt.KerasFileError, match="crc32c check") as info:
        kt.load_weights(model, prefix)
    assert "weights.index" in str(info.value)
    _unchanged(model, before)


def test_truncated_shard(ckpt):
    prefix, model, before = ckpt
    shard = Path(f"{prefix}.data-00000-of-00001")
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(kt.KerasFileError, match="truncated") as info:
        kt.load_weights(model, prefix)
    assert "data-00000-of-00001" in str(info.value)
    _unchanged(model, before)


def test_missing_files(ckpt, written, tmp_path):
    prefix, model, before = ckpt
    Path(f"{prefix}.data-00000-of-00001").unlink()
    with pytest.raises(kt.KerasFileError, match="data shard .* is missing"):
        kt.load_weights(model, prefix)
    Path(f"{prefix}.index").unlink()
    with pytest.raises(FileNotFoundError, match="weights"):
        kt.load_weights(model, prefix)
    _unchanged(model, before)
    sm = tmp_path / "sm"
    shutil.copytree(written[("stack", "float32")][1], sm)
    (sm / "variables" / "variables.index").unlink()
    with pytest.raises(kt.KerasFileError, match="variables.index"):
        kt.load_model(sm)
    (sm / "keras_metadata.pb").unlink()  # a TF >= 2.5 SavedModel without its Keras metadata
    with pytest.raises(kt.KerasFileError, match="without keras_metadata.pb"):
        kt.load_model(sm)


def test_truncated_index(ckpt):
    prefix, model, before = ckpt
    index = Path(f"{prefix}.index")
    index.write_bytes(index.read_bytes()[:-10])
    with pytest.raises(kt.KerasFileError, match="magic number"):
        kt.load_weights(model, prefix)
    _unchanged(model, before)


def test_huge_declared_size(tmp_path):
    write_bundle(tmp_path / "w", DENSE_KEYS, object_graph(DENSE_GRAPH, DENSE_VARS), size=2**40)
    model = dense_model()
    before = model.get_keras_weights()
    with pytest.raises(kt.KerasFileError, match="needs 24 bytes, the entry declares 1099511627776"):
        kt.load_weights(model, tmp_path / "w")
    # a consistent shape and size, 1 TiB, in a shard of a few hundred bytes: refused before anything is allocated
    write_bundle(tmp_path / "v", DENSE_KEYS, object_graph(DENSE_GRAPH, DENSE_VARS), shape=(2**38,), size=2**40)
    with pytest.raises(kt.KerasFileError, match=r"declares 1099511627776 bytes at offset 0, but the shard holds \d+"):
        kt.load_weights(model, tmp_path / "v")
    _unchanged(model, before)


def test_cyclic_and_deep_object_graphs(tmp_path):
    cyclic = [[(1, "layer_with_weights-0")], [(2, "cell")], [(1, "parent"), (3, "kernel")], []]
    write_bundle(tmp_path / "c", DENSE_KEYS, object_graph(cyclic, {3: DENSE_VARS[2]}))
    with pytest.raises(kt.KerasFileError, match="cycle"):
        kt.read_weights(tmp_path / "c")
    deep = [[(1, "layer_with_weights-0")]] + [[(i + 1, "inner")] for i in range(1, 200)] + [[]]
    write_bundle(tmp_path / "d", DENSE_KEYS, object_graph(deep, {200: DENSE_VARS[2]}))
    with pytest.raises(kt.KerasFileError, match="deeper than"):
        kt.read_weights(tmp_path / "d")
    nested_loop = [[(1, "layer_with_weights-0")], [(2, "layer_with_weights-0")], [(1, "layer_with_weights-0")]]
    write_bundle(tmp_path / "n", DENSE_KEYS, object_graph(nested_loop, {}))
    with pytest.raises(kt.KerasFileError, match="contains itself"):
        kt.read_weights(tmp_path / "n")
    dangling = [[(1, "layer_with_weights-0")], [(7, "kernel")]]
    write_bundle(tmp_path / "x", DENSE_KEYS, object_graph(dangling, {}))
    with pytest.raises(kt.KerasFileError, match="refers to node 7"):
        kt.read_weights(tmp_path / "x")


def test_checkpoints_tf_keras_did_not_write(tmp_path):
    write_bundle(tmp_path / "tf1", DENSE_KEYS, None)  # a name-based (TF1 Saver) checkpoint
    with pytest.raises(kt.KerasFileError, match="TF1-style"):
        kt.read_weights(tmp_path / "tf1")
    missing = {**DENSE_VARS, 3: "no/such/key"}
    write_bundle(tmp_path / "m", DENSE_KEYS, object_graph(DENSE_GRAPH, missing))
    with pytest.raises(kt.KerasFileError, match="'no/such/key', which the bundle does not hold"):
        kt.read_weights(tmp_path / "m")
    write_bundle(tmp_path / "s", DENSE_KEYS, object_graph(DENSE_GRAPH, DENSE_VARS), sliced=True)
    with pytest.raises(kt.KerasFileError, match="partitioned"):
        kt.read_weights(tmp_path / "s")


def test_bare_tf_module_savedmodel(tf, tmp_path):
    module = tf.Module()
    module.v = tf.Variable(np.ones(3, "float32"))
    module.f = tf.function(lambda x: x * module.v, input_signature=[tf.TensorSpec([3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "bare"))
    with pytest.raises(kt.KerasFileError, match="whose root is a '_generic_user_object' object, not a tf.keras model"):
        kt.load_model(tmp_path / "bare")


def test_symlink_out_of_the_directory(written, tmp_path):
    sm = tmp_path / "sm"
    shutil.copytree(written[("stack", "float32")][1], sm)
    outside = tmp_path / "elsewhere.index"
    shutil.move(sm / "variables" / "variables.index", outside)
    (sm / "variables" / "variables.index").symlink_to(outside)
    with pytest.raises(kt.KerasFileError, match="leads outside"):
        kt.load_model(sm)


def test_read_table_on_garbage():
    with pytest.raises(kt.KerasFileError, match="too short"):
        read_table(b"\0" * 10, "x.index")
    with pytest.raises(kt.KerasFileError, match="magic number"):
        read_table(b"\0" * 100, "x.index")


def test_protowire_reader(tf):
    """The wire reader against messages serialized by the protobuf runtime, and malformed bytes."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    from keraslike_torch.porting.tf_formats.protowire import ProtoError, parse

    ref = trackable_object_graph_pb2.TrackableObjectGraph.TrackableObject.ObjectReference(node_id=-3, local_name="é")
    assert parse(ref.SerializeToString(), {1: ("id", "int"), 2: ("name", "str")}) == {"id": -3, "name": "é"}
    for bad, why in [(b"\x08", "truncated varint"), (b"\x12\x05ab", "declares 5 bytes"),
                     (b"\x08" + b"\xff" * 11, "longer than 10"), (b"\x0b", "wire type 3"), (b"\x00", "field number 0")]:
        with pytest.raises(ProtoError, match=why):
            parse(bad, {1: ("a", "int"), 2: ("b", "str")})
    assert parse(b"\x0a\x03\x01\x02\x03", {1: ("xs[]", "int")}) == {"xs": [1, 2, 3]}  # packed repeated
