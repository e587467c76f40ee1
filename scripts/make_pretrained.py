"""Make ``models/speech-commands-12``: the recipe of ``scripts/bench_talk.py``'s
"talk-hard" row (below) trained on all the real speech there is here (the 161 Speech
Commands speakers, the 4,666 real bed/cat/happy clips, the 18 noise recordings, the
continuous speech's train speakers) with espeak's and Kokoro's voices, Kokoro saying 400
more words (10 % of the speakers kept for validation: they choose the epoch, and with the
talk's validation speakers the operating point), exported, with the model card completed by
the figures measured *before* this final fit on speakers and sentences the runs never
heard (``scripts/bench_talk.py``'s kept scores; with ``--bench``, the older
``scripts/bench_accuracy.py``'s ``accuracy.json``).

    python scripts/make_pretrained.py --bench-talk runs/bench-talk [--seed 0]

The talk-hard recipe is two rounds: the "vocab" recipe with windows of the continuous
speech's train speakers as other words (``train --talk``), then the windows of that talk
where the first round fires at 0.5 (``speechgru mine``) added as hard negatives, trained
again from scratch; its operating point (threshold and smoothing) is chosen live on the
validation speakers and the talk's validation speakers. ``--recipe vocab`` makes the
previous box. Without ``--bench``/``--bench-talk`` (the recipe unchanged, the model
exported again), the card keeps the measured section of the model it replaces.

The second look (``--second-look``): the box's run made again without training (its
``base/`` weights, config and labels; its splits planned again from the recipe's real
speech, espeak's voices, the noise and the talk, which fall as before: a speaker's split is
a hash of its name; Kokoro's voices left out, they would be made first), its verifier
trained on it (``speechgru verifier``), and the box exported again with it, the card's
measured section kept::

    python scripts/make_pretrained.py --second-look [--run runs/speech-commands-12]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.export import export_run
from speechgru.run_dir import RunDir
from speechgru.runtime.manifest import write_manifest
from speechgru.training.operating_point import set_again
from speechgru.training.train import train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SC = SHARED / "speech_commands_v2_test_half"
EXTRA = SHARED / "speech_commands_v2_test_extra"
UNKNOWN_WORDS = SHARED / "speech_commands_unknown"
NOISE = SHARED / "noise"
FSDD = SHARED / "fsdd"  # real other words (ten digits) the operating point is set on
TALK = SHARED / "continuous_speech"  # real read sentences: talk heard as other words
EPOCHS = 40  # the bench_talk rows' epochs
KOKORO_PER_WORD = 60  # the bench's "vocab" row
KOKORO_VOCABULARY = 400
ROWS = ("vocab-fsdd", "fsdd-op", "all")  # the bench row the card quotes: the first there
# wave_float32: raw audio in, with TFLite Model Metadata (MediaPipe Tasks, speechgru web)
VARIANTS = ["float32", "wave_float32", "frontend", "stream_float32", "stream_int8",
            "stream_int16"]
MEASURED = "## Measured before the final fit"
TRAINING_DATA = "## Training data"
SECOND_LOOK = """## The second look, added to this model

The streaming model's weights are the box's as they were (`base/`). Its second look was
trained afterwards on the box's own run made again without training
(`scripts/make_pretrained.py --second-look`): the same splits of the real speech, espeak's
voices, the noise and the talk (a speaker's split is a hash of its name), without Kokoro's
voices and the mined hard negatives (the data above are what the streaming model was
trained on). The validation line and the files' figures above are measured on that
split's validation clips: real and espeak voices only.
"""


def _spread(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{100 * mean:.1f} %"
    return f"{100 * mean:.1f} % ({100 * min(values):.1f}–{100 * max(values):.1f})"


def measured_before(bench: dict, row: str = "all", threshold: float | None = None) -> str:
    rows = sorted(bench["speech_commands"][row], key=lambda r: r["seed"])
    seeds = ", ".join(str(r["seed"]) for r in rows)
    get = lambda key: [r[key] for r in rows]  # noqa: E731
    live = lambda key: [r["live"][key] for r in rows]  # noqa: E731
    return "\n".join([
        f"{MEASURED} (speakers the model never heard)", "",
        (f"The same recipe trained {len(rows)} times (seeds {seeds})" if len(rows) > 1 else
         f"The same recipe trained once (seed {seeds}: one seed, about ±2 points of noise)")
        + " with a quarter of the 161 Speech Commands speakers held out and scored on them "
        f"({rows[0]['clips']} clips, and {rows[0]['other_words']} real recordings of other "
        "words; `scripts/bench_accuracy.py`, [docs/bench.md](../../docs/bench.md))"
        + ("; mean (min–max):" if len(rows) > 1 else ":"),
        "",
        f"- 12-label top-1: **{_spread(get('top1'))}**",
        f"- at each run's operating point: commands recognised "
        f"**{_spread(get('recognised'))}**, real other words taken for a command "
        f"{_spread(get('others_accepted'))} (each word weighing the same), FSDD's 3,000 "
        f"spoken digits taken for a command {_spread(get('fsdd_accepted'))}"
        + (" (they set the threshold with the validation split: not a test)"
           if "fsdd" in row else ""),
        *_at_threshold_line(rows, threshold),
        f"- commands recognised where 1 / 3 / 5 % of the real other words pass: "
        f"{_spread([r['recall_at']['1%'] for r in rows])} / "
        f"{_spread([r['recall_at']['3%'] for r in rows])} / "
        f"{_spread([r['recall_at']['5%'] for r in rows])}",
        f"- live, as `listen` hears it (the test clips end to end over background noise) at "
        f"each run's operating point ({', '.join(f'{t:.2f}' for t in get('threshold'))}): "
        f"commands found **{_spread(live('command_recall'))}**, other words that fire "
        f"{_spread(live('other_words_accepted'))}, false alarms per hour "
        f"{', '.join(f'{v:.0f}' for v in live('false_alarms_per_hour'))} (float32)",
        *_int8_line(rows), *_live_near_line(rows, threshold),
        "", "These are the figures to expect for new voices; the validation figures above "
        "come from the speakers that chose this model's epoch and operating point.", ""])


def _at_threshold_line(rows: list[dict], threshold: float | None) -> list[str]:
    """The runs at this model's own threshold (when the bench scored them there)."""
    key = None if threshold is None else f"{threshold:.2f}"
    rows = [r for r in rows if key in r.get("at_fixed", {})]
    if not rows:
        return []
    at = lambda k: [r["at_fixed"][key][k] for r in rows]  # noqa: E731
    return [f"- at this model's threshold ({key}): commands recognised "
            f"**{_spread(at('recognised'))}**, real other words taken for a command "
            f"{_spread(at('others_accepted'))} (counted clip by clip "
            f"{_spread(at('others_accepted_clips'))})"]


def _live_near_line(rows: list[dict], threshold: float | None) -> list[str]:
    """Live at the point of the runs' live curve nearest this model's threshold."""
    if threshold is None or not all(r.get("live_curve") for r in rows):
        return []
    common = set.intersection(*({p["threshold"] for p in r["live_curve"]} for r in rows))
    if not common:
        return []
    near = min(common, key=lambda t: abs(t - threshold))
    at = [next(p for p in r["live_curve"] if p["threshold"] == near) for r in rows
          if any(p["threshold"] == near for p in r["live_curve"])]
    if len(at) != len(rows):
        return []
    return [f"- live at {near:.2f} for every run (near this model's {threshold:.2f}): "
            f"commands found **{_spread([p['command_recall'] for p in at])}**, other words "
            f"that fire {_spread([p['other_words_accepted'] for p in at])}, false alarms per "
            f"hour {', '.join(str(round(p['false_alarms_per_hour'])) for p in at)}"]


def _int8_line(rows: list[dict]) -> list[str]:
    rows = [r for r in rows if "live_int8" in r]
    if not rows:
        return []
    live = lambda key: [r["live_int8"][key] for r in rows]  # noqa: E731
    return [f"- live with `stream_int8.tflite` (seeds "
            f"{', '.join(str(r['seed']) for r in rows)}): commands found "
            f"{_spread(live('command_recall'))}, other words that fire "
            f"{_spread(live('other_words_accepted'))}, false alarms per hour "
            f"{', '.join(f'{v:.0f}' for v in live('false_alarms_per_hour'))}"]


def measured_talk(scores: Path, row: str = "talk-hard", before: str = "vocab") -> str:
    """The card's measured section from ``scripts/bench_talk.py``'s kept scores."""
    def load(name):
        rows = [json.loads(f.read_text()) for f in sorted(scores.glob(f"{name}_seed*.json"))]
        return sorted(rows, key=lambda r: r["seed"])

    rows, base = load(row), load(before)
    seeds = ", ".join(str(r["seed"]) for r in rows)
    room = lambda key: [r["room"][key] for r in rows]  # noqa: E731
    band = lambda b: [r["room"]["per_band"][b] for r in rows]  # noqa: E731

    def per_hour(values):
        return ", ".join(f"{v:.1f}" for v in values)

    points = ", ".join(f"{r['threshold']:.2f}/{r['smoothing']}" for r in rows)
    int8_fa = per_hour([r["room_int8"]["fa_per_hour_sentences"] for r in rows])

    lines = [
        f"{MEASURED} (speakers and sentences the model never heard)", "",
        f"The same recipe trained {len(rows)} times (seeds {seeds}, {rows[0]['epochs']} epochs)"
        " with a quarter of the 161 Speech Commands speakers held out and scored on them "
        f"({rows[0]['clips']} clips), and 30 % of the continuous speech's speakers never "
        "trained on (`scripts/bench_talk.py`, [docs/talk.md](../../docs/talk.md)); mean "
        "(min–max):", "",
        f"- 12-label top-1: **{_spread([r['top1'] for r in rows])}**; commands recognised "
        f"where 3 % of the real other words pass {_spread([r['recall_at']['3%'] for r in rows])}",
        f"- **in a room where people talk** (each test speaker's command or other word after "
        f"1–3 real sentences of unheard speakers, noise under it at an SNR band), at each "
        f"run's live operating point "
        f"({points}): commands "
        f"found **{_spread(room('command_recall'))}** (5–10 dB {_spread(band('5-10 dB'))}, "
        f"10–20 dB {_spread(band('10-20 dB'))}, 20–30 dB {_spread(band('20-30 dB'))}, clean "
        f"{_spread(band('clean'))}), other words that fire "
        f"{_spread(room('other_words_accepted'))}, false alarms per hour of speech "
        f"**{per_hour(room('fa_per_hour_speech'))}**, of the sentences alone "
        f"{per_hour(room('fa_per_hour_sentences'))}, of noise alone "
        f"{per_hour([v or 0.0 for v in room('fa_per_hour_noise')])}",
        f"- with `stream_int8.tflite`: commands found "
        f"{_spread([r['room_int8']['command_recall'] for r in rows])}, false alarms per hour "
        f"of the sentences alone {int8_fa}"]
    if base:
        b = lambda key: [r["room"][key] for r in base]  # noqa: E731
        before_points = ", ".join(f"{r['threshold']:.2f}" for r in base)
        lines.append(
            f"- the recipe before (the previous box's, no talk, its threshold set on lone "
            f"clips: {before_points}): commands found "
            f"{_spread(b('command_recall'))}, false alarms per hour of speech "
            f"{per_hour(b('fa_per_hour_speech'))}, of the sentences alone "
            f"{per_hour(b('fa_per_hour_sentences'))}")
    lines += ["", "These are the figures to expect for new voices in a room where people "
              "talk; the operating point's own figures above come from the validation "
              "speakers that chose it.", ""]
    return "\n".join(lines)


def _manifest_again(out: Path) -> None:
    """The manifest lists every file's digest: written again after the card changed."""
    manifest = json.loads((out / "manifest.json").read_text())
    write_manifest(out, labels=manifest["labels"], features=manifest["features"],
                   operating_point=manifest.get("operating_point"),
                   verifier=manifest.get("verifier"))


def run_again(box: Path, run: Path, cache: str) -> Path:
    """The box's run made again without training it: ``box/base``'s config, labels and
    weights, the operating point of its manifest, the splits planned again from the real
    speech, espeak's voices (Kokoro's left out), the noise and the talk, and validation
    metrics and calibration clips measured on them. A run directory ``speechgru verifier``
    and ``export`` take as any finished run."""
    import numpy as np

    from speechgru.audio import load_clip
    from speechgru.data.cache import extract_features
    from speechgru.metrics import metrics
    from speechgru.training.data import plan_splits, with_recipe_synth
    from speechgru.utils import atomic_write_text

    if (run / "metrics.json").is_file():
        return run
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    config = RunConfig.load(box / "base" / "config.json")
    no_kokoro = dataclasses.replace(config, train=dataclasses.replace(
        config.train, kokoro_per_word=0, kokoro_vocabulary=0))
    sources = with_recipe_synth([SC, EXTRA, UNKNOWN_WORDS], no_kokoro)
    splits, bad = plan_splits(sources, no_kokoro, [NOISE], [TALK])
    r = RunDir(run)
    r.save_splits(splits)
    for name in ("labels.txt", "best.keras"):
        shutil.copyfile(box / "base" / name, run / name)
    labels = r.labels()
    atomic_write_text(run / "data.json", json.dumps({
        "sources": [str(Path(d).absolute()) for d in sources],
        "noise": [str(NOISE)], "threshold_data": [str(FSDD)], "talk": [str(TALK)],
        "hard_negatives": [], "train_clips": len(splits["train"]),
        "validation_clips": len(splits["validation"]),
        "bad_files": [{"file": f, "reason": why} for f, why in bad],
        "made_again_from": "models/speech-commands-12/base (no training; Kokoro's voices "
                           "left out of the splits)"}, indent=1))
    point = json.loads((box / "manifest.json").read_text())["operating_point"]
    r.save_operating_point(point)
    F = config.features
    val = extract_features(splits["validation"], F, cache_dir=cache, progress=False)
    rng = np.random.default_rng(0)
    some = [splits["train"][i] for i in rng.permutation(len(splits["train"]))[:200]]
    train_x = extract_features(some, F, cache_dir=cache, progress=False).x
    y = np.array([labels.index(c.label) for c in val.clips])
    model = r.load_model("best")
    m = metrics(model.predict(val.x, batch_size=256, verbose=0), y, labels)
    vi = np.sort(rng.permutation(len(val.clips))[:200])
    pcm = np.stack([load_clip(val.clips[i].path, sample_rate=F.sample_rate,
                              num_samples=F.clip_samples, offset=val.clips[i].offset,
                              duration=val.clips[i].duration) for i in vi])
    r.save_calibration(val_pcm=pcm.astype(np.float32), val_x=val.x[vi].astype(np.float32),
                       val_y=y[vi].astype(np.int32), train_x=train_x.astype(np.float32))
    r.save_state({"seed": config.train.seed, "epoch": config.train.epochs, "best": -1.0,
                  "best_epoch": 0, "wait": 0, "history": [], "stopped_early": True})
    shutil.copyfile(box / "base" / "config.json", run / "config.json")  # as it was
    m["operating_point"] = point
    m["made_again"] = True
    atomic_write_text(run / "metrics.json", json.dumps(m, indent=1))  # last: finished
    return run


def write_base(run: Path, out: Path) -> None:
    """The run's config, labels and best weights in ``out/base``: the base a word of one's
    own starts from (``speechgru train --words WORD``, :mod:`speechgru.training.base`)."""
    base = out / "base"
    base.mkdir(exist_ok=True)
    for name in ("config.json", "labels.txt", "best.keras"):
        shutil.copyfile(run / name, base / name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-talk", help="scripts/bench_talk.py's --out (its scores/)")
    ap.add_argument("--bench", help="bench_accuracy.py's accuracy.json (the vocab recipe)")
    ap.add_argument("--recipe", choices=["talk-hard", "vocab"], default="talk-hard")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--run", default="runs/speech-commands-12")
    ap.add_argument("--out", default=str(ROOT / "models" / "speech-commands-12"))
    ap.add_argument("--cache", default=".cache/features")
    ap.add_argument("--base-only", action="store_true",
                    help="only write the run's weights into --out/base (a box made before)")
    ap.add_argument("--card-only", action="store_true",
                    help="only write the bench's figures into the card in --out (no export)")
    ap.add_argument("--second-look", action="store_true",
                    help="the box's run made again without training, its verifier trained, "
                         "the box exported again with it (--run: where the run goes)")
    ap.add_argument("--verifier-epochs", type=int, default=8)
    args = ap.parse_args()
    old_card = Path(args.out) / "README.md"
    if args.bench:
        bench = json.loads(Path(args.bench).read_text())
    elif not args.bench_talk and old_card.is_file() and MEASURED in old_card.read_text():
        text = old_card.read_text()
        kept = text[text.index(MEASURED):]
    elif not args.bench_talk:
        ap.error(f"--bench-talk is needed: {old_card} has no measured section to keep")

    def measured() -> str:  # the bench's figures, at the threshold of the model in --out
        if args.bench_talk:
            return measured_talk(Path(args.bench_talk) / "scores")
        if not args.bench:
            return kept
        manifest = Path(args.out) / "manifest.json"
        point = json.loads(manifest.read_text()).get("operating_point") or {}
        row = next(r for r in ROWS if r in bench["speech_commands"])
        return measured_before(bench, row, threshold=point.get("threshold"))

    if args.base_only:
        write_base(Path(args.run), Path(args.out))
        _manifest_again(Path(args.out))
        print(f"wrote {args.out}/base")
        return
    if args.card_only:
        if not (args.bench or args.bench_talk) or not old_card.is_file():
            ap.error("--card-only needs --bench-talk (or --bench) and a card in --out")
        text = old_card.read_text()
        text = text[:text.index(MEASURED)] if MEASURED in text else text + "\n"
        old_card.write_text(text + measured())
        _manifest_again(Path(args.out))
        print(f"wrote {old_card}")
        return
    run = Path(args.run)
    if args.second_look:
        from speechgru.training.verifier import train_verifier

        run = run_again(Path(args.out), run, args.cache)
        if not (run / "verifier" / "verifier.json").is_file():
            v = train_verifier(run, epochs=args.verifier_epochs)
            print(json.dumps(v), flush=True)
    elif not (run / "metrics.json").is_file():
        shutil.rmtree(run, ignore_errors=True)
        config = RunConfig(FeatureConfig(), ModelConfig(),
                           TrainConfig(seed=args.seed, validation_percent=10.0,
                                       testing_percent=0.0, kokoro_per_word=KOKORO_PER_WORD,
                                       kokoro_vocabulary=KOKORO_VOCABULARY,
                                       **({"epochs": args.epochs}
                                          if args.recipe == "talk-hard" else {})))
        talk, hard = [], []
        if args.recipe == "talk-hard":
            from speechgru.training.hard_negatives import mine

            talk = [TALK]
            first = Path(f"{args.run}-round1")
            if not (first / "metrics.json").is_file():
                shutil.rmtree(first, ignore_errors=True)
                train([SC, EXTRA, UNKNOWN_WORDS], first, config, cache_dir=args.cache,
                      verbose=1, noise_dirs=[NOISE], threshold_data=[FSDD], talk_dirs=talk)
            hard = [mine(first, talk, threshold=0.5)["file"]]
        train([SC, EXTRA, UNKNOWN_WORDS], run, config, cache_dir=args.cache, verbose=1,
              noise_dirs=[NOISE], threshold_data=[FSDD], talk_dirs=talk, hard_negatives=hard)
    elif args.recipe == "vocab" and RunDir(run).data().get("threshold_data") != [str(FSDD)]:
        set_again(run, [FSDD], cache_dir=args.cache)  # a run made before
    old_data = None  # the data the streaming model was trained on, from the card it had
    if args.second_look and old_card.is_file() and TRAINING_DATA in old_card.read_text():
        text = old_card.read_text()
        ends = [i for i in (text.find(SECOND_LOOK.split("\n")[0]), text.find(MEASURED))
                if i >= 0]
        old_data = text[text.index(TRAINING_DATA):min(ends, default=len(text))].rstrip() + \
            "\n\n"
    report = export_run(run, args.out, force=True, variants=VARIANTS, progress=False)
    out = Path(args.out)
    card = out / "README.md"
    text = card.read_text()
    if old_data and TRAINING_DATA in text:
        text = text[:text.index(TRAINING_DATA)] + old_data + SECOND_LOOK
    card.write_text(text + "\n" + measured())
    write_base(run, out)
    _manifest_again(out)
    print(f"wrote {out} ({len(report['models'])} files)")


if __name__ == "__main__":
    main()
