"""The converter process: several files from one process, errors named, a dead process
replaced."""

import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from speechgru.errors import ExportError
from speechgru.export.convert import Converter, run_tflite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("sm") / "sm"
    inp = keras.Input((4,), batch_size=1)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
    model.export(str(path), input_signature=[tf.TensorSpec([1, 4], tf.float32)],
                 verbose=False)
    return path, model


def test_one_process_converts_several_files_and_is_replaced_when_it_dies(saved_model,
                                                                          tmp_path):
    path, model = saved_model
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with Converter(timeout=300) as convert:
        convert(path, tmp_path / "a.tflite", "float32")
        first = convert._proc.pid
        convert(path, tmp_path / "b.tflite", "dynamic")
        assert convert._proc.pid == first  # the same process, TensorFlow imported once
        with pytest.raises(ExportError, match="c.tflite: conversion failed"):
            convert(tmp_path / "missing", tmp_path / "c.tflite", "float32")
        os.kill(first, signal.SIGKILL)
        convert._proc.join(10)
        convert(path, tmp_path / "d.tflite", "float16")  # a new process takes over
        assert convert._proc.pid != first
        child = convert._proc
    assert not child.is_alive()  # closed with the context
    ref = np.asarray(model(x))
    for name in ("a", "d"):
        got, _ = run_tflite(tmp_path / f"{name}.tflite", x)
        np.testing.assert_allclose(got, ref, atol=1e-3)
    assert not (tmp_path / "c.tflite").exists()


def test_a_rescaled_state_input_keeps_the_arithmetic(exported, tmp_path):
    """What ties a state's input quantization to its output's (``rescale_input``) keeps the
    model: with each int8 state input's scale doubled the stream gives nearly the same
    probabilities on validation clips, as its FULLY_CONNECTED biases are requantized to
    match; doubling the scale alone (the biases as they were) moves them much further."""
    from tensorflow.lite.tools import flatbuffer_utils

    from speechgru.export.convert import rescale_input
    from speechgru.runtime.tflite import StreamStep

    root, _ = exported
    src = root / "model" / "stream_int8.tflite"
    x = np.load(root / "run" / "calibration.npz")["val_x"][:40]
    ref = StreamStep(src, x.shape[-1]).clips(x)
    got = {}
    for requantize in (True, False):
        m = flatbuffer_utils.read_model(str(src))
        graph = m.subgraphs[0]
        inputs = {t.name.decode(): t.tensorIndex for t in m.signatureDefs[0].inputs}
        for name in [n for n in inputs if n.startswith("state_")]:
            q = graph.tensors[inputs[name]].quantization
            if requantize:
                assert rescale_input(m, graph, inputs[name], 2 * float(q.scale[0]),
                                     int(q.zeroPoint[0]), flatbuffer_utils.opcode_to_name)
            else:
                q.scale = [2 * float(q.scale[0])]
        path = tmp_path / f"{requantize}.tflite"
        flatbuffer_utils.write_model(m, str(path))
        got[requantize] = float(np.abs(StreamStep(path, x.shape[-1]).clips(x) - ref).max())
    print(f"largest |Δp| rescaled {got[True]:.3f}, scale alone {got[False]:.3f}")
    assert got[True] <= 0.1 and got[False] > got[True]


def test_a_stream_variant_brings_its_front_end():
    """``--variants float32,stream_float32`` must not make an export that listen refuses
    (``frontend.tflite`` missing)."""
    from speechgru.export.variants import select

    names = [v.name for v in select(["float32", "stream_float32"])]
    assert names == ["float32.tflite", "frontend.tflite", "stream_float32.tflite"]
    assert [v.name for v in select(["float32"])] == ["float32.tflite"]
