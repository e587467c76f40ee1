"""The TF front end (the MFCC inside the exported graphs) against the definition."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tone

from speechgru.config import FeatureConfig
from speechgru.errors import ConfigError
from speechgru.features import maths
from speechgru.features.tf import MFCCFrontend, mfcc_layer


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(log="ln", n_mfcc=13),
                                 FeatureConfig(hop_length=160, win_length=400)])
def test_tf_frontend_equals_the_definition(cfg):
    rng = np.random.default_rng(3)
    pcm = np.stack([tone(sr=cfg.sample_rate, freq=f) + 0.02 * rng.standard_normal(
        cfg.clip_samples) for f in (300.0, 1200.0)]).astype(np.float32)
    got = MFCCFrontend(cfg)(tf.constant(pcm)).numpy()
    ref = np.stack([maths.mfcc(y, cfg) for y in pcm])
    assert got.shape == (2, cfg.num_frames, cfg.n_mfcc)
    np.testing.assert_allclose(got, ref, atol=2e-3)
    layer = mfcc_layer(cfg)
    np.testing.assert_allclose(np.asarray(layer(pcm)), got, atol=1e-6)


@pytest.mark.parametrize("cfg, why", [(FeatureConfig(center=True), "center"),
                                      (FeatureConfig(deltas=1), "deltas")])
def test_what_the_graph_cannot_compute_is_refused(cfg, why):
    with pytest.raises(ConfigError, match=why):
        MFCCFrontend(cfg)
