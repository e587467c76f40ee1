"""``speechgru download``: the official Speech Commands archives (or any ``.tar.gz`` of
one's own), fetched with resume, checked, and unpacked safely.

* **Resume**: bytes go to ``DIR/.download/<name>.part`` as they arrive; a later run asks
  the server for the rest (HTTP ``Range``) and appends only when the answer's
  ``Content-Range`` starts where the file ends (a server that sends from byte 0 starts the
  file again; any other start is refused and the partial file removed). A partial file that
  is not the start of an archive (an HTML page, say) is removed, saying so.
* **Bounded**: a minimum rate (``--min-rate`` bytes/s over each minute) and a deadline
  (``--deadline`` seconds) end a download that crawls, keeping what arrived; an archive may
  unpack to at most ``--max-unpacked`` bytes and ``--max-files`` members, counted from its
  headers before anything is written.
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
MIN_RATE = 10_000  # bytes/s, averaged over RATE_WINDOW
RATE_WINDOW = 60.0  # seconds
DEADLINE = 6 * 3600.0  # seconds
MAX_UNPACKED = 20 * 2 ** 30  # bytes; the v0.02 archive unpacks to about 3.8 GB
MAX_FILES = 200_000  # members; v0.02 has about 106,000
#: how archives begin: gzip, bzip2, xz, zstd (a plain tar has "ustar" at byte 257)
_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


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


def _looks_like_archive_start(part: Path) -> tuple[bool, bytes]:
    """Whether ``part`` can be the start of an archive (and its first bytes)."""
    with open(part, "rb") as f:
        head = f.read(512)
    if head.startswith(_MAGIC) or head[257:262] == b"ustar":
        return True, head
    if any(m.startswith(head) for m in _MAGIC):  # cut inside the magic itself
        return True, head
    # too short to show a tar's magic: anything but a page of text may be one
    return len(head) < 262 and head.lstrip()[:1] not in (b"<", b"{"), head


def _content_range_start(value: str | None) -> int | None:
    """The first byte of ``Content-Range: bytes START-END/TOTAL``, or None."""
    if not value or not value.startswith("bytes "):
        return None
    first = value[6:].split("-", 1)[0].strip()
    return int(first) if first.isdigit() else None


def _read_body(response, f, archive: Archive, have: int, total: int | None, *,
               min_rate: float, deadline: float) -> int:
    """Copy the body to ``f`` as it arrives (a few KiB at a time: a crawl reaches the file
    too); a DataError when it crawls below ``min_rate`` over a minute or passes the
    ``deadline`` (a time.monotonic() value). Returns the bytes the file holds."""
    started = time.monotonic()
    window_start, window_bytes = started, 0
    read = getattr(response, "read1", response.read)
    while chunk := read(_CHUNK):
        f.write(chunk)
        f.flush()
        have += len(chunk)
        window_bytes += len(chunk)
        _progress(have, total, started)
        now = time.monotonic()
        if now > deadline:
            raise DataError(f"{archive.url}: not finished by the deadline (--deadline); "
                            f"{have:,} bytes kept: run the same command again to resume")
        if now - window_start >= RATE_WINDOW:
            if window_bytes / (now - window_start) < min_rate:
                raise DataError(f"{archive.url}: {window_bytes / (now - window_start):,.0f} "
                                f"bytes/s over the last minute, below --min-rate "
                                f"{min_rate:,.0f}; {have:,} bytes kept: run the same "
                                "command again to resume")
            window_start, window_bytes = now, 0
    return have


def fetch(archive: Archive, part: Path, *, timeout: float = 60.0, min_rate: float = MIN_RATE,
          deadline: float = DEADLINE, log=print) -> Path:
    """Download ``archive`` to ``part``, resuming what is already there; returns ``part``
    once the whole file is there and checked. A lost connection keeps the bytes received
    (run again to resume); a checksum mismatch removes them. ``timeout``: for each read;
    ``min_rate`` bytes/s over each minute; ``deadline`` seconds for the whole download."""
    ends = time.monotonic() + deadline
    have = part.stat().st_size if part.exists() else 0
    if archive.size is not None and have > archive.size:
        part.unlink()  # ours, and longer than the archive can be: start again
        have = 0
    if have:
        ok, head = _looks_like_archive_start(part)
        if not ok:
            part.unlink()
            log(f"{part}: not the start of an archive (it begins {head[:16]!r}): removed, "
                "downloading again from the start")
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
                if resumed:
                    start = _content_range_start(response.headers.get("Content-Range"))
                    if start == 0:  # the whole file again: start it again
                        resumed, have = False, 0
                    elif start != have:
                        part.unlink()
                        raise DataError(
                            f"{archive.url}: asked for the bytes from {have:,}, the server "
                            f"sent {response.headers.get('Content-Range')!r}; the partial "
                            "download was removed: run the same command again")
                mode = "ab" if resumed else "wb"
                if not resumed:
                    have = 0
                length = response.headers.get("Content-Length")
                total = (have + int(length)) if length and length.isdigit() else archive.size
                try:
                    with open(part, mode) as f:
                        have = _read_body(response, f, archive, have, total,
                                          min_rate=min_rate, deadline=ends)
                except (OSError, ConnectionError) as exc:
                    raise DataError(f"{archive.url}: the connection was lost after "
                                    f"{have:,} bytes ({exc}); run the same command again "
                                    "to resume") from None
                finally:
                    if sys.stderr.isatty():
                        sys.stderr.write("\n")
                have = part.stat().st_size
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


def check_members(tar: tarfile.TarFile, name: str, *, max_unpacked: int = MAX_UNPACKED,
                  max_files: int = MAX_FILES) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, or a DataError naming the first that is not a plain file
    or folder with a relative name inside the destination, or as soon as the members
    would unpack to more than ``max_unpacked`` bytes or ``max_files`` members."""
    members, unpacked = [], 0
    for m in tar:
        members.append(m)
        unpacked += max(m.size, 0)
        if unpacked > max_unpacked or len(members) > max_files:
            bound = (f"{max_unpacked:,} bytes (--max-unpacked)" if unpacked > max_unpacked
                     else f"{max_files:,} members (--max-files)")
            raise DataError(f"{name}: refused: it would unpack to more than {bound}; "
                            "nothing was extracted")
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


def extract(archive_file: Path, dest: Path, *, name: str | None = None,
            max_unpacked: int = MAX_UNPACKED, max_files: int = MAX_FILES) -> int:
    """Unpack ``archive_file`` into ``dest`` after checking every member (and their
    number and sizes: ``max_unpacked``, ``max_files``); returns the number of files.
    ``dest`` must not hold files of the same names already."""
    name = name or str(archive_file)
    try:
        tar = tarfile.open(archive_file, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{name}: not a readable tar archive ({exc})") from None
    with tar:
        try:
            members = check_members(tar, name, max_unpacked=max_unpacked,
                                    max_files=max_files)
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
             sha256: str | None = None, keep_archive: bool = False, log=print,
             min_rate: float = MIN_RATE, deadline: float = DEADLINE,
             max_unpacked: int = MAX_UNPACKED, max_files: int = MAX_FILES) -> dict:
    """Download and unpack a Speech Commands archive into ``dest``; returns a summary."""
    import math

    for flag, value in (("--min-rate", min_rate), ("--deadline", deadline),
                        ("--max-unpacked", max_unpacked), ("--max-files", max_files)):
        if not isinstance(value, (int, float)) or math.isnan(value) or value < 0 or (
                flag != "--min-rate" and value == 0):
            raise DataError(f"{flag} {value}: must be a positive number")
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
    fetch(archive, part, min_rate=min_rate, deadline=deadline, log=log)
    try:
        files = extract(part, dest, name=archive.url, max_unpacked=max_unpacked,
                        max_files=max_files)
    except DataError as exc:
        if "not a readable tar archive" in str(exc) or "damaged archive" in str(exc):
            part.unlink()  # ours: a later run must not resume onto it
            raise DataError(f"{exc}; the download was removed: check the URL") from None
        raise
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

