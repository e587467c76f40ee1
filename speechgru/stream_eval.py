"""The streaming benchmark: a long recording made of a split's clips, heard as ``listen``
hears it.

:func:`build_recording` lays the clips (commands and other words) end to end at random
gaps over the dataset's own background noise, with a stretch of background alone at the
end, and returns the truth: every word's label and the span of its spoken part.
:func:`evaluate_stream` runs the exported streaming model over it exactly as ``speechgru
listen`` does (:class:`~speechgru.runtime.listener.Listener`, its defaults and the model's
operating point), scores it with :func:`~speechgru.metrics.stream_metrics`
(command recall, substitutions, other words accepted, false alarms per hour of
background), and repeats that over thresholds for a DET-style curve (miss rate against
false alarms per hour).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from .config import SILENCE, UNKNOWN
from .data.talk import TALK_WORDS
from .errors import ConfigError, DataError
from .utils import inside

CURVE_THRESHOLDS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def spoken_words(clips, rng: np.random.Generator, max_commands: int | None,
                 max_others: int | None) -> tuple[list, list]:
    """``(commands, other words)`` of ``clips`` to lay in a recording: the command clips
    and the ``_unknown_`` clips of words (not windows of talk), each drawn down to its most
    at random, kept in their order."""
    commands = [c for c in clips if not c.label.startswith("_")]
    others = [c for c in clips if c.label == UNKNOWN and c.word not in TALK_WORDS]
    if max_commands is not None and len(commands) > max_commands:
        commands = [commands[i] for i in sorted(rng.choice(len(commands), max_commands,
                                                           replace=False))]
    if max_others is not None and len(others) > max_others:
        others = [others[i] for i in sorted(rng.choice(len(others), max_others,
                                                       replace=False))]
    return commands, others


def build_recording(clips, noise_files, *, sample_rate: int = 16000, seed: int = 0,
                    gap: tuple[float, float] = (0.4, 1.6), noise_rms: float = 0.005,
                    background_seconds: float = 60.0, max_commands: int | None = None,
                    max_others: int | None = None) -> tuple[np.ndarray, list[dict]]:
    """``(pcm, words)``: the clips of commands and of ``_unknown_`` words (``_silence_``
    clips are left out) in a random order, one second each, ``gap`` seconds apart (uniform),
    over the background noise (the ``noise_files`` repeated; without them the ``_silence_``
    clips, which are that noise in the 12-label layout; else white noise; at RMS
    ``noise_rms``), then ``background_seconds`` of the background alone. ``words``:
    ``{"label", "start", "end", "file"}`` per clip, the span where its level is within
    20 dB of its peak."""
    from .audio import load_clip, read_audio, resample

    rng = np.random.default_rng(seed)
    commands, others = spoken_words(clips, rng, max_commands, max_others)
    chosen = commands + others
    if not chosen:
        raise DataError("no command or _unknown_ clips to build a recording from")
    order = rng.permutation(len(chosen))
    sr = sample_rate
    placed, words, cursor = [], [], int(rng.uniform(*gap) * sr)
    for i in order:
        c = chosen[i]
        y = load_clip(c.path, sample_rate=sr, num_samples=sr, offset=c.offset,
                      duration=c.duration)
        loud = np.flatnonzero(np.abs(y) > 0.1 * (np.abs(y).max() + 1e-9))
        first, last = (loud[0], loud[-1]) if len(loud) else (0, sr - 1)
        words.append({"label": c.label, "start": round((cursor + first) / sr, 3),
                      "end": round((cursor + last) / sr, 3), "file": str(c.path)})
        placed.append((cursor, y))
        cursor += sr + int(rng.uniform(*gap) * sr)
    total = cursor + int(background_seconds * sr)
    beds = []
    for path in noise_files:
        y, file_sr = read_audio(path)
        if len(y):
            beds.append(resample(y, file_sr, sr))
    if not beds:  # the 12-label layout keeps its background noise as _silence_ clips
        beds = [load_clip(c.path, sample_rate=sr, num_samples=sr, offset=c.offset,
                          duration=c.duration) for c in clips if c.label == SILENCE][:600]
        beds = [y for y in beds if np.abs(y).max() > 0]
    bed = np.concatenate(beds) if beds else rng.standard_normal(total).astype(np.float32)
    bed = np.resize(bed, total).astype(np.float64)
    pcm = noise_rms * bed / (np.sqrt(np.mean(bed ** 2)) + 1e-12)
    for start, y in placed:
        pcm[start:start + sr] += y
    return np.clip(pcm, -1.0, 1.0).astype(np.float32), words


def export_stream(run, dest: Path, variant: str) -> Path:
    """A run's front end and streaming model exported into ``dest`` (a temporary folder of
    the caller's), as ``listen`` needs them."""
    from .export import export_run

    wanted = ["frontend", f"stream_{variant}"]
    # a run still choosing its operating point is heard too (the live choice does this)
    report = export_run(run.path, dest, variants=wanted, max_clips=20, progress=False,
                        unfinished=True)
    broken = report["failed"] + list(report["skipped"])
    if broken:
        why = {**report["skipped"],
               **{k: report["models"][k]["error"] for k in report["failed"]}}
        raise ConfigError(f"{run.path}: cannot stream: {why}")
    return dest


def _listen(model_dir: Path, variant: str, pcm: np.ndarray, threshold: float | None):
    from .runtime.listener import Listener

    lis = Listener(model_dir, variant, threshold=threshold)
    lis.reset()
    return lis.threshold, lis.feed(pcm) + lis.flush()


def _sources(target: Path, data_dir, split: str | None):
    """``(clips, noise files, run or None)`` of what is evaluated."""
    from .data.layouts import BACKGROUND, scan_dataset
    from .run_dir import RunDir
    from .runtime.manifest import is_model_dir

    run = RunDir(target)
    if run.exists():
        clips = run.split(split or "validation")
        # data_dir: one folder, or several (a run's clips inside any of them)
        given = [] if not data_dir else [Path(d) for d in (
            data_dir if isinstance(data_dir, (list, tuple)) else [data_dir])]
        sources = given or [Path(p) for p in run.data().get("sources", [])]
        if given:
            clips = [c for c in clips if any(inside(c.path, d) for d in given)]
        noise = sorted(p for s in sources for p in (s / BACKGROUND).glob("*.wav"))
        return clips, noise, run
    if not is_model_dir(target):
        raise ConfigError(f"{target}: neither a run directory (config.json) nor an exported "
                          "model directory (manifest.json)")
    if data_dir is None:
        raise ConfigError(f"{target}: a model directory needs --data DIR (clips it never "
                          "heard)")
    if split is not None:
        raise ConfigError("--split needs the run directory (a model directory does not know "
                          "which clips it was trained on); give --data DIR alone")
    from .runtime.manifest import Manifest

    # the model's own words are its commands there (a word of one's own too)
    words = tuple(k for k in Manifest(target).data.get("labels", []) if not k.startswith("_"))
    ds = scan_dataset(data_dir, words=words or None)
    return ds.clips, ds.noise_files, None


def evaluate_stream(target: str | Path, data_dir: str | Path | None = None, *,
                    split: str | None = None, variant: str = "float32",
                    threshold: float | None = None,
                    thresholds: tuple[float, ...] = CURVE_THRESHOLDS, seed: int = 0,
                    max_commands: int | None = 300, max_others: int | None = 450,
                    background_seconds: float = 60.0, out_dir: str | Path | None = None,
                    keep_audio: bool = False) -> dict:
    """The streaming figures of a run (its ``split``, default validation; its streaming
    models are exported to a temporary folder) or of an exported model directory (every
    clip of ``data_dir``). ``threshold``: listen's (default: the model's operating point).
    Writes ``stream-<name>.json`` and a DET plot into ``out_dir`` (default: the run's
    ``eval/``; none for a model directory without ``out_dir``)."""
    from .metrics import stream_metrics

    target = Path(target)
    clips, noise, run = _sources(target, data_dir, split)
    with tempfile.TemporaryDirectory(prefix="speechgru-stream-") as tmp:
        if run is not None:
            model_dir = export_stream(run, Path(tmp) / "model", variant)
        else:
            model_dir = target
        from .runtime.recognizer import _read_model_dir

        _, features, _ = _read_model_dir(model_dir)
        pcm, words = build_recording(clips, noise, sample_rate=features.sample_rate,
                                     seed=seed, max_commands=max_commands,
                                     max_others=max_others,
                                     background_seconds=background_seconds)
        duration = len(pcm) / features.sample_rate
        used, found = _listen(model_dir, variant, pcm, threshold)
        result = {"target": str(target), "split": split or ("validation" if run else None),
                  "data": str(data_dir) if data_dir else None, "variant": variant,
                  "seed": seed, "threshold": used,
                  **stream_metrics(found, words, duration)}
        curve = []
        for t in sorted(set(thresholds) | {used}):
            _, det = _listen(model_dir, variant, pcm, t)
            m = stream_metrics(det, words, duration)
            curve.append({"threshold": t, "command_recall": m["command_recall"],
                          "other_words_accepted": m["other_words_accepted"],
                          "false_alarms_per_hour": m["false_alarms_per_hour"]})
        result["curve"] = curve
    out = Path(out_dir) if out_dir else (run / "eval" if run is not None else None)
    if out is not None:
        from .plots import plot_det
        from .utils import atomic_write_text

        out.mkdir(parents=True, exist_ok=True)
        name = f"stream-{result['split'] or Path(data_dir).name}-{variant}"
        if keep_audio:
            import soundfile as sf

            sf.write(str(out / f"{name}.wav"), pcm, features.sample_rate, subtype="PCM_16")
            atomic_write_text(out / f"{name}-truth.json", json.dumps(words, indent=0))
        atomic_write_text(out / f"{name}.json", json.dumps(result, indent=1))
        plot_det(curve, out / f"{name}-det.png", title=f"{target.name}: {name}",
                 operating=used)
        result["written"] = [str(out / f"{name}.json"), str(out / f"{name}-det.png")]
    return result


def format_stream_report(r: dict) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f} %"

    fa = r["false_alarms_per_hour"]
    lines = [
        f"{r['commands']} commands and {r['other_words']} other words over "
        f"{r['duration_s'] / 60:.1f} min ({r['background_hours'] * 60:.1f} min of background "
        f"alone), listen with threshold {r['threshold']:.2f}:",
        f"  commands found with the right label  {pct(r['command_recall'])} "
        f"({r['found']}); with a wrong one {pct(r['substitution_rate'])}",
        f"  other words that fire                {pct(r['other_words_accepted'])} "
        f"({r['accepted']})",
        f"  false alarms per hour of background  "
        f"{'-' if fa is None else f'{fa:.1f}'} ({r['false_alarms']})",
        "threshold -> commands found / other words that fire / false alarms per hour:"]
    for row in r["curve"]:
        fah = row["false_alarms_per_hour"]
        lines.append(f"  {row['threshold']:.2f}: {pct(row['command_recall'])} / "
                     f"{pct(row['other_words_accepted'])} / "
                     f"{'-' if fah is None else f'{fah:.1f}'}")
    return "\n".join(lines)
