"""The bad-input corpus: bad configs, audio, datasets, run and model directories, caches and
faults, each through the command line as a user meets it.

Every case asserts the contract: exit code 2 (or a correct answer where one exists), one
line on stderr naming the file or argument and the reason, no traceback, and nothing that
was there before is lost. The corpus is made here; no binary file is committed.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import EXPORT_CFG, tone, write

from speechgru.cli import main
from speechgru.runtime.manifest import write_manifest

pytestmark = pytest.mark.slow


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_error(rc: int, err: str, *needles: str) -> None:
    """Exit code 2, one line on stderr, no traceback, every needle in it."""
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- configs

CONFIG_CASES = {
    "learning_rate_inf": ('{"train": {"learning_rate": Infinity}}', "learning_rate"),
    "weight_decay_nan": ('{"train": {"weight_decay": NaN}}', "weight_decay"),
    "min_lr_negative": ('{"train": {"min_learning_rate": -1}}', "min_learning_rate"),
    "label_smoothing_5": ('{"train": {"label_smoothing": 5}}', "label_smoothing"),
    "clip_seconds_inf": ('{"features": {"clip_seconds": Infinity}}', "clip_seconds"),
    "sample_rate_1e9": ('{"features": {"sample_rate": 1000000000}}', "sample_rate"),
    "sample_rate_float": ('{"features": {"sample_rate": 1e9}}', "sample_rate"),
    "silence_ratio_negative": ('{"train": {"silence_ratio": -1}}', "silence_ratio"),
    "unknown_ratio_string": ('{"train": {"unknown_ratio": "3"}}', "unknown_ratio"),
    "snr_db_strings": ('{"train": {"snr_db": ["a", "b"]}}', "snr_db"),
    "snr_db_reversed": ('{"train": {"snr_db": [20, 5]}}', "snr_db"),
    "batch_size_huge": ('{"train": {"batch_size": 10000000}}', "batch_size"),
    "epochs_zero": ('{"train": {"epochs": 0}}', "epochs"),
    "patience_string": ('{"train": {"patience": "x"}}', "patience"),
    "seed_negative": ('{"train": {"seed": -1}}', "seed"),
    "percent_sum_100": ('{"train": {"validation_percent": 60, "testing_percent": 40}}',
                        "validation_percent"),
    "words_path": ('{"train": {"words": ["../etc"]}}', "words"),
    "words_empty_list": ('{"train": {"words": []}}', "words"),
    "units_zero": ('{"model": {"units": [0]}}', "units"),
    "units_huge": ('{"model": {"units": [100000]}}', "units"),
    "dropout_one": ('{"model": {"dropout": 1.0}}', "dropout"),
    "n_fft_not_power_of_two": ('{"features": {"n_fft": 500}}', "n_fft"),
    "fmax_above_nyquist": ('{"features": {"fmax": 9000}}', "fmax"),
    "amin_zero": ('{"features": {"amin": 0}}', "amin"),
    "unknown_key": ('{"train": {"learnin_rate": 0.1}}', "learnin_rate"),
    "unknown_section": ('{"optimizer": {}}', "optimizer"),
    "not_an_object": ('[1, 2, 3]', "JSON object"),
    "not_json": ('{"train": ', "not valid JSON"),
    # round two: JSON that is valid but lies
    "duplicate_key": ('{"train": {"epochs": 5, "epochs": 7}}', "given twice"),
    "duplicate_section": ('{"train": {"words": ["yes"]}, "train": {"epochs": 7}}',
                          "given twice"),
    "nested_100000_deep": ('{"train": ' + "[" * 100_000 + "]" * 100_000 + "}",
                           "nested deeper"),
    "time_mask_1000_frames": ('{"train": {"time_mask_frames": 1000}}', "time_mask_frames"),
    "freq_mask_wider_than_the_mfcc": ('{"train": {"freq_mask_bands": 300}}',
                                      "freq_mask_bands"),
    "nested_40_deep": ('{"train": {"words": ' + "[" * 40 + "]" * 40 + "}}", "nested deeper"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_is_refused_before_anything_is_written(case, synth_dir, tmp_path, capsys):
    text, field = CONFIG_CASES[case]
    cfg = tmp_path / "config.json"
    cfg.write_text(text)
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", tmp_path / "run",
                         "--config", cfg, "--cache-dir", tmp_path / "cache")
    assert_error(rc, err, str(cfg), field)
    assert not (tmp_path / "run").exists()


def test_binary_and_missing_config_files(synth_dir, tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_bytes(bytes(range(256)) * 4)
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", tmp_path / "run",
                         "--config", cfg)
    assert_error(rc, err, str(cfg), "not a UTF-8 text file")
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", tmp_path / "run",
                         "--config", tmp_path / "nope.json")
    assert_error(rc, err, "nope.json", "cannot read")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("words", ["", " , ,", "yes,../x"])
def test_bad_words_on_the_command_line(words, synth_dir, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", tmp_path / "run",
                         "--words", words)
    assert_error(rc, err, "words")
    assert not (tmp_path / "run").exists()


def test_a_batch_larger_than_the_data(synth_dir, exported, tmp_path, capsys):
    root, _ = exported
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model": {"units": [8]}, "train": {"batch_size": 60000, '
                   '"validation_percent": 20, "testing_percent": 0}}')
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", tmp_path / "run",
                         "--config", cfg, "--cache-dir", root / "cache")
    assert_error(rc, err, "batch_size = 60000", "training examples")
    assert not (tmp_path / "run" / "best.keras").exists()


# ---------------------------------------------------------------------------- audio


def _truncated_wav(path: Path) -> Path:
    write(path, tone())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still declares the whole
    return path


def _float_wav(path: Path, peak: float) -> Path:
    y = tone() / 0.31 * peak
    return write(path, y, subtype="FLOAT")


def _nan_wav(path: Path) -> Path:
    y = tone()
    y[100:200] = np.nan
    return write(path, y, subtype="FLOAT")


def _cut_ogg(path: Path) -> Path:
    import soundfile as sf

    sf.write(str(path), np.tile(tone(), 3), 16000, format="OGG", subtype="VORBIS")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # read as 1.1 s of 3 s without the check
    return path


def _stream_sized_wav(path: Path) -> Path:
    """A WAV whose data chunk declares 0xFFFFFFFF bytes (a stream's placeholder) and holds
    100 (50 samples)."""
    write(path, tone()[:50])
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    data[at + 4:at + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


AUDIO_CASES = {
    "truncated_data_chunk": (_truncated_wav, "truncated"),
    "ogg_cut_in_half": (_cut_ogg, "the Ogg stream does not end"),
    "wav_data_size_ffffffff": (_stream_sized_wav, "0xFFFFFFFF"),
    "float_samples_1e6": (lambda p: _float_wav(p, 1e6), "beyond the [-1, 1]"),
    "float_samples_3": (lambda p: _float_wav(p, 3.0), "beyond the [-1, 1]"),
    "nan_samples": (_nan_wav, "NaN"),
    "zero_bytes": (lambda p: (p.write_bytes(b""), p)[1], "not readable as audio"),
    "text_file": (lambda p: (p.write_text("hello, I am not audio\n" * 10), p)[1],
                  "not readable as audio"),
    "header_only": (lambda p: (write(p, np.zeros(0, np.float32)), p)[1], "empty"),
    "riff_garbage": (lambda p: (p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\xff" * 40),
                                p)[1], "not readable as audio"),
    "directory": (lambda p: (p.mkdir(), p)[1], "not a regular file"),
    "missing": (lambda p: p, "no such file"),
}


@pytest.mark.parametrize("case", sorted(AUDIO_CASES))
def test_bad_audio_is_named_by_predict_and_others_still_answered(case, exported, synth_dir,
                                                                  tmp_path, capsys):
    root, _ = exported
    make, reason = AUDIO_CASES[case]
    bad = make(tmp_path / f"{case}.wav")
    good = sorted((synth_dir / "yes").glob("*.wav"))[0]
    rc, out, err = run_cli(capsys, "predict", root / "model", good, bad)
    assert rc == 2 and "Traceback" not in err
    assert str(good) in out  # the good file is answered
    line = err.strip()
    assert len(line.splitlines()) == 1 and str(bad) in line and reason in line, line


@pytest.mark.parametrize("case", ["truncated_data_chunk", "float_samples_1e6", "nan_samples"])
def test_bad_audio_is_refused_by_listen(case, exported, tmp_path, capsys):
    root, _ = exported
    bad = AUDIO_CASES[case][0](tmp_path / "bad.wav")
    rc, _, err = run_cli(capsys, "listen", root / "model", bad)
    assert_error(rc, err, str(bad), AUDIO_CASES[case][1])


@pytest.mark.parametrize("fmt,subtype,ext", [("OGG", "VORBIS", "ogg"), ("OGG", "OPUS", "opus"),
                                             ("MP3", "MPEG_LAYER_III", "mp3")])
def test_a_lossy_files_overshoot_is_clipped_and_said_once(fmt, subtype, ext, exported, tmp_path,
                                                         capsys):
    """A loud phone recording in a lossy codec decodes a little beyond full scale: it loads
    (clipped, said once), while a float WAV beyond full scale stays refused."""
    import soundfile as sf

    root, _ = exported
    sr = 16000 if fmt == "MP3" else 48000
    t = np.arange(2 * sr) / sr
    loud = 0.999 * np.sign(np.sin(2 * np.pi * 440 * t))  # a square wave: the codec overshoots
    path = tmp_path / f"loud.{ext}"
    sf.write(str(path), loud, sr, format=fmt, subtype=subtype)
    assert np.abs(sf.read(str(path), dtype="float32")[0]).max() > 1.01  # it does overshoot
    rc, out, err = run_cli(capsys, "predict", root / "model", path, "--json")
    assert rc == 0, err
    said = [ln for ln in err.splitlines() if "clipped" in ln]
    assert len(said) == 1 and str(path) in said[0] and "lossy" in said[0], err
    assert json.loads(out.splitlines()[0])["label"]
    wav = tmp_path / "float.wav"
    sf.write(str(wav), loud * 1.2, sr, subtype="FLOAT")
    rc, _, err = run_cli(capsys, "predict", root / "model", wav)
    assert_error(rc, err, str(wav), "refused")


def test_listen_refuses_a_recording_shorter_than_one_window(exported, tmp_path, capsys):
    root, _ = exported
    short = write(tmp_path / "short.wav", tone(seconds=0.4))
    rc, out, err = run_cli(capsys, "listen", root / "model", short)
    assert_error(rc, err, str(short), "shorter than one window")
    assert out == ""


def test_bad_talk_folders_are_one_line_and_nothing_is_written(exported, synth_dir, tmp_path,
                                                             capsys):
    root, _ = exported
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "evaluate-stream", root / "model", "--data", synth_dir,
                         "--talk", empty, "--out", out)
    assert_error(rc, err, str(empty), "no audio files")
    talk = tmp_path / "talk"
    write(talk / "a" / "s1_nohash_0.wav", tone(seconds=2.0))
    (talk / "manifest.csv").write_text("file,speaker,seconds,text\n"
                                       "a/s1_nohash_0.wav,s1,2.0,HELLO\n"
                                       "a/gone.wav,s1,2.0,HELLO\n")
    rc, _, err = run_cli(capsys, "evaluate-stream", root / "model", "--data", synth_dir,
                         "--talk", talk, "--out", out)
    assert_error(rc, err, "manifest.csv:3", "gone.wav", "does not exist")
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--talk", empty, "--out",
                         tmp_path / "run")
    assert_error(rc, err, str(empty), "no audio files")
    assert not out.exists() and not (tmp_path / "run").exists()


def _listen_stdin(model: Path, data: bytes, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "speechgru", "listen", str(model), "-",
                           "--json", *args], input=data, capture_output=True, timeout=300)


def test_a_wav_stream_is_read_as_wav_at_its_own_rate_and_raw_pcm_as_pcm(exported, tmp_path):
    """A 44.1 kHz stereo WAV piped to `listen -` is read as WAV (mixed to mono, resampled
    as training resamples), not as raw PCM; bytes without a RIFF header are raw PCM."""
    import io

    import soundfile as sf

    from speechgru.audio import PCMStream, resample

    rng = np.random.default_rng(0)
    y = (0.2 * rng.standard_normal((3 * 44100, 2))).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), y, 44100, subtype="PCM_16")
    stream = PCMStream(io.BytesIO(path.read_bytes()), sample_rate=16000)
    assert (stream.rate, stream.channels) == (44100, 2)
    got = np.concatenate(list(stream.chunks(1000)))
    want = resample(sf.read(str(path), dtype="float32")[0].mean(axis=1), 44100, 16000)
    assert len(got) == len(want) == 3 * 16000
    assert np.abs(got - want).max() < 1e-3
    pcm = (y[:, 0] * 32767).astype("<i2")
    raw = np.concatenate(list(PCMStream(io.BytesIO(pcm.tobytes()), sample_rate=16000)
                              .chunks(777)))
    np.testing.assert_array_equal(raw, pcm.astype(np.float32) / 32768.0)
    root, _ = exported
    r = _listen_stdin(root / "model", path.read_bytes())
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("data,rc,needle", [
    (b"", 0, ""),  # empty stdin: nothing to hear, a clean exit
    (b"RIFF\x24\x00", 2, "truncated WAV header"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x02\x00\x01\x00\x44\xac\x00\x00"
     b"\x00\x00\x00\x00\x04\x00\x08\x00data\x00\x00\x00\x00", 2, "unsupported WAV stream"),
])
def test_listen_stdin_edge_cases(exported, data, rc, needle):
    root, _ = exported
    r = _listen_stdin(root / "model", data)
    assert r.returncode == rc, r.stderr
    err = r.stderr.decode()
    assert "Traceback" not in err and needle in err


def test_listen_with_stdin_closed(exported):
    root, _ = exported
    r = subprocess.run([sys.executable, "-m", "speechgru", "listen", str(root / "model"),
                        "-"], stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    assert r.returncode == 0 and r.stdout == b"" and b"Traceback" not in r.stderr


# ---------------------------------------------------------------------------- datasets


def _dataset(root: Path) -> Path:
    for word in ("yes", "no"):
        for i, spk in enumerate(("aaaa1111", "bbbb2222", "cccc3333")):
            write(root / word / f"{spk}_nohash_0.wav", tone(freq=300 + 100 * i
                                                             + (50 if word == "no" else 0),
                                                             seed=i))
    return root


def test_a_list_naming_a_missing_file(tmp_path, capsys):
    root = _dataset(tmp_path / "ds")
    (root / "validation_list.txt").write_text("yes/aaaa1111_nohash_0.wav\nyes/gone_nohash_0.wav\n")
    rc, _, err = run_cli(capsys, "check-data", root)
    assert_error(rc, err, "validation_list.txt:2", "gone_nohash_0.wav", "does not exist")


def test_a_list_climbing_out_of_the_dataset(tmp_path, capsys):
    root = _dataset(tmp_path / "ds")
    write(tmp_path / "outside.wav", tone())
    (root / "testing_list.txt").write_text("../outside.wav\n")
    rc, _, err = run_cli(capsys, "check-data", root)
    assert_error(rc, err, "testing_list.txt:1", "outside the dataset root")


def test_a_binary_list_file(tmp_path, capsys):
    root = _dataset(tmp_path / "ds")
    (root / "validation_list.txt").write_bytes(b"\xff\xfe\x00\x01" * 100)
    rc, _, err = run_cli(capsys, "check-data", root)
    assert_error(rc, err, "validation_list.txt", "not a UTF-8 text file")


def test_identical_audio_under_two_labels_and_in_two_splits_is_reported(tmp_path, capsys):
    root = _dataset(tmp_path / "ds")
    shutil.copy(root / "yes" / "aaaa1111_nohash_0.wav", root / "no" / "dddd4444_nohash_0.wav")
    rc, out, _ = run_cli(capsys, "check-data", root, "--json")
    assert rc == 0
    dups = json.loads(out)["duplicates"]
    assert len(dups) == 1 and dups[0]["labels"] == ["no", "yes"]
    rc, out, _ = run_cli(capsys, "check-data", root)
    assert "identical audio" in out and "dddd4444_nohash_0.wav" in out


def test_check_data_lists_a_truncated_file(tmp_path, capsys):
    root = _dataset(tmp_path / "ds")
    _truncated_wav(root / "yes" / "aaaa1111_nohash_0.wav")
    _cut_ogg(root / "no" / "bbbb2222_nohash_0.ogg")
    rc, out, _ = run_cli(capsys, "check-data", root, "--json")
    bad = json.loads(out)["bad_files"]
    assert rc == 0 and len(bad) == 2 and all("truncated" in b["reason"] for b in bad)
    rc, _, err = run_cli(capsys, "check-data", root, "--strict")
    assert rc == 2 and "aaaa1111_nohash_0.wav" in err
    # links named like audio that lead nowhere are listed too
    (root / "yes" / "dddd4444_nohash_0.wav").symlink_to(root / "gone.wav")
    loop = root / "yes" / "eeee5555_nohash_0.wav"
    loop.symlink_to(loop)
    rc, out, _ = run_cli(capsys, "check-data", root, "--json")
    bad = {Path(b["file"]).name: b["reason"] for b in json.loads(out)["bad_files"]}
    assert rc == 0 and "leads to no file" in bad["dddd4444_nohash_0.wav"]
    assert "leads to no file" in bad["eeee5555_nohash_0.wav"]


@pytest.mark.parametrize("make,needle", [
    (lambda p: p / "nope", "not a directory"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no audio files"),
    (lambda p: (p / "f.txt").write_text("x") or p / "f.txt", "not a directory"),
])
def test_a_data_folder_that_is_not_a_dataset(make, needle, tmp_path, capsys):
    folder = make(tmp_path)
    rc, _, err = run_cli(capsys, "check-data", folder)
    assert_error(rc, err, str(folder), needle)


# ---------------------------------------------------------------------------- caches


def test_damaged_cache_entries_heal(synth_dir, tmp_path, capsys):
    cache = tmp_path / "cache"
    rc, out, _ = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                         "--json", "--workers", "1")
    first = json.loads(out)
    entries = sorted(cache.rglob("*.npy"))
    assert rc == 0 and first["computed"] == len(entries) >= 3
    entries[0].write_bytes(b"")  # a crash between write and rename
    np.save(entries[1], np.full((49, 40), np.nan, np.float32))
    np.save(entries[2], np.zeros((3, 3), np.float32))
    rc, out, _ = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                         "--json", "--workers", "1")
    second = json.loads(out)
    assert rc == 0 and second["healed"] == 3 and second["computed"] == 3
    rc, out, _ = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                         "--json", "--workers", "1")
    assert json.loads(out)["healed"] == 0 and json.loads(out)["computed"] == 0


def test_disk_full_while_caching_is_one_error_and_no_partial_file(synth_dir, tmp_path,
                                                                  capsys, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    cache = tmp_path / "cache"
    rc, _, err = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                         "--workers", "1")
    assert_error(rc, err, "No space left on device", "cache")
    assert not [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".json"]
    # an error without its reason's text (strerror None) still says the reason
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, None)))
    rc, _, err = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                         "--workers", "1")
    assert_error(rc, err, "No space left on device")
    assert "(None)" not in err


def test_temporary_files_of_a_stopped_writer_are_swept(synth_dir, tmp_path, capsys,
                                                       monkeypatch):
    """Ctrl-C mid-write leaves no temporary file; one left by a killed writer (its
    process gone) is removed by the next run; a live writer's is left alone."""
    cache = tmp_path / "cache"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted)
    rc, _, err = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                         "--workers", "1")
    assert rc == 130 and not list(cache.rglob("*.tmp"))
    monkeypatch.undo()
    rc, _, _ = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                       "--workers", "1")
    entry = next(cache.rglob("*.npy"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = entry.with_name(f".{entry.name}.{dead}.tmp")
    live = entry.with_name(f".{entry.name}.1.tmp")  # pid 1 is alive
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    rc, _, _ = run_cli(capsys, "features", synth_dir / "yes", "--cache-dir", cache,
                       "--workers", "1")
    assert rc == 0 and not stale.exists() and live.exists()


# ---------------------------------------------------------------------------- models


@pytest.fixture
def model_copy(exported, tmp_path):
    root, _ = exported
    dst = tmp_path / "model"
    shutil.copytree(root / "model", dst)
    return dst


def _relabel(model: Path, text: str | bytes, name: str = "labels.txt") -> None:
    p = model / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    labels = (model / "labels.txt").read_text(errors="replace").split()
    write_manifest(model, labels=labels, features=EXPORT_CFG.features.to_dict())


def _features(model: Path, **changes) -> None:
    d = json.loads((model / "features.json").read_text())
    d.update(changes)
    (model / "features.json").write_text(json.dumps(d))


MODEL_CASES = {
    "labels_swapped": (lambda m: (m / "labels.txt").write_text(
        "\n".join(_swap((m / "labels.txt").read_text().split())) + "\n"),
        "labels.txt: does not match manifest.json"),
    "features_sample_rate_1e12": (lambda m: _features(m, sample_rate=10 ** 12),
                                  "features.json: does not match manifest.json"),
    "features_sample_rate_1e12_remanifested": (
        lambda m: (_features(m, sample_rate=10 ** 12), _relabel(m, (m / "labels.txt")
                                                                .read_text()))[0],
        "sample_rate"),
    "features_clip_1e9_remanifested": (
        lambda m: (_features(m, clip_seconds=1e9), _relabel(m, (m / "labels.txt")
                                                            .read_text()))[0],
        "clip_seconds"),
    "labels_binary_remanifested": (lambda m: _relabel(m, b"\xff\xfe\x00" * 50),
                                   "not a UTF-8 text file"),
    "labels_repeated_remanifested": (lambda m: _relabel(m, "yes\nyes\n"), "unique"),
    "tflite_truncated": (lambda m: [(m / n).write_bytes((m / n).read_bytes()[:1000])
                                    for n in ("wave_float32.tflite", "frontend.tflite")],
                         ".tflite: does not match manifest.json"),
    "tflite_missing": (lambda m: [(m / n).unlink()
                                  for n in ("wave_float32.tflite", "frontend.tflite")],
                       ".tflite: missing"),
    "no_manifest": (lambda m: (m / "manifest.json").unlink(), "no manifest.json"),
    "manifest_garbage": (lambda m: (m / "manifest.json").write_text("{]"), "manifest.json"),
    "manifest_foreign": (lambda m: (m / "manifest.json").write_text('{"format": "x"}'),
                         "not a speechgru model manifest"),
    # round two: a manifest is a closed world
    "manifest_100000_deep": (lambda m: (m / "manifest.json").write_text(
        "[" * 100_000 + "]" * 100_000), "nested deeper"),
    "manifest_duplicate_key": (lambda m: (m / "manifest.json").write_text(
        (m / "manifest.json").read_text().replace('"labels":', '"labels": [], "labels":', 1)),
        "given twice"),
    "manifest_lists_a_file_outside": (lambda m: _list_outside(m, "../outside/evil.tflite"),
                                      "not a file inside the model directory"),
    "manifest_lists_an_absolute_path": (  # the test's own folder, as an absolute path
        lambda m: _list_outside(m, (m.parent.resolve() / "evil.tflite").as_posix()),
        "not a file inside the model directory"),
    "tflite_symlinked_out": (lambda m: [_link_out(m, n) for n in ("wave_float32.tflite",
                                                                  "frontend.tflite")],
                             "a link or outside the model directory"),
}


def _list_outside(model: Path, name: str) -> None:
    data = json.loads((model / "manifest.json").read_text())
    data["files"][name] = dict(data["files"]["wave_float32.tflite"])
    (model / "manifest.json").write_text(json.dumps(data))


def _link_out(model: Path, name: str) -> None:
    """``name`` moved out of the directory (the same bytes) and a symlink left in its place."""
    outside = model.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.move(model / name, outside / name)
    (model / name).symlink_to(outside / name)


def _swap(labels):
    labels[2], labels[3] = labels[3], labels[2]
    return labels


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
@pytest.mark.parametrize("command", ["predict", "listen"])
def test_a_model_directory_that_lies_is_refused(case, command, model_copy, synth_dir, capsys):
    change, needle = MODEL_CASES[case]
    change(model_copy)
    before = snapshot(model_copy)
    wav = sorted((synth_dir / "yes").glob("*.wav"))[0]
    rc, _, err = run_cli(capsys, command, model_copy, wav)
    assert_error(rc, err, needle)
    assert snapshot(model_copy) == before


@pytest.mark.parametrize("args,needle", [
    (["predict", "{m}", "{wav}", "--top-k", "0"], "--top-k"),
    (["predict", "{m}", "{wav}", "--variant", "int4"], "no such model variant"),
    (["predict", "{m}/../nowhere", "{wav}"], "no such model directory"),
    (["listen", "{m}", "{wav}", "--phases", "0"], "phases"),
    (["listen", "{m}", "{wav}", "--threshold", "2"], "threshold"),
    (["listen", "{m}", "{wav}", "--smoothing", "0"], "smoothing"),
    (["listen", "{m}", "{wav}", "--smoothing", "1000000000"], "smoothing"),
    (["listen", "{m}", "{wav}", "--suppression-ms", "nan"], "suppression_ms"),
    (["listen", "{m}", "{wav}", "--suppression-ms", "inf"], "suppression_ms"),
    (["listen", "{m}", "{wav}", "--threshold", "nan"], "threshold"),
    (["features", "{data}", "--workers", "-1"], "workers"),
    (["features", "{data}", "--workers", "0"], "workers"),
    (["predict", "{m}", "{wav}", "--variant", "../outside/evil"], "no such model variant"),
    (["evaluate-stream", "{m}", "--data", "{data}", "--max-commands", "-1"],
     "--max-commands"),
])
def test_bad_runtime_arguments(args, needle, exported, synth_dir, capsys):
    root, _ = exported
    wav = sorted((synth_dir / "yes").glob("*.wav"))[0]
    argv = [a.format(m=root / "model", wav=wav, data=synth_dir) for a in args]
    rc, _, err = run_cli(capsys, *argv)
    assert_error(rc, err, needle)


def test_exported_files_are_readable_by_others(exported):
    root, _ = exported
    model = root / "model"
    assert model.stat().st_mode & 0o777 == 0o755
    for p in model.rglob("*"):
        assert p.stat().st_mode & 0o777 == (0o755 if p.is_dir() else 0o644), p


# ---------------------------------------------------------------------------- runs


@pytest.fixture
def run_copy(exported, tmp_path):
    root, _ = exported
    dst = tmp_path / "run"
    shutil.copytree(root / "run", dst)
    return dst


@pytest.mark.parametrize("target", ["run", "ancestor", "cwd", "user_folder", "a_file"])
def test_export_force_never_deletes_what_it_did_not_make(target, run_copy, tmp_path, capsys,
                                                         monkeypatch):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.txt").write_text("years of work")
    (tmp_path / "notes.txt").write_text("a file")
    monkeypatch.chdir(tmp_path)
    out = {"run": run_copy, "ancestor": tmp_path, "cwd": Path("."), "user_folder": user,
           "a_file": tmp_path / "notes.txt"}[target]
    before_run, before_user = snapshot(run_copy), snapshot(user)
    rc, _, err = run_cli(capsys, "export", run_copy, "--out", out, "--force")
    assert_error(rc, err, "export never replaces" if target in ("run", "ancestor", "cwd")
                 else "not a model directory written by speechgru")
    assert snapshot(run_copy) == before_run and snapshot(user) == before_user
    assert (tmp_path / "notes.txt").read_text() == "a file"


@pytest.mark.parametrize("case,command,needle", [
    ("state_garbage", "resume", "state.json"),
    ("state_missing_keys", "resume", "state.json"),
    ("best_truncated", "export", "best.keras: not a .keras archive"),
    ("best_lambda", "export", "safe mode"),
    ("last_truncated", "resume", "last.keras"),
    ("labels_binary", "export", "labels.txt"),
    ("config_binary", "export", "config.json"),
    ("splits_garbage", "evaluate", "splits.json"),
    ("no_calibration", "export", "calibration.npz"),
    ("clips_moved", "evaluate", "missing"),
    ("resume_more_epochs", "resume_epochs", "--epochs 500"),
    ("train_again", "train", "already holds a run"),
    ("evaluate_nothing", "evaluate_bare", "--data"),
])
def test_a_damaged_run_directory(case, command, needle, run_copy, synth_dir, tmp_path, capsys):
    r = run_copy
    if case == "state_garbage":
        (r / "state.json").write_text("{not json")
    elif case == "state_missing_keys":
        (r / "state.json").write_text('{"epoch": 3}')
    elif case in ("best_truncated", "last_truncated"):
        name = case.split("_")[0] + ".keras"
        (r / name).write_bytes((r / name).read_bytes()[:500])
    elif case == "best_lambda":
        _lambda_model(r / "best.keras")
    elif case == "labels_binary":
        (r / "labels.txt").write_bytes(b"\x00\xff" * 40)
    elif case == "config_binary":
        (r / "config.json").write_bytes(b"\x00\xff" * 40)
    elif case == "splits_garbage":
        (r / "splits.json").write_text('{"format": 1, "test": [{"path": 3}]}')
    elif case == "no_calibration":
        (r / "calibration.npz").unlink()
    elif case == "clips_moved":
        s = json.loads((r / "splits.json").read_text())
        for row in s["validation"]:
            row["path"] = str(tmp_path / "moved" / Path(row["path"]).name)
        (r / "splits.json").write_text(json.dumps(s))
    before = snapshot(r)
    argv = {"resume": ["train", "--out", r, "--resume"],
            "resume_epochs": ["train", "--out", r, "--resume", "--epochs", "500"],
            "train": ["train", "--data", synth_dir, "--out", r],
            "export": ["export", r, "--out", tmp_path / "m"],
            "evaluate": ["evaluate", r, "--split", "validation"],
            "evaluate_bare": ["evaluate", r]}[command]
    rc, _, err = run_cli(capsys, *argv, "--cache-dir", tmp_path / "cache")
    assert_error(rc, err, needle)
    assert snapshot(r) == before
    assert not (tmp_path / "m").exists()


def _lambda_model(path: Path) -> None:
    import keras

    x = keras.Input((3,))
    y = keras.layers.Lambda(lambda v: v * 2)(x)
    keras.Model(x, y).save(path)


def test_export_works_from_another_directory_after_the_data_moved(exported, tmp_path,
                                                                  capsys, monkeypatch):
    """Export needs only the run directory: run from elsewhere, with the run's clips
    unreachable, it still exports (the calibration clips were kept at training)."""
    root, _ = exported
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    s = json.loads((run / "splits.json").read_text())
    for split in ("train", "validation", "test"):
        for row in s[split]:
            row["path"] = "/nonexistent/" + Path(row["path"]).name
    (run / "splits.json").write_text(json.dumps(s))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # the clip model, and the stream model calibrated on the kept training features
    rc, out, err = run_cli(capsys, "export", run, "--out", "m", "--variants",
                           "float32,stream_int8")
    assert rc == 0, err
    assert (elsewhere / "m" / "manifest.json").is_file()
    assert (elsewhere / "m" / "stream_int8.tflite").is_file()
    assert not [p for p in elsewhere.iterdir() if p.name != "m"]  # no temp folder left


def test_force_replaces_a_model_directory_by_swapping_a_new_one_in(tmp_path):
    from speechgru.export.variants import _check_out_dir, _swap_in

    old = tmp_path / "m"
    old.mkdir()
    (old / "float32.tflite").write_bytes(b"old")
    write_manifest(old, labels=["a", "b"], features={})
    run = tmp_path / "run"
    run.mkdir()
    _check_out_dir(old, run, force=True)  # ours: may be replaced
    new = tmp_path / ".m.new"
    new.mkdir()
    (new / "float32.tflite").write_bytes(b"new")
    _swap_in(new, old)
    assert (old / "float32.tflite").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "run"]


# ---------------------------------------------------------------------------- orphans


def _children(pid: int) -> set[int]:
    out = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(p.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(cond, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_during_features_leaves_no_workers(synth_dir, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "speechgru", "features", str(synth_dir),
                          "--cache-dir", str(tmp_path / "cache"), "--workers", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids: set[int] = set()
    assert _wait_until(lambda: len(kids.update(_children(p.pid)) or kids) >= 2, 120)
    time.sleep(1.0)
    kids |= _children(p.pid)
    assert p.poll() is None, "finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert _wait_until(lambda: not [k for k in kids if _alive(k)], 20), kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_during_export_leaves_no_converter_and_no_temp_folder(exported, tmp_path):
    root, _ = exported
    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "speechgru", "export", str(root / "run"),
                          "--out", str(out / "m")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids: set[int] = set()

    def converting():
        kids.update(_children(p.pid))
        return any(out.iterdir()) and len(kids) >= 2  # the janitor and a converter

    assert _wait_until(converting, 240)
    assert p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert _wait_until(lambda: not [k for k in kids if _alive(k)], 20), kids
    assert _wait_until(lambda: not any(out.iterdir()), 20), list(out.iterdir())



# ---------------------------------------------------------------------------- round two


@pytest.mark.parametrize("seconds", ["inf", "nan", "-3", "1e12"])
def test_synth_recording_refuses_absurd_lengths(seconds, synth_dir, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "synth-recording", synth_dir, tmp_path / "talk.wav",
                         "--seconds", seconds)
    assert_error(rc, err, "--seconds")
    assert not list(tmp_path.iterdir())


def test_synth_recording_never_overwrites_without_force(synth_dir, tmp_path, capsys):
    for name in ("talk.wav", "talk.json"):
        mine = tmp_path / name
        mine.write_bytes(b"the user's own " + name.encode())
        rc, _, err = run_cli(capsys, "synth-recording", synth_dir, tmp_path / "talk.wav",
                             "--seconds", "6", "--words", "yes")
        assert_error(rc, err, str(mine), "exists")
        assert mine.read_bytes() == b"the user's own " + name.encode()
        mine.unlink()
    rc, _, err = run_cli(capsys, "synth-recording", synth_dir, tmp_path / "talk.wav",
                         "--seconds", "6", "--words", "yes")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "synth-recording", synth_dir, tmp_path / "talk.wav",
                         "--seconds", "6", "--words", "yes", "--force")
    assert rc == 0, err


def test_synth_never_writes_into_a_dataset(tmp_path, capsys):
    """Real Speech Commands has README.txt and _background_noise_/white_noise.wav: synth
    writes neither over them nor clips into yes/."""
    mine = tmp_path / "mine"
    write(mine / "_background_noise_" / "white_noise.wav", tone(1.0))
    write(mine / "yes" / "abc_nohash_0.wav", tone(1.0, freq=300.0))
    (mine / "README.txt").write_text("my dataset")
    before = snapshot(mine)
    rc, _, err = run_cli(capsys, "synth", mine, "--per-word", "2")
    assert_error(rc, err, str(mine), "not empty")
    assert snapshot(mine) == before
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    rc, _, err = run_cli(capsys, "synth", link, "--per-word", "2")
    assert_error(rc, err, str(link))
    assert not (tmp_path / "elsewhere").exists()


def test_train_never_writes_into_a_folder_of_the_users(synth_dir, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("labels.txt", "history.csv", "metrics.json"):
        (notes / name).write_text(f"my {name}")
    before = snapshot(notes)
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", notes, "--cache-dir",
                         tmp_path / "cache")
    assert_error(rc, err, str(notes), "not a run directory")
    assert snapshot(notes) == before


@pytest.mark.parametrize("extra", ["notes.txt", "my_takes/take1.wav", "forged"])
def test_export_force_replaces_only_an_untouched_export(extra, run_copy, exported, tmp_path,
                                                        capsys):
    root, _ = exported
    out = tmp_path / "m"
    if extra == "forged":  # a one-line manifest in a folder of the user's
        out.mkdir()
        (out / "chapter1.tex").write_text("\\chapter{One}")
        (out / "manifest.json").write_text('{"format": "speechgru-model"}')
    else:
        shutil.copytree(root / "model", out)
        (out / extra).parent.mkdir(parents=True, exist_ok=True)
        (out / extra).write_text("mine")
    before = snapshot(out)
    rc, _, err = run_cli(capsys, "export", run_copy, "--out", out, "--force")
    assert_error(rc, err, str(out))
    assert snapshot(out) == before


@pytest.mark.parametrize("labels", ["swapped", "escape"])
def test_export_checks_the_runs_labels(labels, run_copy, tmp_path, capsys):
    path = run_copy / "labels.txt"
    words = path.read_text().split()
    if labels == "swapped":
        words[2], words[3] = words[3], words[2]
    else:
        words[-1] = "../../escape"
    path.write_text("\n".join(words) + "\n")
    rc, _, err = run_cli(capsys, "export", run_copy, "--out", tmp_path / "m")
    assert_error(rc, err, "labels.txt")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("stopped", ["training", "operating_point"])
def test_export_of_a_run_that_did_not_finish_says_so(stopped, run_copy, tmp_path, capsys):
    """A run stopped mid-training (Ctrl-C, a time limit) has no operating point: its export
    would fire at any score. Refused in one line naming the run and --resume; exported only
    when asked (--unfinished), and then it says so."""
    (run_copy / "metrics.json").unlink()
    if stopped == "training":  # as if killed after epoch 10 of the run's planned epochs
        (run_copy / "operating_point.json").unlink()
        state = json.loads((run_copy / "state.json").read_text())
        state["epoch"], state["stopped_early"] = 10, False
        (run_copy / "state.json").write_text(json.dumps(state))
    before = snapshot(run_copy)
    rc, _, err = run_cli(capsys, "export", run_copy, "--out", tmp_path / "m")
    assert_error(rc, err, str(run_copy), "did not finish", "--resume", "--unfinished")
    if stopped == "training":
        assert "stopped after epoch 10 of" in err
    assert not (tmp_path / "m").exists() and snapshot(run_copy) == before
    rc, out, err = run_cli(capsys, "export", run_copy, "--out", tmp_path / "m",
                           "--variants", "float32", "--unfinished")
    assert rc == 0, err
    assert "did not finish" in out and (tmp_path / "m" / "float32.tflite").is_file()
    report = json.loads((tmp_path / "m" / "export_report.json").read_text())
    assert "operating point" in report["unfinished"]


def test_two_exports_to_one_folder_at_once_one_wins_nothing_mixed(run_copy, tmp_path):
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "speechgru", "export", str(run_copy), "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    loser = next(err for rc, err in results if rc == 2)
    assert len(loser.strip().splitlines()) == 1 and str(out) in loser
    from speechgru.runtime.manifest import unowned_files

    assert unowned_files(out) is None  # the winner's export, whole


def test_train_into_a_run_another_train_is_writing_is_refused(synth_dir, tmp_path, capsys):
    from speechgru.utils import DirLock

    run = tmp_path / "run"
    run.mkdir()
    with DirLock(run, "train"):  # another train holds it
        rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", run,
                             "--epochs", "1", "--cache-dir", tmp_path / "cache")
    assert_error(rc, err, str(run), "another speechgru train")
    assert not list(run.iterdir())


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_during_train_is_one_line_and_the_run_resumable(sig, code, word,
                                                                          synth_dir, tmp_path):
    from speechgru.run_dir import RunDir

    run = tmp_path / "run"
    # as from a terminal: a shell's background job inherits SIGINT ignored (then Python never
    # raises KeyboardInterrupt); a user's Ctrl-C reaches a program that has it at default
    p = subprocess.Popen([sys.executable, "-m", "speechgru", "train", "--data",
                          str(synth_dir), "--out", str(run), "--epochs", "60",
                          "--cache-dir", str(tmp_path / "cache")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and p.poll() is None:
        state = run / "state.json"
        if state.is_file() and json.loads(state.read_text() or "{}").get("epoch", 0) >= 1:
            break
        time.sleep(0.5)
    assert p.poll() is None, p.communicate()[1]
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert p.returncode == code, err
    assert lines[-1] == f"speechgru train: {word}", err
    assert "Traceback" not in err and "never used" not in err, err
    assert RunDir(run).state()["epoch"] >= 1  # --resume goes on from there
    assert not list(tmp_path.rglob("*.speechgru-tmp"))


def test_train_refuses_a_dataset_of_only_bad_files_even_with_the_recipes_speech(tmp_path,
                                                                                capsys):
    ds = tmp_path / "ds"
    for word in ("yes", "no"):
        for spk in ("aaaa1111", "bbbb2222", "cccc3333", "dddd4444"):
            (ds / word).mkdir(parents=True, exist_ok=True)
            (ds / word / f"{spk}_nohash_0.wav").write_text("not audio at all\n")
    cfg = tmp_path / "c.json"
    cfg.write_text('{"train": {"words": ["yes", "no"], "synth_per_word": 2, "epochs": 1}}')
    rc, _, err = run_cli(capsys, "train", "--data", ds, "--out", tmp_path / "run",
                         "--config", cfg, "--cache-dir", tmp_path / "cache")
    assert_error(rc, err, str(ds), "no clip could be read", "bad file(s)",
                 "not readable as audio")
    assert not (tmp_path / "run" / "config.json").exists()


def test_predict_and_listen_read_a_long_recording_in_blocks(exported, synth_dir, tmp_path,
                                                            capsys):
    """A 601 s file (8 kHz) with one spoken word at 400 s: predict finds its loudest second a
    block at a time and answers as for the word alone; listen reads it a second at a time
    (scripts/bench_memory.py measures the memory: flat in the length)."""
    import soundfile as sf

    from speechgru.audio import load_clip, resample

    root, _ = exported
    word = sorted((synth_dir / "yes").glob("*.wav"))[0]
    y = resample(load_clip(word, sample_rate=16000, num_samples=16000), 16000, 8000)
    long = tmp_path / "long.wav"
    with sf.SoundFile(str(long), "w", 8000, 1, subtype="PCM_16") as f:
        for k in range(601):
            f.write(y if k == 400 else np.full(8000, 1e-4, np.float32))
    short = tmp_path / "short.wav"
    sf.write(str(short), np.concatenate([np.full(4000, 1e-4, np.float32), y,
                                         np.full(4000, 1e-4, np.float32)]), 8000,
             subtype="PCM_16")
    rc, out, err = run_cli(capsys, "predict", root / "model", long, short, "--json")
    assert rc == 0, err
    a, b = [json.loads(line) for line in out.splitlines()]
    assert a["label"] == b["label"] and abs(a["confidence"] - b["confidence"]) < 0.05, (a, b)
    rc, out, err = run_cli(capsys, "listen", root / "model", long, "--json")
    assert rc == 0, err
    assert all(399.5 < json.loads(line)["time"] < 401.5 for line in out.splitlines())


def test_a_full_disk_under_a_library_names_the_folder_written(synth_dir, tmp_path, capsys,
                                                              monkeypatch):
    """Keras or the zip writer report ENOSPC without a file name: the line names the
    command's output folder and the reason."""
    import errno

    import speechgru.training.train as training

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, None)

    monkeypatch.setattr(training, "train", full)
    out = tmp_path / "run"
    rc, _, err = run_cli(capsys, "train", "--data", synth_dir, "--out", out)
    assert_error(rc, err, f"{out}: No space left on device")


def test_tensorflows_own_error_about_the_machine_is_one_line(run_copy, tmp_path, capsys,
                                                             monkeypatch):
    """export onto a full disk: TensorFlow raises ResourceExhaustedError (No space left on
    device) from the SavedModel writer: one line naming --out, not a traceback."""
    import speechgru.export as export

    class ResourceExhaustedError(Exception):
        pass

    ResourceExhaustedError.__module__ = "tensorflow.python.framework.errors_impl"

    def full(*args, **kwargs):
        raise ResourceExhaustedError("/x/variables.data-00000-of-00001.tempstate; No space "
                                     "left on device\n\tmore lines")

    monkeypatch.setattr(export, "export_run", full)
    out = tmp_path / "m"
    rc, _, err = run_cli(capsys, "export", run_copy, "--out", out)
    assert_error(rc, err, str(out), "ResourceExhaustedError", "No space left on device")
