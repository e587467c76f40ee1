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
