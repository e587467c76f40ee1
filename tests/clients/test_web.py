"""The web page listens: headless Chromium (the system's, driven by Playwright) with a fake
microphone playing a WAV of known words shows those words, in order; and ``speechgru web``
never replaces a folder it did not write."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow
needs_browser = pytest.mark.skipif(CHROMIUM is None or shutil.which("npm") is None,
                                   reason="needs Chromium and npm (Debian's chromium; Node.js)")


@pytest.fixture(scope="module")
def page(exported, tmp_path_factory):
    if shutil.which("npm") is None:
        pytest.skip("needs npm for @mediapipe/tasks-audio")
    from speechgru.web import write_page

    root, _ = exported
    out = tmp_path_factory.mktemp("web") / "page"
    return out, write_page(root / "model", out)


def _known_words(model_dir: Path, synth_dir: Path, n: int = 3) -> dict:
    """A clip of each of ``n`` words that ``speechgru listen`` hears (alone, between two
    seconds of quiet noise) as that word: the page must hear them as listen does."""
    from speechgru.runtime.listener import Listener

    lis = Listener(model_dir)
    known = {}
    for word in ("yes", "stop", "go", "no", "up", "down"):
        for f in sorted((synth_dir / word).glob("*.wav"))[:8]:
            lis.reset()
            got = lis.feed(_with_noise([f])) + lis.flush()
            if [d["label"] for d in got] == [word]:
                known[word] = f
                break
        if len(known) == n:
            return known
    raise AssertionError(f"listen hears too few words alone: {known}")


def _with_noise(files) -> np.ndarray:
    noise = 0.003 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    parts = [noise, noise]
    for f in files:
        parts += [sf.read(f, dtype="float32")[0], noise, noise]
    return np.concatenate(parts)


@needs_browser
def test_the_page_shows_the_words_heard_by_a_fake_microphone(page, exported, synth_dir,
                                                             tmp_path):
    from playwright.sync_api import sync_playwright

    from speechgru.web import serve

    root, report = exported
    out, settings = page
    assert sorted(p.name for p in out.iterdir()) == [
        "app.js", "index.html", "mediapipe", "model.tflite", "page.json"]
    assert settings["threshold"] == pytest.approx(report["operating_point"]["threshold"])
    known = _known_words(root / "model", synth_dir)
    recording = _with_noise(known.values())
    wav = tmp_path / "words.wav"
    sf.write(wav, recording, 16000, subtype="PCM_16")
    urls: list[str] = []
    threading.Thread(target=serve, args=(out, 0), kwargs={"ready": urls.append},
                     daemon=True).start()
    while not urls:
        time.sleep(0.05)
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop"])
        try:
            tab = browser.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.on("request", lambda r: fetched.append(r.url))
            tab.goto(urls[0])
            tab.wait_for_selector("body[data-ready='1']", timeout=90_000)
            tab.click("#start")
            tab.wait_for_selector("body[data-listening='1']", timeout=30_000)
            deadline = time.time() + len(recording) / 16000 + 20
            heard: list[str] = []
            while time.time() < deadline and len(heard) < len(known):
                time.sleep(0.5)
                heard = tab.eval_on_selector_all("#heard li",
                                                 "els => els.map(e => e.dataset.label)")
            time.sleep(1.0)
            heard = tab.eval_on_selector_all("#heard li",
                                             "els => els.map(e => e.dataset.label)")
            tab.screenshot(path=str(tmp_path / "page.png"))
        finally:
            browser.close()
    assert not errors, errors
    assert heard == list(known), (heard, list(known))
    # nothing fetched from anywhere but the page's own server
    assert fetched and all(u.startswith(urls[0]) or u.startswith("data:") for u in fetched), \
        fetched


def test_web_never_replaces_a_folder_it_did_not_write(page, exported, tmp_path):
    root, _ = exported
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")

    def web(*args):
        return subprocess.run([sys.executable, "-m", "speechgru", "web", str(root / "model"),
                               *map(str, args)], capture_output=True, text=True, timeout=300)

    for args in (["--out", mine], ["--out", mine, "--force"]):
        r = web(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert str(mine) in r.stderr
        assert [p.name for p in mine.iterdir()] == ["notes.txt"]
        assert (mine / "notes.txt").read_text() == "my notes"
    # a page it wrote, with a file of the user's added: refused too
    out, _ = page
    copy = tmp_path / "page"
    shutil.copytree(out, copy)
    (copy / "my.txt").write_text("x")
    r = web("--out", copy, "--force")
    assert r.returncode == 2 and (copy / "my.txt").is_file()
    (copy / "my.txt").unlink()
    r = web("--out", copy, "--force")
    assert r.returncode == 0, r.stderr
    assert json.loads((copy / "page.json").read_text())["format"] == "speechgru-web"


def test_web_refuses_an_export_without_metadata(exported, tmp_path):
    root, _ = exported
    model = tmp_path / "model"
    shutil.copytree(root / "model", model)
    subprocess.run([sys.executable, "-c", (
        "import json, sys; from pathlib import Path; from speechgru.runtime.manifest import "
        "write_manifest; m = json.loads(Path(sys.argv[1], 'manifest.json').read_text()); "
        "Path(sys.argv[1], 'wave_float32.tflite').unlink(); "
        "write_manifest(Path(sys.argv[1]), labels=m['labels'], features=m['features'])"),
        str(model)], check=True)
    r = subprocess.run([sys.executable, "-m", "speechgru", "web", str(model), "--out",
                        str(tmp_path / "page")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "wave_float32.tflite: missing" in r.stderr
    assert not (tmp_path / "page").exists()
