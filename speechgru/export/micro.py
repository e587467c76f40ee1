"""``micro/`` in every export: the streaming model for TensorFlow Lite for Microcontrollers
(``stream_int16.tflite``: int8 weights, int16 activations, on which TFLM gives LiteRT's
answers; ``stream_int8.tflite`` when the export has no int16 file) — the file as a C
array (``model_data.cc``/``.h``), the operators to register, its tensors in call order
with their quantization, and the tensor arena size measured by the TFLM interpreter (the
``tflite-micro`` package) — plus a README for firmware. Also the TFLM runner the tests
compare with LiteRT.

TFLM's Python interpreter crashes (SIGSEGV) in a process that has loaded TensorFlow, so
everything that runs it happens in a child process (``python -m speechgru.export.micro``)
that imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..utils import atomic_write_text, native_stderr_hidden

# in order of preference: with int16 activations TFLM and LiteRT agree (300 real clips:
# the same top-1 on all, |Δp| ≤ 0.0003); the int8 kernels of the two round a step apart
# and 49 steps of carried int8 state add the steps up (98.7 %, 0.066)
MODELS = ("stream_int16.tflite", "stream_int8.tflite")


def available() -> bool:
    try:
        import tflite_micro  # noqa: F401
    except ImportError:
        return False
    return True


def _child(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m speechgru.export.micro ARGS`` (TFLM never runs beside TensorFlow)."""
    done = subprocess.run([sys.executable, "-m", "speechgru.export.micro", *args],
                          capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise RuntimeError(f"the TFLM child failed ({done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")
    return done


def arena_bytes(path: Path) -> int | None:
    """The smallest tensor arena (to 64 bytes) in which the TFLM interpreter allocates the
    model in ``path``, or None when ``tflite-micro`` is not installed. The search starts
    from the interpreter's own record of what it allocated (which leaves out ~1 KiB of its
    bookkeeping); each probe runs in its own process."""
    if not available():
        return None
    done = _child("record", str(path), check=False)
    found = re.search(r"Arena allocation total (\d+) bytes", done.stdout + done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{path}: the TFLM interpreter did not load it (exit code "
                           f"{done.returncode}): {done.stderr.strip()[-300:]}")

    def fits(size: int) -> bool:
        return _child("fits", str(path), str(size), check=False).returncode == 0

    lo = int(found.group(1)) - 1
    hi = 2 * lo + 4096
    while not fits(hi):
        lo, hi = hi, 2 * hi
        if hi > 64 << 20:
            return None
    while hi - lo > 64:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def _print_allocations(path: Path) -> None:
    from tflite_micro import runtime

    runtime.Interpreter.from_file(str(path), arena_size=16 << 20).print_allocations()


def _fits(path: Path, size: int) -> None:
    """Exit code 0 when the model allocates in ``size`` bytes, 1 otherwise (one interpreter
    per process: after a failed allocation the wrapper may crash)."""
    from tflite_micro import runtime

    try:
        with native_stderr_hidden():
            runtime.Interpreter.from_file(str(path), arena_size=size)
    except RuntimeError:
        raise SystemExit(1) from None


def c_array(data: bytes, name: str) -> tuple[str, str]:
    """``(header, source)`` holding ``data`` as an aligned ``const unsigned char`` array."""
    header = (f"// {name}: {len(data)} bytes, written by speechgru export\n"
              "#pragma once\n\n"
              f"extern const unsigned char {name}[];\n"
              f"extern const unsigned int {name}_len;\n")
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 12]) for i in range(0, len(data), 12)]
    source = (f'#include "model_data.h"\n\n'
              f"alignas(16) const unsigned char {name}[] = {{\n  "
              + ",\n  ".join(rows) + "\n};\n"
              f"const unsigned int {name}_len = {len(data)};\n")
    return header, source


def _tensors(path: Path) -> tuple[list[dict], list[dict]]:
    """Input and output details in the subgraph's own order (TFLM's tensor numbers), each
    with its signature name under ``"signature_name"``."""
    from ai_edge_litert.interpreter import Interpreter

    with native_stderr_hidden():
        it = Interpreter(str(path))
    runner = it.get_signature_runner()
    named_in = {d["index"]: n for n, d in runner.get_input_details().items()}
    named_out = {d["index"]: n for n, d in runner.get_output_details().items()}
    ins = [{**d, "signature_name": named_in[d["index"]]} for d in it.get_input_details()]
    outs = [{**d, "signature_name": named_out[d["index"]]} for d in it.get_output_details()]
    return ins, outs


def write_micro(model_dir: Path, name: str, ops: list[str]) -> dict:
    """Write ``model_dir/micro/`` for the model file ``name`` (one of :data:`MODELS`);
    returns which file and what it measured."""
    path = model_dir / name
    data = path.read_bytes()
    out = model_dir / "micro"
    out.mkdir(exist_ok=True)
    header, source = c_array(data, "g_model")
    atomic_write_text(out / "model_data.h", header)
    atomic_write_text(out / "model_data.cc", source)
    arena = arena_bytes(path)
    inputs, outputs = _tensors(path)

    def rows(details):
        return [f"| {i} | `{d['signature_name']}` | {tuple(int(v) for v in d['shape'])} | "
                f"{np.dtype(d['dtype']).name} | {d['quantization'][0]:.6g} | "
                f"{d['quantization'][1]} |" for i, d in enumerate(details)]

    # TFLM's registration is Add + the builtin's name in CamelCase (FULLY_CONNECTED →
    # AddFullyConnected, CONV_2D → AddConv2D)
    adds = "\n".join(f"  resolver.Add{op.title().replace('_', '')}();" for op in ops)
    text = "\n".join([
        "# The keyword spotter on a microcontroller (TensorFlow Lite for Microcontrollers)",
        "",
        f"`model_data.cc` holds `{name}` ({len(data):,} bytes) as `g_model`. Call it once "
        "per hop with one MFCC row and the states it returned last time (zeros at the start "
        "of a window); it returns the label probabilities and the new states. Each state "
        "output shares its input's quantization, so copy it back byte for byte.", "",
        *(["It is int8 weights with int16 activations, on which TFLM gives LiteRT's "
           "answers; the int8 stream (`../stream_int8.tflite`, a smaller arena, the same "
           "operators) parts from LiteRT on a few clips in a hundred, as the two runtimes' "
           "int8 kernels round a step apart and 49 steps of carried int8 state add the "
           "steps up.", ""]
          if name == "stream_int16.tflite" else []),
        "## Tensor arena", "",
        (f"**{arena:,} bytes**: the smallest arena in which the TFLM interpreter allocates "
         "this model (to 64 bytes; measured by `tflite-micro`)." if arena else
         "Not measured here (install `tflite-micro` and export again)."), "",
        "## Operators to register", "",
        "```cpp", f"static tflite::MicroMutableOpResolver<{len(ops)}> resolver;", adds, "```",
        "", "## Inputs, in call order (quantized value = real / scale + zero point)", "",
        "| # | name | shape | type | scale | zero point |", "|---|---|---|---|---|---|",
        *rows(inputs), "", "## Outputs", "",
        "| # | name | shape | type | scale | zero point |", "|---|---|---|---|---|---|",
        *rows(outputs), "",
        "## The front end", "",
        "`frontend.tflite` uses RFFT2D, which TFLM does not have. Compute the MFCC row on the",
        "device as `../features.json` says: 512-sample frames every 320 samples, periodic Hann",
        "window of 480 samples zero-padded to 512, |FFT|², HTK mel filters, 10·log10(max(·,",
        "1e-10)), orthonormal DCT-II; the reference maths is `speechgru/features/maths.py`.",
        ""])
    atomic_write_text(out / "README.md", text)
    return {"model": name, "arena_bytes": arena, "bytes": len(data)}


def run_stream(path: Path, frames: np.ndarray, *, use_micro: bool) -> np.ndarray:
    """The stream model over ``frames`` (clips, T, features) from zero states, in TFLM
    (``use_micro``, in a child process) or LiteRT, both driven by tensor index; the last
    step's probabilities (clips, labels), dequantized."""
    if use_micro:
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "x.npy", frames)
            _child("stream", str(path), str(Path(tmp) / "x.npy"), str(Path(tmp) / "y.npy"))
            return np.load(Path(tmp) / "y.npy")
    return _run_stream_here(path, frames, use_micro=False)


def _run_stream_here(path: Path, frames: np.ndarray, *, use_micro: bool) -> np.ndarray:
    from ..runtime.tflite import dequantize, quantize, state_carry

    inputs, outputs = _tensors(path)
    names_in = [d["signature_name"] for d in inputs]
    names_out = [d["signature_name"] for d in outputs]
    if use_micro:
        from tflite_micro import runtime

        with native_stderr_hidden():
            it = runtime.Interpreter.from_file(str(path), arena_size=4 << 20)
        set_input, invoke = it.set_input, it.invoke
        get = it.get_output
    else:
        from ai_edge_litert.interpreter import Interpreter

        with native_stderr_hidden():
            lit = Interpreter(str(path), num_threads=1)
        lit.allocate_tensors()

        def set_input(v, i):
            lit.set_tensor(inputs[i]["index"], v)

        invoke = lit.invoke

        def get(i):
            return lit.get_tensor(outputs[i]["index"])

    d_out = dict(zip(names_out, outputs, strict=True))
    carry = {n: state_carry(d, d_out[n], f"{path}: state {n}")
             for n, d in zip(names_in, inputs, strict=True) if n != "frame"}
    results = []
    for clip in frames:
        states = {n: np.zeros(d["shape"], d["dtype"]) + np.asarray(d["quantization"][1],
                                                                   d["dtype"])
                  for n, d in zip(names_in, inputs, strict=True) if n != "frame"}
        for row in clip:
            for i, (n, d) in enumerate(zip(names_in, inputs, strict=True)):
                set_input(quantize(row[None].astype(np.float32), d) if n == "frame"
                          else states[n], i)
            invoke()
            outs = {n: get(i).copy() for i, n in enumerate(names_out)}
            states = {n: outs[n] if carry[n] is None else carry[n](outs[n])
                      for n in states}
        probs = outs["probabilities"]
        results.append(dequantize(probs, outputs[names_out.index("probabilities")])[0])
    return np.stack(results)


def _main(argv: list[str]) -> None:
    if argv[0] == "record":
        _print_allocations(Path(argv[1]))
    elif argv[0] == "fits":
        _fits(Path(argv[1]), int(argv[2]))
    elif argv[0] == "stream":
        y = _run_stream_here(Path(argv[1]), np.load(argv[2]), use_micro=True)
        np.save(argv[3], y)
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    _main(sys.argv[1:])
