"""Hard negatives: the windows of ordinary talk where a trained model fires, mined to be
heard as ``_unknown_`` by the next round of training.

:func:`mine` runs a run's streaming model (as ``listen`` runs it) over every screened
sentence of the talk's *train* speakers (:mod:`speechgru.data.talk`: the transcript holds
no command word, so every detection there is a false alarm), one sentence at a time, and
keeps the one-second window around each detection at ``threshold`` (lower than the
operating point: the near misses teach too). The file it writes is resumable: sentences
already heard are skipped when it is run again. :func:`read_hard_negatives` reads such a
file back as training clips (``train --hard-negatives FILE``); it refuses windows of
speakers outside the talk's train part, so no round can learn the sentences it is judged
on.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..config import UNKNOWN, read_json
from ..data.layouts import Clip
from ..data.talk import HARD_WORD, SCREENED, read_talk, talk_split
from ..errors import ConfigError, DataError
from ..utils import atomic_write_text

FORMAT = "speechgru-hard-negatives-1"


def read_hard_negatives(path: str | Path) -> list[Clip]:
    """The windows of a hard-negatives file as ``_unknown_`` training clips (word
    ``_hard_``). DataError naming the file for anything else."""
    path = Path(path)
    data = read_json(path, error=DataError) if path.is_file() else None
    if data is None:
        raise DataError(f"{path}: no such hard-negatives file (speechgru mine RUN --talk DIR "
                        "writes one)")
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(
            data.get("windows"), list):
        raise DataError(f"{path}: not a hard-negatives file of speechgru ({FORMAT})")
    out = []
    for i, w in enumerate(data["windows"]):
        try:
            file, speaker = Path(w["file"]), str(w["speaker"])
            offset, seconds = float(w["offset"]), float(w["seconds"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: window {i} is damaged (file, speaker, offset, "
                            "seconds)") from None
        if not (np.isfinite(offset) and offset >= 0 and 0 < seconds <= 10):
            raise DataError(f"{path}: window {i} has offset {offset} / seconds {seconds}")
        if talk_split(speaker) != "train":
            raise DataError(f"{path}: window {i} is talk of speaker {speaker!r}, who is not "
                            "in the talk's train part; hard negatives come from train "
                            "speakers only")
        if not file.is_file():
            raise DataError(f"{path}: window {i} names {file}, which does not exist")
        out.append(Clip(file, UNKNOWN, HARD_WORD, speaker, "train", offset=offset,
                        duration=seconds))
    return out


def mine(run_dir: str | Path, talk_dirs: list[str | Path], out: str | Path | None = None, *,
         threshold: float = 0.5, variant: str = "float32", progress: bool = True,
         save_every: int = 25) -> dict:
    """Mine the hard negatives of a run into ``out`` (default: ``RUN/hard_negatives.json``);
    returns ``{"file", "sentences", "hours", "windows", "per_hour", "new"}``."""
    from tqdm.auto import tqdm

    from ..audio import read_audio, resample
    from ..run_dir import RunDir
    from ..runtime.listener import Listener
    from ..stream_eval import export_stream

    run = RunDir(run_dir)
    if not run.exists():
        raise ConfigError(f"{run_dir}: not a run directory (config.json)")
    if not talk_dirs:
        raise ConfigError("mine needs --talk DIR: the continuous speech to mine")
    if not 0 < threshold < 1:
        raise ConfigError(f"--threshold {threshold}: need 0 < threshold < 1")
    out = Path(out) if out else run / "hard_negatives.json"
    words = run.config().train.words
    sentences = [s for d in talk_dirs for s in read_talk(d, words=words)
                 if s.split == "train" and s.kind == SCREENED]
    if not sentences:
        raise DataError(f"{', '.join(map(str, talk_dirs))}: no screened sentence of the "
                        "talk's train speakers to mine")
    state = {"format": FORMAT, "run": str(run.path.absolute()), "threshold": threshold,
             "variant": variant, "done": [], "seconds": 0.0, "windows": []}
    if out.is_file():  # resume a mining stopped part-way, or add to a finished one
        have = read_json(out, error=DataError)
        if not isinstance(have, dict) or have.get("format") != FORMAT:
            raise DataError(f"{out}: exists and is not a hard-negatives file; choose --out")
        if (have.get("run"), have.get("threshold")) != (state["run"], threshold):
            raise ConfigError(f"{out}: mined from {have.get('run')} at "
                              f"{have.get('threshold')}; choose another --out")
        state = have
    done = set(state["done"])
    todo = [s for s in sentences if str(s.path) not in done]
    before = len(state["windows"])
    with tempfile.TemporaryDirectory(prefix="speechgru-mine-") as tmp:
        model = export_stream(run, Path(tmp) / "model", variant)
        lis = Listener(model, variant, threshold=threshold, smoothing=1, verify=False)
        sr = lis.sample_rate
        for k, s in enumerate(tqdm(todo, desc="mining talk", unit="sentence",
                                   disable=not progress or not sys.stderr.isatty(), leave=False)):
            y, file_sr = read_audio(s.path)
            y = resample(y, file_sr, sr) if file_sr != sr else y
            lis.reset()
            found = lis.feed(np.concatenate([y, np.zeros(sr // 2, np.float32)])) + lis.flush()
            for d in found:
                start = float(np.clip(d["time"] - 0.5, 0.0, max(s.seconds - 1.0, 0.0)))
                state["windows"].append({"file": str(s.path), "speaker": s.speaker,
                                         "offset": round(start, 3), "seconds": 1.0,
                                         "label": d["label"], "p": d["p"]})
            state["done"].append(str(s.path))
            state["seconds"] += len(y) / sr
            if (k + 1) % save_every == 0:
                atomic_write_text(out, json.dumps(state, indent=0))
    atomic_write_text(out, json.dumps(state, indent=0))
    hours = state["seconds"] / 3600
    return {"file": str(out), "sentences": len(state["done"]), "hours": hours,
            "windows": len(state["windows"]), "new": len(state["windows"]) - before,
            "per_hour": len(state["windows"]) / hours if hours else None}
