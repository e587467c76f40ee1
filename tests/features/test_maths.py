"""The feature definition against librosa and closed forms."""

import librosa
import numpy as np
import pytest
import scipy.fft
from conftest import tone

from speechgru.config import FeatureConfig, frame_count
from speechgru.features import maths
from speechgru.features.librosa import mfcc as librosa_mfcc

CONFIGS = [
    FeatureConfig(),
    FeatureConfig(hop_length=160, n_mfcc=13, win_length=400),
    FeatureConfig(center=True, log="ln", n_mfcc=20),
    FeatureConfig(sample_rate=8000, n_fft=256, win_length=240, hop_length=80, fmax=4000.0,
                  n_mels=32, n_mfcc=20),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
def test_the_definition_equals_the_training_mfcc(cfg):
    rng = np.random.default_rng(1)
    y = (tone(sr=cfg.sample_rate, freq=700.0) + 0.05 * rng.standard_normal(cfg.clip_samples)
         ).astype(np.float32)
    got = maths.mfcc(y, cfg)
    assert got.shape == (cfg.num_frames, cfg.n_mfcc)
    np.testing.assert_allclose(got, librosa_mfcc(y, cfg), atol=2e-3, rtol=1e-4)


def test_each_stage_against_librosa():
    cfg = FeatureConfig()
    y = np.random.default_rng(2).standard_normal(cfg.clip_samples).astype(np.float32)
    s = maths.stages(y, cfg)
    ref_power = np.abs(librosa.stft(y, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                                    win_length=cfg.win_length, window=cfg.window,
                                    center=False)) ** 2
    np.testing.assert_allclose(s["power"], ref_power.T, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(s["log_mel"], librosa.power_to_db(s["mel"].T, amin=cfg.amin,
                                                                 top_db=None).T, atol=1e-4)


def test_frame_count_equals_librosa_framing():
    for n, n_fft, hop in ((16000, 512, 320), (16000, 400, 160), (8000, 256, 80), (512, 512, 1)):
        frames = librosa.util.frame(np.zeros(n), frame_length=n_fft, hop_length=hop)
        assert frame_count(n, n_fft, hop) == frames.shape[-1]
        assert frame_count(n, n_fft, hop, center=True) == librosa.stft(
            np.zeros(n), n_fft=n_fft, hop_length=hop, center=True).shape[-1]


def test_dct_is_scipys_orthonormal_dct_ii():
    C = maths.dct_matrix(13, 40)
    eye = np.eye(40)
    np.testing.assert_allclose(C, scipy.fft.dct(eye, type=2, norm="ortho", axis=0)[:13],
                               atol=1e-6)
    full = maths.dct_matrix(40, 40).astype(np.float64)
    np.testing.assert_allclose(full @ full.T, eye, atol=1e-5)


def test_mel_band_centres_are_the_filters_peaks():
    cfg = FeatureConfig()
    centres = maths.mel_band_centres(cfg)
    ref = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax, htk=True)
    np.testing.assert_allclose(centres, ref[1:-1], rtol=1e-6)
    np.testing.assert_allclose(maths.mel_to_hz(maths.hz_to_mel(centres)), centres, rtol=1e-9)
    bins = np.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate)
    peaks = bins[maths.mel_matrix(cfg).argmax(axis=1)]
    assert np.abs(peaks - centres).max() <= cfg.sample_rate / cfg.n_fft  # within one bin
