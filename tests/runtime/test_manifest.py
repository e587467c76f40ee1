"""manifest.json: every file tied to its sha256, checked before the runtime trusts it."""

import hashlib
import json

import pytest

from speechgru.errors import ExportError
from speechgru.runtime.manifest import NAME, Manifest, is_model_dir, write_manifest


def _model_dir(tmp_path):
    d = tmp_path / "model"
    (d / "saved_model").mkdir(parents=True)
    (d / "a.tflite").write_bytes(b"model bytes")
    (d / "labels.txt").write_text("yes\nno\n")
    (d / "saved_model" / "x.pb").write_bytes(b"\0" * 10)
    write_manifest(d, labels=["yes", "no"], features={"n_mfcc": 40})
    return d


def test_every_file_is_listed_with_its_sha256_and_size(tmp_path):
    d = _model_dir(tmp_path)
    data = json.loads((d / NAME).read_text())
    assert set(data["files"]) == {"a.tflite", "labels.txt", "saved_model/x.pb"}
    assert data["files"]["a.tflite"] == {"sha256": hashlib.sha256(b"model bytes").hexdigest(),
                                         "bytes": 11}
    assert data["labels"] == ["yes", "no"] and is_model_dir(d)
    assert Manifest(d).verify("a.tflite") == d / "a.tflite"


@pytest.mark.parametrize("change, why", [
    (lambda d: (d / "a.tflite").write_bytes(b"model bytez"), "does not match"),
    (lambda d: (d / "a.tflite").write_bytes(b"model"), "does not match"),
    (lambda d: (d / "a.tflite").unlink(), "missing"),
])
def test_a_changed_truncated_or_missing_file_is_refused_by_name(tmp_path, change, why):
    d = _model_dir(tmp_path)
    change(d)
    with pytest.raises(ExportError, match=why) as exc:
        Manifest(d).verify("a.tflite")
    assert "a.tflite" in str(exc.value)


def test_unlisted_files_and_foreign_or_damaged_manifests(tmp_path):
    d = _model_dir(tmp_path)
    with pytest.raises(ExportError, match="not part of this model"):
        Manifest(d).verify("other.tflite")
    (d / NAME).write_text('{"format": "something-else"}')
    assert not is_model_dir(d)
    with pytest.raises(ExportError, match="not a speechgru model manifest"):
        Manifest(d)
    (d / NAME).write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        Manifest(d)
    (d / NAME).unlink()
    with pytest.raises(ExportError, match="no manifest.json"):
        Manifest(d)
    assert not is_model_dir(tmp_path / "nowhere")
