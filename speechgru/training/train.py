"""Training: cached MFCCs → balanced, augmented epochs → the stacked-GRU model → a run dir.

The run directory and its files are :class:`speechgru.run_dir.RunDir`'s; the run's
data and its split are :mod:`speechgru.training.data`'s (decided once, saved there), what
each epoch sees is :mod:`speechgru.training.sampling`'s; here are the loop, its callbacks
and weight averaging, and the finished run's metrics and operating point.

Everything random is derived from (seed, epoch, batch), and the state is saved at the end
of every epoch, so a run killed at any moment and restarted with ``resume=True`` continues
from its last finished epoch and ends as the run that was never killed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from ..data.cache import extract_features
from ..data.layouts import Clip, detect_layout, scan_dataset
from ..errors import ConfigError, DataError
from ..run_dir import RunDir
from ..utils import DirLock, atomic_write_text, inside
from .data import (
    Prepared,
    _save_calibration,
    plan_splits,
    prepare,
    with_recipe_synth,
)
from .operating_point import choose_for_run, threshold_clips
from .sampling import (
    _one_hot,
    _train_dataset,
    epoch_indices,
)


def balanced_accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y``: a validation set full of
    ``_unknown_`` clips cannot reward a model that predicts only ``_unknown_``."""
    pred = probs.argmax(1)
    return float(np.mean([(pred[y == c] == c).mean() for c in np.unique(y)]))


def validation_logs(model, x_val: np.ndarray, y_val: np.ndarray, num_labels: int,
                    label_smoothing: float) -> dict:
    """``val_loss`` (label-smoothed cross-entropy, as in training), ``val_accuracy`` and
    ``val_balanced_accuracy`` from one pass over the validation set. A direct call, not
    ``model.predict``: predict on NumPy fails inside a multi-worker run (Keras' generator
    adapter meets tf.distribute's PerReplica values)."""
    probs = np.concatenate([np.asarray(model(x_val[i:i + 256], training=False))
                            for i in range(0, len(x_val), 256)])
    target = _one_hot(y_val, num_labels) * (1 - label_smoothing) + label_smoothing / num_labels
    loss = -(target * np.log(np.clip(probs, 1e-7, 1.0))).sum(axis=1).mean()
    return {"val_loss": float(loss), "val_accuracy": float((probs.argmax(1) == y_val).mean()),
            "val_balanced_accuracy": balanced_accuracy(probs, y_val)}


def epoch_printer(total: int):
    """Shows training's progress: on a terminal one line redrawn each epoch; in a log a
    line every tenth of the planned epochs (and at the last)."""
    tty = sys.stdout.isatty()
    every = max(1, total // 10)

    def show(row: dict, state: dict, last: bool = False) -> None:
        e = row["epoch"]
        line = (f"epoch {e:>{len(str(total))}}/{total}  loss {row['loss']:.3f}  validation "
                f"top-1 {row['val_accuracy']:.3f}, balanced {row['val_balanced_accuracy']:.3f}"
                f"  best {state['best']:.3f} (epoch {state['best_epoch']})  "
                f"{row['seconds']:.1f} s/epoch")
        if tty:
            print("\r" + line, end="\n" if last else "", flush=True)
        elif e % every == 0 or last:
            print(line, flush=True)

    return show


def _make_callback(run_dir: Path, config: RunConfig, state: dict, prep: Prepared, show=None):
    import keras

    class RunState(keras.callbacks.Callback):
        """Validation, best checkpoint (by class-balanced validation accuracy), early
        stopping, history and resumable state, per epoch. It adds the validation metrics to
        the epoch's logs, so the callbacks after it (TensorBoard, the progress bar) see
        them."""

        def on_epoch_begin(self, epoch, logs=None):
            # dropout randomness as a function of (seed, epoch): the state of Keras' seed
            # generators is not saved in .keras files, so a resumed run would differ
            for i, gen in enumerate(_seed_generators(self.model)):
                gen.state.assign(np.array([state["seed"] + i, epoch], dtype=gen.state.dtype))
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            ema = config.train.ema > 0
            if ema:  # validated and kept as the moving average; trained on as it was
                _swap_ema(self.model)
            logs.update(validation_logs(self.model, prep.x_val, prep.y_val, len(prep.labels),
                                        config.train.label_smoothing))
            lr = self.model.optimizer.learning_rate
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()},
                   "learning_rate": float(np.asarray(lr)),
                   "seconds": round(time.perf_counter() - self.started, 3)}
            state["history"].append(row)
            val = row["val_balanced_accuracy"]
            if val > state["best"]:
                state["best"], state["best_epoch"], state["wait"] = val, epoch + 1, 0
                _save_model(self.model, run_dir / "best.keras")
            else:
                state["wait"] += 1
            if ema:
                _swap_ema(self.model)  # last.keras: the training weights, the average
                # in the optimizer's state (a resumed run goes on exactly)
            _write_history(run_dir / "history.csv", state["history"])
            _save_model(self.model, run_dir / "last.keras")
            state["epoch"] = epoch + 1
            RunDir(run_dir).save_state(state)
            tc = config.train
            if state["wait"] >= tc.patience and epoch + 1 >= tc.early_stop_from * tc.epochs:
                self.model.stop_training = True
                state["stopped_early"] = True
                RunDir(run_dir).save_state(state)
            if show is not None:
                show(row, state, last=self.model.stop_training
                     or epoch + 1 == config.train.epochs)

    return RunState()


def _swap_ema(model) -> None:
    """Swap the model's weights with the optimizer's moving averages of them (Keras'
    ``use_ema``), in place: a second swap undoes the first."""
    opt = model.optimizer
    averages = getattr(opt, "_model_variables_moving_average", None)
    if not averages:
        raise RuntimeError("train.ema is set but the optimizer keeps no moving averages")
    for var, avg in zip(opt._trainable_variables, averages, strict=True):
        weights = var.numpy()
        var.assign(avg)
        avg.assign(weights)


def _seed_generators(model) -> list:
    import keras

    gens = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator):
                gens.append(value)
    return gens


def _save_model(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _write_history(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _compile(model, config: RunConfig, steps_per_epoch: int):
    import keras

    tc = config.train
    total = max(1, tc.epochs * steps_per_epoch)
    warm = min(total - 1, tc.warmup_epochs * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=tc.learning_rate / 10 if warm else tc.learning_rate,
        decay_steps=max(1, total - warm), alpha=tc.min_learning_rate / tc.learning_rate,
        warmup_target=tc.learning_rate if warm else None, warmup_steps=warm)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=tc.weight_decay,
                                         clipnorm=5.0, use_ema=tc.ema > 0,
                                         ema_momentum=tc.ema or 0.99),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=tc.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])


def _refuse_ensemble(config: RunConfig, run_dir: Path) -> None:
    if config.model.members > 1:
        raise ConfigError(f"{run_dir}: model.members = {config.model.members} is an ensemble, "
                          "made by `speechgru ensemble` from runs trained apart, not trained "
                          "or resumed; train each member as a run of its own (members 1)")


def train(data_dirs: list[str | Path] | None, run_dir: str | Path,
          config: RunConfig | None = None, **kwargs) -> dict:
    locks: list[DirLock] = []  # released however the training ends (an exception too)
    try:
        return _train(data_dirs, run_dir, config, locks=locks, **kwargs)
    finally:
        for lock in locks:
            lock.release()


def _train(data_dirs: list[str | Path] | None, run_dir: str | Path,
           config: RunConfig | None = None, *, resume: bool = False,
           resume_epochs: int | None = None, cache_dir: str | Path | None = ".cache/features",
           verbose: int | str = "auto", strategy: str = "default",
           noise_dirs: list[str | Path] = (), threshold_data: list[str | Path] = (),
           talk_dirs: list[str | Path] = (), hard_negatives: list[str | Path] = (),
           locks: list | None = None) -> dict:
    """Train a model and fill ``run_dir``; returns the validation metrics of the best model.

    The split is decided here, once, and saved in the run (``splits.json``).
    ``resume=True`` continues a run from its last finished epoch with its own config and
    splits (``data_dirs`` are not needed); ``noise_dirs``: folders of background
    recordings (``--noise``), heard as silence and mixed into the training clips as
    their noise; ``threshold_data``: folders of real recordings never trained on that the
    operating point is also set on (:mod:`.operating_point`); ``talk_dirs``: folders of
    continuous speech whose screened talk is heard as ``_unknown_`` (and whose validation
    speakers the operating point is chosen live on); ``hard_negatives``: files of windows
    an earlier round fired on (:mod:`.hard_negatives`); ``resume_epochs`` must then
    equal the run's
    epochs (its learning-rate schedule is fixed by them). Without ``resume``, a run
    directory that already holds a run is an error: nothing already done is overwritten.
    """
    import keras
    import tensorflow as tf

    from ..models import Mode, build_model, check_keras_file
    from .distribute import fit_multiworker, get_strategy

    run = RunDir(run_dir)
    run_dir = run.path
    bad: list[tuple[str, str]] = []
    if resume:
        if not run.exists():
            raise ConfigError(f"{run_dir}: nothing to resume (no config.json); "
                              "start the run without --resume")
        config = run.config()
        _refuse_ensemble(config, run_dir)
        if resume_epochs is not None and resume_epochs != config.train.epochs:
            raise ConfigError(
                f"--epochs {resume_epochs}: the run in {run_dir} was planned for "
                f"{config.train.epochs} epochs and its cosine learning-rate schedule ends "
                "there, so a resumed run cannot change it; start a new run with --epochs "
                f"{resume_epochs} (or resume without --epochs)")
        if (run_dir / "state.json").exists():  # read what resume needs before the work
            run.state()
            check_keras_file(run / "last.keras")
        splits = {s: run.split(s) for s in ("train", "validation")}
        # the folders the threshold is set on at the end must still be there: said now
        threshold_clips(run.data().get("threshold_data", []), config, run.splits(),
                        run.data().get("sources", []))
    else:
        if run.exists():
            raise ConfigError(f"{run_dir} already holds a run; use --resume to continue it "
                              "or choose another --out")
        out = Path(run_dir)
        if out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
            raise ConfigError(f"{run_dir}: exists and is not a run directory (it holds files "
                              "train did not write); train writes only into a new or empty "
                              "folder: choose another --out")
        config = config or RunConfig(FeatureConfig(), ModelConfig(), TrainConfig())
        _refuse_ensemble(config, run_dir)
        if config.train.teacher_run:  # the run's config names its teacher wherever it resumes
            config = dataclasses.replace(config, train=dataclasses.replace(
                config.train, teacher_run=str(Path(config.train.teacher_run).absolute())))
        if config.train.base:  # named absolute in the run; its fit is said before any work
            from .base import base_run, check_config

            config = dataclasses.replace(config, train=dataclasses.replace(
                config.train, base=str(base_run(config.train.base).path.absolute())))
            check_config(config, config.train.base)
        own = list(data_dirs or [])  # the user's data (the recipe's speech is added)
        for d in own:  # a folder without audio is said before any synthesis
            detect_layout(Path(d))
        data_dirs = with_recipe_synth(data_dirs or [], config,
                                      log=print if verbose != 0 else (lambda *_: None))
        splits, bad = plan_splits(data_dirs, config, noise_dirs, talk_dirs, hard_negatives)
        threshold_data = [os.path.abspath(d) for d in threshold_data]
        threshold_clips(threshold_data, config, splits, data_dirs)  # said before any work
    teacher = None
    if config.train.teacher_run:  # checked and loaded before any work
        from .teacher import run_teacher

        teacher = run_teacher(config.train.teacher_run, config,
                              run.splits() if resume else splits)
    elif config.train.distill:
        from .teacher import model_dir, soft_labels

        model_dir()  # a missing teacher is said before any work
    keras.utils.set_random_seed(config.train.seed)
    tf.config.experimental.enable_op_determinism()
    prep = prepare(splits, config, cache_dir=cache_dir, progress=verbose != 0)
    skipped = bad + prep.bad
    if not resume and own and not any(inside(c.path, d) for d in own
                                      for c in prep.train_clips + prep.val_clips):
        why = (f"{len(skipped)} bad file(s), e.g. {skipped[0][0]}: {skipped[0][1]}"
               if skipped else "none in its train and validation splits")
        raise DataError(f"{', '.join(map(str, own))}: no clip could be read ({why}); "
                        "the recipe's synthetic speech alone is not a dataset: run speechgru "
                        "check-data on it")
    if skipped and verbose != 0:
        print(f"skipped {len(skipped)} bad file(s) (each named in {run_dir}/data.json; "
              "speechgru check-data DIR lists them)", flush=True)
    tc = config.train
    if tc.distill and teacher is None:
        prep.teacher = soft_labels(prep, cache_dir,
                                   log=print if verbose != 0 else (lambda *_: None))
    n_epoch = len(epoch_indices(prep.y_train, prep.labels, config, 0, prep.real, prep.words))
    if tc.batch_size > n_epoch:
        raise ConfigError(f"batch_size = {tc.batch_size} is larger than the {n_epoch} training "
                          "examples of an epoch; lower batch_size or add data")
    steps = int(np.ceil(n_epoch / tc.batch_size))
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = DirLock(run_dir, "train")  # held while this run is written: one writer a run
    if locks is not None:
        locks.append(lock)
    if not resume and (run.exists() or any(p.name != "logs" for p in run_dir.iterdir())):
        lock.release()  # another train got here first and finished
        raise ConfigError(f"{run_dir}: another train wrote a run here meanwhile; choose "
                          "another --out")
    if not resume:
        run.save_splits(splits)
        _save_calibration(run, prep, config)
        atomic_write_text(run_dir / "labels.txt", "\n".join(prep.labels) + "\n")
        atomic_write_text(run_dir / "data.json", json.dumps(
            {"sources": [str(Path(d).absolute()) for d in data_dirs],
             "noise": [str(Path(d).absolute()) for d in noise_dirs],
             "threshold_data": threshold_data,
             "talk": [str(Path(d).absolute()) for d in talk_dirs],
             "hard_negatives": [str(Path(f).absolute()) for f in hard_negatives],
             "train_clips": len(prep.train_clips), "validation_clips": len(prep.val_clips),
             "bad_files": [{"file": f, "reason": r} for f, r in bad + prep.bad]}, indent=1))
        config.save(run.config_path)  # last: a run exists once its config does
    elif run.labels() != prep.labels:
        raise ConfigError(f"{run_dir}/labels.txt does not match the labels of the data")
    state = {"seed": tc.seed, "epoch": 0, "best": -1.0, "best_epoch": 0, "wait": 0, "history": [],
             "stopped_early": False}
    resumed = resume and (run_dir / "state.json").exists()
    if resumed:
        state = run.state()
    dist = get_strategy(strategy)
    with dist.scope():
        if resumed:
            model = run.load_model("last")
        else:
            F = config.features
            mean, variance = prep.x_train.mean(axis=(0, 1)), prep.x_train.var(axis=(0, 1)) + 1e-6
            if tc.base:  # its weights expect its normalisation
                from ..models.build import normalization_stats
                from .base import freeze, load_base, start_from

                base_labels, base_model = load_base(tc.base)
                mean, variance = normalization_stats(base_model)
            model = build_model(config.model, Mode.TRAINING, num_frames=F.num_frames,
                                num_features=F.num_features, num_classes=len(prep.labels),
                                mean=mean, variance=variance)
            if tc.base:
                start_from(model, base_model, base_labels, prep.labels)
                freeze(model, tc.base_freeze)
            _compile(model, config, steps)
    start = state["epoch"]
    if start < tc.epochs and not state.get("stopped_early"):
        # validates once per epoch, and shows the progress (Keras' own bar stays off)
        run_state = _make_callback(run_dir, config, state, prep,
                                   show=epoch_printer(tc.epochs) if verbose != 0 else None)
        verbose = 0
        if strategy == "multiworker":
            fit_multiworker(model, dist, _train_dataset(prep, config, start, steps, teacher),
                            epochs=tc.epochs, initial_epoch=start, steps=steps,
                            global_batch=tc.batch_size, label_smoothing=tc.label_smoothing,
                            callbacks=[run_state], verbose=verbose)
        else:
            tensorboard = keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False,
                                                      profile_batch=0)
            model.fit(_train_dataset(prep, config, start, steps, teacher), epochs=tc.epochs,
                      initial_epoch=start, steps_per_epoch=steps,
                      callbacks=[run_state, tensorboard], verbose=verbose, shuffle=False)
        _check_finite(model, run_dir)
    return finish(run, prep.labels, prep.x_val, prep.y_val, prep.val_clips,
                  cache_dir=cache_dir, progress=verbose != 0)


def _check_finite(model, run_dir: Path) -> None:
    """A model whose weights went NaN/Inf is an error, not a finished run."""
    for w in model.weights:
        if not np.all(np.isfinite(np.asarray(w))):
            raise ConfigError(f"{run_dir}: training diverged ({w.path} is not finite); lower "
                              "learning_rate or weight_decay in the config")


def finish(run: RunDir, labels: list[str], x_val: np.ndarray, y_val: np.ndarray,
           val_clips: list[Clip], *, cache_dir: str | Path | None = ".cache/features",
           progress: bool = False, **extra) -> dict:
    """Validation metrics (with ``extra`` entries), the operating point (on the validation
    clips and the run's ``threshold_data``), curves and confusion of the run's best model
    on its validation clips (``x_val`` their features, ``y_val`` their label indices)."""
    from ..metrics import metrics
    from ..plots import plot_confusion, plot_curves

    run.require("best.keras")
    best = run.load_model("best")
    probs = best.predict(x_val, batch_size=256, verbose=0)
    m = metrics(probs, y_val, labels)
    point = choose_for_run(run, best, probs, y_val, val_clips, cache_dir=cache_dir)
    run.save_operating_point(point)
    m["operating_point"] = point
    state = run.state()
    m["best_epoch"] = state["best_epoch"]
    m["epochs_run"] = state["epoch"]
    m.update(extra)
    if run.data().get("talk"):  # heard talk: the operating point is chosen live on it
        from .operating_point import choose_live

        if progress:
            print("choosing the operating point live (the validation speakers in a room "
                  "where people talk)", flush=True)
        try:
            m["operating_point"] = choose_live(run.path, progress=progress)
        except DataError as exc:  # the run is kept, with the point chosen on lone clips
            print(f"the operating point stays the one chosen on lone clips ({exc}); "
                  f"choose it live later: speechgru operating-point {run.path} --live",
                  flush=True)
    if state["history"]:  # an ensemble (speechgru ensemble) has no training history
        plot_curves(state["history"], run / "curves.png")
    plot_confusion(np.array(m["confusion"]), labels, run / "confusion.png",
                   title=f"validation, accuracy {m['accuracy']:.3f}")
    # written last: a run with metrics.json is finished (RunDir.unfinished)
    atomic_write_text(run / "metrics.json", json.dumps(m, indent=1))
    return m


def load_run(run_dir: str | Path):
    """``(RunConfig, labels, best model)`` of a finished run (safe-mode load)."""
    return RunDir(run_dir).load()


def evaluate_run(run_dir: str | Path, data_dir: str | Path | None = None, *,
                 split: str | None = None, cache_dir: str | Path | None = ".cache/features",
                 progress: bool = True, threshold: float | None = None) -> dict:
    """Evaluate a run's best model at ``threshold`` (default: the run's operating point;
    a prediction below it counts as ``_unknown_``; ``top1`` is without any threshold).

    With ``split``: the clips of that split as saved in the run's ``splits.json`` (and,
    with ``data_dir``, only those inside it); a split is never recomputed. Without:
    every clip of ``data_dir``.
    """
    from ..metrics import metrics
    from ..plots import plot_confusion

    run = RunDir(run_dir)
    config, labels, model = run.load()
    if split is not None:
        clips = run.split(split)
        if not clips:
            raise DataError(f"{run_dir}: the run's {split} split is empty (its "
                            "validation_percent / testing_percent gave it no speakers)")
        if data_dir is not None:
            clips = [c for c in clips if inside(c.path, data_dir)]
            if not clips:
                raise DataError(f"{data_dir}: none of the run's {split} clips are in it (not "
                                "one of the run's data sources?); drop --split to evaluate "
                                "every clip of it")
    elif data_dir is not None:
        ds = scan_dataset(data_dir, words=config.train.words,
                          clip_seconds=config.features.clip_seconds)
        clips = ds.clips
    else:
        raise ConfigError("evaluate needs --data DIR, --split SPLIT, or both")
    clips = [c for c in clips if c.label in labels]
    if not clips:
        raise DataError(f"{data_dir or run_dir}: no clips with the run's labels {labels}")
    feats = extract_features(clips, config.features, cache_dir=cache_dir, progress=progress)
    if len(feats.clips) == 0:
        raise DataError(f"{data_dir or run_dir}: no clip could be read ({feats.bad[0][1]})")
    probs = model.predict(feats.x, batch_size=256, verbose=0)
    point = run.operating_point()
    if threshold is None:
        threshold = point["threshold"] if point else 0.0
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"--threshold {threshold}: must be in [0, 1]")
    m = metrics(probs, feats.labels(labels), labels, threshold=threshold)
    m["operating_point"] = point
    m["data"] = str(data_dir) if data_dir is not None else f"{run_dir} ({split} split)"
    m["split"] = split
    m["bad_files"] = [{"file": f, "reason": r} for f, r in feats.bad]
    name = (Path(data_dir).resolve().name if data_dir is not None else "run") + (
        f"-{split}" if split else "")
    out = run / "eval"
    out.mkdir(exist_ok=True)
    atomic_write_text(out / f"{name}.json", json.dumps(m, indent=1))
    plot_confusion(np.array(m["confusion"]), labels, out / f"{name}-confusion.png",
                   title=f"{name}, accuracy {m['accuracy']:.3f}")
    m["written"] = [str(out / f"{name}.json"), str(out / f"{name}-confusion.png")]
    return m


train.__doc__ = _train.__doc__
