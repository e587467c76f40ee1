"""Runs inside a virtual environment that has only MediaPipe (made by test_mediapipe.py): the
client a phone developer uses, given nothing but the ``.tflite`` file.

    python mediapipe_runner.py JOB.json

JOB: ``{"model": PATH, "clips": NPZ, "mode": "clips" | "stream", "score_threshold":
float | null, "chunk": samples per call (stream)}``. NPZ holds ``x_<i>`` (float32 samples)
and ``sr``. Prints one JSON object: per clip (or per stream window) the categories MediaPipe
returned, as ``[[name, score], ...]`` best first, with the window's timestamp in stream mode.
"""

import json
import sys

import numpy as np
from mediapipe.tasks.python import audio
from mediapipe.tasks.python.components.containers.audio_data import AudioData
from mediapipe.tasks.python.core.base_options import BaseOptions


def categories(result) -> list:
    cats = result.classifications[0].categories
    return [[c.category_name, float(c.score)] for c in cats]


def main() -> None:
    job = json.loads(open(sys.argv[1]).read())
    data = np.load(job["clips"])
    sr = int(data["sr"])
    clips = [data[f"x_{i}"] for i in range(len(data.files) - 1)]
    base = BaseOptions(model_asset_path=job["model"])
    out = {"windows": []}
    if job["mode"] == "clips":
        opts = audio.AudioClassifierOptions(base_options=base, max_results=-1,
                                            score_threshold=job.get("score_threshold"))
        with audio.AudioClassifier.create_from_options(opts) as c:
            for x in clips:
                results = c.classify(AudioData.create_from_array(x.astype(np.float64), sr))
                out["windows"].append([categories(r) for r in results])
    else:
        got = []

        def on_result(result, timestamp_ms):
            got.append([timestamp_ms, categories(result)])

        opts = audio.AudioClassifierOptions(
            base_options=base, running_mode=audio.RunningMode.AUDIO_STREAM, max_results=3,
            score_threshold=job.get("score_threshold"), result_callback=on_result)
        x, chunk = clips[0], int(job["chunk"])
        with audio.AudioClassifier.create_from_options(opts) as c:
            for start in range(0, len(x), chunk):
                piece = x[start:start + chunk].astype(np.float64)
                c.classify_async(AudioData.create_from_array(piece, sr),
                                 int(round(1000 * start / sr)))
        out["windows"] = got
    print(json.dumps(out))


if __name__ == "__main__":
    main()
