"""A run's data: its sources (with the recipe's synthetic speech), the split decided once
(:func:`plan_splits`, saved in the run), and the cached features of its train and
validation clips (:func:`prepare`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import SILENCE, FeatureConfig, RunConfig
from ..data.cache import extract_features
from ..data.layouts import SPLITS, Clip, Dataset, scan_dataset
from ..errors import DataError
from ..run_dir import RunDir


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
    words: np.ndarray | None = None  # what x_train's rows say (train.unknown_by_word)


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


#: the commands' Kokoro set that a new word's run hears as its Kokoro other words: these
#: many clips per command (the set of the model in the box, made once and cached)
SHARED_KOKORO_PER_WORD = 60


def with_recipe_synth(data_dirs: list[str | Path], config: RunConfig, *, log=print
                      ) -> list[str | Path]:
    """``data_dirs`` plus the recipe's synthetic speech of the run's words: espeak-ng's
    (``train.synth_per_word`` per word) and Kokoro's neural voices (``train.kokoro_per_word``,
    and ``train.kokoro_vocabulary`` more words in the same voices), each made once and
    cached; a synthetic set given as data gets nothing more.

    With no ``data_dirs`` (a word of one's own without recordings) the synthetic speech is
    the data. For words that are not all commands, Kokoro's set holds the words and their
    near-misses only, and the commands' Kokoro set (the usual other words, the commands and
    their near-misses in the same voices: made once for every word) is added as other
    words: a new word costs its own clips alone."""
    from ..config import COMMANDS
    from ..synth import is_synthetic, recipe_synth

    tc = config.train
    if any(is_synthetic(d) for d in data_dirs):
        return list(data_dirs)
    out = list(data_dirs)
    if tc.synth_per_word:
        out.append(recipe_synth(tc.words, tc.synth_per_word, tc.synth_seed, log=log,
                                say=tc.said))
    new_words = not set(tc.words) <= set(COMMANDS)
    kokoro = {"log": log, "engine": "kokoro", "speakers": tc.kokoro_speakers,
              "other_per_word": tc.kokoro_other_per_word, "progress": log is print}
    if tc.kokoro_per_word:
        out.append(recipe_synth(tc.words, tc.kokoro_per_word, tc.synth_seed,
                                others=not new_words, say=tc.said, **kokoro))
    if tc.kokoro_per_word and new_words and tc.kokoro_commands:
        out.append(recipe_synth(COMMANDS, SHARED_KOKORO_PER_WORD, tc.synth_seed, **kokoro))
    if tc.kokoro_per_word and tc.kokoro_vocabulary:  # more words, in the same voices
        # (without other_per_word: it is part of a cached set's key, and this set has none)
        out.append(recipe_synth(tc.words, tc.kokoro_per_word, tc.synth_seed, log=log,
                                engine="kokoro", speakers=tc.kokoro_speakers,
                                vocabulary=tc.kokoro_vocabulary, progress=log is print))
    return out


def plan_splits(data_dirs: list[str | Path], config: RunConfig,
                noise_dirs: list[str | Path] = (), talk_dirs: list[str | Path] = (),
                hard_negatives: list[str | Path] = ()
                ) -> tuple[dict[str, list[Clip]], list[tuple[str, str]]]:
    """Scan every source and split it (by speaker; ``noise_dirs``, folders of background
    recordings, are cut into ``_silence_`` clips split by time; ``talk_dirs``, folders of
    continuous speech, into one-second ``_unknown_`` windows of screened talk, split by the
    talk's own split, :mod:`speechgru.data.talk`; ``hard_negatives``: files of windows
    mined from the talk's train part, :mod:`.hard_negatives`, added to train): the run's
    ``splits.json`` is this, decided once. Returns ``({split: clips}, bad files)``."""
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
    for d in talk_dirs:
        from ..data.talk import read_talk, talk_windows

        for w in talk_windows(read_talk(d, words=tc.words), clip_seconds=fc.clip_seconds):
            if w.split != "test":  # the talk's test speakers are the room benchmark's
                splits[w.split].append(w)
    for f in hard_negatives:
        from .hard_negatives import read_hard_negatives

        splits["train"] += read_hard_negatives(f)
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
    words = np.array([c.word for c in tr.clips], object)
    if not noise_idx:  # no silence in the data: generated noise clips are the silence class
        x_train = np.concatenate([x_train, noise])
        y_train = np.concatenate([y_train, np.full(len(noise), 0, np.int32)])
        real = np.concatenate([real, np.zeros(len(noise), bool)])
        words = np.concatenate([words, np.full(len(noise), SILENCE, object)])
    if tc.reversed_negatives:  # real commands played backwards: real voices, no word
        # (|FFT| of a reversed frame is the frame's own, so reversing the frame order is
        # the MFCC of the reversed audio, up to where the frames fall)
        rev = np.flatnonzero(real & (y_train >= 2))
        x_train = np.concatenate([x_train, x_train[rev, ::-1]])
        y_train = np.concatenate([y_train, np.full(len(rev), 1, np.int32)])
        real = np.concatenate([real, np.ones(len(rev), bool)])
        words = np.concatenate([words, np.array([f"{w} reversed" for w in words[rev]],
                                                object)])
    return Prepared(labels, x_train, y_train, va.x, va.labels(labels), noise, tr.clips,
                    va.clips, bad, real=real, words=words)


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
