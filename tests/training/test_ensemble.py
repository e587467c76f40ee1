"""``speechgru ensemble``: runs trained apart as one run (the mean of their probabilities)."""

import json
import shutil

import numpy as np
import pytest

from speechgru.cli import main
from speechgru.errors import ConfigError
from speechgru.run_dir import RunDir
from speechgru.training.ensemble import combine


@pytest.fixture(scope="module")
def members(exported, tmp_path_factory):
    """The fixture run and a second member: its copy with other weights (the same split,
    as another seed of one recipe gives)."""
    import keras

    from speechgru.models import load_model

    root, _ = exported
    tmp = tmp_path_factory.mktemp("ensemble")
    other = tmp / "other"
    shutil.copytree(root / "run", other)
    model = load_model(other / "best.keras")
    rng = np.random.default_rng(4)
    for layer in model.layers:
        if layer.weights and not isinstance(layer, keras.layers.Normalization):
            layer.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype)
                               for w in layer.get_weights()])
    model.save(other / "best.keras")
    return root, [root / "run", other], tmp


def test_the_ensemble_is_a_run_whose_output_is_the_mean_of_its_members(members):
    """Its best.keras gives the mean of the members' probabilities; its operating point is
    chosen again on validation for those; evaluate, export and the TF-free runtime take it
    as any run (the exported stream, each member's states in and out, equals it)."""
    from speechgru.export import export_run
    from speechgru.export.card import _pct
    from speechgru.models import load_model
    from speechgru.runtime.recognizer import Recognizer
    from speechgru.training.train import evaluate_run

    root, runs, tmp = members
    out = tmp / "ens"
    m = combine(runs, out, cache_dir=root / "cache", progress=False)
    run = RunDir(out)
    assert run.config().model.members == 2
    assert (out / "splits.json").read_bytes() == (runs[0] / "splits.json").read_bytes()
    x = run.calibration()["val_x"]
    each = [np.asarray(load_model(r / "best.keras")(x)) for r in runs]
    assert np.abs(each[0] - each[1]).max() > 1e-3
    ens = np.asarray(run.load_model("best")(x))
    np.testing.assert_allclose(ens, np.mean(each, 0), atol=1e-5)
    point = run.operating_point()
    assert point["chosen_on"].startswith("validation: ") and m["operating_point"] == point
    assert json.loads((out / "metrics.json").read_text())["ensemble_of"] == [str(r) for r in runs]

    scored = evaluate_run(out, split="validation", cache_dir=root / "cache", progress=False)
    np.testing.assert_allclose(scored["top1"], m["top1"])
    report = export_run(out, tmp / "model", max_clips=30, progress=False,
                        variants=["stream_float32"])
    card = (tmp / "model" / "README.md").read_text()
    assert "an ensemble of 2 classifiers trained apart" in card
    # the card's table is at threshold 0: an evaluation at the operating point shows there
    # with its top-1, not its thresholded accuracy
    row = next(line for line in card.splitlines() if "(`speechgru evaluate`)" in line)
    assert f"| {scored['clips']} | {_pct(scored['top1'])} |" in row
    r = report["models"]["stream_float32.tflite"]
    assert "error" not in r and r["max_abs_delta"] < 1e-4 and r["top1_agreement"] == 1.0
    manifest = json.loads((tmp / "model" / "manifest.json").read_text())
    assert manifest["operating_point"]["threshold"] == point["threshold"]
    rec = Recognizer(tmp / "model", variant="stream_float32")
    np.testing.assert_allclose(rec.probabilities_many(x[:20]), ens[:20], atol=1e-4)


def test_members_that_do_not_belong_together_are_refused(members, tmp_path, capsys):
    root, runs, _ = members
    with pytest.raises(ConfigError, match="at least two"):
        combine(runs[:1], tmp_path / "a", cache_dir=root / "cache")
    with pytest.raises(ConfigError, match="twice"):
        combine([runs[0], runs[0]], tmp_path / "b", cache_dir=root / "cache")
    other_split = tmp_path / "split"
    shutil.copytree(runs[1], other_split)
    splits = json.loads((other_split / "splits.json").read_text())
    splits["validation"] = splits["validation"][1:]
    (other_split / "splits.json").write_text(json.dumps(splits))
    with pytest.raises(ConfigError, match="splits.json differs"):
        combine([runs[0], other_split], tmp_path / "c", cache_dir=root / "cache")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    assert main(["ensemble", str(runs[0]), str(runs[1]), "--out", str(taken),
                 "--cache-dir", str(root / "cache")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0] and str(taken) in err[0]
    assert (taken / "mine.txt").read_text() == "keep"
    assert not any((tmp_path / d).exists() for d in ("a", "b", "c"))


def test_an_ensemble_is_not_trained_or_resumed(members, tmp_path, capsys):
    """Training makes the members; ``model.members`` in a config, or --resume on an
    ensemble's run, is one clear line and exit code 2, with nothing written."""
    root, runs, tmp = members
    ens = tmp / "ens"
    if not ens.exists():
        combine(runs, ens, cache_dir=root / "cache", progress=False)
    before = sorted(p.name for p in ens.iterdir())
    assert main(["train", "--resume", "--out", str(ens)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is an ensemble" in err[0]
    assert sorted(p.name for p in ens.iterdir()) == before
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": {"members": 2}}))
    assert main(["train", "--data", str(runs[0]), "--config", str(config),
                 "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is an ensemble" in err[0]
    assert not (tmp_path / "new").exists()
