"""The four notebooks run top to bottom in quick mode, and are stored without outputs."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_exist_and_are_stored_without_outputs():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, (
                    f"{path.name} holds outputs: clear them before committing")


@pytest.fixture(scope="module")
def notebook_env(synth_dir, tmp_path_factory, monkeypatch_module):
    out = tmp_path_factory.mktemp("notebooks")
    monkeypatch_module.setenv("SPEECHGRU_NOTEBOOK_MODE", "quick")
    monkeypatch_module.setenv("SPEECHGRU_NOTEBOOK_DATA", str(synth_dir))
    monkeypatch_module.setenv("SPEECHGRU_NOTEBOOK_OUT", str(out))
    monkeypatch_module.delenv("SPEECHGRU_NOTEBOOK_RUN", raising=False)
    return out


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# a plot each notebook must save (under the output folder, or the run directory's analysis/)
PLOTS = {"01_features": "01_features/stages.png",
         "02_gru_cell": "quick_run/analysis/gates_heatmap.png",
         "03_vanishing_gradients": "03_vanishing_gradients/learning_curves.png",
         "04_evaluation": "quick_run/analysis/per_speaker.png"}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, notebook_env):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert (notebook_env / PLOTS[path.stem]).stat().st_size > 1000
    # every figure is shown where it is read (inline), not only written to a file
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{path.name}: {len(images)} figures shown inline"
