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

from .audio import fit_to_length, read_audio
from .errors import ExportError


def _resample_linear(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Linear interpolation, after a moving-average low-pass when downsampling. (Training
    uses soxr through librosa; the runtime stays small. Prefer audio at the model's rate.)"""
    if sr == target:
        return y
    if target < sr:
        k = int(np.ceil(sr / target))
        y = np.convolve(y, np.ones(k) / k, mode="same")
    n = int(round(len(y) * target / sr))
    t = np.arange(n) * (sr / target)
    return np.interp(t, np.arange(len(y)), y).astype(np.float32)


def read_clip(path: str | Path, sample_rate: int, num_samples: int) -> np.ndarray:
    """Read, validate and mix to mono (``speechgru.audio``, which loads librosa only to
    resample), resample without librosa, and fit to ``num_samples`` as in training."""
    y, sr = read_audio(path)
    return fit_to_length(_resample_linear(y, sr, sample_rate), num_samples)


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
