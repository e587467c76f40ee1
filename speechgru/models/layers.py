"""Pooling over time, each in two forms: over a whole sequence, and one step at a time
with its state (``stream=True``) — equal on the same frames from zero states."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="speechgru")
class AttentionPooling(keras.layers.Layer):
    """Additive attention over time: ``α_t = softmax_t(vᵀ tanh(W h_t + b))``, ``Σ α_t h_t``.

    With ``return_weights=True`` returns ``(pooled, α)`` (α of shape ``(batch, time)``).

    ``stream=True``: called on ``[h_t (batch, 1, d), m, s, acc]`` it returns ``[pooled, m,
    s, acc]`` — the softmax computed online (Milakov & Gimelshein 2018): ``m`` the largest
    score so far (batch, 1), ``s = Σ exp(score − m)`` (batch, 1), ``acc = Σ exp(score − m)
    h`` (batch, d); zero states (``s = 0``) mean nothing seen yet. :meth:`state_sizes`
    gives their widths.
    """

    def __init__(self, units=64, return_weights=False, stream=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_weights = return_weights
        self.stream = stream
        self.supports_masking = not stream

    def state_sizes(self, d: int) -> list[int]:
        return [1, 1, d]

    def build(self, input_shape):
        d = (input_shape[0] if self.stream else input_shape)[-1]
        self.w = self.add_weight(shape=(d, self.units), name="w",
                                 initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), name="b", initializer="zeros")
        self.v = self.add_weight(shape=(self.units,), name="v", initializer="random_normal")

    def _scores(self, h):
        return ops.tensordot(ops.tanh(ops.matmul(h, self.w) + self.b), self.v, axes=1)

    def call(self, inputs, mask=None):
        if self.stream:
            return self._step(*inputs)
        h = inputs
        scores = self._scores(h)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        alpha = ops.softmax(scores, axis=-1)
        pooled = ops.sum(h * ops.expand_dims(alpha, -1), axis=1)
        return (pooled, alpha) if self.return_weights else pooled

    def _step(self, h, m, s, acc):
        h = h[:, 0, :]
        score = ops.expand_dims(self._scores(h), -1)                 # (batch, 1)
        seen = ops.cast(s > 0, s.dtype)
        m_new = seen * ops.maximum(m, score) + (1.0 - seen) * score
        keep = seen * ops.exp(ops.minimum(m - m_new, 0.0))          # rescales the past
        a = ops.exp(score - m_new)
        s_new = s * keep + a
        acc_new = acc * keep + a * h
        return [acc_new / s_new, m_new, s_new, acc_new]

    def compute_output_shape(self, input_shape):
        if self.stream:
            h, m, s, acc = input_shape
            return [acc, m, s, acc]
        pooled = (input_shape[0], input_shape[-1])
        return (pooled, input_shape[:2]) if self.return_weights else pooled

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "return_weights": self.return_weights, "stream": self.stream}


@keras.saving.register_keras_serializable(package="speechgru")
class MeanPooling(keras.layers.Layer):
    """The mean over time. ``stream=True``: ``[h_t (batch, 1, d), sum (batch, d), count
    (batch, 1)]`` → ``[mean so far, sum, count]``."""

    def __init__(self, stream=False, **kwargs):
        super().__init__(**kwargs)
        self.stream = stream

    def state_sizes(self, d: int) -> list[int]:
        return [d, 1]

    def call(self, inputs):
        if not self.stream:
            return ops.mean(inputs, axis=1)
        h, total, count = inputs
        total = total + h[:, 0, :]
        count = count + 1.0
        return [total / count, total, count]

    def compute_output_shape(self, input_shape):
        if self.stream:
            return [input_shape[1], input_shape[1], input_shape[2]]
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "stream": self.stream}


@keras.saving.register_keras_serializable(package="speechgru")
class CausalConv(keras.layers.Layer):
    """A 2-D convolution over (time, feature) that is causal in time: output frame t sees
    input frames t − k_t + 1 … t (frames before the first are zeros), ``same`` padding and
    a stride over the feature axis, ReLU. Sequences come and go flat, (batch, time,
    features · channels): the input holds ``in_channels`` channels per feature bin, the
    output ``filters`` channels per output bin.

    ``stream=True``: called on ``[x_t (batch, 1, F·C), past (batch, (k_t − 1)·F·C)]`` it
    returns ``[y_t, past']`` — ``past`` holds the last k_t − 1 input frames, zeros at the
    start, so a stream from zero states equals the sequence form frame by frame.
    """

    def __init__(self, filters=16, kernel=(3, 3), feature_stride=2, in_channels=1,
                 stream=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel = tuple(int(k) for k in kernel)
        self.feature_stride = int(feature_stride)
        self.in_channels = int(in_channels)
        self.stream = stream

    def out_bins(self, in_bins: int) -> int:
        return -(-in_bins // self.feature_stride)

    def state_sizes(self, flat_in: int) -> list[int]:
        return [(self.kernel[0] - 1) * flat_in]

    def build(self, input_shape):
        flat = (input_shape[0] if self.stream else input_shape)[-1]
        if flat % self.in_channels:
            raise ValueError(f"{flat} input values per frame are not a whole number of "
                             f"{self.in_channels}-channel bins")
        self.bins = flat // self.in_channels
        self.w = self.add_weight(shape=(*self.kernel, self.in_channels, self.filters),
                                 name="kernel", initializer="he_uniform")
        self.b = self.add_weight(shape=(self.filters,), name="bias", initializer="zeros")

    def _conv(self, x):
        """``x`` (batch, time ≥ k_t, bins, channels) → (batch, time − k_t + 1, out_bins ·
        filters)."""
        kf, s = self.kernel[1], self.feature_stride
        total = max((self.out_bins(self.bins) - 1) * s + kf - self.bins, 0)
        x = ops.pad(x, [[0, 0], [0, 0], [total // 2, total - total // 2], [0, 0]])
        y = ops.relu(ops.conv(x, self.w, strides=(1, s), padding="valid") + self.b)
        return ops.reshape(y, (ops.shape(y)[0], ops.shape(y)[1],
                               self.out_bins(self.bins) * self.filters))

    def call(self, inputs):
        k_t, bins, c = self.kernel[0], self.bins, self.in_channels
        if self.stream:
            x, past = inputs
            window = ops.concatenate([ops.reshape(past, (-1, k_t - 1, bins, c)),
                                      ops.reshape(x, (-1, 1, bins, c))], axis=1)
            return [self._conv(window), ops.reshape(window[:, 1:], (-1, (k_t - 1) * bins * c))]
        x = ops.reshape(inputs, (ops.shape(inputs)[0], ops.shape(inputs)[1], bins, c))
        return self._conv(ops.pad(x, [[0, 0], [k_t - 1, 0], [0, 0], [0, 0]]))

    def compute_output_shape(self, input_shape):
        flat_out = self.out_bins(self.bins) * self.filters
        if self.stream:
            return [(input_shape[0][0], 1, flat_out), input_shape[1]]
        return (input_shape[0], input_shape[1], flat_out)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel": list(self.kernel),
                "feature_stride": self.feature_stride, "in_channels": self.in_channels,
                "stream": self.stream}
