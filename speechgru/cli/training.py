"""The training commands: train (a word of one's own too), mine (hard negatives) and
ensemble. Measuring a run is :mod:`.evaluation`'s."""

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
    from ..metrics import format_report
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

            from ..run_dir import RunDir

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


def cmd_ensemble(args) -> int:
    from ..metrics import format_report
    from ..training.ensemble import combine

    m = combine(args.runs, args.out, cache_dir=args.cache_dir)
    print(f"the {len(args.runs)} runs as one ensemble (mean probability) on the validation "
          "split:")
    print(format_report(m, brief=True))
    print(f"wrote {args.out}/: best.keras, operating_point.json, metrics.json, "
          f"confusion.png. Next: speechgru export {args.out}")
    return 0


def cmd_verifier(args) -> int:
    from ..errors import ConfigError
    from ..metrics import _pct
    from ..training.verifier import train_verifier

    units = None
    if args.units is not None:
        try:
            units = tuple(int(u) for u in args.units.split(","))
        except ValueError:
            units = ()
        if not units or any(u < 1 or u > 1024 for u in units):
            raise ConfigError(f"--units {args.units!r}: comma-separated layer sizes in "
                              "1..1024")
    if args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs}: at least 1")
    v = train_verifier(args.run_dir, args.talk or None, epochs=args.epochs, units=units,
                       before=args.before, after=args.after, progress=not args.json)
    if args.json:
        print(json.dumps(v))
        return 0
    alone = v["first_stage_alone"]
    print(f"second look trained: candidates of the streaming model at {v['threshold']:.2f} "
          f"({v['smoothing']} windows), kept at {v['verifier_threshold']:.2f}, chosen live "
          f"({'met' if v['met'] else 'NOT met: the fewest false alarms'}): "
          f"{_pct(v['command_recall'])} of {v['commands']} commands found with "
          f"{v['false_alarms_per_hour_of_talk']:.1f} false alarms per hour of talk "
          f"(the streaming model alone at its best: {_pct(alone['command_recall'])} at "
          f"{alone['false_alarms_per_hour_of_talk']:.1f}); hardly a pause: "
          f"{_pct(v['tight_command_recall'])}; said alone in a quiet room: "
          f"{_pct(v.get('quiet_command_recall'))}")
    print(f"wrote {args.run_dir}/verifier/ and operating_point.json. Next: speechgru export "
          f"{args.run_dir} --force")
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

    s = sub.add_parser("verifier", help="train a finished run's second look: a model that "
                       "hears the seconds around each candidate of the streaming model, "
                       "and choose both thresholds live")
    s.add_argument("run_dir")
    s.add_argument("--talk", action="append", metavar="DIR",
                   help="folders of continuous speech (default: the run's --talk)")
    s.add_argument("--epochs", type=int, default=15)
    s.add_argument("--units", help="the verifier's GRU layers from random weights (default: "
                                   "the run's own, started from its weights)")
    s.add_argument("--before", type=float, default=1.5,
                   help="seconds heard before a candidate")
    s.add_argument("--after", type=float, default=1.0,
                   help="seconds heard after it (the decision waits for them)")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.set_defaults(func=cmd_verifier)

    s = sub.add_parser("ensemble", help="combine runs trained apart (other seeds, one split) "
                       "into one run whose output is the mean of their probabilities")
    s.add_argument("runs", nargs="+", help="two or more run directories")
    s.add_argument("--out", required=True, help="the new run directory")
    s.add_argument("--cache-dir", default=".cache/features")
    s.set_defaults(func=cmd_ensemble)
