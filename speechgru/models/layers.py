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
