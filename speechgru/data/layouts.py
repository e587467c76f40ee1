"""Datasets: layouts, labels, speaker-disjoint splits, the feature cache, tf.data.

Three layouts are read into :class:`Clip` records (path, label, word, speaker, split):

``speech_commands``
    One folder per word, ``_background_noise_/`` with long noise files, optional
    ``validation_list.txt`` / ``testing_list.txt``. Without the lists, the standard hash
    split on the speaker part of ``<speaker>_nohash_<n>.wav``.
``sc12``
    The 12-label test archive: the command folders plus ``_silence_/`` and ``_unknown_/``
    (``_unknown_`` file names start with the word: ``bird_<speaker>_nohash_0.wav``).
``flat``
    One folder (or its ``recordings/``) of files named ``{label}_{speaker}_{index}.wav``,
    e.g. the Free Spoken Digit Dataset.

Splits are always speaker-disjoint: a speaker's clips all land in one split.
"""

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
from ..errors import AudioError, DataError

BACKGROUND = "_background_noise_"
SPLITS = ("train", "validation", "test")
_MAX_PER_CLASS = 2 ** 27 - 1  # the constant of Speech Commands' hash split
SPLIT_SALT = "speechgru:"  # for layouts whose speakers Speech Commands already split


@dataclass(frozen=True)
class Clip:
    """One example: a file (or a window of a long noise file) and what it holds."""

    path: Path
    label: str  # the training label: a chosen word, _silence_ or _unknown_
    word: str  # what is said (the folder / file-name label)
    speaker: str
    split: str
    offset: float = 0.0
    duration: float | None = None

    def describe(self) -> str:
        if self.duration is None:
            return str(self.path)
        return f"{self.path}@{self.offset:g}s"


@dataclass
class Dataset:
    """The clips of one dataset folder, and the files that could not be used."""

    root: Path
    layout: str
    labels: list[str]
    clips: list[Clip]
    noise_files: list[Path] = field(default_factory=list)
    bad: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def select(self, split: str) -> list[Clip]:
        return [c for c in self.clips if c.split == split]

    def summary(self) -> dict:
        per_label = Counter(c.label for c in self.clips)
        per_split: dict[str, Counter] = defaultdict(Counter)
        speakers: dict[str, set] = defaultdict(set)
        for c in self.clips:
            per_split[c.split][c.label] += 1
            speakers[c.split].add(c.speaker)
        overlap = set()
        for i, a in enumerate(SPLITS):
            for b in SPLITS[i + 1:]:
                overlap |= speakers[a] & speakers[b]
        per_speaker = Counter(c.speaker for c in self.clips)
        return {
            "root": str(self.root), "layout": self.layout, "labels": self.labels,
            "clips": len(self.clips),
            "per_label": {k: per_label.get(k, 0) for k in self.labels},
            "per_split": {s: {"clips": sum(per_split[s].values()),
                              "speakers": len(speakers[s]),
                              "per_label": {k: per_split[s].get(k, 0) for k in self.labels}}
                          for s in SPLITS},
            "speakers": len(per_speaker),
            "per_speaker": dict(sorted(per_speaker.items())),
            "speaker_overlap_between_splits": sorted(overlap),
            "noise_files": [str(p) for p in self.noise_files],
            "bad_files": [{"file": f, "reason": r} for f, r in self.bad],
        }


def hash_split(speaker: str, validation_percent: float = 10.0,
               testing_percent: float = 10.0, salt: str = "") -> str:
    """Speech Commands' stable split of a speaker id: ``train``, ``validation`` or ``test``.

    The same speaker always lands in the same split, whatever else is in the dataset.
    With ``salt=""`` this is exactly Speech Commands' own split; the speakers of its test
    archive all hash to ``test`` there, so the ``sc12`` and ``flat`` layouts use a salt.
    """
    h = int(hashlib.sha1((salt + speaker).encode("utf-8")).hexdigest(), 16)
    percent = (h % (_MAX_PER_CLASS + 1)) * (100.0 / _MAX_PER_CLASS)
    if percent < validation_percent:
        return "validation"
    if percent < validation_percent + testing_percent:
        return "test"
    return "train"


def _audio_files(folder: Path, bad: list[tuple[str, str]] | None = None) -> list[Path]:
    """The audio files in ``folder``; a link named like one that leads to no file (dangling,
    or a loop) goes into ``bad``, named, rather than being passed over in silence."""
    out = []
    for p in folder.iterdir():
        if p.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        if p.is_file():
            out.append(p)
        elif p.is_symlink() and bad is not None:
            bad.append((str(p), "a link that leads to no file (dangling, or a loop)"))
    return sorted(out)


def detect_layout(root: Path) -> str:
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    subdirs = {p.name for p in root.iterdir() if p.is_dir()}
    if SILENCE in subdirs or UNKNOWN in subdirs:
        return "sc12"
    if any(_audio_files(root / d) for d in subdirs if d not in (BACKGROUND, "recordings")):
        return "speech_commands"
    if _audio_files(root) or ("recordings" in subdirs and _audio_files(root / "recordings")):
        return "flat"
    raise DataError(f"{root}: no audio files found (looked for {', '.join(AUDIO_EXTENSIONS)} "
                    "in word folders, in the folder itself and in recordings/)")


def _speaker_of(name: str) -> str:
    """``<speaker>_nohash_<n>`` → speaker; otherwise the whole stem (its own speaker)."""
    stem = Path(name).stem
    m = re.match(r"^(.*?)_nohash_", stem)
    return m.group(1) if m else stem


def _lexical(path: Path) -> Path:
    """Absolute and normalised (``..`` removed) without following symlinks: a dataset may
    be a folder of links to files elsewhere, but a list may not climb out of it."""
    return Path(os.path.normpath(path.absolute()))


def _read_list(root: Path, name: str) -> set[Path]:
    path = root / name
    if not path.exists():
        return set()
    out = set()
    root_abs = _lexical(root)
    for i, line in enumerate(read_text(path, error=DataError).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        target = _lexical(root / line)
        if not target.is_relative_to(root_abs):
            raise DataError(f"{path}:{i}: {line!r} points outside the dataset root {root}; "
                            "list files may only name files inside the dataset")
        if not target.is_file():
            raise DataError(f"{path}:{i}: {line!r} names a file that does not exist; fix "
                            "the list or restore the file")
        out.add(target)
    return out


def _label_for(word: str, words: tuple[str, ...]) -> str:
    if word in words or word in (SILENCE, UNKNOWN):
        return word
    return UNKNOWN


def scan_dataset(root: str | Path, *, words: tuple[str, ...] | list[str] | None = None,
                 validation_percent: float = 10.0, testing_percent: float = 10.0,
                 layout: str | None = None, clip_seconds: float = 1.0) -> Dataset:
    """Read a dataset folder into clips with labels, speakers and speaker-disjoint splits.

    Parameters
    ----------
    words : the command words to recognise; other words map to ``_unknown_``. Default: the
        ten Speech Commands words for the Speech Commands layouts, every label for ``flat``.
    validation_percent, testing_percent : shares of *speakers* for the hash split.
    layout : force a layout instead of detecting it.
    clip_seconds : length of the silence windows cut from background-noise files.
    """
    root = Path(root)
    layout = layout or detect_layout(root)
    clips: list[Clip] = []
    noise: list[Path] = []
    bad: list[tuple[str, str]] = []

    salt = "" if layout == "speech_commands" else SPLIT_SALT

    def split_of(speaker: str) -> str:
        return hash_split(speaker, validation_percent, testing_percent, salt)

    if layout in ("speech_commands", "sc12"):
        words = tuple(words) if words else COMMANDS
        val_list = _read_list(root, "validation_list.txt")
        test_list = _read_list(root, "testing_list.txt")
        use_lists = bool(val_list or test_list)
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            name = folder.name
            if name == BACKGROUND:
                noise.extend(_audio_files(folder, bad))
                continue
            for f in _audio_files(folder, bad):
                if name == UNKNOWN:
                    word, _, rest = f.name.partition("_")
                    speaker = _speaker_of(rest) if rest else f.stem
                elif name == SILENCE:
                    word, speaker = SILENCE, f"silence-{f.stem}"
                else:
                    word, speaker = name, _speaker_of(f.name)
                if use_lists:
                    r = _lexical(f)
                    split = ("validation" if r in val_list else
                             "test" if r in test_list else "train")
                else:
                    split = split_of(speaker)
                clips.append(Clip(f, _label_for(word, words), word, speaker, split))
        clips.extend(_silence_windows(noise, clip_seconds, bad, validation_percent,
                                      testing_percent))
    elif layout == "noise":  # a folder of background recordings: silence clips only
        words = tuple(words) if words else COMMANDS
        noise = _audio_files(root, bad)
        if not noise:
            raise DataError(f"{root}: no audio files for --noise (looked for "
                            f"{', '.join(AUDIO_EXTENSIONS)} in the folder itself)")
        clips.extend(_silence_windows(noise, clip_seconds, bad, validation_percent,
                                      testing_percent))
    elif layout == "flat":
        folder = root / "recordings" if (root / "recordings").is_dir() else root
        found = []
        for f in _audio_files(folder, bad):
            parts = f.stem.split("_")
            if len(parts) < 3:
                bad.append((str(f), "file name does not follow {label}_{speaker}_{index}"))
                continue
            found.append((f, parts[0], parts[1]))
        if words:
            words = tuple(words)
        else:
            labels_found = sorted({w for _, w, _ in found},
                                  key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
            words = tuple(labels_found)
        for f, word, speaker in found:
            clips.append(Clip(f, _label_for(word, words), word, speaker, split_of(speaker)))
    else:
        raise DataError(f"{root}: unknown layout {layout!r}; use speech_commands, sc12, flat "
                        "or noise")
    if not clips:
        raise DataError(f"{root}: no usable clips in the {layout} layout")
    labels = [SILENCE, UNKNOWN, *words]
    return Dataset(root=root, layout=layout, labels=labels, clips=clips, noise_files=noise,
                   bad=bad)


def _silence_windows(noise_files: list[Path], clip_seconds: float,
                     bad: list[tuple[str, str]], validation_percent: float = 10.0,
                     testing_percent: float = 10.0) -> list[Clip]:
    """Cut background-noise files into silence clips: the start of each file for training,
    then ``validation_percent`` % of it for validation and the last ``testing_percent`` %
    for test (time-disjoint, as the speakers are)."""
    import soundfile as sf

    out = []
    for f in noise_files:
        try:
            seconds = sf.info(str(f)).duration
        except (RuntimeError, OSError) as exc:
            bad.append((str(f), f"not readable as audio ({exc})"))
            continue
        n = int(seconds // clip_seconds)
        for k in range(n):
            pos = k / max(n, 1)
            split = ("train" if pos < 1 - (validation_percent + testing_percent) / 100
                     else "validation" if pos < 1 - testing_percent / 100 else "test")
            out.append(Clip(f, SILENCE, SILENCE, f"noise-{f.stem}-{split}", split,
                            offset=k * clip_seconds, duration=clip_seconds))
    return out


def check_dataset(root: str | Path, *, strict: bool = False, **scan_kwargs) -> dict:
    """Scan and read every file; return the summary with every bad file and its reason.

    Without ``strict`` bad files are reported (never silently dropped); with ``strict`` any
    bad file raises :class:`DataError` listing them all.
    """
    from ..utils import file_sha256

    ds = scan_dataset(root, **scan_kwargs)
    good = []
    rates: Counter = Counter()
    by_hash: dict[str, list[Clip]] = defaultdict(list)
    for c in ds.clips:
        try:
            y, sr = read_audio(c.path, offset=c.offset, duration=c.duration)
        except AudioError as exc:
            ds.bad.append((str(c.path), str(exc).removeprefix(f"{c.path}: ")))
            continue
        rates[sr] += 1
        good.append(c)
        if c.duration is None:
            by_hash[file_sha256(c.path)].append(c)
    ds.clips = good
    report = ds.summary()
    report["sample_rates"] = {str(k): v for k, v in sorted(rates.items())}
    report["duplicates"] = [
        {"files": [str(c.path) for c in group],
         "labels": sorted({c.label for c in group}), "splits": sorted({c.split for c in group})}
        for group in by_hash.values()
        if len(group) > 1 and (len({c.label for c in group}) > 1
                               or len({c.split for c in group}) > 1)]
    if strict and ds.bad:
        lines = "\n".join(f"  {f}: {r}" for f, r in ds.bad)
        raise DataError(f"{root}: {len(ds.bad)} bad file(s) (--strict):\n{lines}")
    return report
