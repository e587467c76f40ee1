"""Feature-domain augmentation against what each step means in the mel power domain."""

import numpy as np
import pytest
import tensorflow as tf

from speechgru.config import FeatureConfig, TrainConfig
from speechgru.features.maths import dct_matrix
from speechgru.training.augment import make_augmenter, vtlp_warp

F = FeatureConfig()
C = dct_matrix(F.n_mfcc, F.n_mels)
OFF = dict(noise_prob=0.0, time_shift_ms=0.0, time_masks=0, freq_masks=0, vtlp=0.0)
rng = np.random.default_rng(0)
X = rng.normal(0, 20, (6, F.num_frames, F.n_mfcc)).astype(np.float32)
NOISE = rng.normal(0, 10, (3, F.num_frames, F.n_mfcc)).astype(np.float32)
SEED = tf.constant([1, 2], tf.int64)


def run(x=X, seed=SEED, **train):
    aug = make_augmenter(F, TrainConfig(**{**OFF, **train}), NOISE)
    return aug(tf.constant(x), tf.zeros([len(x), 12]), seed)[0].numpy()


def test_everything_off_is_the_identity():
    np.testing.assert_allclose(run(), X, atol=1e-3)


def test_same_seed_same_result_other_seed_other_result():
    on = dict(noise_prob=0.8, time_shift_ms=100.0, time_masks=2, freq_masks=2, vtlp=0.1)
    a, b = run(**on), run(**on)
    np.testing.assert_array_equal(a, b)
    assert np.abs(run(seed=tf.constant([1, 3], tf.int64), **on) - a).max() > 1.0


def test_time_shift_moves_whole_frames():
    out = run(time_shift_ms=100.0) @ C  # back to log-mel
    mel = X @ C
    max_k = round(0.1 * F.sample_rate / F.hop_length)
    for b in range(len(X)):
        ks = [k for k in range(-max_k, max_k + 1)
              if np.allclose(out[b, max_k:-max_k], mel[b, max_k - k:F.num_frames - max_k - k],
                             atol=1e-2)]
        assert len(ks) == 1


def test_noise_is_mixed_at_the_drawn_snr():
    out = run(noise_prob=1.0, snr_db=(10.0, 10.0))
    p_in = 10 ** ((X @ C) / 10)
    p_out = 10 ** ((out @ C) / 10)
    added = (p_out - p_in).mean(axis=(1, 2))
    np.testing.assert_allclose(p_in.mean(axis=(1, 2)) / added, 10.0, rtol=1e-2)
    assert np.all(p_out >= p_in * (1 - 1e-3))  # noise only adds power


@pytest.mark.parametrize("alpha", [0.9, 1.0, 1.12])
def test_vtlp_reads_each_band_at_f_over_alpha(alpha):
    # a spectrum whose level is the band's own mel value: linear in the band index, so the
    # interpolation is exact and band i must read mel(f_i / alpha)
    n = F.n_mels
    mel_lo, mel_hi = (2595 * np.log10(1 + f / 700) for f in (F.fmin, F.fmax))
    centres_mel = mel_lo + (mel_hi - mel_lo) / (n + 1) * np.arange(1, n + 1)
    centres_hz = 700 * (10 ** (centres_mel / 2595) - 1)
    level = np.tile(centres_mel.astype(np.float32), (1, 3, 1))
    out = vtlp_warp(tf.constant(level), tf.constant([alpha], tf.float32), F).numpy()[0, 0]
    expected = np.clip(2595 * np.log10(1 + centres_hz / alpha / 700), centres_mel[0],
                       centres_mel[-1])
    np.testing.assert_allclose(out, expected, rtol=1e-4)


def test_vtlp_in_the_augmenter_changes_the_spectrum_by_a_stretch():
    out = run(vtlp=0.1)
    assert np.abs(out - X).max() > 1.0
    # a stretch never creates levels outside each frame's range
    mel, got = X @ C, out @ C
    assert np.all(got.max(-1) <= mel.max(-1) + 1e-3) and np.all(got.min(-1) >= mel.min(-1) - 1e-3)
