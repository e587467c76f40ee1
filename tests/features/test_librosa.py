"""MFCC against an independent NumPy implementation (only librosa's mel matrix is shared)."""

import numpy as np
import pytest
from conftest import tone

from speechgru.config import FeatureConfig
from speechgru.features.librosa import mfcc
from speechgru.features.maths import mel_matrix


def reference_mfcc(y: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    n = 1 + (len(y) - cfg.n_fft) // cfg.hop_length
    k = np.arange(cfg.win_length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * k / cfg.win_length)  # periodic Hann
    window = np.zeros(cfg.n_fft)
    left = (cfg.n_fft - cfg.win_length) // 2
    window[left:left + cfg.win_length] = hann
    frames = np.stack([y[i * cfg.hop_length:i * cfg.hop_length + cfg.n_fft] for i in range(n)])
    power = np.abs(np.fft.rfft(frames.astype(np.float64) * window, axis=1)) ** 2
    mel = power @ mel_matrix(cfg).astype(np.float64).T
    logmel = 10 * np.log10(np.maximum(mel, cfg.amin))
    m = np.arange(cfg.n_mels)
    dct = np.cos(np.pi / cfg.n_mels * (m[None, :] + 0.5) * np.arange(cfg.n_mfcc)[:, None])
    dct *= np.sqrt(2.0 / cfg.n_mels)
    dct[0] /= np.sqrt(2.0)
    return logmel @ dct.T


@pytest.mark.parametrize("cfg", [
    FeatureConfig(),
    FeatureConfig(hop_length=160, n_mfcc=13, win_length=400),
    FeatureConfig(sample_rate=8000, n_fft=256, win_length=240, hop_length=80, fmax=4000.0,
                  n_mels=32, n_mfcc=20),
])
def test_mfcc_matches_independent_numpy_reference(cfg):
    rng = np.random.default_rng(1)
    y = (tone(sr=cfg.sample_rate, freq=700.0) + 0.05 * rng.standard_normal(cfg.clip_samples)
         ).astype(np.float32)
    got = mfcc(y, cfg)
    assert got.shape == (cfg.num_frames, cfg.num_features) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference_mfcc(y, cfg), atol=2e-3, rtol=1e-4)


def test_deltas_are_appended():
    cfg = FeatureConfig(n_mfcc=13, deltas=2)
    y = tone()
    got = mfcc(y, cfg)
    assert got.shape == (cfg.num_frames, 39)
    np.testing.assert_allclose(got[:, :13], mfcc(y, FeatureConfig(n_mfcc=13)), atol=1e-5)
    assert np.abs(got[:, 13:]).max() > 0
