"""speechgru.analysis against independent computations (NumPy, librosa, closed forms)."""

import keras
import numpy as np
import pytest
from conftest import tone

from speechgru import analysis
from speechgru.config import FeatureConfig, ModelConfig
from speechgru.models.build import build_model

CFG = FeatureConfig()


def test_feature_stages_match_numpy_and_the_training_features():
    from speechgru.features.librosa import mfcc
    from speechgru.features.tf import window

    y = tone(freq=700.0) + tone(freq=2100.0, amp=0.1, seed=1)
    st = analysis.feature_stages(y, CFG)
    frames = np.stack([y[t * CFG.hop_length:t * CFG.hop_length + CFG.n_fft]
                       for t in range(CFG.num_frames)])
    power = np.abs(np.fft.rfft(frames * window(CFG), axis=1)).T ** 2
    np.testing.assert_allclose(st["power"], power, rtol=1e-3, atol=1e-3)
    assert st["mel"].shape == (CFG.n_mels, CFG.num_frames)
    np.testing.assert_allclose(st["mfcc"], mfcc(y, CFG), atol=1e-3)
    # the 700 Hz tone is the loudest bin of every frame
    assert np.all(np.abs(st["power"].argmax(0) * CFG.sample_rate / CFG.n_fft - 700) < 32)


def test_frontend_delta_is_small_on_audio():
    pcm = np.stack([tone(freq=f, seed=i) for i, f in enumerate((300.0, 1200.0))])
    d = analysis.frontend_delta(pcm, CFG)
    assert d.shape == (2,)
    assert np.all(d < 2e-3)


def _numpy_gates(x, kernel, recurrent, bias, units):
    """Textbook GRU (reset_after, Keras weight layout) with z as the share of the candidate."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros((x.shape[0], units))
    zs, rs = [], []
    for t in range(x.shape[1]):
        xw = x[:, t] @ kernel + bias[0]
        hu = h @ recurrent + bias[1]
        z_keras = sig(xw[:, :units] + hu[:, :units])
        r = sig(xw[:, units:2 * units] + hu[:, units:2 * units])
        cand = np.tanh(xw[:, 2 * units:] + r * hu[:, 2 * units:])
        h = z_keras * h + (1 - z_keras) * cand
        zs.append(1 - z_keras)
        rs.append(r)
    return np.stack(zs, 1), np.stack(rs, 1), h


@pytest.mark.parametrize("cell,convention", [("custom", "textbook"), ("custom", "keras"),
                                             ("keras", "textbook")])
def test_gate_sequences_match_a_numpy_gru(cell, convention):
    cfg = ModelConfig(units=(6, 5), cell=cell, convention=convention, dropout=0.0)
    model = build_model(cfg, num_frames=7, num_features=4, num_classes=3)
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype(np.float32)
    gates = analysis.gate_sequences(model, x)
    assert len(gates) == 2
    first = model.get_layer("gru_0")
    w = first.get_keras_weights() if cell == "custom" else first.get_weights()
    z, r, h = _numpy_gates(x, *w, 6)  # the normalisation is the identity here
    np.testing.assert_allclose(gates[0]["update"], z, atol=1e-5)
    np.testing.assert_allclose(gates[0]["reset"], r, atol=1e-5)
    np.testing.assert_allclose(gates[0]["h"][:, -1], h, atol=1e-5)
    # the last layer's final state is what the model's head reads
    head_in = keras.Model(model.input, model.get_layer("probabilities").input)
    np.testing.assert_allclose(gates[1]["h"][:, -1], np.asarray(head_in(x)), atol=1e-5)


def test_gate_sequences_of_an_ensemble_name_each_members_layer():
    """An ensemble (``model.members``) has a GRU stack per member: every layer is read, by
    its name, with its own weights."""
    cfg = ModelConfig(units=(6, 5), dropout=0.0, members=2)
    model = build_model(cfg, num_frames=7, num_features=4, num_classes=3)
    x = np.random.default_rng(1).normal(size=(3, 7, 4)).astype(np.float32)
    gates = {g["name"]: g for g in analysis.gate_sequences(model, x)}
    assert sorted(gates) == ["gru_0_m0", "gru_0_m1", "gru_1_m0", "gru_1_m1"]
    for name in ("gru_0_m0", "gru_0_m1"):
        z, r, h = _numpy_gates(x, *model.get_layer(name).get_keras_weights(), 6)
        np.testing.assert_allclose(gates[name]["update"], z, atol=1e-5)
        np.testing.assert_allclose(gates[name]["h"][:, -1], h, atol=1e-5)
    assert np.abs(gates["gru_0_m0"]["h"] - gates["gru_0_m1"]["h"]).max() > 1e-3


def test_mean_gates_by_class_and_energy_correlation():
    upd = np.zeros((4, 3, 2))
    upd[[0, 2]] = 1.0
    gates = {"update": upd, "reset": 1 - upd}
    y = np.array([0, 1, 0, 1])
    m = analysis.mean_gates_by_class(gates, y, ["a", "b", "c"])
    assert m == {"a": {"update": 1.0, "reset": 0.0, "clips": 2},
                 "b": {"update": 0.0, "reset": 1.0, "clips": 2}}
    energy = upd.mean(-1) * 10 + 3
    c = analysis.gate_energy_correlation(gates, energy)
    assert c["update"] == pytest.approx(1.0) and c["reset"] == pytest.approx(-1.0)


def test_adding_problem_targets_and_markers():
    x, y = analysis.adding_problem(50, 40, seed=3, marker_window=5)
    assert x.shape == (50, 40, 2) and y.shape == (50,)
    assert np.all(x[..., 1].sum(1) == 2) and not x[:, 5:, 1].any()
    for i in range(50):
        idx = np.flatnonzero(x[i, :, 1])
        assert y[i] == pytest.approx(x[i, idx, 0].sum())
    np.testing.assert_array_equal(analysis.adding_problem(50, 40, seed=3, marker_window=5)[0], x)


def test_input_gradient_norms_against_a_closed_form():
    # a model that reads only the last step: loss = mean((w·x_T - y)^2), so the gradient
    # is zero before T and |2 (w·x_T - y) w| / n at T for each clip
    inp = keras.Input((6, 2))
    last = keras.layers.Lambda(lambda v: v[:, -1])(inp)
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inp, dense(last))
    w = np.array([[0.5], [-2.0]], np.float32)
    dense.set_weights([w])
    x, y = analysis.adding_problem(4, 6, seed=1)
    g = analysis.input_gradient_norms(model, x, y)
    assert g.shape == (6,) and np.all(g[:-1] == 0)
    err = x[:, -1] @ w[:, 0] - y
    expected = np.mean(np.abs(2 * err / 4) * np.linalg.norm(w))
    assert g[-1] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
def test_sequence_models_learn_a_short_adding_problem(kind):
    x, y = analysis.adding_problem(512, 8, seed=0, marker_window=8)
    xv, yv = analysis.adding_problem(128, 8, seed=1, marker_window=8)
    model = analysis.sequence_model(kind, 8, units=16)
    curve = analysis.train_curve(model, x, y, xv, yv, epochs=8, batch_size=32)
    assert len(curve) == 9
    assert curve[-1] < curve[0]
    with pytest.raises(ValueError, match="kind"):
        analysis.sequence_model("transformer", 8)


def test_worst_errors_and_per_speaker_accuracy():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.95, 0.05]])
    y = np.array([0, 0, 1, 1, 1])
    worst = analysis.worst_errors(probs, y, k=5)
    assert [w["index"] for w in worst] == [4, 1, 2]
    assert worst[0] == {"index": 4, "true": 1, "predicted": 0, "confidence": 0.95}
    rows = analysis.per_speaker_accuracy(["a", "a", "b", "b", "c"], probs, y)
    assert [(r["speaker"], r["clips"], r["accuracy"]) for r in rows] == [
        ("c", 1, 0.0), ("a", 2, 0.5), ("b", 2, 0.5)]


def test_export_table_keeps_failures():
    report = {"models": {"a.tflite": {"bytes": 2048, "max_abs_delta": 1e-7, "latency_ms": 0.5,
                                      "top1_agreement": 1.0, "accuracy": 0.9},
                         "b.tflite": {"error": "converter crashed"}}}
    rows = analysis.export_table(report)
    assert rows[0]["KiB"] == 2.0 and rows[1] == {"file": "b.tflite",
                                                 "error": "converter crashed"}


def test_notebook_settings_read_the_environment(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("SPEECHGRU_NOTEBOOK_MODE", "quick")
    monkeypatch.setenv("SPEECHGRU_NOTEBOOK_DATA", "data/x")
    monkeypatch.setenv("SPEECHGRU_NOTEBOOK_RUN", str(tmp_path / "abs_run"))
    monkeypatch.delenv("SPEECHGRU_NOTEBOOK_OUT", raising=False)
    s = analysis.notebook_settings(tmp_path / "notebooks")
    assert s["quick"] and s["root"] == tmp_path.resolve()
    assert s["data"] == tmp_path.resolve() / "data" / "x"  # relative to the repository
    assert s["run"] == tmp_path / "abs_run"
    assert s["out"] == tmp_path.resolve() / "runs" / "notebooks"
    monkeypatch.setenv("SPEECHGRU_NOTEBOOK_MODE", "fast")
    with pytest.raises(ValueError, match="full or quick"):
        analysis.notebook_settings(tmp_path)
