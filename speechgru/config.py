"""Configuration dataclasses that travel with a model (``config.json``).

Each dataclass round-trips through JSON: ``FeatureConfig.from_dict(cfg.to_dict()) == cfg``.
Unknown keys and values of the wrong kind raise :class:`~speechgru.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Self

from .errors import ConfigError

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"


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
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source=source)

    def save(self, path: str | Path) -> None:
        from .utils import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        return cls.from_json(text, source=str(path))


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
        for name, kind in [("sample_rate", int), ("n_fft", int), ("win_length", int),
                           ("hop_length", int), ("n_mels", int), ("n_mfcc", int),
                           ("deltas", int), ("delta_width", int), ("clip_seconds", float),
                           ("fmin", float), ("fmax", float), ("amin", float),
                           ("center", bool), ("window", str), ("log", str)]:
            _check_type(self, name, kind)
        _check(self.sample_rate > 0, f"sample_rate must be > 0, got {self.sample_rate}")
        _check(self.clip_seconds > 0, f"clip_seconds must be > 0, got {self.clip_seconds}")
        _check(self.n_fft > 0 and self.n_fft & (self.n_fft - 1) == 0,
               f"n_fft must be a power of two (TFLite RFFT needs it), got {self.n_fft}")
        _check(0 < self.win_length <= self.n_fft,
               f"win_length must be in 1..n_fft={self.n_fft}, got {self.win_length}")
        _check(self.hop_length > 0, f"hop_length must be > 0, got {self.hop_length}")
        _check(self.n_mels > 0, f"n_mels must be > 0, got {self.n_mels}")
        _check(0 < self.n_mfcc <= self.n_mels,
               f"n_mfcc must be in 1..n_mels={self.n_mels}, got {self.n_mfcc}")
        _check(0 <= self.fmin < self.fmax <= self.sample_rate / 2,
               f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin} "
               f"fmax={self.fmax} sample_rate={self.sample_rate}")
        _check(self.log in ("db", "ln"), f"log must be 'db' or 'ln', got {self.log!r}")
        _check(self.amin > 0, f"amin must be > 0, got {self.amin}")
        _check(self.deltas in (0, 1, 2), f"deltas must be 0, 1 or 2, got {self.deltas}")
        _check(self.delta_width >= 3 and self.delta_width % 2 == 1,
               f"delta_width must be odd and >= 3, got {self.delta_width}")
        _check(self.clip_samples >= self.n_fft,
               f"a clip of {self.clip_samples} samples is shorter than n_fft={self.n_fft}")

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def num_frames(self) -> int:
        n = self.clip_samples
        if self.center:
            return 1 + n // self.hop_length
        return 1 + (n - self.n_fft) // self.hop_length

    @property
    def num_features(self) -> int:
        return self.n_mfcc * (1 + self.deltas)

    def fingerprint(self) -> str:
        """A short stable hash of every setting (the feature cache is keyed by it)."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class ModelConfig(_JSONConfig):
    """The stacked-GRU classifier (see :func:`speechgru.model.build_model`).

    ``units`` gives one GRU layer per entry; ``bidirectional`` wraps each in a BiGRU;
    ``pooling`` turns the frame sequence into one vector: the last state (``"last"``,
    streamable), the mean over time, or attention over time. ``cell`` chooses our
    hand-written GRU (``"custom"``) or ``keras.layers.GRU`` (``"keras"``).
    """

    units: tuple[int, ...] = (128, 128)
    bidirectional: bool = False
    pooling: str = "last"  # last | mean | attention
    attention_units: int = 64
    dropout: float = 0.2
    dense_units: int = 0
    cell: str = "custom"  # custom | keras
    reset_after: bool = True
    convention: str = "textbook"

    def __post_init__(self):
        _check(isinstance(self.units, tuple) and len(self.units) > 0
               and all(isinstance(u, int) and not isinstance(u, bool) and u > 0
                       for u in self.units),
               f"units must be a non-empty list of positive integers, got {self.units!r}")
        for name, kind in [("bidirectional", bool), ("pooling", str), ("attention_units", int),
                           ("dropout", float), ("dense_units", int), ("cell", str),
                           ("reset_after", bool), ("convention", str)]:
            _check_type(self, name, kind)
        _check(self.pooling in ("last", "mean", "attention"),
               f"pooling must be 'last', 'mean' or 'attention', got {self.pooling!r}")
        _check(self.cell in ("custom", "keras"),
               f"cell must be 'custom' or 'keras', got {self.cell!r}")
        _check(self.convention in ("textbook", "keras"),
               f"convention must be 'textbook' or 'keras', got {self.convention!r}")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _check(self.attention_units > 0 and self.dense_units >= 0,
               "attention_units must be > 0 and dense_units >= 0")


@dataclasses.dataclass(frozen=True)
class TrainConfig(_JSONConfig):
    """How a model is trained (see :mod:`speechgru.train`)."""

    epochs: int = 80
    batch_size: int = 64
    learning_rate: float = 3e-3
    min_learning_rate: float = 1e-5
    warmup_epochs: int = 1
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    patience: int = 12  # early stopping on validation accuracy
    seed: int = 0
    words: tuple[str, ...] = COMMANDS
    validation_percent: float = 10.0
    testing_percent: float = 10.0
    silence_ratio: float = 1.0  # silence clips per training epoch / mean clips per command
    unknown_ratio: float = 3.0  # unknown clips per epoch / mean clips per command
    # augmentation (feature domain: see speechgru.augment)
    augment: bool = True
    noise_prob: float = 0.8
    snr_db: tuple[float, float] = (0.0, 25.0)
    time_shift_ms: float = 100.0
    vtlp: float = 0.1  # vocal-tract-length perturbation: spectrum stretched by 1 ± up to this
    time_masks: int = 2
    time_mask_frames: int = 5
    freq_masks: int = 2
    freq_mask_bands: int = 4

    def __post_init__(self):
        for name, kind in [("epochs", int), ("batch_size", int), ("learning_rate", float),
                           ("patience", int), ("seed", int), ("augment", bool),
                           ("noise_prob", float), ("time_shift_ms", float)]:
            _check_type(self, name, kind)
        _check(self.epochs > 0, f"epochs must be > 0, got {self.epochs}")
        _check(self.batch_size > 0, f"batch_size must be > 0, got {self.batch_size}")
        _check(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        _check(isinstance(self.words, tuple) and len(self.words) > 0
               and all(isinstance(w, str) and w for w in self.words),
               f"words must be a non-empty list of strings, got {self.words!r}")
        _check(len(set(self.words)) == len(self.words), f"words repeat: {self.words!r}")
        _check(isinstance(self.snr_db, tuple) and len(self.snr_db) == 2
               and self.snr_db[0] <= self.snr_db[1], f"snr_db must be [low, high], "
               f"got {self.snr_db!r}")
        _check(0 <= self.noise_prob <= 1, f"noise_prob must be in [0, 1], got {self.noise_prob}")
        _check(isinstance(self.vtlp, int | float) and not isinstance(self.vtlp, bool)
               and 0 <= self.vtlp < 0.5, f"vtlp must be in [0, 0.5), got {self.vtlp!r}")
        _check(0 <= self.validation_percent < 100 and 0 <= self.testing_percent < 100,
               "validation_percent and testing_percent must be in [0, 100)")


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
        return cls(FeatureConfig.from_dict(data.get("features", {}), source=source),
                   ModelConfig.from_dict(data.get("model", {}), source=source),
                   TrainConfig.from_dict(data.get("train", {}), source=source))

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source=str(path))

    def save(self, path: str | Path) -> None:
        from .utils import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
