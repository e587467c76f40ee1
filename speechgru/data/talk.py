"""Continuous speech: real sentences of ordinary talk, for training (windows of it are not
commands) and for measuring false alarms per hour of speech.

A *talk folder* holds audio files of whole sentences (any depth), named
``<speaker>_nohash_<utterance>.<ext>`` as Speech Commands names its clips, and optionally
``manifest.csv`` (``file, speaker, seconds, text``; ``file`` relative to the folder) whose
transcripts say which sentences hold a command word. :func:`read_talk` reads it into
:class:`Sentence` records, each with its speaker's part of the one talk split
(:func:`talk_split`): ``test`` (a fixed 30 % of the speakers, never trained on nor
calibrated on by any run: the benchmark's sentences), ``validation`` (a fixed 20 %: the
live operating point is chosen there) and ``train``. :func:`talk_windows` cuts sentences into one-second ``_unknown_`` clips.

Which sentences teach what (decided here, once): a sentence whose transcript holds a
command word (``"TOM GIVES UP BOXING"``) is never cut into ``_unknown_`` windows (the word
is there, somewhere, and a window holding it would teach that the word is not the word),
and its detections are reported apart from those of screened talk. A sentence without a
transcript is used only where a transcript is not needed: the benchmark reports it apart
too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..audio import AUDIO_EXTENSIONS
from ..config import COMMANDS, UNKNOWN, read_text
from ..errors import DataError
from .layouts import SPLITS, Clip, _speaker_of

TALK_TEST_PERCENT = 30.0
TALK_VALIDATION_PERCENT = 20.0
TALK_SALT = "speechgru-talk:"
TALK_WORD = "_talk_"  # the ``word`` of a window of talk
HARD_WORD = "_hard_"  # ... of a window of talk where an earlier round fired (mined)
TALK_WORDS = (TALK_WORD, HARD_WORD)
SCREENED, UNTRANSCRIBED, HOLDS_COMMAND = "screened", "untranscribed", "holds a command word"
MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class Sentence:
    """One recording of continuous speech."""

    path: Path
    speaker: str
    seconds: float
    text: str | None  # the transcript, where there is one
    split: str
    says: tuple[str, ...] = ()  # the command words its transcript holds

    @property
    def kind(self) -> str:
        """``screened`` (a transcript without any command word), ``untranscribed`` or
        ``holds a command word``."""
        if self.says:
            return HOLDS_COMMAND
        return UNTRANSCRIBED if self.text is None else SCREENED


def talk_split(speaker: str) -> str:
    """The one split of talk speakers, the same whatever a run's percentages: by a salted
    hash, ``test`` for :data:`TALK_TEST_PERCENT` % of them, ``validation`` for the next
    :data:`TALK_VALIDATION_PERCENT` % (enough talk to count false alarms per hour on), else
    ``train``."""
    h = int(hashlib.sha1((TALK_SALT + speaker).encode("utf-8")).hexdigest(), 16)
    percent = (h % 1_000_000) / 10_000.0
    if percent < TALK_TEST_PERCENT:
        return "test"
    if percent < TALK_TEST_PERCENT + TALK_VALIDATION_PERCENT:
        return "validation"
    return "train"


def command_words_in(text: str, words: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The command words a transcript holds, whole words only (``"going"`` is not ``go``);
    a phrase word such as ``lights_on`` when its words follow one another."""
    tokens = re.findall(r"[a-z0-9']+", text.lower())
    joined = " " + " ".join(tokens) + " "
    return tuple(w for w in words if f" {w.replace('_', ' ').lower()} " in joined)


def read_talk(root: str | Path, *, words: tuple[str, ...] | list[str] | None = None
              ) -> list[Sentence]:
    """Every sentence of a talk folder (see the module), sorted by path. DataError naming
    the folder or the manifest's line when it holds no audio, when a row names a file that
    is missing or outside the folder, or when its seconds are not a positive number."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory (a folder of continuous speech)")
    words = tuple(words) if words else COMMANDS
    manifest = root / MANIFEST
    out: list[Sentence] = []
    if manifest.is_file():
        base = Path(os.path.normpath(root.absolute()))
        text = read_text(manifest, error=DataError)
        rows = list(csv.DictReader(io.StringIO(text)))
        need = {"file", "speaker"}
        if not rows or not need <= set(rows[0]):
            raise DataError(f"{manifest}: needs a header with at least the columns file and "
                            "speaker (and seconds, text), and one row per recording")
        for i, row in enumerate(rows, 2):
            name = (row.get("file") or "").strip()
            path = Path(os.path.normpath(base / name))
            if not name or not path.is_relative_to(base):
                raise DataError(f"{manifest}:{i}: {name!r} is not a file inside {root}")
            if not path.is_file():
                raise DataError(f"{manifest}:{i}: {name!r} names a file that does not exist; "
                                "fix the manifest or restore the file")
            try:
                seconds = float(row.get("seconds") or "nan")
            except ValueError:
                seconds = math.nan
            if not math.isfinite(seconds):
                seconds = _seconds_of(path)
            if not 0 < seconds < 24 * 3600:
                raise DataError(f"{manifest}:{i}: seconds {row.get('seconds')!r} of {name!r} "
                                "is not a length of audio")
            speaker = (row.get("speaker") or "").strip() or _speaker_of(path.name)
            said = (row.get("text") or "").strip() or None
            out.append(Sentence(path, speaker, seconds, said,
                                talk_split(speaker),
                                command_words_in(said, words) if said else ()))
    else:
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = Path(dirpath) / f
                if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file():
                    speaker = _speaker_of(p.name)
                    out.append(Sentence(p, speaker, _seconds_of(p), None,
                                        talk_split(speaker)))
    if not out:
        raise DataError(f"{root}: no audio files (a folder of continuous speech: "
                        f"{', '.join(AUDIO_EXTENSIONS)} files, optionally {MANIFEST})")
    return sorted(out, key=lambda s: str(s.path))


def _seconds_of(path: Path) -> float:
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except (RuntimeError, OSError) as exc:
        raise DataError(f"{path}: not readable as audio ({exc})") from None


def talk_windows(sentences: list[Sentence], *, clip_seconds: float = 1.0,
                 trim: float = 0.25) -> list[Clip]:
    """One-second ``_unknown_`` clips (word ``_talk_``) cut end to end from the screened
    sentences (a transcript, no command word), ``trim`` seconds kept off each end (the
    pause before and after a sentence is not talk); each keeps its sentence's split."""
    out = []
    for s in sentences:
        if s.kind != SCREENED:
            continue
        n = int((s.seconds - 2 * trim) // clip_seconds)
        for k in range(max(n, 0)):
            out.append(Clip(s.path, UNKNOWN, TALK_WORD, s.speaker, s.split,
                            offset=round(trim + k * clip_seconds, 3), duration=clip_seconds))
    return out


def talk_summary(sentences: list[Sentence]) -> dict:
    """Sentences, speakers and minutes per split and kind."""
    out: dict = {}
    for split in SPLITS:
        part = [s for s in sentences if s.split == split]
        out[split] = {"sentences": len(part), "speakers": len({s.speaker for s in part}),
                      "minutes": round(sum(s.seconds for s in part) / 60, 2),
                      "minutes_screened": round(sum(s.seconds for s in part
                                                    if s.kind == SCREENED) / 60, 2)}
    return out
