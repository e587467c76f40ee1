"""``speechgru web MODEL_DIR``: a static page that listens to the microphone in a browser.

The page runs the export's ``wave_float32.tflite`` (raw samples in, the MFCC and the GRU
inside, TFLite Model Metadata on it) with MediaPipe Tasks' ``AudioClassifier`` for the web
(the npm package ``@mediapipe/tasks-audio``: its JavaScript bundle and WASM files are copied
beside the page, so nothing is fetched from elsewhere when it runs), and decides as
``speechgru listen`` does (windows every quarter window, ``smoothing`` windows averaged, the
operating point, the suppression time). Served on localhost by ``--serve`` (a microphone
needs a secure origin; ``localhost`` is one).

Written like an export: built in a hidden folder beside ``--out`` and renamed into place;
an existing ``--out`` is replaced only with ``--force`` and only when it is a page this
command wrote (``page.json`` says so) holding nothing else.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from ..errors import ConfigError, ExportError
from ..utils import atomic_write_text, owned_tempdir, publish_tree

TASKS_AUDIO = "@mediapipe/tasks-audio"
TASKS_AUDIO_VERSION = "1.0.1"
PAGE_FORMAT = "speechgru-web"
ASSETS = Path(__file__).resolve().parent
MODEL = "wave_float32.tflite"
_NEEDED = ("audio_bundle.mjs", "wasm/audio_wasm_internal.js",
           "wasm/audio_wasm_internal.wasm", "wasm/audio_wasm_nosimd_internal.js",
           "wasm/audio_wasm_nosimd_internal.wasm")


def _is_tasks_audio(folder: Path) -> bool:
    try:
        meta = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("name") == TASKS_AUDIO and all(
        (folder / f).is_file() for f in _NEEDED)


def tasks_audio(given: str | Path | None = None, *, install: bool = True) -> Path:
    """The folder of the npm package ``@mediapipe/tasks-audio``: ``given``, else the one
    in speechgru's cache (installed there with npm the first time)."""
    if given is not None:
        folder = Path(given)
        if not _is_tasks_audio(folder):
            raise ConfigError(f"{folder}: not the npm package {TASKS_AUDIO} (needs "
                              f"package.json and {', '.join(_NEEDED)})")
        return folder
    from ..utils import cache_root

    prefix = cache_root() / "npm"
    folder = prefix / "node_modules" / "@mediapipe" / "tasks-audio"
    if _is_tasks_audio(folder):
        return folder
    npm = shutil.which("npm")
    if not install or npm is None:
        raise ConfigError(f"the page needs the npm package {TASKS_AUDIO}@{TASKS_AUDIO_VERSION}"
                          " (MediaPipe's web client): install Node.js's npm and run again, or "
                          f"pass --tasks-audio DIR (a copy of node_modules/{TASKS_AUDIO})")
    prefix.mkdir(parents=True, exist_ok=True)
    print(f"installing {TASKS_AUDIO}@{TASKS_AUDIO_VERSION} into {prefix} (once)…", flush=True)
    try:
        r = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                            "--loglevel=error", f"{TASKS_AUDIO}@{TASKS_AUDIO_VERSION}"],
                           capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"npm install {TASKS_AUDIO} did not finish in 600 s") from None
    if r.returncode != 0 or not _is_tasks_audio(folder):
        why = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"npm install {TASKS_AUDIO}@{TASKS_AUDIO_VERSION} failed ({why}); "
                          "pass --tasks-audio DIR instead")
    return folder


def _check_out(out: Path, force: bool) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if not force:
        raise ConfigError(f"{out} exists; pass --force to replace it (a page written by "
                          "speechgru web only)")
    expected = {"index.html", "app.js", "page.json", "model.tflite", "mediapipe"}
    try:
        meta = json.loads((out / "page.json").read_text(encoding="utf-8"))
        ours = (not out.is_symlink() and isinstance(meta, dict)
                and meta.get("format") == PAGE_FORMAT
                and {p.name for p in out.iterdir()} <= expected)
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise ConfigError(f"{out}: exists and is not a page written by speechgru web (or "
                          "holds files of yours); --force replaces only those: choose another "
                          "--out")


def write_page(model_dir: str | Path, out: str | Path, *, tasks_audio_dir: str | Path | None
               = None, force: bool = False, smoothing: int | None = None,
               suppression_ms: float = 1000.0, phases: int = 4,
               threshold: float | None = None) -> dict:
    """Write the page for the exported model in ``model_dir`` into ``out``; returns its
    settings (``page.json``)."""
    from ..export.metadata import read_metadata
    from ..export.variants import _swap_in
    from ..runtime.listener import check_decision
    from ..runtime.recognizer import DEFAULT_THRESHOLD, _read_model_dir

    model_dir, out = Path(model_dir), Path(out)
    manifest, features, labels = _read_model_dir(model_dir)
    if not manifest.has(MODEL):
        raise ExportError(f"{model_dir / MODEL}: missing; the page runs the raw-audio model: "
                          f"export with it (speechgru export RUN --variants ...,wave_float32)")
    model = manifest.verify(MODEL).read_bytes()
    md = read_metadata(model)
    if md is None or md.get("sample_rate") != features.sample_rate:
        raise ExportError(f"{model_dir / MODEL}: has no TFLite Model Metadata for MediaPipe "
                          "(exported by an older speechgru): export the run again")
    if smoothing is None:  # the operating point's when it was chosen live, else 2
        smoothing = manifest.smoothing or 2
    if not 1 <= phases <= features.num_frames:
        raise ConfigError(f"phases must be in 1..{features.num_frames}, got {phases}")
    if threshold is None:
        threshold = manifest.threshold or DEFAULT_THRESHOLD
    check_decision(threshold, smoothing, suppression_ms)  # as listen checks them
    _check_out(out, force)
    client = tasks_audio(tasks_audio_dir)
    version = json.loads((client / "package.json").read_text())["version"]
    settings = {"format": PAGE_FORMAT, "model": model_dir.resolve().name, "labels": labels,
                "sample_rate": features.sample_rate, "window_seconds": features.clip_seconds,
                "threshold": float(threshold), "smoothing": smoothing,
                "suppression_ms": float(suppression_ms), "phases": phases,
                "model_sha256": hashlib.sha256(model).hexdigest(),
                "client": f"{TASKS_AUDIO}@{version}"}
    with owned_tempdir(out.parent, out.name) as tmp:
        for name in ("index.html", "app.js"):
            shutil.copy(ASSETS / name, tmp / name)
        (tmp / "model.tflite").write_bytes(model)
        for f in _NEEDED:
            (tmp / "mediapipe" / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(client / f, tmp / "mediapipe" / f)
        atomic_write_text(tmp / "page.json", json.dumps(settings, indent=1) + "\n")
        publish_tree(tmp)
        _swap_in(tmp, out)
    return settings


def serve(folder: str | Path, port: int = 8000, host: str = "127.0.0.1", *, ready=None):
    """Serve ``folder`` over HTTP on ``host:port`` until interrupted (``ready(url)`` is called
    once it listens)."""
    import functools
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                          ".wasm": "application/wasm", ".mjs": "text/javascript",
                          ".js": "text/javascript", ".tflite": "application/octet-stream"}

        def log_message(self, *args):  # quiet: the page is the output
            pass

    handler = functools.partial(Handler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port} ({exc.strerror or exc}); "
                          "choose another --port") from None
    url = f"http://{'localhost' if host in ('127.0.0.1', 'localhost') else host}:" \
          f"{server.server_address[1]}/"
    if ready is not None:
        ready(url)
    with server:
        server.serve_forever()
