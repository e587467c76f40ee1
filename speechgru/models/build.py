"""``build_model(config, mode)``: the one definition of the network, in every mode.

MFCC frames → input normalisation (per-coefficient mean/variance of the training features,
stored in the model so exports take raw MFCCs) → optional causal convolutions over (time,
coefficient) (a CRNN) → N GRU layers (optionally bidirectional)
→ pooling over time (last state, mean, or attention) → dropout → optional dense layer →
softmax; with ``members`` > 1, that many such classifiers side by side on the normalised
frames (layers named ``…_m{j}``), the output the mean of their probabilities (an ensemble,
``speechgru ensemble``). ``cell="custom"`` uses :class:`speechgru.models.gru.GRU`,
``cell="keras"`` uses ``keras.layers.GRU``; :func:`copy_weights` moves weights between any
two builds of one config (either cell, either GRU convention, any mode).

In :attr:`Mode.STREAM` the same layers run one frame per call, each layer that carries
something across time taking its state in and giving it back (see :class:`Mode`).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from ..config import ModelConfig
from ..errors import ConfigError
from .gru import GRU, GRUStep, convert_weights
from .layers import AttentionPooling, CausalConv, MeanPooling
from .modes import Mode


def check_streamable(config: ModelConfig) -> None:
    """A ConfigError unless ``config`` can run one frame at a time."""
    if config.bidirectional:
        raise ConfigError("this model cannot stream: a bidirectional GRU reads the future "
                          "(train with bidirectional false for listen and stream_*.tflite)")


def _gru_layer(config: ModelConfig, units: int, name: str, *, return_sequences: bool,
               return_state: bool = False, unroll: bool = False):
    kw = {"return_sequences": return_sequences, "return_state": return_state,
          "reset_after": config.reset_after, "unroll": unroll, "name": name}
    if config.cell == "keras":
        return keras.layers.GRU(units, **kw)
    return GRU(units, convention=config.convention, **kw)


def _pool_layer(config: ModelConfig, stream: bool, sfx: str = ""):
    if config.pooling == "mean":
        return MeanPooling(stream=stream, name=f"mean_pool{sfx}")
    if config.pooling == "attention":
        return AttentionPooling(config.attention_units, stream=stream, name=f"attention{sfx}")
    return None


def _conv_layers(config: ModelConfig, stream: bool, sfx: str = "") -> list[CausalConv]:
    layers, channels = [], 1
    for i, filters in enumerate(config.conv_filters):
        layers.append(CausalConv(filters, config.conv_kernel, config.conv_stride,
                                 in_channels=channels, stream=stream, name=f"conv_{i}{sfx}"))
        channels = filters
    return layers


def _head(config: ModelConfig, x, num_classes: int, training: bool, sfx: str = ""):
    if config.dropout and training:
        x = keras.layers.Dropout(config.dropout, name=f"dropout_head{sfx}")(x)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, activation="relu", name=f"dense{sfx}")(x)
    return keras.layers.Dense(num_classes, activation="softmax",
                              name=f"probabilities{sfx}")(x)


def _normalize(num_features: int, mean, variance):
    mean = np.zeros(num_features, np.float32) if mean is None else np.asarray(mean)
    variance = np.ones(num_features, np.float32) if variance is None else np.asarray(variance)
    return keras.layers.Normalization(axis=-1, mean=mean.astype(np.float32),
                                      variance=variance.astype(np.float32), name="normalize")


def build_model(config: ModelConfig, mode: Mode = Mode.TRAINING, *, num_features: int,
                num_classes: int, num_frames: int | None = None,
                mean: np.ndarray | None = None, variance: np.ndarray | None = None,
                unroll: bool = False, name: str = "speechgru") -> keras.Model:
    """The classifier for ``config`` built in ``mode``; output: probabilities.

    ``mean`` / ``variance`` (per feature) set the input normalisation; without them it is
    the identity. ``TRAINING``: input ``mfcc`` (batch, num_frames or None, features).
    ``NON_STREAM``: input ``mfcc`` (1, num_frames, features); ``unroll`` unrolls the GRUs.
    ``STREAM``: inputs ``frame`` (batch, features) and ``state_0`` ... ``state_k``; outputs
    a dict of ``probabilities`` and the new states under the same names (any batch: a
    runtime steps several streams, or staggered copies of one, in one call).
    """
    mode = Mode(mode)
    if mode is Mode.STREAM:
        return _build_stream(config, num_features, num_classes, mean, variance, name)
    if mode is Mode.NON_STREAM and not num_frames:
        raise ValueError("a non-streaming model needs a fixed num_frames")
    training = mode is Mode.TRAINING
    inp = keras.Input((num_frames, num_features), batch_size=None if training else 1,
                      name="mfcc")
    x = _normalize(num_features, mean, variance)(inp)
    probs = [_member(config, x, _suffix(config, j), num_classes, training, unroll)
             for j in range(config.members)]
    return keras.Model(inp, _mean_of(probs), name=name)


def _suffix(config: ModelConfig, member: int) -> str:
    """Layer names of one member of an ensemble (``gru_0_m1``); a single model's are plain."""
    return "" if config.members == 1 else f"_m{member}"


def _mean_of(probs: list):
    """The ensemble's probabilities: the mean of its members' (one member: its own)."""
    if len(probs) == 1:
        return probs[0]
    return keras.layers.Average(name="probabilities")(probs)


def _member(config: ModelConfig, x, sfx: str, num_classes: int, training: bool, unroll: bool):
    """One classifier over the normalised frames ``x``: its probabilities."""
    for conv in _conv_layers(config, stream=False, sfx=sfx):
        x = conv(x)
    n = len(config.units)
    for i, units in enumerate(config.units):
        last = i == n - 1
        layer = _gru_layer(config, units, f"gru_{i}{sfx}",
                           return_sequences=not last or config.pooling != "last",
                           unroll=unroll)
        if config.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bigru_{i}{sfx}")
        x = layer(x)
        if not last and config.dropout and training:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}{sfx}")(x)
    pool = _pool_layer(config, stream=False, sfx=sfx)
    if pool is not None:
        x = pool(x)
    return _head(config, x, num_classes, training, sfx)


def _build_stream(config: ModelConfig, num_features: int, num_classes: int, mean, variance,
                  name: str) -> keras.Model:
    check_streamable(config)
    frame = keras.Input((num_features,), name="frame")
    states_in, states_out = [], []

    def state(size: int):
        states_in.append(keras.Input((size,), name=f"state_{len(states_in)}"))
        return states_in[-1]

    x0 = _normalize(num_features, mean, variance)(frame)
    probs = []
    for j in range(config.members):
        sfx, x = _suffix(config, j), x0
        convs = _conv_layers(config, stream=True, sfx=sfx)
        if convs:  # the convolutions' stream form takes and gives (batch, 1, ·)
            x = keras.layers.Reshape((1, num_features), name=f"one_frame{sfx}")(x)
            for conv in convs:
                x, past = conv([x, state(conv.state_sizes(int(x.shape[-1]))[0])])
                states_out.append(past)
            x = keras.layers.Reshape((int(x.shape[-1]),), name=f"conv_out{sfx}")(x)
        for i, units in enumerate(config.units):
            x = GRUStep(_gru_layer(config, units, f"gru_{i}{sfx}", return_sequences=True),
                        name=f"gru_{i}{sfx}")([x, state(units)])
            states_out.append(x)
        h = x
        pool = _pool_layer(config, stream=True, sfx=sfx)
        if pool is not None:  # the pools' stream form takes h_t as (batch, 1, units)
            past = [state(size) for size in pool.state_sizes(config.units[-1])]
            seq = keras.layers.Reshape((1, config.units[-1]), name=f"one_step{sfx}")(x)
            h, *new = pool([seq, *past])
            states_out.extend(new)
        probs.append(_head(config, h, num_classes, False, sfx))
    outputs = {"probabilities": _mean_of(probs)}
    outputs.update({f"state_{i}": s for i, s in enumerate(states_out)})
    return keras.Model([frame, *states_in], outputs, name=f"{name}_stream")


def _is_keras_gru(layer) -> bool:
    return isinstance(layer, keras.layers.GRU) or (
        isinstance(layer, GRUStep) and isinstance(layer.layer, keras.layers.GRU))


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
    names = {layer.name for layer in src_layers}
    if len(names) == len(src_layers) and names == {layer.name for layer in dst_layers}:
        # by name where the two builds name the same layers (an ensemble's branches may
        # come in another order in another mode)
        by_name = {layer.name: layer for layer in src_layers}
        src_layers = [by_name[layer.name] for layer in dst_layers]
    if len(src_layers) != len(dst_layers):
        raise ValueError(f"models differ: {len(src_layers)} vs {len(dst_layers)} layers "
                         "with weights")
    for s, d in zip(src_layers, dst_layers, strict=True):
        if isinstance(s, keras.layers.Bidirectional):
            d.forward_layer.set_weights(_gru_weights_to(d.forward_layer, s.forward_layer,
                                                        s.forward_layer.get_weights()))
            d.backward_layer.set_weights(_gru_weights_to(d.backward_layer, s.backward_layer,
                                                         s.backward_layer.get_weights()))
        elif _is_keras_gru(s) or isinstance(s, GRU | GRUStep):
            d.set_weights(_gru_weights_to(d, s, s.get_weights()))
        else:
            d.set_weights(s.get_weights())


def check_keras_file(path) -> Path:
    """``path`` is a whole ``.keras`` archive, or a ConfigError naming it."""
    import zipfile



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
