"""``speechgru record``: your own voice as a Speech Commands–layout dataset.

The user is prompted word by word; audio comes from the microphone (``arecord``, or the
``sounddevice`` package when installed) or, with ``--input FILE``, from a recording played
back as if it were the microphone (how tests drive it). A small energy detector finds each
spoken word: 20 ms frames, a noise floor that follows the quiet frames, a word is frames at
least ``WORD_DB`` above the floor, ended by ``GAP_S`` of quiet. Each take is kept as the
one second of real audio centred on the word (so the background stays as recorded) and
written as ``DIR/<word>/<speaker>_nohash_<n>.wav``; takes that are too long for one second,
or clipped (samples at full scale), are refused with the reason and asked again; a take
that never comes (``TIMEOUT_S`` of quiet) is reported as silent.
"""

from __future__ import annotations

import io
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..audio import read_audio, resample
from ..errors import DataError
from ..utils import atomic_write_bytes

SR = 16000
FRAME = 320  # 20 ms
WORD_DB = 15.0  # a word: this far above the noise floor ...
MIN_WORD_DBFS = -55.0  # ... and at least this loud
GAP_S = 0.3  # quiet that ends a word
MIN_WORD_S = 0.1
TIMEOUT_S = 6.0  # no word this long: a silent take
CLIP_LEVEL = 0.99
CLIP_SHARE = 0.001  # more samples than this at full scale: a clipped take


def _frames_db(y: np.ndarray) -> np.ndarray:
    n = len(y) // FRAME
    frames = y[:n * FRAME].reshape(n, FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


class WordFinder:
    """Fed audio in any blocks, yields ``(start, end)`` sample positions of words."""

    def __init__(self):
        self.audio = np.zeros(0, np.float32)  # the recent audio, from sample ``base`` on
        self.base = 0
        self.pos = 0  # frames examined
        self.floor: float | None = None
        self.start: int | None = None
        self.last_loud = 0
        self.quiet_since_start = 0

    def feed(self, block: np.ndarray) -> Iterator[tuple[int, int]]:
        # keep only what a word still to be cut can need (the words found before this call
        # are cut by now): time stays linear in the recording's length
        keep = min(self.pos, self.start if self.start is not None else self.pos) * FRAME \
            - 2 * SR
        if keep > self.base:
            self.audio = self.audio[keep - self.base:]
            self.base = keep
        self.audio = np.concatenate([self.audio, block.astype(np.float32)])
        db = _frames_db(self.audio[self.pos * FRAME - self.base:])
        for level in db:
            t = self.pos
            self.pos += 1
            if self.floor is None:
                self.floor = level
            loud = level > max(self.floor + WORD_DB, MIN_WORD_DBFS)
            if not loud and self.start is None:  # the floor follows the quiet frames
                self.floor = 0.9 * self.floor + 0.1 * level if level > self.floor \
                    else level
            if loud:
                if self.start is None:
                    self.start = t
                self.last_loud = t
            elif self.start is not None and t - self.last_loud >= GAP_S * SR / FRAME:
                start, end = self.start, self.last_loud + 1
                self.start = None
                if (end - start) * FRAME >= MIN_WORD_S * SR:
                    yield start * FRAME, end * FRAME

    def window(self, start: int, end: int, seconds: float = 1.0) -> np.ndarray:
        """The ``seconds`` of recorded audio centred on ``[start, end)`` (zeros where the
        recording does not reach)."""
        n = int(seconds * SR)
        centre = (start + end) // 2
        lo = centre - n // 2
        out = np.zeros(n, np.float32)
        a, b = max(lo, self.base), min(lo + n, self.base + len(self.audio))
        if b > a:
            out[a - lo:b - lo] = self.audio[a - self.base:b - self.base]
        return out

    def samples(self, start: int, end: int) -> np.ndarray:
        """The recorded samples ``[start, end)`` (positions in the whole recording)."""
        return self.audio[max(start - self.base, 0):max(end - self.base, 0)]


def file_source(path: str | Path, block: int = 1600) -> Iterator[np.ndarray]:
    y, sr = read_audio(path)
    y = resample(y, sr, SR)
    for i in range(0, len(y), block):
        yield y[i:i + block]


def microphone_source(block: int = 1600) -> Iterator[np.ndarray]:
    """Blocks from the default microphone: ``sounddevice`` when installed, else
    ``arecord`` (ALSA); a DataError saying how to get one otherwise."""
    try:
        import sounddevice as sd
    except ImportError:
        sd = None
    if sd is not None:
        with sd.InputStream(samplerate=SR, channels=1, dtype="float32", blocksize=block) as s:
            while True:
                data, _ = s.read(block)
                yield data[:, 0].copy()
    if shutil.which("arecord") is None:
        raise DataError("no microphone access: install sounddevice (pip install "
                        "'speechgru[record]') or ALSA's arecord, or pass --input FILE.wav")
    proc = subprocess.Popen(["arecord", "-q", "-f", "S16_LE", "-r", str(SR), "-c", "1",
                             "-t", "raw"], stdout=subprocess.PIPE)
    try:
        while chunk := proc.stdout.read(block * 2):
            yield np.frombuffer(chunk[:len(chunk) // 2 * 2], "<i2").astype(np.float32) / 32768
        raise DataError(f"arecord stopped (exit code {proc.wait()}): check the microphone")
    finally:
        proc.kill()


def _take_problem(word: np.ndarray) -> str | None:
    """Why a take (the word's own samples) cannot be kept, or None."""
    if len(word) > SR:
        return f"too long ({len(word) / SR:.1f} s): say just the word, within a second"
    if np.mean(np.abs(word) >= CLIP_LEVEL) > CLIP_SHARE:
        return "clipped (too loud): move back from the microphone or lower its gain"
    return None


def _next_index(folder: Path, speaker: str) -> int:
    pattern = re.compile(rf"{re.escape(speaker)}_nohash_(\d+)\.wav")
    found = [int(m.group(1)) for p in folder.glob("*.wav") if (m := pattern.fullmatch(p.name))]
    return max(found, default=-1) + 1


def record(out_dir: str | Path, words: list[str], *, per_word: int = 10,
           speaker: str | None = None, source: Iterator[np.ndarray] | None = None,
           say=print) -> dict:
    """Prompt for each word ``per_word`` times, keep the good takes; returns a summary
    (``written`` per word, ``refused`` takes with reasons, ``speaker``)."""
    import soundfile as sf

    if not words:
        raise DataError("--words: give at least one word")
    if per_word < 1:
        raise DataError(f"--per-word {per_word}: must be at least 1")
    for w in words:
        if not re.fullmatch(r"[^\W_][\w-]{0,63}", w):
            raise DataError(f"--words: {w!r} is not a word folder name (letters, digits, "
                            "'_' or '-')")
    speaker = speaker or secrets.token_hex(4)
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", speaker):
        raise DataError(f"--speaker {speaker!r}: letters and digits only")
    out = Path(out_dir)
    source = source if source is not None else microphone_source()
    finder = WordFinder()
    words_found = _words(finder, source)
    written: dict[str, int] = {}
    refused: list[dict] = []
    for word in words:
        folder = out / word
        folder.mkdir(parents=True, exist_ok=True)
        kept = 0
        while kept < per_word:
            say(f"say \"{word.replace('_', ' ')}\" ({kept + 1} of {per_word})")
            found = next(words_found, None)
            if found is None:
                raise DataError(f"the recording ended before {word!r} take {kept + 1} of "
                                f"{per_word}; {sum(written.values()) + kept} takes were kept "
                                f"in {out}")
            if found == "silent":
                refused.append({"word": word, "reason": "silent"})
                say(f"  nothing heard for {TIMEOUT_S:g} s; again")
                continue
            start, end = found
            clip = finder.window(start, end)
            problem = _take_problem(finder.samples(start, end))
            if problem:
                refused.append({"word": word, "reason": problem})
                say(f"  {problem}; again")
                continue
            index = _next_index(folder, speaker)
            buf = io.BytesIO()
            sf.write(buf, clip, SR, subtype="PCM_16", format="WAV")
            atomic_write_bytes(folder / f"{speaker}_nohash_{index}.wav", buf.getvalue())
            kept += 1
        written[word] = kept
    return {"out_dir": str(out), "speaker": speaker, "written": written, "refused": refused}


def _words(finder: WordFinder, source: Iterator[np.ndarray]):
    """Words as they are spoken, or ``"silent"`` after TIMEOUT_S without one."""
    waited = 0
    for block in source:
        found = list(finder.feed(block))
        waited += len(block)
        for f in found:
            waited = 0
            yield f
        if waited >= TIMEOUT_S * SR and finder.start is None:
            waited = 0
            yield "silent"
