import numpy as np
import pytest
import soundfile as sf
from conftest import tone, write

from speechgru.audio import fit_to_length, load_clip, read_audio
from speechgru.errors import AudioError


def test_reads_pcm16_pcm24_float_and_stereo(tmp_path):
    y = tone()
    for subtype in ("PCM_16", "PCM_24", "FLOAT"):
        got, sr = read_audio(write(tmp_path / f"{subtype}.wav", y, subtype=subtype))
        assert sr == 16000 and got.dtype == np.float32
        np.testing.assert_allclose(got, y, atol=1e-4)
    stereo = np.stack([y, -0.5 * y], axis=1)
    got, _ = read_audio(write(tmp_path / "st.wav", stereo))
    np.testing.assert_allclose(got, 0.25 * y, atol=1e-4)


def test_flac_and_ogg(tmp_path):
    y = tone()
    got, _ = read_audio(write(tmp_path / "a.flac", y))
    np.testing.assert_allclose(got, y, atol=1e-4)
    p = tmp_path / "a.ogg"
    sf.write(str(p), y, 16000, format="OGG", subtype="VORBIS")
    got, _ = read_audio(p)
    assert len(got) == len(y) and np.corrcoef(got, y)[0, 1] > 0.99


def test_resamples_8k_to_16k_and_fits_to_one_second(tmp_path):
    y8 = tone(seconds=0.6, sr=8000, freq=300.0)
    clip = load_clip(write(tmp_path / "a.wav", y8, sr=8000), sample_rate=16000,
                     num_samples=16000)
    assert clip.shape == (16000,)
    spec = np.abs(np.fft.rfft(clip))
    assert abs(np.argmax(spec) * 16000 / 16000 - 300) < 3  # the tone survives resampling


def _bad_files(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    write(tmp_path / "zero.wav", np.zeros(0, np.float32))
    (tmp_path / "text.wav").write_bytes(b"this is not audio at all " * 100)
    good = write(tmp_path / "good.wav", tone()).read_bytes()
    (tmp_path / "truncated.wav").write_bytes(good[:30])
    nan = tone()
    nan[100] = np.nan
    write(tmp_path / "nan.wav", nan, subtype="FLOAT")
    inf = tone()
    inf[5] = np.inf
    write(tmp_path / "inf.wav", inf, subtype="FLOAT")
    (tmp_path / "dir.wav").mkdir()
    return {
        "empty.wav": "not readable as audio",
        "zero.wav": "empty",
        "text.wav": "not readable as audio",
        "truncated.wav": "not readable as audio",
        "nan.wav": "NaN/Inf",
        "inf.wav": "NaN/Inf",
        "dir.wav": "not a regular file",
        "missing.wav": "no such file",
    }


def test_every_bad_input_names_the_file_and_the_reason(tmp_path):
    for name, reason in _bad_files(tmp_path).items():
        with pytest.raises(AudioError) as info:
            load_clip(tmp_path / name, sample_rate=16000, num_samples=16000)
        assert str(tmp_path / name) in str(info.value)
        assert reason in str(info.value), (name, str(info.value))


def test_fit_to_length_keeps_the_loudest_window():
    y = np.zeros(48000, np.float32)
    y[30000:34000] = 1.0  # the "word", 0.25 s, late in a 3 s clip
    out = fit_to_length(y, 16000)
    assert out.shape == (16000,)
    assert out.sum() == pytest.approx(4000.0)
    onset = int(np.flatnonzero(out)[0])
    assert 5000 <= onset <= 7000  # centred: 6000 samples of room either side
    short = fit_to_length(np.ones(100, np.float32), 16000)
    assert short.sum() == 100 and short[:7900].sum() == 0
