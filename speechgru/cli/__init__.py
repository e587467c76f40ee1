"""The ``speechgru`` console script: parses arguments, calls the library, prints.

The commands come in families, each a module with its commands and its part of the parser:
:mod:`.data` (download, record, synth, synth-recording, check-data, features),
:mod:`.training` (train, mine, ensemble), :mod:`.evaluation` (evaluate,
evaluate-stream, operating-point) and :mod:`.deploy` (export, predict, listen, web).
Here: the parser, and :func:`main`, which turns every error into one line and exit code 2.

Heavy libraries (TensorFlow, librosa) are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from ..errors import SpeechGRUError
from . import data, deploy, evaluation, training
from .training import _train_config


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="speechgru",
                                description="Keyword spotting with a hand-written GRU.")
    p.add_argument("--version", action="version", version=f"speechgru {__version__}")
    p.add_argument("--verbose", action="store_true",
                   help="show tracebacks and TensorFlow's own log lines")
    sub = p.add_subparsers(dest="command", required=True)

    for family in (data, training, evaluation, deploy):
        family.add_parsers(sub)
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
        from ..utils import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"
    elif args.command in ("train", "ensemble", "evaluate", "evaluate-stream", "export", "mine",
                          "operating-point"):
        from ..utils import import_tensorflow_quietly

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
