"""save_keras on the real files of ../shared/models (load -> save_keras -> reload in Keras ->
equal to the original file's outputs), and the ``export`` command's round trip: Keras file ->
convert -> SGD steps in torch -> export -> Keras."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pytest
import torch

import keraslike_torch as kt
from keraslike_torch.porting.export import ExportError
from keraslike_torch.tools.cli import main
from keraslike_torch.tools.verify import keras_reference

FILES = [  # (file, time steps for free time axes); the medaka files (1000 fixed steps) are too slow here
    ("lens_poem_simplernn/char_rnn.h5", None),
    ("shakespeare_char_gru/char_rnn.h5", 12),
]


def _keras_outputs(model, xs):
    out = model(xs if len(xs) > 1 else xs[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("path,steps", FILES, ids=[p for p, _ in FILES])
def test_shared_model_files_round_trip(shared_models, keras3, tfk, tmp_path, path, steps):
    module = kt.load_model(shared_models / path)
    xs = [t.numpy() for t in module.example_inputs(batch_size=2, time_steps=steps or 5, seed=0)]
    original = _keras_outputs(keras_reference(shared_models / path), xs)
    for suffix, loader in ((".h5", tfk.models.load_model), (".keras", keras3.models.load_model)):
        out = tmp_path / f"model{suffix}"
        try:
            kt.save_keras(module, out)
        except ExportError as e:  # Keras 2 semantics Keras 3 lacks: the refusal names them
            assert suffix == ".keras" and "hard_sigmoid" in str(e) and ".h5" in str(e)
            continue
        for got, want in zip(_keras_outputs(loader(out), xs), original):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_keras1_file_goes_to_tf_keras(shared_models, tfk, tmp_path):
    """A Keras 1 LSTM (hard_sigmoid with slope 0.2): .keras is refused naming the layer, .h5
    reproduces the predictions the original Keras 1 run published with the file."""
    folder = shared_models / "dl4j_keras1_fixtures"
    module = kt.load_model(folder / "simple_lstm_tf_keras_1_model.h5")
    with pytest.raises(ExportError, match=r"LSTM layer .*hard_sigmoid.*\.h5"):
        kt.save_keras(module, tmp_path / "m.keras")
    kt.save_keras(module, tmp_path / "m.h5")
    data = np.load(folder / "simple_lstm_tf_keras_1_inputs_and_predictions.npz")
    got = _keras_outputs(tfk.models.load_model(tmp_path / "m.h5"), [data["inputs"].astype("float32")])[0]
    np.testing.assert_allclose(got, data["predictions"], rtol=1e-5, atol=1e-6)


def test_export_command_round_trip(shared_models, keras3, tfk, tmp_path, capsys):
    """The README's round trip, through the command line."""
    source = tmp_path / "char_rnn.h5"
    shutil.copy(shared_models / "lens_poem_simplernn/char_rnn.h5", source)
    assert main(["convert", str(source), str(tmp_path / "out")]) == 0
    spec = importlib.util.spec_from_file_location("converted_char_rnn", tmp_path / "out" / "model.py")
    generated = importlib.util.module_from_spec(spec)
    sys.modules["converted_char_rnn"] = generated
    spec.loader.exec_module(generated)
    model = generated.load().train()
    from safetensors.torch import save_file

    reference = kt.load_model(source)
    x = reference.example_inputs(batch_size=2, time_steps=5)[0]
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3):
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "out" / "model.safetensors"))
    for name, loader in (("tuned.keras", keras3.models.load_model), ("tuned.h5", tfk.models.load_model)):
        assert main(["export", str(tmp_path / "out"), str(tmp_path / name)]) == 0
        with torch.no_grad():
            want = model(x).numpy()
        got = _keras_outputs(loader(tmp_path / name), [x.numpy()])[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, reference(x).detach().numpy())  # the trained weights, not the file's
    assert main(["export", str(tmp_path / "out"), str(tmp_path / "x.pt")]) == 2
    assert "error:" in capsys.readouterr().err
