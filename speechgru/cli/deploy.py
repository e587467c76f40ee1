"""The deployment commands: export, predict, listen, web."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cmd_export(args) -> int:
    from ..export import export_run, format_report

    variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants \
        else None
    report = export_run(args.run_dir, args.out, force=args.force, variants=variants,
                        unfinished=args.unfinished)
    print(format_report(report))
    if report.get("unfinished"):
        print(f"note: exported a run that did not finish ({report['unfinished']}): it has no "
              "operating point, so predict and listen answer at their defaults")
    written = len(report["models"]) - len(report["failed"])
    print(f"wrote {report['out_dir']}/: {written} TFLite files, saved_model/, README.md (the "
          "model card), manifest.json, export_report.json. Next: speechgru listen "
          f"{report['out_dir']} FILE.wav (or - for the microphone)")
    if report["failed"]:
        print(f"speechgru export: error: {len(report['failed'])} variant(s) failed: "
              f"{', '.join(report['failed'])} (the reasons are above and in "
              f"{report['out_dir']}/export_report.json)", file=sys.stderr)
        return 1
    return 0


def cmd_predict(args) -> int:
    from ..errors import AudioError, ConfigError
    from ..runtime.recognizer import Recognizer

    if args.top_k < 1:
        raise ConfigError(f"--top-k {args.top_k}: must be at least 1")
    rec = Recognizer(args.model_dir, variant=args.variant, threshold=args.threshold,
                     verify=not args.no_verify, verify_threshold=args.verify_threshold)
    failed = 0
    for f, r in rec.predict_files(args.files, top_k=args.top_k):
        if isinstance(r, AudioError):  # one bad file does not lose the others
            failed += 1
            r = {"file": f, "error": str(r)}
        if args.json:
            print(json.dumps(r))
        elif "error" in r:
            print(f"speechgru predict: error: {r['error']}", file=sys.stderr)
        else:
            others = ", ".join(f"{t['label']} {t['p']:.2f}" for t in r["top"][1:])
            if "verified" in r and r["rejected"]:
                print(f"{f}: _unknown_ ({r['top'][0]['label']} {r['confidence']:.2f} at "
                      f"{r['time']:.2f} s, but the second look, hearing the seconds around "
                      f"it, gives {r['verified']:.2f} < {r['verify_threshold']:.2f})")
            elif r["rejected"]:
                best = r["top"][0]
                print(f"{f}: _unknown_ (best {best['label']} {best['p']:.2f} is below the "
                      f"threshold {r['threshold']:.2f}; then {others})")
            else:
                look = (f"; at {r['time']:.2f} s, second look {r['verified']:.2f}"
                        if "verified" in r else "")
                print(f"{f}: {r['label']} ({r['confidence']:.2f}{look}; then {others})")
    return 2 if failed else 0  # each bad file got its line; the others their answer


def cmd_listen(args) -> int:
    from ..runtime.listener import Listener

    lis = Listener(args.model_dir, variant=args.variant, threshold=args.threshold,
                   smoothing=args.smoothing, suppression_ms=args.suppression_ms,
                   phases=args.phases, verify=not args.no_verify,
                   verify_threshold=args.verify_threshold)
    if args.after:  # commands only after a wake phrase of one's own
        from ..runtime.listener import AfterWake

        lis = AfterWake(lis, Listener(args.after, variant=args.variant,
                                      verify=not args.no_verify),
                        within=4.0 if args.within is None else args.within)
    elif args.within is not None:
        from ..errors import ConfigError

        raise ConfigError("--within goes with --after WAKE_MODEL")

    def show(found):
        for d in found:
            if args.json:
                print(json.dumps(d), flush=True)
            elif d.get("wake"):
                print(f"{d['time']:9.2f} s  {d['label']:<8} {d['p']:.2f}  (wake phrase)",
                      flush=True)
            elif "verified" in d:  # heard again with the seconds around it
                print(f"{d['time']:9.2f} s  {d['label']:<8} {d['p']:.2f}  second look "
                      f"{d['verified']:.2f} (decided at {d['decided']:.2f} s)", flush=True)
            else:
                print(f"{d['time']:9.2f} s  {d['label']:<8} {d['p']:.2f}", flush=True)

    if args.source != "-":
        for found in lis.listen_file_blocks(args.source):
            show(found)
        return 0
    from ..audio import PCMStream

    if sys.stdin is None or sys.stdin.closed:
        return 0  # no input: nothing to hear
    # raw signed 16-bit little-endian mono PCM at the model's rate (e.g. from
    # `arecord -f S16_LE -r 16000 -c 1 -t raw`), or a WAV stream (`arecord -f S16_LE
    # -r 16000`, any rate and channels: recognised by its RIFF header)
    stream = PCMStream(sys.stdin.buffer, sample_rate=lis.sample_rate, source="stdin")
    for samples in stream.chunks(max(lis.hop, lis.sample_rate // 10)):
        show(lis.feed(samples))
    show(lis.flush())
    return 0


def cmd_web(args) -> int:
    from ..web import serve, write_page

    out = Path(args.out) if args.out else Path("web") / Path(args.model_dir).resolve().name
    page = write_page(args.model_dir, out, tasks_audio_dir=args.tasks_audio, force=args.force,
                      threshold=args.threshold)
    print(f"wrote {out}/: index.html, app.js, model.tflite ({page['model']}), page.json and "
          f"MediaPipe's web client ({page['client']}); operating point "
          f"{page['threshold']:.2f}")
    if not args.serve:
        print(f"Next: speechgru web {args.model_dir} --out {out} --force --serve (or serve "
              f"{out}/ with any web server)")
        return 0
    serve(out, args.port, ready=lambda url: print(
        f"serving {out}/ at {url} — open it, press Start and speak (Ctrl-C stops)",
        flush=True))
    return 0



def add_parsers(sub) -> None:
    """This family's commands on the ``speechgru`` parser."""

    s = sub.add_parser("export", help="export a run to SavedModel + TFLite with a report")
    s.add_argument("run_dir")
    s.add_argument("--out", help="model directory (default: models/<run name>)")
    s.add_argument("--force", action="store_true",
                   help="replace an existing model directory written by speechgru (never "
                        "anything else)")
    s.add_argument("--variants", help="comma-separated files to write, e.g. float32,int8,"
                   "stream_int8 (default: all of them; see speechgru.export.VARIANTS)")
    s.add_argument("--unfinished", action="store_true",
                   help="export a run whose training or operating point's choice was stopped "
                        "(refused otherwise: go on with train --resume)")
    s.add_argument("--cache-dir", help="unused: export reads everything from the run directory")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("predict", help="label audio files with an exported model (no TF)")
    s.add_argument("model_dir")
    s.add_argument("files", nargs="+")
    s.add_argument("--variant", default="float32",
                   help="float32, int8, dynamic, ... or stream_int8 / stream_float32 (the "
                        "stream step looped over the clip: the small int8 model)")
    s.add_argument("--top-k", type=int, default=3)
    s.add_argument("--threshold", type=float,
                   help="answer _unknown_ below this confidence (default: the model's "
                        "operating point from manifest.json; 0: never)")
    s.add_argument("--no-verify", action="store_true",
                   help="a long file's command is not heard again by the model's second "
                        "look (when it has one)")
    s.add_argument("--verify-threshold", type=float,
                   help="the second look's threshold for a long file's command (default: "
                        "the one chosen with it)")
    s.add_argument("--json", action="store_true", help="one JSON object per file")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("listen", help="detect commands in a long recording or in raw PCM on "
                                      "stdin, with the streaming model (no TF)")
    s.add_argument("model_dir")
    s.add_argument("source", help="an audio file, or - for raw S16_LE mono PCM on stdin at "
                                  "the model's sample rate")
    s.add_argument("--variant", default="float32", choices=["float32", "int8", "int16"],
                   help="stream_<variant>.tflite")
    s.add_argument("--threshold", type=float,
                   help="smoothed confidence a command needs (higher: fewer false accepts, "
                        "lower recall; default: the model's operating point from "
                        "manifest.json, or 0.6)")
    s.add_argument("--smoothing", type=int,
                   help="windows averaged into the posterior (default: the operating "
                        "point's when it was chosen live, else 2)")
    s.add_argument("--suppression-ms", type=float, default=1000.0,
                   help="do not report the same command again within this time")
    s.add_argument("--phases", type=int, default=4,
                   help="staggered windows per window length (more: finer timing, more "
                        "compute per hop)")
    s.add_argument("--no-verify", action="store_true",
                   help="the streaming model alone, without the model's second look (its "
                        "verifier), for comparison")
    s.add_argument("--verify-threshold", type=float,
                   help="the score the second look needs (default: the operating point's)")
    s.add_argument("--after", metavar="WAKE_MODEL",
                   help="a model of your own wake phrase (speechgru train --words ...): "
                        "commands count only within --within seconds after it")
    s.add_argument("--within", type=float,
                   help="with --after: seconds after the wake phrase (default 4)")
    s.add_argument("--json", action="store_true", help="one JSON object per detection")
    s.set_defaults(func=cmd_listen)

    s = sub.add_parser("web", help="a web page that listens to the microphone with the model "
                       "(MediaPipe Tasks for the web, served on localhost)")
    s.add_argument("model_dir", help="an exported model directory with wave_float32.tflite")
    s.add_argument("--out", help="the page's folder (default: web/<model name>)")
    s.add_argument("--force", action="store_true", help="replace a page written before")
    s.add_argument("--serve", action="store_true", help="then serve it on localhost")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--threshold", type=float,
                   help="the operating point (default: the model's, chosen at training)")
    s.add_argument("--tasks-audio", help="a copy of the npm package @mediapipe/tasks-audio "
                   "(default: installed once with npm into speechgru's cache)")
    s.set_defaults(func=cmd_web)
