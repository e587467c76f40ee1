"""The MFCC, step by step, as NumPy functions with the matrices they use.

    PCM ─frames─► ×window ─rfft─► |·|² (power) ─@mel─► mel power ─log─► log-mel ─@DCT─► MFCC

Each step is the definition every implementation follows: :mod:`speechgru.features.librosa`
(training) is checked against :func:`mfcc` here, :mod:`speechgru.features.tf` (the exported
graphs) uses :func:`window`, :func:`mel_matrix` and :func:`dct_matrix` as its constants,
augmentation maps MFCCs back to log-mel with :func:`dct_matrix` and warps them with
:func:`mel_band_centres`. Frames are counted by :func:`speechgru.config.frame_count`, the
one owner of the frame arithmetic. Only NumPy and the settings are imported at module level
(the runtime imports this module without librosa).

Examples
--------
>>> from speechgru.config import FeatureConfig
>>> cfg = FeatureConfig()
>>> y = np.random.default_rng(0).standard_normal(cfg.clip_samples).astype(np.float32)
>>> mfcc(y, cfg).shape
(49, 40)
"""

from __future__ import annotations

import numpy as np

from ..config import FeatureConfig, frame_count


def hz_to_mel(f):
    """The HTK mel scale: ``2595 · log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    """The inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_band_centres(config: FeatureConfig) -> np.ndarray:
    """The centre frequency (Hz) of each of the ``n_mels`` triangular filters: equally
    spaced in HTK mel between ``fmin`` and ``fmax``."""
    lo, hi = hz_to_mel(config.fmin), hz_to_mel(config.fmax)
    return mel_to_hz(np.linspace(lo, hi, config.n_mels + 2)[1:-1])


def window(config: FeatureConfig) -> np.ndarray:
    """The analysis window (librosa's, periodic), zero-padded centred to ``n_fft``."""
    import librosa

    w = librosa.filters.get_window(config.window, config.win_length, fftbins=True)
    return librosa.util.pad_center(w, size=config.n_fft).astype(np.float32)


def mel_matrix(config: FeatureConfig) -> np.ndarray:
    """The HTK mel filterbank without area normalisation, ``(n_mels, n_fft // 2 + 1)``
    (librosa's ``filters.mel(htk=True, norm=None)``)."""
    import librosa

    return librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft,
                               n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax,
                               htk=True, norm=None).astype(np.float32)


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II, shape ``(n_mfcc, n_mels)``: ``mfcc = log_mel @ C.T`` (and,
    with ``n_mfcc == n_mels``, ``log_mel = mfcc @ C``)."""
    m = np.arange(n_mels)
    C = np.cos(np.pi / n_mels * (m[None, :] + 0.5) * np.arange(n_mfcc)[:, None])
    C *= np.sqrt(2.0 / n_mels)
    C[0] /= np.sqrt(2.0)
    return C.astype(np.float32)


def frames(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """``(frames, n_fft)`` windows of ``y`` every ``hop_length`` (``center`` pads with
    zeros as librosa's ``pad_mode="constant"``)."""
    y = np.asarray(y, np.float32)
    if config.center:
        y = np.pad(y, config.n_fft // 2)
    n = frame_count(len(y), config.n_fft, config.hop_length)
    idx = np.arange(config.n_fft)[None, :] + config.hop_length * np.arange(n)[:, None]
    return y[idx]


def power_spectrum(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """``|rfft(frame · window)|²``, shape ``(frames, n_fft // 2 + 1)``."""
    spec = np.fft.rfft(frames(y, config).astype(np.float64) * window(config), axis=-1)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def log_power(power: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """``10·log10(max(P, amin))`` (``log="db"``, no ``top_db``) or ``ln(P + amin)``."""
    p = np.asarray(power, np.float64)
    if config.log == "db":
        return (10.0 * np.log10(np.maximum(p, config.amin))).astype(np.float32)
    return np.log(p + config.amin).astype(np.float32)


def stages(y: np.ndarray, config: FeatureConfig) -> dict[str, np.ndarray]:
    """Every stage of one clip's MFCC, time-major: ``power`` (frames, bins), ``mel``
    (frames, n_mels), ``log_mel`` (frames, n_mels), ``mfcc`` (frames, n_mfcc)."""
    power = power_spectrum(y, config)
    mel = power @ mel_matrix(config).T
    log_mel = log_power(mel, config)
    mfcc_ = log_mel @ dct_matrix(config.n_mfcc, config.n_mels).T
    return {"power": power, "mel": mel, "log_mel": log_mel, "mfcc": mfcc_.astype(np.float32)}


def mfcc(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCC frames ``(frames, n_mfcc)`` of one clip, without deltas, from the definition."""
    return stages(y, config)["mfcc"]
