"""Export a run to SavedModel + TFLite, with a parity report.

A model directory (written to a temporary folder, then renamed into place) holds::

    saved_model/         MFCC frames (1, T, F) → probabilities (Keras model.export)
    float32.tflite       MFCC frames → probabilities, builtins only
    float16.tflite       float16 weights (computed in float32)
    dynamic.tflite       dynamic-range quantized weights
    int8.tflite          full integer (int8 in/out), unrolled GRU, calibrated on real clips
    wave_float32.tflite  raw 16 kHz PCM (1, samples) → probabilities, MFCC in the graph
    frontend.tflite      one frame of PCM (1, n_fft) → its MFCC row (1, 1, n_mfcc)
    stream_float32.tflite  signature inputs frame (1, n_mfcc), state_i (1, units_i);
    stream_int8.tflite     outputs probabilities, state_i: one GRU step per hop
    labels.txt, features.json, export_report.json

The streaming models run one step per hop with the GRU states passed in and out (so the
device keeps them); from zero states over a clip's frames they give the clip's output.

Facts this module works around (TF 2.21, measured here): a GRU with batch ``None`` fails
builtins-only conversion (``tf.TensorListReserve ... element_shape``), so the batch is fixed
at 1; full-int8 calibration crashes the process on a ``WHILE`` loop, so the int8 copy is
unrolled; every conversion runs in a child process, so a converter crash is an error
message instead of a dead program.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import ConfigError, ExportError
from .runtime import dequantize, quantize
from .utils import TEMP_SUFFIX, atomic_write_text, die_with_parent, owned_tempdir, publish_tree

VARIANTS = ("float32", "float16", "dynamic", "int8")
STREAM_VARIANTS = ("float32", "int8")
# dynamic-range quantisation of the front end's mel and DCT constants wrecks the MFCC
# (measured: max |Δ| 0.96, 61 % top-1 agreement), so the raw-audio model ships as float32
WAVE_VARIANTS = ("float32",)


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


def _export_wave_model(model, features, path: Path) -> None:
    """Raw PCM (1, samples) → probabilities: the MFCC front end, then ``model`` (without a
    model: the front end alone, PCM → MFCC frames)."""
    import keras
    import tensorflow as tf

    from .frontend import mfcc_layer

    pcm = keras.Input((features.clip_samples,), batch_size=1, name="pcm")
    mfcc = mfcc_layer(features)(pcm)
    wave = keras.Model(pcm, model(mfcc) if model is not None else mfcc, name="wave")
    wave.export(str(path), input_signature=[
        tf.TensorSpec([1, features.clip_samples], tf.float32, name="pcm")], verbose=False)


def run_stream_tflite(path: Path, x: np.ndarray, keep_states: bool = False):
    """Run a ``stream_*`` model over each clip of ``x`` (clips, frames, features) from zero
    states; returns the last probabilities per clip, the median ms per step, and (with
    ``keep_states``) every step's inputs as a dict of arrays (for int8 calibration)."""
    from .runtime import StreamStep

    step = StreamStep(path, x.shape[-1])
    results, times, seen = [], [], []
    for clip in x:
        states = step.zero_states()
        for frame in clip:
            frame = frame[None].astype(np.float32)
            if keep_states:
                seen.append({"frame": frame, **states})
            t = time.perf_counter()
            probs, states = step(frame, states)
            times.append(time.perf_counter() - t)
        results.append(probs)
    kept = ({k: np.concatenate([s[k] for s in seen]) for k in seen[0]}
            if keep_states and seen else None)
    return np.stack(results), float(np.median(times) * 1e3), kept


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


def _convert_and_check(src: Path, path: Path, mode: str, calib: Path | None, run, ref,
                       y_val) -> dict:
    """Convert, run on the parity clips with ``run(path) -> (outputs, ms)``, compare."""
    try:
        convert(src, path, mode, calib)
    except ExportError as exc:
        return {"error": str(exc)}
    try:
        got, ms = run(path)
    except (RuntimeError, ValueError, KeyError, ExportError) as exc:
        return {"error": f"converted but does not run: {exc}"}
    return {"bytes": path.stat().st_size,
            "max_abs_delta": float(np.abs(got - ref).max()),
            "top1_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
            "accuracy": float((got.argmax(1) == y_val).mean()),
            "latency_ms": ms}


def _export_frontend(features, work: Path, out: Path, pcm: np.ndarray,
                     mfcc: np.ndarray) -> dict:
    """``frontend.tflite``: one frame of PCM → its MFCC row; checked against librosa."""
    import dataclasses

    n, hop = features.n_fft, features.hop_length
    # the raw-audio model's front end for a "clip" of exactly one frame
    one_frame = dataclasses.replace(features, clip_seconds=n / features.sample_rate)
    path = out / "frontend.tflite"
    try:
        _export_wave_model(None, one_frame, work / "frontend_sm")
        convert(work / "frontend_sm", path, "float32")
        chunks = np.stack([clip[t * hop:t * hop + n] for clip in pcm[:20]
                           for t in range(features.num_frames)])
        got, ms = run_tflite(path, chunks)
    except (ExportError, RuntimeError, ValueError) as exc:
        return {"error": str(exc)}
    delta = np.abs(got.reshape(-1, features.n_mfcc) - mfcc[:20].reshape(-1, features.n_mfcc))
    return {"bytes": path.stat().st_size, "max_abs_delta": float(delta.max()),
            "compared_with": "librosa MFCC", "latency_ms": ms}


def _export_stream(step, config, work: Path, out: Path, x_val: np.ndarray,
                   x_calib: np.ndarray, ref, y_val, report: dict) -> None:
    """``stream_float32`` and ``stream_int8``: one GRU step with states in and out."""
    import tensorflow as tf

    F = config.features.num_features
    specs = {"frame": tf.TensorSpec([1, F], tf.float32, name="frame")}
    for i, units in enumerate(config.model.units):
        specs[f"state_{i}"] = tf.TensorSpec([1, units], tf.float32, name=f"state_{i}")
    step.export(str(work / "stream_sm"), input_signature=[specs], verbose=False)
    for mode in STREAM_VARIANTS:
        name = f"stream_{mode}.tflite"
        calib = None
        if mode == "int8":
            float_path = out / "stream_float32.tflite"
            if not float_path.exists():
                report["models"][name] = {"error": "needs stream_float32.tflite for calibration"}
                continue
            # calibrate on the states the float model really visits on training clips
            _, _, seen = run_stream_tflite(float_path, x_calib[:50], keep_states=True)
            calib = work / "stream_calib.npz"
            np.savez(calib, **seen)
        r = _convert_and_check(work / "stream_sm", out / name, mode, calib,
                               lambda path: run_stream_tflite(path, x_val)[:2], ref, y_val)
        if "error" not in r:
            r["per"] = "hop"
        report["models"][name] = r


def _check_out_dir(out_dir: Path, run_dir: Path, force: bool) -> None:
    """``out_dir`` may be written: new, or (with ``force``) a model directory this package
    wrote that is not the run, an ancestor of it, the working or the home directory."""
    from .manifest import is_model_dir

    out, run = out_dir.resolve(), run_dir.resolve()
    protected = {"the run directory": run, "the working directory": Path.cwd().resolve(),
                 "the home directory": Path.home().resolve()}
    for what, p in protected.items():
        if p == out or p.is_relative_to(out):
            raise ExportError(f"{out_dir}: is {what} or holds it; choose another --out "
                              "(export never replaces it)")
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not force:
        raise ExportError(f"{out_dir} exists; pass --force to replace it")
    if out_dir.is_symlink() or not out_dir.is_dir() or not is_model_dir(out_dir):
        raise ExportError(f"{out_dir}: exists and is not a model directory written by "
                          "speechgru (no manifest.json); --force replaces only those: move "
                          "it away yourself or choose another --out")


def _swap_in(new: Path, out_dir: Path) -> None:
    """Rename ``new`` to ``out_dir``; an old model directory there is moved aside first and
    removed only once the new one is in place."""
    if not out_dir.exists():
        os.replace(new, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", suffix=TEMP_SUFFIX,
                                dir=out_dir.parent))
    os.replace(out_dir, old / out_dir.name)
    try:
        os.replace(new, out_dir)
    except BaseException:
        os.replace(old / out_dir.name, out_dir)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def export_run(run_dir: str | Path, out_dir: str | Path | None = None, *, force: bool = False,
               max_clips: int = 200, progress: bool = True) -> dict:
    """Export the best model of ``run_dir`` (which is all it needs: the parity and
    calibration clips were kept at training); returns the report (also written as JSON).
    Nothing exists at ``out_dir`` until the whole directory is ready; ``force`` replaces
    only a model directory this package wrote."""
    import tensorflow as tf

    from .frontend import MFCCFrontend
    from .manifest import write_manifest
    from .model import build_model, build_step_model, copy_weights, normalization_stats
    from .run_dir import RunDir

    run = RunDir(run_dir)
    config, labels, model = run.load()
    calib = run.calibration()
    out_dir = Path(out_dir) if out_dir else Path("models") / run.path.resolve().name
    _check_out_dir(out_dir, run.path, force)
    F = config.features
    T, D = F.num_frames, F.num_features
    x_val, y_val, pcm, x_train = (calib["val_x"][:max_clips], calib["val_y"][:max_clips],
                                  calib["val_pcm"][:max_clips], calib["train_x"][:max_clips])
    if x_val.shape[1:] != (T, D) or pcm.shape[1:] != (F.clip_samples,):
        raise ExportError(f"{run.path / 'calibration.npz'}: shapes {x_val.shape}, {pcm.shape} "
                          f"do not match config.json; the run directory is inconsistent")
    ref = model.predict(x_val, batch_size=256, verbose=0)

    with owned_tempdir(out_dir.parent, out_dir.name) as tmp:
        work = tmp / "work"
        work.mkdir()
        mean, var = normalization_stats(model)
        fixed = build_model(config.model, num_frames=T, num_features=D,
                            num_classes=len(labels), batch_size=1, mean=mean, variance=var)
        copy_weights(model, fixed)
        fixed.export(str(tmp / "saved_model"), input_signature=[
            tf.TensorSpec([1, T, D], tf.float32, name="mfcc")], verbose=False)
        np.save(work / "calib.npy", x_train.astype(np.float32))
        files = {}
        for mode in VARIANTS:
            src = tmp / "saved_model"
            if mode == "int8":
                unrolled = build_model(config.model, num_frames=T, num_features=D,
                                       num_classes=len(labels), batch_size=1, unroll=True,
                                       mean=mean, variance=var)
                copy_weights(model, unrolled)
                src = work / "unrolled"
                unrolled.export(str(src), input_signature=[
                    tf.TensorSpec([1, T, D], tf.float32, name="mfcc")], verbose=False)
            files[f"{mode}.tflite"] = (src, mode, x_val)
        report = {"run": str(run.path.resolve()), "clips": len(y_val), "labels": labels,
                  "models": {}}
        try:  # the in-graph front end exists for center=False without deltas
            MFCCFrontend(F)
        except ConfigError as exc:
            report["stream"] = f"no raw-audio, frontend or streaming models: {exc}"
        else:
            _export_wave_model(fixed, F, work / "wave_sm")
            for mode in WAVE_VARIANTS:
                files[f"wave_{mode}.tflite"] = (work / "wave_sm", mode, pcm)
        for name, (src, mode, x) in files.items():
            report["models"][name] = _convert_and_check(
                src, tmp / name, mode, work / "calib.npy",
                lambda path, x=x: run_tflite(path, x), ref, y_val)
        if "stream" not in report:
            report["models"]["frontend.tflite"] = _export_frontend(F, work, tmp, pcm, x_val)
            try:
                step = build_step_model(model)
            except ValueError as exc:
                report["stream"] = f"no streaming models: {exc}"
            else:
                _export_stream(step, config, work, tmp, x_val, x_train, ref, y_val, report)
        report["keras_accuracy"] = float((ref.argmax(1) == y_val).mean())
        report["failed"] = sorted(k for k, v in report["models"].items() if "error" in v)
        shutil.rmtree(work)
        for name in report["failed"]:  # a failed conversion may leave a partial file
            (tmp / name).unlink(missing_ok=True)
        atomic_write_text(tmp / "labels.txt", "\n".join(labels) + "\n")
        F.save(tmp / "features.json")
        atomic_write_text(tmp / "export_report.json", json.dumps(report, indent=1))
        write_manifest(tmp, labels=labels, features=F.to_dict())
        publish_tree(tmp)
        _swap_in(tmp, out_dir)
    report["out_dir"] = str(out_dir)
    return report


def format_report(report: dict) -> str:
    lines = [f"{report['clips']} validation clips; Keras accuracy "
             f"{report['keras_accuracy']:.4f}",
             f"{'file':<24}{'KiB':>8}{'max|Δ|':>10}{'top-1 agree':>13}{'accuracy':>10}"
             f"{'ms/call':>9}"]
    for name, r in report["models"].items():
        if "error" in r:
            lines.append(f"{name:<24}  FAILED: {r['error']}")
            continue
        agree = f"{r['top1_agreement']:>13.3f}" if "top1_agreement" in r else f"{'-':>13}"
        acc = f"{r['accuracy']:>10.3f}" if "accuracy" in r else f"{'-':>10}"
        lines.append(f"{name:<24}{r['bytes'] / 1024:>8.1f}{r['max_abs_delta']:>10.2e}"
                     f"{agree}{acc}{r['latency_ms']:>9.3f}")
    lines.append("frontend: max|Δ| against librosa's MFCC; stream_*: one call per hop (20 ms "
                 "of audio), from zero states over each clip")
    if "stream" in report:
        lines.append(report["stream"])
    return "\n".join(lines)
