"""Export a run to SavedModel + TFLite: the table of variants, and the parity report.

A model directory (built in a temporary folder beside it, then renamed into place) holds
``saved_model/`` (MFCC frames (1, T, F) → probabilities), ``labels.txt``,
``features.json``, ``export_report.json``, ``manifest.json`` and the files of
:data:`VARIANTS` — one row per file: the model it is converted from (a
:func:`~speechgru.models.build_model` mode, with or without the in-graph front end), the
converter's quantization, the representative data of an int8 file, and what its outputs
are checked against.

The streaming models run one step per hop with every state passed in and out (so the
device keeps them); from zero states over a clip's frames they give the clip's output.

Facts this module works around (TF 2.21, measured here): a GRU with batch ``None`` fails
builtins-only conversion (``tf.TensorListReserve ... element_shape``), so the batch is fixed
at 1 (``Mode.NON_STREAM``); full-int8 calibration crashes the process on a ``WHILE`` loop,
so the int8 clip model is unrolled; dynamic-range quantization of the front end's mel and
DCT constants wrecks the MFCC (max |Δ| 0.96, 61 % top-1 agreement), and float16 flushes the
log's floor (1e-10) to zero, so digital silence gives NaN (seen in MediaPipe on a window
half zeros): the raw-audio model ships as float32 only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ExportError
from ..utils import (
    TEMP_SUFFIX,
    DirLock,
    atomic_write_bytes,
    atomic_write_text,
    owned_tempdir,
    publish_tree,
)
from .convert import Converter, run_stream_tflite, run_tflite


@dataclasses.dataclass(frozen=True)
class Variant:
    """One exported file.

    ``source``: the model converted — ``clip`` (``Mode.NON_STREAM``: MFCC frames →
    probabilities), ``clip_unrolled`` (the same, loops unrolled), ``wave`` (raw PCM →
    probabilities, the MFCC in the graph), ``frontend`` (one frame of PCM → its MFCC row)
    or ``stream`` (``Mode.STREAM``). ``quantization``: one of
    :data:`~speechgru.export.convert.QUANTIZATIONS`. ``calibration``: the representative
    data of an int8 file — ``clips`` (training clips' MFCC) or ``states`` (every step's
    frame and states as the float stream model visits them on training clips).
    ``check``: what its outputs are compared with — the Keras model on the validation
    clips (``clip``, ``wave``, ``stream``, per clip) or librosa's MFCC (``frontend``).
    ``default``: written unless ``--variants`` names the files. ``metadata``: the file
    carries TFLite Model Metadata (:mod:`speechgru.export.metadata`: audio properties,
    labels, operating point), so MediaPipe Tasks' ``AudioClassifier`` runs it as it is.
    """

    name: str
    source: str
    quantization: str
    calibration: str | None
    check: str
    per: str = "clip"
    default: bool = True
    metadata: bool = False


VARIANTS = (
    Variant("float32.tflite", "clip", "float32", None, "clip"),
    Variant("float16.tflite", "clip", "float16", None, "clip"),
    Variant("dynamic.tflite", "clip", "dynamic", None, "clip"),
    # unrolled (a WHILE loop does not calibrate): 49 copies of every weight, 1.6 MB; the
    # int8 clip classifier is stream_int8 looped over the frames (predict --variant int8)
    Variant("int8.tflite", "clip_unrolled", "int8", "clips", "clip", default=False),
    # raw samples in, the GRUs unrolled: one subgraph, as MediaPipe's AudioClassifier needs
    # (the weights are shared by the steps, not copied); with metadata for the clients
    Variant("wave_float32.tflite", "wave", "float32", None, "wave", metadata=True),
    Variant("frontend.tflite", "frontend", "float32", None, "frontend", per="frame"),
    Variant("stream_float32.tflite", "stream", "float32", None, "stream", per="hop"),
    Variant("stream_int8.tflite", "stream", "int8", "states", "stream", per="hop"),
    # int8 weights, int16 activations: TFLite Micro and LiteRT agree on it (the int8
    # kernels round a step apart and 49 steps of int8 state add the steps up)
    Variant("stream_int16.tflite", "stream", "int16x8", "states", "stream", per="hop"),
)
NAMES = tuple(v.name for v in VARIANTS)


def select(names) -> tuple[Variant, ...]:
    """The variants named (file names, with or without ``.tflite``); without names, the
    default ones. A stream file brings ``frontend.tflite`` (``listen`` and ``predict`` need
    it beside the stream model)."""
    if not names:
        return tuple(v for v in VARIANTS if v.default)
    wanted = [n if n.endswith(".tflite") else f"{n}.tflite" for n in names]
    unknown = [n for n in wanted if n not in NAMES]
    if unknown:
        raise ConfigError(f"--variants: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(n.removesuffix('.tflite') for n in NAMES)}")
    if any(n.startswith("stream_") for n in wanted):  # listen needs the front end beside it
        wanted.append("frontend.tflite")
    return tuple(v for v in VARIANTS if v.name in wanted)


class _Sources:
    """Builds each source model once, when a variant first needs it, as a SavedModel in
    ``work``; a source that cannot exist for this run (a front end with deltas, a stream
    of a bidirectional GRU) raises :class:`ConfigError` saying why."""

    def __init__(self, config, labels, model, work: Path, root: Path):
        self.config, self.labels, self.model, self.work = config, labels, model, work
        self.root = root
        self._built: dict[str, Path | ConfigError] = {}
        self.stream_model = None

    def __getitem__(self, source: str) -> Path:
        if source not in self._built:
            try:
                self._built[source] = getattr(self, f"_{source}")()
            except ConfigError as exc:
                self._built[source] = exc
        got = self._built[source]
        if isinstance(got, ConfigError):
            raise got
        return got

    def _build(self, mode, **kw):
        from ..models import build_model, copy_weights, normalization_stats

        F = self.config.features
        mean, var = normalization_stats(self.model)
        m = build_model(self.config.model, mode, num_frames=F.num_frames,
                        num_features=F.num_features, num_classes=len(self.labels),
                        mean=mean, variance=var, **kw)
        copy_weights(self.model, m)
        return m

    def _save(self, model, path: Path, specs) -> Path:
        model.export(str(path), input_signature=specs, verbose=False)
        return path

    def _clip_spec(self):
        import tensorflow as tf

        F = self.config.features
        return [tf.TensorSpec([1, F.num_frames, F.num_features], tf.float32, name="mfcc")]

    def _clip(self) -> Path:
        from ..models import Mode

        self.clip_model = self._build(Mode.NON_STREAM)
        return self._save(self.clip_model, self.root / "saved_model", self._clip_spec())

    def _clip_unrolled(self) -> Path:
        from ..models import Mode

        return self._save(self._build(Mode.NON_STREAM, unroll=True), self.work / "unrolled",
                          self._clip_spec())

    def _wave(self) -> Path:
        from ..models import Mode

        # unrolled: a WHILE loop is three subgraphs, and MediaPipe's audio classifier takes
        # a graph of one
        return _save_wave_model(self._build(Mode.NON_STREAM, unroll=True),
                                self.config.features, self.work / "wave_sm")

    def _frontend(self) -> Path:
        F = self.config.features
        # the raw-audio model's front end for a "clip" of exactly one frame
        one_frame = dataclasses.replace(F, clip_seconds=F.n_fft / F.sample_rate)
        return _save_wave_model(None, one_frame, self.work / "frontend_sm")

    def _stream(self) -> Path:
        import tensorflow as tf

        from ..features.tf import MFCCFrontend
        from ..models import Mode

        MFCCFrontend(self.config.features)  # listen needs frontend.tflite beside it
        self.stream_model = self._build(Mode.STREAM)
        # batch 1 in the file (phones, TFLite Micro), resizable by a runtime that steps
        # several streams at once (listen's staggered copies)
        specs = {i.name: tf.TensorSpec([None, *i.shape[1:]], tf.float32, name=i.name)
                 for i in self.stream_model.inputs}
        return self._save(self.stream_model, self.work / "stream_sm", [specs])


def _save_wave_model(model, features, path: Path) -> Path:
    """Raw PCM (1, samples) → probabilities: the MFCC front end, then ``model`` (without a
    model: the front end alone, PCM (batch, samples) → MFCC frames)."""
    import keras
    import tensorflow as tf

    from ..features.tf import mfcc_layer

    # the front end alone takes any batch (a runtime computes several frames in one call)
    batch = 1 if model is not None else None
    pcm = keras.Input((features.clip_samples,), batch_size=batch, name="pcm")
    mfcc = mfcc_layer(features)(pcm)
    wave = keras.Model(pcm, model(mfcc) if model is not None else mfcc, name="wave")
    wave.export(str(path), input_signature=[
        tf.TensorSpec([batch, features.clip_samples], tf.float32, name="pcm")], verbose=False)
    return path


def audio_metadata(run_name: str, labels: list[str], features, operating_point: dict | None,
                   run_path: Path):
    """The TFLite Model Metadata of this run's raw-audio files: what they hear, the
    operating point (also as the classifier's score threshold), the training data's
    credits as the licence."""
    from .. import __version__
    from ..config import SILENCE, UNKNOWN
    from .card import training_data
    from .metadata import AudioMetadata

    commands = [w for w in labels if w not in (SILENCE, UNKNOWN)]
    threshold = float(operating_point["threshold"]) if operating_point else 0.0
    description = (
        f"Keyword spotter for {', '.join(commands)}: one window of "
        f"{features.clip_seconds:g} s of {features.sample_rate} Hz mono audio in, the "
        f"probability of each of {len(labels)} labels out ({SILENCE}: no speech, "
        f"{UNKNOWN}: any other word).")
    if operating_point:
        how = ("chosen live on ordinary talk" if operating_point.get("live")
               else "chosen at training")
        description += (f" Operating point: a command is heard when its score is at least "
                        f"{threshold:.2f} ({how}; also the score threshold, which "
                        "MediaPipe applies unless the caller sets a positive one).")
    description += (f" The MFCC front end and a hand-written GRU are inside the graph. "
                    f"Made by speechgru {__version__} from the run {run_name}.")
    credits = [f"{name}: {note}" for name, note in training_data(run_path) if note]
    return AudioMetadata(
        name=f"speechgru {run_name}", description=description,
        version=f"{run_name} (speechgru {__version__})", author="speechgru",
        license="; ".join(credits) or "see the training data's licences",
        sample_rate=features.sample_rate, channels=1, labels=tuple(labels),
        score_threshold=threshold)


def stream_states(stream_model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every step's inputs (``frame`` and each state) of the Keras stream model run from
    zero states over each clip of ``x``: the representative data of ``stream_int8``. Rows
    in clip order, a clip's frames in time order; the clips step together, as one batch."""
    import tensorflow as tf

    step = tf.function(lambda feed: stream_model(feed, training=False))
    names = [i.name for i in stream_model.inputs]
    x = np.asarray(x, np.float32)
    states = {i.name: np.zeros((len(x), *i.shape[1:]), np.float32)
              for i in stream_model.inputs if i.name != "frame"}
    seen = {n: [] for n in names}  # per frame: (clips, ...)
    for t in range(x.shape[1]):
        feed = {"frame": x[:, t], **states}
        for n in names:
            seen[n].append(feed[n])
        out = step(feed)
        states = {n: np.asarray(out[n]) for n in states}
    # (frames, clips, ...) -> (clips * frames, ...): clip by clip
    return {n: np.swapaxes(np.stack(v), 0, 1).reshape(-1, *v[0].shape[1:])
            for n, v in seen.items()}


def _run(variant: Variant, path: Path, data: dict):
    """Outputs of ``path`` on the parity clips and the median ms per call."""
    if variant.check == "stream":
        return run_stream_tflite(path, data["x_val"])
    if variant.check == "wave":
        return run_tflite(path, data["pcm"])
    if variant.check == "frontend":
        return run_tflite(path, data["chunks"])
    return run_tflite(path, data["x_val"])


def _export_variant(variant: Variant, sources: _Sources, out: Path, work: Path,
                    data: dict, convert, metadata=None) -> dict:
    """Convert one row of the table and check it; a failure is ``{"error": why}``."""
    src = sources[variant.source]  # ConfigError: the caller reports the variant skipped
    calib = None
    if variant.calibration == "clips":
        calib = work / "calib.npy"
        np.save(calib, data["x_train"].astype(np.float32))
    elif variant.calibration == "states":
        calib = work / "stream_calib.npz"  # one set for every stream variant
        if not calib.is_file():
            np.savez(calib, **stream_states(sources.stream_model, data["x_train"][:50]))
    path = out / variant.name
    try:
        convert(src, path, variant.quantization, calib)
    except ExportError as exc:
        return {"error": str(exc)}
    if variant.metadata and metadata is not None:
        from .metadata import embed

        try:
            atomic_write_bytes(path, embed(path.read_bytes(), metadata))
        except ExportError as exc:
            return {"error": str(exc)}
    try:  # the file as shipped (with its metadata) is the file checked
        got, ms = _run(variant, path, data)
    except (RuntimeError, ValueError, KeyError, ExportError) as exc:
        return {"error": f"converted but does not run: {exc}"}
    r = {"bytes": path.stat().st_size, "latency_ms": ms, "per": variant.per}
    if variant.check == "frontend":
        n_mfcc = data["x_val"].shape[-1]
        ref = data["x_val"][:len(data["pcm"][:20])].reshape(-1, n_mfcc)
        r.update(max_abs_delta=float(np.abs(got.reshape(-1, n_mfcc) - ref).max()),
                 compared_with="librosa MFCC")
        return r
    ref, y = data["ref"], data["y_val"]
    r.update(max_abs_delta=float(np.abs(got - ref).max()),
             mean_abs_delta=float(np.abs(got - ref).max(axis=1).mean()),
             top1_agreement=float((got.argmax(1) == ref.argmax(1)).mean()),
             accuracy=float((got.argmax(1) == y).mean()))
    return r


VERIFIER = "verifier"  # a run's folder of its second look (speechgru.training.verifier)
VERIFIER_FILES = {"float32": "verifier_stream_float32.tflite",
                  "int8": "verifier_stream_int8.tflite"}


def export_verifier(folder: Path, out: Path, work: Path, convert, labels: list[str],
                    features) -> dict:
    """A run's second look (``folder``: ``best.keras``, ``verifier.json``,
    ``calibration.npz``) as its GRU step in float32 and int8 (looped over a window of frames
    by the runtime, as ``stream_int8`` is for a clip), each checked against the Keras model
    on the kept validation windows. The entry for the manifest and the report; ``error``
    when it cannot be made (the model directory is then written without it)."""
    import tensorflow as tf

    from ..config import ModelConfig, read_json
    from ..models import Mode, build_model, copy_weights, normalization_stats
    from ..models.build import load_model
    from ..runtime.verifier import Context

    info = read_json(folder / "verifier.json", error=ExportError)
    try:
        context = Context(features, float(info["context"]["before"]),
                          float(info["context"]["after"]))
        model_config = ModelConfig.from_dict(info["model"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise ExportError(f"{folder / 'verifier.json'}: damaged ({exc})") from None
    keras_model = load_model(folder / "best.keras")
    with np.load(folder / "calibration.npz", allow_pickle=False) as z:
        x, y = z["x"].astype(np.float32), z["y"]
    if x.ndim != 3 or x.shape[1:] != (context.frames, features.num_features):
        raise ExportError(f"{folder / 'calibration.npz'}: windows of shape {x.shape[1:]}, "
                          f"not ({context.frames}, {features.num_features}) of these features")
    mean, var = normalization_stats(keras_model)
    stream = build_model(model_config, Mode.STREAM, num_features=features.num_features,
                         num_classes=len(labels), mean=mean, variance=var, name="verifier")
    copy_weights(keras_model, stream)
    specs = {i.name: tf.TensorSpec([None, *i.shape[1:]], tf.float32, name=i.name)
             for i in stream.inputs}
    saved = work / "verifier_sm"
    stream.export(str(saved), input_signature=[specs], verbose=False)
    calib = work / "verifier_calib.npz"
    np.savez(calib, **stream_states(stream, x[:40]))
    ref = keras_model.predict(x, batch_size=256, verbose=0)
    entry = {"before": context.before, "after": context.after, "frames": context.frames,
             "files": {}, "windows": len(x), "models": {}}
    for kind, name in VERIFIER_FILES.items():
        try:
            convert(saved, out / name, kind, calib if kind == "int8" else None)
            got, ms = run_stream_tflite(out / name, x)
        except (ExportError, RuntimeError, ValueError) as exc:
            (out / name).unlink(missing_ok=True)
            entry["models"][name] = {"error": str(exc)}
            continue
        entry["files"][kind] = name
        entry["models"][name] = {
            "bytes": (out / name).stat().st_size, "ms_per_window": ms * context.frames,
            "max_abs_delta": float(np.abs(got - ref).max()),
            "mean_abs_delta": float(np.abs(got - ref).max(axis=1).mean()),
            "top1_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
            "accuracy": float((got.argmax(1) == y).mean())}
    if "float32" not in entry["files"]:
        entry["error"] = entry["models"][VERIFIER_FILES["float32"]]["error"]
    return entry


def _check_out_dir(out_dir: Path, run_dir: Path, force: bool) -> None:
    """``out_dir`` may be written: new, or (with ``force``) a model directory this package
    wrote that is not the run, an ancestor of it, the working or the home directory."""
    from ..runtime.manifest import is_model_dir, unowned_files

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
    why = unowned_files(out_dir)
    if why is not None:
        raise ExportError(f"{out_dir}: --force replaces only a model directory exactly as "
                          f"export wrote it, and this one is not ({why}); move your files "
                          "out of it or choose another --out")


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
               max_clips: int = 200, progress: bool = True,
               variants: list[str] | None = None, unfinished: bool = False) -> dict:
    """Export the best model of ``run_dir`` (which is all it needs: the parity and
    calibration clips were kept at training) as the files of ``variants`` (default: every
    row of :data:`VARIANTS`); returns the report (also written as JSON). ``report["failed"]``
    names the variants that failed, ``report["skipped"]`` those this run cannot have and
    why. Nothing exists at ``out_dir`` until the whole directory is ready; ``force``
    replaces only a model directory this package wrote. A run that did not finish (no
    operating point: a model that would fire at any score) is refused unless
    ``unfinished``; its report then says why (``report["unfinished"]``)."""
    from ..run_dir import RunDir

    chosen = select(variants)
    run = RunDir(run_dir)
    run.require("config.json", "labels.txt", "best.keras")
    why = run.unfinished()
    if why and not unfinished:
        raise ExportError(f"{run.path}: the run did not finish ({why}); go on with "
                          f"`speechgru train --out {run.path} --resume`, or export it as it "
                          f"is with --unfinished")
    out_dir = Path(out_dir) if out_dir else Path("models") / run.path.resolve().name
    _check_out_dir(out_dir, run.path, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # one export at a time into a folder: a second one (same --out) is refused, not raced
    with DirLock(out_dir.parent, "export", target=out_dir):
        _check_out_dir(out_dir, run.path, force)  # again: another may have finished meanwhile
        return _export(run, out_dir, chosen, max_clips, why)


def _export(run, out_dir: Path, chosen: tuple[Variant, ...], max_clips: int,
            unfinished: str | None = None) -> dict:
    """:func:`export_run` once ``out_dir`` is checked and locked (``unfinished``: why the
    run did not finish, when it is exported as it is)."""
    from ..runtime.manifest import write_manifest
    from .card import tflite_ops, write_model_card
    from .micro import MODELS, write_micro

    config, labels, model = run.load()
    calib = run.calibration()
    F = config.features
    T, D = F.num_frames, F.num_features
    x_val, y_val, pcm, x_train = (calib["val_x"][:max_clips], calib["val_y"][:max_clips],
                                  calib["val_pcm"][:max_clips], calib["train_x"][:max_clips])
    if x_val.shape[1:] != (T, D) or pcm.shape[1:] != (F.clip_samples,):
        raise ExportError(f"{run.path / 'calibration.npz'}: shapes {x_val.shape}, {pcm.shape} "
                          f"do not match config.json; the run directory is inconsistent")
    ref = model.predict(x_val, batch_size=256, verbose=0)
    n, hop = F.n_fft, F.hop_length
    data = {"x_val": x_val, "y_val": y_val, "pcm": pcm, "x_train": x_train, "ref": ref,
            "chunks": np.stack([clip[t * hop:t * hop + n] for clip in pcm[:20]
                                for t in range(T)])}
    # the run's name, not its path: a model directory is shipped, the exporter's paths not
    report = {"run": run.path.resolve().name, "clips": len(y_val), "labels": labels,
              "operating_point": run.operating_point(), "models": {}, "skipped": {}}
    if unfinished:
        report["unfinished"] = unfinished
    metadata = audio_metadata(report["run"], labels, F, run.operating_point(), run.path)
    with owned_tempdir(out_dir.parent, out_dir.name) as tmp:
        work = tmp / "work"
        work.mkdir()
        sources = _Sources(config, labels, model, work, tmp)
        sources["clip"]  # saved_model/ ships whatever the variants
        with Converter() as convert:
            for variant in chosen:
                try:
                    report["models"][variant.name] = _export_variant(
                        variant, sources, tmp, work, data, convert, metadata)
                except ConfigError as exc:
                    report["skipped"][variant.name] = str(exc)
            if (run / VERIFIER / "best.keras").is_file():  # the second look
                report["verifier"] = export_verifier(run / VERIFIER, tmp, work, convert,
                                                     labels, F)
        report["keras_accuracy"] = float((ref.argmax(1) == y_val).mean())
        report["failed"] = sorted(k for k, v in report["models"].items() if "error" in v)
        shutil.rmtree(work)
        for name in report["failed"]:  # a failed conversion may leave a partial file
            (tmp / name).unlink(missing_ok=True)
        atomic_write_text(tmp / "labels.txt", "\n".join(labels) + "\n")
        F.save(tmp / "features.json")
        made = [n for n in MODELS if n in report["models"] and "error" not in report["models"][n]]
        if made:
            report["micro"] = write_micro(tmp, made[0], tflite_ops(tmp / made[0]))
        atomic_write_text(tmp / "export_report.json", json.dumps(report, indent=1))
        write_model_card(tmp, report, config, run.path.resolve(), out_dir.name)
        entry = report.get("verifier")
        write_manifest(tmp, labels=labels, features=F.to_dict(),
                       operating_point=run.operating_point(),
                       verifier=None if not entry or entry.get("error") else {
                           k: entry[k] for k in ("before", "after", "frames", "files")})
        publish_tree(tmp)
        _swap_in(tmp, out_dir)
    report["out_dir"] = str(out_dir)
    return report
