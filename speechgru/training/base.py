"""A base that already knows speech: a new run's model starts from a trained run's weights.

``train.base`` names a finished run (its ``config.json``, ``labels.txt`` and ``best.keras``),
e.g. ``models/speech-commands-12/base``, the model in the box's own run (its GRUs heard real
voices and real talk). The new run takes the base's features and model sections (the weights
fit no other), its input normalisation, every layer's weights but the output's, and of the
output the columns of the labels both share (``_silence_`` and ``_unknown_``, and any word
the base knew); a new word's column starts from random weights. Then it trains as any run:
a new word needs little training, and what the base learned of real voices carries over.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..run_dir import RunDir

#: the model in the box's run, where the repository has it (an editable install)
BOX_BASE = Path(__file__).resolve().parents[2] / "models" / "speech-commands-12" / "base"


def default_base() -> Path | None:
    """The box's base when it is there (a checkout of the repository), else None."""
    return BOX_BASE if (BOX_BASE / "config.json").is_file() else None


def base_run(path: str | Path) -> RunDir:
    """The finished run at ``path`` (a model directory's ``base/`` too), or a ConfigError
    naming it."""
    p = Path(path)
    if not (p / "config.json").is_file() and (p / "base" / "config.json").is_file():
        p = p / "base"
    run = RunDir(p)
    if not run.exists():
        raise ConfigError(f"{path}: not a base (no config.json): give a finished run "
                          "directory, or a model directory that holds base/ (the model in the "
                          "box: models/speech-commands-12)")
    run.require("labels.txt", "best.keras")
    return run


def check_config(config, base) -> None:
    """The run's features and model must be the base's, or its weights fit nothing."""
    have = base_run(base).config()
    for section in ("features", "model"):
        if getattr(config, section) != getattr(have, section):
            raise ConfigError(f"{base}: the base's {section} section differs from the run's; "
                              f"a run from a base takes the base's {section} (drop them from "
                              "--config)")


def load_base(base: str | Path):
    """``(labels, best model)`` of the base (safe-mode load)."""
    _, labels, model = base_run(base).load()
    return labels, model


def start_from(model, src, base_labels: list[str], labels: list[str]) -> dict:
    """Put the base model ``src``'s weights into ``model`` (built with the base's input
    normalisation, :func:`speechgru.models.build.normalization_stats`), the output's
    columns by label. Returns what was carried."""
    out_name = "probabilities"
    carried = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            s = src.get_layer(layer.name)
        except ValueError:
            raise ConfigError(f"the base has no layer {layer.name!r}: it is not of this "
                              "model's architecture") from None
        if layer.name == out_name:
            kernel, bias = (np.array(w) for w in layer.get_weights())
            base_kernel, base_bias = s.get_weights()
            for k in labels:
                if k in base_labels:
                    kernel[:, labels.index(k)] = base_kernel[:, base_labels.index(k)]
                    bias[labels.index(k)] = base_bias[base_labels.index(k)]
            layer.set_weights([kernel, bias])
            continue
        layer.set_weights(s.get_weights())
        carried += 1
    return {"layers": carried, "labels_carried": [k for k in labels if k in base_labels]}


def freeze(model, layers: int) -> None:
    """Keep the first ``layers`` GRU layers as the base left them (``train.base_freeze``)."""
    grus = [layer for layer in model.layers if layer.name.startswith(("gru_", "bigru_"))]
    if layers > len(grus):
        raise ConfigError(f"base_freeze = {layers}: the model has {len(grus)} GRU layers")
    for layer in grus[:layers]:
        layer.trainable = False
