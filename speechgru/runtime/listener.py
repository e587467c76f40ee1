"""Keyword detection over a live stream of PCM with the streaming models (TF-free)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import frame_count
from ..errors import AudioError, ConfigError, ExportError
from .recognizer import DEFAULT_THRESHOLD, _read_model_dir
from .tflite import FrameFrontend, StreamStep
from .verifier import FrameTape, Verifier

MAX_SMOOTHING = 64  # windows (16 s at the default 4 phases of a 1 s window)
MAX_SUPPRESSION_MS = 3_600_000.0


def check_decision(threshold: float, smoothing: int, suppression_ms: float) -> None:
    """ConfigError naming the value unless ``0 < threshold <= 1``, ``smoothing`` a whole
    number of windows in 1..64 and ``suppression_ms`` finite in 0..3,600,000 (an hour)."""
    ok_t = isinstance(threshold, (int, float)) and math.isfinite(threshold) and 0 < threshold <= 1
    ok_s = (isinstance(smoothing, (int, np.integer)) and not isinstance(smoothing, bool)
            and 1 <= smoothing <= MAX_SMOOTHING)
    ok_m = (isinstance(suppression_ms, (int, float)) and math.isfinite(suppression_ms)
            and 0 <= suppression_ms <= MAX_SUPPRESSION_MS)
    if not (ok_t and ok_s and ok_m):
        raise ConfigError("need 0 < threshold <= 1, smoothing a whole number of windows in "
                          f"1..{MAX_SMOOTHING} and suppression_ms in 0..{MAX_SUPPRESSION_MS:.0f};"
                          f" got threshold {threshold}, smoothing {smoothing}, suppression_ms "
                          f"{suppression_ms}")


class Decider:
    """The decision rule of :class:`Listener`, apart from the model: window posteriors in,
    detections out. Posteriors are averaged over the last ``smoothing`` windows; a command
    is detected once a run of windows where it is the top label above ``threshold`` ends,
    with the run's peak confidence, timed at the confidence-weighted mean of the run's
    window centres; the same command is not reported again within ``suppression_ms``.
    Replaying recorded windows through deciders of other settings gives exactly what
    ``listen`` would have reported with them (how the benchmarks sweep thresholds without
    running the model again)."""

    def __init__(self, labels: list[str], threshold: float, smoothing: int = 2,
                 suppression_ms: float = 1000.0):
        check_decision(threshold, smoothing, suppression_ms)
        self.labels = list(labels)
        self.threshold, self.smoothing = float(threshold), int(smoothing)
        self.suppression = suppression_ms / 1000.0
        self.reset()

    def reset(self) -> None:
        self._recent: list[tuple[np.ndarray, float]] = []  # (probabilities, centre)
        self._pending = None  # the current run of windows over the threshold
        self._last: dict[str, float] = {}

    def window(self, probs: np.ndarray, centre: float) -> list[dict]:
        """One window's posteriors (centred at ``centre`` s); the detections it completes."""
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

    def replay(self, centres: np.ndarray, probs: np.ndarray) -> list[dict]:
        """Every detection of recorded windows (``centres`` in s, ``probs`` one row each),
        the stream ended after the last."""
        self.reset()
        found = []
        for c, p in zip(centres, probs, strict=True):
            found += self.window(p, float(c))
        return found + self.flush()

    def flush(self) -> list[dict]:
        """End of stream: report a detection still waiting for its peak."""
        return self._emit() if self._pending else []

    def _emit(self) -> list[dict]:
        """The pending run of windows becomes a detection, timed at the confidence-weighted
        mean of its window centres (finer than the spacing of the windows)."""
        run, self._pending = self._pending, None
        time = run["pt"] / run["w"]
        if time - self._last.get(run["label"], -np.inf) < self.suppression:
            return []
        self._last[run["label"]] = time
        return [{"time": round(time, 3), "label": run["label"], "p": round(run["p"], 4)}]


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
                 threshold: float | None = None, smoothing: int | None = None,
                 suppression_ms: float = 1000.0,
                 phases: int = 4, num_threads: int = 1, verify: bool = True,
                 verify_threshold: float | None = None):
        self.dir = Path(model_dir)
        self.manifest, self.features, self.labels = _read_model_dir(self.dir)
        f = self.features
        # the second look, when the directory has one (an older export has none)
        self.verifier = (Verifier.of_model_dir(self.manifest, f, self.labels, variant,
                                               num_threads) if verify else None)
        second = self.manifest.verifier_point if self.verifier is not None else None
        if threshold is None:  # the operating point chosen at training, or the old default
            threshold = (second["threshold"] if second else
                         self.manifest.threshold or DEFAULT_THRESHOLD)
        if smoothing is None:  # the operating point's when it was chosen live, else 2
            smoothing = (second["smoothing"] if second else self.manifest.smoothing or 2)
        if self.verifier is not None:
            if verify_threshold is None:
                verify_threshold = second["verifier_threshold"] if second else 0.5
            check_decision(verify_threshold, 1, 0.0)
        self.verify_threshold = verify_threshold if self.verifier is not None else None
        self.sample_rate, self.hop, self.n_fft = f.sample_rate, f.hop_length, f.n_fft
        self.window = f.num_frames
        if not 1 <= phases <= self.window:
            raise ConfigError(f"phases must be in 1..{self.window}, got {phases}")
        self.decider = Decider(self.labels, threshold, smoothing, suppression_ms)
        self.threshold, self.smoothing, self.phases = threshold, smoothing, phases
        self.record: list[tuple[float, np.ndarray]] | None = None  # windows, when a list
        self.record_levels: list[float] | None = None  # every frame's level, when a list
        self.record_frames: list[np.ndarray] | None = None  # every MFCC frame, when a list
        # c0 of the orthonormal DCT is sqrt(n_mels) times the mean log-mel level (dB)
        self._level_scale = 1.0 / np.sqrt(f.n_mels)
        for name in ("frontend.tflite", f"stream_{variant}.tflite"):
            if not self.manifest.has(name):
                have = sorted(n for n in self.manifest.files if n.endswith(".tflite"))
                raise ExportError(f"{self.dir / name}: missing; this directory has {have}"
                                  + (" (features with deltas or center=True have no "
                                     "streaming model)" if f.deltas or f.center else ""))
        self.frontend = FrameFrontend(self.manifest.verify("frontend.tflite"), f, num_threads)
        self.step = StreamStep(self.manifest.verify(f"stream_{variant}.tflite"), f.n_mfcc,
                               len(self.labels), num_threads, batch=phases)
        self._zero = self.step.zero_states(1)
        if self.verifier is not None:  # the last seconds of frames, for the second look
            ctx = self.verifier.context
            self.tape = FrameTape(f.n_mfcc, keep=2 * ctx.frames + self.window)
            self._silence = self.frontend.frames(np.zeros(self.n_fft, np.float32), 1)[0]
        # phase k starts its windows at frames offset_k + m·T: by frame t mod T, which
        # phases start a window (their states zeroed) and which complete one
        T = self.window
        self._offsets = [k * T // phases for k in range(phases)]
        self._starts = [[k for k, o in enumerate(self._offsets) if o % T == r] for r in range(T)]
        self._ends = [[k for k, o in enumerate(self._offsets) if (o - 1) % T == r]
                      for r in range(T)]
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample is time 0."""
        self._buf = np.zeros(0, np.float32)
        self._odd = b""
        self._frame = 0  # index of the next MFCC frame
        self._states = self.step.zero_states(self.phases)  # row k: phase k
        self.decider.reset()
        if self.verifier is not None:
            self.tape.reset()
            self._waiting: list[dict] = []
        if self.record is not None:
            self.record = []
        if self.record_levels is not None:
            self.record_levels = []
        if self.record_frames is not None:
            self.record_frames = []
        self.last_window = None  # (centre in s, probabilities) of the latest full window

    def _advance(self, frames: np.ndarray) -> list[dict]:
        """One frame through every phase (``frames``: that frame once per phase, in the
        model's input type; one call for all of them when the model's batch is
        resizable); returns the detections completed by it."""
        t, T, found = self._frame, self.window, []
        for k in self._starts[t % T]:  # a new window: zero states
            for name, v in self._states.items():
                v[k] = self._zero[name][0]
        ends = [k for k in self._ends[t % T] if t >= self._offsets[k] + T - 1]
        probs, self._states = self.step(frames, self._states, probabilities=bool(ends))
        for k in ends:  # this phase just completed a window
            start = (t + 1 - T) * self.hop
            centre = (start + (self.n_fft + (T - 1) * self.hop) / 2) / self.sample_rate
            found += self._window(probs[k], centre)
        self._frame += 1
        return found

    def _window(self, probs: np.ndarray, centre: float) -> list[dict]:
        self.last_window = (centre, probs)
        if self.record is not None:
            self.record.append((centre, np.array(probs, np.float32)))
        return self.decider.window(probs, centre)

    def feed(self, samples: np.ndarray) -> list[dict]:
        """Add samples; returns the detections (``time`` in s, ``label``, ``p``) so far."""
        x = np.asarray(samples, np.float32).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise AudioError("the audio stream holds NaN or infinite samples")
        self._buf = np.concatenate([self._buf, x])
        n = frame_count(len(self._buf), self.n_fft, self.hop)
        if n <= 0:  # not one whole frame yet
            return self._second_look([])
        # the block's frames quantized once, each repeated for the phases
        mfcc = self.frontend.frames(self._buf, n)
        if self.record_levels is not None:  # each frame's mean log-mel level, dB
            self.record_levels += (mfcc[:, 0] * self._level_scale).tolist()
        if self.record_frames is not None:
            self.record_frames.append(np.array(mfcc, np.float32))
        rows = np.repeat(self.step.codes(mfcc), self.phases, axis=0)
        # with a second look, a long block goes a context of frames at a time: each
        # candidate is decided while its frames are still on the bounded tape
        piece = self.verifier.context.frames if self.verifier is not None else n
        out = []
        for a in range(0, n, piece):
            b = min(n, a + piece)
            if self.verifier is not None:
                self.tape.add(mfcc[a:b])
            found = []
            for j in range(a * self.phases, b * self.phases, self.phases):
                found += self._advance(rows[j:j + self.phases])
            out += self._second_look(found)
        self._buf = self._buf[n * self.hop:]
        return out

    def _second_look(self, found: list[dict], final: bool = False) -> list[dict]:
        """The first stage's detections (candidates) through the verifier, each once the
        stream holds the seconds after it (at the end of a stream: padded with silence);
        those it keeps, with its score and the stream time of the decision."""
        if self.verifier is None:
            return found
        ctx = self.verifier.context
        self._waiting += found
        ready = [d for d in self._waiting if final or ctx.end(d["time"]) <= self.tape.count]
        if not ready:
            return []
        self._waiting = [d for d in self._waiting if not any(d is r for r in ready)]
        windows = np.stack([self.tape.window(ctx, d["time"], self._silence) for d in ready])
        scores = self.verifier.scores(windows, [d["label"] for d in ready])
        now = ((self.tape.count - 1) * self.hop + self.n_fft) / self.sample_rate
        return [{**d, "verified": round(float(p), 4), "decided": round(now, 3)}
                for d, p in zip(ready, scores, strict=True) if p >= self.verify_threshold]

    def feed_pcm16(self, data: bytes) -> list[dict]:
        """Add raw signed 16-bit little-endian mono PCM (an odd trailing byte waits for the
        next call)."""
        data = self._odd + data
        self._odd = data[len(data) // 2 * 2:]
        pcm = np.frombuffer(data[:len(data) // 2 * 2], "<i2")
        return self.feed(pcm.astype(np.float32) / 32768.0)

    def flush(self) -> list[dict]:
        """End of stream: report a detection still waiting for its peak (or for the seconds
        after it, which are then silence)."""
        return self._second_look(self.decider.flush(), final=True)

    def listen_file(self, path: str | Path) -> list[dict]:
        """Every detection in an audio file of any length."""
        return [d for found in self.listen_file_blocks(path) for d in found]

    def listen_file_blocks(self, path: str | Path):
        """The detections of an audio file of any length, yielded as the file is read a
        second at a time (memory stays bounded: a 10-hour file is not loaded whole)."""
        self.reset()
        for y in file_blocks(path, self.sample_rate, self.n_fft + (self.window - 1) * self.hop):
            yield self.feed(y)
        yield self.flush()


def file_blocks(path: str | Path, sample_rate: int, need: int):
    """An audio file of any length a second at a time, resampled to ``sample_rate``;
    AudioError naming it when it holds fewer than ``need`` samples (one window)."""
    from ..audio import audio_blocks

    sr, blocks = audio_blocks(path)
    stream = None
    if sr != sample_rate:
        import soxr

        stream = soxr.ResampleStream(sr, sample_rate, 1, dtype="float32", quality="HQ")
    heard = 0
    for y in blocks:
        y = y if stream is None else stream.resample_chunk(y)
        heard += len(y)
        yield y
    if stream is not None:
        y = stream.resample_chunk(np.zeros(0, np.float32), last=True)
        heard += len(y)
        yield y
    # a window's samples: the first window completes only then
    if heard < need:
        raise AudioError(f"{path}: {heard / sample_rate:.2f} s of audio, shorter than "
                         f"one window ({need / sample_rate:.2f} s): nothing to listen "
                         "to (speechgru predict answers a short clip)")


class AfterWake:
    """Commands counted only after a wake phrase: ``commands`` and ``wake`` (two
    :class:`Listener`, the second a model of one's own word) hear the same audio, and a
    command is reported only when it comes within ``within`` seconds after a detection
    of the wake phrase (which is reported too, with ``"wake": True``). A grammar over the
    two models' detections, in neither model. ConfigError naming the wake model when its
    sample rate or features differ from the commands model's."""

    def __init__(self, commands: Listener, wake: Listener, within: float = 4.0):
        if commands.features != wake.features:
            raise ConfigError(f"{wake.dir}: its features ({wake.features.sample_rate} Hz, "
                              f"{wake.features.n_mfcc} MFCCs every {wake.features.hop_length} "
                              f"samples) differ from {commands.dir}'s; a wake model for "
                              "--after must hear as the commands model does")
        if not (isinstance(within, (int, float)) and math.isfinite(within)
                and 0 < within <= 60):
            raise ConfigError(f"--within {within}: seconds in (0, 60]")
        self.commands, self.wake, self.within = commands, wake, float(within)
        self.sample_rate, self.hop = commands.sample_rate, commands.hop
        self.reset()

    def reset(self) -> None:
        self.commands.reset()
        self.wake.reset()
        self._wakes: list[float] = []
        self._held: list[dict] = []
        self._heard = 0

    def _decide(self, final: bool) -> list[dict]:
        """Held commands whose wake phrase (if any) is surely known by now: a wake
        detection is reported at most ``settle`` s after its time."""
        settle = 2.0 + (self.wake.verifier.context.after if self.wake.verifier else 0.0)
        now = self._heard / self.sample_rate
        out, keep = [], []
        for d in self._held:
            if final or now - d["time"] >= settle:
                if any(0 < d["time"] - w <= self.within for w in self._wakes):
                    out.append(d)
            else:
                keep.append(d)
        self._held = keep
        return out

    def feed(self, samples: np.ndarray) -> list[dict]:
        woke = [{**d, "wake": True} for d in self.wake.feed(samples)]
        self._wakes += [d["time"] for d in woke]
        self._held += self.commands.feed(samples)
        self._heard += len(np.asarray(samples).reshape(-1))
        return sorted(woke + self._decide(False), key=lambda d: d["time"])

    def flush(self) -> list[dict]:
        woke = [{**d, "wake": True} for d in self.wake.flush()]
        self._wakes += [d["time"] for d in woke]
        self._held += self.commands.flush()
        return sorted(woke + self._decide(True), key=lambda d: d["time"])

    def listen_file_blocks(self, path: str | Path):
        self.reset()
        c = self.commands
        for y in file_blocks(path, self.sample_rate, c.n_fft + (c.window - 1) * c.hop):
            yield self.feed(y)
        yield self.flush()
