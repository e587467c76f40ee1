"""Two worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy) against one process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from speechgru.errors import ConfigError
from speechgru.training.distribute import get_strategy

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(run_dir):
    from speechgru.models.build import load_model

    return load_model(run_dir / "last.keras").get_weights()


def _max_delta(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


def test_two_workers_train_as_one_process_on_the_same_global_batch(synth_dir, tmp_path):
    def config(batch):
        path = tmp_path / f"config{batch}.json"
        path.write_text(json.dumps({
            "model": {"units": [16], "dropout": 0.0},
            "train": {"epochs": 1, "batch_size": batch, "seed": 3, "validation_percent": 20.0,
                      "testing_percent": 0.0}}))
        return str(path)

    def command(out, batch, *extra):
        return [sys.executable, "-m", "speechgru", "train", "--data", str(synth_dir),
                "--config", config(batch), "--cache-dir", str(tmp_path / "cache"),
                "--out", str(tmp_path / out), *extra]

    # extract the features once, so the workers start together
    subprocess.run(command("single", 32), check=True, capture_output=True)
    cluster = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    workers = []
    for i in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": i}}))
        workers.append(subprocess.Popen(command(f"worker{i}", 32, "--strategy", "multiworker"),
                                        env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    for w in workers:
        out, _ = w.communicate(timeout=600)
        assert w.returncode == 0, out[-3000:]
    w0, w1 = _weights(tmp_path / "worker0"), _weights(tmp_path / "worker1")
    single = _weights(tmp_path / "single")
    assert _max_delta(w0, w1) == 0.0  # synchronous: both workers hold the same model
    assert _max_delta(w0, single) <= 1e-5  # each step saw the single process's batch
    # and the comparison has teeth: one worker's share (16) as the whole batch differs
    subprocess.run(command("half", 16), check=True, capture_output=True)
    assert _max_delta(single, _weights(tmp_path / "half")) > 1e-3
    history = (tmp_path / "worker0" / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_balanced_accuracy" in history[0]


def test_unknown_strategy_is_a_config_error():
    with pytest.raises(ConfigError, match="multiworker"):
        get_strategy("parameter_server")
