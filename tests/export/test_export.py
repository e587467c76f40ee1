"""Export variants against Keras, the in-graph MFCC against librosa, the TF-free runtime."""


import numpy as np
import pytest
from conftest import EXPORT_CFG

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.errors import ExportError
from speechgru.export import export_run
from speechgru.runtime.recognizer import Recognizer
from speechgru.training.train import train

pytestmark = pytest.mark.slow
# the module's model (small, but trained enough to recognise its training voices) is the
# session fixture `exported` of conftest.py, shared with the bad-input corpus
CFG = EXPORT_CFG


def test_every_variant_converts_runs_and_agrees_with_keras(exported):
    root, report = exported
    models = report["models"]
    # by default no unrolled int8.tflite (1.6 MB): the int8 clip model is stream_int8 looped
    assert set(models) == {"float32.tflite", "float16.tflite", "dynamic.tflite",
                           "wave_float32.tflite", "frontend.tflite", "stream_float32.tflite",
                           "stream_int8.tflite", "stream_int16.tflite"}
    for name, r in models.items():
        assert "error" not in r, (name, r)
        assert (root / "model" / name).stat().st_size == r["bytes"]
    assert models["float32.tflite"]["max_abs_delta"] <= 1e-5
    assert models["stream_float32.tflite"]["max_abs_delta"] <= 1e-5  # streaming == whole clip
    assert models["wave_float32.tflite"]["max_abs_delta"] <= 1e-4
    assert models["frontend.tflite"]["max_abs_delta"] <= 2e-3  # vs librosa, one frame a call
    for name in ("float32", "stream_float32", "wave_float32"):
        assert models[f"{name}.tflite"]["top1_agreement"] == 1.0
    assert models["float16.tflite"]["max_abs_delta"] <= 5e-3
    assert models["float16.tflite"]["bytes"] < 0.6 * models["float32.tflite"]["bytes"]
    assert models["dynamic.tflite"]["top1_agreement"] >= 0.9
    # a small model trained for seconds (measured: agreement 0.90 / 0.875, mean per-clip
    # largest |Δ| 0.085 / 0.086, largest 0.40 / 0.37): a broken int8 graph fails these
    r = models["stream_int8.tflite"]
    assert r["top1_agreement"] >= 0.8, r
    assert r["mean_abs_delta"] <= 0.15 and r["max_abs_delta"] <= 0.6, r
    assert models["stream_int8.tflite"]["bytes"] < 0.6 * models["float32.tflite"]["bytes"]
    for name in ("labels.txt", "features.json", "export_report.json", "saved_model"):
        assert (root / "model" / name).exists()
    assert FeatureConfig.load(root / "model" / "features.json") == CFG.features


def test_export_refuses_to_overwrite_without_force(exported):
    root, _ = exported
    before = (root / "model" / "float32.tflite").read_bytes()
    with pytest.raises(ExportError, match="--force"):
        export_run(root / "run", root / "model")
    assert (root / "model" / "float32.tflite").read_bytes() == before


def test_in_graph_mfcc_matches_librosa_on_speech(synth_dir):
    import tensorflow as tf

    from speechgru.audio import load_clip
    from speechgru.features.librosa import mfcc
    from speechgru.features.tf import MFCCFrontend

    cfg = FeatureConfig()
    files = sorted(synth_dir.rglob("*_nohash_0.wav"))[:12]
    pcm = np.stack([load_clip(f, sample_rate=16000, num_samples=16000) for f in files])
    ref = np.stack([mfcc(y, cfg) for y in pcm])
    got = MFCCFrontend(cfg)(tf.constant(pcm)).numpy()
    # float32 FFT in TF vs NumPy's float64 FFT in librosa, on values up to ~|600|
    assert np.abs(got - ref).max() <= 2e-3


def test_a_run_with_deltas_exports_without_the_in_graph_front_end(synth_dir, tmp_path):
    cfg = RunConfig(FeatureConfig(deltas=1), ModelConfig(units=(8,), dropout=0.0),
                    TrainConfig(epochs=1, batch_size=32, validation_percent=20.0,
                                testing_percent=0.0, augment=False))
    train([synth_dir], tmp_path / "run", cfg, cache_dir=tmp_path / "cache", verbose=0)
    report = export_run(tmp_path / "run", tmp_path / "model", max_clips=20, progress=False,
                        variants=["float32", "wave_float32", "frontend", "stream_float32",
                                  "stream_int8"])
    assert set(report["skipped"]) == {"wave_float32.tflite", "frontend.tflite",
                                      "stream_float32.tflite", "stream_int8.tflite"}
    assert all("deltas" in why for why in report["skipped"].values())
    assert report["failed"] == []
    assert set(report["models"]) == {"float32.tflite"}
    assert report["models"]["float32.tflite"]["max_abs_delta"] <= 1e-5
    rec = Recognizer(tmp_path / "model")
    with pytest.raises(ExportError, match="deltas"):
        rec.predict_file(sorted((synth_dir / "yes").glob("*.wav"))[0])


def test_a_crnn_exports_every_variant_and_streams_like_the_clip_model(synth_dir, tmp_path):
    """The causal convolution goes through every converter: the stream model's state
    carries its last frames, and stream == whole clip as for the plain GRU."""
    cfg = RunConfig(FeatureConfig(), ModelConfig(units=(16,), conv_filters=(4,), dropout=0.0),
                    TrainConfig(epochs=2, batch_size=32, validation_percent=20.0,
                                testing_percent=0.0, augment=False))
    train([synth_dir], tmp_path / "run", cfg, cache_dir=tmp_path / "cache", verbose=0)
    report = export_run(tmp_path / "run", tmp_path / "model", max_clips=20, progress=False,
                        variants=["float32", "int8", "stream_float32", "stream_int8"])
    assert report["failed"] == [] and report["skipped"] == {}
    models = report["models"]
    assert models["float32.tflite"]["max_abs_delta"] <= 1e-5
    assert models["stream_float32.tflite"]["max_abs_delta"] <= 1e-5
    # two epochs leave near-flat probabilities (top-1 flips on near-ties), so int8 is held
    # to its distance from the float model (measured: largest |Δ| 0.045)
    for name in ("int8", "stream_int8"):
        r = models[f"{name}.tflite"]
        assert r["mean_abs_delta"] <= 0.05 and r["max_abs_delta"] <= 0.15, (name, r)


def test_every_export_has_a_model_card_with_what_it_measured(exported):
    from speechgru.runtime.manifest import Manifest

    root, report = exported
    card = (root / "model" / "README.md").read_text()
    assert all(f"`{w}`" in card for w in report["labels"])
    point = report["operating_point"]["threshold"]
    assert f"threshold **{point:.2f}**" in card
    for name, r in report["models"].items():  # one row per file, with its measured size
        assert f"| `{name}` | {r['bytes'] / 1024:.0f} |" in card
    # the operators a TFLite Micro build must register, read from the file itself
    row = next(line for line in card.splitlines() if line.startswith("| `stream_int8.tflite`"))
    assert "FULLY_CONNECTED" in row and "WHILE" not in row
    assert "speechgru predict model clip.wav" in card  # the folder's own name
    assert "README.md" in Manifest(root / "model").files  # hashed like every file
