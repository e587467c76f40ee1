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
    Path(out).write_bytes(_finish(model))


def _finish(model: bytes) -> bytes:
    """The converted flatbuffer, tidied: inner tensors' names emptied (the converter's
    fused op names, up to hundreds of bytes each; inputs, outputs and signatures keep
    theirs), and each quantized state input given its output's quantization
    (:func:`_tie_states`)."""
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    for graph in m.subgraphs:
        keep = {*graph.inputs, *graph.outputs}
        for i, tensor in enumerate(graph.tensors):
            if i not in keep:
                tensor.name = ""
    _tie_states(m, flatbuffer_utils.opcode_to_name)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


# ops whose kernels take every input's scale as it is (FULLY_CONNECTED: once its bias is
# requantized); an op that passes its input's quantization through (RESHAPE, SPLIT, ...)
# would need its output changed as well, so a state read by one keeps its own
_RESCALABLE = {"FULLY_CONNECTED", "ADD", "SUB", "MUL", "CONCATENATION"}


def _tie_states(m, opcode_to_name) -> None:
    """Give every quantized ``state_k`` input the quantization of the ``state_k`` output,
    so a runtime (or firmware) carries the state between steps by copying its codes, with
    no arithmetic (the converter calibrates the two apart: 0.0078427214 against
    0.0078427223 in a demo model; the runtime then needed a table or a float round trip)."""
    for sig in m.signatureDefs or []:
        graph = m.subgraphs[sig.subgraphIndex]
        ins = {t.name.decode(): t.tensorIndex for t in sig.inputs}
        outs = {t.name.decode(): t.tensorIndex for t in sig.outputs}
        for name in sorted(n for n in ins if n.startswith("state_") and n in outs):
            src, dst = graph.tensors[outs[name]], graph.tensors[ins[name]]
            q = src.quantization
            if src.type == dst.type and q is not None and q.scale is not None and \
                    len(q.scale) == 1:
                rescale_input(m, graph, ins[name], float(q.scale[0]), int(q.zeroPoint[0]),
                              opcode_to_name)


def rescale_input(m, graph, index: int, scale: float, zero_point: int,
                  opcode_to_name) -> bool:
    """Give the quantized input tensor ``index`` of ``graph`` (in the flatbuffer object
    ``m``) a new scale and zero point, keeping the model's arithmetic: the kernels reading
    it derive their scales from it when prepared, and a FULLY_CONNECTED's int32/int64 bias
    (whose scale must be input scale × weight scale) is requantized. Returns False, and
    changes nothing, where that is not enough: a reader that passes its input's
    quantization through (RESHAPE, SPLIT, ...), or a bias shared with another op."""
    tensor = graph.tensors[index]
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        return False
    old = float(q.scale[0])
    if old == scale and int(q.zeroPoint[0]) == zero_point:
        return True
    readers = [op for op in graph.operators if index in [int(i) for i in op.inputs]]
    if any(opcode_to_name(m, op.opcodeIndex) not in _RESCALABLE or (
            opcode_to_name(m, op.opcodeIndex) == "FULLY_CONNECTED"
            and int(op.inputs[0]) != index) for op in readers):
        return False
    uses: dict[int, int] = {}
    for op in graph.operators:
        for i in op.inputs:
            uses[int(i)] = uses.get(int(i), 0) + 1
    kinds = {2: np.int32, 4: np.int64}  # the schema's INT32 and INT64
    biases = [int(op.inputs[2]) for op in readers
              if opcode_to_name(m, op.opcodeIndex) == "FULLY_CONNECTED"
              and int(op.inputs[0]) == index and len(op.inputs) > 2 and int(op.inputs[2]) >= 0]
    if any(uses.get(b, 0) != 1 or graph.tensors[b].type not in kinds or
           m.buffers[graph.tensors[b].buffer].data is None for b in biases):
        return False
    for b in biases:
        bias, kind = graph.tensors[b], kinds[graph.tensors[b].type]
        buf = m.buffers[bias.buffer]
        codes = np.frombuffer(bytes(bytearray(buf.data)), kind).astype(np.float64)
        buf.data = np.rint(codes * old / scale).astype(kind).view(np.uint8)
        bias.quantization.scale = [float(bias.quantization.scale[0]) * scale / old]
    q.scale, q.zeroPoint = [scale], [zero_point]
    return True


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
    states, one clip at a time; returns the last probabilities per clip and the median ms
    per step."""
    from ..runtime.tflite import StreamStep

    step = StreamStep(path, x.shape[-1])
    results, times = [], []
    for clip in x:
        t = time.perf_counter()
        results.append(step.clips(clip[None])[0])
        times.append((time.perf_counter() - t) / len(clip))
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
