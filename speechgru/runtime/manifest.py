"""``manifest.json``: what ties an exported model directory together (TF-free).

Every export writes it last: the format and package version, the labels, the feature
settings, and the sha256 and size of every other file in the directory. The runtime
verifies it before it trusts anything: a ``labels.txt`` edited by hand, a ``features.json``
from another model, or a ``.tflite`` swapped or truncated is refused with the file named.
``export --force`` replaces only a directory that carries such a manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import read_json
from ..errors import ExportError
from ..utils import atomic_write_text, file_sha256

FORMAT = "speechgru-model"
FORMAT_VERSION = 1
NAME = "manifest.json"


def write_manifest(model_dir: Path, *, labels: list[str], features: dict,
                   operating_point: dict | None = None, verifier: dict | None = None) -> dict:
    """Hash every file below ``model_dir`` (but the manifest) and write the manifest, with
    the run's operating point (the threshold chosen at training) when it has one, and its
    second look (``verifier``: context and files) when it has one."""
    from .. import __version__

    files = {}
    for p in sorted(model_dir.rglob("*")):
        if p.is_file() and p.name != NAME:
            rel = p.relative_to(model_dir).as_posix()
            files[rel] = {"sha256": file_sha256(p), "bytes": p.stat().st_size}
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "package_version": __version__, "labels": list(labels),
                "features": features, "files": files}
    if operating_point is not None:
        manifest["operating_point"] = operating_point
    if verifier is not None:
        manifest["verifier"] = verifier
    atomic_write_text(model_dir / NAME, json.dumps(manifest, indent=1) + "\n")
    return manifest


def _plain_name(name: str) -> bool:
    """A relative POSIX path of ordinary parts: no '..', no absolute path, no backslash, no
    empty or hidden part."""
    parts = name.split("/")
    return bool(name) and "\\" not in name and "\0" not in name and all(
        p and p not in (".", "..") and not p.startswith(".") for p in parts)


def unowned_files(path: Path) -> str | None:
    """Why ``path`` is not a model directory exactly as ``speechgru export`` wrote it (None
    when it is): a manifest that loads, every listed file present with its sha256, and
    nothing else in the folder."""
    try:
        manifest = Manifest(path)
        for name in manifest.files:
            manifest.verify(name)
    except ExportError as exc:
        return str(exc)
    files = {NAME, *manifest.files}
    dirs = {q.as_posix() for n in files for q in Path(n).parents if q != Path(".")}
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_dir() and not p.is_symlink():
            if rel not in dirs and any(p.iterdir()):  # an empty folder holds nothing
                return f"{p}: not written by speechgru export"
        elif rel not in files:
            return f"{p}: not written by speechgru export"
    return None


def is_model_dir(path: Path) -> bool:
    """True when ``path`` is a directory with a manifest this package wrote."""
    try:
        data = read_json(path / NAME, error=ExportError)
    except ExportError:
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


class Manifest:
    """A model directory's manifest, read and checked on load."""

    def __init__(self, model_dir: str | Path):
        self.dir = Path(model_dir)
        path = self.dir / NAME
        if not self.dir.is_dir():
            raise ExportError(f"{self.dir}: no such model directory")
        if not path.is_file():
            raise ExportError(f"{self.dir}: not an exported model directory (no {NAME}); "
                              "export it again with `speechgru export`")
        data = read_json(path, error=ExportError)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ExportError(f"{path}: not a speechgru model manifest")
        if data.get("format_version") != FORMAT_VERSION:
            raise ExportError(f"{path}: format version {data.get('format_version')!r}; this "
                              f"speechgru reads version {FORMAT_VERSION}: export it again")
        files = data.get("files")
        if not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("sha256"), str)
                for v in files.values()):
            raise ExportError(f"{path}: damaged (no file list)")
        bad = sorted(n for n in files if not _plain_name(n))
        if bad:
            raise ExportError(f"{path}: lists {bad[0]!r}, which is not a file inside the model "
                              "directory (a manifest names only plain relative paths)")
        self.data, self.files = data, files
        self._verified: set[str] = set()

    def verify(self, name: str) -> Path:
        """The path of ``name`` once its bytes match the manifest (checked once)."""
        path = self.dir / name
        if name in self._verified:
            return path
        entry = self.files.get(name)
        if entry is None:
            have = sorted(self.files)
            raise ExportError(f"{path}: not part of this model (the manifest lists {have})")
        if not path.is_file():
            raise ExportError(f"{path}: missing (listed in {NAME})")
        if any(p.is_symlink() for p in (path, *path.parents)
               if p != self.dir and p.is_relative_to(self.dir)) \
                or not path.resolve().is_relative_to(self.dir.resolve()):
            raise ExportError(f"{path}: a link or outside the model directory; a model's files "
                              "are plain files inside it")
        if file_sha256(path) != entry["sha256"]:
            raise ExportError(f"{path}: does not match {NAME} (changed or damaged after "
                              "export); export the model again")
        self._verified.add(name)
        return path

    def has(self, name: str) -> bool:
        return name in self.files

    @property
    def threshold(self) -> float | None:
        """The operating point's threshold chosen at training, or None (older exports)."""
        point = self.data.get("operating_point")
        if point is None:
            return None
        t = point.get("threshold") if isinstance(point, dict) else None
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < t <= 1:
            raise ExportError(f"{self.dir / NAME}: damaged operating point (threshold {t!r} "
                              "is not in (0, 1])")
        return float(t)

    @property
    def verifier_point(self) -> dict | None:
        """The operating point with the second look (``threshold`` and ``smoothing`` of the
        first stage, ``verifier_threshold``), chosen live over both thresholds; None when
        the model has no verifier or it was not chosen."""
        point = self.data.get("operating_point")
        v = point.get("verifier") if isinstance(point, dict) else None
        if v is None:
            return None
        ok = isinstance(v, dict) and all(
            isinstance(v.get(k), int | float) and not isinstance(v.get(k), bool)
            and 0 < v[k] <= 1 for k in ("threshold", "verifier_threshold")) and \
            isinstance(v.get("smoothing"), int) and 1 <= v["smoothing"] <= 64
        if not ok:
            raise ExportError(f"{self.dir / NAME}: damaged operating point of the verifier "
                              "(threshold and verifier_threshold in (0, 1], smoothing 1..64)")
        return v

    @property
    def smoothing(self) -> int | None:
        """The windows averaged at the operating point when it was chosen live, or None."""
        point = self.data.get("operating_point")
        k = point.get("smoothing") if isinstance(point, dict) else None
        if k is None:
            return None
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64:
            raise ExportError(f"{self.dir / NAME}: damaged operating point (smoothing {k!r} "
                              "is not a whole number of windows in 1..64)")
        return k
