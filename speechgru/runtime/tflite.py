"""LiteRT interpreters as the runtime drives them: (de)quantization of int8 tensors,
opening a model file with a named error, the per-frame front end and the stream step."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import FeatureConfig, frame_count
from ..errors import ExportError
from ..utils import native_stderr_hidden

_QUANTIZED = (np.int8, np.int16)


def quantize(v: np.ndarray, detail: dict) -> np.ndarray:
    """A float array → the input tensor's type (int8 and int16 inputs use their scale and
    zero point)."""
    kind = detail["dtype"]
    if kind not in _QUANTIZED:
        return np.asarray(v).astype(kind)
    scale, zero = detail["quantization"]
    lo, hi = np.iinfo(kind).min, np.iinfo(kind).max
    # rint (half to even, as np.round) and maximum/minimum: 4.6 µs a hop where np.clip
    # took 7 (the int8 stream quantizes a frame every hop)
    return np.minimum(np.maximum(np.rint(v / scale + zero), lo), hi).astype(kind)


def dequantize(v: np.ndarray, detail: dict) -> np.ndarray:
    """An output tensor → float (int8 and int16 outputs use their scale and zero point)."""
    if detail["dtype"] not in _QUANTIZED:
        return v
    scale, zero = detail["quantization"]
    return (v.astype(np.float32) - zero) * scale


def _open(path: Path, num_threads: int, missing: str):
    """An allocated interpreter for ``path``, or an :class:`ExportError` naming the file."""
    from ai_edge_litert.interpreter import Interpreter

    if not path.is_file():
        raise ExportError(f"{path}: {missing}")
    try:
        with native_stderr_hidden():  # "Created TensorFlow Lite XNNPACK delegate"
            it = Interpreter(model_path=str(path), num_threads=num_threads)
            it.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise ExportError(f"{path}: not a valid TFLite model ({exc})") from None
    return it


def state_carry(i: dict, o: dict, what: str):
    """How a state goes from its output tensor ``o`` to its input tensor ``i`` between
    steps: None (float, or one quantization on both sides: the codes as they are), a
    256-entry table (int8: the very rounding a float round trip makes), or a float round
    trip (int16, whose two quantizations the 16x8 converter does not tie)."""
    if i["dtype"] not in _QUANTIZED and o["dtype"] not in _QUANTIZED:
        return None
    if i["dtype"] != o["dtype"]:
        raise ExportError(f"{what}: input {np.dtype(i['dtype']).name}, output "
                          f"{np.dtype(o['dtype']).name}")
    if tuple(i["quantization"]) == tuple(o["quantization"]):
        return None
    if i["dtype"] != np.int8:
        return lambda out: quantize(dequantize(out, o), i)
    every = np.arange(-128, 128).astype(np.int8)  # the output's codes, in order
    table = quantize(dequantize(every, o), i)
    if np.array_equal(table, every):
        return None
    # int8 codes -128..127 index the table as 0..255 (sign bit flipped)
    return lambda out: table[out.view(np.uint8) ^ 0x80]


class FrameFrontend:
    """``frontend.tflite``: the training MFCC of frames of PCM (TF-free). An export of this
    version computes up to ``batch`` frames per call (resized to the frames at hand: 11 µs
    a frame for 5 at once against 16 µs one at a time, measured here); an older one, fixed
    at one frame, is called once per frame."""

    def __init__(self, path: Path, features: FeatureConfig, num_threads: int = 1,
                 batch: int = 64):
        self.interpreter = _open(path, num_threads,
                                 "missing (export the model again with this version)")
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        n_fft, n_mfcc = features.n_fft, features.n_mfcc
        if tuple(self._in["shape"]) != (1, n_fft) or int(self._out["shape"][-1]) != n_mfcc:
            raise ExportError(f"{path}: does not match features.json (n_fft {n_fft}, "
                              f"n_mfcc {n_mfcc})")
        self.n_fft, self.hop, self.n_mfcc = n_fft, features.hop_length, n_mfcc
        self.batch = batch if self._in["shape_signature"][0] == -1 else 1
        self._size = 1  # the interpreter's current batch

    def frame(self, chunk: np.ndarray) -> np.ndarray:
        """MFCC row ``(1, n_mfcc)`` of ``n_fft`` samples."""
        return self.frames(chunk[:self.n_fft], 1)

    def frames(self, pcm: np.ndarray, count: int | None = None) -> np.ndarray:
        """MFCC rows ``(count, n_mfcc)`` of the frames of ``pcm`` (``center=False``, as in
        training; default: every whole frame)."""
        if count is None:
            count = max(0, frame_count(len(pcm), self.n_fft, self.hop))
        out = np.empty((count, self.n_mfcc), np.float32)
        it, n_fft, hop = self.interpreter, self.n_fft, self.hop
        for b in range(0, count, self.batch):
            n = min(self.batch, count - b)
            if n != self._size:
                it.resize_tensor_input(self._in["index"], [n, n_fft])
                it.allocate_tensors()
                self._size = n
            rows = np.empty((n, n_fft), np.float32)
            for j in range(n):
                rows[j] = pcm[(b + j) * hop:(b + j) * hop + n_fft]
            it.set_tensor(self._in["index"], rows)
            it.invoke()
            out[b:b + n] = it.get_tensor(self._out["index"]).reshape(n, -1)
        return out

    def clip(self, pcm: np.ndarray) -> np.ndarray:
        """MFCC frames ``(frames, n_mfcc)`` of a clip (``center=False``, as in training)."""
        return self.frames(pcm)


class StreamStep:
    """``stream_*.tflite``: one GRU step of ``batch`` streams at once, ``(frames, states) ->
    (probabilities, states)``, with the states kept by the caller *in the model's own
    types*: an int8 model's states stay int8 between steps. The export gives each state
    input its output's quantization, so the codes go back as they are; an older export's
    int8 state is carried by a 256-entry table (the very rounding a float round trip would
    make). A hop costs no float (de)quantization of the states; the frames are quantized
    (:meth:`codes`, a block at a time) and the probabilities dequantized when asked for.
    The interpreter is driven by tensor index.

    ``batch`` > 1 resizes the model's batch (exports of this version are resizable); a file
    fixed at batch 1 (an older export) keeps it, and :attr:`batch` says which.
    """

    def __init__(self, path: Path, n_mfcc: int, num_labels: int | None = None,
                 num_threads: int = 1, batch: int = 1):
        have = sorted(q.name for q in path.parent.glob("*.tflite"))
        it = _open(path, num_threads, f"missing; this directory has {have}")
        try:
            runner = it.get_signature_runner()
        except ValueError as exc:
            raise ExportError(f"{path}: not a streaming model ({exc})") from None
        self._ins, self._outs = runner.get_input_details(), runner.get_output_details()
        del runner  # it holds the interpreter's buffers; the steps go by tensor index
        if tuple(self._ins.get("frame", {}).get("shape", ())) != (1, n_mfcc) or \
                "probabilities" not in self._outs:
            raise ExportError(f"{path}: not a streaming model for {n_mfcc} MFCCs per frame "
                              "(features.json and the model differ)")
        if num_labels is not None and int(self._outs["probabilities"]["shape"][-1]) != num_labels:
            raise ExportError(f"{path}: output size differs from labels.txt")
        self.state_names = sorted(k for k in self._ins if k.startswith("state_"))
        if any(k not in self._outs for k in self.state_names):
            raise ExportError(f"{path}: a state input has no state output of the same name")
        self.interpreter, self.batch = it, 1
        self.resizable = all(d["shape_signature"][0] == -1 for d in self._ins.values())
        self.resize(batch)
        self._frame = self._ins["frame"]
        self._probs = self._outs["probabilities"]
        self._carry = [(k, self._ins[k]["index"], self._outs[k]["index"],
                        state_carry(self._ins[k], self._outs[k], f"{path}: state {k}"))
                       for k in self.state_names]

    def resize(self, batch: int) -> int:
        """Step ``batch`` streams per call from now on (a file fixed at batch 1 stays so);
        returns the batch in effect."""
        if self.resizable and batch >= 1 and batch != self.batch:
            for d in self._ins.values():
                self.interpreter.resize_tensor_input(d["index"], [batch, *d["shape"][1:]])
            self.interpreter.allocate_tensors()
            self.batch = batch
        return self.batch

    def zero_states(self, rows: int | None = None) -> dict[str, np.ndarray]:
        """The zero state of each layer for ``rows`` streams (default :attr:`batch`), in
        the model's types (int8: its zero point)."""
        n = self.batch if rows is None else rows
        return {k: quantize(np.zeros((n, *self._ins[k]["shape"][1:]), np.float32),
                            self._ins[k])
                for k in self.state_names}

    def codes(self, frames: np.ndarray) -> np.ndarray:
        """Float MFCC frames in the model's input type (int8: quantized), for many steps at
        once."""
        return quantize(np.asarray(frames, np.float32), self._frame)

    def clips(self, xs: np.ndarray) -> np.ndarray:
        """Clips ``(n, frames, n_mfcc)`` from zero states, ``n`` streams at once (resized to
        ``n`` and back) → the probabilities after each clip's last frame ``(n, labels)``:
        the clip classifier as the step looped over the frames."""
        before = self.batch
        n, frames = xs.shape[:2]
        if self.resize(n) != n:  # a file fixed at batch 1: one clip at a time
            return np.concatenate([self.clips(xs[r:r + 1]) for r in range(n)])
        # frame-major (each step's rows contiguous), quantized in one go; the states stay in
        # the interpreter, each output set straight back as the next step's input
        rows = np.ascontiguousarray(self.codes(xs).swapaxes(0, 1))
        it = self.interpreter
        set_tensor, get_tensor, invoke = it.set_tensor, it.get_tensor, it.invoke
        zero = self.zero_states(n)
        for k, i, _, _ in self._carry:
            set_tensor(i, zero[k])
        frame = self._frame["index"]
        for t in range(frames):
            if t:
                for _, i, o, carry in self._carry:
                    out = get_tensor(o)
                    set_tensor(i, out if carry is None else carry(out))
            set_tensor(frame, rows[t])
            invoke()
        probs = dequantize(get_tensor(self._probs["index"]), self._probs)
        self.resize(before)
        return probs

    def __call__(self, frames: np.ndarray, states: dict, probabilities: bool = True
                 ) -> tuple[np.ndarray | None, dict]:
        """``frames`` (streams, n_mfcc) float → probabilities (streams, labels; None when
        not asked for) and the new states. Frames already in the model's input type
        (:meth:`codes`) go in as they are (quantizing one int8 frame costs more than the
        step itself: 5 µs against 3). More streams than a file fixed at batch 1 takes are
        stepped one call each."""
        if self.batch == 1 and len(frames) > 1:
            rows = [self(frames[r:r + 1], {k: v[r:r + 1] for k, v in states.items()},
                         probabilities) for r in range(len(frames))]
            return (np.concatenate([p for p, _ in rows]) if probabilities else None,
                    {k: np.concatenate([st[k] for _, st in rows]) for k in states})
        it = self.interpreter
        if frames.dtype != self._frame["dtype"]:
            frames = quantize(frames, self._frame)
        it.set_tensor(self._frame["index"], frames)
        for k, i, _, _ in self._carry:
            it.set_tensor(i, states[k])
        it.invoke()
        new = {}
        for k, _, o, carry in self._carry:
            out = it.get_tensor(o)
            new[k] = out if carry is None else carry(out)
        if not probabilities:
            return None, new
        return dequantize(it.get_tensor(self._probs["index"]), self._probs), new
