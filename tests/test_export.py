"""Export variants against Keras, the in-graph MFCC against librosa, the TF-free runtime."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import EXPORT_CFG

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.errors import ExportError
from speechgru.export import export_run
from speechgru.runtime import Recognizer
from speechgru.train import train

pytestmark = pytest.mark.slow
# the module's model (small, but trained enough to recognise its training voices) is the
# session fixture `exported` of conftest.py, shared with the bad-input corpus
CFG = EXPORT_CFG


def test_every_variant_converts_runs_and_agrees_with_keras(exported):
    root, report = exported
    models = report["models"]
    assert set(models) == {"float32.tflite", "float16.tflite", "dynamic.tflite", "int8.tflite",
                           "wave_float32.tflite", "frontend.tflite", "stream_float32.tflite",
                           "stream_int8.tflite"}
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
    # a small model trained for seconds: judge int8 by agreement, not the 1-point target
    for name in ("int8", "stream_int8"):
        assert models[f"{name}.tflite"]["top1_agreement"] >= 0.7
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
    from speechgru.manifest import write_manifest

    root, _ = exported
    bad = tmp_path / "bad"
    shutil.copytree(root / "model", bad)
    labels = (bad / "labels.txt").read_text().split()
    data = (bad / "wave_float32.tflite").read_bytes()
    (bad / "wave_float32.tflite").write_bytes(data[: len(data) // 3])
    with pytest.raises(ExportError, match="wave_float32.tflite: does not match manifest"):
        Recognizer(bad)
    (bad / "wave_float32.tflite").write_bytes(data)
    Recognizer(bad)
    # two labels swapped by hand: refused, not answered with the wrong word
    (bad / "labels.txt").write_text("\n".join([labels[0], labels[1], labels[3], labels[2],
                                               *labels[4:]]) + "\n")
    with pytest.raises(ExportError, match="labels.txt: does not match manifest"):
        Recognizer(bad)
    (bad / "labels.txt").write_text("\n".join(labels) + "\n")
    # a manifest rewritten to cover the damage: the model's own checks still hold
    (bad / "wave_float32.tflite").write_bytes(b"not a model at all")
    write_manifest(bad, labels=labels, features=CFG.features.to_dict())
    with pytest.raises(ExportError, match="not a valid TFLite model"):
        Recognizer(bad)
    (bad / "wave_float32.tflite").write_bytes(data)
    FeatureConfig(hop_length=160).save(bad / "features.json")
    write_manifest(bad, labels=labels, features=CFG.features.to_dict())
    with pytest.raises(ExportError, match="does not match features.json"):
        Recognizer(bad, variant="int8")
    (bad / "manifest.json").unlink()
    with pytest.raises(ExportError, match="no manifest.json"):
        Recognizer(bad)


def _listener_window(model_dir, pcm):
    """The first full window's probabilities from the streaming path (phase 0)."""
    from speechgru.runtime import Listener

    lis = Listener(model_dir, phases=1, threshold=1.0)
    lis.feed(pcm)
    return lis.last_window


def test_streaming_runtime_equals_the_raw_audio_model(exported, synth_dir):
    from speechgru.audio import load_clip

    root, _ = exported
    rec = Recognizer(root / "model")
    for wav in sorted((synth_dir / "left").glob("*.wav"))[:3]:
        y = load_clip(wav, sample_rate=16000, num_samples=16000)
        centre, probs = _listener_window(root / "model", y)
        assert centre == pytest.approx(0.5, abs=0.011)
        # frontend.tflite per hop + one GRU step per hop == the whole clip at once
        np.testing.assert_allclose(probs, rec.probabilities(y), atol=1e-5)


def _long_recording(root, synth_dir, tmp_path):
    """20 s of quiet noise with three training clips the model knows, at known times."""
    import soundfile as sf

    from speechgru.audio import load_clip
    from speechgru.data import scan_dataset
    from speechgru.features import mfcc
    from speechgru.train import load_run

    _, labels, model = load_run(root / "run")
    ds = scan_dataset(synth_dir, validation_percent=20.0, testing_percent=0.0)
    picks = []
    for word in ("stop", "left", "yes", "down", "go", "right"):
        clips = [c for c in ds.select("train") if c.label == word]
        y = np.stack([load_clip(c.path, sample_rate=16000, num_samples=16000) for c in clips])
        p = model.predict(np.stack([mfcc(v, CFG.features) for v in y]), verbose=0)
        good = np.flatnonzero((p.argmax(1) == labels.index(word)) & (p.max(1) > 0.8))
        if len(good):
            picks.append((word, y[good[0]]))
    assert len(picks) >= 3, "the test model learnt too few words to test detection"
    rng = np.random.default_rng(0)
    rec = (3e-4 * rng.standard_normal(20 * 16000)).astype(np.float32)
    truth = []
    # starts on the grid of the listener's windows (every 49/4 frames of 20 ms), as a
    # small model trained for seconds is not robust to shifts the way a real one is
    for (word, y), frame in zip(picks[:3], (98 + 12, 392 + 24, 686 + 36), strict=False):
        start = frame * 0.02
        i = frame * 320
        rec[i:i + 16000] += y
        # the word sits anywhere in its synthetic clip: its time is the centre of the loud part
        loud = np.flatnonzero(np.abs(y) > 0.1 * np.abs(y).max())
        truth.append((start + (loud[0] + loud[-1]) / 2 / 16000, word))
    path = tmp_path / "long.wav"
    sf.write(str(path), rec, 16000, subtype="PCM_16")
    return path, truth


def test_listen_finds_three_commands_at_known_times(exported, synth_dir, tmp_path):
    from speechgru.runtime import Listener

    root, _ = exported
    path, truth = _long_recording(root, synth_dir, tmp_path)
    found = Listener(root / "model", smoothing=1).listen_file(path)
    for time, word in truth:
        near = [d for d in found if abs(d["time"] - time) <= 0.25]
        assert [d["label"] for d in near] == [word], (time, word, found)
    # the command line reads the same audio as raw PCM on stdin, without TensorFlow
    import soundfile as sf

    pcm = sf.read(str(path), dtype="int16")[0].astype("<i2").tobytes()
    code = ("import sys; from speechgru.cli import main; rc = main(sys.argv[1:]); "
            "assert not [m for m in ('tensorflow', 'librosa') if m in sys.modules]; "
            "sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, "listen", str(root / "model"), "-",
                          "--json", "--smoothing", "1"],
                         input=pcm, capture_output=True, check=True).stdout
    assert [json.loads(line) for line in out.decode().splitlines()] == found


def test_listener_input_checks(exported, tmp_path):
    from speechgru.errors import AudioError, ConfigError
    from speechgru.runtime import Listener

    root, _ = exported
    lis = Listener(root / "model")
    with pytest.raises(AudioError, match="NaN"):
        lis.feed(np.array([0.0, np.nan], np.float32))
    # bytes split at odd places decode as the whole
    pcm = (np.random.default_rng(1).standard_normal(20000) * 3000).astype("<i2").tobytes()
    lis.reset()
    lis.feed_pcm16(pcm)
    whole = lis.last_window
    lis.reset()
    for i in range(0, len(pcm), 333):
        lis.feed_pcm16(pcm[i:i + 333])
    assert lis._frame == 1 + (20000 - 512) // 320
    np.testing.assert_array_equal(lis.last_window[1], whole[1])
    with pytest.raises(ConfigError, match="phases"):
        Listener(root / "model", phases=0)
    bad = tmp_path / "nostream"
    shutil.copytree(root / "model", bad, ignore=shutil.ignore_patterns("stream_*", "saved_*"))
    with pytest.raises(ExportError, match="stream_float32.tflite"):
        Listener(bad)


def test_mfcc_input_variants_predict_files_through_the_frontend_model(exported, synth_dir):
    root, _ = exported
    wave = Recognizer(root / "model")
    f16 = Recognizer(root / "model", variant="float16")
    assert not f16.wave
    for wav in sorted((synth_dir / "go").glob("*.wav"))[:3]:
        a, b = wave.predict_file(wav, top_k=12), f16.predict_file(wav, top_k=12)
        pa = {t["label"]: t["p"] for t in a["top"]}
        pb = {t["label"]: t["p"] for t in b["top"]}
        assert max(abs(pa[k] - pb[k]) for k in pa) <= 5e-3
    r = Recognizer(root / "model", variant="int8").predict_file(wav)
    assert r["label"] in wave.labels and 0 < r["confidence"] <= 1


def test_a_run_with_deltas_exports_without_the_in_graph_front_end(synth_dir, tmp_path):
    cfg = RunConfig(FeatureConfig(deltas=1), ModelConfig(units=(8,), dropout=0.0),
                    TrainConfig(epochs=1, batch_size=32, validation_percent=20.0,
                                testing_percent=0.0, augment=False))
    train([synth_dir], tmp_path / "run", cfg, cache_dir=tmp_path / "cache", verbose=0)
    report = export_run(tmp_path / "run", tmp_path / "model",
                        max_clips=20, progress=False)
    assert "deltas" in report["stream"]
    assert set(report["models"]) == {"float32.tflite", "float16.tflite", "dynamic.tflite",
                                     "int8.tflite"}
    assert report["models"]["float32.tflite"]["max_abs_delta"] <= 1e-5
    rec = Recognizer(tmp_path / "model")
    with pytest.raises(ExportError, match="deltas"):
        rec.predict_file(sorted((synth_dir / "yes").glob("*.wav"))[0])
