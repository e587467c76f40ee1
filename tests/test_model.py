import keras
import numpy as np
import pytest

from speechgru.config import ModelConfig
from speechgru.errors import ConfigError
from speechgru.gru import GRU
from speechgru.model import AttentionPooling, build_model, copy_weights

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


def test_rebuild_with_normalization_stats_equals_the_original():
    from speechgru.model import normalization_stats

    cfg = ModelConfig(units=(4,), dropout=0.0)
    mean, var = X.mean(axis=(0, 1)) + 1.0, X.var(axis=(0, 1)) * 2.0
    model = build(cfg, mean=mean, variance=var)
    m2, v2 = normalization_stats(model)
    np.testing.assert_allclose(m2, mean, rtol=1e-6)
    rebuilt = build_model(cfg, num_frames=10, num_features=6, num_classes=4, batch_size=3,
                          unroll=True, mean=m2, variance=v2)
    copy_weights(model, rebuilt)
    np.testing.assert_allclose(np.asarray(rebuilt(X)), np.asarray(model(X)), atol=1e-6)


@pytest.mark.parametrize("cfg", [
    ModelConfig(units=(8, 6)),
    ModelConfig(units=(8,), cell="keras", dense_units=5),
    ModelConfig(units=(5, 7), reset_after=False, convention="keras"),
])
def test_step_model_over_a_clip_equals_the_whole_clip_model(cfg):
    from speechgru.model import build_step_model

    rng = np.random.default_rng(3)
    model = build(cfg, mean=rng.normal(size=6), variance=rng.uniform(0.5, 2, 6))
    ref = np.asarray(model(X))
    step = build_step_model(model)
    for b in range(len(X)):
        states = {f"state_{i}": np.zeros((1, u), np.float32) for i, u in enumerate(cfg.units)}
        for t in range(X.shape[1]):
            out = step({"frame": X[b:b + 1, t], **states})
            states = {k: np.asarray(v) for k, v in out.items() if k != "probabilities"}
        np.testing.assert_allclose(np.asarray(out["probabilities"])[0], ref[b], atol=1e-6)


@pytest.mark.parametrize("cfg,why", [
    (ModelConfig(units=(8,), bidirectional=True), "unidirectional"),
    (ModelConfig(units=(8,), pooling="mean"), "pooling='last'"),
    (ModelConfig(units=(8,), pooling="attention"), "pooling='last'"),
])
def test_step_model_refuses_models_that_cannot_stream(cfg, why):
    from speechgru.model import build_step_model

    with pytest.raises(ValueError, match=why):
        build_step_model(build(cfg))
