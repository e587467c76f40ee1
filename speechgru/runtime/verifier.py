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
    """The exported second look: ``verifier_<variant>.tflite`` of a model directory, a
    window of MFCC frames in, the labels' probabilities out. ``score(window, label)`` is
    the probability that ``label`` was said to the device."""

    def __init__(self, path, labels: list[str], num_threads: int = 1):
        from .tflite import ClipModel

        self.model = ClipModel(path, num_threads)
        self.labels = list(labels)

    def probabilities(self, window: np.ndarray) -> np.ndarray:
        return self.model(np.asarray(window, np.float32)[None])[0]

    def score(self, window: np.ndarray, label: str) -> float:
        return float(self.probabilities(window)[self.labels.index(label)])
