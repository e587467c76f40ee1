"""Training: cached MFCCs → balanced, augmented epochs → the stacked-GRU model → a run dir.

The run directory and its files are :class:`speechgru.training.run_dir.RunDir`'s; the split is
decided here once (:func:`plan_splits`) and saved there.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import SILENCE, UNKNOWN, FeatureConfig, ModelConfig, RunConfig, TrainConfig
from ..data.cache import extract_features
from ..data.layouts import SPLITS, Clip, Dataset, scan_dataset
from ..errors import ConfigError, DataError
from ..utils import DirLock, atomic_write_text, inside
from .run_dir import RunDir


@dataclass
class Prepared:
    labels: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    noise: np.ndarray  # MFCC of background-noise clips (train split)
    train_clips: list[Clip]
    val_clips: list[Clip]
    bad: list[tuple[str, str]]
    teacher: np.ndarray | None = None  # soft labels of x_train's rows (train.distill)
    real: np.ndarray | None = None  # x_train's rows of real recordings (not synthetic)


def _generated_noise(features: FeatureConfig, count: int, seed: int) -> np.ndarray:
    """MFCCs of coloured-noise clips, for datasets without background noise."""
    from ..features.librosa import mfcc
    from ..synth import colored_noise

    rng = np.random.default_rng([seed, 7])
    out = []
    for i in range(count):
        color = ("white", "pink", "brown", "hum")[i % 4]
        y = colored_noise(features.clip_samples, rng, color) * float(10 ** rng.uniform(-3, -1))
        out.append(mfcc(y, features))
    return np.stack(out)


def with_recipe_synth(data_dirs: list[str | Path], config: RunConfig, *, log=print
                      ) -> list[str | Path]:
    """``data_dirs`` plus the recipe's synthetic speech of the run's words when they hold
    real speech: espeak-ng's (``train.synth_per_word`` per word) and Kokoro's neural voices
    (``train.kokoro_per_word``), each made once and cached; a synthetic set given as data
    gets nothing more."""
    from ..synth import is_synthetic, recipe_synth

    tc = config.train
    if not data_dirs or any(is_synthetic(d) for d in data_dirs):
        return list(data_dirs)
    out = list(data_dirs)
    if tc.synth_per_word:
        out.append(recipe_synth(tc.words, tc.synth_per_word, tc.synth_seed, log=log))
    if tc.kokoro_per_word:
        out.append(recipe_synth(tc.words, tc.kokoro_per_word, tc.synth_seed, log=log,
                                engine="kokoro", speakers=tc.kokoro_speakers,
                                other_per_word=tc.kokoro_other_per_word,
                                progress=log is print))
    return out


def plan_splits(data_dirs: list[str | Path], config: RunConfig,
                noise_dirs: list[str | Path] = ()
                ) -> tuple[dict[str, list[Clip]], list[tuple[str, str]]]:
    """Scan every source and split it (by speaker; ``noise_dirs``, folders of background
    recordings, are cut into ``_silence_`` clips split by time): the run's ``splits.json``
    is this, decided once. Returns ``({split: clips}, bad files)``."""
    if not data_dirs:
        raise DataError("no --data given: name at least one dataset folder")
    tc, fc = config.train, config.features
    splits: dict[str, list[Clip]] = {s: [] for s in SPLITS}
    bad: list[tuple[str, str]] = []
    for d, layout in [(d, None) for d in data_dirs] + [(d, "noise") for d in noise_dirs]:
        ds: Dataset = scan_dataset(d, words=tc.words, validation_percent=tc.validation_percent,
                                   testing_percent=tc.testing_percent,
                                   clip_seconds=fc.clip_seconds, layout=layout)
        bad.extend(ds.bad)
        for s in SPLITS:
            splits[s] += ds.select(s)
    if not splits["train"]:
        raise DataError(f"no training clips in {', '.join(map(str, data_dirs))}")
    present = {c.label for c in splits["train"]}
    missing = [w for w in tc.words if w not in present]
    if missing:
        raise DataError(f"no training clips for the word(s) {missing} in "
                        f"{', '.join(map(str, data_dirs))}; check --words or the dataset")
    return splits, bad


def prepare(splits: dict[str, list[Clip]], config: RunConfig, *,
            cache_dir: str | Path | None, progress: bool = True) -> Prepared:
    """Extract (cached) features of the train and validation clips of a run."""
    tc, fc = config.train, config.features
    labels = tc.labels
    tr = extract_features(splits["train"], fc, cache_dir=cache_dir, progress=progress)
    va = extract_features(splits["validation"], fc, cache_dir=cache_dir, progress=progress)
    bad = tr.bad + va.bad
    if len(tr.clips) == 0:
        raise DataError("no training clip could be read; run `speechgru check-data`")
    if len(va.clips) == 0:
        raise DataError("the validation split is empty: give more speakers or raise "
                        "validation_percent")
    noise_idx = [i for i, c in enumerate(tr.clips) if c.label == SILENCE]
    noise = tr.x[noise_idx] if noise_idx else _generated_noise(fc, 32, tc.seed)
    x_train, y_train = tr.x, tr.labels(labels)
    real = _real_rows(tr.clips)
    if not noise_idx:  # no silence in the data: generated noise clips are the silence class
        x_train = np.concatenate([x_train, noise])
        y_train = np.concatenate([y_train, np.full(len(noise), 0, np.int32)])
        real = np.concatenate([real, np.zeros(len(noise), bool)])
    if tc.reversed_negatives:  # real commands played backwards: real voices, no word
        # (|FFT| of a reversed frame is the frame's own, so reversing the frame order is
        # the MFCC of the reversed audio, up to where the frames fall)
        rev = np.flatnonzero(real & (y_train >= 2))
        x_train = np.concatenate([x_train, x_train[rev, ::-1]])
        y_train = np.concatenate([y_train, np.full(len(rev), 1, np.int32)])
        real = np.concatenate([real, np.ones(len(rev), bool)])
    return Prepared(labels, x_train, y_train, va.x, va.labels(labels), noise, tr.clips,
                    va.clips, bad, real=real)


def _real_rows(clips: list[Clip]) -> np.ndarray:
    """True for the clips of real recordings (a dataset folder speechgru did not
    synthesize); a clip's dataset is the folder above its word folder."""
    from ..synth import is_synthetic

    synthetic: dict[Path, bool] = {}
    for c in clips:
        root = c.path.parent.parent
        if root not in synthetic:
            synthetic[root] = is_synthetic(root)
    return np.array([not synthetic[c.path.parent.parent] for c in clips], bool)


def _save_calibration(run: RunDir, prep: Prepared, config: RunConfig, count: int = 200) -> None:
    """A few validation clips (PCM and features) and training features: export's parity
    check and int8 calibration, so export needs only the run directory."""
    from ..audio import load_clip

    F = config.features
    rng = np.random.default_rng(0)
    vi = np.sort(rng.permutation(len(prep.val_clips))[:count])
    ti = np.sort(rng.permutation(len(prep.train_clips))[:count])
    pcm = np.stack([load_clip(prep.val_clips[i].path, sample_rate=F.sample_rate,
                              num_samples=F.clip_samples, offset=prep.val_clips[i].offset,
                              duration=prep.val_clips[i].duration) for i in vi])
    run.save_calibration(val_pcm=pcm.astype(np.float32),
                         val_x=prep.x_val[vi].astype(np.float32),
                         val_y=prep.y_val[vi].astype(np.int32),
                         train_x=prep.x_train[ti].astype(np.float32))


def epoch_indices(y: np.ndarray, labels: list[str], config: RunConfig, epoch: int,
                  real: np.ndarray | None = None) -> np.ndarray:
    """The training examples of one epoch: every command clip, and unknown / silence clips
    sampled to the configured ratios of the mean command count (with ``real``, the rows of
    real recordings, ``train.real_unknown_share`` of the unknown clips are real ones);
    shuffled; a pure function of (seed, epoch)."""
    tc = config.train
    rng = np.random.default_rng([tc.seed, epoch])
    sil, unk = labels.index(SILENCE), labels.index(UNKNOWN)
    cmd = np.flatnonzero((y != sil) & (y != unk))
    counts = np.bincount(y[cmd], minlength=len(labels))
    mean_cmd = counts[counts > 0].mean() if len(cmd) else 1.0
    parts = [cmd]
    for cls, ratio in ((sil, tc.silence_ratio), (unk, tc.unknown_ratio)):
        pool = np.flatnonzero(y == cls)
        want = int(round(ratio * mean_cmd))
        share = tc.real_unknown_share if cls == unk and real is not None else 0.0
        pools = [(pool, want)]
        if share and real[pool].any() and not real[pool].all():
            n_real = int(round(share * want))
            pools = [(pool[real[pool]], n_real), (pool[~real[pool]], want - n_real)]
        for p, n in pools:
            if len(p) and n:
                parts.append(rng.choice(p, size=n, replace=n > len(p)))
    idx = np.concatenate(parts)
    rng.shuffle(idx)
    return idx


NEIGHBOUR_FRAMES = 15  # the most of a neighbouring word let into either edge (300 ms)


def with_neighbours(x: np.ndarray, sel: np.ndarray, p: float, rng: np.random.Generator,
                    most: int = NEIGHBOUR_FRAMES) -> np.ndarray:
    """The clips ``x[sel]`` as a stream's windows see them: at each edge, with probability
    ``p``, up to ``most`` frames are replaced by the loud part of another training clip (the
    frames around its loudest frame — MFCC 0 is the log energy — ending a word before the
    clip, beginning one after it). The label stays the clip's: a command with the tail of
    another word before it is still that command; a non-word with the head of a command
    after it is still no command."""
    out = x[sel].copy()
    T = out.shape[1]
    most = min(most, T // 3) if len(x) > 1 else 0
    for i in range(len(out)):
        for edge in (0, 1):
            if most < 1 or rng.random() >= p:
                continue
            k = int(rng.integers(1, most + 1))
            j = int(rng.integers(len(x) - 1))  # any clip but this one
            other = x[j + (j >= sel[i])]
            loud = int(other[:, 0].argmax())
            if edge == 0:  # a word ending as this clip starts
                end = min(T, max(k, loud + k // 2))
                out[i, :k] = other[end - k:end]
            else:  # a word starting as this clip ends
                start = min(T - k, max(0, loud - k // 2))
                out[i, T - k:] = other[start:start + k]
    return out


def mixed(x: np.ndarray, target: np.ndarray, alpha: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """Mixup within a batch: row i becomes ``lam_i * row i + (1 - lam_i) * row j`` of a
    random permutation, in the features and the targets alike, ``lam_i ~ Beta(alpha, alpha)``
    folded to at least 0.5 (the row's own example stays the larger part). The MFCCs mix
    linearly, so the spectra mix geometrically: two voices, the louder one dominating."""
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)
    perm = rng.permutation(len(x))
    return (lam[:, None, None] * x + (1 - lam[:, None, None]) * x[perm],
            lam[:, None] * target + (1 - lam[:, None]) * target[perm])


def _one_hot(y, n):
    return np.eye(n, dtype=np.float32)[y]


def _train_dataset(prep: Prepared, config: RunConfig, start_epoch: int, steps: int,
                   teacher=None):
    """The training batches (features, targets) from ``start_epoch`` on; ``teacher`` (a
    Keras model, ``train.teacher_run``) mixes its probabilities on each augmented batch
    into the targets by ``train.distill``."""
    import tensorflow as tf

    from .augment import make_augmenter

    tc, n = config.train, len(prep.labels)
    bs = tc.batch_size
    augment = make_augmenter(config.features, tc, prep.noise) if tc.augment else None

    def gen():
        for epoch in range(start_epoch, tc.epochs):
            idx = epoch_indices(prep.y_train, prep.labels, config, epoch, prep.real)
            for b in range(steps):
                sel = idx[(b * bs) % len(idx):][:bs]
                if len(sel) < bs:  # wrap: every batch is full
                    sel = np.concatenate([sel, idx[:bs - len(sel)]])
                target = _one_hot(prep.y_train[sel], n)
                if prep.teacher is not None:
                    target = (1 - tc.distill) * target + tc.distill * prep.teacher[sel]
                x = prep.x_train[sel] if not tc.neighbours else with_neighbours(
                    prep.x_train, sel, tc.neighbours,
                    np.random.default_rng([tc.seed, epoch, b, 7]))
                if tc.mixup:
                    x, target = mixed(x, target, tc.mixup,
                                      np.random.default_rng([tc.seed, epoch, b, 11]))
                yield x, target, np.array([tc.seed, epoch * 100003 + b], np.int64)

    F = config.features
    spec = (tf.TensorSpec((bs, F.num_frames, F.num_features), tf.float32),
            tf.TensorSpec((bs, n), tf.float32), tf.TensorSpec((2,), tf.int64))
    ds = tf.data.Dataset.from_generator(gen, output_signature=spec)
    if augment is not None:
        ds = ds.map(augment, num_parallel_calls=2, deterministic=True)
    else:
        ds = ds.map(lambda x, y, s: (x, y))
    if teacher is not None:
        d = tc.distill
        ds = ds.map(lambda x, y: (x, (1 - d) * y + d * teacher(x, training=False)))
    # every worker of a multi-worker run makes the same global batches and keeps its share
    # of each (tf.distribute rebatches, then shards by element), so a step sees exactly the
    # batch that single-process training sees
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(4)


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
            if state["wait"] >= config.train.patience:
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
           noise_dirs: list[str | Path] = (), locks: list | None = None) -> dict:
    """Train a model and fill ``run_dir``; returns the validation metrics of the best model.

    The split is decided here, once, and saved in the run (``splits.json``).
    ``resume=True`` continues a run from its last finished epoch with its own config and
    splits (``data_dirs`` are not needed); ``noise_dirs``: folders of background
    recordings (``--noise``), heard as silence and mixed into the training clips as
    their noise; ``resume_epochs`` must then equal the run's
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
        own = list(data_dirs or [])  # the user's data (the recipe's speech is added)
        data_dirs = with_recipe_synth(data_dirs or [], config,
                                      log=print if verbose != 0 else (lambda *_: None))
        splits, bad = plan_splits(data_dirs, config, noise_dirs)
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
                                      for c in prep.train_clips):
        why = (f"{len(skipped)} bad file(s), e.g. {skipped[0][0]}: {skipped[0][1]}"
               if skipped else "none in its train split")
        raise DataError(f"{', '.join(map(str, own))}: no training clip could be read ({why}); "
                        "the recipe's synthetic speech alone is not a dataset: run speechgru "
                        "check-data on it")
    if skipped and verbose != 0:
        print(f"skipped {len(skipped)} bad file(s) (each named in {run_dir}/data.json; "
              "speechgru check-data DIR lists them)", flush=True)
    tc = config.train
    if tc.distill and teacher is None:
        prep.teacher = soft_labels(prep, cache_dir,
                                   log=print if verbose != 0 else (lambda *_: None))
    n_epoch = len(epoch_indices(prep.y_train, prep.labels, config, 0, prep.real))
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
            model = build_model(config.model, Mode.TRAINING, num_frames=F.num_frames,
                                num_features=F.num_features, num_classes=len(prep.labels),
                                mean=prep.x_train.mean(axis=(0, 1)),
                                variance=prep.x_train.var(axis=(0, 1)) + 1e-6)
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
    return finish(run, prep.labels, prep.x_val, prep.y_val, prep.val_clips)


def _check_finite(model, run_dir: Path) -> None:
    """A model whose weights went NaN/Inf is an error, not a finished run."""
    for w in model.weights:
        if not np.all(np.isfinite(np.asarray(w))):
            raise ConfigError(f"{run_dir}: training diverged ({w.path} is not finite); lower "
                              "learning_rate or weight_decay in the config")


def finish(run: RunDir, labels: list[str], x_val: np.ndarray, y_val: np.ndarray,
           val_clips: list[Clip], **extra) -> dict:
    """Validation metrics (with ``extra`` entries), the operating point, curves and
    confusion of the run's best model on its validation clips (``x_val`` their features,
    ``y_val`` their label indices)."""
    from ..plots import plot_confusion, plot_curves
    from .evaluate import choose_operating_point, metrics

    run.require("best.keras")
    best = run.load_model("best")
    probs = best.predict(x_val, batch_size=256, verbose=0)
    m = metrics(probs, y_val, labels)
    tc = run.config().train
    point = choose_operating_point(probs, y_val, labels, tc.target_false_accept,
                                   real=_real_rows(val_clips))
    run.save_operating_point(point)
    m["operating_point"] = point
    state = run.state()
    m["best_epoch"] = state["best_epoch"]
    m["epochs_run"] = state["epoch"]
    m.update(extra)
    atomic_write_text(run / "metrics.json", json.dumps(m, indent=1))
    if state["history"]:  # an ensemble (speechgru ensemble) has no training history
        plot_curves(state["history"], run / "curves.png")
    plot_confusion(np.array(m["confusion"]), labels, run / "confusion.png",
                   title=f"validation, accuracy {m['accuracy']:.3f}")
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
    from ..plots import plot_confusion
    from .evaluate import metrics

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
