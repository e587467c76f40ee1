"""TF-free inference: numpy, soundfile and ai_edge_litert only (no TensorFlow, no librosa).

``Recognizer(model_dir)`` loads an exported model directory (``speechgru export``), checks
its ``features.json`` and ``labels.txt`` against the model's input and output, and
predicts labels for audio files with the raw-audio ``wave_*.tflite`` model (the MFCC is
computed inside the model) or for MFCC frames with the other variants.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .audio import load_clip, read_audio, resample
from .config import FeatureConfig, read_labels
from .errors import AudioError, ConfigError, ExportError
from .manifest import Manifest


def quantize(v: np.ndarray, detail: dict) -> np.ndarray:
    """A float array → the input tensor's type (int8 inputs use their scale and zero)."""
    if detail["dtype"] != np.int8:
        return np.asarray(v).astype(detail["dtype"])
    scale, zero = detail["quantization"]
    return np.clip(np.round(v / scale + zero), -128, 127).astype(np.int8)


def dequantize(v: np.ndarray, detail: dict) -> np.ndarray:
    """An output tensor → float (int8 outputs use their scale and zero)."""
    if detail["dtype"] != np.int8:
        return v
    scale, zero = detail["quantization"]
    return (v.astype(np.float32) - zero) * scale


def read_clip(path: str | Path, sample_rate: int, num_samples: int) -> np.ndarray:
    """Read, validate, mix to mono, resample and fit to ``num_samples``: exactly as in
    training (``speechgru.audio.load_clip``; soxr, no librosa)."""
    return load_clip(path, sample_rate=sample_rate, num_samples=num_samples)


def _read_model_dir(model_dir: Path) -> tuple[Manifest, FeatureConfig, list[str]]:
    """The verified manifest, ``features.json`` (validated as a :class:`FeatureConfig`) and
    ``labels.txt`` of an exported model directory; each file must match the manifest."""
    manifest = Manifest(model_dir)
    try:
        features = FeatureConfig.load(manifest.verify("features.json"))
    except ConfigError as exc:
        raise ExportError(str(exc)) from None
    labels = read_labels(manifest.verify("labels.txt"), error=ExportError)
    if labels != manifest.data.get("labels"):
        raise ExportError(f"{model_dir / 'labels.txt'}: differs from the labels in "
                          "manifest.json; export the model again")
    return manifest, features, labels


def _open(path: Path, num_threads: int, missing: str):
    """An allocated interpreter for ``path``, or an :class:`ExportError` naming the file."""
    from ai_edge_litert.interpreter import Interpreter

    if not path.is_file():
        raise ExportError(f"{path}: {missing}")
    try:
        it = Interpreter(model_path=str(path), num_threads=num_threads)
        it.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"{path}: not a valid TFLite model ({exc})") from None
    return it


class FrameFrontend:
    """``frontend.tflite``: the training MFCC of one frame of PCM at a time (TF-free)."""

    def __init__(self, path: Path, features: FeatureConfig, num_threads: int = 1):
        self.interpreter = _open(path, num_threads,
                                 "missing (export the model again with this version)")
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        n_fft, n_mfcc = features.n_fft, features.n_mfcc
        if tuple(self._in["shape"]) != (1, n_fft) or int(self._out["shape"][-1]) != n_mfcc:
            raise ExportError(f"{path}: does not match features.json (n_fft {n_fft}, "
                              f"n_mfcc {n_mfcc})")
        self.n_fft, self.hop = n_fft, features.hop_length

    def frame(self, chunk: np.ndarray) -> np.ndarray:
        """MFCC row ``(1, n_mfcc)`` of ``n_fft`` samples."""
        self.interpreter.set_tensor(self._in["index"], chunk[None].astype(np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out["index"]).reshape(1, -1)

    def clip(self, pcm: np.ndarray) -> np.ndarray:
        """MFCC frames ``(frames, n_mfcc)`` of a clip (``center=False``, as in training)."""
        frames = 1 + (len(pcm) - self.n_fft) // self.hop
        return np.concatenate([self.frame(pcm[t * self.hop:t * self.hop + self.n_fft])
                               for t in range(frames)])


class StreamStep:
    """``stream_*.tflite``: one GRU step, ``(frame, states) -> (probabilities, states)``,
    with the states kept by the caller (float arrays; int8 models are (de)quantized here).
    """

    def __init__(self, path: Path, n_mfcc: int, num_labels: int | None = None,
                 num_threads: int = 1):
        have = sorted(q.name for q in path.parent.glob("*.tflite"))
        it = _open(path, num_threads, f"missing; this directory has {have}")
        try:
            self.runner = it.get_signature_runner()
        except ValueError as exc:
            raise ExportError(f"{path}: not a streaming model ({exc})") from None
        self._ins, self._outs = self.runner.get_input_details(), self.runner.get_output_details()
        if tuple(self._ins.get("frame", {}).get("shape", ())) != (1, n_mfcc) or \
                "probabilities" not in self._outs:
            raise ExportError(f"{path}: not a streaming model for {n_mfcc} MFCCs per frame "
                              "(features.json and the model differ)")
        if num_labels is not None and int(self._outs["probabilities"]["shape"][-1]) != num_labels:
            raise ExportError(f"{path}: output size differs from labels.txt")
        self.state_names = sorted(k for k in self._ins if k.startswith("state_"))

    def zero_states(self) -> dict[str, np.ndarray]:
        return {k: np.zeros(self._ins[k]["shape"], np.float32) for k in self.state_names}

    def __call__(self, frame: np.ndarray, states: dict) -> tuple[np.ndarray, dict]:
        """``frame`` (1, n_mfcc) → probabilities (labels,) and the new states."""
        feed = {"frame": frame, **states}
        y = self.runner(**{n: quantize(v, self._ins[n]) for n, v in feed.items()})
        return (dequantize(y["probabilities"], self._outs["probabilities"])[0],
                {n: dequantize(y[n], self._outs[n]) for n in self.state_names})


class Recognizer:
    """An exported model directory, ready to predict."""

    def __init__(self, model_dir: str | Path, variant: str = "float32", num_threads: int = 1):

        self.dir = Path(model_dir)
        self.manifest, self.features, self.labels = _read_model_dir(self.dir)
        self.sample_rate = self.features.sample_rate
        self.num_samples = self.features.clip_samples
        self.wave = self.manifest.has(f"wave_{variant}.tflite")
        self._frontend = None
        name = f"wave_{variant}.tflite" if self.wave else f"{variant}.tflite"
        have = sorted(n for n in self.manifest.files if n.endswith(".tflite"))
        if not self.manifest.has(name):
            raise ExportError(f"{self.dir / name}: no such model variant; this directory has "
                              f"{have}")
        path = self.manifest.verify(name)
        self.interpreter = _open(path, num_threads, "missing")
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        shape = tuple(self.input["shape"])
        f = self.features
        expected = (1, self.num_samples) if self.wave else (1, f.num_frames, f.num_features)
        if shape != expected:
            raise ExportError(f"{path}: input shape {shape} does not match features.json "
                              f"(expects {expected}); the model and its settings differ")
        if int(self.output["shape"][-1]) != len(self.labels):
            raise ExportError(f"{path}: {self.output['shape'][-1]} outputs but labels.txt "
                              f"has {len(self.labels)} labels")

    def _verified(self, name: str) -> Path:
        if not self.manifest.has(name):
            raise ExportError(f"{self.dir / name}: missing (export the model again with this "
                              "version)")
        return self.manifest.verify(name)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """One input (PCM samples for wave models, MFCC frames otherwise) → probabilities."""
        v = quantize(np.asarray(x, np.float32)[None], self.input)
        self.interpreter.set_tensor(self.input["index"], v)
        self.interpreter.invoke()
        return dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)[0]

    def predict_file(self, path: str | Path, top_k: int = 3) -> dict:
        """Label one audio file: the ``wave_*`` model takes the samples; the MFCC-input
        variants (``int8``, ``dynamic``, ...) get the MFCC from ``frontend.tflite``."""
        pcm = read_clip(path, self.sample_rate, self.num_samples)
        if self.wave:
            p = self.probabilities(pcm)
        else:
            if self._frontend is None:
                f = self.features
                if f.deltas or f.center:
                    raise ExportError(f"{self.dir}: features with deltas or center=True have no "
                                      "TFLite front end; compute the MFCC frames yourself and "
                                      "call probabilities()")
                self._frontend = FrameFrontend(self._verified("frontend.tflite"), f)
            p = self.probabilities(self._frontend.clip(pcm))
        order = np.argsort(p)[::-1][:top_k]
        return {"file": str(path), "label": self.labels[order[0]],
                "confidence": float(p[order[0]]),
                "top": [{"label": self.labels[i], "p": float(p[i])} for i in order]}


class Listener:
    """Keyword detection over a stream of PCM with the streaming models (TF-free).

    Per hop of audio (``hop_length`` samples) ``frontend.tflite`` computes one MFCC row and
    ``stream_<variant>.tflite`` advances the GRU states by one step. The model was trained
    on windows of ``T`` frames that start from zero states, so ``phases`` copies of the
    state run staggered by ``T / phases`` frames and each is reset to zero as it starts a
    new window: every ``T / phases`` frames one copy completes a window whose output is
    exactly the whole-window model's (cost per hop: ``phases`` steps, instead of the
    ``T`` steps of re-running the window). Window posteriors are averaged over the last
    ``smoothing`` windows; a command is detected once a run of windows where it is the top
    label above ``threshold`` ends, with the run's peak confidence, timed at the
    confidence-weighted mean of the run's window centres; the same command is not reported
    again within ``suppression_ms``.

    ``feed(samples)`` takes float PCM in [-1, 1] at the model's sample rate and returns
    the detections completed so far; ``flush()`` ends the stream.
    """

    def __init__(self, model_dir: str | Path, variant: str = "float32", *,
                 threshold: float = 0.6, smoothing: int = 2, suppression_ms: float = 1000.0,
                 phases: int = 4, num_threads: int = 1):
        self.dir = Path(model_dir)
        self.manifest, self.features, self.labels = _read_model_dir(self.dir)
        f = self.features
        self.sample_rate, self.hop, self.n_fft = f.sample_rate, f.hop_length, f.n_fft
        self.window = f.num_frames
        if not 1 <= phases <= self.window:
            raise ConfigError(f"phases must be in 1..{self.window}, got {phases}")
        if not 0.0 < threshold <= 1.0 or smoothing < 1 or suppression_ms < 0:
            raise ConfigError("need 0 < threshold <= 1, smoothing >= 1 and suppression_ms >= 0;"
                              f" got {threshold}, {smoothing}, {suppression_ms}")
        self.threshold, self.smoothing, self.phases = threshold, smoothing, phases
        self.suppression = suppression_ms / 1000.0
        for name in ("frontend.tflite", f"stream_{variant}.tflite"):
            if not self.manifest.has(name):
                have = sorted(n for n in self.manifest.files if n.endswith(".tflite"))
                raise ExportError(f"{self.dir / name}: missing; this directory has {have}"
                                  + (" (features with deltas or center=True have no "
                                     "streaming model)" if f.deltas or f.center else ""))
        self.frontend = FrameFrontend(self.manifest.verify("frontend.tflite"), f, num_threads)
        self.step = StreamStep(self.manifest.verify(f"stream_{variant}.tflite"), f.n_mfcc,
                               len(self.labels), num_threads)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample is time 0."""
        self._buf = np.zeros(0, np.float32)
        self._odd = b""
        self._frame = 0  # index of the next MFCC frame
        self._states = [None] * self.phases
        self._recent: list[tuple[np.ndarray, float]] = []  # (probabilities, centre)
        self._pending = None  # the current run of windows over the threshold
        self._last: dict[str, float] = {}
        self.last_window = None  # (centre in s, probabilities) of the latest full window

    def _advance(self, mfcc: np.ndarray) -> list[dict]:
        """One frame through every phase; returns detections completed by it."""
        t, T, found = self._frame, self.window, []
        for k in range(self.phases):
            offset = k * T // self.phases
            if t < offset:
                continue
            if (t - offset) % T == 0:
                self._states[k] = self.step.zero_states()
            probs, self._states[k] = self.step(mfcc, self._states[k])
            if (t - offset + 1) % T == 0:  # this phase just completed a window
                start = (t + 1 - T) * self.hop
                centre = (start + (self.n_fft + (T - 1) * self.hop) / 2) / self.sample_rate
                found += self._window(probs, centre)
        self._frame += 1
        return found

    def _window(self, probs: np.ndarray, centre: float) -> list[dict]:
        self.last_window = (centre, probs)
        self._recent = (self._recent + [(probs, centre)])[-self.smoothing:]
        p = np.mean([r[0] for r in self._recent], axis=0)
        centre = float(np.mean([r[1] for r in self._recent]))
        best = int(p.argmax())
        label, conf = self.labels[best], float(p[best])
        found = []
        command = not label.startswith("_") and conf >= self.threshold
        if self._pending and (not command or label != self._pending["label"]):
            found += self._emit()
        if command:
            run = self._pending or {"label": label, "p": 0.0, "pt": 0.0, "w": 0.0}
            run["p"] = max(run["p"], conf)
            run["pt"] += conf * centre
            run["w"] += conf
            self._pending = run
        return found

    def _emit(self) -> list[dict]:
        """The pending run of windows becomes a detection, timed at the confidence-weighted
        mean of its window centres (finer than the spacing of the windows)."""
        run, self._pending = self._pending, None
        time = run["pt"] / run["w"]
        if time - self._last.get(run["label"], -np.inf) < self.suppression:
            return []
        self._last[run["label"]] = time
        return [{"time": round(time, 3), "label": run["label"], "p": round(run["p"], 4)}]

    def feed(self, samples: np.ndarray) -> list[dict]:
        """Add samples; returns the detections (``time`` in s, ``label``, ``p``) so far."""
        x = np.asarray(samples, np.float32).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise AudioError("the audio stream holds NaN or infinite samples")
        self._buf = np.concatenate([self._buf, x])
        found = []
        while len(self._buf) >= self.n_fft:
            found += self._advance(self.frontend.frame(self._buf[:self.n_fft]))
            self._buf = self._buf[self.hop:]
        return found

    def feed_pcm16(self, data: bytes) -> list[dict]:
        """Add raw signed 16-bit little-endian mono PCM (an odd trailing byte waits for the
        next call)."""
        data = self._odd + data
        self._odd = data[len(data) // 2 * 2:]
        pcm = np.frombuffer(data[:len(data) // 2 * 2], "<i2")
        return self.feed(pcm.astype(np.float32) / 32768.0)

    def flush(self) -> list[dict]:
        """End of stream: report a detection still waiting for its peak."""
        return self._emit() if self._pending else []

    def listen_file(self, path: str | Path) -> list[dict]:
        """Every detection in an audio file of any length."""
        y, sr = read_audio(path)
        self.reset()
        return self.feed(resample(y, sr, self.sample_rate)) + self.flush()
