"""``RunDir``: the one object that knows a run directory's files.

A run directory holds::

    config.json        features + model + train settings (RunConfig)
    labels.txt         one label per line, in output order
    splits.json        the exact clips of each split (absolute path, label, speaker, sha256)
    data.json          the data sources (absolute paths), the recordings the operating
                       point is also set on (``threshold_data``), the bad files met
    calibration.npz    a few validation clips (PCM, features, labels) and training
                       features, kept so that export needs only the run directory
    best.keras         the model with the best validation accuracy
    last.keras         the latest epoch, with optimizer state (for --resume)
    state.json         epoch, best accuracy, early-stopping count, history (for --resume)
    operating_point.json  the threshold chosen on validation for the target share of
                       ``_unknown_`` clips accepted (carried into the export's manifest)
    history.csv, logs/, metrics.json, curves.png, confusion.png, eval/

Every read validates what it reads and raises a :class:`ConfigError` naming the file.
Evaluation, export and the notebooks take the split from ``splits.json`` and never
recompute it. It sits below training, export and the benchmarks, which all read runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import RunConfig, read_json, read_labels
from .data.layouts import SPLITS, Clip
from .errors import ConfigError, DataError
from .utils import atomic_write_text, file_sha256

SPLITS_FORMAT = 1


class RunDir:
    """A run directory (it need not exist yet)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def exists(self) -> bool:
        """True when the directory holds a run (its config)."""
        return self.config_path.is_file()

    def require(self, *names: str) -> None:
        for name in names:
            if not (self.path / name).is_file():
                raise ConfigError(f"{self.path}: not a finished run directory (no {name}); "
                                  "give the directory `speechgru train --out` wrote")

    # ------------------------------------------------------------------ settings
    def config(self) -> RunConfig:
        self.require("config.json")
        return RunConfig.load(self.config_path)

    def labels(self) -> list[str]:
        self.require("labels.txt")
        return read_labels(self.path / "labels.txt")

    def state(self) -> dict:
        path = self.path / "state.json"
        data = read_json(path)
        need = {"epoch": int, "best": float, "best_epoch": int, "wait": int, "history": list}
        for key, kind in need.items():
            v = data.get(key) if isinstance(data, dict) else None
            if not isinstance(v, kind | int if kind is float else kind) or isinstance(v, bool):
                raise ConfigError(f"{path}: damaged ({key!r} missing or not a "
                                  f"{kind.__name__}); it is rewritten at each epoch, so "
                                  "restore it from a backup or start a new run")
        return data

    def save_state(self, state: dict) -> None:
        atomic_write_text(self.path / "state.json", json.dumps(state, indent=1))

    def unfinished(self) -> str | None:
        """Why the run is not finished, or None when it is: training or the choice of its
        operating point was stopped (Ctrl-C, a time limit) before ``metrics.json``, which
        a run writes last, and ``operating_point.json`` were written."""
        if (self.path / "metrics.json").is_file() and (
                self.path / "operating_point.json").is_file():
            return None
        try:
            done, planned = self.state()["epoch"], self.config().train.epochs
        except ConfigError:
            return "no finished epoch and no operating point"
        if done < planned and not self.state().get("stopped_early"):
            return f"stopped after epoch {done} of {planned}, no operating point chosen"
        return "its operating point was not chosen"

    # ------------------------------------------------------------------ splits
    def save_splits(self, splits: dict[str, list[Clip]]) -> None:
        """Write ``splits.json``: every clip of every split, with its content hash."""
        hashes: dict[Path, str] = {}
        out = {"format": SPLITS_FORMAT}
        for name in SPLITS:
            rows = []
            for c in splits.get(name, []):
                p = c.path.absolute()
                if p not in hashes:
                    hashes[p] = file_sha256(p)
                rows.append({"path": str(p), "label": c.label, "word": c.word,
                             "speaker": c.speaker, "offset": c.offset,
                             "duration": c.duration, "sha256": hashes[p]})
            out[name] = rows
        atomic_write_text(self.path / "splits.json", json.dumps(out, indent=0))

    def splits(self) -> dict[str, list[Clip]]:
        """The clips of each split as saved at training."""
        self.require("splits.json")
        path = self.path / "splits.json"
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != SPLITS_FORMAT:
            raise ConfigError(f"{path}: not a splits file of this version")
        out = {}
        try:
            for name in SPLITS:
                out[name] = [Clip(Path(r["path"]), r["label"], r["word"], r["speaker"], name,
                                  float(r["offset"]),
                                  None if r["duration"] is None else float(r["duration"]))
                             for r in data.get(name, [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: damaged ({type(exc).__name__}: {exc})") from None
        return out

    def split(self, name: str, *, check: bool = True) -> list[Clip]:
        """The clips of one split; with ``check``, each must still exist with the content
        it had at training (same sha256), or a DataError names the first that does not."""
        if name not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {name!r}")
        clips = self.splits()[name]
        if check:
            missing = [c for c in clips if not c.path.is_file()]
            if missing:
                raise DataError(f"{missing[0].path}: missing ({len(missing)} of the "
                                f"{len(clips)} {name} clips of {self.path} are gone); the "
                                "run's data has moved")
            rows = read_json(self.path / "splits.json")[name]
            seen: dict[Path, str] = {}
            for c, row in zip(clips, rows, strict=True):
                if c.path not in seen:
                    seen[c.path] = file_sha256(c.path)
                if seen[c.path] != row.get("sha256"):
                    raise DataError(f"{c.path}: changed since {self.path} was trained (its "
                                    f"sha256 differs from splits.json); scoring the run on "
                                    "it would not measure the clips it was tested on")
        return clips

    # ------------------------------------------------------------------ data sources
    def data(self) -> dict:
        """``data.json`` (``{}`` for a run made before it was written)."""
        path = self.path / "data.json"
        if not path.is_file():
            return {}
        data = read_json(path)
        if not isinstance(data, dict) or not all(
                isinstance(data.get(k, []), list) and all(isinstance(v, str) for v in
                                                          data.get(k, []))
                for k in ("sources", "noise", "threshold_data", "talk", "hard_negatives")):
            raise ConfigError(f"{path}: damaged (sources, noise, threshold_data, talk and "
                              "hard_negatives must be lists of paths)")
        return data

    def save_data(self, data: dict) -> None:
        atomic_write_text(self.path / "data.json", json.dumps(data, indent=1))

    # ------------------------------------------------------------------ operating point
    def save_operating_point(self, point: dict) -> None:
        atomic_write_text(self.path / "operating_point.json", json.dumps(point, indent=1))

    def operating_point(self) -> dict | None:
        """The threshold chosen at training (``operating_point.json``), or None for a run
        made before speechgru chose one."""
        path = self.path / "operating_point.json"
        if not path.is_file():
            return None
        data = read_json(path)
        t = data.get("threshold") if isinstance(data, dict) else None
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 1:
            raise ConfigError(f"{path}: damaged (threshold {t!r} is not in (0, 1])")
        return data

    # ------------------------------------------------------------------ calibration
    def save_calibration(self, **arrays: np.ndarray) -> None:
        tmp = self.path / ".calibration.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(self.path / "calibration.npz")

    def calibration(self) -> dict[str, np.ndarray]:
        path = self.path / "calibration.npz"
        if not path.is_file():
            raise ConfigError(f"{self.path}: no calibration.npz (the run was made by an "
                              "older speechgru); train it again to export it")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ConfigError(f"{path}: damaged ({exc})") from None
        for k in ("val_pcm", "val_x", "val_y", "train_x"):
            if k not in data or not np.all(np.isfinite(data[k])):
                raise ConfigError(f"{path}: damaged ({k} missing or not finite)")
        return data

    # ------------------------------------------------------------------ models
    def load_model(self, which: str = "best"):
        """``best.keras`` or ``last.keras``, loaded in safe mode, or a named error."""
        from .models.build import load_model

        path = self.path / f"{which}.keras"
        self.require(path.name)
        return load_model(path)

    def load(self):
        """``(RunConfig, labels, best model)`` of a finished run."""
        self.require("config.json", "labels.txt", "best.keras")
        config, labels = self.config(), self.labels()
        if labels != config.train.labels:
            raise ConfigError(f"{self.path / 'labels.txt'}: {labels} differs from the classes "
                              f"the run was trained on ({config.train.labels}, from "
                              "config.json); restore labels.txt (a model's outputs keep "
                              "their order)")
        model = self.load_model("best")
        outputs = int(model.outputs[0].shape[-1])
        if outputs != len(labels):
            raise ConfigError(f"{self.path / 'best.keras'}: {outputs} outputs but labels.txt "
                              f"has {len(labels)} labels; the run directory is inconsistent")
        return config, labels, model

