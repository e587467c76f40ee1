"""The second look, measured: a first-stage run's candidates heard again with the seconds
around them, on speakers and sentences neither model heard.

For a finished first-stage run trained with a held-out test split (e.g. ``bench_talk``'s
``talk`` row, or ``speechgru train ... --talk`` with ``testing_percent``), this trains its
second look with the package's own command path (``speechgru.training.verifier
.train_verifier``: the run's train speakers between sentences of the talk's train
speakers; both thresholds chosen live on the validation speakers), exports the run, and
hears the run's *test* speakers (real recordings only: the split's synthetic voices are
left out) between sentences of the talk's *test* speakers, as the exported model hears
them (``verifier_stream_float32.tflite``, then int8):

* the first stage alone at the point chosen for it on validation (and at the run's own
  live point);
* with the second look at the point chosen on validation;
* the same in a room where the commands come with hardly a pause (0.05-0.25 s), and in a
  quiet room (each word said alone, silence or the noise alone around it);
* found against false alarms per hour of talk over the first threshold, for a few
  second-look thresholds (the curve); words said in passing apart.

Run::

    python scripts/bench_verifier.py RUN [--out runs/bench-verifier] [--epochs 15] [--reuse]
    python scripts/bench_verifier.py --report OUT/result.json [OUT2/result.json ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TALK = SHARED / "continuous_speech"
CURVE_VERIFY = (None, 0.3, 0.5, 0.7, 0.9)


def row(m: dict, **settings) -> dict:
    alone = m.get("sentences_alone") or {}
    passing = alone.get("speech", {}).get("holds a command word", {})
    return {**settings, "found": m["command_recall"],
            "per_band": {b: v["command_recall"] for b, v in m["per_band"].items()},
            "other_words": m["other_words_accepted"],
            "fa_talk": m.get("false_alarms_per_hour_of_talk"),
            "fa_noise": m["false_alarms_per_hour_of_noise"],
            "fa_passing": passing.get("per_hour"), "passing_hours": passing.get("hours")}


def table(paths: list[str]) -> None:
    """A markdown table of kept results (one per seed): mean (min-max) of each row."""
    import numpy as np

    results = [json.loads(Path(p).read_text()) for p in paths]

    def cell(get, pct=True):
        v = [get(r) for r in results]
        v = [x for x in v if x is not None]
        if not v:
            return "-"
        f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.1f}")
        return f"{f(np.mean(v))} ({f(min(v))}-{f(max(v))})" if len(v) > 1 else f(v[0])

    print(f"{len(results)} seed(s): " + ", ".join(r["run"] for r in results))
    print("| | commands found | 5-10 dB | FA/h of talk | FA/h of noise | FA/h of sentences "
          "saying a command in passing | hardly a pause: found | hardly a pause: FA/h | "
          "said alone, a quiet room: found |")
    print("|" + "---|" * 9)
    # the first stage is float32 in both passes: only the verifier's variant differs
    rows = [("float32", "run_live_point", "the first stage alone at the run's own live point"),
            ("float32", "first_stage_alone", "the first stage alone at its best on the grid "
             "the second look is chosen on"),
            ("float32", "verified", "with the second look (float32)"),
            ("int8", "verified", "with the second look (int8)")]
    for variant, what, name in rows:
        def g(r, room, key, what=what, variant=variant):  # None: not measured (older)
            return r["variants"][variant].get(room, {}).get(what, {}).get(key)

        print(f"| {name} | {cell(lambda r, g=g: g(r, 'room', 'found'))} | "
              f"{cell(lambda r, g=g: g(r, 'room', 'per_band').get('5-10 dB'))} | "
              f"{cell(lambda r, g=g: g(r, 'room', 'fa_talk'), False)} | "
              f"{cell(lambda r, g=g: g(r, 'room', 'fa_noise'), False)} | "
              f"{cell(lambda r, g=g: g(r, 'room', 'fa_passing'), False)} | "
              f"{cell(lambda r, g=g: g(r, 'tight', 'found'))} | "
              f"{cell(lambda r, g=g: g(r, 'tight', 'fa_talk'), False)} | "
              f"{cell(lambda r, g=g: g(r, 'quiet', 'found'))} |")


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--report":
        table(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--out", default="runs/bench-verifier")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--units", help="a GRU from random weights (default: the run's own, "
                                    "from its weights)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the run's verifier when it has one (no training)")
    args = ap.parse_args(argv)

    from speechgru.data.talk import read_talk
    from speechgru.export import export_run
    from speechgru.run_dir import RunDir
    from speechgru.runtime.manifest import Manifest
    from speechgru.runtime.verifier import Verifier
    from speechgru.talk_eval import _noise_regions
    from speechgru.training.data import _real_rows
    from speechgru.training.verifier import hear, train_verifier

    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = RunDir(args.run)
    if not (args.reuse and (run / "verifier" / "best.keras").is_file()):
        train_verifier(run.path, [TALK], epochs=args.epochs, progress=True,
                       units=tuple(int(u) for u in args.units.split(",")) if args.units
                       else None)
        print(f"trained ({time.time() - t0:.0f} s)", flush=True)
    point = run.operating_point()
    second = point["verifier"]
    alone = second["first_stage_alone"]
    config, labels = run.config(), run.labels()
    test = run.split("test")
    test = [c for c, real in zip(test, _real_rows(test), strict=True) if real]  # people only
    sentences = [s for s in read_talk(TALK, words=config.train.words) if s.split == "test"]
    regions = _noise_regions(run, None, test, "test")
    result = {"run": str(run.path), "validation": second, "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        report = export_run(run.path, model, variants=["frontend", "stream_float32",
                                                       "stream_int8"],
                            max_clips=50, progress=False)
        result["export"] = report.get("verifier")
        manifest = Manifest(model)
        for variant in ("float32", "int8"):
            ver = Verifier.of_model_dir(manifest, config.features, labels, variant)
            rooms = hear(model, test, sentences, regions, seed=7, max_commands=300,
                         max_others=150, verifier=ver)
            rooms["tight"].alone, rooms["tight"].alone_truth = (rooms["room"].alone,
                                                                rooms["room"].alone_truth)
            r = {}
            for name, h in rooms.items():
                r[name] = {
                    "first_stage_alone": row(h.score(alone["threshold"], alone["smoothing"]),
                                             threshold=alone["threshold"],
                                             smoothing=alone["smoothing"]),
                    "run_live_point": row(h.score(point["threshold"],
                                                  int(point.get("smoothing", 2))),
                                          threshold=point["threshold"],
                                          smoothing=int(point.get("smoothing", 2))),
                    "verified": row(h.score(second["threshold"], second["smoothing"],
                                            verify=second["verifier_threshold"]),
                                    threshold=second["threshold"],
                                    smoothing=second["smoothing"],
                                    verifier_threshold=second["verifier_threshold"])}
            r["curve"] = [row(rooms["room"].score(t, second["smoothing"], verify=v),
                              threshold=t, verifier_threshold=v)
                          for v in CURVE_VERIFY
                          for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)]
            result["variants"][variant] = r
            for name in ("room", "tight", "quiet"):
                for what in ("run_live_point", "first_stage_alone", "verified"):
                    x = r[name][what]
                    print(f"{variant} {name:5s} {what:18s} found {x['found']:.3f} "
                          f"(5-10 dB {x['per_band'].get('5-10 dB')}) FA/h talk "
                          f"{x['fa_talk']} noise {x['fa_noise']} passing {x['fa_passing']} "
                          f"others {x['other_words']}", flush=True)
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'result.json'} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
