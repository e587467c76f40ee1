"""The measuring commands: evaluate (clips), evaluate-stream (a long recording, or a room
where people talk) and operating-point (choose a finished run's threshold again)."""

from __future__ import annotations

import json


def cmd_evaluate(args) -> int:
    from ..metrics import format_report
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
                          out_dir=args.out, progress=not args.json,
                          verify=not args.no_verify, verify_threshold=args.verify_threshold)
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


def cmd_operating_point(args) -> int:
    from ..errors import ConfigError
    from ..metrics import _pct
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


def add_parsers(sub) -> None:
    """This family's commands on the ``speechgru`` parser."""

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
    s.add_argument("--no-verify", action="store_true",
                   help="with --talk: the streaming model alone, without the second look")
    s.add_argument("--verify-threshold", type=float,
                   help="with --talk: the second look's threshold (default: the operating "
                        "point's)")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    s.set_defaults(func=cmd_evaluate_stream)
