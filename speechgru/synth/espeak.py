"""espeak-ng, the offline voice: a thin ctypes wrapper over the libespeak-ng that
``espeakng-loader`` ships, its synthetic speakers (:class:`Voice`), phonemes and homophones,
and :class:`EspeakEngine`, the default engine of :func:`speechgru.synth.synthesize_dataset`
(Kokoro's neural voices are :mod:`speechgru.synth.kokoro`)."""

from __future__ import annotations

import ctypes
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SynthError

ACCENTS = ("en-us", "en", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-gb-x-rp", "en-us-nyc")

# espeak's synth parameters (speak_lib.h: espeak_PARAMETER)
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_SYNC_OUTPUT = 2  # AUDIO_OUTPUT_SYNCHRONOUS
_POS_CHARACTER = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)




@dataclass(frozen=True)
class Voice:
    """One synthetic speaker."""

    accent: str
    variant: str
    pitch: int  # 0..100
    pitch_range: int  # 0..100
    rate: int  # words per minute, 80..450

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}" if self.variant else self.accent

    @property
    def speaker_id(self) -> str:
        key = f"{self.name}|{self.pitch}|{self.pitch_range}|{self.rate}"
        return hashlib.sha1(key.encode()).hexdigest()[:8]


def _data_path() -> Path:
    try:
        import espeakng_loader

        return Path(espeakng_loader.get_data_path())
    except (ImportError, RuntimeError) as exc:
        raise SynthError(f"espeak-ng data not found ({exc}); "
                         "install it with `pip install espeakng-loader`") from None


class Espeak:
    """A thin ctypes wrapper over the libespeak-ng shipped by ``espeakng-loader``.

    espeak-ng keeps global state in the process; use one instance at a time.
    """

    def __init__(self):
        data_path = str(_data_path())
        try:
            import espeakng_loader

            self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as exc:
            raise SynthError(f"cannot load libespeak-ng from espeakng-loader ({exc})") from None
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = lib.espeak_Initialize(_SYNC_OUTPUT, 0, data_path.encode(), 0)
        if self.sample_rate <= 0:
            raise SynthError(f"espeak_Initialize failed with data at {data_path}")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds a pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, _events):
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def speak(self, text: str, voice: Voice) -> np.ndarray:
        """Speak ``text`` with ``voice``; float32 samples at :attr:`sample_rate`."""
        lib = self._lib
        if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise SynthError(f"espeak-ng has no voice {voice.name!r}")
        for param, value in ((_RATE, voice.rate), (_PITCH, voice.pitch),
                             (_RANGE, voice.pitch_range), (_VOLUME, 100)):
            lib.espeak_SetParameter(param, int(value), 0)
        self._chunks = []
        raw = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, 0, None, None)
        if err != 0 or not self._chunks:
            raise SynthError(f"espeak-ng failed to speak {text!r} with {voice.name} "
                             f"(error {err})")
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0

    def phonemes(self, text: str, accent: str, *, ipa: bool = False) -> str:
        """espeak's phonemes of ``text`` in ``accent`` (e.g. "know" → ``n'oU``; with
        ``ipa``, the IPA with "^" tying a phoneme's letters: ``nˈo^ʊ``)."""
        lib = self._lib
        if lib.espeak_SetVoiceByName(accent.encode()) != 0:
            raise SynthError(f"espeak-ng has no voice {accent!r}")
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                              ctypes.c_int]
        parts, buf = [], ctypes.c_char_p(text.encode("utf-8"))
        # phonememode: bit 1 IPA, bit 7 a tie (bits 8-23) inside multi-letter phonemes
        mode = 0x02 | 0x80 | (ord("^") << 8) if ipa else 0
        while buf.value:  # one call per clause
            parts.append((lib.espeak_TextToPhonemes(ctypes.byref(buf), 0, mode) or b""
                          ).decode())
        return " ".join(p.strip() for p in parts if p.strip())


def draw_voices(n: int, rng: np.random.Generator, variants: list[str]) -> list[Voice]:
    """``n`` distinct synthetic speakers."""
    voices: dict[str, Voice] = {}
    while len(voices) < n:
        v = Voice(accent=str(rng.choice(ACCENTS)),
                  variant=str(rng.choice(variants)) if rng.random() < 0.85 else "",
                  pitch=int(rng.integers(15, 90)), pitch_range=int(rng.integers(10, 90)),
                  rate=int(rng.integers(110, 260)))
        voices.setdefault(v.speaker_id, v)
    return list(voices.values())


def _speak_all(jobs: list[tuple[str, Voice]]) -> tuple[int, list[np.ndarray]]:
    engine = Espeak()
    engine._lib.espeak_ng_SetRandSeed(1)
    return engine.sample_rate, [engine.speak(text, voice) for text, voice in jobs]


def _phonemes_all(texts: list[str]) -> dict[str, set[str]]:
    engine = Espeak()
    unstressed = str.maketrans("", "", "',")  # "to" is tu: and "two" t'u:
    return {t: {engine.phonemes(t, a).translate(unstressed) for a in ACCENTS} for t in texts}


def homophones(words: tuple[str, ...], others: tuple[str, ...]) -> list[str]:
    """The ``others`` that espeak says as one of ``words`` in some accent, stress aside
    ("know" and "no", "write" and "right", "to" and "two"): spoken as negatives they would teach
    the model to reject its own words, and push the operating point up to reject them."""
    said = _in_fresh_process(_phonemes_all, list(dict.fromkeys((*words, *others))))
    return [o for o in others if any(said[o] & said[w] for w in words)]


def speak_fresh(jobs: list[tuple[str, Voice]]) -> tuple[int, list[np.ndarray]]:
    """Speak every ``(text, voice)`` job in a new process.

    espeak-ng keeps hidden state from one utterance to the next (measured: the same word
    with the same voice comes out a few samples longer or shorter on a second call, even
    after ``espeak_Terminate``/``espeak_Initialize``), but a fresh process given the same
    sequence of jobs produces the same samples. So the whole sequence runs in a child.
    """
    return _in_fresh_process(_speak_all, jobs)


def _in_fresh_process(fn, *args):
    """``fn(*args)`` in a new (spawned) process: espeak-ng's state stays out of this one."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            return pool.submit(fn, *args).result()
    except BrokenProcessPool:
        raise SynthError("espeak-ng crashed in its child process") from None


class EspeakEngine:
    """espeak-ng as a :func:`synthesize_dataset` engine (the default: offline, fast)."""

    label = "espeak-ng"
    speaks_babble = True  # fast enough to speak the babble noise's words as well

    def key(self) -> str:
        return ""

    def draw_voices(self, n: int, rng: np.random.Generator) -> list[Voice]:
        variants = sorted(p.name for p in (_data_path() / "voices" / "!v").iterdir())
        return draw_voices(n, rng, variants)

    def homophones(self, words: tuple[str, ...], others: tuple[str, ...]) -> list[str]:
        return homophones(words, others)

    def speak(self, jobs: list[tuple[str, Voice]]) -> tuple[int, list[np.ndarray]]:
        return speak_fresh(jobs)
