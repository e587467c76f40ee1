"""The temporal layers (pooling, the causal convolution): one step at a time with their state
equals the whole sequence."""

import keras
import numpy as np
import pytest

from speechgru.models import AttentionPooling, MeanPooling


def _stream(layer, h):
    """Run a ``stream=True`` layer over ``h`` (batch, time, d) from zero states; returns the
    output after every step, (batch, time, d)."""
    d = h.shape[-1]
    states = [np.zeros((h.shape[0], n), np.float32) for n in layer.state_sizes(d)]
    outs = []
    for t in range(h.shape[1]):
        pooled, *states = (np.asarray(v) for v in layer([h[:, t:t + 1], *states]))
        outs.append(pooled)
    return np.stack(outs, axis=1)


@pytest.mark.parametrize("scale", [1.0, 30.0])  # 30: scores far beyond exp's float range
def test_attention_pooling_online_softmax_equals_the_whole_sequence(scale):
    rng = np.random.default_rng(0)
    h = (rng.normal(size=(3, 12, 5)) * scale).astype(np.float32)
    whole = AttentionPooling(4)
    whole(h)
    whole.v.assign(whole.v * scale)  # large scores: the online max must rescale
    step = AttentionPooling(4, stream=True)
    step([h[:, :1], *(np.zeros((3, n), np.float32) for n in step.state_sizes(5))])
    step.set_weights(whole.get_weights())
    got = _stream(step, h)
    for t in range(1, h.shape[1]):
        ref = np.asarray(whole(h[:, :t + 1]))
        assert np.abs(got[:, t] - ref).max() <= 1e-5 * max(1.0, scale)
    assert np.isfinite(got).all()


def test_mean_pooling_running_mean_equals_the_whole_sequence():
    h = np.random.default_rng(1).normal(size=(2, 9, 4)).astype(np.float32)
    got = _stream(MeanPooling(stream=True), h)
    ref = np.cumsum(h, axis=1) / np.arange(1, 10)[None, :, None]
    np.testing.assert_allclose(got, ref, atol=1e-6)
    np.testing.assert_allclose(np.asarray(MeanPooling()(h)), h.mean(axis=1), atol=1e-6)


def test_attention_pooling_respects_a_mask_and_round_trips():
    h = np.random.default_rng(2).normal(size=(2, 6, 3)).astype(np.float32)
    layer = AttentionPooling(4, return_weights=True)
    mask = np.array([[True] * 6, [True] * 3 + [False] * 3])
    pooled, alpha = (np.asarray(v) for v in layer(h, mask=mask))
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-6)
    assert alpha[1, 3:].max() < 1e-6
    plain = AttentionPooling(4)  # the masked row pools as its first 3 frames alone
    plain(h[1:, :3])
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(pooled[1], np.asarray(plain(h[1:, :3]))[0], atol=1e-6)
    for cls, kw in ((AttentionPooling, {"units": 3, "stream": True}), (MeanPooling, {})):
        config = cls(**kw, name="p").get_config()
        assert cls.from_config(config).get_config() == config
    assert isinstance(keras.layers.deserialize(keras.layers.serialize(MeanPooling())),
                      MeanPooling)


@pytest.mark.parametrize("kernel,stride,bins,channels", [((3, 3), 2, 6, 1), ((2, 5), 3, 7, 2),
                                                          ((4, 1), 1, 5, 3)])
def test_causal_conv_equals_a_direct_sum_and_never_reads_the_future(kernel, stride, bins,
                                                                   channels):
    from speechgru.models.layers import CausalConv

    rng = np.random.default_rng(1)
    T, F = 9, 4
    x = rng.normal(size=(2, T, bins * channels)).astype(np.float32)
    layer = CausalConv(F, kernel, stride, in_channels=channels)
    y = np.asarray(layer(x))
    w, b = (np.asarray(v) for v in layer.weights)
    kt, kf = kernel
    out_bins = -(-bins // stride)
    pad = max((out_bins - 1) * stride + kf - bins, 0)
    xi = np.zeros((2, T + kt - 1, bins + pad, channels), np.float32)
    xi[:, kt - 1:, pad // 2:pad // 2 + bins] = x.reshape(2, T, bins, channels)
    ref = np.zeros((2, T, out_bins, F), np.float32)
    for t in range(T):
        for o in range(out_bins):
            patch = xi[:, t:t + kt, o * stride:o * stride + kf]  # frames t-kt+1 .. t
            ref[:, t, o] = np.einsum("btfc,tfcd->bd", patch, w) + b
    np.testing.assert_allclose(y, np.maximum(ref, 0).reshape(2, T, -1), atol=1e-5)
    changed = x.copy()
    changed[:, 5:] += 10.0
    np.testing.assert_array_equal(np.asarray(layer(changed))[:, :5], y[:, :5])
