"""``speechgru download``: the official Speech Commands archives (or any ``.tar.gz`` of
one's own), fetched with resume, checked, and unpacked safely.

* **Resume**: bytes go to ``DIR/.download/<name>.part``; a later run asks the server for
  the rest (HTTP ``Range``) and appends, or starts again when the server ignores ranges.
* **Checked**: the size (when known) and the sha256 against the values below (or
  ``--sha256``); a mismatch removes the downloaded file (it is ours) and says so.
* **Safe extraction**: every member is checked *before* anything is written — no absolute
  name, no ``..``, no link, no device, fifo or other special file, nothing that would land
  outside DIR — and a hostile archive is refused naming its first bad member. Members
  are unpacked into a temporary folder inside DIR and moved into place, so DIR never holds
  half an archive.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from ..errors import DataError
from ..utils import owned_tempdir, publish_tree

_BASE = "https://storage.googleapis.com/download.tensorflow.org/data/"


@dataclasses.dataclass(frozen=True)
class Archive:
    url: str
    sha256: str | None
    size: int | None = None  # bytes, when known


#: The official archives (sha256 and sizes as published with torchaudio, ESPnet and
#: TensorFlow Datasets' checksum lists).
ARCHIVES = {
    "v0.02": Archive(_BASE + "speech_commands_v0.02.tar.gz",
                     "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
                     2_428_923_189),
    "v0.01": Archive(_BASE + "speech_commands_v0.01.tar.gz",
                     "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d"),
    "test": Archive(_BASE + "speech_commands_test_set_v0.02.tar.gz",
                    "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df",
                    112_563_277),
}
_CHUNK = 1 << 20


def _progress(done: int, total: int | None, started: float) -> None:
    out = sys.stderr
    if not out.isatty():
        return
    rate = done / max(time.monotonic() - started, 1e-6)
    if total:
        filled = int(30 * done / total)
        bar = f"[{'#' * filled}{'.' * (30 - filled)}] {100 * done / total:5.1f} %"
    else:
        bar = f"{done / 1e6:,.1f} MB"
    out.write(f"\r  {bar}  {rate / 1e6:.1f} MB/s ")
    out.flush()


def fetch(archive: Archive, part: Path, *, timeout: float = 60.0) -> Path:
    """Download ``archive`` to ``part``, resuming what is already there; returns ``part``
    once the whole file is there and checked. A lost connection keeps the bytes received
    (run again to resume); a checksum mismatch removes them."""
    have = part.stat().st_size if part.exists() else 0
    if archive.size is not None and have > archive.size:
        part.unlink()  # ours, and longer than the archive can be: start again
        have = 0
    if archive.size is None or have < archive.size:
        request = urllib.request.Request(archive.url, headers={"User-Agent": "speechgru"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to send: the file is whole
                response = None
            else:
                raise DataError(f"{archive.url}: the server answered {exc.code} {exc.reason}"
                                ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DataError(f"{archive.url}: cannot connect ({getattr(exc, 'reason', exc)})"
                            ) from None
        if response is not None:
            with response:
                resumed = response.status == 206
                mode = "ab" if resumed else "wb"
                if not resumed:
                    have = 0
                length = response.headers.get("Content-Length")
                total = (have + int(length)) if length and length.isdigit() else archive.size
                started = time.monotonic()
                try:
                    with open(part, mode) as f:
                        while chunk := response.read(_CHUNK):
                            f.write(chunk)
                            have += len(chunk)
                            _progress(have, total, started)
                except (OSError, ConnectionError) as exc:
                    raise DataError(f"{archive.url}: the connection was lost after "
                                    f"{have:,} bytes ({exc}); run the same command again "
                                    "to resume") from None
                finally:
                    if sys.stderr.isatty():
                        sys.stderr.write("\n")
                if total is not None and have < total:
                    raise DataError(f"{archive.url}: the connection was lost after {have:,} "
                                    f"of {total:,} bytes; run the same command again to "
                                    "resume")
    size = part.stat().st_size
    if archive.size is not None and size != archive.size:
        raise DataError(f"{archive.url}: {size:,} bytes received, {archive.size:,} expected; "
                        "run the same command again to resume")
    if archive.sha256:
        digest = hashlib.sha256()
        with open(part, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != archive.sha256.lower():
            part.unlink()
            raise DataError(f"{archive.url}: sha256 {digest.hexdigest()} is not the expected "
                            f"{archive.sha256.lower()}; the download was removed (a damaged "
                            "transfer or a different file: check the URL and run again)")
    return part


def check_members(tar: tarfile.TarFile, name: str) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, or a DataError naming the first that is not a plain file
    or folder with a relative name inside the destination."""
    members = tar.getmembers()
    for m in members:
        path = PurePosixPath(m.name)
        why = None
        if m.name.startswith(("/", "\\")) or path.is_absolute() or ":" in path.parts[0]:
            why = "an absolute path"
        elif ".." in path.parts:
            why = "a path that climbs out with '..'"
        elif m.issym() or m.islnk():
            why = f"a link (to {m.linkname!r})"
        elif not (m.isfile() or m.isdir()):
            why = "a device, fifo or other special file"
        if why:
            raise DataError(f"{name}: refused: member {m.name!r} is {why}; nothing was "
                            "extracted")
    return members


def extract(archive_file: Path, dest: Path, *, name: str | None = None) -> int:
    """Unpack ``archive_file`` into ``dest`` after checking every member; returns the
    number of files. ``dest`` must not hold files of the same names already."""
    name = name or str(archive_file)
    try:
        tar = tarfile.open(archive_file, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{name}: not a readable tar archive ({exc})") from None
    with tar:
        try:
            members = check_members(tar, name)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{name}: damaged archive ({exc})") from None
        with owned_tempdir(dest, "extract") as tmp:
            try:
                try:
                    tar.extractall(tmp, members=members, filter="data")
                except TypeError:  # a Python without extraction filters: checked above
                    tar.extractall(tmp, members=members)
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise DataError(f"{name}: damaged archive ({exc})") from None
            publish_tree(tmp)
            clashes = [p.name for p in tmp.iterdir() if (dest / p.name).exists()]
            if clashes:
                raise DataError(f"{dest}: already holds {', '.join(sorted(clashes)[:3])}; "
                                "download into a new or empty folder")
            for p in sorted(tmp.iterdir()):
                os.replace(p, dest / p.name)
    return sum(m.isfile() for m in members)


def download(dest: str | Path, *, version: str = "v0.02", url: str | None = None,
             sha256: str | None = None, keep_archive: bool = False, log=print) -> dict:
    """Download and unpack a Speech Commands archive into ``dest``; returns a summary."""
    dest = Path(dest)
    if url:
        archive = Archive(url, sha256)
    else:
        if version not in ARCHIVES:
            raise DataError(f"--version {version!r}: choose one of {', '.join(ARCHIVES)}")
        archive = ARCHIVES[version]
        if sha256 and sha256.lower() != archive.sha256:
            raise DataError(f"--sha256 {sha256}: the official {version} archive's sha256 is "
                            f"{archive.sha256}; give --url for an archive of your own")
    if dest.exists() and not dest.is_dir():
        raise DataError(f"{dest}: exists and is not a folder")
    work = dest / ".download"
    work.mkdir(parents=True, exist_ok=True)
    file_name = PurePosixPath(urllib.request.urlparse(archive.url).path).name or "archive"
    part = work / f"{file_name}.part"
    log(f"downloading {archive.url}"
        + (f" ({archive.size / 1e6:,.0f} MB)" if archive.size else "")
        + (", resuming" if part.exists() else "") + f" into {dest}")
    fetch(archive, part)
    files = extract(part, dest, name=archive.url)
    if keep_archive:
        kept = dest / file_name
        os.replace(part, kept)
    else:
        part.unlink()
        kept = None
    if not any(work.iterdir()):
        work.rmdir()
    return {"dest": str(dest), "url": archive.url, "files": files,
            "sha256_checked": bool(archive.sha256), "archive": str(kept) if kept else None}

