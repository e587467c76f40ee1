"""The second look's frame arithmetic: a candidate's window is the stream's own frames,
padded with silence at the very start or end of a recording, never a crash."""

from __future__ import annotations

import numpy as np
import pytest

from speechgru.config import FeatureConfig
from speechgru.runtime.verifier import Context, FrameTape


def test_the_window_is_the_frames_around_the_candidate():
    f = FeatureConfig()  # 20 ms hop, 30 ms frames (512-point FFT, centre 16 ms)
    ctx = Context(f, before=1.5, after=1.0)
    assert ctx.frames == 125
    frames = np.arange(1000, dtype=np.float32)[:, None].repeat(3, axis=1)
    pad = np.full(3, -1.0, np.float32)
    w = ctx.cut(frames, 5.0, pad)
    first = ctx.start(5.0)
    # the frame whose centre is 1.5 s before the candidate starts it
    assert abs((first * f.hop_length + f.n_fft / 2) / f.sample_rate - 3.5) <= 0.01
    assert np.array_equal(w[:, 0], np.arange(first, first + 125, dtype=np.float32))


@pytest.mark.parametrize("time", [0.0, 0.3, 19.9, 25.0])
def test_a_candidate_at_the_edges_is_padded(time):
    f = FeatureConfig()
    ctx = Context(f, 1.5, 1.0)
    frames = np.ones((1000, 4), np.float32)  # 20 s of stream
    pad = np.zeros(4, np.float32)
    w = ctx.cut(frames, time, pad)
    assert w.shape == (125, 4)
    inside = [ctx.start(time) + i for i in range(125)]
    expect = np.array([1.0 if 0 <= t < 1000 else 0.0 for t in inside], np.float32)
    assert np.array_equal(w[:, 0], expect)


def test_the_tape_keeps_the_last_frames_and_cuts_as_the_whole_stream():
    f = FeatureConfig()
    ctx = Context(f, 1.0, 0.5)
    stream = np.random.default_rng(0).standard_normal((900, 2)).astype(np.float32)
    tape = FrameTape(2, keep=ctx.frames + 10)
    pad = np.zeros(2, np.float32)
    rng = np.random.default_rng(1)
    at = 0
    while at < len(stream):
        n = int(rng.integers(1, 40))
        tape.add(stream[at:at + n])
        at += n
        assert len(tape._buf) <= tape.keep and tape.count == min(at, len(stream))
    t = 17.4  # its window lies within the kept frames
    assert ctx.end(t) <= tape.count and ctx.start(t) >= tape.first
    assert np.array_equal(tape.window(ctx, t, pad), ctx.cut(stream, t, pad))


def test_absurd_context_is_refused():
    with pytest.raises(ValueError):
        Context(FeatureConfig(), before=-1, after=1)
    with pytest.raises(ValueError):
        Context(FeatureConfig(), before=0, after=0)
