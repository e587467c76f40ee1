"""The model card: ``README.md`` in every exported model directory.

What the model hears and answers, its operating point, the accuracy measured on the run's
own held-out clips (never a promise), the export's sizes, parity and latency, the
operators each TFLite file needs, and how to run it on a computer, a phone, a board and a
microcontroller. Written from the export report and the run directory only.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import SILENCE, UNKNOWN, RunConfig
from ..errors import ConfigError
from ..utils import native_stderr_hidden

#: Licences of the datasets speechgru knows, by a piece of the folder name.
KNOWN_DATA = {
    "speech_commands": "Speech Commands (P. Warden, 2018, arXiv:1804.03209), CC BY 4.0 — "
                       "the model was trained on it; credit it when you share the model",
    "fsdd": "Free Spoken Digit Dataset (Z. Jackson et al.), CC BY-SA 4.0",
}
SYNTHETIC = "synthetic speech made offline by speechgru ({} voices)"
#: the noise recordings beside the Speech Commands data here (../shared/data/noise)
#: the continuous speech beside them (../shared/data/continuous_speech)
TALK_NOTE = ("real read sentences (speechocean762, LibriSpeech: CC BY 4.0; LJ Speech: public "
             "domain; see the folder's SOURCE_README.md) — windows of its train speakers' "
             "talk heard as other words")
NOISE_NOTE = ("background recordings (Speech Commands' noise, CC BY 4.0, and recordings "
              "under MIT; see the folder's SOURCE_README.md) — mixed into training audio")


def tflite_ops(path: Path) -> list[str]:
    """The builtin operators of a TFLite file (what a TFLite Micro build must register)."""
    from ai_edge_litert.interpreter import Interpreter

    with native_stderr_hidden():
        interpreter = Interpreter(str(path))
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})


def training_data(run_path: Path) -> list[tuple[str, str | None]]:
    """The run's data folders (``data.json``), each with what is known of it (its licence
    and who to credit), or None."""
    from ..run_dir import RunDir

    try:
        info = RunDir(run_path).data()
    except ConfigError:  # a damaged data.json: the card goes without the list
        info = {}
    sources, noise = info.get("sources", []), info.get("noise", [])
    out = []
    for src in sources:
        name = Path(str(src)).name
        note = next((v for k, v in KNOWN_DATA.items() if k in name.lower()), None)
        if "/synth/" in str(src).replace("\\", "/") or name.startswith("synth"):
            note = SYNTHETIC.format("Kokoro-82M's neural" if "Kokoro" in _readme(src)
                                    else "espeak-ng")
        out.append((name, note))
    for src in noise:
        name = Path(str(src)).name
        out.append((name, NOISE_NOTE if name == "noise" else "background recordings "
                    "mixed into training audio"))
    for src in info.get("talk", []):
        name = Path(str(src)).name
        out.append((name, TALK_NOTE if name == "continuous_speech" else "continuous speech: "
                    "windows of its train speakers' talk heard as other words"))
    if info.get("hard_negatives"):
        out.append(("hard negatives", f"{len(info['hard_negatives'])} file(s) of windows of "
                    "that talk where an earlier round fired (speechgru mine)"))
    return out


def _readme(folder) -> str:
    try:
        with open(Path(str(folder)) / "README.txt", encoding="utf-8", errors="replace") as f:
            return f.read(200)
    except OSError:
        return ""


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _chosen_on(point: dict) -> str:
    """Where the operating point was set, as the card says it."""
    text = str(point.get("chosen_on", "the validation clips"))
    if text.startswith("validation: "):
        text = "the validation split's " + text[len("validation: "):]
    elif text.startswith("validation and "):  # with --threshold-data
        text = "the validation split and " + text[len("validation and "):]
    synthetic = point.get("synthetic_false_accept_rate")
    if synthetic is not None:
        text += (f" (there, {_pct(point.get('false_accept_rate'))} of them and "
                 f"{_pct(synthetic)} of the synthetic near-misses are taken for a command)")
    return text


def _accuracy_lines(run_path: Path) -> list[str]:
    lines = []
    metrics = run_path / "metrics.json"
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        lines.append(f"| validation split (chose the epoch and the operating point) | "
                     f"{m['clips']} | {_pct(m['accuracy'])} | "
                     f"{_pct(m.get('command_recall', float('nan')))} | "
                     f"{_pct(m.get('false_accept_rate', float('nan')))} |")
    for path in sorted((run_path / "eval").glob("*.json")):
        try:
            m = json.loads(path.read_text())
            # the table is at threshold 0; an evaluation's headline is at its threshold
            at0 = next(r for r in m["rejection_curve"] if r["threshold"] == 0.0)
            lines.append(f"| `{m.get('split') or 'all'}` of {Path(str(m['data'])).name} "
                         f"(`speechgru evaluate`) | {m['clips']} | {_pct(m['top1'])} | "
                         f"{_pct(at0['command_recall'])} | {_pct(at0['false_accept_rate'])} |")
        except (ValueError, KeyError, TypeError, StopIteration):
            continue
    return lines


def model_card(report: dict, config: RunConfig, run_path: Path, model_dir: Path,
               name: str) -> str:
    """The card's Markdown text for the model whose files are in ``model_dir`` and whose
    folder will be called ``name``."""
    from .. import __version__

    F, M, labels = config.features, config.model, report["labels"]
    point = report.get("operating_point")
    micro = report.get("micro") or {}
    commands = [w for w in labels if w not in (SILENCE, UNKNOWN)]
    arch = (f"{len(M.conv_filters)} causal convolution(s) ({', '.join(map(str, M.conv_filters))}"
            f" filters, {M.conv_kernel[0]}×{M.conv_kernel[1]}) → " if M.conv_filters else "")
    arch += (f"{'Bi' if M.bidirectional else ''}GRU {' → '.join(map(str, M.units))} "
             f"(speechgru's own cell, {M.convention} convention), {M.pooling} pooling"
             f"{f', dense {M.dense_units}' if M.dense_units else ''} → softmax over "
             f"{len(labels)} labels")
    if M.members > 1:
        arch = (f"an ensemble of {M.members} classifiers trained apart (`speechgru "
                f"ensemble`), each {arch}; the output is the mean of their probabilities")
    out = [f"# {run_path.name}: a keyword spotter for {', '.join(commands)}", "",
           f"Exported by speechgru {__version__} from the run `{run_path.name}`. Every figure "
           "here was measured; none is a promise for other voices, rooms or microphones.",
           "", "## What it hears and answers", "",
           f"- **Labels** (`labels.txt`): {', '.join(f'`{w}`' for w in labels)}. "
           f"`{SILENCE}` is no speech, `{UNKNOWN}` any other word.",
           f"- **Input**: {F.sample_rate} Hz mono, {F.clip_seconds:g} s windows; features "
           f"(`features.json`): {F.n_mfcc} MFCCs every {1000 * F.hop_length / F.sample_rate:g} "
           f"ms ({1000 * F.win_length / F.sample_rate:g} ms {F.window} window, FFT "
           f"{F.n_fft}, {F.n_mels} HTK mel bands {F.fmin:g}–{F.fmax:g} Hz, "
           f"{'dB' if F.log == 'db' else 'natural log'}, orthonormal DCT-II), "
           f"{F.num_frames} frames a window.",
           f"- **Model**: {arch}."]
    if point and point.get("live"):
        from ..metrics import live_found

        live = point["live"]
        out.append(f"- **Operating point**: threshold **{point['threshold']:.2f}**, "
                   f"{point.get('smoothing', 2)} windows averaged — below it the answer is "
                   f"`{UNKNOWN}`. Chosen live at training: {point['chosen_on']}; the "
                   f"setting that finds the most commands with at most "
                   f"{live['max_false_alarms_per_hour']:g} false alarm per hour of talk and "
                   f"{_pct(live['max_other_words'])} of other words firing "
                   f"({'met' if live['met'] else 'not met: the fewest false alarms'}: there "
                   f"{live_found(live)}); `speechgru predict`/`listen` "
                   "use it unless given `--threshold` / `--smoothing`.")
    elif point:
        out.append(f"- **Operating point**: threshold **{point['threshold']:.2f}** — below it "
                   f"the answer is `{UNKNOWN}`. Chosen at training as the lowest threshold taking "
                   f"at most {_pct(point.get('target_false_accept_rate', 0.03))} of the "
                   f"other words for a command, on {_chosen_on(point)}; "
                   "`speechgru predict`/`listen` use it unless given `--threshold`.")
    second = (point or {}).get("verifier")
    entry = report.get("verifier")
    if second and entry and not entry.get("error"):
        alone = second.get("first_stage_alone") or {}
        out.append(
            f"- **Second look**: a verifier (our GRU, {entry['before']:g} s before and "
            f"{entry['after']:g} s after each candidate, `{'`, `'.join(entry['files'].values())}`)"
            f" hears again every command the streaming model proposes at "
            f"{second['threshold']:.2f} ({second['smoothing']} windows averaged) and keeps it "
            f"at **{second['verifier_threshold']:.2f}**; both chosen live on "
            f"{_pct(second['command_recall'])} of {second['commands']} validation commands "
            f"found with {second['false_alarms_per_hour_of_talk']:.1f} false alarms per hour "
            f"of talk (the streaming model alone at its best there: "
            f"{_pct(alone.get('command_recall'))} at "
            f"{alone.get('false_alarms_per_hour_of_talk', 0):.1f})"
            + (f"; of commands said alone in a quiet room {_pct(second['quiet_command_recall'])}"
               f" (alone: {_pct(alone.get('quiet_command_recall'))})"
               if second.get("quiet_command_recall") is not None else "")
            + ". A decision comes "
            f"{entry['after']:g} s after a candidate's centre. `speechgru listen`, "
            "`evaluate-stream` and `predict` on a long file use it (`--no-verify` turns it "
            "off); the MFCC-input, "
            "raw-audio and MediaPipe files and the page are the streaming model alone, at "
            "the operating point above.")
    acc = _accuracy_lines(run_path)
    if acc:
        out += ["", "## Accuracy (12-label top-1 at threshold 0; clips of speakers not "
                "trained on)", "",
                "| clips | n | top-1 | command recall | other words taken for a command |",
                "|---|---|---|---|---|", *acc]
    out += ["", "## Files: size, agreement with the Keras model, speed", "",
            f"Measured on {report['clips']} validation clips at export (Keras accuracy "
            f"{_pct(report['keras_accuracy'])}); ms per call on one CPU thread of the "
            "exporting machine.", "",
            "| file | KiB | max \\|Δ\\| | top-1 agreement | accuracy | ms per call | "
            "operators |", "|---|---|---|---|---|---|---|"]
    models = dict(report["models"])
    for file, r in ((entry or {}).get("models") or {}).items():  # the second look's
        if "error" not in r:
            models[file] = {**r, "latency_ms": r["ms_per_window"], "per": "window"}
    for file, r in models.items():
        if "error" in r:
            continue
        ops = ", ".join(tflite_ops(model_dir / file))
        agree = f"{r['top1_agreement']:.3f}" if "top1_agreement" in r else "–"
        accuracy = _pct(r["accuracy"]) if "accuracy" in r else "–"
        out.append(f"| `{file}` | {r['bytes'] / 1024:.0f} | {r['max_abs_delta']:.1e} | "
                   f"{agree} | {accuracy} | {r['latency_ms']:.3f} {r.get('per', '')} | "
                   f"{ops} |")
    hop_ms = 1000 * F.hop_length / F.sample_rate
    have = {file for file, r in report["models"].items() if "error" not in r}
    out += ["", "## Run it", "",
            "**A computer or a board with Python** (the runtime needs no TensorFlow):", "",
            "```sh", f"speechgru predict {name} clip.wav",
            f"arecord -q -f S16_LE -r {F.sample_rate} -c 1 | speechgru listen "
            f"{name} -", "```", "",
            "**A phone or any LiteRT runtime**: "
            + " ".join(text for file, text in (
                ("float32.tflite", "`float32.tflite`"
                 + (" (or `int8.tflite`)" if "int8.tflite" in have else "")
                 + f" takes one window of MFCCs `(1, {F.num_frames}, {F.num_features})` and "
                 "gives the label probabilities."),
                ("wave_float32.tflite", "`wave_float32.tflite` takes the raw window "
                 f"`(1, {F.clip_samples})`, samples in [-1, 1]."),
                ("stream_float32.tflite", "For a live stream use `stream_float32.tflite`"
                 + (" (or `stream_int8.tflite`)" if "stream_int8.tflite" in have else "")
                 + ": its signature takes `frame` (one MFCC row every "
                 f"{hop_ms:g} ms, from `frontend.tflite`: {F.n_fft} samples in) and every "
                 "`state_i`, and gives `probabilities` and the new `state_i`; feed the "
                 "states back at the next hop. The batch is free (1 in the file): "
                 "speechgru's `listen` resizes it to step four copies in one call, "
                 "staggered by a quarter window, each starting from zero states at its "
                 "window's start (so each finished window equals the whole-window model), "
                 "and averages a few windows before comparing with the threshold. From zero "
                 f"states over a window's {F.num_frames} frames the stream model is the clip "
                 "classifier too: `speechgru predict --variant int8` runs `stream_int8` so."))
                if file in have), "",
            *(_mediapipe_lines(F, point) if "wave_float32.tflite" in have else []),
            "**A microcontroller (TensorFlow Lite for Microcontrollers)**: `micro/` holds "
            f"`{micro.get('model', 'stream_int8.tflite')}` as a C array, the operators to "
            "register, the tensors in call order and the tensor arena"
            + (f" ({micro['arena_bytes']:,} bytes, measured by the TFLM interpreter)"
               if micro.get("arena_bytes") else "")
            + "; keep the states between hops (each output shares its input's quantization: "
            "copy the bytes)."
            + (" It is int8 weights with int16 activations, which TFLM runs exactly as "
               "LiteRT does; on `stream_int8.tflite` the int8 kernels of the two round a "
               "step apart, and 49 steps of int8 state add the steps up."
               if micro.get("model") == "stream_int16.tflite" else "")
            + " `frontend.tflite` needs RFFT2D, which "
            "TFLM does not have: compute the MFCC on the device exactly as `features.json` "
            "says (the reference maths is "
            "`speechgru/features/maths.py`: frame, window, |FFT|², mel, log, DCT).", ""]
    sources = training_data(run_path)
    if sources:
        out += ["## Training data", ""]
        out += [f"- `{name}`" + (f": {note}" if note else "") for name, note in sources]
        out.append("")
    return "\n".join(out)


def _mediapipe_lines(F, point: dict | None) -> list[str]:
    """How MediaPipe Tasks runs ``wave_float32.tflite`` on Android and on the web."""
    thr = f"{point['threshold']:.2f}" if point else "none"
    return [
        "**MediaPipe Tasks (Android, iOS, the web, Python) and Android Studio's model "
        "binding**: `wave_float32.tflite` carries TFLite Model Metadata — audio input at "
        f"{F.sample_rate} Hz, 1 channel, `(1, {F.clip_samples})` float32 samples; "
        "`labels.txt` packed inside as the output's labels; name, description, version, "
        f"author, licence; the operating point ({thr}) as the score threshold, so classes "
        "below it are not returned unless you set `scoreThreshold` (MediaPipe reads "
        "`scoreThreshold` 0 as unset, so the file's threshold applies: to get every score, "
        "pass a tiny one such as 1e-9). Copy that one file; "
        "MediaPipe resamples what you give it to the model's rate. Only this file has "
        "metadata: the MFCC-input models need speechgru's front end, the stream models "
        "carry states between calls, which these clients do not, and TFLite Micro reads no "
        "metadata.", "",
        "```kotlin", "// Android: com.google.mediapipe:tasks-audio",
        "val classifier = AudioClassifier.createFromOptions(context,",
        "    AudioClassifier.AudioClassifierOptions.builder()",
        "        .setBaseOptions(BaseOptions.builder().setModelAssetPath(\"wave_float32.tflite\")"
        ".build())",
        "        .setRunningMode(RunningMode.AUDIO_CLIPS)",
        "        // .setScoreThreshold(1e-9f) for every score: 0 means unset (the file's "
        f"{thr} applies)",
        "        .build())",
        "val audio = AudioData.create(AudioData.AudioDataFormat.builder()",
        f"    .setNumOfChannels(1).setSampleRate({F.sample_rate}f).build(), "
        f"{F.clip_samples})",
        "audio.load(samples)  // FloatArray in [-1, 1]",
        "val best = classifier.classify(audio).classificationResults()[0]",
        "    .classifications()[0].categories().firstOrNull()  // null: below the operating point",
        "```", "",
        "```js", "// the web: npm @mediapipe/tasks-audio (speechgru web writes a whole page)",
        "import { AudioClassifier, FilesetResolver } from \"@mediapipe/tasks-audio\";",
        "const fileset = await FilesetResolver.forAudioTasks(\"./wasm\");",
        "const classifier = await AudioClassifier.createFromModelPath(fileset, "
        "\"wave_float32.tflite\");",
        "// every score: await classifier.setOptions({scoreThreshold: 1e-9}) "
        f"(0 is read as unset: the file's {thr} applies)",
        f"const [result] = classifier.classify(samples, {F.sample_rate});  "
        "// Float32Array, one window",
        "const best = result.classifications[0].categories[0];  // {categoryName, score}",
        "```", ""]


def write_model_card(model_dir: Path, report: dict, config: RunConfig, run_path: Path,
                     name: str) -> Path:
    """Write ``README.md`` into ``model_dir`` (the directory being built; ``name`` is the
    folder name it will have)."""
    from ..utils import atomic_write_text

    path = model_dir / "README.md"
    atomic_write_text(path, model_card(report, config, run_path, model_dir, name))
    return path
