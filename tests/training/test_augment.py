"""Feature-domain augmentation against what each step means in the mel power domain."""

import numpy as np
import pytest
import tensorflow as tf

from speechgru.config import FeatureConfig, TrainConfig
from speechgru.features.maths import dct_matrix
from speechgru.training.augment import make_augmenter, vtlp_warp

F = FeatureConfig()
C = dct_matrix(F.n_mfcc, F.n_mels)
OFF = dict(noise_prob=0.0, time_shift_ms=0.0, time_masks=0, freq_masks=0, vtlp=0.0, speed=0.0,
           reverb_prob=0.0, gain_db=0.0, eq_db=0.0)
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


def _impulse(frame: int, level: float = 60.0) -> np.ndarray:
    """MFCCs of a log-mel that is -60 dB everywhere but ``level`` dB in one frame."""
    mel = np.full((1, F.num_frames, F.n_mels), -60.0, np.float32)
    mel[0, frame] = level
    return mel @ C.T


def test_speed_moves_an_event_about_the_centre_and_stretches_the_spectrum():
    from speechgru.training.augment import speed_resample

    T = F.num_frames
    mel = np.zeros((1, T, 4), np.float32)
    mel[0, 34] = 10.0
    c = (T - 1) / 2
    for s in (0.9, 1.15):
        out = speed_resample(tf.constant(mel), tf.constant([s]), tf.zeros([1, 1, 4])).numpy()
        # output frame t reads c + (t - c)·s, linearly interpolated: the event at 34 now
        # sits at c + (34 - c)/s, a tent of width 1/s frames
        pos = c + (np.arange(T) - c) * s
        np.testing.assert_allclose(out[0, :, 0], 10 * np.maximum(0, 1 - np.abs(pos - 34)),
                                   atol=1e-4)
    # in the augmenter the spectrum is stretched as well: frames far from any edge equal
    # a pure VTLP warp with alpha = s when the clip is constant over time
    band = np.arange(F.n_mels, dtype=np.float32)
    flat = np.tile(10 * np.sin(band / 5), (1, T, 1)).astype(np.float32)
    out = run(x=flat @ C.T, speed=0.15) @ C
    assert np.abs(out - flat).max() > 0.5
    errors = {a: np.abs(vtlp_warp(tf.constant(flat[:, :1]), tf.constant([a], tf.float32), F)
                        .numpy()[0, 0] - out[0, T // 2]).max()
              for a in np.linspace(0.85, 1.15, 601)}
    got_alpha = [a for a, e in errors.items() if e < 0.05]
    assert got_alpha, "the spectrum is not a stretch within ±15 %"


def test_reverb_kernel_decays_60_db_per_rt60_and_holds_the_drr():
    from speechgru.training.augment import reverb_kernel

    hop = F.hop_length / F.sample_rate
    h = reverb_kernel(tf.constant([0.4, 0.8]), tf.constant([3.0, 10.0]), 200, hop).numpy()
    assert np.all(h[:, 0] == 1.0)
    slope = 10 * np.log10(h[:, 2] / h[:, 1]) / hop  # dB per second
    np.testing.assert_allclose(slope, [-60 / 0.4, -60 / 0.8], rtol=1e-4)
    np.testing.assert_allclose(10 * np.log10(h[:, 1:].sum(1)), [-3.0, -10.0], atol=1e-3)


def test_reverb_in_the_augmenter_adds_a_decaying_tail_after_an_event():
    from speechgru.training.augment import REVERB_RT60_S

    out = run(x=_impulse(10), reverb_prob=1.0) @ C
    assert np.all(out[0, :10] < -55.0)  # causal: nothing before the event
    np.testing.assert_allclose(out[0, 10], 60.0, atol=0.01)  # the direct sound is kept
    tail = out[0, 11:16, 0]
    step = np.diff(tail)  # constant dB per frame, within the drawn RT60 range
    np.testing.assert_allclose(step, step[0], atol=0.05)
    hop = F.hop_length / F.sample_rate
    assert -60 * hop / REVERB_RT60_S[0] - 0.01 <= step[0] <= -60 * hop / REVERB_RT60_S[1] + 0.01


def test_gain_and_eq_add_one_smooth_curve_to_every_frame():
    out = run(gain_db=6.0, eq_db=3.0) @ C
    diff = out - X @ C
    np.testing.assert_allclose(diff, np.broadcast_to(diff[:, :1], diff.shape), atol=1e-2)
    curve = diff[:, 0]
    assert np.abs(curve).max() <= 6.0 + 2 * 3.0 + 1e-2 and np.abs(curve).max() > 0.5
    # two cosines over the band index: the second difference is small everywhere
    assert np.abs(np.diff(curve, 2, axis=1)).max() < 0.1
    gain_only = (run(gain_db=6.0) @ C) - X @ C
    np.testing.assert_allclose(gain_only, np.broadcast_to(gain_only[:, :1, :1], diff.shape),
                               atol=1e-2)


def test_band_limit_floors_every_band_above_its_cutoff():
    """As 8 kHz audio resampled: the bands above the cutoff at the floor, the rest as they
    were; a clip either whole or band-limited."""
    from speechgru.features.maths import mel_band_centres

    out = run(band_limit=1.0) @ C
    mel = X @ C
    centres = mel_band_centres(F)
    floor = 10 * np.log10(F.amin)
    for b in range(len(X)):
        low = np.flatnonzero(np.abs(out[b] - floor).max(axis=0) > 0.5)
        cut = low.max() + 1  # the bands kept are the lowest ones, as they were
        np.testing.assert_allclose(out[b, :, :cut], mel[b, :, :cut], atol=0.2)
        np.testing.assert_allclose(out[b, :, cut:], floor, atol=0.2)
        assert 3400 <= centres[cut] and centres[cut - 1] <= 5000
    np.testing.assert_allclose(run(band_limit=0.0), X, atol=1e-3)
