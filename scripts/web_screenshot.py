"""The README's picture of the page: ``speechgru web`` for a model, heard through headless
Chromium's fake microphone playing real clips end to end, photographed when they are done.

    python scripts/web_screenshot.py [MODEL_DIR] [--out docs/web-page.png] [CLIP ...]

Default clips: one take each of yes, left, stop, go and up by speakers of the extra Speech
Commands folder in ../shared/data (the same five the picture showed before). Needs Debian's
chromium and npm (as ``tests/clients/test_web.py``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
EXTRA = ROOT.parent / "shared" / "data" / "speech_commands_v2_test_extra"


def main() -> None:
    from playwright.sync_api import sync_playwright

    from speechgru.audio import load_clip
    from speechgru.web import serve, write_page

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", nargs="?", default=str(ROOT / "models" / "speech-commands-12"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "web-page.png"))
    ap.add_argument("clips", nargs="*")
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium")
    clips = [Path(c) for c in args.clips] or [
        sorted((EXTRA / w).glob("*.wav"))[0] for w in ("yes", "left", "stop", "go", "up")]
    noise = 0.003 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    parts = [noise, noise]
    for c in clips:
        parts += [load_clip(c, sample_rate=16000, num_samples=16000), noise, noise]
    audio = np.concatenate(parts)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page"
        write_page(args.model_dir, page)
        wav = Path(tmp) / "words.wav"
        sf.write(wav, audio, 16000, subtype="PCM_16")
        urls: list[str] = []
        threading.Thread(target=serve, args=(page, 0), kwargs={"ready": urls.append},
                         daemon=True).start()
        while not urls:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}%noloop"])
            try:
                tab = browser.new_page(viewport={"width": 900, "height": 640})
                tab.goto(urls[0])
                tab.wait_for_selector("body[data-ready='1']", timeout=90_000)
                tab.click("#start")
                tab.wait_for_selector("body[data-listening='1']", timeout=30_000)
                time.sleep(len(audio) / 16000 + 3)
                heard = tab.eval_on_selector_all("#heard li",
                                                 "els => els.map(e => e.dataset.label)")
                tab.screenshot(path=args.out)
            finally:
                browser.close()
    print(f"wrote {args.out}: played {[c.parent.name for c in clips]}, the page heard {heard}")


if __name__ == "__main__":
    main()
