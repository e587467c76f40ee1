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
from ..utils import die_with_parent, import_tensorflow_quietly, native_stderr_hidden

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8", "int16x8")


def _convert_one(tf, saved_model: str, out: str, mode: str, calib: str | None) -> None:
    conv = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif mode in ("int8", "int16x8"):
        data = np.load(calib, allow_pickle=False)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if isinstance(data, np.ndarray):  # one input: rows of it
            conv.representative_dataset = lambda: ([x[None]] for x in data)
        else:  # named inputs (.npz): one sample = the i-th row of every array
            arrays = {k: data[k] for k in data.files}
            n = len(next(iter(arrays.values())))
            conv.representative_dataset = lambda: (
                {k: v[i:i + 1] for k, v in arrays.items()} for i in range(n))
        # int16x8: int8 weights, int16 activations (TFLite's "16x8" mode)
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode == "int8" else
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        # one scale per weight tensor, not per output channel: a GRU's 384-channel kernels
        # carry a float scale and an int64 zero point per channel, 37 KB of the 220 KB
        # stream_int8; measured on 1,816 held-out clips: the same accuracy (88.2 % vs
        # 88.1 %) and agreement with float (97.8 % vs 97.5 %), 183 KB
        conv._experimental_disable_per_channel = True
        conv.inference_input_type = conv.inference_output_type = (
            tf.int8 if mode == "int8" else tf.int16)
    with native_stderr_hidden():  # the MLIR converter's progress lines
        model = conv.convert()
    Path(out).write_bytes(model)


def _serve(conn, parent: int) -> None:
    """The converter process: imports TensorFlow once, then converts each job it is sent
    (``(saved_model, out, mode, calib)``; ``None`` ends it) and answers None or the error."""
    die_with_parent(parent)
    import warnings

    tf = import_tensorflow_quietly()
    # the converter's own int8 calibration still drives tf.lite.Interpreter; the package's
    # parity checks use ai_edge_litert
    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            _convert_one(tf, *job)
            conn.send(None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent as text
            conn.send(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:500]}")


class Converter:
    """The TFLite converter in a child process that lives for several conversions (it
    imports TensorFlow once: about 5 s saved per file). A conversion that crashes the
    process (full-int8 calibration of a ``WHILE`` loop does) or outlives ``timeout``
    becomes an :class:`ExportError` for that file, and the next one gets a new process.
    Use as a context manager; the child also dies with this process."""

    def __init__(self, timeout: float = 900):
        self.timeout = timeout
        self._ctx = mp.get_context("spawn")
        self._proc = self._conn = None

    def _start(self) -> None:
        self._conn, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child, os.getpid()), daemon=True)
        self._proc.start()
        child.close()

    def __call__(self, saved_model: Path, out: Path, mode: str,
                 calib: Path | None = None) -> None:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        self._conn.send((str(saved_model), str(out), mode, str(calib) if calib else None))
        if not self._conn.poll(self.timeout):
            self.close(kill=True)
            raise ExportError(f"{out.name}: the TFLite converter did not finish in "
                              f"{self.timeout:.0f} s")
        try:
            err = self._conn.recv()
        except (EOFError, ConnectionResetError):
            self._proc.join(5)
            code = self._proc.exitcode
            self._proc = None
            err = f"the converter crashed (exit code {code})"
        if err:
            raise ExportError(f"{out.name}: conversion failed: {err}")

    def close(self, kill: bool = False) -> None:
        if self._proc is not None:
            if kill:
                self._proc.kill()
            else:
                try:
                    self._conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
            self._proc.join(30)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        self._proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def convert(saved_model: Path, out: Path, mode: str, calib: Path | None = None,
            timeout: float = 900) -> None:
    """One conversion in its own child process (see :class:`Converter`)."""
    with Converter(timeout) as conv:
        conv(saved_model, out, mode, calib)


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
        results.append(probs[0])
    return np.stack(results), float(np.median(times) * 1e3)


def run_tflite(path: Path, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Outputs for each row of ``x`` (float), and the median latency per call in ms."""
    from ..runtime.tflite import _open

    it = _open(path, 1, "missing")
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    results, times = [], []
    for row in x:
        it.set_tensor(inp["index"], quantize(row[None], inp))
        t = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t)
        results.append(dequantize(it.get_tensor(out["index"]), out)[0])
    return np.stack(results), float(np.median(times) * 1e3)
