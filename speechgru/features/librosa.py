"""MFCC features with librosa, as set by a :class:`~speechgru.config.FeatureConfig`.

The pipeline of :mod:`speechgru.features.maths` computed by librosa, each step chosen so
that a TF graph (:mod:`speechgru.features.tf`) can reproduce it:
power spectrogram of Hann-windowed frames (``center=False``) → HTK mel filterbank without
area normalisation → ``10·log10(max(S, amin))`` (no ``top_db``) → orthonormal DCT-II.
Frames are returned time-major: shape ``(num_frames, num_features)``, float32.
"""

from __future__ import annotations

import numpy as np

from ..config import FeatureConfig


def log_mel(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log mel spectrogram, shape ``(n_mels, frames)`` (librosa's orientation)."""
    import librosa

    S = librosa.feature.melspectrogram(
        y=np.asarray(y, dtype=np.float32), sr=config.sample_rate, n_fft=config.n_fft,
        hop_length=config.hop_length, win_length=config.win_length, window=config.window,
        center=config.center, pad_mode="constant", power=2.0, n_mels=config.n_mels,
        fmin=config.fmin, fmax=config.fmax, htk=True, norm=None)
    if config.log == "db":
        return librosa.power_to_db(S, ref=1.0, amin=config.amin, top_db=None)
    return np.log(S + config.amin)


def mfcc(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """MFCC frames of one clip: shape ``(num_frames, num_features)``, float32.

    Examples
    --------
    >>> cfg = FeatureConfig()
    >>> y = np.random.default_rng(0).standard_normal(cfg.clip_samples).astype(np.float32)
    >>> mfcc(y, cfg).shape
    (49, 40)
    """
    import librosa

    M = librosa.feature.mfcc(S=log_mel(y, config), n_mfcc=config.n_mfcc, dct_type=2,
                             norm="ortho")
    parts = [M]
    for order in range(1, config.deltas + 1):
        parts.append(librosa.feature.delta(M, width=config.delta_width, order=order,
                                           mode="interp"))
    return np.ascontiguousarray(np.concatenate(parts, axis=0).T, dtype=np.float32)
