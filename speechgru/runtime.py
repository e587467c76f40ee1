"""TF-free inference: numpy, soundfile and ai_edge_litert only (no TensorFlow, no librosa).

``Recognizer(model_dir)`` loads an exported model directory (``speechgru export``), checks
its ``features.json`` and ``labels.txt`` against the model's input and output, and
predicts labels for audio files with the raw-audio ``wave_*.tflite`` model (the MFCC is
computed inside the model) or for MFCC frames with the other variants.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioError, ExportError


def _resample_linear(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Band-limited enough for speech: windowed-sinc-free linear interpolation after a
    moving-average low-pass when downsampling. (The training side uses soxr; the runtime
    stays dependency-free. Prefer recording at the model's rate.)"""
    if sr == target:
        return y
    if target < sr:
        k = int(np.ceil(sr / target))
        y = np.convolve(y, np.ones(k) / k, mode="same")
    n = int(round(len(y) * target / sr))
    t = np.arange(n) * (sr / target)
    return np.interp(t, np.arange(len(y)), y).astype(np.float32)


def read_clip(path: str | Path, sample_rate: int, num_samples: int) -> np.ndarray:
    """Read a file as mono float32 at ``sample_rate``, fitted to ``num_samples`` (loudest
    window, or zero-padded, as in training)."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, ValueError, OSError) as exc:
        raise AudioError(f"{path}: not readable as audio ({exc})") from None
    if data.size == 0:
        raise AudioError(f"{path}: empty (0 samples)")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{path}: NaN/Inf samples; the file is corrupt")
    y = _resample_linear(data.mean(axis=1), sr, sample_rate)
    if len(y) < num_samples:
        left = (num_samples - len(y)) // 2
        return np.pad(y, (left, num_samples - len(y) - left)).astype(np.float32)
    energy = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    window = energy[num_samples:] - energy[:-num_samples]
    best = np.flatnonzero(window >= window.max() - 1e-12 * max(window.max(), 1.0))
    start = int(best[len(best) // 2])
    return y[start:start + num_samples]


class Recognizer:
    """An exported model directory, ready to predict."""

    def __init__(self, model_dir: str | Path, variant: str = "float32", num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.dir = Path(model_dir)
        for name in ("features.json", "labels.txt"):
            if not (self.dir / name).is_file():
                raise ExportError(f"{self.dir}: not an exported model directory (no {name})")
        try:
            self.features = json.loads((self.dir / "features.json").read_text())
        except json.JSONDecodeError as exc:
            raise ExportError(f"{self.dir / 'features.json'}: not valid JSON ({exc})") from None
        self.labels = (self.dir / "labels.txt").read_text().split()
        self.sample_rate = int(self.features["sample_rate"])
        self.num_samples = int(round(self.sample_rate * float(self.features["clip_seconds"])))
        self.wave = (self.dir / f"wave_{variant}.tflite").is_file()
        path = self.dir / (f"wave_{variant}.tflite" if self.wave else f"{variant}.tflite")
        if not path.is_file():
            have = sorted(p.name for p in self.dir.glob("*.tflite"))
            raise ExportError(f"{path}: no such model variant; this directory has {have}")
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ExportError(f"{path}: not a valid TFLite model ({exc})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        shape = tuple(self.input["shape"])
        n_feat = int(self.features["n_mfcc"]) * (1 + int(self.features.get("deltas", 0)))
        hop, n_fft = int(self.features["hop_length"]), int(self.features["n_fft"])
        frames = 1 + (self.num_samples - n_fft) // hop
        expected = (1, self.num_samples) if self.wave else (1, frames, n_feat)
        if shape != expected:
            raise ExportError(f"{path}: input shape {shape} does not match features.json "
                              f"(expects {expected}); the model and its settings differ")
        if int(self.output["shape"][-1]) != len(self.labels):
            raise ExportError(f"{path}: {self.output['shape'][-1]} outputs but labels.txt "
                              f"has {len(self.labels)} labels")

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """One input (PCM samples for wave models, MFCC frames otherwise) → probabilities."""
        v = np.asarray(x, np.float32)[None]
        if self.input["dtype"] == np.int8:
            scale, zero = self.input["quantization"]
            v = np.clip(np.round(v / scale + zero), -128, 127).astype(np.int8)
        self.interpreter.set_tensor(self.input["index"], v)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])[0]
        if self.output["dtype"] == np.int8:
            scale, zero = self.output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y

    def predict_file(self, path: str | Path, top_k: int = 3) -> dict:
        if not self.wave:
            raise ExportError(f"{self.dir}: predicting files needs a wave_*.tflite model")
        p = self.probabilities(read_clip(path, self.sample_rate, self.num_samples))
        order = np.argsort(p)[::-1][:top_k]
        return {"file": str(path), "label": self.labels[order[0]],
                "confidence": float(p[order[0]]),
                "top": [{"label": self.labels[i], "p": float(p[i])} for i in order]}
