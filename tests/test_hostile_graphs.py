"""Graph configs that would fail at the first call fail at load time instead, with a clear error;
``model_from_json`` is bounded like the file loaders; ``max_bytes`` caps zip members."""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import pytest
import torch

import keraslike_torch as kt

BASE = {
    "class_name": "Functional",
    "keras_version": "2.15.0",
    "config": {
        "name": "m",
        "layers": [
            {"class_name": "InputLayer", "name": "seq",
             "config": {"batch_input_shape": [None, 4, 3], "dtype": "float32", "name": "seq"}, "inbound_nodes": []},
            {"class_name": "LSTM", "name": "lstm", "config": {"name": "lstm", "units": 2},
             "inbound_nodes": [[["seq", 0, 0, {}]]]},
        ],
        "input_layers": [["seq", 0, 0]],
        "output_layers": [["lstm", 0, 0]],
    },
}


def _json(mutate=None) -> str:
    config = copy.deepcopy(BASE)
    if mutate is not None:
        mutate(config["config"])
    return json.dumps(config)


def test_base_config_loads_and_runs() -> None:
    model = kt.model_from_json(_json())
    assert tuple(model(torch.zeros(2, 4, 3)).shape) == (2, 2)


@pytest.mark.parametrize("mutate,match", [
    (lambda c: c.update(output_layers=[["missing", 0, 0]]), r"output 'missing' \(call 0\) is not produced"),
    (lambda c: c.update(output_layers=[["lstm", 3, 0]]), r"output 'lstm' \(call 3\) is not produced"),
    (lambda c: c.update(output_layers=[]), "names no output tensors"),
    (lambda c: c.update(output_layers=[["lstm", 0, 4]]),
     "names output 4 of layer 'lstm' \\(call 0\\), which that layer does not produce"),
    (lambda c: c["layers"][1]["config"].update(units=0), "units"),
    (lambda c: c["layers"][1].update(inbound_nodes=[[["ghost", 0, 0, {}]]]),
     "layer 'lstm' takes a tensor of layer 'ghost', which is not in the config"),
    (lambda c: c["layers"].append("not a layer"), "layer entry 2 must be an object"),
    (lambda c: c["layers"][1].update(config=7), "layer entry 1 must be an object with a 'config' object"),
])
def test_broken_graphs_fail_at_load(mutate, match) -> None:
    with pytest.raises(kt.KerasFileError, match=match):
        kt.model_from_json(_json(mutate))


def test_model_from_json_deep_structures_are_clear_errors() -> None:
    t0 = time.perf_counter()
    with pytest.raises(kt.KerasFileError, match="nests 100000 levels deep"):
        kt.model_from_json("[" * 100_000 + "]" * 100_000)
    text = '{"class_name": "Dense", "config": {"name": "d", "units": 2}}'
    for i in range(400):
        text = f'{{"class_name": "Sequential", "config": {{"name": "s{i}", "layers": [{text}]}}}}'
    with pytest.raises(kt.KerasFileError, match="levels deep"):
        kt.model_from_json(text)
    assert time.perf_counter() - t0 < 2
    with pytest.raises(kt.KerasFileError, match="must be an object"):
        kt.model_from_json("[1, 2]")
    with pytest.raises(TypeError, match="takes the JSON text"):
        kt.model_from_json({"class_name": "Sequential"})  # type: ignore[arg-type]


def test_max_bytes_caps_zip_members(keras3, tmp_path) -> None:
    model = keras3.Sequential([keras3.Input((4, 3)), keras3.layers.LSTM(64)])
    path = tmp_path / "m.keras"
    model.save(path)
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    ours = kt.load_model(path)  # the default cap (8 GiB) lets it through
    np.testing.assert_allclose(ours(torch.from_numpy(x)).detach().numpy(), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(kt.KerasFileError, match="model.weights.h5"):
        kt.load_model(path, max_bytes=10_000)
    with pytest.raises(kt.KerasFileError, match="model.weights.h5"):
        kt.read_weights(path, max_bytes=10_000)
    with pytest.raises(kt.KerasFileError, match="model.weights.h5"):
        kt.load_weights(ours, path, max_bytes=10_000)
    with pytest.raises(ValueError, match="max_bytes must be a positive int"):
        kt.load_model(path, max_bytes=0)


def _strip_shapes(cfg):
    """An architecture with no input sizes anywhere: every layer is built by the weights."""
    if isinstance(cfg, dict):
        return {k: _strip_shapes(v) for k, v in cfg.items() if k not in ("batch_input_shape", "batch_shape",
                                                                         "input_shape")}
    if isinstance(cfg, list):
        return [_strip_shapes(v) for v in cfg if not (isinstance(v, dict) and v.get("class_name") == "InputLayer")]
    return cfg


def test_failed_load_into_unbuilt_nested_model_changes_nothing(tfk, tmp_path) -> None:
    import h5py

    inner = tfk.Sequential([tfk.layers.LSTM(3, return_sequences=True, name="inner_lstm"),
                            tfk.layers.GRU(2, name="inner_gru")], name="inner")
    model = tfk.Sequential([tfk.Input((4, 3)), inner, tfk.layers.Dense(1, name="head")])
    path = tmp_path / "w.h5"
    model.save_weights(path)
    with h5py.File(path, "r+") as f:  # the LAST layer's kernel no longer fits its units
        group = f["head"]["head"]
        del group["kernel:0"]
        group["kernel:0"] = np.zeros((2, 4), "float32")
    ours = kt.model_from_json(json.dumps(_strip_shapes(json.loads(model.to_json()))))
    nested = ours.layer("inner")
    assert not nested.layer("inner_lstm").cell.built
    with pytest.raises(kt.KerasFileError, match="head"):
        kt.load_weights(ours, path)
    assert not nested.layer("inner_lstm").cell.built and not nested.layer("inner_gru").cell.built


def test_weights_that_do_not_fit_the_graph_fail_at_load(tfk, tmp_path) -> None:
    import h5py

    model = tfk.Sequential([tfk.Input((4, 3)), tfk.layers.LSTM(2, name="lstm"), tfk.layers.Dense(1, name="head")])
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:  # Dense takes 5 features, the LSTM gives 2
        group = f["model_weights"]["head"]["head"]
        del group["kernel:0"]
        group["kernel:0"] = np.zeros((5, 1), "float32")
    with pytest.raises(kt.KerasFileError, match=r"layer 'head': the weights do not fit the graph"):
        kt.load_model(path)


def test_model_from_config_bounds_nesting_of_a_dict() -> None:
    config: dict = {"class_name": "Dense", "config": {"name": "d", "units": 2}}
    for i in range(400):
        config = {"class_name": "Sequential", "config": {"name": f"s{i}", "layers": [config]}}
    t0 = time.perf_counter()
    with pytest.raises(kt.KerasFileError, match="levels deep"):
        kt.model_from_config(config)
    assert time.perf_counter() - t0 < 1
    with pytest.raises(TypeError, match="takes a config dict"):
        kt.model_from_config("[]")  # type: ignore[arg-type]


def _sequential(layers: list, shape: list) -> str:
    first = {"class_name": "InputLayer", "config": {"batch_input_shape": [None, *shape], "name": "in"}}
    return json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [first, *layers]}})


@pytest.mark.parametrize("layers, shape, where", [
    ([{"class_name": "Dense", "config": {"units": 2, "name": "d"}}], [100000, 100000], "aten.randn"),
    ([{"class_name": "UpSampling2D", "config": {"size": [100000, 100000], "name": "up"}}], [4, 4, 1], "layer 'up'"),
    ([{"class_name": "ZeroPadding2D", "config": {"padding": [[10**5, 10**5], [10**5, 10**5]], "name": "pad"}}],
     [4, 4, 1], "layer 'pad'"),
    ([{"class_name": "Flatten", "config": {"name": "f"}}, {"class_name": "RepeatVector", "config": {"n": 2 * 10**9,
                                                                                                  "name": "rep"}}],
     [4, 4], "layer 'rep'"),
])
def test_config_sizes_that_would_allocate_gigabytes_are_refused(layers, shape, where) -> None:
    """A config alone (no weights) decides activation sizes: the load's dry run checks each op's
    output size on the meta device before it runs and refuses more than 2**28 elements."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(kt.KerasFileError, match="sizes are too large") as err:
        kt.model_from_json(_sequential(layers, shape))
    assert where in str(err.value)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300, f"peak memory grew by {grown_mb:.0f} MB"


@pytest.mark.parametrize("class_name, config", [
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 100_000}),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3, "depth_multiplier": 100_000}),
    ("ConvLSTM2D", {"filters": 2000, "kernel_size": 3}),
])
def test_convolution_configs_count_against_the_parameter_budget(class_name, config) -> None:
    """depth_multiplier and the ConvLSTM's recurrent kernel are counted before anything is built."""
    from keraslike_torch.converters import ConvertContext, convert_layer

    cfg = {"name": "big", "build_config": {"input_shape": [None, 8, 8, 8] if "LSTM" not in class_name
                                           else [None, 3, 8, 8, 8]}, **config}
    with pytest.raises(kt.KerasFileError, match=f"{class_name} layer 'big': .*ask for \\d+ parameters"):
        convert_layer(class_name, cfg, ConvertContext(param_budget=1_000_000))
    with pytest.raises(kt.KerasFileError, match="'depth_multiplier' must be a positive int"):
        convert_layer("DepthwiseConv2D", {"name": "d", "kernel_size": 3, "depth_multiplier": 0})
