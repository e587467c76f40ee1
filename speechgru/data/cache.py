"""The feature cache: MFCC frames of every clip computed once (in parallel worker
processes) and kept on disk as ``.npy``, healed when damaged."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import AUDIO_EXTENSIONS, load_clip, read_audio
from ..config import COMMANDS, SILENCE, UNKNOWN, FeatureConfig, read_text
from ..errors import AudioError, ConfigError, DataError

from .layouts import Clip


def clip_key(clip: Clip, prefix: str = "") -> str:
    """A cache key of what a clip is: its file's identity (resolved path, size, modification
    time) and its window; ``prefix`` separates caches of different things."""
    st = clip.path.stat()
    ident = f"{clip.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{clip.offset}|{clip.duration}"
    return hashlib.sha1((prefix + ident).encode()).hexdigest()


class FeatureCache:
    """MFCC frames on disk, one ``.npy`` per clip, keyed by the feature settings and the
    file's identity (resolved path, size, modification time, window).

    A changed file or changed settings miss the cache; nothing is ever pickled.
    """

    def __init__(self, directory: str | Path, config: FeatureConfig):
        self.config = config
        self.directory = Path(directory) / config.fingerprint()
        self.healed = 0
        self._sweep()

    def _sweep(self) -> None:
        """Remove the temporary files of writers that were stopped mid-write (named
        ``.<key>.npy.<pid>.tmp`` by :meth:`put`, their process gone)."""
        try:
            stale = list(self.directory.glob("*/.*.npy.*.tmp"))
        except OSError:
            return
        for tmp in stale:
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def key(self, clip: Clip) -> str:
        return clip_key(clip)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, clip: Clip) -> np.ndarray | None:
        try:
            p = self._path(self.key(clip))
        except OSError:
            return None
        if not p.exists():
            return None
        try:
            x = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            x = None  # empty, truncated or not an array
        expected = (self.config.num_frames, self.config.num_features)
        if (x is None or x.shape != expected or x.dtype.kind != "f"
                or not np.all(np.isfinite(x))):
            self.healed += 1  # a damaged entry is recomputed (and rewritten)
            return None
        return x

    def put(self, clip: Clip, x: np.ndarray) -> None:
        p = self._path(self.key(clip))
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.save(f, x, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            why = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
            raise DataError(f"{p}: cannot write the feature cache ({why}); free space or "
                            "pass another --cache-dir") from None
        except BaseException:  # Ctrl-C mid-write: leave no temporary file behind
            tmp.unlink(missing_ok=True)
            raise
        # write the settings once, so a cache folder says what it holds
        meta = self.directory / "features.json"
        if not meta.exists():
            self.config.save(meta)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def clip_features(clip: Clip, config: FeatureConfig) -> np.ndarray:
    """Load one clip and compute its MFCC frames (raises AudioError on bad input)."""
    from ..features.librosa import mfcc

    y = load_clip(clip.path, sample_rate=config.sample_rate, num_samples=config.clip_samples,
                  offset=clip.offset, duration=clip.duration)
    return mfcc(y, config)


def _extract_one(args):
    clip, config = args
    try:
        return clip_features(clip, config), None
    except AudioError as exc:
        return None, str(exc)


@dataclass
class Features:
    """Features of the clips that could be read, and every clip that could not."""

    x: np.ndarray  # (N, frames, features) float32
    clips: list[Clip]
    bad: list[tuple[str, str]]
    cached: int = 0
    computed: int = 0
    healed: int = 0  # damaged cache entries recomputed

    def labels(self, label_names: list[str]) -> np.ndarray:
        index = {k: i for i, k in enumerate(label_names)}
        missing = sorted({c.label for c in self.clips} - set(index))
        if missing:
            raise DataError(f"labels {missing} are not in the label list {label_names}")
        return np.array([index[c.label] for c in self.clips], dtype=np.int32)


def extract_features(clips: list[Clip], config: FeatureConfig, *,
                     cache_dir: str | Path | None = None, workers: int | None = None,
                     progress: bool = True, strict: bool = False) -> Features:
    """MFCC frames for ``clips``: from the cache when present, else on all cores.

    Bad clips are returned in ``bad`` with their reason (or raise with ``strict``).
    """
    cache = FeatureCache(cache_dir, config) if cache_dir else None
    results: list[np.ndarray | None] = [None] * len(clips)
    errors: dict[int, str] = {}
    todo = []
    for i, c in enumerate(clips):
        x = cache.get(c) if cache else None
        if x is None:
            todo.append(i)
        else:
            results[i] = x
    cached = len(clips) - len(todo)
    if workers is not None and not 1 <= workers <= 1024:
        raise ConfigError(f"workers must be a number of processes from 1 to 1024, got {workers}")
    workers = workers or os.cpu_count() or 1
    bar = _progress(len(todo), progress, f"MFCC ({config.num_features}x{config.num_frames})")
    if todo:
        jobs = [(clips[i], config) for i in todo]
        if workers > 1 and len(todo) >= 64:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            from ..utils import die_with_parent

            # spawned workers are our children, so each asks to die with us: a killed
            # command leaves no pool behind
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=die_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                outs = pool.map(_extract_one, jobs, chunksize=max(1, len(jobs) // (8 * workers)))
                for i, (x, err) in zip(todo, outs, strict=True):
                    _store(i, x, err, clips, results, errors, cache)
                    bar.update(1)
        else:
            for i, job in zip(todo, jobs, strict=True):
                x, err = _extract_one(job)
                _store(i, x, err, clips, results, errors, cache)
                bar.update(1)
    bar.close()
    bad = [(clips[i].describe(), errors[i]) for i in sorted(errors)]
    if strict and bad:
        lines = "\n".join(f"  {r}" for _, r in bad)
        raise DataError(f"{len(bad)} bad file(s):\n{lines}")
    keep = [i for i in range(len(clips)) if results[i] is not None]
    shape = (0, config.num_frames, config.num_features)
    x = np.stack([results[i] for i in keep]) if keep else np.zeros(shape, np.float32)
    return Features(x=x, clips=[clips[i] for i in keep], bad=bad, cached=cached,
                    computed=len(todo) - len(bad), healed=cache.healed if cache else 0)


def _store(i, x, err, clips, results, errors, cache):
    if err is not None:
        errors[i] = err
        return
    results[i] = x
    if cache:
        cache.put(clips[i], x)


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    # a bar on a terminal; nothing in a log file (a redrawn bar there is hundreds of lines)
    return tqdm(total=total, desc=desc, unit="clip",
                disable=not enabled or total == 0 or not sys.stderr.isatty(),
                file=sys.stderr, leave=False)
