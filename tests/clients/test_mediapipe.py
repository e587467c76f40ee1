"""Google's own client runs the export as it is: MediaPipe Tasks' ``AudioClassifier``, in a
virtual environment of its own (MediaPipe and what it pulls in, nothing of speechgru), loads
``wave_float32.tflite`` alone in an empty folder — the labels, the sample rate and the
score threshold come from the file's metadata — and answers as ``speechgru predict`` does,
on clips and in stream mode."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SC_HALF

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "mediapipe-requirements.txt"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mp_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("mediapipe") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                           "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def alone(exported, tmp_path_factory) -> Path:
    """``wave_float32.tflite`` copied alone into an empty folder."""
    root, _ = exported
    folder = tmp_path_factory.mktemp("alone")
    shutil.copy(root / "model" / "wave_float32.tflite", folder / "model.tflite")
    return folder / "model.tflite"


def _mediapipe(python: Path, tmp: Path, model: Path, clips: list[np.ndarray], **job) -> list:
    npz = tmp / "clips.npz"
    np.savez(npz, sr=16000, **{f"x_{i}": x for i, x in enumerate(clips)})
    job_file = tmp / "job.json"
    job_file.write_text(json.dumps({"model": str(model), "clips": str(npz), **job}))
    r = subprocess.run([str(python), str(HERE / "mediapipe_runner.py"), str(job_file)],
                       capture_output=True, text=True, timeout=600, cwd=model.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in model.parent.iterdir()) == [model.name]  # nothing beside
    return json.loads(r.stdout)["windows"]


def _predict(model_dir: Path, files: list[Path]) -> list[dict]:
    r = subprocess.run([sys.executable, "-m", "speechgru", "predict", str(model_dir),
                        *map(str, files), "--json", "--threshold", "0", "--top-k", "99"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _real_clips(synth_dir: Path, n: int = 240) -> list[Path]:
    """Real Speech Commands clips of every label when ../shared/data is here; the synthetic
    set's otherwise (a fresh clone)."""
    root = SC_HALF if SC_HALF.is_dir() else synth_dir
    files = sorted(root.glob("*/*.wav"))
    files = [f for f in files if not f.parent.name.startswith("_background")]
    rng = np.random.default_rng(0)
    return [files[i] for i in sorted(rng.choice(len(files), min(n, len(files)), False))]


def test_the_file_carries_its_own_metadata(exported):
    from speechgru.export.metadata import read_metadata

    root, report = exported
    md = read_metadata((root / "model" / "wave_float32.tflite").read_bytes())
    labels = (root / "model" / "labels.txt").read_text().split()
    assert md["sample_rate"] == 16000 and md["channels"] == 1
    assert md["packed"]["labels.txt"].split() == labels
    assert md["associated_files"] == [{"name": "labels.txt", "type": 2}]  # TENSOR_AXIS_LABELS
    assert md["score_threshold"] == pytest.approx(report["operating_point"]["threshold"])
    assert f"{report['operating_point']['threshold']:.2f}" in md["description"]
    assert md["min_parser_version"] == "1.3.0" and md["name"] and md["license"]
    # the manifest's sha256 covers the file as shipped, metadata included
    from speechgru.runtime.manifest import Manifest

    Manifest(root / "model").verify("wave_float32.tflite")


def test_mediapipe_classifies_real_clips_as_speechgru_predict_does(
        mp_python, alone, exported, synth_dir, tmp_path):
    root, report = exported
    files = _real_clips(synth_dir)
    ours = _predict(root / "model", files)
    theirs = _mediapipe(mp_python, tmp_path, alone,
                        [sf.read(f, dtype="float32")[0] for f in files],
                        mode="clips", score_threshold=1e-9)
    labels = (root / "model" / "labels.txt").read_text().split()
    same, worst = 0, 0.0
    for o, t in zip(ours, theirs, strict=True):
        assert len(t) == 1  # one window of one second
        got = dict(t[0])
        assert sorted(got) == sorted(labels)  # every label, named by the file's metadata
        want = {d["label"]: d["p"] for d in o["top"]}
        worst = max(worst, max(abs(got[k] - want[k]) for k in labels))
        same += t[0][0][0] == o["top"][0]["label"]
    assert same / len(files) >= 0.99, (same, len(files))
    assert worst < 1e-4, worst
    # without score_threshold, MediaPipe applies the operating point written in the file
    default = _mediapipe(mp_python, tmp_path, alone,
                         [sf.read(f, dtype="float32")[0] for f in files[:40]], mode="clips",
                         score_threshold=None)
    threshold = report["operating_point"]["threshold"]
    returned = 0
    for o, t in zip(ours[:40], default, strict=True):
        got = {c for c, _ in t[0]}
        above = {d["label"] for d in o["top"] if d["p"] > threshold + 1e-5}
        below = {d["label"] for d in o["top"] if d["p"] < threshold - 1e-5}
        assert above <= got and not got & below, (o["top"], got)
        returned += len(got)
    assert returned <= 40  # at most one label a clip: the threshold is above 0.5


def test_mediapipe_stream_mode_hears_the_words_in_order(mp_python, alone, exported,
                                                         synth_dir, tmp_path):
    """A recording of one-second windows (MediaPipe's stream windows do not overlap): words
    the model knows, with noise between; fed in quarter-second pieces."""
    root, report = exported
    threshold = report["operating_point"]["threshold"]
    candidates = [f for w in ("yes", "stop", "go", "no") for f in
                  sorted((synth_dir / w).glob("*.wav"))[:6]]
    answers = _predict(root / "model", candidates)
    known = {}
    for f, a in zip(candidates, answers, strict=True):  # a clip of each the model hears
        if a["label"] == f.parent.name and a["confidence"] >= threshold + 0.02:
            known.setdefault(a["label"], f)
    assert len(known) >= 3, answers
    words = list(known)
    noise = 0.003 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    pieces = []
    for w in words:
        pieces += [sf.read(known[w], dtype="float32")[0], noise]
    recording = np.concatenate(pieces)
    windows = _mediapipe(mp_python, tmp_path, alone, [recording], mode="stream", chunk=4000,
                         score_threshold=None)
    heard = [(ts, cats[0][0]) for ts, cats in windows
             if cats and cats[0][0] not in ("_silence_", "_unknown_")]
    assert [w for _, w in heard] == words, windows
    assert [ts for ts, _ in heard] == [2000 * i for i in range(len(words))]
