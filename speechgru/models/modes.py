"""The three modes one model definition is built in (as in Google's kws_streaming)."""

from __future__ import annotations

import enum


class Mode(enum.Enum):
    """How :func:`speechgru.models.build_model` builds the network.

    * ``TRAINING``: any batch, dropout active, the whole clip at once.
    * ``NON_STREAM``: batch 1 and a fixed number of frames, no dropout (the exported clip
      classifiers; ``unroll=True`` unrolls the loops, which full-int8 conversion needs).
    * ``STREAM``: one frame per call, any batch (several streams at once); every layer
      that carries something across time takes its state as an input (``state_0``,
      ``state_1``, ...) and returns the new state under the same name, so the caller keeps
      it. From zero states, run over a clip's frames, the last output equals the
      non-streaming model's.
    """

    TRAINING = "training"
    NON_STREAM = "non_stream"
    STREAM = "stream"
