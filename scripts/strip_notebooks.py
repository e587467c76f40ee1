"""Clear the outputs of the notebooks (they are committed without outputs; a test checks).

    python scripts/strip_notebooks.py [notebooks/*.ipynb]
"""

import sys
from pathlib import Path

import nbformat


def main(paths):
    for path in paths or sorted(Path("notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        nbformat.write(nb, path)
        print(f"cleared {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
