"""Load, validate, resample and fit audio clips.

Reads WAV/FLAC/OGG (anything libsndfile reads; 16/24/32-bit integer and float, mono or
multi-channel), mixes to mono, resamples to the configured rate and fits to the clip
length. Bad input raises :class:`~speechgru.errors.AudioError` naming the file and the
reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3")


def read_audio(path: str | Path, *, offset: float = 0.0,
               duration: float | None = None) -> tuple[np.ndarray, int]:
    """Read a file as float32 mono samples in [-1, 1] and its sample rate.

    Parameters
    ----------
    path : file to read.
    offset, duration : optional window in seconds (for long background-noise files).

    Raises
    ------
    AudioError
        Unreadable path, not audio, truncated, empty, or NaN/Inf samples.
    """
    path = Path(path)
    f = _open_checked(path)
    try:
        with f:
            sr = f.samplerate
            start = int(round(offset * sr))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if duration is None else int(round(duration * sr))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
            lossy = _is_lossy(f)
    except sf.LibsndfileError as exc:
        raise AudioError(f"{path}: not readable as audio ({exc.error_string})") from None
    except (RuntimeError, ValueError, OSError) as exc:
        raise AudioError(f"{path}: not readable as audio ({exc})") from None
    if data.size == 0:
        raise AudioError(f"{path}: empty (0 samples)")
    if not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise AudioError(f"{path}: {bad} NaN/Inf sample(s); the file is corrupt")
    data = _check_range(data, str(path), lossy=lossy)
    y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(y, dtype=np.float32), sr


def _open_checked(path: Path) -> sf.SoundFile:
    """The file opened for reading after the checks libsndfile does not make (there, a
    regular file, a WAV or Ogg stream not cut short); AudioError naming it otherwise."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    _check_riff_length(path)
    _check_ogg_end(path)
    try:
        return sf.SoundFile(str(path))
    except sf.LibsndfileError as exc:
        raise AudioError(f"{path}: not readable as audio ({exc.error_string})") from None
    except (RuntimeError, ValueError, OSError) as exc:
        raise AudioError(f"{path}: not readable as audio ({exc})") from None


def audio_blocks(path: str | Path, block_seconds: float = 1.0):
    """``(sample_rate, blocks)`` of a file of any length: ``blocks`` yields float32 mono
    blocks of about ``block_seconds`` each, checked as :func:`read_audio` checks a whole
    file (NaN/Inf, range), so memory stays bounded however long the file is."""
    path = Path(path)
    f = _open_checked(path)
    sr = f.samplerate
    lossy = _is_lossy(f)

    def blocks():
        seen = 0
        with f:
            while True:
                try:
                    data = f.read(max(1, int(sr * block_seconds)), dtype="float32",
                                  always_2d=True)
                except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
                    raise AudioError(f"{path}: not readable as audio after {seen / sr:.1f} s "
                                     f"({exc})") from None
                if not len(data):
                    break
                if not np.all(np.isfinite(data)):
                    raise AudioError(f"{path}: NaN/Inf sample(s) at {seen / sr:.1f} s; the "
                                     "file is corrupt")
                data = _check_range(data, str(path), lossy=lossy)
                seen += len(data)
                yield np.ascontiguousarray(data.mean(axis=1) if data.shape[1] > 1
                                           else data[:, 0], dtype=np.float32)
        if not seen:
            raise AudioError(f"{path}: empty (0 samples)")

    return sr, blocks()


LOSSY_SUBTYPES = ("VORBIS", "OPUS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III")
_OVERSHOOT_TOLD: set[str] = set()


def _is_lossy(f: sf.SoundFile) -> bool:
    """A lossy codec (Vorbis, Opus, MP3): its decoded samples may overshoot full scale a
    little on loud passages, as such codecs do."""
    return f.subtype in LOSSY_SUBTYPES or f.format == "MP3"


def _check_range(data: np.ndarray, source: str, *, lossy: bool = False) -> np.ndarray:
    """``data`` itself when it lies in [-1, 1]; a lossy file's overshoot clipped (said once
    per file on stderr); any other sample beyond full scale refused."""
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak <= 1.0 + 1e-4:
        return data
    if lossy:
        if source not in _OVERSHOOT_TOLD:
            _OVERSHOOT_TOLD.add(source)
            import sys

            print(f"speechgru: {source}: the lossy codec's decoded samples reach {peak:.3g}; "
                  "clipped to [-1, 1]", file=sys.stderr)
        return np.clip(data, -1.0, 1.0)
    raise AudioError(f"{source}: float samples reach {peak:.6g}, beyond the [-1, 1] of "
                     "audio; refused rather than clipped: rescale the file (divide by "
                     "its peak)")


def _check_riff_length(path: Path) -> None:
    """A WAV file whose ``data`` chunk declares more bytes than the file holds was cut
    short (libsndfile would read what is there without a word)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return
            size = path.stat().st_size
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                cid, clen = f.read(4), int.from_bytes(f.read(4), "little")
                if cid == b"data":
                    have = size - pos - 8
                    if clen == 0xFFFFFFFF and clen > have:
                        raise AudioError(f"{path}: truncated or written as a stream: the data "
                                         "chunk declares 0xFFFFFFFF bytes (a placeholder) "
                                         f"and the file holds {have}; rewrite it with its "
                                         "true length (e.g. sox in.wav out.wav)")
                    if clen != 0 and clen > have:
                        raise AudioError(f"{path}: truncated: the data chunk declares "
                                         f"{clen} bytes but the file holds {have}")
                    return
                pos += 8 + clen + (clen & 1)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror})") from None


def _check_ogg_end(path: Path) -> None:
    """An Ogg file whose last page is not whole or lacks the end-of-stream flag was cut
    short (libsndfile reads the part that is there without a word)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if f.read(4) != b"OggS":
                return
            f.seek(max(0, size - 65536))
            tail = f.read()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror})") from None
    at = tail.rfind(b"OggS")
    whole = False
    if at >= 0 and len(tail) >= at + 27:
        segments = tail[at + 26]
        table = tail[at + 27:at + 27 + segments]
        whole = (len(table) == segments and
                 at + 27 + segments + sum(table) <= len(tail) and tail[at + 5] & 0x04)
    if not whole:
        raise AudioError(f"{path}: truncated: the Ogg stream does not end (its last page "
                         "is cut or lacks the end-of-stream mark)")


class PCMStream:
    """Audio from a byte stream (stdin), as float32 mono chunks at ``sample_rate``.

    A stream that starts with a RIFF/WAVE header is read as WAV at its own rate, channels
    and sample format (16/24/32-bit PCM, 32-bit float); anything else is raw signed 16-bit
    little-endian mono PCM at ``sample_rate``. An empty stream yields nothing.
    """

    def __init__(self, stream, *, sample_rate: int, source: str = "stream"):
        self.stream, self.sample_rate, self.source = stream, sample_rate, source
        self.rate, self.channels, self.dtype, self.scale = sample_rate, 1, "<i2", 32768.0
        self._head = self._read(4)
        if self._head == b"RIFF":
            self._read_wav_header()
            self._head = b""
        self._resampler = None
        if self.rate != sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.rate, sample_rate, 1, dtype="float32")

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            block = self.stream.read(n - len(out))
            if not block:
                break
            out += block
        return out

    def _need(self, n: int) -> bytes:
        data = self._read(n)
        if len(data) < n:
            raise AudioError(f"{self.source}: truncated WAV header")
        return data

    def _read_wav_header(self) -> None:
        if self._need(8)[4:] != b"WAVE":
            raise AudioError(f"{self.source}: a RIFF stream that is not WAVE")
        fmt = None
        while True:
            cid, clen = self._need(4), int.from_bytes(self._need(4), "little")
            if cid == b"data":
                break
            body = self._need(clen + (clen & 1)) if clen < 1 << 20 else None
            if body is None:
                raise AudioError(f"{self.source}: WAV chunk {cid!r} of {clen} bytes is absurd")
            if cid == b"fmt ":
                fmt = body
        if fmt is None or len(fmt) < 16:
            raise AudioError(f"{self.source}: WAV stream without a fmt chunk")
        tag, channels, rate = (int.from_bytes(fmt[0:2], "little"),
                               int.from_bytes(fmt[2:4], "little"),
                               int.from_bytes(fmt[4:8], "little"))
        bits = int.from_bytes(fmt[14:16], "little")
        if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the subformat's tag
            tag = int.from_bytes(fmt[24:26], "little")
        kinds = {(1, 16): ("<i2", 32768.0), (1, 32): ("<i4", 2147483648.0),
                 (1, 24): ("i24", 8388608.0), (3, 32): ("<f4", 1.0)}
        if (tag, bits) not in kinds or not 1 <= channels <= 64 or not 1000 <= rate <= 192000:
            raise AudioError(f"{self.source}: unsupported WAV stream (format {tag}, {bits} "
                             f"bits, {channels} channels, {rate} Hz); send 16-bit PCM")
        self.dtype, self.scale = kinds[(tag, bits)]
        self.rate, self.channels = rate, channels

    def _decode(self, data: bytes) -> np.ndarray:
        if self.dtype == "i24":
            b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
            v = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16))
            x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float32)
        else:
            x = np.frombuffer(data, self.dtype).astype(np.float32)
        x = x / self.scale
        if not np.all(np.isfinite(x)):
            raise AudioError(f"{self.source}: NaN or infinite samples in the stream")
        if self.dtype == "<f4":
            _check_range(x, self.source)
        return x.reshape(-1, self.channels).mean(axis=1)

    def chunks(self, frames: int):
        """Float32 mono chunks at ``sample_rate`` of about ``frames`` input frames each."""
        width = (3 if self.dtype == "i24" else np.dtype(self.dtype).itemsize) * self.channels
        rest = self._head
        self._head = b""
        while True:
            block = self.stream.read(frames * width)
            data = rest + (block or b"")
            whole = len(data) // width * width
            rest = data[whole:]
            if whole:
                x = self._decode(data[:whole])
                if self._resampler is not None:
                    x = self._resampler.resample_chunk(x)
                if len(x):
                    yield x
            if not block:
                break
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail):
                yield tail


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample with soxr at high quality: the same call as librosa's default
    (``res_type="soxr_hq"``), used by training and by the TF-free runtime alike."""
    if orig_sr == target_sr:
        return y
    import soxr

    return np.asarray(soxr.resample(y, orig_sr, target_sr, quality="HQ"), np.float32)


def fit_to_length(y: np.ndarray, length: int) -> np.ndarray:
    """Pad (centred, with zeros) or crop to ``length`` samples.

    A longer clip is cropped to the window of ``length`` samples holding the most energy,
    so the spoken word survives whatever silence surrounds it.

    Examples
    --------
    >>> fit_to_length(np.ones(3, np.float32), 5).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    >>> y = np.zeros(10, np.float32); y[7] = 1.0
    >>> fit_to_length(y, 4).tolist()
    [0.0, 0.0, 1.0, 0.0]
    """
    n = len(y)
    if n == length:
        return y
    if n < length:
        left = (length - n) // 2
        return np.pad(y, (left, length - n - left)).astype(np.float32)
    start = loudest_start(y, length)
    return y[start:start + length]


def loudest_start(y: np.ndarray, length: int) -> int:
    """The first sample of the ``length``-sample window of ``y`` holding the most energy
    (among windows of near maximal energy, the middle one: it centres the peak); the
    window :func:`fit_to_length` keeps of a longer clip."""
    if len(y) <= length:
        return 0
    energy = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    window = energy[length:] - energy[:-length]
    best = window.max()
    candidates = np.flatnonzero(window >= best - 1e-12 * max(best, 1.0))
    return int(candidates[len(candidates) // 2])


def load_clip(path: str | Path, *, sample_rate: int, num_samples: int,
              offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Read, mix to mono, resample to ``sample_rate`` and fit to ``num_samples``."""
    y, sr = read_audio(path, offset=offset, duration=duration)
    y = resample(y, sr, sample_rate)
    return fit_to_length(y, num_samples)
