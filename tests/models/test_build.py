import keras
import numpy as np
import pytest

from speechgru.config import ModelConfig
from speechgru.errors import ConfigError
from speechgru.models import (
    GRU,
    AttentionPooling,
    Mode,
    build_model,
    copy_weights,
    normalization_stats,
)

X = np.random.default_rng(0).normal(size=(3, 10, 6)).astype("float32")


def build(cfg, **kw):
    return build_model(cfg, num_frames=10, num_features=6, num_classes=4, **kw)


@pytest.mark.parametrize("cfg", [
    ModelConfig(units=(8, 8)),
    ModelConfig(units=(8,), bidirectional=True, pooling="attention", dense_units=5),
    ModelConfig(units=(8, 4), pooling="mean", reset_after=False),
    ModelConfig(units=(8,), bidirectional=True, pooling="last", convention="keras"),
])
def test_custom_and_keras_cells_give_equal_outputs_after_weight_copy(cfg):
    ours = build(cfg)
    assert any(isinstance(layer, GRU) or isinstance(getattr(layer, "forward_layer", None), GRU)
               for layer in ours.layers)
    keras_cfg = ModelConfig(**{**cfg.to_dict(), "units": cfg.units, "cell": "keras"})
    ref = build(keras_cfg)
    copy_weights(ours, ref)
    p, q = np.asarray(ours(X)), np.asarray(ref(X))
    assert p.shape == (3, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(p - q).max() <= 1e-6
    back = build(cfg)
    copy_weights(ref, back)
    assert np.abs(np.asarray(back(X)) - p).max() <= 1e-6


def test_normalization_uses_the_given_statistics():
    cfg = ModelConfig(units=(4,), dropout=0.0)
    mean, var = X.mean(axis=(0, 1)), X.var(axis=(0, 1))
    model = build(cfg, mean=mean, variance=var)
    norm = model.get_layer("normalize")
    np.testing.assert_allclose(np.asarray(norm(X)), (X - mean) / np.sqrt(var), atol=1e-4)


def test_model_config_round_trip_and_errors():
    cfg = ModelConfig(units=(64, 32), bidirectional=True, pooling="attention")
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    for bad in ({"units": []}, {"units": [0]}, {"pooling": "max"}, {"cell": "lstm"},
                {"dropout": 1.5}):
        with pytest.raises(ConfigError):
            ModelConfig.from_dict(bad)


def test_attention_model_saves_and_loads_in_safe_mode(tmp_path):
    model = build(ModelConfig(units=(8,), pooling="attention"))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(model(X)), np.asarray(loaded(X)))
    pool = AttentionPooling(4, return_weights=True)
    _, alpha = pool(np.asarray(X))
    np.testing.assert_allclose(np.asarray(alpha).sum(axis=1), 1.0, atol=1e-5)


def test_an_ensemble_is_the_mean_of_its_members():
    """``members=N``: N classifiers on the shared normalised frames, each with its own
    weights (named ``…_m{j}``), the output the mean of their probabilities; a member's
    weights go in by name, and a single model's layer names stay plain."""
    rng = np.random.default_rng(5)
    mean, var = rng.normal(size=6), rng.uniform(0.5, 2, 6)
    cfg = ModelConfig(units=(6, 5), dense_units=3)
    members = [build(cfg, mean=mean, variance=var) for _ in range(3)]
    assert "gru_0" in [layer.name for layer in members[0].layers]
    ens = build(ModelConfig(**{**cfg.to_dict(), "units": cfg.units, "members": 3}),
                mean=mean, variance=var)
    for j, m in enumerate(members):
        for layer in m.layers:
            if layer.weights:
                ens.get_layer(f"{layer.name}_m{j}").set_weights(layer.get_weights())
    each = np.stack([np.asarray(m(X)) for m in members])
    assert np.abs(each[0] - each[1]).max() > 1e-3  # the members differ
    np.testing.assert_allclose(np.asarray(ens(X)), each.mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="members"):
        ModelConfig(members=0)


def test_rebuild_with_normalization_stats_equals_the_original():
    cfg = ModelConfig(units=(4,), dropout=0.0)
    mean, var = X.mean(axis=(0, 1)) + 1.0, X.var(axis=(0, 1)) * 2.0
    model = build(cfg, mean=mean, variance=var)
    m2, v2 = normalization_stats(model)
    np.testing.assert_allclose(m2, mean, rtol=1e-6)
    rebuilt = build_model(cfg, Mode.NON_STREAM, num_frames=10, num_features=6, num_classes=4,
                          unroll=True, mean=m2, variance=v2)
    copy_weights(model, rebuilt)
    assert rebuilt.input_shape == (1, 10, 6)
    got = np.concatenate([np.asarray(rebuilt(X[b:b + 1])) for b in range(len(X))])
    np.testing.assert_allclose(got, np.asarray(model(X)), atol=1e-6)


def _configs_the_cli_accepts():
    """Every streamable kind of ModelConfig: units and layers, both cells and conventions,
    reset_after, every pooling, a dense layer, dropout (inactive outside training)."""
    out = []
    for units in ((8,), (8, 6), (5, 7, 4)):
        for pooling in ("last", "mean", "attention"):
            out.append(ModelConfig(units=units, pooling=pooling))
    out += [ModelConfig(units=(8,), cell="keras", dense_units=5),
            ModelConfig(units=(5, 7), reset_after=False, convention="keras"),
            ModelConfig(units=(6, 6), cell="keras", reset_after=False, pooling="attention"),
            ModelConfig(units=(6,), dropout=0.0, dense_units=3, pooling="mean",
                        attention_units=4),
            # ensembles: members side by side, their probabilities averaged
            ModelConfig(units=(6, 5), members=3),
            ModelConfig(units=(5,), conv_filters=(3,), pooling="attention", members=2),
            # CRNN: causal convolutions over (time, coefficient) before the GRUs
            ModelConfig(units=(8,), conv_filters=(4,)),
            ModelConfig(units=(6, 5), conv_filters=(3, 4), conv_kernel=(4, 2), conv_stride=1,
                        pooling="attention"),
            ModelConfig(units=(6,), conv_filters=(5,), conv_kernel=(2, 5), conv_stride=3,
                        cell="keras", pooling="mean")]
    return out


@pytest.mark.parametrize("cfg", _configs_the_cli_accepts(),
                         ids=lambda c: f"{c.cell}-{'conv' * bool(c.conv_filters)}"
                                       f"{'x'.join(map(str, c.units))}-{c.pooling}"
                                       f"-ra{int(c.reset_after)}-{c.convention}")
def test_stream_model_frame_by_frame_equals_the_non_stream_model(cfg):
    """The STREAM build of a config, run one frame at a time from zero states, gives
    after frame t what the NON_STREAM build gives on frames 0..t (Δ ≤ 1e-5), checked
    after 2, 5 and all 10 frames; and so does one stream of the whole batch at once (the
    batch is free: listen steps its staggered copies in one call)."""
    rng = np.random.default_rng(3)
    mean, var = rng.normal(size=6), rng.uniform(0.5, 2, 6)
    trained = build(cfg, mean=mean, variance=var)
    stream = build_model(cfg, Mode.STREAM, num_features=6, num_classes=4, mean=mean,
                         variance=var)
    copy_weights(trained, stream)
    state_names = [i.name for i in stream.inputs if i.name != "frame"]
    assert [i.name for i in stream.inputs] == ["frame", *state_names]
    assert state_names == [f"state_{i}" for i in range(len(state_names))]
    worst = 0.0
    for b in range(2):
        states = {i.name: np.zeros((1, *i.shape[1:]), np.float32) for i in stream.inputs
                  if i.name != "frame"}
        for t in range(X.shape[1]):
            out = stream({"frame": X[b:b + 1, t], **states})
            states = {k: np.asarray(out[k]) for k in state_names}
            prefix = build_model(cfg, Mode.NON_STREAM, num_frames=t + 1, num_features=6,
                                 num_classes=4, mean=mean, variance=var) \
                if b == 0 and t in (1, 4) else None
            if prefix is not None:
                copy_weights(trained, prefix)
                ref = np.asarray(prefix(X[b:b + 1, :t + 1]))[0]
                worst = max(worst, float(np.abs(np.asarray(out["probabilities"])[0]
                                                - ref).max()))
        full = np.asarray(trained(X[b:b + 1]))[0]
        worst = max(worst, float(np.abs(np.asarray(out["probabilities"])[0] - full).max()))
    states = {i.name: np.zeros((len(X), *i.shape[1:]), np.float32) for i in stream.inputs
              if i.name != "frame"}
    for t in range(X.shape[1]):
        out = stream({"frame": X[:, t], **states})
        states = {k: np.asarray(out[k]) for k in state_names}
    worst = max(worst, float(np.abs(np.asarray(out["probabilities"])
                                    - np.asarray(trained(X))).max()))
    assert worst <= 1e-5


def test_stream_model_has_no_dropout_and_the_same_weights():
    cfg = ModelConfig(units=(8, 6), dropout=0.3, dense_units=4, pooling="attention")
    trained = build(cfg)
    stream = build_model(cfg, Mode.STREAM, num_features=6, num_classes=4)
    assert not [layer for layer in stream.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer for layer in trained.layers if isinstance(layer, keras.layers.Dropout)]
    assert (sum(w.size for w in trained.get_weights())
            == sum(w.size for w in stream.get_weights()))


def test_a_bidirectional_model_cannot_stream():
    with pytest.raises(ConfigError, match="bidirectional"):
        build_model(ModelConfig(units=(8,), bidirectional=True), Mode.STREAM, num_features=6,
                    num_classes=4)
    with pytest.raises(ValueError, match="num_frames"):
        build_model(ModelConfig(units=(8,)), Mode.NON_STREAM, num_features=6, num_classes=4)


def test_the_stream_calibration_set_is_each_clip_stepped_alone_from_zero_states():
    """export's representative data for stream_int8/int16 (every step's frame and states,
    clip by clip) steps all clips as one batch: the rows equal stepping each clip alone."""
    from speechgru.export.variants import stream_states

    cfg = ModelConfig(units=(8, 8), dropout=0.0)
    stream = build_model(cfg, Mode.STREAM, num_features=6, num_classes=4)
    got = stream_states(stream, X)
    names = [i.name for i in stream.inputs]
    rows = {n: [] for n in names}
    for clip in X:
        states = {n: np.zeros((1, *i.shape[1:]), np.float32)
                  for n, i in zip(names, stream.inputs, strict=True) if n != "frame"}
        for frame in clip:
            feed = {"frame": frame[None], **states}
            for n in names:
                rows[n].append(feed[n])
            out = stream(feed)
            states = {n: np.asarray(out[n]) for n in states}
    assert set(got) == set(names)
    for n in names:
        want = np.concatenate(rows[n])
        assert got[n].shape == want.shape == (X.shape[0] * X.shape[1], *want.shape[1:])
        np.testing.assert_allclose(got[n], want, atol=1e-5)
    assert np.abs(got["state_0"]).max() > 0.01  # the states do move
