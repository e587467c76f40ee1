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
* **speed perturbation** by a factor s ∈ [1 − ``speed``, 1 + ``speed``] (kws_streaming's
  ±15 %): playing audio s times faster makes it 1/s as long *and* scales every frequency
  by s, so frames are resampled in time about the clip's centre (linear interpolation) and
  the spectrum is stretched as by VTLP with α = s;
* **room reverberation** (probability ``reverb_prob``): the mel power of each band is
  convolved over frames with an exponentially decaying tail, ``h[0] = 1``,
  ``h[k] = r·10^(−6·k·hop/RT60)`` — the late-reverberation model of the power spectrum
  (Lebart et al. 2001) — with RT60 drawn in ``REVERB_RT60_S`` and ``r`` set so that the
  tail's energy is ``DRR`` dB below the direct sound, DRR drawn in ``REVERB_DRR_DB``;
* **gain and EQ**: every level moves by a gain drawn in ±``gain_db``, and by a smooth
  curve over the bands (the first two cosines over the band index, each with an amplitude
  drawn in ±``eq_db``) — microphones and rooms colour the spectrum, and levels differ;
* **band limit** (probability ``band_limit``): every band above a cutoff drawn in
  ``BAND_LIMIT_HZ`` goes to the floor (``amin``), as audio recorded at 8 kHz (a phone line,
  a cheap microphone) and resampled to 16 kHz has no power there; after the noise, which
  passes through the same channel;
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


#: RT60 (seconds) and direct-to-reverberant ratio (dB) ranges of the simulated rooms: from a
#: furnished living room to a bare hall, the tail from just audible to as loud as the word.
REVERB_RT60_S = (0.15, 0.8)
REVERB_DRR_DB = (0.0, 12.0)


def reverb_kernel(rt60, drr_db, frames: int, hop_seconds: float):
    """The per-frame power response ``h`` (batch, frames) of rooms with reverberation time
    ``rt60`` (batch,) seconds and direct-to-reverberant ratio ``drr_db`` (batch,):
    ``h[:, 0] = 1``; the tail decays by 60 dB per RT60 and holds 10^(−DRR/10) of the
    direct energy in all."""
    import tensorflow as tf

    k = tf.range(1, frames, dtype=tf.float32)[None, :]
    tail = tf.pow(10.0, -6.0 * k * hop_seconds / rt60[:, None])
    scale = tf.pow(10.0, -drr_db / 10.0) / tf.reduce_sum(tail, axis=1)
    return tf.concat([tf.ones_like(rt60)[:, None], scale[:, None] * tail], axis=1)


def reverberate(power, h):
    """Each band of ``power`` (batch, frames, bands) convolved causally over frames with
    ``h`` (batch, frames): out[t] = Σ_{k ≤ t} h[k]·power[t − k]."""
    import tensorflow as tf

    T = tf.shape(power)[1]
    lag = tf.range(T)[:, None] - tf.range(T)[None, :]  # (t, t') -> t - t'
    M = tf.gather(h, tf.maximum(lag, 0), axis=1) * tf.cast(lag >= 0, h.dtype)[None]
    return tf.matmul(M, power)


def speed_resample(mel, speed, floor):
    """Frames of ``mel`` (batch, frames, bands) as heard ``speed`` (batch,) times faster:
    output frame t reads source position c + (t − c)·speed about the centre c (linear
    interpolation); positions outside the clip take ``floor`` (batch, 1, bands)."""
    import tensorflow as tf

    T = tf.shape(mel)[1]
    c = (tf.cast(T, tf.float32) - 1.0) / 2.0
    t = tf.range(T, dtype=tf.float32)[None, :]
    pos = c + (t - c) * speed[:, None]
    i0 = tf.cast(tf.floor(pos), tf.int32)
    frac = (pos - tf.cast(i0, tf.float32))[..., None]
    def at(i):
        ok = ((i >= 0) & (i < T))[..., None]
        return tf.where(ok, tf.gather(mel, tf.clip_by_value(i, 0, T - 1), batch_dims=1), floor)
    return at(i0) * (1.0 - frac) + at(i0 + 1) * frac


#: the cutoffs of the band limit: a phone line (3.4 kHz) to audio sampled at 10 kHz
BAND_LIMIT_HZ = (3400.0, 5000.0)


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
    centres = tf.constant(mel_band_centres(features), tf.float32)
    def augment(x, y, seed):
        seeds = tf.random.experimental.stateless_split(seed, 8)
        extra = tf.random.experimental.stateless_split(seeds[7], 8)  # keeps older draws
        B = tf.shape(x)[0]
        mel = tf.matmul(x, C)  # (B, T, n_mels) in dB
        floor = tf.reduce_min(mel, axis=1, keepdims=True)
        alpha = tf.ones([B])
        if train.vtlp:
            alpha = tf.random.stateless_uniform([B], seeds[7], 1.0 - train.vtlp,
                                                1.0 + train.vtlp)
        if train.speed:
            speed = tf.random.stateless_uniform([B], extra[0], 1.0 - train.speed,
                                                1.0 + train.speed)
            mel = speed_resample(mel, speed, floor)
            alpha = alpha * speed
        if train.vtlp or train.speed:
            mel = vtlp_warp(mel, alpha, features)
        if train.reverb_prob:
            rt60 = tf.random.stateless_uniform([B], extra[1], *REVERB_RT60_S)
            drr = tf.random.stateless_uniform([B], extra[2], *REVERB_DRR_DB)
            use = tf.random.stateless_uniform([B], extra[3]) < train.reverb_prob
            h = reverb_kernel(rt60, drr, T, features.hop_length / features.sample_rate)
            wet = _to_db(reverberate(tf.pow(10.0, mel / 10.0), h), amin)
            mel = tf.where(use[:, None, None], wet, mel)
        if train.gain_db or train.eq_db:
            gain = tf.random.stateless_uniform([B, 1, 1], extra[4], -train.gain_db,
                                               train.gain_db + 1e-9)
            a = tf.random.stateless_uniform([B, 2], extra[5], -train.eq_db, train.eq_db + 1e-9)
            band = tf.range(n_mels, dtype=tf.float32) / max(n_mels - 1, 1)
            curve = (a[:, :1] * tf.cos(np.pi * band)[None]
                     + a[:, 1:] * tf.cos(2 * np.pi * band)[None])
            mel = mel + gain + curve[:, None, :]
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
        if train.band_limit:
            cut = tf.random.stateless_uniform([B], extra[6], *BAND_LIMIT_HZ)
            use = tf.random.stateless_uniform([B], extra[7]) < train.band_limit
            above = centres[None, :] > cut[:, None]  # (B, n_mels)
            mel = tf.where((above & use[:, None])[:, None, :],
                           tf.cast(10.0 * np.log10(amin), mel.dtype), mel)
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
