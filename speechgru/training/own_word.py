"""A word of one's own without recording it: ``speechgru train --words alexa`` with no
``--data``.

The word's takes are synthetic (espeak-ng's voices and, when installed, Kokoro's neural
ones); its other words are the recipe's synthetic other words and near-misses, Kokoro saying
the commands and the usual other words in the same voices, and every real folder given
(``--data``: recordings of other words; ``--talk``: continuous speech, which also sets the
operating point live). The run starts from a base that already knows real voices (the model
in the box's run, :mod:`.base`), so a few epochs suffice. :func:`own_word_config` is that
recipe; :func:`check_words` refuses what cannot be a word of one's own.
"""

from __future__ import annotations

from pathlib import Path

from ..config import COMMANDS, FeatureConfig, ModelConfig, RunConfig, TrainConfig
from ..errors import ConfigError

#: a phrase is said within one clip (one second): this many words at most
MAX_PHRASE_WORDS = 4
#: the recipe: Kokoro's takes of the word, epochs from a base and from random weights
KOKORO_PER_WORD = 100
EPOCHS_FROM_BASE = 20
EPOCHS_FROM_SCRATCH = 40
LEARNING_RATE_FROM_BASE = 1e-3
#: the share of clips heard band-limited (as 8 kHz audio): real takes by phones and cheap
#: microphones (docs/own-word.md: +7 to +10 points of real takes recognised, two words)
BAND_LIMIT = 0.3


def check_words(words: tuple[str, ...]) -> None:
    """A ConfigError naming the first word that cannot be trained from synthetic voices: a
    phrase longer than :data:`MAX_PHRASE_WORDS` words, one said as another of the list
    ("lights_on" and "lights-on"), one with no letter to say, or only commands (trained
    on real recordings)."""
    said: dict[str, str] = {}
    for w in words:
        parts = w.replace("_", " ").replace("-", " ").split()
        if not any(ch.isalpha() for ch in w):
            raise ConfigError(f"--words {w!r}: nothing to pronounce (no letter); spell the "
                              "word as it is said, e.g. seven for 7")
        if len(parts) > MAX_PHRASE_WORDS:
            raise ConfigError(f"--words {w!r}: a phrase of {len(parts)} words; a clip lasts "
                              f"one second, so at most {MAX_PHRASE_WORDS} words")
        key = " ".join(parts).lower()
        if key in said:
            raise ConfigError(f"--words {w!r}: said as {said[key]!r} is; give each word once")
        said[key] = w
    if set(words) <= set(COMMANDS):
        raise ConfigError(f"--words {','.join(words)}: the commands are trained on real "
                          "recordings: give --data DIR (speechgru download)")


def kokoro_missing(model=None, voices=None) -> str | None:
    """Why Kokoro's voices cannot speak here, or None when they can (its model and voices
    are found; the voices are fetched once with npm when missing)."""
    from ..synth import SynthError

    try:
        import misaki  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return "Kokoro is not installed (pip install 'speechgru[tts]')"
    from ..synth.kokoro import load_voices, model_path

    try:
        model_path(model)
        load_voices(voices)
    except SynthError as exc:
        return str(exc)
    return None


def own_word_config(words: tuple[str, ...], *, base: str | Path | None, kokoro: bool,
                    config: RunConfig | None = None, epochs: int | None = None,
                    seed: int | None = None, say: tuple[str, ...] = ()) -> RunConfig:
    """The recipe of a word of one's own: ``base`` (a finished run, or None: random
    weights), Kokoro's takes when ``kokoro``; ``config`` (a user's ``--config``) keeps its
    train settings but takes the base's features and model; ``say``: ``WORD=TEXT`` entries
    (how a word is said, ``train.say``)."""
    from .base import base_run

    check_words(words)
    if base is not None:
        have = base_run(base).config()
        features, model = have.features, have.model
    elif config is not None:
        features, model = config.features, config.model
    else:
        features, model = FeatureConfig(), ModelConfig()
    train = {"words": words, "kokoro_per_word": KOKORO_PER_WORD if kokoro else 0,
             "kokoro_vocabulary": 0, "band_limit": BAND_LIMIT,
             "epochs": EPOCHS_FROM_BASE if base is not None else EPOCHS_FROM_SCRATCH,
             "base": str(base_run(base).path.absolute()) if base is not None else ""}
    if base is not None:
        train["learning_rate"] = LEARNING_RATE_FROM_BASE
    if config is not None:  # the user's settings win, but not over words and base
        given = config.train.to_dict()
        defaults = TrainConfig().to_dict()
        train = {**train, **{k: v for k, v in given.items()
                             if v != defaults[k] and k not in ("words", "base")}}
    if epochs is not None:
        train["epochs"] = epochs
    if seed is not None:
        train["seed"] = seed
    if say:
        train["say"] = say
    tc = TrainConfig.from_dict({**TrainConfig().to_dict(), **train}, source="own word")
    return RunConfig(features, model, tc)
