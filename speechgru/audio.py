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

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


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
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            start = int(round(offset * sr))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if duration is None else int(round(duration * sr))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise AudioError(f"{path}: not readable as audio ({exc.error_string})") from None
    except (RuntimeError, ValueError, OSError) as exc:
        raise AudioError(f"{path}: not readable as audio ({exc})") from None
    if data.size == 0:
        raise AudioError(f"{path}: empty (0 samples)")
    if not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise AudioError(f"{path}: {bad} NaN/Inf sample(s); the file is corrupt")
    y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(y, dtype=np.float32), sr


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample with librosa's default high-quality resampler (soxr)."""
    if orig_sr == target_sr:
        return y
    import librosa

    return librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr).astype(np.float32)


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
    energy = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
    window = energy[length:] - energy[:-length]
    best = window.max()
    # among windows of (near) maximal energy, take the middle one: centres the peak
    candidates = np.flatnonzero(window >= best - 1e-12 * max(best, 1.0))
    start = int(candidates[len(candidates) // 2])
    return y[start:start + length]


def load_clip(path: str | Path, *, sample_rate: int, num_samples: int,
              offset: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Read, mix to mono, resample to ``sample_rate`` and fit to ``num_samples``."""
    y, sr = read_audio(path, offset=offset, duration=duration)
    y = resample(y, sr, sample_rate)
    return fit_to_length(y, num_samples)
