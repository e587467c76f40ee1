"""``speechgru ensemble``: runs trained apart (other seeds, one recipe, one split) as one
model whose output is the mean of their probabilities.

The result is a run directory like any other (``model.members`` = N in its config): its
``best.keras`` holds every member side by side on the shared normalised frames, so
``evaluate``, ``evaluate-stream``, ``export`` (every variant, the stream with each member's
states) and ``listen`` take it as they take one model. Its operating point is chosen again,
on the same validation clips, for the ensemble's own probabilities.

Measured on 30 unheard speakers (``scripts/bench_accuracy.py --members 3``): three seeds of
the default recipe as one reach 86.1 % top-1 (three ensembles: 85.2–87.0) against 83.4 %
(80.9–85.8) for the same nine runs alone, and half as many other words pass at 0.6.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from ..config import RunConfig
from ..errors import ConfigError, DataError
from ..run_dir import RunDir

_COPIED = ("splits.json", "data.json", "labels.txt", "calibration.npz")


def _check_members(runs: list[RunDir]) -> tuple[RunConfig, list[str]]:
    """The members' shared config and labels, or a ConfigError naming the run that differs."""
    if len(runs) < 2:
        raise ConfigError("an ensemble needs at least two runs")
    first = runs[0]
    first.require("config.json", "labels.txt", "best.keras", "splits.json")
    config, labels = first.config(), first.labels()
    splits = (first / "splits.json").read_bytes()
    for run in runs:
        run.require("config.json", "labels.txt", "best.keras", "splits.json")
        c = run.config()
        if c.model.members != 1:
            raise ConfigError(f"{run}: already an ensemble; combine single runs")
        if run.labels() != labels:
            raise ConfigError(f"{run}: its labels {run.labels()} differ from {first}'s "
                              f"{labels}")
        if c.features != config.features or c.model != config.model:
            raise ConfigError(f"{run}: its features or model settings differ from "
                              f"{first}'s; an ensemble's members share one shape")
        if (run / "splits.json").read_bytes() != splits:
            raise ConfigError(f"{run}: its splits.json differs from {first}'s; the members "
                              "must be trained on one split (the same data and percentages)")
    if len({str(r.path.resolve()) for r in runs}) != len(runs):
        raise ConfigError("a run is named twice")
    return config, labels


def combine(run_dirs: list[str | Path], out_dir: str | Path, *,
            cache_dir: str | Path | None = ".cache/features", progress: bool = True) -> dict:
    """Write the ensemble of ``run_dirs`` as a run in ``out_dir`` (which must not hold
    anything); returns its validation metrics (as :func:`speechgru.training.train.finish`).
    Everything that reads the members or the data is done before ``out_dir`` is written."""
    from ..data.cache import extract_features
    from ..models import build_model, normalization_stats
    from ..models.modes import Mode
    from .train import finish

    runs = [RunDir(d) for d in run_dirs]
    config, labels = _check_members(runs)
    out = RunDir(out_dir)
    if out.path.exists() and any(out.path.iterdir()):
        raise ConfigError(f"{out_dir} is not empty; choose another --out")
    models = [r.load_model("best") for r in runs]
    mean, var = normalization_stats(models[0])
    for run, m in zip(runs, models, strict=True):
        if not all(np.allclose(a, b, rtol=1e-5, atol=1e-6)
                   for a, b in zip(normalization_stats(m), (mean, var), strict=True)):
            raise ConfigError(f"{run}: its input normalisation differs from {runs[0]}'s "
                              "(trained on other features)")
    val = extract_features(runs[0].split("validation"), config.features,
                           cache_dir=cache_dir, progress=progress)
    if len(val.clips) == 0:
        raise DataError(f"{runs[0]}: no validation clip could be read to choose the "
                        "ensemble's operating point")
    ens_config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, members=len(runs)))
    F = config.features
    ensemble = build_model(ens_config.model, Mode.TRAINING, num_frames=F.num_frames,
                           num_features=F.num_features, num_classes=len(labels),
                           mean=mean, variance=var)
    for j, m in enumerate(models):  # member j's layers are the ensemble's ``…_m{j}``
        for layer in m.layers:
            if layer.weights:
                ensemble.get_layer(f"{layer.name}_m{j}").set_weights(layer.get_weights())
    out.path.mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        if (runs[0] / name).is_file():
            shutil.copyfile(runs[0] / name, out / name)
    out.save_state({"seed": config.train.seed, "epoch": config.train.epochs, "best": -1.0,
                    "best_epoch": 0, "wait": 0, "history": [], "stopped_early": True,
                    "ensemble_of": [str(r.path.resolve()) for r in runs]})
    ensemble.save(out / "best.keras")
    ens_config.save(out.config_path)  # last: a run exists once its config does
    return finish(out, labels, val.x, val.labels(labels), val.clips,
                  cache_dir=cache_dir, ensemble_of=[str(r.path) for r in runs])
