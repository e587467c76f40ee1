"""Training augmentation in the feature domain, on cached MFCCs, with TF ops.

With the orthonormal DCT, MFCCs map back to the log-mel spectrogram
(``log_mel = mfcc @ C`` — exact when ``n_mfcc == n_mels``, a cepstral smoothing
otherwise). In the mel *power* domain the augmentations are those usually done on audio:

* **noise mixing** at a random SNR: ``P = P_speech + g·P_noise`` with
  ``g = mean(P_speech) / (mean(P_noise) · 10^(SNR/10))`` (expected powers add; the cross
  term of the two waveforms averages out), noise from background-noise clips;
* **vocal-tract-length perturbation** (VTLP): the spectrum is stretched by a random factor
  α ∈ [1 − ``vtlp``, 1 + ``vtlp``] — band i takes the level at frequency f_i / α
  (interpolated between mel bands), as if a speaker with a shorter or longer vocal
  tract had said it;
* **time shift** by up to ±``time_shift_ms`` (frames shifted in are the clip's quietest
  level per band);
* **SpecAugment** time and frequency masks (masked cells set to the clip's mean level).

Then back to MFCCs. Everything is stateless-random from a seed tensor, so the same
(seed, epoch, batch) gives the same augmentation — a resumed run sees the same data.
"""

from __future__ import annotations

import numpy as np

from ..config import FeatureConfig, TrainConfig
from ..errors import ConfigError
from ..features.maths import dct_matrix, hz_to_mel, mel_band_centres


def _to_db(power, amin):
    import tensorflow as tf

    return 10.0 * tf.math.log(tf.maximum(power, amin)) / np.log(10.0)


def vtlp_warp(mel, alpha, features: FeatureConfig):
    """Stretch log-mel spectra ``mel`` (batch, frames, n_mels) by ``alpha`` (batch,): band i
    takes the level at frequency ``f_i / alpha``, interpolated linearly between the bands
    (HTK mel: band centres are equally spaced in mel); frequencies beyond the first or
    last band take its level."""
    import tensorflow as tf

    n = features.n_mels
    mel_lo, mel_hi = float(hz_to_mel(features.fmin)), float(hz_to_mel(features.fmax))
    step = (mel_hi - mel_lo) / (n + 1)
    centres = mel_band_centres(features)
    src_hz = tf.constant(centres.astype(np.float32))[None, :] / alpha[:, None]
    pos = (2595.0 * tf.math.log(1.0 + src_hz / 700.0) / np.log(10.0) - mel_lo) / step - 1
    pos = tf.clip_by_value(pos, 0.0, n - 1.0)
    i0 = tf.minimum(tf.cast(tf.floor(pos), tf.int32), n - 2)
    frac = (pos - tf.cast(i0, tf.float32))[:, None, :]
    a = tf.gather(mel, i0, axis=2, batch_dims=1)
    b = tf.gather(mel, i0 + 1, axis=2, batch_dims=1)
    return a + frac * (b - a)


def make_augmenter(features: FeatureConfig, train: TrainConfig, noise_mfcc: np.ndarray):
    """A function ``(x, y, seed) -> (x', y)`` on batches of MFCC frames.

    ``noise_mfcc``: MFCC frames of background-noise clips, shape ``(M, frames, n_mfcc)``.
    """
    import tensorflow as tf

    if features.deltas:
        raise ConfigError("feature-domain augmentation needs deltas=0 in the features config "
                          "(or set train.augment=false)")
    if features.log != "db":
        raise ConfigError("feature-domain augmentation needs log='db' in the features config")
    C = tf.constant(dct_matrix(features.n_mfcc, features.n_mels))
    noise_db = tf.constant(np.asarray(noise_mfcc, np.float32) @ dct_matrix(
        features.n_mfcc, features.n_mels))
    num_noise = int(noise_mfcc.shape[0])
    T = features.num_frames
    n_mels = features.n_mels
    max_shift = int(round(train.time_shift_ms / 1000 * features.sample_rate
                          / features.hop_length))
    amin = features.amin
    lo, hi = (float(v) for v in train.snr_db)
    def augment(x, y, seed):
        seeds = tf.random.experimental.stateless_split(seed, 8)
        B = tf.shape(x)[0]
        mel = tf.matmul(x, C)  # (B, T, n_mels) in dB
        if train.vtlp:
            alpha = tf.random.stateless_uniform([B], seeds[7], 1.0 - train.vtlp,
                                                1.0 + train.vtlp)
            mel = vtlp_warp(mel, alpha, features)
        # time shift: frame t takes frame t - k; out-of-range frames get the band minimum
        k = tf.random.stateless_uniform([B], seeds[0], -max_shift, max_shift + 1, tf.int32)
        src = tf.range(T)[None, :] - k[:, None]
        valid = (src >= 0) & (src < T)
        shifted = tf.gather(mel, tf.clip_by_value(src, 0, T - 1), batch_dims=1)
        floor = tf.reduce_min(mel, axis=1, keepdims=True)
        mel = tf.where(valid[..., None], shifted, floor)
        # noise at a random SNR
        if num_noise:
            idx = tf.random.stateless_uniform([B], seeds[1], 0, num_noise, tf.int32)
            noise = tf.gather(noise_db, idx)
            noise_shift = tf.random.stateless_uniform([B], seeds[6], 0, T, tf.int32)
            noise = tf.gather(noise, (tf.range(T)[None, :] + noise_shift[:, None]) % T,
                              batch_dims=1)
            snr = tf.random.stateless_uniform([B], seeds[2], lo, hi)
            use = tf.random.stateless_uniform([B], seeds[3]) < train.noise_prob
            p_s = tf.pow(10.0, mel / 10.0)
            p_n = tf.pow(10.0, noise / 10.0)
            gain = (tf.reduce_mean(p_s, axis=[1, 2]) / (tf.reduce_mean(p_n, axis=[1, 2])
                                                         * tf.pow(10.0, snr / 10.0)))
            gain = tf.where(use, gain, tf.zeros_like(gain))
            mel = _to_db(p_s + gain[:, None, None] * p_n, amin)
        # SpecAugment masks
        mean = tf.reduce_mean(mel, axis=[1, 2], keepdims=True)
        keep = tf.ones_like(mel, dtype=tf.bool)
        t_idx = tf.range(T)[None, :, None]
        f_idx = tf.range(n_mels)[None, None, :]
        for i in range(train.time_masks):
            s = tf.random.experimental.stateless_split(seeds[4], train.time_masks)[i]
            w = tf.random.stateless_uniform([B], s, 0, train.time_mask_frames + 1, tf.int32)
            t0 = tf.random.stateless_uniform([B], s[::-1], 0, T, tf.int32)
            keep &= ~((t_idx >= t0[:, None, None]) & (t_idx < (t0 + w)[:, None, None]))
        for i in range(train.freq_masks):
            s = tf.random.experimental.stateless_split(seeds[5], train.freq_masks)[i]
            w = tf.random.stateless_uniform([B], s, 0, train.freq_mask_bands + 1, tf.int32)
            f0 = tf.random.stateless_uniform([B], s[::-1], 0, n_mels, tf.int32)
            keep &= ~((f_idx >= f0[:, None, None]) & (f_idx < (f0 + w)[:, None, None]))
        mel = tf.where(keep, mel, mean)
        return tf.matmul(mel, C, transpose_b=True), y

    return augment
