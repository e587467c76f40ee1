"""The console script: arguments, version, and the one-line error contract."""

import pytest

from speechgru import __version__
from speechgru.cli import build_parser, main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("synth", "check-data", "features", "train", "evaluate", "export",
                    "predict", "listen"):
        assert command in out


def test_every_subcommand_parses_its_documented_flags():
    p = build_parser()
    a = p.parse_args(["export", "runs/x", "--out", "m", "--force", "--variants", "int8"])
    assert (a.run_dir, a.out, a.force, a.variants) == ("runs/x", "m", True, "int8")
    a = p.parse_args(["listen", "models/m", "-", "--threshold", "0.7", "--json"])
    assert a.threshold == 0.7 and a.json
    a = p.parse_args(["evaluate", "runs/x", "--split", "test", "--json"])
    assert a.split == "test" and a.data is None


@pytest.mark.parametrize("argv, names", [
    (["evaluate", "{tmp}/no-run"], "no-run"),
    (["export", "{tmp}/no-run", "--out", "{tmp}/m"], "no-run"),
    (["predict", "{tmp}/no-model", "x.wav"], "no-model"),
    (["check-data", "{tmp}/no-data"], "no-data"),
])
def test_a_missing_path_is_one_line_naming_it_and_exit_2(argv, names, tmp_path, capsys):
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"speechgru {argv[0]}: error:")
    assert names in err


def test_an_unknown_export_variant_is_named(tmp_path, capsys):
    from speechgru.export.variants import select

    assert [v.name for v in select(["int8", "stream_int8.tflite"])] == [
        "int8.tflite", "frontend.tflite", "stream_int8.tflite"]  # a stream needs its front end
    assert len(select(None)) == 8 and "int8.tflite" not in [v.name for v in select(None)]
    run = tmp_path / "run"
    run.mkdir()
    code = main(["export", str(run), "--out", str(tmp_path / "m"), "--variants", "int4"])
    err = capsys.readouterr().err
    assert code == 2 and "int4" in err and "stream_int8" in err
