"""The TFLite converter, run in a child process (a converter crash is an error message,
not a dead program), and the LiteRT runs that check what it wrote."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

from ..errors import ExportError
from ..runtime.tflite import dequantize, quantize
from ..utils import die_with_parent

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


def _convert_worker(saved_model: str, out: str, mode: str, calib: str | None, conn,
                    parent: int) -> None:
    die_with_parent(parent)
    try:
        import tensorflow as tf

        conv = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if mode == "dynamic":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        elif mode == "float16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        elif mode == "int8":
            data = np.load(calib, allow_pickle=False)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if isinstance(data, np.ndarray):  # one input: rows of it
                conv.representative_dataset = lambda: ([x[None]] for x in data)
            else:  # named inputs (.npz): one sample = the i-th row of every array
                arrays = {k: data[k] for k in data.files}
                n = len(next(iter(arrays.values())))
                conv.representative_dataset = lambda: (
                    {k: v[i:i + 1] for k, v in arrays.items()} for i in range(n))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        Path(out).write_bytes(conv.convert())
        conn.send(None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        conn.send(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:500]}")


def convert(saved_model: Path, out: Path, mode: str, calib: Path | None = None,
            timeout: float = 900) -> None:
    """Convert in a child process; a crash or an error becomes an :class:`ExportError`."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_convert_worker,
                    args=(str(saved_model), str(out), mode, str(calib) if calib else None,
                          child, os.getpid()))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        raise ExportError(f"{out.name}: the TFLite converter did not finish in {timeout:.0f} s")
    err = parent.recv() if parent.poll() else f"the converter crashed (exit code {p.exitcode})"
    if err:
        raise ExportError(f"{out.name}: conversion failed: {err}")


def run_stream_tflite(path: Path, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Run a ``stream_*`` model over each clip of ``x`` (clips, frames, features) from zero
    states; returns the last probabilities per clip and the median ms per step."""
    from ..runtime.tflite import StreamStep

    step = StreamStep(path, x.shape[-1])
    results, times = [], []
    for clip in x:
        states = step.zero_states()
        for frame in clip:
            t = time.perf_counter()
            probs, states = step(frame[None].astype(np.float32), states)
            times.append(time.perf_counter() - t)
        results.append(probs)
    return np.stack(results), float(np.median(times) * 1e3)


def run_tflite(path: Path, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Outputs for each row of ``x`` (float), and the median latency per call in ms."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    results, times = [], []
    for row in x:
        it.set_tensor(inp["index"], quantize(row[None], inp))
        t = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t)
        results.append(dequantize(it.get_tensor(out["index"]), out)[0])
    return np.stack(results), float(np.median(times) * 1e3)
