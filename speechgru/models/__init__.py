"""The network: one definition, built in three modes.

Owns the hand-written GRU (:mod:`.gru`), the pooling layers with their streaming form
(:mod:`.layers`), the modes (:mod:`.modes`) and :func:`build_model` (:mod:`.build`), the only
place the architecture is written down, with weight copying between builds and safe
loading of ``.keras`` files. May import Keras, NumPy and :mod:`speechgru.config` /
:mod:`speechgru.errors`; nothing from training, export or the runtime.
"""

from .build import (
                    build_model,
                    check_keras_file,
                    check_streamable,
                    copy_weights,
                    load_model,
                    normalization_stats,
)
from .gru import GRU, GRUCell, convert_weights, gate_sequences
from .layers import AttentionPooling, MeanPooling
from .modes import Mode

__all__ = ["GRU", "AttentionPooling", "GRUCell", "MeanPooling", "Mode", "build_model",
           "check_keras_file", "check_streamable", "convert_weights", "copy_weights",
           "gate_sequences", "load_model", "normalization_stats"]
