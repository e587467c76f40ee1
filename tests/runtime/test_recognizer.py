"""Recognizer: an exported model directory predicts files without TensorFlow."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import EXPORT_CFG

from speechgru.config import FeatureConfig
from speechgru.errors import ExportError
from speechgru.runtime.recognizer import Recognizer
from speechgru.runtime.tflite import FrameFrontend

pytestmark = pytest.mark.slow
# the module's model (small, but trained enough to recognise its training voices) is the
# session fixture `exported` of conftest.py, shared with the bad-input corpus
CFG = EXPORT_CFG


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
    from speechgru.features.librosa import mfcc
    from speechgru.training.train import load_run

    root, _ = exported
    _, labels, model = load_run(root / "run")
    wav = sorted((synth_dir / "stop").glob("*.wav"))[0]
    y = load_clip(wav, sample_rate=16000, num_samples=16000)
    ref = model.predict(mfcc(y, CFG.features)[None], verbose=0)[0]
    rec = Recognizer(root / "model")
    np.testing.assert_allclose(rec.probabilities(y), ref, atol=1e-4)


def test_corrupt_truncated_and_mismatched_models_are_refused(exported, tmp_path):
    from speechgru.runtime.manifest import write_manifest

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
        Recognizer(bad, variant="float16")
    (bad / "manifest.json").unlink()
    with pytest.raises(ExportError, match="no manifest.json"):
        Recognizer(bad)


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
    # an export without the unrolled int8.tflite (the default) answers int8 with the
    # stream_int8 step looped over the clip
    r = Recognizer(root / "model", variant="int8").predict_file(wav)
    assert r == Recognizer(root / "model", variant="stream_int8").predict_file(wav)
    assert r["label"] in wave.labels and 0 < r["confidence"] <= 1


@pytest.mark.parametrize("variant", ["stream_int8", "stream_float32", "float32"])
def test_many_files_at_once_answer_as_one_by_one(exported, synth_dir, tmp_path, variant):
    """predict_files steps a stream variant over several clips per call (batch 3 here:
    two calls, the second short) and gives each file what predict_file gives it; a file
    that cannot be read is reported in its place and the others go on."""
    from speechgru.errors import AudioError

    root, _ = exported
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt nonsense")
    wavs = sorted((synth_dir / "go").glob("*.wav"))[:2] + [bad] + \
        sorted((synth_dir / "left").glob("*.wav"))[:2]
    rec = Recognizer(root / "model", variant=variant)
    got = list(rec.predict_files(wavs, top_k=12, batch=3))
    assert [p for p, _ in got] == wavs and isinstance(got[2][1], AudioError)
    for path, r in got[:2] + got[3:]:
        one = rec.predict_file(path, top_k=12)
        assert r["label"] == one["label"]
        pa, pb = ({t["label"]: t["p"] for t in x["top"]} for x in (r, one))
        assert max(abs(pa[k] - pb[k]) for k in pa) <= (0.0 if variant == "stream_int8" else 1e-6)


def test_predict_and_listen_print_nothing_but_their_answers(exported, synth_dir):
    """No LiteRT or TensorFlow log line on the console (``--verbose`` shows them)."""
    root, _ = exported
    wav = str(sorted((synth_dir / "yes").glob("*.wav"))[0])
    for args in (["predict", str(root / "model"), wav], ["listen", str(root / "model"), wav]):
        done = subprocess.run([sys.executable, "-m", "speechgru", *args], capture_output=True,
                              text=True, check=True)
        assert done.stderr == "", (args, done.stderr)
    done = subprocess.run([sys.executable, "-m", "speechgru", "--verbose", "predict",
                           str(root / "model"), wav], capture_output=True, text=True,
                          check=True)
    assert "XNNPACK" in done.stderr and wav in done.stdout


@pytest.mark.parametrize("variant", ["stream_float32", "stream_int8"])
def test_the_stream_step_looped_is_the_clip_classifier(variant, synth_dir):
    from speechgru.audio import load_clip

    """``predict --variant stream_*``: the stream model looped over a clip's frames gives the
    whole-clip model's probabilities, on synthetic voices saying commands and other words
    (float: to 1e-4, and the same top-1 wherever the float model's top two are 0.1 apart;
    int8: within the 0.3 the export measured on real validation clips, the same top-1
    wherever the top two are that far apart — a nearer tie may fall either way after
    quantization — and on most clips all the same)."""
    model = Path(__file__).resolve().parents[2] / "models" / "speech-commands-12"
    from speechgru.export.convert import run_tflite

    # the MFCC-input clip classifier (Recognizer's "float32" is wave_float32 where it exists)
    looped = Recognizer(model, variant)
    frames = FrameFrontend(model / "frontend.tflite", looped.features)
    paths = [p for w in ("yes", "left", "go", "bird")
             for p in sorted((synth_dir / w).glob("*.wav"))[:3]]
    tolerance = 1e-4 if variant == "stream_float32" else 0.3
    worst, sure, same = 0.0, 0, 0
    for path in paths:
        x = frames.clip(load_clip(path, sample_rate=looped.sample_rate,
                                  num_samples=looped.num_samples))
        p, q = run_tflite(model / "float32.tflite", x[None])[0][0], looped.probabilities(x)
        top2 = np.sort(p)[-2:]
        if top2[1] - top2[0] > max(0.1, tolerance):
            sure += 1
            assert p.argmax() == q.argmax(), path
        same += int(p.argmax() == q.argmax())
        worst = max(worst, float(np.abs(p - q).max()))
    assert sure >= len(paths) // 2 and same >= 0.8 * len(paths), (sure, same)
    assert worst < tolerance
