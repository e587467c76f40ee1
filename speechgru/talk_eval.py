"""The benchmark of a room where people talk: commands and other words said between real
sentences, over real noise at bands of SNR, heard as ``listen`` hears it.

:func:`room_stream` lays each of a split's commands and other words after one to three
real sentences of speakers never trained on (0.3-1.2 s gaps; the sentences brought to the
word's level, as one person talking), with the dataset's noise under the whole piece at an
SNR band taken in turn (clean, 20-30, 10-20, 5-10 dB, against the word's loudest 400 ms),
then stretches of noise alone; it yields the audio piece by piece (never the recording
whole). :func:`sentence_stream` does the same with every sentence alone. The streaming
model runs once over each (:class:`~speechgru.runtime.listener.Listener`, which records its
window posteriors); every threshold is then the same windows replayed through a
:class:`~speechgru.runtime.listener.Decider`, exactly what ``listen`` would have reported.
:func:`room_metrics` scores a room: commands found and substituted per band, other words
that fire, false alarms per hour of speech and of noise alone, and what fired in talk.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from .config import SILENCE
from .errors import ConfigError, DataError

BANDS = (("clean", None), ("20-30 dB", (20.0, 30.0)), ("10-20 dB", (10.0, 20.0)),
         ("5-10 dB", (5.0, 10.0)))
SPEECH, NOISE_ALONE = "_speech_", "_noise_"
TALK_CURVE = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99)


def loud_power(y: np.ndarray, sample_rate: int, ms: float = 400.0) -> float:
    """Mean power of the loudest ``ms`` of ``y`` (the whole of it when shorter)."""
    y = np.asarray(y, np.float64)
    n = min(len(y), max(1, int(sample_rate * ms / 1000)))
    if n == 0:
        return 0.0
    c = np.concatenate([[0.0], np.cumsum(y * y)])
    return float(np.max(c[n:] - c[:-n]) / n)


class NoiseBed:
    """Stretches of background noise at unit RMS, read piece by piece from ``regions``
    (``(path, offset, seconds or None)``: whole files, or the parts of them a split owns),
    resampled to ``sample_rate``; silent regions are left out."""

    def __init__(self, regions: list[tuple[Path, float, float | None]], sample_rate: int):
        self.regions = [r for r in regions if r[2] is None or r[2] > 0.5]
        self.sr = sample_rate
        if not self.regions:
            raise DataError("no background noise to lay under the room (give --noise DIR)")

    def segment(self, n: int, rng: np.random.Generator) -> np.ndarray:
        from .audio import read_audio, resample

        out, have, tries = [], 0, 0
        while have < n:
            path, offset, seconds = self.regions[int(rng.integers(len(self.regions)))]
            y, sr = read_audio(path, offset=offset, duration=seconds)
            y = resample(y, sr, self.sr) if sr != self.sr else y
            rms = float(np.sqrt(np.mean(np.asarray(y, np.float64) ** 2)))
            tries += 1
            if rms < 1e-6 or len(y) < self.sr // 4:
                if tries > 50:
                    raise DataError(f"{path}: the background noise is silent or too short")
                continue
            start = int(rng.integers(0, max(1, len(y) - (n - have))))
            piece = y[start:start + n - have] / rms
            out.append(piece)
            have += len(piece)
        return np.concatenate(out)[:n].astype(np.float64)


def _span(y: np.ndarray) -> tuple[int, int]:
    """First and last sample within 20 dB of the peak."""
    loud = np.flatnonzero(np.abs(y) > 0.1 * (np.abs(y).max() + 1e-9))
    return (int(loud[0]), int(loud[-1])) if len(loud) else (0, len(y) - 1)


def room_stream(items, sentences, bed: NoiseBed | None, truth: list[dict], *,
                sample_rate: int = 16000, seed: int = 0,
                sentences_per: tuple[int, int] = (1, 3), gap: tuple[float, float] = (0.3, 1.2),
                noise_seconds: float = 120.0):
    """Yield the room's audio piece by piece (float32 at ``sample_rate``), appending to
    ``truth`` what each piece holds: ``{"label", "start", "end", "band", "file"}`` of every
    word (``_unknown_`` for other words), ``{"label": "_speech_", ..., "text"}`` of every
    sentence and ``{"label": "_noise_", ...}`` of every stretch of noise alone.

    ``items``: ``(clip, band index)``; ``sentences``: the :class:`~speechgru.data.talk
    .Sentence` s to draw from (screened ones: no command word in them); ``bed``: the noise
    (``None``: every band clean)."""
    from .audio import load_clip, read_audio, resample

    sr = sample_rate
    rng = np.random.default_rng([seed, 34])
    cursor = 0
    louds = []
    for clip, band in items:
        word = load_clip(clip.path, sample_rate=sr, num_samples=sr, offset=clip.offset,
                         duration=clip.duration).astype(np.float64)
        p_word = loud_power(word, sr)
        louds.append(p_word)
        parts, events, pos = [], [], 0
        for _ in range(int(rng.integers(sentences_per[0], sentences_per[1] + 1))):
            s = sentences[int(rng.integers(len(sentences)))]
            y, file_sr = read_audio(s.path)
            y = (resample(y, file_sr, sr) if file_sr != sr else y).astype(np.float64)
            y *= np.sqrt(p_word / max(loud_power(y, sr), 1e-12))  # one talker, one level
            lead = int(rng.uniform(*gap) * sr)
            parts += [np.zeros(lead), y]
            events.append({"label": SPEECH, "start": (cursor + pos + lead) / sr,
                           "end": (cursor + pos + lead + len(y)) / sr, "file": str(s.path),
                           "text": s.text, "band": BANDS[band][0]})
            pos += lead + len(y)
        lead = int(rng.uniform(*gap) * sr)
        first, last = _span(word)
        events.append({"label": clip.label, "start": (cursor + pos + lead + first) / sr,
                       "end": (cursor + pos + lead + last) / sr, "file": clip.describe(),
                       "band": BANDS[band][0]})
        parts += [np.zeros(lead), word, np.zeros(int(rng.uniform(*gap) * sr))]
        pcm = np.concatenate(parts)
        snr = BANDS[band][1]
        if snr is not None and bed is not None:
            db = rng.uniform(*snr)
            pcm = pcm + np.sqrt(p_word / 10 ** (db / 10)) * bed.segment(len(pcm), rng)
        for e in events:
            e["start"], e["end"] = round(e["start"], 3), round(e["end"], 3)
        truth.extend(events)
        cursor += len(pcm)
        yield np.clip(pcm, -1, 1).astype(np.float32)
    if bed is None or noise_seconds <= 0 or not louds:
        return
    typical = float(np.median(louds))
    noisy = [b for b in BANDS if b[1] is not None]
    for name, (lo, hi) in noisy:  # noise alone, at each band's middle, a second at a time
        level = np.sqrt(typical / 10 ** ((lo + hi) / 20))
        n = int(noise_seconds / len(noisy) * sr)
        truth.append({"label": NOISE_ALONE, "start": round(cursor / sr, 3),
                      "end": round((cursor + n) / sr, 3), "band": name})
        for k in range(0, n, sr * 10):
            m = min(sr * 10, n - k)
            yield np.clip(level * bed.segment(m, rng), -1, 1).astype(np.float32)
        cursor += n


def sentence_stream(sentences, truth: list[dict], *, sample_rate: int = 16000,
                    pause: float = 0.5):
    """Yield every sentence as it is (read one at a time, ``pause`` seconds of silence
    after each), appending ``{"label": "_speech_", "start", "end", "file", "text",
    "kind"}`` to ``truth``."""
    from .audio import read_audio, resample

    sr, cursor = sample_rate, 0
    for s in sentences:
        y, file_sr = read_audio(s.path)
        y = resample(y, file_sr, sample_rate) if file_sr != sr else y
        truth.append({"label": SPEECH, "start": round(cursor / sr, 3),
                      "end": round((cursor + len(y)) / sr, 3), "file": str(s.path),
                      "text": s.text, "kind": s.kind})
        cursor += len(y) + int(pause * sr)
        yield np.concatenate([y, np.zeros(int(pause * sr), np.float32)]).astype(np.float32)


def room_metrics(detections: list[dict], truth: list[dict], duration: float, *,
                 tolerance: float = 0.5) -> dict:
    """Score detections over a room (:func:`room_stream`'s ``truth``) or over sentences
    alone (:func:`sentence_stream`'s).

    A detection within a word's span widened by ``tolerance`` belongs to it (the nearest
    when two do); else, inside a sentence, it is a false alarm in speech; else, inside a
    stretch of noise alone, a false alarm in noise; else one in a pause. A command is found
    when a detection of its label belongs to it, substituted when only others do; another
    word fires when any does. Per hour: of sentences (by kind when they have one), of
    noise alone."""
    words = [e for e in truth if e["label"] not in (SPEECH, NOISE_ALONE)]
    talk = [e for e in truth if e["label"] == SPEECH]
    alone = [e for e in truth if e["label"] == NOISE_ALONE]
    w_spans = np.array([[e["start"] - tolerance, e["end"] + tolerance] for e in words],
                       np.float64).reshape(-1, 2)
    t_spans = np.array([[e["start"], e["end"]] for e in talk], np.float64).reshape(-1, 2)
    n_spans = np.array([[e["start"], e["end"]] for e in alone], np.float64).reshape(-1, 2)
    heard: list[list[str]] = [[] for _ in words]
    in_talk, in_noise, in_pause = [], [], 0
    for d in detections:
        t = float(d["time"])
        hit = np.flatnonzero((w_spans[:, 0] <= t) & (t <= w_spans[:, 1]))
        if len(hit):
            centres = w_spans[hit].mean(axis=1)
            heard[int(hit[np.argmin(np.abs(centres - t))])].append(d["label"])
            continue
        s = np.flatnonzero((t_spans[:, 0] <= t) & (t <= t_spans[:, 1]))
        if len(s):
            e = talk[int(s[0])]
            in_talk.append({"label": d["label"], "p": d.get("p"), "file": e["file"],
                            "text": e.get("text"), "kind": e.get("kind", "screened"),
                            "at": round(t - e["start"], 2)})
            continue
        if len(n_spans) and np.any((n_spans[:, 0] <= t) & (t <= n_spans[:, 1])):
            in_noise.append(d)
            continue
        in_pause += 1
    per_band: dict[str, dict] = {}
    for name, _ in BANDS:
        idx = [i for i, e in enumerate(words) if e.get("band") == name]
        cmds = [i for i in idx if not words[i]["label"].startswith("_")]
        others = [i for i in idx if words[i]["label"].startswith("_")]
        if not idx:
            continue
        found = [i for i in cmds if words[i]["label"] in heard[i]]
        subst = [i for i in cmds if heard[i] and words[i]["label"] not in heard[i]]
        fired = [i for i in others if heard[i]]
        per_band[name] = {"commands": len(cmds), "found": len(found),
                          "command_recall": len(found) / len(cmds) if cmds else None,
                          "substituted": len(subst), "other_words": len(others),
                          "other_words_fired": len(fired),
                          "other_words_accepted": len(fired) / len(others) if others else None}
    cmds = [i for i, e in enumerate(words) if not e["label"].startswith("_")]
    others = [i for i, e in enumerate(words) if e["label"].startswith("_")]
    found = [i for i in cmds if words[i]["label"] in heard[i]]
    subst = [i for i in cmds if heard[i] and words[i]["label"] not in heard[i]]
    fired = [i for i in others if heard[i]]
    kinds = sorted({e.get("kind", "screened") for e in talk})
    speech = {}
    for k in kinds:
        hours = sum(e["end"] - e["start"] for e in talk if e.get("kind", "screened") == k) / 3600
        n = sum(1 for d in in_talk if d["kind"] == k)
        speech[k] = {"hours": hours, "false_alarms": n,
                     "per_hour": n / hours if hours > 0 else None}
    noise_hours = sum(e["end"] - e["start"] for e in alone) / 3600
    screened = speech.get("screened", {})
    return {
        "duration_s": duration,
        "commands": len(cmds), "found": len(found), "substituted": len(subst),
        "command_recall": len(found) / len(cmds) if cmds else None,
        "substitution_rate": len(subst) / len(cmds) if cmds else None,
        "other_words": len(others), "accepted": len(fired),
        "other_words_accepted": len(fired) / len(others) if others else None,
        "per_band": per_band,
        "speech": speech,
        "speech_hours": screened.get("hours", 0.0),
        "false_alarms_in_speech": screened.get("false_alarms", 0),
        "false_alarms_per_hour_of_speech": screened.get("per_hour"),
        "noise_hours": noise_hours, "false_alarms_in_noise": len(in_noise),
        "false_alarms_per_hour_of_noise": (len(in_noise) / noise_hours
                                           if noise_hours > 0 else None),
        "false_alarms_in_pauses": in_pause,
        "fired_in_talk": in_talk,
    }


class _Heard:
    """The windows of one pass of the streaming model over a stream of pieces."""

    def __init__(self, listener, pieces, *, progress: bool, total: int | None, desc: str,
                 frames: bool = False):
        from tqdm.auto import tqdm

        listener.record, listener.record_levels = [], []
        listener.record_frames = [] if frames else None
        listener.reset()
        samples = 0
        shown = progress and sys.stderr.isatty()
        with tqdm(total=total, desc=desc, unit="piece", disable=not shown, leave=False) as bar:
            for pcm in pieces:
                listener.feed(pcm)
                samples += len(pcm)
                bar.update(1)
        listener.flush()
        self.duration = samples / listener.sample_rate
        self.centres = np.array([c for c, _ in listener.record], np.float64)
        self.probs = (np.stack([p for _, p in listener.record]) if listener.record
                      else np.zeros((0, len(listener.labels)), np.float32))
        self.levels = np.array(listener.record_levels, np.float64)
        # every MFCC frame of the pass (kept only when asked: what a second look hears)
        self.frames = (np.concatenate(listener.record_frames) if listener.record_frames
                       else None)
        listener.record, listener.record_levels, listener.record_frames = None, None, None
        self.labels = listener.labels
        self.geometry = (listener.sample_rate, listener.hop, listener.n_fft, listener.window)

    def detections(self, threshold: float, smoothing: int = 2,
                   suppression_ms: float = 1000.0) -> list[dict]:
        """What ``listen`` would report at these settings (each setting replayed once and
        kept: a sweep of a second threshold asks for the same candidates again)."""
        from .runtime.listener import Decider

        key = (float(threshold), int(smoothing), float(suppression_ms))
        kept = self.__dict__.setdefault("_replayed", {})
        if key not in kept:
            kept[key] = Decider(self.labels, threshold, smoothing, suppression_ms).replay(
                self.centres, self.probs)
        return [dict(d) for d in kept[key]]


def _bands(n: int, rng: np.random.Generator) -> list[int]:
    """``n`` band indices, the bands in equal turns, shuffled."""
    return list(rng.permutation(np.arange(n) % len(BANDS)))


def _noise_regions(run, noise_dir, data_clips, split: str | None):
    """Where the room's noise comes from: ``noise_dir``'s files whole; else the run's
    ``--noise`` folders, only the part of each file its split owns (never trained on);
    else the clips' ``_silence_`` windows; else none."""
    from .audio import AUDIO_EXTENSIONS
    from .data.layouts import scan_dataset

    if noise_dir is not None:
        files = sorted(p for p in Path(noise_dir).iterdir()
                       if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        if not files:
            raise DataError(f"{noise_dir}: no audio files for --noise")
        return [(p, 0.0, None) for p in files]
    windows = []
    if run is not None:
        tc = run.config().train
        for d in run.data().get("noise", []):
            ds = scan_dataset(d, words=tc.words, validation_percent=tc.validation_percent,
                              testing_percent=tc.testing_percent, layout="noise")
            windows += [c for c in ds.clips if c.split == (split or "validation")]
    windows = windows or [c for c in data_clips if c.label == SILENCE]
    spans: dict[Path, list[float]] = {}
    for c in windows:
        a, b = c.offset, c.offset + (c.duration or 1.0)
        lo, hi = spans.get(c.path, [a, b])
        spans[c.path] = [min(lo, a), max(hi, b)]
    return [(p, lo, hi - lo) for p, (lo, hi) in sorted(spans.items())]


class Hearing:
    """One model's pass over a room and over its sentences alone (windows recorded), and
    every figure of it at any decision setting (:meth:`score`), without running the model
    again."""

    def __init__(self, model_dir: Path, variant: str, clips, sentences, regions, *,
                 seed: int = 0, max_commands: int | None = 300,
                 max_others: int | None = 150, noise_seconds: float = 120.0,
                 sentences_alone: bool = True, progress: bool = True,
                 gap: tuple[float, float] = (0.3, 1.2), frames: bool = False,
                 verifier=None, sentences_per: tuple[int, int] = (1, 3)):
        from .data.talk import SCREENED
        from .runtime.listener import Listener
        from .stream_eval import spoken_words

        screened = [s for s in sentences if s.kind == SCREENED]
        if not screened:
            raise DataError("no sentence with a transcript free of command words to say "
                            "the words between")
        # a second look hears each candidate's frames again: keep them
        frames = frames or verifier is not None
        self.verifier, self._scores = verifier, {}
        rng = np.random.default_rng(seed)
        commands, others = spoken_words(clips, rng, max_commands, max_others)
        if not commands:
            raise DataError("no command clips to say in the room")
        chosen = commands + others
        bands = _bands(len(commands), rng) + _bands(len(others), rng)
        items = [(chosen[i], bands[i]) for i in rng.permutation(len(chosen))]
        lis = Listener(model_dir, variant, verify=False)  # the first stage alone
        self.labels, self.default_threshold = lis.labels, lis.threshold
        self.features = lis.features
        # the front end's frame of digital silence (a second look's padding)
        self.silence = lis.frontend.frames(np.zeros(lis.n_fft, np.float32), 1)[0]
        bed = NoiseBed(regions, lis.sample_rate) if regions else None
        self.truth: list[dict] = []
        self.room = _Heard(lis, room_stream(items, screened, bed, self.truth,
                                            sample_rate=lis.sample_rate, seed=seed,
                                            noise_seconds=noise_seconds, gap=gap,
                                            sentences_per=sentences_per),
                           progress=progress, desc="room", frames=frames,
                           total=len(items) + (3 * int(np.ceil(noise_seconds / 30))
                                               if bed is not None and noise_seconds > 0 else 0))
        self.alone_truth: list[dict] = []
        self.alone = (_Heard(lis, sentence_stream(sentences, self.alone_truth,
                                                  sample_rate=lis.sample_rate),
                             progress=progress, total=len(sentences), desc="sentences",
                             frames=frames)
                      if sentences_alone else None)
        self.talk_sentences = len(screened)

    def verified(self, heard: _Heard, detections: list[dict], verify: float | None
                 ) -> list[dict]:
        """The detections the second look keeps at ``verify`` (None: all of them). Each
        candidate's score is computed once and kept, so every setting of both thresholds
        costs no second pass of either model."""
        if verify is None or not detections:
            return detections
        if self.verifier is None:
            raise ConfigError("no second look (verifier) to apply")
        key = id(heard)
        todo = [d for d in detections if (key, d["time"], d["label"]) not in self._scores]
        if todo:
            ctx = self.verifier.context
            windows = np.stack([ctx.cut(heard.frames, d["time"], self.silence) for d in todo])
            for d, p in zip(todo, self.verifier.scores(windows, [d["label"] for d in todo]),
                            strict=True):
                self._scores[(key, d["time"], d["label"])] = float(p)
        out = []
        for d in detections:
            p = self._scores[(key, d["time"], d["label"])]
            if p >= verify:
                out.append({**d, "verified": round(p, 4)})
        return out

    def score(self, threshold: float, smoothing: int = 2, suppression_ms: float = 1000.0,
              verify: float | None = None) -> dict:
        """Every figure at a decision setting: the first stage's ``threshold`` and
        ``smoothing``, and the second look's ``verify`` threshold (None: none)."""
        from .data.talk import SCREENED

        m = room_metrics(self.verified(self.room, self.room.detections(
            threshold, smoothing, suppression_ms), verify), self.truth, self.room.duration)
        if self.alone is not None:
            a = room_metrics(self.verified(self.alone, self.alone.detections(
                threshold, smoothing, suppression_ms), verify), self.alone_truth,
                self.alone.duration)
            screened = a["speech"].get(SCREENED, {})
            m["sentences_alone"] = {"speech": a["speech"], "fired_in_talk": a["fired_in_talk"],
                                    "false_alarms_per_hour": screened.get("per_hour")}
            # both passes over screened talk: the false alarms per hour of all of it
            hours = m["speech_hours"] + screened.get("hours", 0.0)
            n = m["false_alarms_in_speech"] + screened.get("false_alarms", 0)
            m["talk_hours"], m["false_alarms_in_talk"] = hours, n
            m["false_alarms_per_hour_of_talk"] = n / hours if hours else None
        return m


def curve_row(t: float, m: dict) -> dict:
    return {"threshold": t, "command_recall": m["command_recall"],
            "per_band": {k: v["command_recall"] for k, v in m["per_band"].items()},
            "other_words_accepted": m["other_words_accepted"],
            "false_alarms_per_hour_of_speech": m["false_alarms_per_hour_of_speech"],
            "false_alarms_per_hour_of_noise": m["false_alarms_per_hour_of_noise"],
            "sentences_alone_per_hour": (m.get("sentences_alone") or {}).get(
                "false_alarms_per_hour")}


def evaluate_talk(target: str | Path, talk_dir: str | Path | list, data_dir=None, *,
                  noise_dir: str | Path | None = None, split: str | None = None,
                  variant: str = "float32", threshold: float | None = None,
                  smoothing: int | None = None, suppression_ms: float = 1000.0,
                  thresholds: tuple[float, ...] = TALK_CURVE, seed: int = 0,
                  max_commands: int | None = 300, max_others: int | None = 150,
                  noise_seconds: float = 120.0, sentences_alone: bool = True,
                  points: tuple[tuple[float, int], ...] = (),
                  out_dir: str | Path | None = None, progress: bool = True,
                  verify: bool = True, verify_threshold: float | None = None) -> dict:
    """The room benchmark of a run (its ``split``'s clips, default validation, and the talk
    speakers of the same part: validation or test; its streaming model exported to a
    temporary folder) or of an exported model directory (every clip of ``data_dir``, the
    talk's test speakers). ``threshold``, ``smoothing``: listen's (default: the model's
    operating point); ``points``: more ``(threshold, smoothing)`` settings to score
    (``"points"``, the same windows replayed). Writes ``talk-<name>.json`` and its plot
    into ``out_dir`` (default: the run's ``eval/``; none for a model directory without
    ``out_dir``). A model with a second look (a verifier) is heard with it, as ``listen``
    hears it, unless ``verify`` is False; ``verify_threshold`` is its threshold (default:
    the operating point's)."""
    from .data.talk import read_talk
    from .runtime.manifest import Manifest
    from .runtime.verifier import Verifier
    from .stream_eval import _sources

    target = Path(target)
    talk_dirs = [Path(d) for d in (talk_dir if isinstance(talk_dir, (list, tuple))
                                   else [talk_dir])]
    clips, _, run = _sources(target, data_dir, split)
    part = "test" if (run is None or split == "test") else (split or "validation")
    words = run.config().train.words if run is not None else None
    sentences = [s for d in talk_dirs for s in read_talk(d, words=words) if s.split == part]
    if not sentences:
        raise DataError(f"{', '.join(map(str, talk_dirs))}: no sentence of the talk's {part} "
                        "speakers")
    regions = _noise_regions(run, noise_dir, clips, split)
    with tempfile.TemporaryDirectory(prefix="speechgru-talk-") as tmp:
        if run is not None:
            from .stream_eval import export_stream

            model_dir = export_stream(run, Path(tmp) / "model", variant)
        else:
            model_dir = target
        manifest = Manifest(model_dir)
        verifier = None
        if verify:
            from .runtime.recognizer import _read_model_dir

            _, features, labels = _read_model_dir(model_dir)
            verifier = Verifier.of_model_dir(manifest, features, labels, variant)
        hearing = Hearing(model_dir, variant, clips, sentences, regions, seed=seed,
                          max_commands=max_commands, max_others=max_others,
                          noise_seconds=noise_seconds, sentences_alone=sentences_alone,
                          progress=progress, verifier=verifier)
        point = manifest.data.get("operating_point") or {}
        second = manifest.verifier_point if verifier is not None else None
    if verifier is not None:  # the first stage's point with the second look's
        point = second or {}
        if verify_threshold is None:
            verify_threshold = float(point.get("verifier_threshold", 0.5))
    else:
        verify_threshold = None
    used = (float(point.get("threshold", hearing.default_threshold))
            if verifier is not None else hearing.default_threshold) \
        if threshold is None else threshold
    if smoothing is None:
        smoothing = int(point.get("smoothing", 2))
    v = verify_threshold
    result = {"target": str(target), "split": split or ("validation" if run else None),
              "talk": [str(d) for d in talk_dirs], "talk_part": part,
              "data": str(data_dir) if data_dir else None, "variant": variant, "seed": seed,
              "threshold": used, "smoothing": smoothing, "suppression_ms": suppression_ms,
              "verifier_threshold": v,
              "noise": sorted({str(p) for p, _, _ in regions}),
              "talk_sentences": hearing.talk_sentences,
              **hearing.score(used, smoothing, suppression_ms, verify=v)}
    result["curve"] = [curve_row(t, hearing.score(t, smoothing, suppression_ms, verify=v))
                       for t in sorted(set(thresholds) | {used})]
    result["points"] = [{**curve_row(t, hearing.score(t, k, suppression_ms, verify=v)),
                         "smoothing": k} for t, k in points]
    out = Path(out_dir) if out_dir else (run / "eval" if run is not None else None)
    if out is not None:
        from .plots import plot_talk
        from .utils import atomic_write_text

        out.mkdir(parents=True, exist_ok=True)
        name = f"talk-{result['split'] or Path(data_dir).name}-{variant}"
        atomic_write_text(out / f"{name}.json", json.dumps(result, indent=1))
        plot_talk(result["curve"], out / f"{name}.png", title=f"{target.name}: {name}",
                  operating=used)
        result["written"] = [str(out / f"{name}.json"), str(out / f"{name}.png")]
    return result


def format_talk_report(r: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f} %"

    def per_h(v):
        return "-" if v is None else f"{v:.1f}"

    alone = r.get("sentences_alone") or {}
    lines = [
        f"a room where people talk: {r['commands']} commands and {r['other_words']} other "
        f"words, each after 1-3 of {r['talk_sentences']} real sentences ({r['talk_part']} "
        f"speakers), {r['duration_s'] / 60:.1f} min; listen with threshold "
        f"{r['threshold']:.2f}" + (f", then the second look at {r['verifier_threshold']:.2f}"
                                   if r.get("verifier_threshold") is not None else "") + ":",
        f"  commands found                    {pct(r['command_recall'])} ({r['found']}); "
        f"with a wrong label {pct(r['substitution_rate'])}",
        "  by SNR band                       " + ", ".join(
            f"{k} {pct(v['command_recall'])}" for k, v in r["per_band"].items()),
        f"  other words that fire             {pct(r['other_words_accepted'])} "
        f"({r['accepted']})",
        f"  false alarms per hour of speech   {per_h(r['false_alarms_per_hour_of_speech'])} "
        f"({r['false_alarms_in_speech']} in {60 * r['speech_hours']:.1f} min)",
        f"  false alarms per hour of noise    {per_h(r['false_alarms_per_hour_of_noise'])} "
        f"({r['false_alarms_in_noise']} in {60 * r['noise_hours']:.1f} min)"]
    if alone:
        parts = [f"{k}: {per_h(v['per_hour'])} ({v['false_alarms']} in "
                 f"{60 * v['hours']:.1f} min)" for k, v in alone["speech"].items()]
        lines.append("  sentences alone, false alarms per hour: " + "; ".join(parts))
    lines.append("threshold -> found / other words fire / FA per hour of speech / of noise"
                 " / of sentences alone:")
    for row in r["curve"]:
        lines.append(f"  {row['threshold']:.2f}: {pct(row['command_recall'])} / "
                     f"{pct(row['other_words_accepted'])} / "
                     f"{per_h(row['false_alarms_per_hour_of_speech'])} / "
                     f"{per_h(row['false_alarms_per_hour_of_noise'])} / "
                     f"{per_h(row['sentences_alone_per_hour'])}")
    return "\n".join(lines)
