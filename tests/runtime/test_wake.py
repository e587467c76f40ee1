"""A wake phrase in front: commands count only within a few seconds after it (a grammar
over two listeners' detections), a wake model that hears otherwise is refused by name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from speechgru.config import FeatureConfig
from speechgru.errors import ConfigError
from speechgru.runtime.listener import AfterWake


class _Fake:
    """A listener that reports given detections once the audio passes their time + delay."""

    def __init__(self, name, events, features=None, delay=0.5):
        self.dir, self.events, self.delay = Path(name), events, delay
        self.features = features or FeatureConfig()
        self.sample_rate, self.hop, self.verifier = 16000, 320, None
        self.reset()

    def reset(self):
        self.t, self.sent = 0.0, set()

    def _due(self, final=False):
        out = [{"time": t, "label": lab, "p": 0.9} for t, lab in self.events
               if (final or t + self.delay <= self.t) and t not in self.sent]
        self.sent |= {d["time"] for d in out}
        return out

    def feed(self, samples):
        self.t += len(samples) / self.sample_rate
        return self._due()

    def flush(self):
        return self._due(final=True)


def _hear(gate, seconds):
    out = []
    for _ in range(int(seconds * 10)):
        out += gate.feed(np.zeros(1600, np.float32))
    return out + gate.flush()


def test_commands_count_only_within_seconds_after_the_wake_phrase():
    commands = _Fake("cmds", [(0.8, "stop"), (3.0, "go"), (6.5, "up"), (12.0, "left"),
                              (13.5, "right")])
    wake = _Fake("wake", [(2.0, "computer"), (11.0, "computer")])
    got = _hear(AfterWake(commands, wake, within=4.0), 20)
    assert [(d["time"], d["label"], bool(d.get("wake"))) for d in got] == [
        (2.0, "computer", True), (3.0, "go", False), (11.0, "computer", True),
        (12.0, "left", False), (13.5, "right", False)]
    # before the wake phrase, or too long after it, a command is not reported
    assert all(d["label"] not in ("stop", "up") for d in got)


def test_a_command_waits_until_a_late_wake_detection_is_known():
    """The wake phrase's detection may come out after the command's (a model with a
    second look decides later): the command is held until the wake side has caught up."""
    commands = _Fake("cmds", [(3.0, "go")])
    wake = _Fake("wake", [(2.0, "computer")], delay=1.7)  # out after the command's
    got = _hear(AfterWake(commands, wake, within=4.0), 10)
    assert ("go", False) in [(d["label"], bool(d.get("wake"))) for d in got]


@pytest.mark.parametrize("change", [{"sample_rate": 8000, "fmax": 3800.0}, {"n_mfcc": 13}])
def test_a_wake_model_that_hears_otherwise_is_refused(change):
    other = dataclasses.replace(FeatureConfig(), **change)
    with pytest.raises(ConfigError, match="wake.*differ"):
        AfterWake(_Fake("cmds", []), _Fake("wake", [], other))
    with pytest.raises(ConfigError, match="within"):
        AfterWake(_Fake("cmds", []), _Fake("wake", []), within=float("nan"))


@pytest.mark.slow
def test_listen_after_a_wake_model_on_the_command_line(exported, synth_dir, tmp_path,
                                                       capsys):
    from speechgru.cli import main as cli

    root, _ = exported
    clips = sorted((synth_dir / "yes").glob("*.wav"))[:2] + sorted(
        (synth_dir / "no").glob("*.wav"))[:2]
    import soundfile as sf

    from speechgru.audio import load_clip

    pcm = np.concatenate([np.concatenate([np.zeros(8000, np.float32),
                                          load_clip(c, sample_rate=16000, num_samples=16000)])
                          for c in clips])
    sf.write(tmp_path / "rec.wav", pcm, 16000)
    assert cli(["listen", str(root / "model"), str(tmp_path / "rec.wav"), "--after",
                str(root / "model"), "--within", "3"]) == 0
    out = capsys.readouterr().out
    plain = [ln for ln in out.splitlines() if ln.strip() and "(wake phrase)" not in ln]
    woke = [ln for ln in out.splitlines() if "(wake phrase)" in ln]
    assert woke, out  # the same model as its own wake phrase: its words wake it
    assert len(plain) <= len(woke) + 1
    assert cli(["listen", str(root / "model"), str(tmp_path / "rec.wav"),
                "--within", "3"]) == 2
    assert "--after" in capsys.readouterr().err
