"""The feature cache: reuse, invalidation, parallel extraction."""

import json

import numpy as np
import pytest
from conftest import make_sc, tone, write

from speechgru.cli import main as cli
from speechgru.config import FeatureConfig
from speechgru.data import check_dataset, extract_features, hash_split, scan_dataset
from speechgru.errors import DataError


def test_feature_cache_is_reused_and_invalidated(tmp_path):
    root = make_sc(tmp_path / "ds")
    cfg = FeatureConfig()
    clips = scan_dataset(root).clips
    first = extract_features(clips, cfg, cache_dir=tmp_path / "cache", progress=False)
    assert first.computed == len(clips) and first.cached == 0
    second = extract_features(clips, cfg, cache_dir=tmp_path / "cache", progress=False)
    assert second.cached == len(clips) and second.computed == 0
    np.testing.assert_array_equal(first.x, second.x)
    write(root / "yes" / "aa11_nohash_0.wav", tone(freq=900.0))  # the file changes
    third = extract_features(clips, cfg, cache_dir=tmp_path / "cache", progress=False)
    assert third.computed == 1
    other = extract_features(clips, FeatureConfig(n_mfcc=13), cache_dir=tmp_path / "cache",
                             progress=False)
    assert other.computed == len(clips) and other.x.shape[2] == 13


def test_parallel_extraction_equals_serial_and_reports_bad(tmp_path):
    speakers = [f"{i:04x}" for i in range(25)]
    root = make_sc(tmp_path, speakers=speakers, words=("yes", "no", "up"))
    (root / "up" / "zzzz_nohash_0.wav").write_bytes(b"")
    clips = scan_dataset(root).clips
    cfg = FeatureConfig()
    par = extract_features(clips, cfg, workers=2, progress=False)
    ser = extract_features(clips, cfg, workers=1, progress=False)
    assert len(par.clips) == len(clips) - 1 and [b for b, _ in par.bad] == [
        str(root / "up" / "zzzz_nohash_0.wav")]
    np.testing.assert_array_equal(par.x, ser.x)
    with pytest.raises(DataError, match="zzzz_nohash_0.wav"):
        extract_features(clips, cfg, workers=1, progress=False, strict=True)
