import hashlib

import numpy as np

from speechgru.data.layouts import scan_dataset
from speechgru.synth import synthesize_dataset


def _digest(root):
    h = hashlib.sha1()
    for p in sorted(root.rglob("*.wav")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kw = dict(per_word=2, other_per_word=1, noise_seconds=2.0, words=("yes", "no"),
              other_words=("bird",))
    a = synthesize_dataset(tmp_path / "a", seed=3, **kw)
    synthesize_dataset(tmp_path / "b", seed=3, **kw)
    synthesize_dataset(tmp_path / "c", seed=4, **kw)
    assert a["clips"] == 5
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_synthetic_set_reads_as_speech_commands_layout(synth_dir):
    ds = scan_dataset(synth_dir)
    assert ds.layout == "speech_commands"
    s = ds.summary()
    assert all(s["per_label"][w] == 12 for w in ("yes", "no", "stop", "go"))
    assert s["per_label"]["_unknown_"] > 0 and s["per_label"]["_silence_"] > 0
    assert s["speakers"] >= 12
    assert not s["speaker_overlap_between_splits"]
    assert len(ds.noise_files) == 5


def test_extra_words_are_spoken_and_never_contain_a_command(tmp_path):
    from speechgru.config import COMMANDS
    from speechgru.synth import MORE_OTHER_WORDS, OTHER_WORDS, synthesize_dataset

    for phrase in OTHER_WORDS + MORE_OTHER_WORDS:
        assert not set(phrase.split()) & set(COMMANDS), phrase
    assert len(set(OTHER_WORDS + MORE_OTHER_WORDS)) == len(OTHER_WORDS + MORE_OTHER_WORDS)
    out = tmp_path / "s"
    synthesize_dataset(out, per_word=1, seed=0, other_per_word=1, extra_words=True,
                       noise_seconds=1.0)
    folders = {p.name for p in out.iterdir() if p.is_dir()} - {"_background_noise_"}
    spoken = {w.replace(" ", "_") for w in OTHER_WORDS + MORE_OTHER_WORDS}
    assert folders == set(COMMANDS) | spoken


def test_long_recording_places_the_words_and_writes_the_truth(synth_dir, tmp_path):
    import json

    import pytest
    import soundfile as sf

    from speechgru.synth import SynthError, long_recording

    out = tmp_path / "stream.wav"
    truth = long_recording(synth_dir, out, words=("yes", "go"), seconds=8.0, seed=1)
    y, sr = sf.read(str(out))
    assert sr == 16000 and len(y) == 8 * 16000
    assert json.loads(out.with_suffix(".json").read_text()) == truth
    assert [t["word"] for t in truth] == ["yes", "go"]
    for t in truth:  # the spoken word is much louder than the bed around it
        i = int(t["time"] * sr)
        assert np.abs(y[i - 1600:i + 1600]).max() > 5 * np.abs(y[:800]).max()
    with pytest.raises(SynthError, match="too short"):
        long_recording(synth_dir, out, words=("yes", "no", "up"), seconds=4.0)


def test_the_recipe_adds_its_synthetic_speech_to_real_data_once(synth_dir, tmp_path):
    import os

    from conftest import make_sc

    from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
    from speechgru.synth import OTHER_WORDS, confusable_words, is_synthetic
    from speechgru.training.data import with_recipe_synth

    real = make_sc(tmp_path / "real")
    assert is_synthetic(synth_dir) and not is_synthetic(real)
    cfg = RunConfig(FeatureConfig(), ModelConfig(),
                    TrainConfig(words=("yes", "lights_on", "seven"), synth_per_word=2))
    assert with_recipe_synth([synth_dir], cfg) == [synth_dir]  # synthetic data: nothing more
    logged = []
    dirs = with_recipe_synth([real], cfg, log=logged.append)
    assert dirs[0] == real and len(dirs) == 2 and len(logged) == 1
    made = dirs[1]
    assert made.is_relative_to(os.environ["SPEECHGRU_CACHE"]) and is_synthetic(made)
    ds = scan_dataset(made, words=cfg.train.words)
    counts = {w: sum(c.label == w for c in ds.clips) for w in cfg.train.words}
    assert counts == {"yes": 2, "lights_on": 2, "seven": 2}  # the phrase has its folder
    folders = {p.name for p in made.iterdir() if p.is_dir()}
    assert "seven" in OTHER_WORDS and "bird" in folders  # a command is never an other word
    near = confusable_words("lights on") + confusable_words("seven")  # custom words' misses
    others = {w for w in (*OTHER_WORDS, *near) if w not in ("yes", "lights on", "seven")}
    assert sum(c.label == "_unknown_" for c in ds.clips) == 2 * len(others)
    assert {"lights", "zeven"} <= folders
    stamp = (made / "README.txt").stat().st_mtime_ns
    again = []
    assert with_recipe_synth([real], cfg, log=again.append) == dirs and again == []
    assert (made / "README.txt").stat().st_mtime_ns == stamp  # made once, then reused
    off = RunConfig(FeatureConfig(), ModelConfig(), TrainConfig(synth_per_word=0))
    assert with_recipe_synth([real], off) == [real]


def test_no_negative_is_a_homophone_of_a_command():
    from speechgru.config import COMMANDS
    from speechgru.synth import MORE_OTHER_WORDS, OTHER_WORDS
    from speechgru.synth.espeak import homophones

    # espeak says "know" as "no" and "write" as "right" in every accent: as `_unknown_`
    # clips they were the commands themselves, labelled as other words
    assert homophones(("no", "right", "one"), ("know", "write", "note", "won", "now")) == [
        "know", "write", "won"]
    assert homophones(COMMANDS, OTHER_WORDS + MORE_OTHER_WORDS) == []


def test_a_custom_words_homophones_are_left_out_of_its_negatives(tmp_path):
    from speechgru.synth import synthesize_dataset

    info = synthesize_dataset(tmp_path / "s", per_word=1, words=("two",),
                              other_words=("to", "too", "tool"), noise_seconds=1.0)
    assert info["homophones_left_out"] == ["to", "too"]
    assert {p.name for p in (tmp_path / "s").iterdir() if p.is_dir()} >= {"two", "tool"}
    assert not (tmp_path / "s" / "to").exists() and not (tmp_path / "s" / "too").exists()


def test_confusable_words_of_a_custom_keyword():
    from speechgru.synth import confusable_words

    assert confusable_words("marvin") == ["narvin", "barvin", "mervin", "mar"]
    assert confusable_words("lights_on") == ["lights", "on"]
    assert confusable_words("turn_the_lights_off") == ["turn", "the", "lights", "off",
                                                       "turn the", "turn the lights"]
    assert "ok" not in confusable_words("ok") and confusable_words("ok")


def test_a_word_no_voice_can_say_is_refused_before_anything_is_written(tmp_path):
    """An engine that says nothing for a word (no phoneme, silent output): one error naming
    the word and how to respell it; the folder synth made is gone, no clip written."""
    import pytest

    from speechgru.errors import SynthError
    from speechgru.synth.espeak import EspeakEngine

    class Mute(EspeakEngine):
        def speak(self, jobs):
            rate, speech = super().speak(jobs)
            return rate, [np.zeros_like(s) if text.strip(".!?") == "zzkx" else s
                          for (text, _), s in zip(jobs, speech, strict=True)]

    out = tmp_path / "set"
    with pytest.raises(SynthError, match=r"'zzkx'.*silent.*--say zzkx="):
        synthesize_dataset(out, per_word=3, seed=0, words=("zzkx", "hello"), engine=Mute(),
                           other_words=("table",), noise_seconds=1.0)
    assert not out.exists()
