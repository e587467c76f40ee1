"""Offline synthetic speech: datasets of words said by synthetic voices (no network).

The voices are engines: espeak-ng (:mod:`.espeak`, the default) and Kokoro-82M's neural
voices (:mod:`.kokoro`). ``synthesize_dataset(out_dir, per_word=N, seed=S)`` writes a
Speech Commands–layout dataset:
one folder per command word, one per "other" word (mapped to ``_unknown_`` when read), and
``_background_noise_/`` with long noise recordings. A synthetic *speaker* is one draw of
(accent, voice variant, pitch, pitch range, rate); file names follow Speech Commands,
``<speaker>_nohash_<n>.wav``, so speaker-disjoint splits work as on real data.
Everything is decided by ``seed``: the same seed writes the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import fit_to_length, resample
from ..config import COMMANDS
from ..errors import SynthError
from ..utils import atomic_write_bytes, cache_root
from .espeak import EspeakEngine

__all__ = ["EspeakEngine", "SynthError"]  # (the engine and the error, for importers)

#: Speech Commands' own non-command words, plus near-misses of the commands
#: (so a model learns to reject "yet" as well as "bird"); never a homophone of one
#: ("know" is "no" to espeak, phoneme for phoneme: see :func:`.espeak.homophones`).
OTHER_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward", "four",
    "happy", "house", "learn", "marvin", "nine", "one", "seven", "sheila", "six", "three",
    "tree", "two", "visual", "wow", "zero",
    "yet", "yellow", "note", "now", "cup", "town", "leftover", "light",
    "own", "of", "often", "stock", "top", "goal", "ghost", "dog house", "hello", "okay",
)
#: Many more everyday words, for ``extra_words=True``: a model that has heard only a few
#: dozen non-commands accepts too many of the words it has not heard.
MORE_OTHER_WORDS = (
    "yeah", "yesterday", "yell", "mess", "nose", "nope", "snow", "new", "nut",
    "cap", "pup", "upper", "dawn", "clown", "round", "sound", "brown", "lift", "loft",
    "lived", "letter", "bright", "ride", "fight", "wrong", "rye", "in", "an", "am", "one more",
    "onion", "honest", "art", "oft", "cough", "scoff", "stone", "stack", "step", "stuck",
    "shop", "ago", "gold", "grow", "coat", "boat", "open", "close", "start", "pause", "play",
    "music", "volume", "quiet", "loud", "again", "maybe", "sorry", "please", "thanks",
    "water", "coffee", "morning", "evening", "today", "tomorrow", "apple", "banana", "paper",
    "window", "table", "chair", "kitchen", "garden", "river", "mountain", "phone", "computer",
    "doctor", "teacher", "money", "number", "picture", "question", "answer", "really",
    "always", "never", "little", "bigger", "small", "green", "blue", "red", "white", "black",
    "orange", "purple", "good", "bad", "fine", "great", "nice", "first", "second", "last",
    "ten", "twenty", "hundred", "morning glory", "wonderful", "seventy", "button", "turn",
    "switch", "lights", "camera", "robot", "engine", "forward march", "backward step",
    "what", "where", "when", "why", "who", "how", "this", "that", "there", "here",
)
def colored_noise(n: int, rng: np.random.Generator, color: str) -> np.ndarray:
    """Unit-RMS noise with a 1/f^alpha spectrum (white, pink, brown) or mains hum."""
    if color == "hum":
        t = np.arange(n) / 16000.0
        f0 = rng.choice([50.0, 60.0])
        y = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k
                for k in range(1, 8))
        y = y + 0.3 * rng.standard_normal(n)
    else:
        alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[color]
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n)
        f[0] = f[1]
        y = np.fft.irfft(spec / f ** (alpha / 2), n)
    y = y - y.mean()
    return (y / (np.sqrt(np.mean(y ** 2)) + 1e-12)).astype(np.float32)


def _write_wav(path: Path, y: np.ndarray, sr: int) -> None:
    import io

    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    atomic_write_bytes(path, buf.getvalue())


def _place(speech: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Put speech at a random position in ``n`` samples (cropped if longer)."""
    # trim espeak's leading/trailing silence
    loud = np.flatnonzero(np.abs(speech) > 0.01 * (np.abs(speech).max() + 1e-9))
    if len(loud):
        speech = speech[loud[0]:loud[-1] + 1]
    if len(speech) >= n:
        return fit_to_length(speech, n)
    out = np.zeros(n, np.float32)
    start = int(rng.integers(0, n - len(speech) + 1))
    out[start:start + len(speech)] = speech
    return out


#: near-misses of each command (its onset or its vowel in another word), spoken as
#: negatives in the same voices as the commands: never a homophone (:func:`.espeak.homophones`)
NEAR_MISSES = {
    "yes": ("yet", "yell", "yeah", "mess", "less", "guess", "yesterday"),
    "no": ("note", "nose", "snow", "new", "nope", "now", "load"),
    "up": ("cup", "pup", "upper", "hop", "us", "app", "oops"),
    "down": ("dawn", "town", "gown", "clown", "round", "done", "dome"),
    "left": ("lift", "loft", "theft", "let", "lent", "laugh", "leaf"),
    "right": ("ride", "bright", "light", "rice", "fight", "white", "rhyme"),
    "on": ("an", "in", "own", "honest", "onion", "odd", "gone"),
    "off": ("of", "oft", "cough", "scoff", "awe", "often", "soft"),
    "stop": ("spot", "shop", "top", "stock", "snow", "smart", "step", "stuck", "stomp"),
    "go": ("goal", "ghost", "gold", "grow", "though", "toe", "ago", "so"),
}


def near_misses(words: tuple[str, ...]) -> tuple[str, ...]:
    """The near-misses of ``words``: :data:`NEAR_MISSES` for a command, else
    :func:`confusable_words`; none of them one of ``words``."""
    spoken = {w.replace("_", " ") for w in words}
    out = [c for w in spoken for c in (NEAR_MISSES.get(w) or confusable_words(w))]
    return tuple(c for c in dict.fromkeys(sorted(out)) if c not in spoken)


def synthesize_dataset(out_dir: str | Path, *, per_word: int = 60, seed: int = 0,
                       words: tuple[str, ...] = COMMANDS,
                       other_words: tuple[str, ...] | None = None, extra_words: bool = False,
                       other_per_word: int | None = None, num_speakers: int | None = None,
                       sample_rate: int = 16000, noise_seconds: float = 30.0,
                       engine=None, vocabulary: tuple[str, ...] = (),
                       vocabulary_per_word: int = 2, say: dict[str, str] | None = None
                       ) -> dict:
    """Write a synthetic Speech Commands–layout dataset into the new or empty folder
    ``out_dir``; returns a summary dict.

    Parameters
    ----------
    per_word : clips per command word.
    other_words : the non-command words (default :data:`OTHER_WORDS`, plus
        :data:`MORE_OTHER_WORDS` with ``extra_words=True``).
    other_per_word : clips per non-command word (default ``max(2, per_word // 3)``).
    num_speakers : synthetic speakers to draw (default ``max(12, per_word)``).
    vocabulary : more non-command words, ``vocabulary_per_word`` clips each (word
        variety: see :func:`speechgru.synth.kokoro.vocabulary`).
    engine : who speaks: :class:`EspeakEngine` (default) or
        :class:`speechgru.synth.kokoro.KokoroEngine`.
    say : how a word is said when not as it is written (word → text, e.g. a name
        respelled: ``{"xiaomi": "shao me"}``); its folder keeps the word.
    """
    if per_word < 1:
        raise SynthError(f"per_word must be >= 1, got {per_word}")
    engine = engine or EspeakEngine()
    out = Path(out_dir)
    if out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise SynthError(f"{out}: exists and is not empty; synth writes only into a new or "
                         "empty folder (it never mixes its clips into a dataset): choose "
                         "another folder")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    voices = engine.draw_voices(num_speakers or max(12, per_word), rng)
    other_n = other_per_word if other_per_word is not None else max(2, per_word // 3)
    if other_words is None:
        other_words = OTHER_WORDS + (MORE_OTHER_WORDS if extra_words else ())
    say = say or {}
    same = set(engine.homophones(tuple(say.get(w, w).replace("_", " ") for w in words),
                                 tuple(dict.fromkeys((*other_words, *vocabulary)))))
    other_words = tuple(w for w in other_words if w not in same)
    vocabulary = tuple(w for w in vocabulary if w not in same and w not in other_words)
    n = int(round(sample_rate * 1.0))
    m = int(noise_seconds * sample_rate)
    # 1. plan every utterance from the seed
    plan = []  # (folder, voice, text)
    for word, count in [(w, per_word) for w in words] + [(w, other_n) for w in other_words] \
            + [(w, vocabulary_per_word) for w in vocabulary]:
        for _ in range(count):
            voice = voices[int(rng.integers(len(voices)))]
            plan.append((word, voice, say.get(word, word) + str(rng.choice(["", ".", "!",
                                                                             "?"]))))
    babble_words = other_words or vocabulary or words
    babble_plan = [(str(rng.choice(babble_words)), voices[int(rng.integers(len(voices)))])
                   for _ in range(int(noise_seconds * 6))]
    if not engine.speaks_babble:  # a slow engine: the babble reuses the plan's other words
        babble_plan = []
    # 2. speak them all
    rate, speech = engine.speak([(t, v) for _, v, t in plan] + babble_plan)
    speech = [resample(s, rate, sample_rate) for s in speech]
    for word in words:  # a word no voice could say is refused before anything is written
        takes = [s for (w, _, _), s in zip(plan, speech, strict=False) if w == word]
        if all(len(s) == 0 or float(np.max(np.abs(s))) < 1e-3 for s in takes):
            if created and not any(out.iterdir()):
                out.rmdir()
            raise SynthError(f"--words {word!r}: every synthetic take of it is silent (the "
                             "voices found nothing to say); spell it as it is said, or "
                             f"respell it: --say {word}=TEXT")
    babble_speech = speech[len(plan):]
    if not babble_plan:
        negatives = {*other_words, *vocabulary}
        pool = [i for i, (word, _, _) in enumerate(plan) if word in negatives] or \
            list(range(len(plan)))
        babble_speech = [speech[pool[int(rng.integers(len(pool)))]]
                         for _ in range(int(noise_seconds * 6))]
    # 3. place, scale, add noise, write
    counts: dict[str, int] = {}
    repeats: dict[tuple[str, str], int] = {}
    for (word, voice, _), s in zip(plan, speech, strict=False):
        y = _place(s, n, rng) * float(10 ** rng.uniform(-1.0, -0.1))
        snr_db = rng.uniform(5.0, 40.0)
        noise = colored_noise(n, rng, str(rng.choice(["white", "pink", "brown", "hum"])))
        rms = np.sqrt(np.mean(y ** 2)) + 1e-9
        y = y + noise * rms / (10 ** (snr_db / 20))
        k = repeats.get((word, voice.speaker_id), 0)
        repeats[(word, voice.speaker_id)] = k + 1
        _write_wav(out / word.replace(" ", "_") / f"{voice.speaker_id}_nohash_{k}.wav", y,
                   sample_rate)
        counts[word] = counts.get(word, 0) + 1
    noise_dir = out / "_background_noise_"
    for color in ("white", "pink", "brown", "hum"):
        y = colored_noise(m, rng, color) * float(10 ** rng.uniform(-1.6, -0.8))
        _write_wav(noise_dir / f"{color}_noise.wav", y, sample_rate)
    # babble: many overlapping words, a speech-like noise
    babble = np.zeros(m, np.float32)
    for s in babble_speech:
        s = s[:m]
        start = int(rng.integers(0, m - len(s) + 1))
        babble[start:start + len(s)] += s
    babble *= 0.05 / (np.sqrt(np.mean(babble ** 2)) + 1e-9)
    _write_wav(noise_dir / "babble.wav", babble, sample_rate)
    (out / "README.txt").write_text(
        f"{_README_HEAD} ({engine.label}), seed={seed}, "
        f"per_word={per_word}, {len(voices)} synthetic speakers.\n")
    return {"out_dir": str(out), "clips": sum(counts.values()), "speakers": len(voices),
            "words": counts, "noise_files": 5, "homophones_left_out": sorted(same),
            "engine": engine.label}


_README_HEAD = "Synthetic speech commands made by speechgru.synth"


def is_synthetic(data_dir: str | Path) -> bool:
    """True for a folder :func:`synthesize_dataset` wrote (its README says so)."""
    try:
        with open(Path(data_dir) / "README.txt", encoding="utf-8", errors="replace") as f:
            return f.read(len(_README_HEAD)) == _README_HEAD
    except OSError:
        return False


_CONSONANT_SWAPS = {"b": "pd", "p": "bt", "d": "tb", "t": "dp", "g": "kd", "k": "gt",
                    "m": "nb", "n": "md", "l": "rw", "r": "lw", "s": "zf", "z": "sv",
                    "f": "vs", "v": "fb", "h": "f", "j": "ch", "w": "rv", "y": "j",
                    "c": "gt", "q": "k", "x": "s"}
_VOWEL_SWAPS = {"a": "e", "e": "i", "i": "a", "o": "u", "u": "o"}


def confusable_words(word: str) -> list[str]:
    """Near-misses of a custom keyword, spoken as negatives: for a phrase, each of its
    words and each shorter start of it ("lights on" → "lights", "on"); for one word, the
    first consonant swapped for a similar one, the first vowel changed, and its first
    half ("marvin" → "barvin", "darvin", "mervin", "mar")."""
    words = word.replace("_", " ").split()
    if len(words) > 1:
        out = list(dict.fromkeys(words + [" ".join(words[:k]) for k in range(2, len(words))]))
        return [w for w in out if w != " ".join(words)]
    w = words[0].lower()
    out = []
    first = next((i for i, ch in enumerate(w) if ch in _CONSONANT_SWAPS), None)
    if first is not None:
        out += [w[:first] + c + w[first + 1:] for c in _CONSONANT_SWAPS[w[first]]
                if len(c) == 1][:2]
    vowel = next((i for i, ch in enumerate(w) if ch in _VOWEL_SWAPS), None)
    if vowel is not None:
        out.append(w[:vowel] + _VOWEL_SWAPS[w[vowel]] + w[vowel + 1:])
    if len(w) >= 4:
        out.append(w[:(len(w) + 1) // 2])
    return [c for c in dict.fromkeys(out) if c != w]


def recipe_synth(words: tuple[str, ...], per_word: int, seed: int, *,
                 log=print, engine: str = "espeak", speakers: int | None = None,
                 other_per_word: int | None = None, kokoro_model: str | Path | None = None,
                 kokoro_voices: str | Path | None = None, vocabulary: int = 0,
                 others: bool = True, say: dict[str, str] | None = None,
                 progress: bool = True) -> Path:
    """The recipe's synthetic speech for ``words`` and, as negatives, the usual non-command
    words and near-misses, never one of ``words``: made once, offline, into
    :func:`cache_root`/``synth/<key>`` and reused; the key hashes everything that decides
    its bytes.

    ``engine="espeak"``: the near-misses of every custom word (:func:`confusable_words`;
    :data:`OTHER_WORDS` hold the commands'). ``engine="kokoro"``: Kokoro's neural voices
    (``speakers`` of them, :mod:`speechgru.synth.kokoro`), saying the words, the usual
    non-command words and every word's near-misses (:func:`near_misses`) in the same
    voices, so that a neural voice is no clue to a command. With ``vocabulary`` (Kokoro
    only) the set holds instead that many more words drawn from misaki's lexicon
    (:func:`.kokoro.vocabulary`), two clips each, said by the same speakers as the set
    without it (a set of its own: the commands' set is made and cached once either way).
    With ``others=False`` the set holds the words and their near-misses only (a new word's
    own set, beside the commands' set that holds the usual other words: see
    :func:`speechgru.training.data.with_recipe_synth`). ``say``: how a word is said when not
    as it is written (word → text; its near-misses are the text's).
    """
    from ..utils import owned_tempdir, publish_tree

    spoken = tuple(w.replace("_", " ") for w in words)
    said = {w.replace("_", " "): t for w, t in (say or {}).items()}  # by the spoken word
    heard = tuple(said.get(w, w) for w in spoken)  # what is said
    if engine == "kokoro":
        from .kokoro import KokoroEngine

        speaker = KokoroEngine(model=kokoro_model, voices=kokoro_voices, progress=progress)
        near = list(near_misses(heard))
    elif vocabulary:
        raise SynthError("more words (vocabulary) are spoken by Kokoro only: engine kokoro")
    elif engine == "espeak":
        speaker = EspeakEngine()
        near = [c for w in heard if w not in COMMANDS for c in confusable_words(w)]
    else:
        raise SynthError(f"unknown synthesis engine {engine!r}: espeak or kokoro")
    usual = OTHER_WORDS if others else ()
    others = tuple(w for w in dict.fromkeys((*usual, *near)) if w not in (*spoken, *heard))
    what = (_README_HEAD, spoken, others, per_word, seed)
    if said:  # (keys of sets made without it are what they were)
        what += (tuple(sorted(said.items())),)
    vocab, name = (), f"{per_word}x{seed}"
    if engine != "espeak":  # (the espeak key is what it always was)
        what += (speaker.key(), speakers, other_per_word)
    if vocabulary:
        from .kokoro import vocabulary as draw_vocabulary

        vocab = draw_vocabulary(speaker.lexicon, heard, vocabulary, seed, exclude=others)
        what += (vocab,)
        spoken, others, name = (), (), f"vocabulary{vocabulary}x{seed}"
    key = hashlib.sha1(repr(what).encode()).hexdigest()[:12]
    out = cache_root() / "synth" / f"{engine + '-' if engine != 'espeak' else ''}{name}-{key}"
    if is_synthetic(out):
        return out
    log(f"making the recipe's synthetic speech ({speaker.label}, "
        f"{f'{vocabulary} more words' if vocabulary else f'{per_word} per word'}, once): {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with owned_tempdir(out.parent, out.name) as tmp:
        # a phrase "lights_on" is spoken "lights on" and written to lights_on/
        synthesize_dataset(tmp, per_word=per_word, seed=seed, words=spoken, other_words=others,
                           say=said,
                           num_speakers=speakers, other_per_word=other_per_word,
                           engine=speaker, vocabulary=vocab)
        publish_tree(tmp)
        if is_synthetic(out):  # another process made it meanwhile
            return out
        if out.exists():
            raise SynthError(f"{out}: exists and is not a synthetic set of speechgru; move "
                             "it away (speechgru does not delete what it did not make)")
        tmp.rename(out)
    return out


def long_recording(data_dir: str | Path, out_wav: str | Path, *,
                   words: tuple[str, ...] = ("yes", "stop", "go"), seconds: float = 20.0,
                   seed: int = 0, split: str = "test", noise_level: float = 0.001,
                   force: bool = False) -> list:
    """A long recording for ``speechgru listen``: quiet background noise with one clip of each
    of ``words`` (from ``split`` of the dataset in ``data_dir``) at evenly spread times.

    Writes ``out_wav`` and, beside it, ``<name>.json`` with the truth: each word and the
    time (s) of the centre of its spoken part (an existing file is replaced only with
    ``force``). Returns that list.
    """
    import json

    from ..audio import load_clip
    from ..data.layouts import scan_dataset

    if not np.isfinite(seconds) or not 0 < seconds <= 24 * 3600:
        raise SynthError(f"--seconds {seconds}: must be a number of seconds in (0, 86400]")
    if len(words) * 2.0 > seconds:
        raise SynthError(f"{seconds} s is too short for {len(words)} words (2 s each)")
    out_wav = Path(out_wav)
    for path in (out_wav, out_wav.with_suffix(".json")):
        if not force and (path.exists() or path.is_symlink()):
            raise SynthError(f"{path} exists; choose another name or pass --force to "
                             "replace it")
    rng = np.random.default_rng(seed)
    ds = scan_dataset(data_dir)
    sr = 16000
    n = int(seconds * sr)
    # the dataset's own background noise when it has some (what its silence class is
    # made of), else white noise; scaled to an RMS of noise_level
    bed = rng.standard_normal(n)
    if ds.noise_files:
        from ..audio import read_audio

        y, _ = read_audio(ds.noise_files[int(rng.integers(len(ds.noise_files)))])
        if len(y):
            bed = np.resize(y, n)  # repeated when shorter
    rec = (noise_level * bed / (np.sqrt(np.mean(bed ** 2)) + 1e-12)).astype(np.float32)
    truth = []
    slot = seconds / len(words)
    for i, word in enumerate(words):
        clips = [c for c in ds.select(split) if c.label == word] or \
            [c for c in ds.clips if c.label == word]
        if not clips:
            raise SynthError(f"{data_dir}: no clip of {word!r}")
        y = load_clip(clips[int(rng.integers(len(clips)))].path, sample_rate=sr,
                      num_samples=sr)
        start = int((i * slot + rng.uniform(0.5, max(0.5, slot - 1.5))) * sr)
        rec[start:start + sr] += y
        loud = np.flatnonzero(np.abs(y) > 0.1 * (np.abs(y).max() + 1e-9))
        centre = (loud[0] + loud[-1]) / 2 if len(loud) else sr / 2
        truth.append({"word": word, "time": round(float(start + centre) / sr, 3)})
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out_wav), np.clip(rec, -1, 1), sr, subtype="PCM_16")
    out_wav.with_suffix(".json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth
