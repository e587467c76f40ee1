"""``build_model(ModelConfig)``: MFCC frames → class probabilities with stacked GRUs.

Layers: input normalisation (per-coefficient mean/variance of the training features,
stored in the model so exports take raw MFCCs) → N GRU layers (optionally bidirectional)
→ pooling over time (last state, mean, or attention) → dropout → optional dense layer →
softmax. ``cell="custom"`` uses :class:`speechgru.gru.GRU`, ``cell="keras"`` uses
``keras.layers.GRU``; :func:`copy_weights` moves weights between the two so that the same
config gives equal outputs.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import ops

from .config import ModelConfig
from .gru import GRU, convert_weights


@keras.saving.register_keras_serializable(package="speechgru")
class AttentionPooling(keras.layers.Layer):
    """Additive attention over time: ``α_t = softmax_t(vᵀ tanh(W h_t + b))``, ``Σ α_t h_t``.

    With ``return_weights=True`` returns ``(pooled, α)`` (α of shape ``(batch, time)``).
    """

    def __init__(self, units=64, return_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_weights = return_weights
        self.supports_masking = True

    def build(self, input_shape):
        d = input_shape[-1]
        self.w = self.add_weight(shape=(d, self.units), name="w",
                                 initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.units,), name="b", initializer="zeros")
        self.v = self.add_weight(shape=(self.units,), name="v", initializer="random_normal")

    def call(self, h, mask=None):
        scores = ops.tensordot(ops.tanh(ops.matmul(h, self.w) + self.b), self.v, axes=1)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        alpha = ops.softmax(scores, axis=-1)
        pooled = ops.sum(h * ops.expand_dims(alpha, -1), axis=1)
        return (pooled, alpha) if self.return_weights else pooled

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "return_weights": self.return_weights}


def _gru_layer(config: ModelConfig, units: int, return_sequences: bool, name: str,
               unroll: bool = False):
    if config.cell == "keras":
        return keras.layers.GRU(units, return_sequences=return_sequences,
                                reset_after=config.reset_after, unroll=unroll, name=name)
    return GRU(units, return_sequences=return_sequences, reset_after=config.reset_after,
               convention=config.convention, unroll=unroll, name=name)


def build_model(config: ModelConfig, *, num_frames: int | None, num_features: int,
                num_classes: int, mean: np.ndarray | None = None,
                variance: np.ndarray | None = None, batch_size: int | None = None,
                unroll: bool = False, name: str = "speechgru") -> keras.Model:
    """The classifier for ``config``; output: probabilities over ``num_classes``.

    ``mean`` / ``variance`` (per feature) set the input normalisation; without them it is
    the identity. ``batch_size``/``unroll`` fix the batch and unroll the loops (exports).
    """
    inp = keras.Input((num_frames, num_features), batch_size=batch_size, name="mfcc")
    mean = np.zeros(num_features, np.float32) if mean is None else np.asarray(mean)
    variance = np.ones(num_features, np.float32) if variance is None else np.asarray(variance)
    x = keras.layers.Normalization(axis=-1, mean=mean.astype(np.float32),
                                   variance=variance.astype(np.float32), name="normalize")(inp)
    n = len(config.units)
    for i, units in enumerate(config.units):
        last = i == n - 1
        seq = not last or config.pooling != "last"
        layer = _gru_layer(config, units, seq, f"gru_{i}", unroll)
        if config.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bigru_{i}")
        x = layer(x)
        if not last and config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    if config.pooling == "mean":
        x = keras.layers.GlobalAveragePooling1D(name="mean_pool")(x)
    elif config.pooling == "attention":
        x = AttentionPooling(config.attention_units, name="attention")(x)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name="dropout_head")(x)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name=name)


def _is_keras_gru(layer) -> bool:
    return isinstance(layer, keras.layers.GRU)


def _gru_weights_to(dst, src_layer, weights):
    """Convert one GRU's weights from ``src_layer``'s convention to ``dst``'s."""
    src_keras = _is_keras_gru(src_layer) or getattr(src_layer, "convention", "") == "keras"
    dst_keras = _is_keras_gru(dst) or getattr(dst, "convention", "") == "keras"
    units = dst.units if hasattr(dst, "units") else dst.cell.units
    return weights if src_keras == dst_keras else convert_weights(weights, units)


def copy_weights(src: keras.Model, dst: keras.Model) -> None:
    """Copy every weight of ``src`` into ``dst`` (same architecture, any GRU implementation
    or convention, any batch size / unrolling)."""
    src_layers = [layer for layer in src.layers if layer.weights]
    dst_layers = [layer for layer in dst.layers if layer.weights]
    if len(src_layers) != len(dst_layers):
        raise ValueError(f"models differ: {len(src_layers)} vs {len(dst_layers)} layers "
                         "with weights")
    for s, d in zip(src_layers, dst_layers, strict=True):
        if isinstance(s, keras.layers.Bidirectional):
            d.forward_layer.set_weights(_gru_weights_to(d.forward_layer, s.forward_layer,
                                                        s.forward_layer.get_weights()))
            d.backward_layer.set_weights(_gru_weights_to(d.backward_layer, s.backward_layer,
                                                         s.backward_layer.get_weights()))
        elif _is_keras_gru(s) or isinstance(s, GRU):
            d.set_weights(_gru_weights_to(d, s, s.get_weights()))
        else:
            d.set_weights(s.get_weights())


def check_keras_file(path) -> Path:
    """``path`` is a whole ``.keras`` archive, or a ConfigError naming it."""
    import zipfile

    from .errors import ConfigError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{path}: not a .keras archive (truncated or damaged); use the "
                          "other checkpoint of the run or train again")
    return path


def load_model(path) -> keras.Model:
    """Load a ``.keras`` model of ours in safe mode (no arbitrary code: no lambdas, no
    pickles); our layers are registered by importing this module. A file that is not a
    whole ``.keras`` archive, or that holds code safe mode refuses, is a
    :class:`~speechgru.errors.ConfigError` naming it."""
    import zipfile

    from .errors import ConfigError

    path = check_keras_file(path)
    try:
        return keras.models.load_model(path, safe_mode=True)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "lambda" in text.lower():
            raise ConfigError(f"{path}: holds code (a Lambda layer or a custom function) that "
                              "safe mode refuses to run; speechgru loads only its own "
                              "layers") from None
        raise ConfigError(f"{path}: cannot be loaded as a speechgru model "
                          f"({text.splitlines()[0][:300] if text else type(exc).__name__})"
                          ) from None
    except (OSError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"{path}: damaged .keras file ({type(exc).__name__}: "
                          f"{str(exc)[:300]})") from None


def normalization_stats(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    """The input normalisation's ``(mean, variance)`` (constants, not weights, in Keras:
    :func:`copy_weights` cannot carry them, so rebuilds pass them to :func:`build_model`)."""
    layer = model.get_layer("normalize")
    return (np.asarray(layer.mean, np.float32).reshape(-1),
            np.asarray(layer.variance, np.float32).reshape(-1))


class _CellStep(keras.layers.Layer):
    """One step of a trained GRU layer's cell (shares its weights; export-only)."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell

    def call(self, x, h):
        return self.cell(x, [h])[0]

    def compute_output_shape(self, x_shape, h_shape):
        return h_shape


def build_step_model(model: keras.Model) -> keras.Model:
    """One time step of ``model`` with explicit state, for streaming.

    Inputs: ``frame`` (1, features) and ``state_i`` (1, units_i) per GRU layer; outputs: a
    dict of ``probabilities`` and the new ``state_i``. Run from zero states over a clip's frames,
    the last probabilities equal ``model`` on the clip. Shares ``model``'s layers (and so its
    weights). Needs a unidirectional GRU stack with ``pooling="last"``.
    """
    grus = [layer for layer in model.layers if _is_keras_gru(layer) or isinstance(layer, GRU)]
    if not grus or any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers):
        raise ValueError("streaming needs a unidirectional GRU stack (a bidirectional GRU "
                         "reads the future)")
    if grus[-1].return_sequences:
        raise ValueError("streaming needs pooling='last' (mean and attention pooling look at "
                         "the whole clip)")
    features = model.input_shape[-1]
    frame = keras.Input((features,), batch_size=1, name="frame")
    states = [keras.Input((g.cell.units,), batch_size=1, name=f"state_{i}")
              for i, g in enumerate(grus)]
    mean, variance = normalization_stats(model)
    x = keras.layers.Normalization(axis=-1, mean=mean, variance=variance,
                                   name="normalize")(frame)
    new_states = []
    for g, h in zip(grus, states, strict=True):
        x = _CellStep(g.cell, name=f"{g.name}_step")(x, h)
        new_states.append(x)
    names = [layer.name for layer in model.layers]
    if "dense" in names:
        x = model.get_layer("dense")(x)
    probs = model.get_layer("probabilities")(x)
    outputs = {"probabilities": probs}
    outputs.update({f"state_{i}": h for i, h in enumerate(new_states)})
    return keras.Model([frame, *states], outputs, name=f"{model.name}_step")
