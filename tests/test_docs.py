"""The guide stays true: the site builds in strict mode (a broken link, a missing page or
an API name that is gone fails), every command and option the pages show exists, the
README's links lead somewhere, and the getting-started page's runnable blocks run."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
RUNNABLE = re.compile(r"<!-- runnable -->\s*\n```sh\n(.*?)^```", re.S | re.M)


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _mkdocs(config_dir: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([str(BIN / "mkdocs"), "build", "--strict", "-f",
                           str(config_dir / "mkdocs.yml"), "-d", str(site)],
                          capture_output=True, text=True, env=env, cwd=config_dir)


def _site_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(DOCS, copy / "docs")
    return copy


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path):
    r = _mkdocs(ROOT, tmp_path / "site")
    assert r.returncode == 0, r.stderr[-3000:]
    for page in ("index.html", "getting-started/index.html", "api/index.html",
                 "talk/index.html", "notebooks/02_gru_cell/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "build_model" in api and "Listener" in api  # the reference is generated
    notebook = (tmp_path / "site" / "notebooks" / "02_gru_cell" / "index.html").read_text()
    assert "data:image/png;base64" in notebook  # the executed copy's figures are on it


@pytest.mark.slow
@pytest.mark.parametrize("breakage", ["link", "api", "page"])
def test_a_broken_site_fails_the_build(tmp_path, breakage):
    copy = _site_copy(tmp_path)
    if breakage == "link":
        index = copy / "docs" / "index.md"
        index.write_text(index.read_text() + "\nSee [the old page](no-such-page.md).\n")
    elif breakage == "api":
        api = copy / "docs" / "api.md"
        api.write_text(api.read_text() + "\n::: speechgru.no_such_module\n")
    else:
        (copy / "docs" / "deploy.md").unlink()
    r = _mkdocs(copy, tmp_path / "site")
    assert r.returncode != 0, r.stderr[-2000:]
    assert "WARNING" in r.stderr or "ERROR" in r.stderr, r.stderr[-2000:]


def _speechgru_lines(text: str) -> list[str]:
    """Each ``speechgru ...`` command in the page's shell blocks, its continuation lines
    joined and its comment cut."""
    out = []
    for lang, body in FENCE.findall(text):
        if lang not in ("sh", "bash", ""):
            continue
        joined = re.sub(r"\s*\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in re.split(r"\|", line):
                part = part.strip()
                if part.startswith("speechgru "):
                    out.append(part)
    return out


def wrong_commands(lines: list[str]) -> tuple[int, list[str]]:
    """``(commands checked, what is wrong)``: a command the parser does not have, or an
    option its command does not take."""
    from speechgru.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    seen, wrong = 0, []
    for line in lines:
        args = [w for w in line.split()[1:] if w != "--verbose"]
        if not args or args[0] in ("--version", "--help", "COMMAND"):
            continue
        command = args[0]
        if command not in sub.choices:
            wrong.append(f"{line}: no command {command!r}")
            continue
        known = {o for a in sub.choices[command]._actions for o in a.option_strings}
        for w in args[1:]:
            option = w.strip("[]").split("=", 1)[0]
            if option.startswith("--") and option not in known:
                wrong.append(f"{line}: {command} has no {option}")
        seen += 1
    return seen, wrong


def test_every_command_and_option_shown_exists():
    lines = [f"{page.name}: {line}" for page in _pages()
             for line in _speechgru_lines(page.read_text())]
    seen, wrong = wrong_commands([line.split(": ", 1)[1] for line in lines])
    assert seen > 50  # the pages are read: the guide shows many commands
    assert wrong == []


def test_the_option_check_sees_a_wrong_command_and_option():
    text = ("```sh\nspeechgru train --data D --out R \\\n    --no-such-option 3\n"
            "speechgru trian --data D\n```\n")
    lines = _speechgru_lines(text)
    assert lines[0] == "speechgru train --data D --out R --no-such-option 3"
    seen, wrong = wrong_commands(lines)
    assert seen == 1 and len(wrong) == 2
    assert "has no --no-such-option" in wrong[0] and "no command 'trian'" in wrong[1]


def test_the_readme_is_a_short_guide_whose_links_lead_somewhere():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [u for u in links if not u.startswith(("http://", "https://", "mailto:"))]
    assert len(local) > 10
    missing = [u for u in local if not (ROOT / u).exists()]
    assert missing == []


def test_every_docs_page_is_in_the_site():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def files(entry):
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, dict):
            for v in entry.values():
                yield from files(v)
        else:
            for e in entry:
                yield from files(e)

    listed = set(files(nav))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    pages |= {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.ipynb")}
    assert pages <= listed, sorted(pages - listed)


def runnable_blocks(text: str) -> list[str]:
    return RUNNABLE.findall(text)


def test_the_getting_started_page_marks_its_blocks():
    blocks = runnable_blocks((DOCS / "getting-started.md").read_text())
    commands = [shlex.split(line)[1] for b in blocks for line in b.splitlines()
                if line.startswith("speechgru ")]
    assert commands[:3] == ["synth", "check-data", "train"] and "listen" in commands


@pytest.mark.slow
def test_every_runnable_block_of_getting_started_runs(tmp_path):
    """The page's commands, in order, in an empty folder with the model in the box beside
    it, on the embedded default data (synthetic speech made offline)."""
    blocks = runnable_blocks((DOCS / "getting-started.md").read_text())
    shutil.copytree(ROOT / "models" / "speech-commands-12",
                    tmp_path / "models" / "speech-commands-12")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    outputs = {}
    for block in blocks:
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=1200)
            assert r.returncode == 0, f"{line}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
            outputs[line] = r.stdout
    assert (tmp_path / "runs" / "first" / "best.keras").is_file()
    assert (tmp_path / "models" / "first" / "manifest.json").is_file()
    # the model in the box hears the recording's first command, "yes"
    truth = json.loads((tmp_path / "data" / "stream.json").read_text())
    assert "yes" in json.dumps(truth)
    box = outputs["speechgru listen models/speech-commands-12 data/stream.wav"]
    assert re.search(r"^\s*[\d.]+ s\s+yes\s", box, re.M), box
