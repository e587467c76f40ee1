"""Export variants against Keras, the in-graph MFCC against librosa, the TF-free runtime."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.errors import ExportError
from speechgru.export import export_run
from speechgru.runtime import Recognizer
from speechgru.train import train

pytestmark = pytest.mark.slow
CFG = RunConfig(FeatureConfig(), ModelConfig(units=(16,), dropout=0.0),
                TrainConfig(epochs=2, batch_size=32, seed=1, validation_percent=20.0,
                            testing_percent=0.0))


@pytest.fixture(scope="module")
def exported(synth_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    train([synth_dir], root / "run", CFG, cache_dir=root / "cache", verbose=0)
    report = export_run(root / "run", root / "model", cache_dir=root / "cache", max_clips=40,
                        progress=False)
    return root, report


def test_every_variant_converts_runs_and_agrees_with_keras(exported):
    root, report = exported
    models = report["models"]
    assert set(models) == {"float32.tflite", "dynamic.tflite", "int8.tflite",
                           "wave_float32.tflite"}
    for name, r in models.items():
        assert "error" not in r, (name, r)
        assert (root / "model" / name).stat().st_size == r["bytes"]
    assert models["float32.tflite"]["max_abs_delta"] <= 1e-5
    assert models["wave_float32.tflite"]["max_abs_delta"] <= 1e-4
    assert models["float32.tflite"]["top1_agreement"] == 1.0
    assert models["dynamic.tflite"]["top1_agreement"] >= 0.9
    # a 2-epoch tiny model has near-uniform outputs, so judge int8 by its probability error
    assert models["int8.tflite"]["max_abs_delta"] <= 0.1
    for name in ("labels.txt", "features.json", "export_report.json", "saved_model"):
        assert (root / "model" / name).exists()
    assert FeatureConfig.load(root / "model" / "features.json") == CFG.features


def test_export_refuses_to_overwrite_without_force(exported):
    root, _ = exported
    before = (root / "model" / "float32.tflite").read_bytes()
    with pytest.raises(ExportError, match="--force"):
        export_run(root / "run", root / "model", cache_dir=root / "cache")
    assert (root / "model" / "float32.tflite").read_bytes() == before


def test_in_graph_mfcc_matches_librosa_on_speech(synth_dir):
    import tensorflow as tf

    from speechgru.audio import load_clip
    from speechgru.features import mfcc
    from speechgru.frontend import MFCCFrontend

    cfg = FeatureConfig()
    files = sorted(synth_dir.rglob("*_nohash_0.wav"))[:12]
    pcm = np.stack([load_clip(f, sample_rate=16000, num_samples=16000) for f in files])
    ref = np.stack([mfcc(y, cfg) for y in pcm])
    got = MFCCFrontend(cfg)(tf.constant(pcm)).numpy()
    # float32 FFT in TF vs NumPy's float64 FFT in librosa, on values up to ~|600|
    assert np.abs(got - ref).max() <= 2e-3


def test_runtime_predicts_without_importing_tensorflow_or_librosa(exported, synth_dir):
    root, _ = exported
    wav = sorted((synth_dir / "yes").glob("*.wav"))[0]
    code = ("import sys, json; from speechgru.runtime import Recognizer; "
            f"r = Recognizer({str(root / 'model')!r}).predict_file({str(wav)!r}); "
            "heavy = [m for m in ('tensorflow', 'librosa', 'keras') if m in sys.modules]; "
            "print(json.dumps({'r': r, 'heavy': heavy}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    data = json.loads(out)
    assert data["heavy"] == []
    assert data["r"]["label"] in (root / "model" / "labels.txt").read_text().split()
    assert 0 < data["r"]["confidence"] <= 1


def test_runtime_matches_the_keras_model_on_a_file(exported, synth_dir):
    from speechgru.audio import load_clip
    from speechgru.features import mfcc
    from speechgru.train import load_run

    root, _ = exported
    _, labels, model = load_run(root / "run")
    wav = sorted((synth_dir / "stop").glob("*.wav"))[0]
    y = load_clip(wav, sample_rate=16000, num_samples=16000)
    ref = model.predict(mfcc(y, CFG.features)[None], verbose=0)[0]
    rec = Recognizer(root / "model")
    np.testing.assert_allclose(rec.probabilities(y), ref, atol=1e-4)


def test_corrupt_truncated_and_mismatched_models_are_refused(exported, tmp_path):
    root, _ = exported
    bad = tmp_path / "bad"
    shutil.copytree(root / "model", bad, ignore=shutil.ignore_patterns("saved_model"))
    data = (bad / "wave_float32.tflite").read_bytes()
    (bad / "wave_float32.tflite").write_bytes(data[: len(data) // 3])
    with pytest.raises(ExportError, match="wave_float32.tflite"):
        Recognizer(bad)
    (bad / "wave_float32.tflite").write_bytes(b"not a model at all")
    with pytest.raises(ExportError, match="not a valid TFLite model"):
        Recognizer(bad)
    (bad / "wave_float32.tflite").write_bytes(data)
    FeatureConfig(hop_length=160).save(bad / "features.json")
    with pytest.raises(ExportError, match="does not match features.json"):
        Recognizer(bad, variant="int8")
    (bad / "features.json").unlink()
    with pytest.raises(ExportError, match="no features.json"):
        Recognizer(bad)
