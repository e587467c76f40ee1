"""Make ``models/speech-commands-12``: the default recipe trained on the whole Speech
Commands half (10 % of its speakers kept for validation: they choose the epoch and the
operating point), exported, with the model card completed by the accuracy measured
*before* this final fit on speakers the runs never heard (``scripts/bench_accuracy.py``'s
``accuracy.json``).

    python scripts/make_pretrained.py --bench runs/bench/accuracy.json [--seed 0]

Without ``--bench`` (the recipe unchanged, the model exported again), the card keeps the
measured section of the model it replaces.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.export import export_run
from speechgru.runtime.manifest import write_manifest
from speechgru.training.train import train

ROOT = Path(__file__).resolve().parents[1]
SC = ROOT.parent / "shared" / "data" / "speech_commands_v2_test_half"
# wave_float32: raw audio in, with TFLite Model Metadata (MediaPipe Tasks, speechgru web)
VARIANTS = ["float32", "wave_float32", "frontend", "stream_float32", "stream_int8",
            "stream_int16"]
MEASURED = "## Measured before the final fit"


def _spread(values: list[float]) -> str:
    mean = sum(values) / len(values)
    return f"{100 * mean:.1f} % ({100 * min(values):.1f}–{100 * max(values):.1f})"


def measured_before(bench: dict) -> str:
    rows = bench["speech_commands"]["seeds"]
    seeds = ", ".join(str(r["seed"]) for r in rows)
    get = lambda key: [r[key] for r in rows]  # noqa: E731
    stream = lambda key: [r["stream"][key] for r in rows]  # noqa: E731
    return "\n".join([
        f"{MEASURED} (speakers the model never heard)", "",
        f"The same recipe trained {len(rows)} times (seeds {seeds}) with a quarter of the "
        f"half's speakers held out and scored on them ({rows[0]['clips']} clips each, "
        "`scripts/bench_accuracy.py`); mean (min–max):", "",
        f"- 12-label top-1: **{_spread(get('accuracy'))}**; command recall at threshold 0: "
        f"{_spread(get('command_recall'))}",
        f"- at each run's operating point: command recall {_spread(get('op_command_recall'))}, "
        f"`_unknown_` clips taken for a command {_spread(get('op_unknown_accepted'))}, FSDD's "
        f"3,000 spoken digits taken for a command {_spread(get('op_fsdd_accepted'))}",
        f"- live, as `listen` hears it (the test clips end to end over background noise): "
        f"commands found {_spread(stream('command_recall'))}, other words that fire "
        f"{_spread(stream('other_words_accepted'))}, false alarms per hour "
        f"{', '.join(f'{v:.0f}' for v in stream('false_alarms_per_hour'))}",
        f"- at threshold 0.6 instead (`--threshold 0.6`): commands found "
        f"{_spread([r['stream_at_0.6']['command_recall'] for r in rows])}, other words that "
        f"fire {_spread([r['stream_at_0.6']['other_words_accepted'] for r in rows])}",
        "", "These are the figures to expect for new voices; the validation figures above "
        "come from the speakers that chose this model's epoch and operating point.", ""])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", help="bench_accuracy.py's accuracy.json (default: keep the "
                    "measured section of the card in --out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", default="runs/speech-commands-12")
    ap.add_argument("--out", default=str(ROOT / "models" / "speech-commands-12"))
    ap.add_argument("--cache", default=".cache/features")
    args = ap.parse_args()
    old_card = Path(args.out) / "README.md"
    if args.bench:
        measured = measured_before(json.loads(Path(args.bench).read_text()))
    elif old_card.is_file() and MEASURED in old_card.read_text():
        text = old_card.read_text()
        measured = text[text.index(MEASURED):]
    else:
        ap.error(f"--bench is needed: {old_card} has no measured section to keep")
    run = Path(args.run)
    if not (run / "metrics.json").is_file():
        shutil.rmtree(run, ignore_errors=True)
        config = RunConfig(FeatureConfig(), ModelConfig(),
                           TrainConfig(seed=args.seed, validation_percent=10.0,
                                       testing_percent=0.0))
        train([SC], run, config, cache_dir=args.cache, verbose=1)
    report = export_run(run, args.out, force=True, variants=VARIANTS, progress=False)
    out = Path(args.out)
    card = out / "README.md"
    card.write_text(card.read_text() + "\n" + measured)
    manifest = json.loads((out / "manifest.json").read_text())
    write_manifest(out, labels=manifest["labels"], features=manifest["features"],
                   operating_point=manifest.get("operating_point"))
    print(f"wrote {out} ({len(report['models'])} files)")


if __name__ == "__main__":
    main()
