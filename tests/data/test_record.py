"""``speechgru record`` driven by a recording played back as the microphone (``--input``)."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from speechgru.cli import main as cli
from speechgru.data.layouts import scan_dataset
from speechgru.data.record import SR

rng = np.random.default_rng(0)


def _word(seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    env = np.sin(np.pi * t / seconds) ** 0.5
    return (amp * env * np.sin(2 * np.pi * 220 * t * (1 + 0.3 * t))).astype(np.float32)


def _session(parts) -> np.ndarray:
    """Quiet room noise with the parts (seconds of gap, or a take) in order."""
    out = []
    for p in parts:
        out.append(np.zeros(int(p * SR), np.float32) if isinstance(p, float) else p)
    y = np.concatenate(out)
    return y + rng.normal(0, 1e-3, len(y)).astype(np.float32)


def test_takes_are_found_trimmed_checked_and_written_in_the_layout(tmp_path, capsys):
    clipped = np.clip(_word(0.5, amp=3.0), -1, 1)
    takes = [1.0, _word(0.5), 0.8, clipped, 0.8, _word(0.6), 0.8, _word(1.6), 0.8,
             _word(0.4), 0.8, _word(0.45), 1.0]
    wav = tmp_path / "session.wav"
    sf.write(wav, _session(takes), SR, subtype="PCM_16")
    out = tmp_path / "mine"
    assert cli(["record", str(out), "--words", "lights_on,yes", "--per-word", "2",
                "--speaker", "me1", "--input", str(wav)]) == 0
    said = capsys.readouterr().out
    assert said.count('say "lights on"') == 3  # the clipped take was asked again
    assert "clipped" in said and "too long" in said
    assert "wrote 4 takes by speaker me1" in said
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert files == ["lights_on/me1_nohash_0.wav", "lights_on/me1_nohash_1.wav",
                     "yes/me1_nohash_0.wav", "yes/me1_nohash_1.wav"]
    # each take: one second of the recording, the word in the middle
    y, sr = sf.read(out / "yes" / "me1_nohash_0.wav")
    assert sr == SR and len(y) == SR
    loud = np.flatnonzero(np.abs(y) > 0.05)
    assert abs((loud[0] + loud[-1]) / 2 - SR / 2) < 0.05 * SR
    assert 0.3 * SR < loud[-1] - loud[0] < 0.45 * SR  # the 0.4 s take, not a neighbour
    ds = scan_dataset(out, words=("lights_on", "yes"))
    assert sorted(c.label for c in ds.clips) == ["lights_on"] * 2 + ["yes"] * 2
    assert {c.speaker for c in ds.clips} == {"me1"}


def test_more_takes_continue_the_numbering_and_a_short_recording_keeps_what_it_got(
        tmp_path, capsys):
    wav = tmp_path / "s.wav"
    sf.write(wav, _session([1.0, _word(0.5), 1.0]), SR, subtype="PCM_16")
    out = tmp_path / "mine"
    args = ["record", str(out), "--words", "yes", "--speaker", "me1", "--input", str(wav)]
    assert cli(args + ["--per-word", "1"]) == 0
    assert cli(args + ["--per-word", "2"]) == 2  # the recording ends after one take
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ended before 'yes' take 2 of 2" in err
    assert sorted(p.name for p in (out / "yes").iterdir()) == ["me1_nohash_0.wav",
                                                                "me1_nohash_1.wav"]


def test_bad_words_and_speaker_are_named(tmp_path, capsys):
    wav = tmp_path / "s.wav"
    sf.write(wav, _session([1.0]), SR)
    assert cli(["record", str(tmp_path / "o"), "--words", "../x", "--input", str(wav)]) == 2
    assert "'../x'" in capsys.readouterr().err
    assert cli(["record", str(tmp_path / "o"), "--words", "yes", "--speaker", "a/b",
                "--input", str(wav)]) == 2
    assert "--speaker" in capsys.readouterr().err
    assert cli(["record", str(tmp_path / "o"), "--words", "yes", "--per-word", "0",
                "--input", str(wav)]) == 2
    assert "--per-word 0" in capsys.readouterr().err


def test_a_take_that_never_comes_is_reported_silent_and_asked_again(tmp_path, capsys):
    wav = tmp_path / "s.wav"
    sf.write(wav, _session([7.0, _word(0.5), 1.0]), SR, subtype="PCM_16")
    out = tmp_path / "mine"
    assert cli(["record", str(out), "--words", "no", "--per-word", "1", "--speaker", "x9",
                "--input", str(wav)]) == 0
    said = capsys.readouterr().out
    assert "nothing heard" in said and said.count('say "no"') == 2 and "1 refused" in said
    assert [p.name for p in (out / "no").iterdir()] == ["x9_nohash_0.wav"]


def test_a_recording_that_ends_early_counts_every_take_it_kept(tmp_path, capsys):
    """Three takes for two words of two takes each: the line says 3 were kept (the takes of
    the word being recorded count too), and all three are there. A long session keeps only
    the recent audio in memory, so its takes are cut as in a short one."""
    parts = [1.0]
    for _ in range(3):
        parts += [_word(0.5), 0.8]
    parts[-1] = 30.0  # a long quiet tail before the end: still a linear-time scan
    wav = tmp_path / "s.wav"
    sf.write(wav, _session(parts), SR, subtype="PCM_16")
    out = tmp_path / "mine"
    assert cli(["record", str(out), "--words", "yes,no", "--per-word", "2", "--speaker", "me1",
                "--input", str(wav)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ended before 'no' take 2 of 2; 3 takes were kept" in err
    assert len(list(out.rglob("*.wav"))) == 3
    y, _ = sf.read(out / "no" / "me1_nohash_0.wav")
    loud = np.flatnonzero(np.abs(y) > 0.05)
    assert abs((loud[0] + loud[-1]) / 2 - SR / 2) < 0.05 * SR
