"""The MFCC of :mod:`speechgru.features.maths` as TensorFlow ops (TFLite builtins only).

Frames (``center=False``) × librosa's window → RFFT (power-of-two length, TFLite's RFFT2D) →
|·|² → librosa's own mel matrix (a constant) → ``10·log10(max(·, amin))`` → orthonormal
DCT-II matrix (a constant). ``tf.signal``'s mel and DCT helpers use other definitions, so
only the FFT comes from TF.
"""

from __future__ import annotations

import numpy as np

from ..config import FeatureConfig
from ..errors import ConfigError
from .maths import dct_matrix, mel_matrix, window


class MFCCFrontend:
    """``__call__(pcm)``: float32 PCM ``(batch, samples)`` → MFCC ``(batch, frames, n_mfcc)``."""

    def __init__(self, config: FeatureConfig):
        if config.center:
            raise ConfigError("the in-graph front end needs center=False")
        if config.deltas:
            raise ConfigError("the in-graph front end does not compute deltas (deltas=0)")
        self.config = config
        self.window = window(config)
        self.mel_t = mel_matrix(config).T.copy()  # (bins, n_mels)
        self.dct_t = dct_matrix(config.n_mfcc, config.n_mels).T.copy()  # (n_mels, n_mfcc)

    def __call__(self, pcm):
        import tensorflow as tf

        c = self.config
        frames = tf.signal.frame(pcm, c.n_fft, c.hop_length, pad_end=False)
        spec = tf.signal.rfft(frames * self.window, fft_length=[c.n_fft])
        power = tf.math.square(tf.math.real(spec)) + tf.math.square(tf.math.imag(spec))
        mel = tf.matmul(power, self.mel_t)
        if c.log == "db":
            logmel = tf.math.log(tf.maximum(mel, c.amin)) * np.float32(10.0 / np.log(10.0))
        else:
            logmel = tf.math.log(mel + c.amin)
        return tf.matmul(logmel, self.dct_t)


def mfcc_layer(config: FeatureConfig):
    """A Keras layer computing :class:`MFCCFrontend` (for the raw-audio export models)."""
    import keras

    class MFCC(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.frontend = MFCCFrontend(config)

        def call(self, pcm):
            return self.frontend(pcm)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], config.num_frames, config.n_mfcc)

    return MFCC(name="mfcc_frontend")
