"""The second look (TF-free): a model that hears the seconds around a candidate.

The streaming model proposes a command (its label and time) from one second of audio; a
second model hears ``before`` seconds before that time and ``after`` seconds after it
(what was said before the word, the word, what follows) and decides whether the word was
said to the device or in passing ("a bus stop"). Both hear the same MFCC frames: the
verifier's input is a run of the stream's own frames, so it costs no second front end,
and it runs only at candidates.

:class:`Context` is the frame arithmetic of that window (defined once, used by training
and by the runtime); :class:`FrameTape` keeps the last frames of a stream (bounded memory)
and cuts a candidate's window from them, padded with silence at the very start of a
stream; :class:`Verifier` runs the exported verifier (``verifier_float32.tflite`` or
``verifier_int8.tflite``).
"""

from __future__ import annotations

import numpy as np

from ..config import FeatureConfig

DEFAULT_BEFORE, DEFAULT_AFTER = 1.5, 1.0  # seconds heard before and after a candidate


class Context:
    """Which stream frames a candidate at ``time`` s is heard with: ``frames`` of them,
    from the frame whose centre is ``before`` s earlier. Frame ``t`` covers samples
    ``t·hop .. t·hop + n_fft`` (its centre ``(t·hop + n_fft/2) / rate``)."""

    def __init__(self, features: FeatureConfig, before: float = DEFAULT_BEFORE,
                 after: float = DEFAULT_AFTER):
        if not (0 <= before <= 10 and 0 <= after <= 10 and before + after > 0):
            raise ValueError(f"need 0 <= before, after <= 10 s, got {before}, {after}")
        self.before, self.after = float(before), float(after)
        self.hop_s = features.hop_length / features.sample_rate
        self.offset_s = features.n_fft / 2 / features.sample_rate  # frame 0's centre
        self.frames = int(round((self.before + self.after) / self.hop_s))

    def start(self, time: float) -> int:
        """The first frame of the window of a candidate at ``time``."""
        return int(round((time - self.before - self.offset_s) / self.hop_s))

    def end(self, time: float) -> int:
        """One past the last frame: the stream must have this many frames to decide."""
        return self.start(time) + self.frames

    def cut(self, frames: np.ndarray, time: float, pad: np.ndarray, first: int = 0
            ) -> np.ndarray:
        """The ``(frames, features)`` window of a candidate at ``time`` from ``frames``
        (row ``k`` is stream frame ``first + k``); frames before the stream or past its
        end are ``pad`` (the front end's frame of silence)."""
        out = np.repeat(np.asarray(pad, np.float32)[None, :], self.frames, axis=0)
        a = self.start(time) - first
        lo, hi = max(a, 0), min(a + self.frames, len(frames))
        if hi > lo:
            out[lo - a:hi - a] = frames[lo:hi]
        return out

    def to_json(self) -> dict:
        return {"before": self.before, "after": self.after, "frames": self.frames}


class FrameTape:
    """The last ``keep`` frames of a stream, and the index of the first one kept."""

    def __init__(self, num_features: int, keep: int):
        self.keep = int(keep)
        self._buf = np.zeros((0, num_features), np.float32)
        self.first = 0  # stream index of self._buf[0]

    @property
    def count(self) -> int:
        """Frames seen so far."""
        return self.first + len(self._buf)

    def add(self, frames: np.ndarray) -> None:
        self._buf = np.concatenate([self._buf, np.asarray(frames, np.float32)])
        drop = len(self._buf) - self.keep
        if drop > 0:
            self._buf = self._buf[drop:]
            self.first += drop

    def window(self, context: Context, time: float, pad: np.ndarray) -> np.ndarray:
        return context.cut(self._buf, time, pad, self.first)

    def reset(self) -> None:
        self._buf = self._buf[:0]
        self.first = 0


class Verifier:
    """The exported second look: ``verifier_stream_<variant>.tflite`` of a model directory,
    the verifier's GRU step looped over a window of MFCC frames from zero states (float32
    or int8, as the streaming model). :meth:`probabilities` of many windows at once;
    :meth:`scores` the probability of each candidate's label."""

    def __init__(self, path, context: Context, labels: list[str], n_mfcc: int,
                 num_threads: int = 1):
        from .tflite import StreamStep

        self.step = StreamStep(path, n_mfcc, len(labels), num_threads)
        self.context, self.labels = context, list(labels)

    @classmethod
    def of_model_dir(cls, manifest, features: FeatureConfig, labels: list[str],
                     variant: str = "float32", num_threads: int = 1) -> Verifier | None:
        """The model directory's verifier (its manifest's ``verifier`` entry), or None for
        a directory without one (an older export). ExportError naming the manifest when
        the entry is damaged, and the file when it is missing, tampered with (sha256) or
        made for other features."""
        from ..errors import ExportError

        entry = manifest.data.get("verifier")
        if entry is None:
            return None
        where = manifest.dir / "manifest.json"
        files = entry.get("files") if isinstance(entry, dict) else None
        try:
            context = Context(features, float(entry["before"]), float(entry["after"]))
        except (KeyError, TypeError, ValueError):
            raise ExportError(f"{where}: damaged verifier entry (before / after)") from None
        if not isinstance(files, dict) or entry.get("frames") != context.frames:
            raise ExportError(f"{where}: damaged verifier entry (its files, or {context.frames} "
                              f"frames at these features' hop: made for other features)")
        name = files.get("int8" if variant in ("int8", "int16") else "float32")
        if not isinstance(name, str):
            raise ExportError(f"{where}: the verifier has no {variant} file")
        return cls(manifest.verify(name), context, labels, features.n_mfcc, num_threads)

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """``(n, frames, n_mfcc)`` windows → ``(n, labels)`` probabilities."""
        windows = np.asarray(windows, np.float32)
        out = [self.step.clips(windows[i:i + 64]) for i in range(0, len(windows), 64)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def scores(self, windows: np.ndarray, labels: list[str]) -> np.ndarray:
        """The probability of ``labels[i]`` in window ``i``."""
        p = self.probabilities(windows)
        return np.array([p[i, self.labels.index(lab)] for i, lab in enumerate(labels)],
                        np.float64)
