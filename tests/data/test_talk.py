"""Continuous speech: the talk folder, its one split, what is screened, the windows."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, needs_shared, tone, write

from speechgru.data.talk import (HOLDS_COMMAND, SCREENED, TALK_WORD, UNTRANSCRIBED,
                                 command_words_in, read_talk, talk_split, talk_windows)
from speechgru.errors import DataError


def _folder(root, rows):
    for name, seconds in rows:
        write(root / name, tone(seconds=seconds, seed=len(name)))
    return root


def test_command_words_are_whole_words_and_phrases_follow_one_another():
    words = ("no", "go", "up", "lights_on")
    assert command_words_in("I KNOW NOBODY IS GOING", words) == ()
    assert command_words_in("Tom gives up boxing.", words) == ("up",)
    assert command_words_in("LET'S GO, NO?", words) == ("no", "go")
    assert command_words_in("turn the lights on now", words) == ("lights_on",)
    assert command_words_in("the lights are on", words) == ()


def test_the_talk_split_is_by_speaker_fixed_and_about_30_20_50():
    speakers = [f"s{i}" for i in range(4000)]
    parts = [talk_split(s) for s in speakers]
    assert parts == [talk_split(s) for s in speakers]  # stable
    share = {p: parts.count(p) / len(parts) for p in ("test", "validation", "train")}
    assert abs(share["test"] - 0.3) < 0.03 and abs(share["validation"] - 0.2) < 0.03


def test_a_manifest_says_what_each_sentence_is(tmp_path):
    root = _folder(tmp_path / "talk", [("a/s1_nohash_0.wav", 3.0), ("a/s1_nohash_1.wav", 2.2),
                                       ("b/s2_nohash_0.wav", 4.0)])
    (root / "manifest.csv").write_text(
        "file,speaker,seconds,text\n"
        "a/s1_nohash_0.wav,s1,3.0,I KNOW NOBODY\n"
        "a/s1_nohash_1.wav,s1,2.2,PLEASE STOP IT\n"
        "b/s2_nohash_0.wav,s2,,\n")
    got = {s.path.name: s for s in read_talk(root)}
    assert got["s1_nohash_0.wav"].kind == SCREENED
    assert got["s1_nohash_1.wav"].kind == HOLDS_COMMAND and got["s1_nohash_1.wav"].says == (
        "stop",)
    assert got["s2_nohash_0.wav"].kind == UNTRANSCRIBED
    assert got["s2_nohash_0.wav"].seconds == pytest.approx(4.0)  # read from the file
    assert got["s1_nohash_0.wav"].split == got["s1_nohash_1.wav"].split == talk_split("s1")
    # only screened talk is cut into windows: 3 s less 0.25 s each end -> 2 whole seconds
    wins = talk_windows(list(got.values()))
    assert [(w.offset, w.duration) for w in wins] == [(0.25, 1.0), (1.25, 1.0)]
    assert {w.word for w in wins} == {TALK_WORD} and {w.label for w in wins} == {"_unknown_"}


def test_without_a_manifest_every_audio_file_is_untranscribed_talk(tmp_path):
    root = _folder(tmp_path / "talk", [("x/p7_nohash_3.flac", 2.0)])
    (s,) = read_talk(root)
    assert s.speaker == "p7" and s.kind == UNTRANSCRIBED and talk_windows([s]) == []


@pytest.mark.parametrize("row,needle", [
    ("missing.wav,s1,1.0,HELLO", "does not exist"),
    ("../outside.wav,s1,1.0,HELLO", "not a file inside"),
    ("a/s1_nohash_0.wav,s1,-3,HELLO", "not a length of audio"),
])
def test_a_manifest_row_naming_a_bad_file_is_one_error(row, needle, tmp_path):
    root = _folder(tmp_path / "talk", [("a/s1_nohash_0.wav", 1.0)])
    write(tmp_path / "outside.wav", tone())
    (root / "manifest.csv").write_text(f"file,speaker,seconds,text\n{row}\n")
    with pytest.raises(DataError, match=needle) as e:
        read_talk(root)
    assert "manifest.csv:2" in str(e.value)


def test_a_folder_without_audio_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no audio files"):
        read_talk(tmp_path / "empty")
    with pytest.raises(DataError, match="not a directory"):
        read_talk(tmp_path / "nowhere")


@needs_shared
def test_the_shared_talk_splits_by_speaker_and_screens_371_sentences():
    talk = read_talk(SHARED / "continuous_speech")
    assert sum(s.kind == HOLDS_COMMAND for s in talk) == 371
    by_speaker = {}
    for s in talk:
        by_speaker.setdefault(s.speaker, set()).add(s.split)
    assert all(len(v) == 1 for v in by_speaker.values())
    minutes = {p: sum(s.seconds for s in talk if s.split == p and s.kind == SCREENED) / 60
               for p in ("train", "validation", "test")}
    assert minutes["test"] > 30 and minutes["validation"] > 20, minutes
    assert np.isclose(sum(s.seconds for s in talk) / 60, 228.6, atol=0.5)
