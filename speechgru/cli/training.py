"""The training commands: train (a word of one's own too), mine, operating-point, ensemble,
evaluate, evaluate-stream."""

from __future__ import annotations

import json

from .args import _words


def _run_config(args):
    from ..config import FeatureConfig, ModelConfig, RunConfig, TrainConfig

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
    from ..errors import ConfigError

    base = None if args.base in (None, "none") else args.base
    if not args.data:
        from ..training.base import default_base
        from ..training.own_word import check_words, kokoro_missing, own_word_config

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

        from ..training.base import base_run

        run = base_run(base)
        if args.config is None:  # the base's features and model are the run's
            have = run.config()
            config = dataclasses.replace(config, features=have.features, model=have.model)
        config = dataclasses.replace(config, train=dataclasses.replace(
            config.train, base=str(run.path.absolute())))
    args._config = config
    return config


def _load_config(path):
    from ..config import RunConfig

    return RunConfig.load(path) if path else None


def cmd_train(args) -> int:
    from ..errors import ConfigError
    from ..training.evaluate import format_report
    from ..training.train import train

    if args.resume:
        config = None
        if args.threshold_data:
            raise ConfigError("--resume continues a run with the --threshold-data it was "
                              "started with; to choose its threshold on other recordings, "
                              f"speechgru operating-point {args.out} --threshold-data DIR")
        if args.config or args.words is not None or args.seed is not None:
            # the same command again with --resume is fine; a different config is not
            import dataclasses

            from ..training.run_dir import RunDir

            run = RunDir(args.out)
            have = run.config() if run.exists() else None
            wanted = _train_config(args)
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
    from ..training.hard_negatives import mine

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
    from ..errors import ConfigError
    from ..training.evaluate import _pct
    from ..training.operating_point import set_again

    if args.no_threshold_data and args.threshold_data:
        raise ConfigError("--no-threshold-data and --threshold-data ask for opposite things: "
                          "give one")
    dirs = [] if args.no_threshold_data else (args.threshold_data or None)
    if args.live or args.talk:
        from ..training.operating_point import choose_live

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
    from ..training.ensemble import combine
    from ..training.evaluate import format_report

    m = combine(args.runs, args.out, cache_dir=args.cache_dir)
    print(f"the {len(args.runs)} runs as one ensemble (mean probability) on the validation "
          "split:")
    print(format_report(m, brief=True))
    print(f"wrote {args.out}/: best.keras, operating_point.json, metrics.json, "
          f"confusion.png. Next: speechgru export {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from ..training.evaluate import format_report
    from ..training.train import evaluate_run

    m = evaluate_run(args.run_dir, args.data, split=args.split, cache_dir=args.cache_dir,
                     progress=not args.json, threshold=args.threshold)
    if args.json:
        print(json.dumps(m))
    else:
        print(format_report(m))
        print("wrote " + ", ".join(m["written"]))
    return 0


def cmd_evaluate_stream(args) -> int:
    from ..errors import ConfigError
    from ..stream_eval import evaluate_stream, format_stream_report

    if args.max_commands < 1 or (args.max_others is not None and args.max_others < 0):
        raise ConfigError(f"--max-commands {args.max_commands} / --max-others "
                          f"{args.max_others}: need at least 1 command and 0 or more others")

    if args.talk:
        from ..runtime.listener import check_decision
        from ..talk_eval import evaluate_talk, format_talk_report

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



def add_parsers(sub) -> None:
    """This family's commands on the ``speechgru`` parser."""

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
