import json

import pytest

from speechgru.config import FeatureConfig
from speechgru.errors import ConfigError


def test_feature_config_round_trips_through_json(tmp_path):
    cfg = FeatureConfig(n_mfcc=13, deltas=2, hop_length=160, log="ln")
    assert FeatureConfig.from_json(cfg.to_json()) == cfg
    cfg.save(tmp_path / "f.json")
    assert FeatureConfig.load(tmp_path / "f.json") == cfg
    assert cfg.num_features == 39
    assert cfg.num_frames == 1 + (16000 - 512) // 160


@pytest.mark.parametrize("kwargs, needle", [
    ({"n_fft": 500}, "power of two"),
    ({"win_length": 1024}, "win_length"),
    ({"n_mfcc": 80}, "n_mfcc"),
    ({"fmax": 9000.0}, "fmax"),
    ({"log": "log10"}, "log"),
    ({"deltas": 3}, "deltas"),
    ({"hop_length": "160"}, "hop_length"),
    ({"center": 1}, "center"),
])
def test_bad_feature_values_are_rejected_with_the_argument_named(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        FeatureConfig.from_dict(kwargs)


def test_unknown_key_and_bad_json_name_the_source(tmp_path):
    p = tmp_path / "features.json"
    p.write_text(json.dumps({"n_mel": 40}))
    with pytest.raises(ConfigError, match=r"features\.json.*unknown.*n_mel"):
        FeatureConfig.load(p)
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        FeatureConfig.load(p)
    with pytest.raises(ConfigError, match="cannot read"):
        FeatureConfig.load(tmp_path / "missing.json")


def test_fingerprint_changes_with_any_setting():
    assert FeatureConfig().fingerprint() == FeatureConfig().fingerprint()
    assert FeatureConfig().fingerprint() != FeatureConfig(fmin=30.0).fingerprint()
