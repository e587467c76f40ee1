"""The base install is the runtime: a fresh venv with ``pip install speechgru`` (no extra)
has no TensorFlow, librosa or matplotlib, and runs ``predict`` and ``listen`` on an
exported model exactly as the full install does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("base_install")
    src = tmp / "src"  # a copy: building in the repo would leave build/ and egg-info there
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "speechgru", src / "speechgru",
                    ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet",
                           "--disable-pip-version-check", str(src)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv


def _run(venv: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "speechgru"), *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_the_base_install_has_no_training_packages(base_venv):
    for module in ("tensorflow", "librosa", "matplotlib", "keras"):
        r = subprocess.run([str(base_venv / "bin" / "python"), "-c", f"import {module}"],
                           capture_output=True, text=True)
        assert r.returncode != 0, module


def test_predict_and_listen_from_the_base_install_equal_the_full_install(base_venv, exported,
                                                                        synth_dir, tmp_path):
    root, _ = exported
    model = root / "model"
    clips = sorted((synth_dir / "yes").glob("*.wav"))[:2] + \
        sorted((synth_dir / "stop").glob("*.wav"))[:2]
    full = subprocess.run([sys.executable, "-m", "speechgru", "predict", str(model), *map(
        str, clips), "--json"], capture_output=True, text=True, timeout=300)
    base = _run(base_venv, "predict", model, *clips, "--json")
    assert base.returncode == 0 and full.returncode == 0, base.stderr
    assert base.stdout == full.stdout and base.stdout.count("\n") == 4
    from speechgru.synth import long_recording

    wav = tmp_path / "stream.wav"
    long_recording(synth_dir, wav, words=("yes", "stop"), seconds=8.0, seed=1)
    full = subprocess.run([sys.executable, "-m", "speechgru", "listen", str(model), str(wav),
                           "--json"], capture_output=True, text=True, timeout=300)
    base = _run(base_venv, "listen", model, wav, "--json")
    assert base.returncode == 0, base.stderr
    assert base.stdout == full.stdout and base.stderr == ""


def test_training_commands_say_which_extra_they_need(base_venv, synth_dir, tmp_path):
    for args in (["train", "--data", synth_dir, "--out", tmp_path / "r"],
                 ["export", tmp_path / "r"], ["synth", tmp_path / "s"]):
        r = _run(base_venv, *args)
        assert r.returncode == 2 and r.stdout == ""
        line = r.stderr.strip()
        assert len(line.splitlines()) == 1 and "pip install 'speechgru[train]'" in line
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()
