"""Execute the notebooks and keep executed copies, outputs and figures inline, that a reader
on the web sees without running anything (``notebooks/`` itself stays without outputs).

    python scripts/render_notebooks.py [--mode quick|full] [--out docs/notebooks]

``make notebooks`` runs it (full mode). Full mode analyses ``SPEECHGRU_NOTEBOOK_RUN``, or
``runs/demo`` (``make demo``) when it is there; the copies say which mode and data they
were made with in their first output. The copies drop the library's log lines (stderr)
and write paths from the repository's root.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _relative(output):
    for key in ("text",):
        if key in output:
            output[key] = _scrub(output[key])
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") and isinstance(value, str):
            output["data"][mime] = _scrub(value)
    return output


def _scrub(text: str) -> str:
    return (text.replace(str(ROOT.parent / "shared"), "../shared")
            .replace(str(ROOT) + "/", "").replace(str(ROOT), ".")
            .replace(str(Path.home()), "~"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["quick", "full"], default="full")
    ap.add_argument("--out", default=str(ROOT / "docs" / "notebooks"))
    ap.add_argument("notebooks", nargs="*")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["SPEECHGRU_NOTEBOOK_MODE"] = args.mode
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":  # the reader's copy: no library log lines, and
                # paths from the repository (no machine's absolute paths)
                cell.outputs = [_relative(o) for o in cell.outputs
                                if not (o.output_type == "stream" and o.name == "stderr")
                                and "INFO:tensorflow" not in o.get("text", "")]
        target = out / path.name
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)
        images = sum("image/png" in o.get("data", {}) for c in nb.cells
                     if c.cell_type == "code" for o in c.outputs)
        print(f"{target}: executed ({args.mode}), {images} figures inline")


if __name__ == "__main__":
    main()
