"""Shared fixtures: small generated datasets, and the path to ../shared/data when present."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SC_HALF = SHARED / "speech_commands_v2_test_half"
FSDD = SHARED / "fsdd"

@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Made-once data (the recipe's synthetic speech) goes to a test folder, never to the
    user's ~/.cache."""
    old = os.environ.get("SPEECHGRU_CACHE")
    os.environ["SPEECHGRU_CACHE"] = str(tmp_path_factory.mktemp("speechgru_cache"))
    yield
    if old is None:
        os.environ.pop("SPEECHGRU_CACHE", None)
    else:
        os.environ["SPEECHGRU_CACHE"] = old


def made_once(tmp_path_factory, name: str, build) -> Path:
    """A folder ``build(folder)`` fills once per test session. Under pytest-xdist (``make
    test`` runs two workers) the workers share it: the first to ask builds it under a lock,
    the others wait for it and reuse it, rather than each training its own."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        out = tmp_path_factory.mktemp(name)
        build(out)
        return out
    shared = tmp_path_factory.getbasetemp().parent / "made_once"  # this session's, not older
    shared.mkdir(exist_ok=True)
    out = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / f"{name}.done").is_file():
            shutil.rmtree(out, ignore_errors=True)  # a worker that failed part-way
            out.mkdir()
            build(out)
            (shared / f"{name}.done").touch()
    return out


needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"real speech not available at {SHARED}")


def tone(seconds=1.0, sr=16000, freq=440.0, amp=0.3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    return y.astype(np.float32)


def write(path: Path, y: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype)
    return path


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """A small synthetic Speech Commands–layout dataset (espeak-ng), made once."""
    from speechgru.synth import synthesize_dataset

    return made_once(tmp_path_factory, "synth", lambda out: synthesize_dataset(
        out, per_word=12, seed=7, noise_seconds=10.0))


# small, but trained enough (~20 s) to recognise its training voices: the detection test
# needs a model that knows some words
def _export_cfg():
    from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig

    return RunConfig(FeatureConfig(), ModelConfig(units=(48,), dropout=0.0),
                     TrainConfig(epochs=100, batch_size=32, seed=1, validation_percent=20.0,
                                 testing_percent=0.0, patience=1000, learning_rate=0.01,
                                 noise_prob=0.3, snr_db=(10.0, 30.0), label_smoothing=0.0,
                                 speed=0.0, reverb_prob=0.0, gain_db=0.0, eq_db=0.0))


EXPORT_CFG = _export_cfg()


@pytest.fixture(scope="session")
def exported(synth_dir, tmp_path_factory):
    """``(root, report)``: a run trained on ``synth_dir`` in ``root/run`` and exported to
    ``root/model`` (feature cache in ``root/cache``). Read-only: copy before changing."""
    from speechgru.export import export_run
    from speechgru.training.train import train

    def build(root: Path) -> None:
        train([synth_dir], root / "run", EXPORT_CFG, cache_dir=root / "cache", verbose=0)
        export_run(root / "run", root / "model", max_clips=40, progress=False)

    root = made_once(tmp_path_factory, "export", build)
    return root, json.loads((root / "model" / "export_report.json").read_text())


def make_sc(root, speakers=("aa11", "bb22", "cc33", "dd44"), words=("yes", "no", "bird"),
            lists=False):
    for i, spk in enumerate(speakers):
        for j, w in enumerate(words):
            write(root / w / f"{spk}_nohash_0.wav", tone(freq=200 + 50 * i + 10 * j, seed=i))
    write(root / "_background_noise_" / "white.wav",
          0.05 * np.random.default_rng(0).standard_normal(16000 * 10).astype(np.float32))
    if lists:
        (root / "validation_list.txt").write_text(f"yes/{speakers[0]}_nohash_0.wav\n"
                                                  f"no/{speakers[0]}_nohash_0.wav\n")
        (root / "testing_list.txt").write_text(f"yes/{speakers[1]}_nohash_0.wav\n")
    return root
