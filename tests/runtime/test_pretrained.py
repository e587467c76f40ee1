"""The pretrained model in the box (``models/speech-commands-12``) loads through the runtime,
verifies against its manifest, and recognises voices it was not trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from speechgru.config import COMMANDS
from speechgru.runtime.manifest import Manifest
from speechgru.runtime.recognizer import Recognizer

MODEL = Path(__file__).resolve().parents[2] / "models" / "speech-commands-12"


def test_the_pretrained_model_is_whole_and_says_what_it_is():
    manifest = Manifest(MODEL)
    assert manifest.data["labels"] == ["_silence_", "_unknown_", *COMMANDS]
    assert 0.5 < manifest.data["operating_point"]["threshold"] < 1.0
    for name in ("float32.tflite", "frontend.tflite", "stream_float32.tflite",
                 "stream_int8.tflite", "README.md", "micro/model_data.cc"):
        assert name in manifest.files, name
    card = (MODEL / "README.md").read_text()
    assert "CC BY 4.0" in card and "Measured before the final fit" in card


def test_the_pretrained_model_hears_voices_it_never_heard(synth_dir):
    """The test set's synthetic voices (another seed: other speakers) saying commands and
    other words: top-1 without a threshold, and what the operating point costs and buys
    (measured: 28/30 at 0, 19/30 at its 0.91; 0 of 12 other words taken for a command)."""
    def commands_right(rec):
        paths = [(w, p) for w in ("yes", "no", "stop", "go", "left")
                 for p in sorted((synth_dir / w).glob("*.wav"))[:6]]
        return np.mean([rec.predict_file(p)["label"] == w for w, p in paths])

    assert commands_right(Recognizer(MODEL, threshold=0.0)) >= 0.8
    rec = Recognizer(MODEL)  # at its operating point
    assert commands_right(rec) >= 0.5
    others = [p for w in ("bird", "house", "tree") for p in sorted((synth_dir / w).glob("*.wav"))]
    said = [rec.predict_file(p)["label"] for p in others]
    assert np.mean([s in COMMANDS for s in said]) <= 0.25, said


def test_the_base_in_the_box_is_the_boxs_own_model(synth_dir):
    """``base/`` (what a word of one's own starts from) holds the weights the box was
    exported from: on the same clips, its probabilities (MFCC by librosa, Keras) are the
    exported model's (its own TFLite front end and graph)."""
    from speechgru.features.librosa import mfcc
    from speechgru.run_dir import RunDir
    from speechgru.runtime.recognizer import read_clip
    from speechgru.training.base import default_base, load_base

    base = default_base()
    assert base == MODEL / "base"
    labels, model = load_base(base)
    assert labels == Manifest(MODEL).data["labels"]
    features = RunDir(base).config().features
    rec = Recognizer(MODEL, threshold=0.0)
    paths = [sorted((synth_dir / w).glob("*.wav"))[0] for w in ("yes", "stop", "bird")]
    feats = np.stack([mfcc(read_clip(p, features.sample_rate, features.clip_samples), features)
                      for p in paths])
    got = np.stack([rec.probabilities(rec._features(read_clip(p, rec.sample_rate,
                                                                rec.num_samples)))
                    for p in paths])
    np.testing.assert_allclose(np.asarray(model(feats, training=False)), got, atol=2e-3)


def test_the_second_look_hears_a_word_said_alone(synth_dir):
    """A command said alone, silence around it (a quiet room, or a clip padded in a file),
    the whole recording fed at once: the box's second look keeps most of what its
    streaming model proposes there at the settings chosen with it (a listener that lost
    the frames of a long block kept 1 of 22 here; measured: 22 of 22)."""
    from speechgru.audio import load_clip
    from speechgru.runtime.listener import Listener

    rng = np.random.default_rng(0)
    parts, spans, at = [], [], 0
    for w in ("yes", "no", "stop", "go", "left", "up"):
        for p in sorted((synth_dir / w).glob("*.wav"))[:5]:
            gap = np.zeros(int(rng.uniform(1.2, 2.0) * 16000), np.float32)
            parts += [gap, load_clip(p, sample_rate=16000, num_samples=16000)]
            spans.append((at + len(gap), w))
            at += len(gap) + 16000
    pcm = np.concatenate(parts + [np.zeros(32000, np.float32)])

    def found(lis):
        det = lis.feed(pcm) + lis.flush()
        return sum(any(abs(d["time"] - (s + 8000) / 16000) < 0.75 and d["label"] == w
                       for d in det) for s, w in spans)

    second = Listener(MODEL)
    assert second.verifier is not None
    proposed = found(Listener(MODEL, threshold=second.threshold, smoothing=second.smoothing,
                              verify=False))
    kept = found(second)
    assert proposed >= 10, proposed
    assert kept >= 0.7 * proposed, (kept, proposed)
