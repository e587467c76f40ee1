"""The hand-written GRU against keras.layers.GRU and an independent NumPy implementation."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from speechgru.models.gru import GRU, GRUCell, convert_weights, gate_sequences


def random_weights(input_dim, units, reset_after, seed=0):
    """Keras-layout weights with non-zero biases."""
    rng = np.random.default_rng(seed)
    k = rng.normal(0, 0.5, (input_dim, 3 * units)).astype("float32")
    u = rng.normal(0, 0.5, (units, 3 * units)).astype("float32")
    b = rng.normal(0, 0.5, (2, 3 * units) if reset_after else (3 * units,)).astype("float32")
    return [k, u, b]


def pair(units, input_dim, reset_after, convention, **kw):
    ref = keras.layers.GRU(units, reset_after=reset_after, **kw)
    ours = GRU(units, reset_after=reset_after, convention=convention, **kw)
    shape = (None, None, input_dim)
    ref.build(shape)
    ours.build(shape)
    w = random_weights(input_dim, units, reset_after)
    ref.set_weights(w)
    ours.set_keras_weights(w)
    return ref, ours


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def numpy_textbook_gru(x, kernel, recurrent, bias, reset_after, h0=None):
    """The four textbook equations, step by step, in float64; returns (h_seq, z_seq, r_seq)."""
    x = x.astype(np.float64)
    B, T, _ = x.shape
    units = recurrent.shape[0]
    Wz, Wr, Wh = np.split(kernel.astype(np.float64), 3, axis=1)
    Uz, Ur, Uh = np.split(recurrent.astype(np.float64), 3, axis=1)
    if reset_after:
        bz, br, bh = np.split(bias[0].astype(np.float64), 3)
        rz, rr, rh = np.split(bias[1].astype(np.float64), 3)
    else:
        bz, br, bh = np.split(bias.astype(np.float64), 3)
        rz = rr = rh = 0.0
    h = np.zeros((B, units)) if h0 is None else h0.astype(np.float64)
    hs, zs, rs = [], [], []
    for t in range(T):
        xt = x[:, t]
        z = sigmoid(xt @ Wz + h @ Uz + bz + rz)
        r = sigmoid(xt @ Wr + h @ Ur + br + rr)
        if reset_after:
            h_tilde = np.tanh(xt @ Wh + bh + r * (h @ Uh + rh))
        else:
            h_tilde = np.tanh(xt @ Wh + (r * h) @ Uh + bh)
        h = (1 - z) * h + z * h_tilde
        hs.append(h)
        zs.append(z)
        rs.append(r)
    return np.stack(hs, 1), np.stack(zs, 1), np.stack(rs, 1)


SHAPES = [(3, 7, 5, 4), (2, 1, 3, 6), (4, 12, 8, 16)]  # batch, time, features, units
MAX_DELTA = {"output": 0.0, "grad": 0.0}


@pytest.mark.parametrize("shape, reset_after, convention, go_backwards, return_sequences",
                         [(s, ra, c, gb, rs) for s, ra, c, gb, rs in itertools.product(
                             SHAPES, [True, False], ["textbook", "keras"], [False, True],
                             [False, True])])
def test_outputs_equal_keras(shape, reset_after, convention, go_backwards, return_sequences):
    B, T, F, U = shape
    x = np.random.default_rng(1).normal(size=(B, T, F)).astype("float32")
    ref, ours = pair(U, F, reset_after, convention, go_backwards=go_backwards,
                     return_sequences=return_sequences, return_state=True)
    (a, ha), (b, hb) = ref(x), ours(x)
    d = max(np.abs(np.asarray(a) - np.asarray(b)).max(),
            np.abs(np.asarray(ha) - np.asarray(hb)).max())
    MAX_DELTA["output"] = max(MAX_DELTA["output"], float(d))
    assert d <= 1e-6


@pytest.mark.parametrize("reset_after, zero_output", list(itertools.product([True, False],
                                                                            [False, True])))
def test_masking_equals_keras(reset_after, zero_output):
    x = np.random.default_rng(2).normal(size=(3, 6, 4)).astype("float32")
    x[0, 4:] = 0.0  # padded tails, masked out
    x[1, 2:] = 0.0
    outs = []
    for layer_cls in ("keras", "ours"):
        inp = keras.Input((6, 4))
        m = keras.layers.Masking(0.0)(inp)
        kw = {"reset_after": reset_after, "return_sequences": True,
              "zero_output_for_mask": zero_output}
        gru = keras.layers.GRU(5, **kw) if layer_cls == "keras" else GRU(5, **kw)
        model = keras.Model(inp, gru(m))
        w = random_weights(4, 5, reset_after, seed=3)
        gru.set_weights(w) if layer_cls == "keras" else gru.set_keras_weights(w)
        outs.append(np.asarray(model(x)))
    assert np.abs(outs[0] - outs[1]).max() <= 1e-6
    if zero_output:  # masked steps output zeros
        assert np.abs(outs[1][1, 2:]).max() == 0.0
    else:  # masked steps carry the last unmasked output forward
        np.testing.assert_array_equal(outs[1][1, 2:], np.repeat(outs[1][1, 1:2], 4, axis=0))


@pytest.mark.parametrize("reset_after, convention",
                         list(itertools.product([True, False], ["textbook", "keras"])))
def test_gradients_equal_keras(reset_after, convention):
    x = tf.constant(np.random.default_rng(4).normal(size=(3, 9, 5)).astype("float32"))
    ref, ours = pair(6, 5, reset_after, convention, return_sequences=True)
    target = np.random.default_rng(5).normal(size=(3, 9, 6)).astype("float32")
    grads = []
    for layer in (ref, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum((layer(x) - target) ** 2)
        g = tape.gradient(loss, [x, *layer.trainable_variables])
        grads.append([np.asarray(v) for v in g])
    g_ref = grads[0]
    g_ours = [grads[1][0], *(convert_weights(grads[1][1:], 6) if convention == "textbook"
                             else grads[1][1:])]
    for a, b in zip(g_ref, g_ours, strict=True):
        d = np.abs(a - b).max()
        MAX_DELTA["grad"] = max(MAX_DELTA["grad"], float(d))
        assert d <= 1e-5


@pytest.mark.parametrize("reset_after", [True, False])
def test_textbook_cell_equals_independent_numpy(reset_after):
    x = np.random.default_rng(6).normal(size=(2, 8, 3)).astype("float32")
    w = random_weights(3, 5, reset_after, seed=7)
    layer = GRU(5, reset_after=reset_after, return_sequences=True)
    layer.build((None, None, 3))
    layer.set_weights(w)  # textbook convention, weights as they are
    g = gate_sequences(layer, x)
    h_ref, z_ref, r_ref = numpy_textbook_gru(x, *w, reset_after=reset_after)
    for got, ref in ((g["h"], h_ref), (g["z"], z_ref), (g["r"], r_ref)):
        assert np.abs(got - ref).max() <= 1e-5
    np.testing.assert_allclose(np.asarray(layer(x)), g["h"], atol=1e-6)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gates_of_a_keras_gru_are_read_in_its_own_convention(reset_after):
    x = np.random.default_rng(8).normal(size=(2, 5, 3)).astype("float32")
    ref, ours = pair(4, 3, reset_after, "textbook", return_sequences=True)
    g_ref, g_ours = gate_sequences(ref, x), gate_sequences(ours, x)
    np.testing.assert_allclose(g_ref["h"], np.asarray(ref(x)), atol=1e-6)
    np.testing.assert_allclose(g_ref["h"], g_ours["h"], atol=1e-6)
    np.testing.assert_allclose(g_ref["z"], 1.0 - g_ours["z"], atol=1e-6)  # z swapped
    np.testing.assert_allclose(g_ref["r"], g_ours["r"], atol=1e-6)


def test_return_gates_is_gone_with_a_pointer_and_old_configs_still_load():
    with pytest.raises(ValueError, match="gate_sequences"):
        GRU(4, return_gates=True)
    old = {**GRU(4).get_config(), "return_gates": False}  # as speechgru 0.x wrote it
    assert GRU.from_config(old).units == 4


def test_cell_step_equals_layer():
    x = np.random.default_rng(9).normal(size=(2, 4, 3)).astype("float32")
    layer = GRU(5, return_sequences=True)
    seq = np.asarray(layer(x))
    cell = layer.cell
    h = np.zeros((2, 5), "float32")
    for t in range(4):
        out, states = cell(x[:, t], [h])
        h = np.asarray(states[0])
        np.testing.assert_array_equal(np.asarray(out), h)
        np.testing.assert_allclose(h, seq[:, t], atol=1e-6)


def test_convert_weights_is_an_involution():
    w = random_weights(3, 4, True)
    back = convert_weights(convert_weights(w, 4), 4)
    for a, b in zip(w, back, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(convert_weights(w, 4)[0], w[0])


def test_unroll_and_stateful_equal_the_plain_loop():
    x = np.random.default_rng(10).normal(size=(2, 6, 3)).astype("float32")
    w = random_weights(3, 4, True)
    plain = GRU(4, return_sequences=True)
    unrolled = GRU(4, return_sequences=True, unroll=True)
    stateful = GRU(4, return_sequences=True, stateful=True)
    plain.build((2, 6, 3))
    unrolled.build((2, 6, 3))
    stateful.build((2, 3, 3))
    for layer in (plain, unrolled, stateful):
        layer.set_weights(w)
    full = np.asarray(plain(x))
    np.testing.assert_allclose(np.asarray(unrolled(x)), full, atol=1e-6)
    halves = np.concatenate([np.asarray(stateful(x[:, :3])), np.asarray(stateful(x[:, 3:]))], 1)
    np.testing.assert_allclose(halves, full, atol=1e-6)
    stateful.reset_state()
    np.testing.assert_allclose(np.asarray(stateful(x[:, :3])), full[:, :3], atol=1e-6)


def test_dropout_only_in_training():
    x = np.random.default_rng(11).normal(size=(4, 6, 3)).astype("float32")
    layer = GRU(8, dropout=0.5, recurrent_dropout=0.3, seed=1)
    a = np.asarray(layer(x, training=False))
    np.testing.assert_array_equal(a, np.asarray(layer(x)))
    assert np.abs(np.asarray(layer(x, training=True)) - a).max() > 1e-3


def test_one_input_dropout_mask_for_the_whole_sequence():
    """As in Keras: the dropped input features are the same at every time step, so the
    output in training equals the plain GRU on ``x · mask`` for one mask in {0, 2}^F."""
    x = np.random.default_rng(14).normal(size=(4, 6, 3)).astype("float32")
    layer = GRU(5, dropout=0.5, seed=2, return_sequences=True)
    got = np.asarray(layer(x, training=True))
    plain = GRU(5, return_sequences=True)
    plain.build(x.shape)
    plain.set_weights(layer.get_weights())
    masks = np.array(list(itertools.product([0.0, 2.0], repeat=3)), np.float32)
    for b in range(len(x)):
        candidates = np.asarray(plain(x[b][None] * masks[:, None, :]))
        assert np.abs(candidates - got[b]).max(axis=(1, 2)).min() <= 1e-5, b


def test_every_argument_round_trips_through_get_config():
    layer = GRU(7, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                kernel_initializer="he_normal", recurrent_initializer="glorot_normal",
                kernel_regularizer="l2", dropout=0.1, recurrent_dropout=0.2, seed=3,
                return_sequences=True, return_state=True, go_backwards=True, stateful=False,
                unroll=True, reset_after=False, convention="keras", zero_output_for_mask=True,
                name="g")
    config = layer.get_config()
    clone = GRU.from_config(config)
    assert clone.get_config() == config
    for key, value in [("units", 7), ("reset_after", False), ("convention", "keras"),
                       ("zero_output_for_mask", True), ("go_backwards", True), ("unroll", True),
                       ("dropout", 0.1), ("recurrent_dropout", 0.2), ("seed", 3)]:
        assert config[key] == value, key
    cell = GRUCell(3, convention="keras", reset_after=False)
    assert GRUCell.from_config(cell.get_config()).get_config() == cell.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="convention"):
        GRU(4, convention="cudnn")
    with pytest.raises(ValueError, match="units"):
        GRU(0)


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    inp = keras.Input((5, 3))
    out = keras.layers.Dense(2)(GRU(4, reset_after=False, return_sequences=False)(inp))
    model = keras.Model(inp, out)
    x = np.random.default_rng(12).normal(size=(2, 5, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))
    assert isinstance(loaded.layers[1], GRU)


def test_saved_model_export(tmp_path):
    inp = keras.Input((5, 3))
    model = keras.Model(inp, GRU(4)(inp))
    x = np.random.default_rng(13).normal(size=(1, 5, 3)).astype("float32")
    model.export(str(tmp_path / "sm"), input_signature=[tf.TensorSpec([1, 5, 3], tf.float32)],
                 verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(np.asarray(restored.serve(x)), np.asarray(model(x)), atol=1e-6)


def test_report_largest_deltas():
    """Prints the largest differences seen above (run with -s to see them)."""
    print(f"\nlargest |Δ| vs keras.layers.GRU: outputs {MAX_DELTA['output']:.3g}, "
          f"gradients {MAX_DELTA['grad']:.3g}")
    assert MAX_DELTA["output"] <= 1e-6 and MAX_DELTA["grad"] <= 1e-5
