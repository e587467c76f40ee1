"""The bench of words never trained as commands: each trained from synthetic voices alone
(``speechgru train --words WORD`` with no recordings of it), judged on real takes of it by
people the project never heard and on real talk never trained on.

Words: "happy", "cat" and "bed" (Speech Commands' 1,555 speakers of
``speech_commands_unknown``), FSDD's "seven" (6 speakers), "marvin" and "sheila" (the 161
speakers' own other words), and a two-word phrase, "happy cat", made of one speaker's two
real takes 0.15 s apart. Wake words (``--words computer jarvis smart_mirror``): the real
takes of ``wake_words/`` (each said once by a person, 0.5-2.5 s; a take longer than the
model's second is heard as its loudest second alone, and whole in the stream).

Bases (``--bases``):

* ``clean``: a base that knows speech but has never heard a real take of any bench word:
  the recipe of the model in the box (``models/speech-commands-12``) trained on the 161
  speakers' ten command folders only (their other words and the 1,555 speakers left out),
  the talk's train speakers and the noise. The box itself heard real takes of most bench
  words (as other words), so it cannot be judged on them; this base is the box's recipe
  without them.
* ``box``: the model in the box's own base (``models/speech-commands-12/base``), what
  ``train --words`` starts from by default; fair only for words the box never heard (the
  wake words: not in Speech Commands, screened out of its talk).
* ``box-verified``: the ``box`` run of the same seed with its second look
  (``speechgru verifier``: the seconds around each candidate, trained on the run's
  synthetic takes between sentences of the talk's train speakers), scored at the point
  chosen over both thresholds.
* ``scratch``: no base, the same data and epochs from random weights.

Each word's run hears the word's synthetic takes (espeak and Kokoro), the recipe's
synthetic other words, the 161 speakers' ten commands as real other words, the talk's
train speakers (``--talk``) and the noise; its operating point is chosen live on the talk's
validation speakers. It is scored on its exported streaming model:

* **real takes recognised**: each real take alone (one second, its own silence around it)
  streamed at the run's threshold and smoothing; and the same takes in the room benchmark
  (``evaluate-stream --talk``: after real sentences, over noise at SNR bands);
* **false alarms per hour** of the talk's test speakers' sentences alone (never trained on);
* **minutes**: synthesis (made once per word, the same for every seed) and training.

Run::

    python scripts/bench_own_word.py [--words happy cat bed seven marvin sheila happy_cat]
        [--bases clean scratch] [--seeds 0 1 2] [--out runs/own-word] [--report]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_accuracy as ba  # noqa: E402

from speechgru.config import (  # noqa: E402
    COMMANDS,
    FeatureConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)

TALK = ba.SHARED / "continuous_speech"
FSDD = ba.SHARED / "fsdd"


def real_commands(out: Path) -> list[Path]:
    """The 161 speakers' ten command folders and their silence, without their other words:
    views of symbolic links under ``out`` (never copies)."""
    views = []
    for src in (ba.HALF, ba.EXTRA):
        view = out / "real" / f"commands-{src.name.rsplit('_', 1)[-1]}"
        for word in (*COMMANDS, "_silence_"):
            link = view / word
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(src / word, target_is_directory=True)
        views.append(view)
    return views


def clean_base(args) -> Path:
    """The box's recipe on speech that holds no real take of a bench word."""
    from speechgru.training.train import train

    run = Path(args.out) / "base-clean"
    if (run / "metrics.json").is_file():
        return run
    if (run / "state.json").is_file():
        train(None, run, resume=True, cache_dir=args.cache, verbose=1)
        return run
    config = RunConfig(FeatureConfig(), ModelConfig(), TrainConfig(
        validation_percent=10.0, testing_percent=0.0, seed=0, epochs=args.base_epochs,
        **ba.VOCAB))
    train(real_commands(Path(args.out)), run, config, cache_dir=args.cache, verbose=1,
          noise_dirs=[ba.NOISE], talk_dirs=[TALK])
    return run


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORDS = ("happy", "cat", "bed", "happy_cat", "marvin", "sheila", "seven")
WAKE_WORDS = ("computer", "jarvis", "smart_mirror")  # ../shared/data/wake_words/<word>/
BASES = ("box", "box-verified", "clean", "clean-hard", "clean-talk2", "clean-band", "clean-freeze1",
         "clean-own-kokoro", "scratch", "scratch-band")


def _link(link: Path, target: Path) -> None:
    if not link.is_symlink():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)


def takes(out: Path, word: str) -> Path:
    """A folder whose ``word/`` holds the real takes of ``word`` and whose other folders
    hold real other words (views of links, never copies)."""
    if word in ("happy", "cat", "bed"):
        return ba.UNKNOWN_WORDS
    if word in WAKE_WORDS:  # each take its own speaker (the benchmark names none)
        view = out / "real" / "wake-words"
        for f in sorted((ba.SHARED / "wake_words" / word).glob("*.ogg")):
            _link(view / word / f"{f.stem}_nohash_0{f.suffix}", f)
        return view
    if word == "happy_cat":  # one speaker's two real takes, 0.1 s apart, within a second
        return phrase(out, ("happy", "cat"))
    if word in DIGITS:  # FSDD's digits as folders of words
        view = out / "real" / "fsdd"
        for f in sorted((FSDD / "recordings").glob("*.wav")):
            digit, speaker, index = f.stem.split("_")
            _link(view / DIGITS[int(digit)] / f"{speaker}_nohash_{index}.wav", f)
        return view
    view = out / "real" / "sc-other-words"  # the 161 speakers' own other words
    for src in (ba.HALF, ba.EXTRA):
        for f in sorted((src / "_unknown_").glob("*.wav")):
            said, rest = f.name.split("_", 1)
            _link(view / said / rest, f)
    return view


def _loud(y: np.ndarray, sr: int) -> np.ndarray:
    """The part of a take within 25 dB of its loudest 20 ms, 30 ms either side."""
    hop = sr // 50
    frames = np.array([np.sqrt(np.mean(y[i:i + hop] ** 2) + 1e-12)
                       for i in range(0, max(1, len(y) - hop), hop)])
    keep = np.flatnonzero(frames >= frames.max() * 10 ** (-25 / 20))
    a, b = max(0, keep[0] * hop - sr * 3 // 100), min(len(y), (keep[-1] + 1) * hop + sr * 3 // 100)
    return y[a:b]


def phrase(out: Path, words: tuple[str, ...]) -> Path:
    """Takes of a phrase made of one speaker's real takes of its words, 0.1 s apart, kept
    when the whole fits in 0.95 s; the words alone beside them as other words."""
    import soundfile as sf

    from speechgru.audio import load_clip

    name = "_".join(words)
    view = out / "real" / f"phrase-{name}"
    done = view / ".done"
    if done.is_file():
        return view
    by_speaker: dict[str, dict[str, Path]] = {}
    for w in words:
        for f in sorted((ba.UNKNOWN_WORDS / w).glob("*_nohash_0.flac")):
            by_speaker.setdefault(f.name.split("_nohash_")[0], {})[w] = f
            _link(view / w / f.name, f)  # each word alone: an other word
    sr, gap = 16000, np.zeros(1600, np.float32)
    for speaker, files in sorted(by_speaker.items()):
        if len(files) < len(words):
            continue
        parts = [_loud(load_clip(files[w], sample_rate=sr, num_samples=sr), sr)
                 for w in words]
        y = np.concatenate([p for part in parts for p in (part, gap)][:-1])
        if len(y) <= int(0.95 * sr):
            pad = (sr - len(y)) // 2
            y = np.pad(y, (pad, sr - len(y) - pad))
            (view / name).mkdir(parents=True, exist_ok=True)
            sf.write(str(view / name / f"{speaker}_nohash_0.wav"), y, sr, subtype="PCM_16")
    done.write_text("")
    return view


def trained(args, word: str, base: str, seed: int) -> tuple[Path, float]:
    """The word's run (no recordings of it; talk and noise), and its minutes."""
    from speechgru.training.own_word import own_word_config
    from speechgru.training.train import train

    run = Path(args.out) / f"{word}-{base}-seed{seed}"
    timing = run / "minutes.json"
    if (run / "metrics.json").is_file() and timing.is_file():
        return run, json.loads(timing.read_text())["minutes"]
    import shutil

    shutil.rmtree(run, ignore_errors=True)
    if base.endswith("-verified"):  # the plain run of this seed, with its second look
        from speechgru.training.verifier import train_verifier

        plain, before = trained(args, word, base.removesuffix("-verified"), seed)
        shutil.copytree(plain, run, ignore=shutil.ignore_patterns("logs", "last.keras"))
        (run / "minutes.json").unlink()
        t = time.perf_counter()
        train_verifier(run, epochs=8, progress=False)
        minutes = before + (time.perf_counter() - t) / 60
        timing.write_text(json.dumps({"minutes": minutes}))
        return run, minutes
    from speechgru.training.base import default_base

    config = own_word_config((word,), base=None if base.startswith("scratch") else
                             default_base() if base == "box" else clean_base(args),
                             kokoro=True, seed=seed, epochs=args.epochs.get(base))
    if base == "clean-freeze1":  # its first GRU layer kept as the base left it
        config = dataclasses.replace(config, train=dataclasses.replace(config.train,
                                                                       base_freeze=1))
    if base == "clean-talk2":  # twice the windows of talk in each epoch
        config = dataclasses.replace(config, train=dataclasses.replace(config.train,
                                                                       talk_ratio=2.0))
    if not base.endswith("-band"):  # the levers as measured before the band limit was in
        config = dataclasses.replace(config, train=dataclasses.replace(config.train,
                                                                       band_limit=0.0))
    if base == "clean-own-kokoro":  # no Kokoro set of the commands: the word's own alone
        config = dataclasses.replace(config, train=dataclasses.replace(
            config.train, kokoro_commands=False))
    hard, before = [], 0.0
    if base == "clean-hard":  # a second round: the windows of talk the first fired on
        from speechgru.training.hard_negatives import mine

        first, before = trained(args, word, "clean", seed)
        t = time.perf_counter()
        hard = [mine(first, [TALK], threshold=0.5, progress=False)["file"]]
        before += (time.perf_counter() - t) / 60
    t = time.perf_counter()
    train(None, run, config, cache_dir=args.cache, verbose=0, noise_dirs=[ba.NOISE],
          talk_dirs=[TALK], hard_negatives=hard)
    minutes = before + (time.perf_counter() - t) / 60
    timing.write_text(json.dumps({"minutes": minutes}))
    return run, minutes


def streamed(model_dir: Path, clips, word: str, threshold: float, smoothing: int) -> float:
    """The share of takes ``listen`` hears at the run's point: every take whole (not cut to
    a second), 1.5 s of silence either side, one stream; a take is heard when ``word`` is
    detected within 0.5 s of its span."""
    from speechgru.audio import read_audio, resample
    from speechgru.runtime import Listener

    listener = Listener(model_dir, threshold=threshold, smoothing=smoothing)
    sr = listener.sample_rate
    gap = np.zeros(int(1.5 * sr), np.float32)
    spans, parts, at = [], [gap], len(gap)
    for c in clips:
        y, file_sr = read_audio(c.path)
        y = (resample(y, file_sr, sr) if file_sr != sr else y).astype(np.float32)
        spans.append((at / sr, (at + len(y)) / sr))
        parts += [y, gap]
        at += len(y) + len(gap)
    times = [d["time"] for d in listener.feed(np.concatenate(parts)) + listener.flush()
             if d["label"] == word]
    return float(np.mean([any(a - 0.5 <= t <= b + 0.5 for t in times) for a, b in spans]))


def score(args, word: str, base: str, seed: int) -> dict:
    kept = Path(args.out) / "scores" / f"{word}-{base}-seed{seed}.json"
    if kept.is_file():
        return json.loads(kept.read_text())
    import tempfile

    from speechgru.data.cache import extract_features
    from speechgru.data.layouts import scan_dataset
    from speechgru.run_dir import RunDir
    from speechgru.stream_eval import export_stream
    from speechgru.talk_eval import evaluate_talk

    run, minutes = trained(args, word, base, seed)
    point = RunDir(run).operating_point()
    if base.endswith("-verified"):  # the point chosen with the second look
        point = {**point["verifier"], "live": point["verifier"]}
    threshold, smoothing = point["threshold"], int(point.get("smoothing", 2))
    data = takes(Path(args.out), word)
    # lone takes: each one-second take, the word if the model says it at its threshold
    config, labels, model = RunDir(run).load()
    clips = [c for c in scan_dataset(data, words=(word,)).clips if c.label == word]
    feats = extract_features(clips, config.features, cache_dir=args.cache, progress=False)
    probs = model.predict(feats.x, batch_size=256, verbose=0)
    k = labels.index(word)
    lone = float(np.mean((probs.argmax(1) == k) & (probs[:, k] >= threshold)))
    top1 = float(np.mean(probs.argmax(1) == k))
    with tempfile.TemporaryDirectory(prefix="bench-own-word-") as tmp:
        model_dir = export_stream(RunDir(run), Path(tmp) / "model", "float32")
        whole = streamed(model_dir, clips, word, threshold, smoothing)
        room = evaluate_talk(model_dir, [TALK], data_dir=data, noise_dir=ba.NOISE,
                             threshold=threshold, smoothing=smoothing, thresholds=(),
                             progress=False, points=((0.5, smoothing), (0.8, smoothing),
                                                     (0.9, smoothing)))
    out = {"word": word, "base": base, "seed": seed, "run": str(run), "minutes": minutes,
           "threshold": threshold, "smoothing": smoothing, "live": point.get("live"),
           "takes": len(feats.clips), "speakers": len({c.speaker for c in feats.clips}),
           "lone_recognised": lone, "lone_top1": top1, "streamed_recognised": whole,
           "room_found": room["command_recall"],
           "room_per_band": {b: v["command_recall"] for b, v in room["per_band"].items()},
           "other_words_fire": room["other_words_accepted"],
           "fa_per_hour_speech": room["false_alarms_per_hour_of_speech"],
           "fa_per_hour_sentences": room["sentences_alone"]["false_alarms_per_hour"],
           "sentences_minutes": 60 * room["sentences_alone"]["speech"]["screened"]["hours"],
           "fired_in_talk": [d["text"] for d in room["sentences_alone"]["fired_in_talk"]][:20],
           "points": room["points"]}
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k not in ("points", "fired_in_talk")}),
          flush=True)
    return out


def report(scores: list[dict]) -> None:
    def spread(rs, get, pct=True):
        v = [get(r) for r in rs]
        f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.1f}")
        return f"{f(np.mean(v))} ({f(min(v))}–{f(max(v))})" if len(v) > 1 else f(v[0])

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in scores:
        groups.setdefault((r["word"], r["base"]), []).append(r)
    print("| word | base | seeds | real takes (speakers) | threshold / smoothing | lone takes "
          "recognised | top-1 | takes heard whole by listen | in the room: found | clean | "
          "5-10 dB | other words fire | FA/h talk alone | FA/h room speech | minutes |")
    print("|" + "---|" * 15)
    for (word, base), rs in groups.items():
        points = ", ".join(f"{r['threshold']:.2f}/{r['smoothing']}" for r in rs)
        print(f"| {word} | {base} | {len(rs)} | {rs[0]['takes']} ({rs[0]['speakers']}) | "
              f"{points} | {spread(rs, lambda r: r['lone_recognised'])} | "
              f"{spread(rs, lambda r: r['lone_top1'])} | "
              f"{spread(rs, lambda r: r.get('streamed_recognised', float('nan')))} | "
              f"{spread(rs, lambda r: r['room_found'])} | "
              f"{spread(rs, lambda r: r['room_per_band']['clean'])} | "
              f"{spread(rs, lambda r: r['room_per_band']['5-10 dB'])} | "
              f"{spread(rs, lambda r: r['other_words_fire'] or 0.0)} | "
              f"{spread(rs, lambda r: r['fa_per_hour_sentences'], False)} | "
              f"{spread(rs, lambda r: r['fa_per_hour_speech'], False)} | "
              f"{spread(rs, lambda r: r['minutes'], False)} |", flush=True)
    print("\nAt fixed thresholds (the run's smoothing): found in the room / FA per hour of "
          "talk alone")
    print("| word | base | 0.5 | 0.8 | 0.9 |")
    print("|---|---|---|---|---|")
    for (word, base), rs in groups.items():
        cells = []
        for i in range(3):
            found = np.mean([r["points"][i]["command_recall"] for r in rs])
            fa = np.mean([r["points"][i]["sentences_alone_per_hour"] for r in rs])
            cells.append(f"{100 * found:.1f} / {fa:.1f}")
        print(f"| {word} | {base} | " + " | ".join(cells) + " |")


def report_levers(scores: list[dict]) -> None:
    """Seed 0 of every (word, base): the levers side by side."""
    print("| word | base | live point | lone takes recognised | found in the room | FA/h talk "
          "| at 0.8: found / FA/h |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted((r for r in scores if r["seed"] == 0), key=lambda r: (r["word"],
                                                                          r["base"])):
        at = r["points"][1]
        print(f"| {r['word']} | {r['base']} | {r['threshold']:.2f} / {r['smoothing']} | "
              f"{100 * r['lone_recognised']:.1f} % | {100 * r['room_found']:.1f} % | "
              f"{r['fa_per_hour_sentences']:.1f} | {100 * at['command_recall']:.0f} % / "
              f"{at['sentences_alone_per_hour']:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", nargs="+", default=list(WORDS))
    ap.add_argument("--bases", nargs="+", default=["clean"], choices=BASES)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/own-word")
    ap.add_argument("--cache", default=".cache/features")
    ap.add_argument("--base-epochs", type=int, default=30)
    ap.add_argument("--epochs-from-base", type=int, default=None)
    ap.add_argument("--epochs-from-scratch", type=int, default=None)
    ap.add_argument("--only-base", action="store_true")
    ap.add_argument("--report", action="store_true", help="only print what is kept")
    ap.add_argument("--levers", action="store_true",
                    help="with --report: seed 0 of every word and base side by side")
    args = ap.parse_args()
    args.epochs = {b: args.epochs_from_scratch if b.startswith("scratch") else args.epochs_from_base
                   for b in BASES}
    if args.report:
        kept = Path(args.out) / "scores"
        scores = [json.loads(kept.joinpath(f"{w}-{b}-seed{s}.json").read_text())
                  for w in args.words for b in args.bases for s in args.seeds
                  if kept.joinpath(f"{w}-{b}-seed{s}.json").is_file()]
        (report_levers if args.levers else report)(scores)
        return
    t = time.perf_counter()
    if any(b.startswith("clean") for b in args.bases):
        base = clean_base(args)
        print(f"base {base} in {(time.perf_counter() - t) / 60:.1f} min", flush=True)
    if args.only_base:
        return
    scores = []
    for seed in args.seeds:  # a seed at a time: every word of seed 0 first
        for word in args.words:
            for b in args.bases:
                scores.append(score(args, word, b, seed))
    report(scores)


if __name__ == "__main__":
    main()
