"""What each epoch sees: the balanced draw of clips (:func:`epoch_indices`), words in the
neighbourhood, mixup, and the augmented ``tf.data`` batches (:func:`_train_dataset`);
everything random derives from (seed, epoch, batch)."""

from __future__ import annotations

import numpy as np

from ..config import SILENCE, UNKNOWN, RunConfig
from ..data.talk import HARD_WORD, TALK_WORD
from .data import Prepared


def epoch_indices(y: np.ndarray, labels: list[str], config: RunConfig, epoch: int,
                  real: np.ndarray | None = None, words: np.ndarray | None = None
                  ) -> np.ndarray:
    """The training examples of one epoch: every command clip, and unknown / silence clips
    sampled to the configured ratios of the mean command count (with ``real``, the rows of
    real recordings, ``train.real_unknown_share`` of the unknown clips are real ones; with
    ``words``, what each row says, and ``train.unknown_by_word``, each word of a pool of
    unknown clips is drawn as often; windows of talk and hard negatives, by what they say,
    are drawn apart, ``train.talk_ratio`` and ``train.hard_ratio`` of the mean command
    count); shuffled; a pure function of (seed, epoch)."""
    tc = config.train
    rng = np.random.default_rng([tc.seed, epoch])
    sil, unk = labels.index(SILENCE), labels.index(UNKNOWN)
    cmd = np.flatnonzero((y != sil) & (y != unk))
    counts = np.bincount(y[cmd], minlength=len(labels))
    mean_cmd = counts[counts > 0].mean() if len(cmd) else 1.0
    parts = [cmd]
    apart = {}  # talk and hard negatives: drawn by ratios of their own
    if words is not None:
        for word, ratio in ((TALK_WORD, tc.talk_ratio), (HARD_WORD, tc.hard_ratio)):
            rows = np.flatnonzero((y == unk) & (words == word))
            if len(rows):
                apart[word] = rows
                n = int(round(ratio * mean_cmd))
                if n:
                    parts.append(rng.choice(rows, size=n, replace=n > len(rows)))
    kept = np.ones(len(y), bool)
    for rows in apart.values():
        kept[rows] = False
    for cls, ratio in ((sil, tc.silence_ratio), (unk, tc.unknown_ratio)):
        pool = np.flatnonzero((y == cls) & kept)
        want = int(round(ratio * mean_cmd))
        share = tc.real_unknown_share if cls == unk and real is not None else 0.0
        pools = [(pool, want)]
        if share and real[pool].any() and not real[pool].all():
            n_real = int(round(share * want))
            pools = [(pool[real[pool]], n_real), (pool[~real[pool]], want - n_real)]
        for p, n in pools:
            if not (len(p) and n):
                continue
            if cls == unk and tc.unknown_by_word and words is not None:
                _, which, per_word = np.unique(words[p].astype(str), return_inverse=True,
                                               return_counts=True)
                weight = 1.0 / per_word[which]
                parts.append(rng.choice(p, size=n, p=weight / weight.sum()))
            else:
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
            idx = epoch_indices(prep.y_train, prep.labels, config, epoch, prep.real,
                                prep.words)
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
