"""Configuration dataclasses that travel with a model (``config.json``).

Each dataclass round-trips through JSON: ``FeatureConfig.from_dict(cfg.to_dict()) == cfg``.
Unknown keys and values of the wrong kind raise :class:`~speechgru.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Self

from .errors import ConfigError

_WORD = re.compile(r"[^\W_][\w-]{0,63}")
_SAID = re.compile(r"[^\W\d_][^\W\d_' -]*(?:['\- ][^\W\d_]+)*")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"


def frame_count(num_samples: int, n_fft: int, hop_length: int, center: bool = False) -> int:
    """Frames of ``n_fft`` samples every ``hop_length`` in ``num_samples`` (``center``:
    librosa's padding by ``n_fft // 2`` on both sides)."""
    if center:
        return 1 + num_samples // hop_length
    return 1 + (num_samples - n_fft) // hop_length


class _JSONConfig:
    """Mixin: to/from dict and JSON with validation of keys."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> Self:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object for {cls.__name__}, got "
                              f"{type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{source}: unknown {cls.__name__} key(s) {unknown}; "
                              f"valid keys are {sorted(names)}")
        kwargs = {}
        for k, v in data.items():
            default = names[k].default
            if isinstance(default, tuple) and isinstance(v, list):
                v = tuple(v)
            kwargs[k] = v
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str = "config") -> Self:
        return cls.from_dict(parse_json(text, source=source), source=source)

    def save(self, path: str | Path) -> None:
        from .utils import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        path = Path(path)
        return cls.from_json(read_text(path), source=str(path))


def read_text(path: str | Path, *, error=ConfigError, limit: int = 16 << 20) -> str:
    """A small UTF-8 text file (a config, a list, labels), or ``error`` naming it."""
    path = Path(path)
    try:
        if path.stat().st_size > limit:
            raise error(f"{path}: {path.stat().st_size} bytes is too large for a text file "
                        f"of settings (limit {limit >> 20} MiB)")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not a UTF-8 text file (binary content?)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None


#: Deeper than any file speechgru writes or reads (a config is 3 levels, a manifest 4).
MAX_JSON_DEPTH = 32


def parse_json(text: str, *, source: str, error=ConfigError):
    """JSON text as Python objects, or ``error`` naming ``source`` and what is wrong: not
    JSON, a key given twice in one object (JSON would keep the last silently), or nesting
    deeper than :data:`MAX_JSON_DEPTH`."""

    def no_duplicates(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise error(f"{source}: the key {k!r} is given twice in one object; keep one")
            seen[k] = v
        return seen

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise error(f"{source}: not valid JSON ({exc})") from None
    except RecursionError:
        raise error(f"{source}: nested deeper than any settings file (limit "
                    f"{MAX_JSON_DEPTH} levels)") from None
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise error(f"{source}: nested deeper than any settings file (limit "
                        f"{MAX_JSON_DEPTH} levels)")
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]
    return data


def read_json(path: str | Path, *, error=ConfigError):
    """A JSON file, or ``error`` naming it and what is wrong (:func:`parse_json`)."""
    return parse_json(read_text(path, error=error), source=str(path), error=error)


def read_labels(path: Path, error=ConfigError) -> list[str]:
    """``labels.txt``: one label per line, non-empty, unique."""
    labels = read_text(path, error=error).split()
    if not labels or len(set(labels)) != len(labels):
        raise error(f"{path}: labels must be one per line, non-empty and unique; got "
                    f"{labels[:20]}")
    return labels


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _check_type(obj, name: str, kind) -> None:
    v = getattr(obj, name)
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        return
    if isinstance(v, bool) and kind is not bool:
        raise ValueError(f"{name} must be {kind.__name__}, got {v!r}")
    if not isinstance(v, kind):
        raise ValueError(f"{name} must be {getattr(kind, '__name__', kind)}, got {v!r}")


def _check_number(obj, name: str, kind, lo: float, hi: float, *, lo_open: bool = False,
                  hi_open: bool = False) -> None:
    """``name`` is a finite ``kind`` (an int counts as a float) in the given range; the
    message names the field, the value and the allowed range."""
    _check_type(obj, name, kind)
    v = getattr(obj, name)
    bounds = (f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}")
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open
                                                                      else v <= hi)
    _check(ok, f"{name} = {v!r} is out of range; allowed {bounds}")


def _check_numbers(obj, rules: dict) -> None:
    for name, rule in rules.items():
        kind, lo, hi, *opens = rule
        flags = dict(zip(("lo_open", "hi_open"), opens, strict=False))
        _check_number(obj, name, kind, lo, hi, **flags)


@dataclasses.dataclass(frozen=True)
class FeatureConfig(_JSONConfig):
    """How audio becomes MFCC frames.

    The defaults suit keyword spotting on 1 s clips at 16 kHz: a 30 ms Hann window
    (``win_length=480``) zero-padded to ``n_fft=512`` (a power of two, so TFLite's RFFT can
    compute it), a 20 ms hop (49 frames a second), 40 HTK mel bands from 20 Hz to 7.6 kHz,
    power spectrum, ``10·log10`` and an orthonormal DCT-II keeping ``n_mfcc`` coefficients.
    ``center=False`` and no per-clip ``top_db`` clipping, so the same numbers can be
    computed frame by frame in a TF graph and in a streaming model.

    Examples
    --------
    >>> cfg = FeatureConfig()
    >>> cfg.num_frames, cfg.num_features
    (49, 40)
    >>> FeatureConfig.from_json(cfg.to_json()) == cfg
    True
    """

    sample_rate: int = 16000
    clip_seconds: float = 1.0
    n_fft: int = 512
    win_length: int = 480
    hop_length: int = 320
    window: str = "hann"
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 7600.0
    n_mfcc: int = 40
    center: bool = False
    log: str = "db"  # "db": 10*log10(max(S, amin)); "ln": log(S + amin)
    amin: float = 1e-10
    deltas: int = 0  # 0: MFCC only; 1: + delta; 2: + delta and delta-delta
    delta_width: int = 9

    def __post_init__(self):
        for name, kind in [("center", bool), ("window", str), ("log", str)]:
            _check_type(self, name, kind)
        _check_numbers(self, {
            "sample_rate": (int, 1000, 192000), "clip_seconds": (float, 0, 60, True),
            "n_fft": (int, 16, 65536), "win_length": (int, 1, 65536),
            "hop_length": (int, 1, 65536), "n_mels": (int, 1, 512), "n_mfcc": (int, 1, 512),
            "fmin": (float, 0, 96000), "fmax": (float, 0, 96000, True),
            "amin": (float, 0, 1, True), "deltas": (int, 0, 2),
            "delta_width": (int, 3, 99)})
        _check(self.n_fft & (self.n_fft - 1) == 0,
               f"n_fft must be a power of two (TFLite RFFT needs it), got {self.n_fft}")
        _check(0 < self.win_length <= self.n_fft,
               f"win_length must be in 1..n_fft={self.n_fft}, got {self.win_length}")
        _check(0 < self.n_mfcc <= self.n_mels,
               f"n_mfcc must be in 1..n_mels={self.n_mels}, got {self.n_mfcc}")
        _check(0 <= self.fmin < self.fmax <= self.sample_rate / 2,
               f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin} "
               f"fmax={self.fmax} sample_rate={self.sample_rate}")
        _check(self.log in ("db", "ln"), f"log must be 'db' or 'ln', got {self.log!r}")
        _check(self.delta_width % 2 == 1, f"delta_width must be odd, got {self.delta_width}")
        _check(self.clip_samples >= self.n_fft,
               f"a clip of {self.clip_samples} samples is shorter than n_fft={self.n_fft}")

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def num_frames(self) -> int:
        return frame_count(self.clip_samples, self.n_fft, self.hop_length, self.center)

    @property
    def num_features(self) -> int:
        return self.n_mfcc * (1 + self.deltas)

    def fingerprint(self) -> str:
        """A short stable hash of every setting (the feature cache is keyed by it)."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class ModelConfig(_JSONConfig):
    """The stacked-GRU classifier (see :func:`speechgru.models.build_model`).

    ``units`` gives one GRU layer per entry; ``bidirectional`` wraps each in a BiGRU;
    ``pooling`` turns the frame sequence into one vector: the last state (``"last"``,
    streamable), the mean over time, or attention over time. ``cell`` chooses our
    hand-written GRU (``"custom"``) or ``keras.layers.GRU`` (``"keras"``).
    ``conv_filters`` puts convolutions before the GRUs (a CRNN): one per entry, with that
    many filters, a ``conv_kernel`` (frames, coefficients) kernel causal in time and a
    stride of ``conv_stride`` over the coefficients. ``members`` > 1 makes an ensemble of
    that many such classifiers averaged (``speechgru ensemble``).
    """

    units: tuple[int, ...] = (128, 128)
    conv_filters: tuple[int, ...] = ()
    conv_kernel: tuple[int, ...] = (3, 3)
    conv_stride: int = 2
    bidirectional: bool = False
    pooling: str = "last"  # last | mean | attention
    attention_units: int = 64
    dropout: float = 0.2
    dense_units: int = 0
    cell: str = "custom"  # custom | keras
    reset_after: bool = True
    convention: str = "textbook"
    # an ensemble: this many classifiers of this shape side by side on the same normalised
    # frames, the mean of their probabilities the output (``speechgru ensemble`` makes one
    # from runs trained apart)
    members: int = 1

    def __post_init__(self):
        _check(isinstance(self.units, tuple) and len(self.units) > 0
               and all(isinstance(u, int) and not isinstance(u, bool) and u > 0
                       for u in self.units),
               f"units must be a non-empty list of positive integers, got {self.units!r}")
        _check(len(self.units) <= 16 and all(u <= 4096 for u in self.units),
               f"units must be at most 16 layers of at most 4096, got {self.units!r}")
        for name in ("conv_filters", "conv_kernel"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        _check(isinstance(self.conv_filters, tuple) and len(self.conv_filters) <= 8
               and all(isinstance(u, int) and not isinstance(u, bool) and 0 < u <= 512
                       for u in self.conv_filters),
               f"conv_filters must be a list of at most 8 filter counts in 1..512, got "
               f"{self.conv_filters!r}")
        _check(isinstance(self.conv_kernel, tuple) and len(self.conv_kernel) == 2
               and all(isinstance(u, int) and not isinstance(u, bool) for u in self.conv_kernel)
               and 2 <= self.conv_kernel[0] <= 32 and 1 <= self.conv_kernel[1] <= 32,
               f"conv_kernel must be [frames, coefficients] with frames in 2..32 and "
               f"coefficients in 1..32, got {self.conv_kernel!r}")
        for name, kind in [("bidirectional", bool), ("pooling", str), ("cell", str),
                           ("reset_after", bool), ("convention", str)]:
            _check_type(self, name, kind)
        _check_numbers(self, {"attention_units": (int, 1, 4096),
                              "dropout": (float, 0, 1, False, True),
                              "dense_units": (int, 0, 4096), "conv_stride": (int, 1, 8),
                              "members": (int, 1, 16)})
        _check(self.pooling in ("last", "mean", "attention"),
               f"pooling must be 'last', 'mean' or 'attention', got {self.pooling!r}")
        _check(self.cell in ("custom", "keras"),
               f"cell must be 'custom' or 'keras', got {self.cell!r}")
        _check(self.convention in ("textbook", "keras"),
               f"convention must be 'textbook' or 'keras', got {self.convention!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig(_JSONConfig):
    """How a model is trained (see :mod:`speechgru.training.train`)."""

    epochs: int = 80
    batch_size: int = 64
    learning_rate: float = 3e-3
    min_learning_rate: float = 1e-5
    warmup_epochs: int = 1
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    patience: int = 12  # early stopping on validation accuracy
    # early stopping acts from this share of the epochs on: before it the cosine learning
    # rate is still high and a plateau is no end of learning (a bench run stopped at epoch
    # 33 of 80 with 77.6 % top-1 where its other seeds went on to 85 %)
    early_stop_from: float = 0.5
    seed: int = 0
    words: tuple[str, ...] = COMMANDS
    validation_percent: float = 10.0
    testing_percent: float = 10.0
    silence_ratio: float = 1.0  # silence clips per training epoch / mean clips per command
    unknown_ratio: float = 3.0  # unknown clips per epoch / mean clips per command
    # the recipe's synthetic speech, added to real data (not to a synthetic set): this many
    # clips per command word, and a third as many of each usual non-command word, made once
    # offline (speechgru.synth.recipe_synth); 0: none
    synth_per_word: int = 200
    synth_seed: int = 11
    # ... and in Kokoro-82M's neural voices (speechgru[tts]; speechgru.synth.kokoro): this
    # many clips per command word by kokoro_speakers speakers, with the usual non-command
    # words and every command's near-misses in the same voices, kokoro_other_per_word each
    # (0: none); and this many more words drawn from misaki's lexicon, two clips each in
    # the same voices (word variety for _unknown_; speechgru.synth.kokoro.vocabulary)
    kokoro_per_word: int = 0
    kokoro_other_per_word: int = 8
    kokoro_speakers: int = 60
    kokoro_vocabulary: int = 0
    # for words that are not the commands: the commands' Kokoro set (the commands, the usual
    # other words and their near-misses in the same voices; made once for every word) heard
    # as other words beside the word's own set
    kokoro_commands: bool = True
    # augmentation (feature domain: see speechgru.training.augment)
    augment: bool = True
    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (0.0, 25.0)
    time_shift_ms: float = 100.0
    vtlp: float = 0.1  # vocal-tract-length perturbation: spectrum stretched by 1 ± up to this
    # measured on unseen speakers (README, "The default recipe"): these four gave +2.6
    # points of top-1 and half the other words accepted at 0.6
    speed: float = 0.15  # speed perturbation: played 1 ± up to this times as fast
    reverb_prob: float = 0.5  # share of clips heard in a simulated room
    gain_db: float = 6.0  # level moved by up to ± this
    eq_db: float = 3.0  # spectral colouring: two band-cosines of up to ± this
    # telephone-band audio: the share of clips heard band-limited (every band above 3.4 to
    # 5 kHz at the floor, as 8 kHz audio resampled); 0: off
    band_limit: float = 0.0
    time_masks: int = 2
    time_mask_frames: int = 5
    freq_masks: int = 2
    freq_mask_bands: int = 4
    # the operating point: the lowest threshold that takes at most this share of the
    # validation split's real other words for a command (every `_unknown_` clip when it
    # holds fewer than 30 real ones; stored in the run and the export)
    target_false_accept: float = 0.03
    # distillation: targets are (1 - distill) * one-hot + distill * a frozen speech-embedding
    # teacher's out-of-fold probabilities (speechgru.training.teacher; speechgru[distill])
    distill: float = 0.0
    # ... or a run of ours as the teacher (typically a `speechgru ensemble` of runs on the
    # same split): its probabilities on each augmented training batch, as the student sees
    # it (speechgru.training.teacher.run_teacher); "": the speech-embedding teacher
    teacher_run: str = ""
    # how a word is said when not as it is written, for its synthetic takes: "word=text"
    # entries (a name respelled: "xiaomi=shao me"); its near-misses are the text's
    say: tuple[str, ...] = ()
    # a base that already knows speech: a finished run whose weights this run starts from
    # (its features and model sections are this run's; speechgru.training.base), e.g.
    # models/speech-commands-12/base; "": random weights
    base: str = ""
    # ... and this many of its first GRU layers kept as they are (not trained): what the
    # base learned of real voices stays, the rest learns the new words
    base_freeze: int = 0
    # real voices in `_unknown_`: the share of each epoch's unknown clips drawn from real
    # (not synthetic) recordings when there are both (0: as they fall from the pool), and
    # real command clips played backwards as
    # more real non-words (reversed_negatives). Measured on unseen speakers (README):
    # +1.0 point of top-1, +6.7 points of command recall where 3 % of FSDD's digits pass
    real_unknown_share: float = 0.5
    reversed_negatives: bool = True
    # ... and within each of those pools every *word* drawn as often (not every clip), so
    # that three words of thousands of clips do not crowd out the rest. Measured (3 seeds,
    # docs/bench.md): rare words separated better, common ones worse, false alarms in
    # background: off
    unknown_by_word: bool = False
    # weight averaging: validation, the best checkpoint and the export use the exponential
    # moving average of the weights over the training steps with this momentum (0: off;
    # measured at 0.998: the same top-1 on unseen speakers, README)
    ema: float = 0.0
    # words in the neighbourhood, as a stream's windows hold them: the probability that each
    # edge of a training clip gets up to 300 ms of another clip's loud part (0: off;
    # measured at 0.5: fewer other words fire, but -4.9 points of top-1, README)
    neighbours: float = 0.0
    # ordinary talk (train --talk): windows of real continuous speech drawn apart from the
    # other unknown clips, this many per epoch / mean clips per command; and the hard
    # negatives mined from talk (train --hard-negatives: windows where an earlier round
    # fired), this many
    talk_ratio: float = 1.0
    hard_ratio: float = 0.5
    # mixup: each training example becomes lam * itself + (1 - lam) * another example of the
    # batch (features and targets alike), lam ~ Beta(mixup, mixup) folded to >= 0.5 so the
    # example's own label stays the larger part (0: off)
    mixup: float = 0.0

    @property
    def said(self) -> dict[str, str]:
        """:attr:`say` as word → text."""
        return dict(entry.split("=", 1) for entry in self.say)

    @property
    def labels(self) -> list[str]:
        """The run's classes in the model's output order: silence, unknown, the words."""
        return [SILENCE, UNKNOWN, *self.words]

    def __post_init__(self):
        _check_type(self, "augment", bool)
        _check_type(self, "reversed_negatives", bool)
        _check_type(self, "unknown_by_word", bool)
        _check_type(self, "teacher_run", str)
        _check_type(self, "base", str)
        _check_type(self, "kokoro_commands", bool)
        _check(not self.teacher_run or self.distill > 0,
               f"teacher_run = {self.teacher_run!r} needs distill > 0 (the teacher's weight "
               "in the targets)")
        _check_numbers(self, {
            "epochs": (int, 1, 100000), "batch_size": (int, 1, 65536),
            "learning_rate": (float, 0, 1, True), "min_learning_rate": (float, 0, 1),
            "warmup_epochs": (int, 0, 100000), "weight_decay": (float, 0, 1),
            "label_smoothing": (float, 0, 1, False, True), "patience": (int, 1, 100000),
            "early_stop_from": (float, 0, 1),
            "target_false_accept": (float, 0, 1, False, True), "distill": (float, 0, 1),
            "real_unknown_share": (float, 0, 1), "ema": (float, 0, 1, False, True),
            "neighbours": (float, 0, 1), "mixup": (float, 0, 10),
            "seed": (int, 0, 2 ** 32 - 1), "validation_percent": (float, 0, 100, False, True),
            "testing_percent": (float, 0, 100, False, True),
            "silence_ratio": (float, 0, 1000), "unknown_ratio": (float, 0, 1000),
            "talk_ratio": (float, 0, 1000), "hard_ratio": (float, 0, 1000),
            "base_freeze": (int, 0, 64),
            "synth_per_word": (int, 0, 5000), "synth_seed": (int, 0, 2 ** 32 - 1),
            "kokoro_per_word": (int, 0, 5000), "kokoro_other_per_word": (int, 1, 5000),
            "kokoro_speakers": (int, 1, 100000), "kokoro_vocabulary": (int, 0, 20000),
            "noise_prob": (float, 0, 1), "time_shift_ms": (float, 0, 10000),
            "band_limit": (float, 0, 1),
            "vtlp": (float, 0, 0.5, False, True),
            "speed": (float, 0, 0.5, False, True), "reverb_prob": (float, 0, 1),
            "gain_db": (float, 0, 60), "eq_db": (float, 0, 30), "time_masks": (int, 0, 100),
            "time_mask_frames": (int, 0, 10000), "freq_masks": (int, 0, 100),
            "freq_mask_bands": (int, 0, 512)})
        _check(not self.kokoro_vocabulary or self.kokoro_per_word > 0,
               f"kokoro_vocabulary = {self.kokoro_vocabulary!r} needs kokoro_per_word > 0 "
               "(the more words are said in the voices of Kokoro's set)")
        _check(not self.base_freeze or self.base,
               f"base_freeze = {self.base_freeze!r} needs a base (train.base)")
        _check(self.min_learning_rate <= self.learning_rate,
               f"min_learning_rate = {self.min_learning_rate!r} must not exceed "
               f"learning_rate = {self.learning_rate!r}")
        _check(isinstance(self.words, tuple) and len(self.words) > 0
               and all(isinstance(w, str) and _WORD.fullmatch(w) for w in self.words),
               f"words must be a non-empty list of words (letters, digits, '_', '-', not "
               f"starting with '_'), got {self.words!r}")
        _check(len(set(self.words)) == len(self.words), f"words repeat: {self.words!r}")
        for entry in self.say if isinstance(self.say, tuple) else [self.say]:
            word, _, text = entry.partition("=") if isinstance(entry, str) else ("", "", "")
            _check(word in self.words and _SAID.fullmatch(text) is not None
                   and len(text.split()) <= 4,
                   f"say {entry!r}: give WORD=TEXT, WORD one of the words {self.words!r} and "
                   "TEXT how it is said (at most 4 words of letters, spaces, ' and -)")
        _check(len({e.partition("=")[0] for e in self.say}) == len(self.say),
               f"say names a word twice: {self.say!r}")
        _check(isinstance(self.snr_db, tuple) and len(self.snr_db) == 2
               and all(isinstance(v, int | float) and not isinstance(v, bool)
                       and math.isfinite(v) and -30 <= v <= 100 for v in self.snr_db)
               and self.snr_db[0] <= self.snr_db[1],
               f"snr_db must be [low, high] in dB, finite, within [-30, 100], got "
               f"{self.snr_db!r}")
        _check(self.validation_percent + self.testing_percent < 100,
               "validation_percent + testing_percent must be below 100 (no training "
               "speakers would be left)")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run directory's ``config.json`` holds."""

    features: FeatureConfig
    model: ModelConfig
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features.to_dict(), "model": self.model.to_dict(),
                "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> RunConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object")
        unknown = sorted(set(data) - {"features", "model", "train"})
        if unknown:
            raise ConfigError(f"{source}: unknown section(s) {unknown}; "
                              "valid sections are features, model, train")
        config = cls(FeatureConfig.from_dict(data.get("features", {}), source=source),
                     ModelConfig.from_dict(data.get("model", {}), source=source),
                     TrainConfig.from_dict(data.get("train", {}), source=source))
        F, T = config.features, config.train
        for name, value, limit, of in (
                ("time_mask_frames", T.time_mask_frames, F.num_frames, "frames a clip has"),
                ("freq_mask_bands", T.freq_mask_bands, F.num_features,
                 "features a frame has"),
                ("time_shift_ms", T.time_shift_ms, 1000 * F.clip_seconds,
                 "milliseconds a clip lasts")):
            if value > limit:
                raise ConfigError(f"{source}: train.{name} {value} is more than the {limit:g} "
                                  f"{of} (features)")
        return config

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        return cls.from_dict(read_json(path), source=str(path))

    def save(self, path: str | Path) -> None:
        from .utils import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
