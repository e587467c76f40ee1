"""TF-free inference: numpy, soundfile and ai_edge_litert only (no TensorFlow, no librosa).

``Recognizer(model_dir)`` loads an exported model directory (``speechgru export``), checks
its ``features.json`` and ``labels.txt`` against the model's input and output, and
predicts labels for audio files with the raw-audio ``wave_*.tflite`` model (the MFCC is
computed inside the model) or for MFCC frames with the other variants. A long file (at
least :data:`LONG_CLIPS` clips) is answered from its loudest second; when the directory
has a second look (``speechgru verifier``) a command found there is kept only if the
verifier, hearing the seconds around it, agrees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio import load_clip, loudest_start, read_audio, resample
from ..config import FeatureConfig, frame_count, read_labels
from ..errors import AudioError, ConfigError, ExportError
from .manifest import Manifest
from .tflite import FrameFrontend, StreamStep, _open, dequantize, quantize

#: the longest file ``predict`` reads whole; a longer one is read twice a second at a time
#: (the loudest window found, then read alone): memory stays flat whatever its length
MAX_CLIP_SECONDS = 600.0
#: a file at least this many clips long is heard again by the second look (when the model
#: directory has one): the seconds around its loudest one decide
LONG_CLIPS = 1.5


def read_clip(path: str | Path, sample_rate: int, num_samples: int) -> np.ndarray:
    """Read, validate, mix to mono, resample and fit to ``num_samples``: exactly as in
    training (``speechgru.audio.load_clip``; soxr, no librosa). A file longer than
    :data:`MAX_CLIP_SECONDS` is first searched, a block at a time, for its loudest window
    (the window ``fit_to_length`` keeps), and only that part (with a margin) is read."""
    import soundfile as sf

    try:
        seconds = sf.info(str(path)).duration
    except (RuntimeError, ValueError, OSError):
        seconds = 0.0  # load_clip says what is wrong with it
    if seconds <= MAX_CLIP_SECONDS:
        return load_clip(path, sample_rate=sample_rate, num_samples=num_samples)
    start, sr = _loudest_window(path, num_samples / sample_rate)
    margin = 0.25
    offset = max(0.0, start / sr - margin)
    return load_clip(path, sample_rate=sample_rate, num_samples=num_samples, offset=offset,
                     duration=num_samples / sample_rate + 2 * margin)


def _loudest_window(path: str | Path, seconds: float) -> tuple[int, int]:
    """``(first sample, rate)`` of the ``seconds``-long window of most energy in a file of
    any length, read a second at a time (a running sum over the window)."""
    from ..audio import audio_blocks

    sr, blocks = audio_blocks(path)
    n = max(1, int(round(seconds * sr)))
    tail = np.zeros(0, np.float64)  # the last n - 1 samples' squares
    best, best_start, pos = -1.0, 0, 0  # pos: samples before ``tail``
    for y in blocks:
        sq = np.concatenate([tail, y.astype(np.float64) ** 2])
        if len(sq) >= n:
            c = np.concatenate([[0.0], np.cumsum(sq)])
            sums = c[n:] - c[:-n]
            i = int(sums.argmax())
            if sums[i] > best:
                best, best_start = float(sums[i]), pos + i
            keep = n - 1
            pos += len(sq) - keep
            tail = sq[len(sq) - keep:] if keep else np.zeros(0)
        else:
            tail = sq
    return best_start, sr


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


DEFAULT_THRESHOLD = 0.6  # listen's threshold for a model exported without an operating point


class Recognizer:
    """An exported model directory, ready to predict.

    ``variant``: a clip model (``float32``, ``int8``, ``dynamic``, ...; ``wave_*`` when the
    directory has it) or ``stream_float32`` / ``stream_int8``: the stream step looped over
    the clip's frames (the same classifier; ``stream_int8`` is the small int8 model, and
    what ``int8`` runs when the export has no unrolled ``int8.tflite``, as by default).
    ``threshold``: below this top probability the answer is ``_unknown_`` (default: the
    operating point chosen at training, from ``manifest.json``; 0 or an older export
    without one: never).

    ``verify``: a long file's command is heard again by the directory's second look, when
    it has one (its first threshold and ``verify_threshold`` from the operating point
    chosen over both, unless given); ``False``: never.
    """

    def __init__(self, model_dir: str | Path, variant: str = "float32", num_threads: int = 1,
                 threshold: float | None = None, *, verify: bool = True,
                 verify_threshold: float | None = None):
        from .verifier import Verifier

        self.dir = Path(model_dir)
        self.manifest, self.features, self.labels = _read_model_dir(self.dir)
        self.verifier = (Verifier.of_model_dir(
            self.manifest, self.features, self.labels,
            "int8" if "int8" in variant else "float32", num_threads) if verify else None)
        second = self.manifest.verifier_point if self.verifier is not None else None
        for t in (threshold, verify_threshold):
            if t is not None and not 0.0 <= t <= 1.0:
                raise ConfigError(f"threshold {t}: must be in [0, 1]")
        self.threshold = threshold if threshold is not None else (
            self.manifest.threshold or 0.0)
        # a long file's first threshold: the given one, else the one chosen with the
        # second look
        self.long_threshold = threshold if threshold is not None else (
            second["threshold"] if second else self.threshold)
        self.verify_threshold = None if self.verifier is None else (
            verify_threshold if verify_threshold is not None else
            second["verifier_threshold"] if second else 0.5)
        self.sample_rate = self.features.sample_rate
        self.num_samples = self.features.clip_samples
        self.wave = self.manifest.has(f"wave_{variant}.tflite")
        self._frontend = None
        self.step = None
        name = f"wave_{variant}.tflite" if self.wave else f"{variant}.tflite"
        if variant == "int8" and not self.manifest.has(name) and \
                self.manifest.has("stream_int8.tflite"):
            variant = name = "stream_int8.tflite"  # the int8 clip classifier: looped step
        have = sorted(n for n in self.manifest.files if n.endswith(".tflite"))
        if not self.manifest.has(name):
            raise ExportError(f"{self.dir / name}: no such model variant; this directory has "
                              f"{have}")
        path = self.manifest.verify(name)
        f = self.features
        if variant.startswith("stream_"):
            # the clip classifier as the stream step looped over the clip's frames from zero
            # states (equal to the whole-clip model: tests/models/test_build.py); for int8
            # this is the small model (no per-step copies of the weights)
            self.step = StreamStep(path, f.n_mfcc, len(self.labels), num_threads)
            return
        self.interpreter = _open(path, num_threads, "missing")
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        shape = tuple(self.input["shape"])
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
        if self.step is not None:
            return self.step.clips(np.asarray(x, np.float32)[None])[0]
        v = quantize(np.asarray(x, np.float32)[None], self.input)
        self.interpreter.set_tensor(self.input["index"], v)
        self.interpreter.invoke()
        return dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)[0]

    def probabilities_many(self, xs: np.ndarray, batch: int = 64) -> np.ndarray:
        """Inputs ``(clips, ...)`` → probabilities ``(clips, labels)``; a stream variant
        steps up to ``batch`` clips at once (``scripts/bench_tflite.py`` measures both ways)."""
        xs = np.asarray(xs, np.float32)
        if self.step is None or len(xs) < 2:
            return np.stack([self.probabilities(x) for x in xs]) if len(xs) else \
                np.zeros((0, len(self.labels)), np.float32)
        # a file fixed at batch 1 steps them one by one
        return np.concatenate([self.step.clips(xs[b:b + batch])
                               for b in range(0, len(xs), batch)])

    def _frames(self) -> FrameFrontend:
        if self._frontend is None:
            f = self.features
            if f.deltas or f.center:
                raise ExportError(f"{self.dir}: features with deltas or center=True have no "
                                  "TFLite front end; compute the MFCC frames yourself and "
                                  "call probabilities()")
            self._frontend = FrameFrontend(self._verified("frontend.tflite"), f)
        return self._frontend

    def _features(self, pcm: np.ndarray) -> np.ndarray:
        """What the model takes of one clip's samples: the samples (``wave_*``) or the MFCC
        frames from ``frontend.tflite``."""
        return pcm if self.wave else self._frames().clip(pcm)

    def _read(self, path) -> tuple[np.ndarray, tuple[np.ndarray, float] | None]:
        """The clip the model hears of a file, and for a long file that the second look
        will hear again: its samples whole and the clip's centre (s); else None."""
        import soundfile as sf

        if self.verifier is not None:
            try:
                seconds = sf.info(str(path)).duration
            except (RuntimeError, ValueError, OSError):
                seconds = 0.0  # read_clip says what is wrong with it
            if LONG_CLIPS * self.features.clip_seconds <= seconds <= MAX_CLIP_SECONDS:
                y, sr = read_audio(path)
                y = resample(y, sr, self.sample_rate)
                n = self.num_samples
                start = loudest_start(y, n)
                return y[start:start + n], (y, (start + n / 2) / self.sample_rate)
        return read_clip(path, self.sample_rate, self.num_samples), None

    def second_look(self, whole: np.ndarray, time: float, label: str) -> float:
        """The verifier's probability of ``label`` said at ``time`` (s) in ``whole`` (the
        samples of a file): the seconds around it, as ``listen`` hears them (padded with
        silence at the file's edges). Only the window's own frames are computed."""

        front, f, ctx = self._frames(), self.features, self.verifier.context
        hop, n_fft = f.hop_length, f.n_fft
        total = max(frame_count(len(whole), n_fft, hop), 0)
        lo, hi = max(ctx.start(time), 0), min(ctx.end(time), total)
        frames = (front.frames(whole[lo * hop:(hi - 1) * hop + n_fft], hi - lo) if hi > lo
                  else np.zeros((0, f.n_mfcc), np.float32))
        silence = front.frames(np.zeros(n_fft, np.float32), 1)[0]
        window = ctx.cut(frames, time, silence, first=lo)
        return float(self.verifier.scores(window[None], [label])[0])

    def predict_file(self, path: str | Path, top_k: int = 3) -> dict:
        """Label one audio file: the ``wave_*`` model takes the samples; the MFCC-input
        variants (``int8``, ``dynamic``, ...) get the MFCC from ``frontend.tflite``."""
        pcm, heard = self._read(path)
        return self._answer(path, self.probabilities(self._features(pcm)), top_k, heard)

    def predict_files(self, paths, top_k: int = 3, batch: int = 64):
        """:meth:`predict_file` of each path, in order, ``batch`` clips a call for a stream
        variant; yields ``(path, answer)``, or ``(path, AudioError)`` for a file that
        cannot be read (the others go on)."""
        paths = list(paths)
        for b in range(0, len(paths), batch):
            got = []
            for path in paths[b:b + batch]:
                try:
                    pcm, heard = self._read(path)
                    got.append((path, self._features(pcm), heard))
                except AudioError as exc:
                    got.append((path, exc, None))
            ok = [i for i, (_, x, _) in enumerate(got) if not isinstance(x, AudioError)]
            probs = dict(zip(ok, self.probabilities_many(np.stack([got[i][1] for i in ok]))
                             if ok else [], strict=True))
            for i, (path, x, heard) in enumerate(got):
                yield path, (x if i not in probs else
                             self._answer(path, probs[i], top_k, heard))

    def _answer(self, path, p: np.ndarray, top_k: int,
                heard: tuple[np.ndarray, float] | None = None) -> dict:
        order = np.argsort(p)[::-1][:top_k]
        label = self.labels[order[0]]
        threshold = self.threshold if heard is None else self.long_threshold
        rejected = float(p[order[0]]) < threshold and "_unknown_" in self.labels
        out = {"file": str(path), "label": "_unknown_" if rejected else label,
               "confidence": float(p[order[0]]), "rejected": rejected,
               "threshold": threshold,
               "top": [{"label": self.labels[i], "p": float(p[i])} for i in order]}
        if heard is not None and not rejected and not label.startswith("_"):
            # a command in a long file: kept only if the second look agrees
            score = self.second_look(heard[0], heard[1], label)
            out.update(verified=score, verify_threshold=self.verify_threshold,
                       time=round(heard[1], 3))
            if score < self.verify_threshold and "_unknown_" in self.labels:
                out.update(label="_unknown_", rejected=True)
        return out
