"""Listener: keyword detection on a stream with the streaming models."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import EXPORT_CFG

from speechgru.errors import ExportError
from speechgru.runtime.recognizer import Recognizer

pytestmark = pytest.mark.slow
# the module's model (small, but trained enough to recognise its training voices) is the
# session fixture `exported` of conftest.py, shared with the bad-input corpus
CFG = EXPORT_CFG


def _listener_window(model_dir, pcm):
    """The first full window's probabilities from the streaming path (phase 0)."""
    from speechgru.runtime.listener import Listener

    lis = Listener(model_dir, phases=1, threshold=1.0)
    lis.feed(pcm)
    return lis.last_window


def _long_recording(root, synth_dir, tmp_path):
    """20 s of quiet noise with three training clips the model knows, at known times."""
    import soundfile as sf

    from speechgru.audio import load_clip
    from speechgru.data.layouts import scan_dataset
    from speechgru.features.librosa import mfcc
    from speechgru.training.train import load_run

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
        # (loud part); the listener times a detection at the centres of the windows that
        # fire, so it may say anywhere from the clip's centre to the word's
        loud = np.flatnonzero(np.abs(y) > 0.1 * np.abs(y).max())
        spoken = start + (loud[0] + loud[-1]) / 2 / 16000
        truth.append((sorted((start + 0.5, spoken)), word))
    path = tmp_path / "long.wav"
    sf.write(str(path), rec, 16000, subtype="PCM_16")
    return path, truth



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


def test_listen_finds_three_commands_at_known_times(exported, synth_dir, tmp_path):
    from speechgru.runtime.listener import Listener

    root, _ = exported
    path, truth = _long_recording(root, synth_dir, tmp_path)
    found = Listener(root / "model", smoothing=1).listen_file(path)
    for (lo, hi), word in truth:
        near = [d for d in found if lo - 0.25 <= d["time"] <= hi + 0.25]
        assert [d["label"] for d in near] == [word], (lo, hi, word, found)
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


@pytest.mark.parametrize("variant", ["float32", "int8", "int16"])
def test_the_staggered_copies_step_in_one_call_as_they_would_one_by_one(
        exported, synth_dir, tmp_path, variant):
    """An export's stream model takes any batch: listen steps its 4 staggered copies in
    one call. Every window equals the one-call-per-copy path (the model fixed at batch 1,
    as an older export is) — bit for bit for int8 and int16, within float rounding for
    float32."""
    from speechgru.runtime.listener import Listener
    from speechgru.runtime.tflite import StreamStep

    root, _ = exported
    path, _ = _long_recording(root, synth_dir, tmp_path)
    runs = []
    for batched in (True, False):
        lis = Listener(root / "model", variant, threshold=1.0)
        if not batched:
            lis.step = StreamStep(root / "model" / f"stream_{variant}.tflite", 40)
        assert lis.step.batch == (4 if batched else 1)
        windows = []
        lis._window = lambda probs, centre, w=windows: w.append((centre, probs)) or []
        lis.listen_file(path)
        runs.append(windows)
    assert len(runs[0]) == len(runs[1]) > 4 * 20 - 8  # 20 s: a window every 12-13 frames
    assert [c for c, _ in runs[0]] == [c for c, _ in runs[1]]
    worst = max(np.abs(a - b).max() for (_, a), (_, b) in zip(*runs, strict=True))
    assert worst == 0.0 if variant != "float32" else worst < 1e-5


def test_listener_input_checks(exported, tmp_path):
    from speechgru.errors import AudioError, ConfigError
    from speechgru.runtime.listener import Listener

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




def test_the_operating_point_travels_from_training_to_listen_and_predict(exported, synth_dir):
    from speechgru.runtime.listener import Listener

    root, report = exported
    point = json.loads((root / "run" / "operating_point.json").read_text())
    assert point["chosen_on"].startswith("validation: ") and 0.1 <= point["threshold"] <= 0.99
    assert json.loads((root / "model" / "manifest.json").read_text())[
        "operating_point"] == point == report["operating_point"]
    assert Listener(root / "model").threshold == point["threshold"]
    assert Listener(root / "model", threshold=0.5).threshold == 0.5
    assert Recognizer(root / "model").threshold == point["threshold"]
    wav = sorted((synth_dir / "yes").glob("*.wav"))[0]
    never = Recognizer(root / "model", threshold=0.0).predict_file(wav)
    always = Recognizer(root / "model", threshold=1.0).predict_file(wav)
    assert not never["rejected"] and never["label"] == never["top"][0]["label"]
    assert always["rejected"] and always["label"] == "_unknown_"
    assert always["top"] == never["top"]
