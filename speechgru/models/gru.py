"""A gated recurrent unit written from the textbook equations, proven equal to Keras.

One step of the GRU (Cho et al. 2014), the *textbook* convention::

    z_t = σ(W_z x_t + U_z h_{t-1} + b_z)             update gate
    r_t = σ(W_r x_t + U_r h_{t-1} + b_r)             reset gate
    h̃_t = tanh(W_h x_t + U_h (r_t ⊙ h_{t-1}) + b_h)   candidate
    h_t = (1 − z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t            new state

Two facts about Keras (and cuDNN) that this module makes explicit:

* **The role of z is swapped**: Keras computes ``h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃``. Since
  σ(−a) = 1 − σ(a), negating the z columns of the kernel, the recurrent kernel and the
  bias maps one convention onto the other (:func:`convert_weights`).
* **reset_after**: the textbook candidate applies r *before* the recurrent matmul
  (``reset_after=False``). Keras' default applies it after,
  ``r ⊙ (U_h h_{t-1} + b_rh)``, with two bias vectors (bias shape ``(2, 3·units)``).

Weights use Keras' layout whatever the convention: ``kernel (input_dim, 3·units)``,
``recurrent_kernel (units, 3·units)`` with gate blocks in the order [z | r | h], and
``bias (3·units,)`` or ``(2, 3·units)`` (row 0: input bias, row 1: recurrent bias).
So ``GRU(..., convention="keras").set_weights(keras.layers.GRU(...).get_weights())``
works as it is, and :meth:`GRU.set_keras_weights` converts for the textbook convention.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import activations, constraints, initializers, ops, regularizers

CONVENTIONS = ("textbook", "keras")


def convert_weights(weights, units: int):
    """Map GRU weights between the textbook and the Keras convention (both directions).

    Negates the update-gate (z) block — the first ``units`` columns — of the kernel, the
    recurrent kernel and the bias (both rows when ``reset_after``). Applying it twice
    gives the weights back.

    Examples
    --------
    >>> k = np.ones((2, 6)); u = np.ones((2, 6)); b = np.ones(6)
    >>> [w[..., :2].tolist() for w in convert_weights([k, u, b], units=2)][2]
    [-1.0, -1.0]
    """
    out = []
    for w in weights:
        w = np.array(w, copy=True)
        w[..., :units] *= -1.0
        out.append(w)
    return out


@keras.saving.register_keras_serializable(package="speechgru")
@keras.saving.register_keras_serializable(package="speechgru")
class GRUCell(keras.layers.Layer):
    """One step of the GRU.

    The arguments but these three are those of ``keras.layers.GRUCell``. Dropout follows
    Keras: one mask per sequence (the :class:`GRU` layer draws it before its loop); a cell
    called on its own in training draws a new mask per call.

    Parameters
    ----------
    units : int
        Size of the state h.
    convention : str
        ``"textbook"`` (``h = (1−z)·h_prev + z·h̃``, default) or ``"keras"``
        (``h = z·h_prev + (1−z)·h̃``).
    reset_after : bool
        Apply r after the recurrent matmul (Keras' default, two bias rows) or before it
        (``False``: the textbook candidate).
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 convention="textbook", seed=None, **kwargs):
        if not isinstance(units, int | np.integer) or units <= 0:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        if kwargs.pop("return_gates", False):
            raise ValueError("return_gates is gone: read gates with "
                             "speechgru.models.gru.gate_sequences(layer, inputs)")
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.reset_after = bool(reset_after)
        self.convention = convention
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = self.units
        self.output_size = self.units
        self._sequence = None  # weights and dropout masks fixed for one sequence

    def build(self, input_shape):
        input_dim = input_shape[-1]
        u = self.units
        self.kernel = self.add_weight(
            shape=(input_dim, 3 * u), name="kernel", initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            shape=(u, 3 * u), name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(2, 3 * u) if self.reset_after else (3 * u,), name="bias",
                initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    # -- the two halves of a step -------------------------------------------------------
    def project_inputs(self, x):
        """``[W_z x + b_z | W_r x + b_r | W_h x + b_h]`` for any leading shape of ``x``.

        Independent of h; works on one step ``(batch, features)`` or a whole sequence.
        """
        if len(x.shape) == 2:
            xw = ops.matmul(x, self.kernel)
        else:  # one 2-D matmul over all steps (a 3-D matmul is a slower batched one)
            lead = ops.shape(x)[:-1]
            xw = ops.matmul(ops.reshape(x, (-1, x.shape[-1])), self.kernel)
            xw = ops.reshape(xw, (*lead, 3 * self.units))
        if self.use_bias:
            xw = xw + (self.bias[0] if self.reset_after else self.bias)
        return xw

    def recurrent_weights(self):
        """``(U, b_r)``: the recurrent kernel and bias as tensors (``b_r`` may be None)."""
        U = ops.convert_to_tensor(self.recurrent_kernel)
        b = self.bias[1] if (self.use_bias and self.reset_after) else None
        if not self.reset_after:
            return (U[:, :2 * self.units], U[:, 2 * self.units:]), b
        return U, b

    def recurrent_step(self, xw, h_prev, weights=None, state_mask=None):
        """The rest of one step, from projected inputs ``xw``; returns ``(h, z, r)``."""
        U, b_rec = weights if weights is not None else self.recurrent_weights()
        h_in = h_prev if state_mask is None else h_prev * state_mask
        x_z, x_r, x_h = ops.split(xw, 3, axis=-1)
        if self.reset_after:
            hU = ops.matmul(h_in, U)  # [U_z h | U_r h | U_h h] in one matmul
            if b_rec is not None:
                hU = hU + b_rec
            h_z, h_r, h_h = ops.split(hU, 3, axis=-1)
            z = self.recurrent_activation(x_z + h_z)                     # update gate
            r = self.recurrent_activation(x_r + h_r)                     # reset gate
            h_tilde = self.activation(x_h + r * h_h)                     # candidate
        else:
            U_zr, U_h = U
            h_z, h_r = ops.split(ops.matmul(h_in, U_zr), 2, axis=-1)
            z = self.recurrent_activation(x_z + h_z)                     # update gate
            r = self.recurrent_activation(x_r + h_r)                     # reset gate
            h_tilde = self.activation(x_h + ops.matmul(r * h_in, U_h))   # candidate
        if self.convention == "textbook":
            h = (1.0 - z) * h_prev + z * h_tilde                         # new state
        else:
            h = z * h_prev + (1.0 - z) * h_tilde
        return h, z, r

    # -- one sequence ---------------------------------------------------------------------
    def _mask(self, like, rate):
        return keras.random.dropout(ops.ones_like(like), rate, seed=self.seed_generator)

    def begin_sequence(self, first_inputs, h0, training=False):
        """Fix what stays the same over a sequence: the recurrent weights (read once, not
        once per step) and, in training, one dropout mask for the inputs and one for the
        state (Keras' semantics)."""
        drop = training and 0.0 < self.dropout < 1.0
        rdrop = training and 0.0 < self.recurrent_dropout < 1.0
        self._sequence = (self.recurrent_weights(),
                          self._mask(first_inputs, self.dropout) if drop else None,
                          self._mask(h0, self.recurrent_dropout) if rdrop else None)

    def end_sequence(self):
        self._sequence = None

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, list | tuple) else states
        if self._sequence is not None:
            weights, in_mask, state_mask = self._sequence
        else:
            weights = None
            in_mask = (self._mask(inputs, self.dropout)
                       if training and 0.0 < self.dropout < 1.0 else None)
            state_mask = (self._mask(h_prev, self.recurrent_dropout)
                          if training and 0.0 < self.recurrent_dropout < 1.0 else None)
        if in_mask is not None:
            inputs = inputs * in_mask
        h, _, _ = self.recurrent_step(self.project_inputs(inputs), h_prev, weights,
                                      state_mask)
        return h, [h] if isinstance(states, list | tuple) else h

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "reset_after": self.reset_after,
            "convention": self.convention,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


_CELL_ARGS = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "kernel_regularizer",
              "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
              "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",
              "reset_after", "convention", "seed")


@keras.saving.register_keras_serializable(package="speechgru")
class GRU(keras.layers.RNN):
    """The GRU layer: :class:`GRUCell` over time, with ``keras.layers.GRU``'s arguments.

    Everything but the loop is ``keras.layers.RNN``'s (masking, ``zero_output_for_mask``,
    ``return_state``, ``stateful``, ``go_backwards``, ``unroll``); the loop itself is
    Keras' too: this layer only fixes, before it, what stays the same over a sequence
    (:meth:`GRUCell.begin_sequence`: the recurrent weights, read once, and the dropout
    masks). Gate sequences of a trained layer: :func:`gate_sequences`.

    Examples
    --------
    >>> layer = GRU(8, return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    TensorShape([2, 5, 8])
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, convention="textbook",
                 **kwargs):
        kwargs.pop("cell", None)
        if kwargs.pop("return_gates", False):
            raise ValueError("return_gates is gone: read gates with "
                             "speechgru.models.gru.gate_sequences(layer, inputs)")
        cell = GRUCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            convention=convention, seed=seed, dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True), name="gru_cell")
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)

    @property
    def units(self):
        return self.cell.units

    @property
    def convention(self):
        return self.cell.convention

    @property
    def reset_after(self):
        return self.cell.reset_after

    def inner_loop(self, sequences, initial_state, mask, training=False):
        self.cell.begin_sequence(sequences[:, 0, :], initial_state[0], training)
        try:
            return super().inner_loop(sequences, initial_state, mask, training)
        finally:
            self.cell.end_sequence()

    def set_keras_weights(self, weights):
        """Load ``keras.layers.GRU(...).get_weights()``, converting to this convention."""
        if self.cell.convention == "textbook":
            weights = convert_weights(weights, self.cell.units)
        self.set_weights(weights)

    def get_keras_weights(self):
        """This layer's weights in Keras' convention (for ``keras.layers.GRU``)."""
        weights = self.get_weights()
        if self.cell.convention == "textbook":
            weights = convert_weights(weights, self.cell.units)
        return weights

    def get_config(self):
        config = {k: v for k, v in self.cell.get_config().items() if k in _CELL_ARGS}
        base = super().get_config()
        base.pop("cell", None)
        return {**base, **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if config.get("return_gates") is False:  # written by speechgru ≤ 0.x: the default
            config.pop("return_gates")
        return cls(**config)


class GRUStep(keras.layers.Layer):
    """The stream form of a GRU layer (ours or ``keras.layers.GRU``): one step of its
    cell, ``[x_t (batch, features), h (batch, units)] → h_t``, without the RNN wrapper's
    time axis (a one-step RNN adds a reshape, a transpose, an unstack and a pack per layer
    to the exported graph). Holds the layer, so its weights are the layer's, in its order
    and convention."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    @property
    def units(self) -> int:
        return self.layer.cell.units

    @property
    def convention(self) -> str:
        return getattr(self.layer.cell, "convention", "keras")

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build((input_shape[0][0], 1, input_shape[0][-1]))
        self.built = True

    def call(self, inputs):
        x, h = inputs
        out, _ = self.layer.cell(x, [h])
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[1]


class _GateReader(keras.layers.Layer):
    """A trained :class:`GRUCell` (shared, not copied) whose output is ``[h | z | r]``."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.state_size = cell.units
        self.output_size = 3 * cell.units

    def call(self, inputs, states):
        h, z, r = self.cell.recurrent_step(self.cell.project_inputs(inputs), states[0])
        return ops.concatenate([h, z, r], axis=-1), [h]


def gate_sequences(layer, inputs) -> dict[str, np.ndarray]:
    """Run a trained GRU layer (ours, or ``keras.layers.GRU``) over ``inputs`` (batch,
    time, features) and return its states and gates at every step: ``h``, ``z`` and ``r``
    (batch, time, units) in the layer's own convention (a ``keras.layers.GRU`` is read
    through a Keras-convention :class:`GRUCell` holding its weights)."""
    cell = layer.cell
    if not isinstance(cell, GRUCell):  # keras.layers.GRUCell: same weight layout
        mirror = GRUCell(cell.units, reset_after=cell.reset_after, convention="keras",
                         activation=cell.activation,
                         recurrent_activation=cell.recurrent_activation,
                         use_bias=cell.use_bias)
        mirror.build((None, cell.kernel.shape[0]))
        mirror.set_weights(cell.get_weights())
        cell = mirror
    reader = keras.layers.RNN(_GateReader(cell), return_sequences=True,
                              go_backwards=layer.go_backwards)
    out = np.asarray(reader(ops.convert_to_tensor(np.asarray(inputs, np.float32))))
    u = cell.units
    return {"h": out[..., :u], "z": out[..., u:2 * u], "r": out[..., 2 * u:]}
