"""The analysis behind the notebooks: feature stages, GRU gates, gradient flow, errors.

Each function returns arrays or plain dicts (the notebooks plot them); each is tested in
``tests/test_analysis.py``.

* Features: :func:`feature_stages` (waveform → power spectrogram → mel → log-mel → MFCC),
  :func:`frontend_delta` (the in-graph TF front end against librosa).
* Gates: :func:`gate_sequences` (update and reset gates of every GRU layer of a trained
  model, per frame and unit), :func:`mean_gates_by_class`, :func:`gate_energy_correlation`.
* Gradients: :func:`adding_problem` (a task whose answer depends on the first steps of a long
  sequence), :func:`sequence_model` (SimpleRNN / LSTM / our GRU), :func:`input_gradient_norms`
  (‖∂loss/∂x_t‖ against t), :func:`train_curve`.
* Evaluation: :func:`worst_errors`, :func:`per_speaker_accuracy`, :func:`export_table`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import FeatureConfig, RunConfig

# ---------------------------------------------------------------- notebook set-up


def notebook_settings(cwd: str | Path | None = None) -> dict:
    """The parameters every notebook starts from, overridable by environment variables:
    ``SPEECHGRU_NOTEBOOK_MODE`` (``full`` or ``quick``: small data and few steps, what CI
    runs), ``SPEECHGRU_NOTEBOOK_DATA`` (a dataset folder), ``SPEECHGRU_NOTEBOOK_OUT`` (where
    runs and plots go), ``SPEECHGRU_NOTEBOOK_RUN`` (a finished run to analyse); relative
    paths are taken from the repository's root, wherever the kernel runs."""
    import os

    cwd = Path(cwd or Path.cwd()).resolve()
    root = cwd if (cwd / "pyproject.toml").exists() else cwd.parent
    mode = os.environ.get("SPEECHGRU_NOTEBOOK_MODE", "full")
    if mode not in ("full", "quick"):
        raise ValueError(f"SPEECHGRU_NOTEBOOK_MODE must be full or quick, got {mode!r}")

    def path(name):  # relative to the repository's root (an absolute path stays as it is)
        value = os.environ.get(name)
        return root / value if value else None

    return {"quick": mode == "quick", "root": root,
            "out": path("SPEECHGRU_NOTEBOOK_OUT") or root / "runs" / "notebooks",
            "data": path("SPEECHGRU_NOTEBOOK_DATA"), "run": path("SPEECHGRU_NOTEBOOK_RUN"),
            "talk": path("SPEECHGRU_NOTEBOOK_TALK")}


def find_talk(settings: dict) -> Path | None:
    """Continuous speech to hear the model in: the folder given
    (``SPEECHGRU_NOTEBOOK_TALK``), else ``../shared/data/continuous_speech`` when present,
    else None."""
    if settings.get("talk") is not None:
        return settings["talk"]
    real = settings["root"].parent / "shared" / "data" / "continuous_speech"
    return real if real.is_dir() else None


def fired_in_talk(result: dict) -> list[tuple[str, int]]:
    """``(label, count)`` of the false alarms in the sentences alone of a room benchmark
    (:func:`speechgru.talk_eval.evaluate_talk`), most first."""
    from collections import Counter

    fired = (result.get("sentences_alone") or {}).get("fired_in_talk", [])
    return Counter(d["label"] for d in fired).most_common()


def find_data(settings: dict) -> Path:
    """The dataset to analyse: the one given, else the real Speech Commands half in
    ``../shared/data`` when present, else the project's synthetic set (made if missing)."""
    if settings["data"] is not None:
        return settings["data"]
    real = settings["root"].parent / "shared" / "data" / "speech_commands_v2_test_half"
    if real.is_dir():
        return real
    synth = settings["root"] / "data" / "synth"
    if not (synth / "yes").is_dir():
        from .synth import synthesize_dataset

        synthesize_dataset(synth, per_word=60, seed=0)  # the set `make demo` writes there
    return synth


def ensure_run(settings: dict, data: Path) -> Path:
    """A finished run to analyse: the one given; in full mode ``runs/demo`` (``make
    demo``) if present; otherwise a run trained here (tiny and fast in quick mode)."""
    from .training.train import train

    if settings["run"] is not None:
        return settings["run"]
    demo = settings["root"] / "runs" / "demo"
    def finished(r: Path) -> bool:  # and made by this version (with its saved splits)
        return (r / "best.keras").exists() and (r / "splits.json").exists()

    if not settings["quick"] and finished(demo):
        return demo
    run = settings["out"] / ("quick_run" if settings["quick"] else "run")
    if not finished(run):
        from .config import ModelConfig, TrainConfig

        config = RunConfig(FeatureConfig(), ModelConfig(units=(32,), dropout=0.0),
                           TrainConfig(epochs=4, validation_percent=20.0,
                                       testing_percent=0.0, synth_per_word=0)
                           ) if settings["quick"] else None
        import shutil

        shutil.rmtree(run, ignore_errors=True)  # an unfinished run of an earlier session
        train([data], run, config, cache_dir=settings["out"] / "cache", verbose=0)
    return run


def save_figure(fig, directory: str | Path, name: str) -> Path:
    """Save ``fig`` as ``directory/name.png`` (directories made as needed)."""
    path = Path(directory) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path

# ---------------------------------------------------------------- features


def feature_stages(y: np.ndarray, config: FeatureConfig) -> dict[str, np.ndarray]:
    """Every stage of the MFCC of one clip (:func:`speechgru.features.maths.stages`) in
    librosa's orientation: ``power`` (bins, frames), ``mel`` (n_mels, frames), ``log_mel``
    (n_mels, frames); ``mfcc`` (frames, n_mfcc) equals :func:`speechgru.features.librosa.mfcc`
    (without deltas)."""
    from .features.maths import stages

    s = stages(y, config)
    return {"power": s["power"].T, "mel": s["mel"].T, "log_mel": s["log_mel"].T,
            "mfcc": s["mfcc"]}


def frontend_delta(pcm: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Per clip, the largest |Δ| between the TF front end (inside ``wave_*.tflite``) and
    librosa's MFCC of the same samples. ``pcm``: (clips, samples)."""
    import tensorflow as tf

    from .features.librosa import mfcc
    from .features.tf import MFCCFrontend

    pcm = np.asarray(pcm, np.float32)
    got = MFCCFrontend(config)(tf.constant(pcm)).numpy()
    ref = np.stack([mfcc(y, config) for y in pcm])
    return np.abs(got - ref).reshape(len(pcm), -1).max(axis=1)


# ---------------------------------------------------------------- gates


def _gru_layers(model):
    import keras

    from .models.gru import GRU

    return [layer for layer in model.layers
            if isinstance(layer, GRU | keras.layers.GRU)]


def gate_sequences(model, x: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The gates of every (unidirectional) GRU layer of ``model`` on MFCC frames ``x``.

    For each layer (in the model's order: an ensemble's are ``gru_0_m0``, ``gru_0_m1``, …,
    named by ``name``): ``h`` (clips, frames, units) the states, ``update`` the share of the
    new candidate taken at each step (the textbook z: ``h_t = (1 − z) h_{t−1} + z h̃``;
    for a Keras-convention layer this is ``1 − z_keras``), and ``reset`` (r). Each layer's
    own trained cell runs on the layer's own input
    (:func:`speechgru.models.gru.gate_sequences`).
    """
    import keras

    from .models.gru import gate_sequences as read_gates

    out = []
    for layer in _gru_layers(model):
        feed = keras.Model(model.input, layer.input)
        inputs = np.asarray(feed.predict(x, batch_size=256, verbose=0))
        keras_style = isinstance(layer, keras.layers.GRU) or layer.convention == "keras"
        g = read_gates(layer, inputs)
        out.append({"name": layer.name, "h": g["h"],
                    "update": 1.0 - g["z"] if keras_style else g["z"],
                    "reset": g["r"], "keras_convention": keras_style})
    return out


def mean_gates_by_class(gates: dict[str, np.ndarray], y: np.ndarray,
                        labels: list[str]) -> dict[str, dict[str, float]]:
    """Mean update and reset gate (over frames and units) of each class present in ``y``."""
    result = {}
    for i, name in enumerate(labels):
        sel = np.asarray(y) == i
        if sel.any():
            result[name] = {"update": float(gates["update"][sel].mean()),
                            "reset": float(gates["reset"][sel].mean()), "clips": int(sel.sum())}
    return result


def gate_energy_correlation(gates: dict[str, np.ndarray], energy: np.ndarray) -> dict:
    """Pearson correlation, over all frames of all clips, between the frame's energy
    (e.g. the 0th MFCC, ``x[..., 0]``) and the mean update / reset gate of the frame:
    positive means the GRU updates (or resets less) where there is sound."""
    e = np.asarray(energy, np.float64).reshape(-1)
    return {g: float(np.corrcoef(e, gates[g].mean(axis=-1).reshape(-1))[0, 1])
            for g in ("update", "reset")}


# ---------------------------------------------------------------- gradients


def adding_problem(n: int, length: int, *, seed: int = 0,
                   marker_window: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem with both markers in the first ``marker_window`` steps.

    ``x`` (n, length, 2): channel 0 uniform in [0, 1], channel 1 marks two steps; ``y`` (n,)
    the sum of the two marked values. Everything after the first steps is distraction, so
    a model must carry the answer across ``length`` steps. Predicting the mean (1.0) gives
    a mean squared error of 1/6.
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((n, length, 2), np.float32)
    x[..., 0] = rng.uniform(0, 1, (n, length))
    w = min(marker_window, length)
    for i in range(n):
        a, b = rng.choice(w, size=2, replace=False)
        x[i, [a, b], 1] = 1.0
    y = (x[..., 0] * x[..., 1]).sum(axis=1).astype(np.float32)
    return x, y


def sequence_model(kind: str, length: int, units: int = 32, features: int = 2,
                   seed: int = 0):
    """``kind`` ∈ {"simple_rnn", "lstm", "gru"} (``gru`` is ours) → last state → Dense(1)."""
    import keras

    from .models.gru import GRU

    keras.utils.set_random_seed(seed)
    inp = keras.Input((length, features))
    if kind == "simple_rnn":
        rnn = keras.layers.SimpleRNN(units)
    elif kind == "lstm":
        rnn = keras.layers.LSTM(units)
    elif kind == "gru":
        rnn = GRU(units)
    else:
        raise ValueError(f"kind must be simple_rnn, lstm or gru, got {kind!r}")
    model = keras.Model(inp, keras.layers.Dense(1)(rnn(inp)), name=kind)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), loss="mse")
    return model


def input_gradient_norms(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """‖∂loss/∂x_t‖ for each step t, averaged over the clips of ``x``: shape (length,).

    The loss is the model's compiled loss on the batch (mean squared error for
    :func:`sequence_model`); how fast this falls with distance from the end of the
    sequence is the vanishing gradient.
    """
    import tensorflow as tf

    xt = tf.constant(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        pred = model(xt, training=False)
        loss = tf.reduce_mean(tf.square(tf.reshape(pred, [-1]) - np.asarray(y, np.float32)))
    g = tape.gradient(loss, xt).numpy()
    return np.linalg.norm(g, axis=-1).mean(axis=0)


def train_curve(model, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                *, epochs: int, batch_size: int = 64) -> list[float]:
    """Validation mean squared error after each epoch (first entry: before training)."""
    curve = [float(model.evaluate(x_val, y_val, verbose=0))]
    for _ in range(epochs):
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
        curve.append(float(model.evaluate(x_val, y_val, verbose=0)))
    return curve


# ---------------------------------------------------------------- evaluation


def worst_errors(probs: np.ndarray, y: np.ndarray, k: int = 10) -> list[dict]:
    """The ``k`` most confident wrong predictions: index, true and predicted class, and the
    confidence of the prediction."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:k]
    return [{"index": int(i), "true": int(y[i]), "predicted": int(pred[i]),
             "confidence": float(probs[i, pred[i]])} for i in order]


def per_speaker_accuracy(speakers: list[str], probs: np.ndarray,
                         y: np.ndarray) -> list[dict]:
    """Accuracy per speaker, worst first: ``speaker``, ``clips``, ``accuracy``."""
    speakers = np.asarray(speakers)
    right = probs.argmax(1) == np.asarray(y)
    rows = [{"speaker": str(s), "clips": int((speakers == s).sum()),
             "accuracy": float(right[speakers == s].mean())} for s in np.unique(speakers)]
    return sorted(rows, key=lambda r: (r["accuracy"], -r["clips"], r["speaker"]))


def export_table(report: dict) -> list[dict]:
    """``export_report.json`` as rows (name, KiB, max |Δ|, agreement, accuracy, ms), with
    failed exports kept and their error."""
    rows = []
    for name, r in report["models"].items():
        if "error" in r:
            rows.append({"file": name, "error": r["error"]})
            continue
        rows.append({"file": name, "KiB": r["bytes"] / 1024, "max_abs_delta": r["max_abs_delta"],
                     "top1_agreement": r.get("top1_agreement"), "accuracy": r.get("accuracy"),
                     "latency_ms": r["latency_ms"]})
    return rows
