"""``speechgru download`` against a local HTTP server on 127.0.0.1 serving archives the test
builds: a good one, one cut halfway (resume), a wrong checksum, hostile members. Nothing
here touches the network."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import time
from pathlib import Path

import pytest
from conftest import tone

from speechgru.cli import main as cli
from speechgru.data.layouts import scan_dataset


def _wav_bytes(seed: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, tone(seed=seed, freq=300 + 40 * seed), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _file(name: str, data: bytes):
    return tarfile.TarInfo(name), data


def good_archive() -> bytes:
    members = [_file(f"./{w}/{s}_nohash_0.wav", _wav_bytes(i * 3 + j))
               for i, w in enumerate(("yes", "no", "bird"))
               for j, s in enumerate(("aa11", "bb22", "cc33"))]
    members.append(_file("./validation_list.txt", b"yes/bb22_nohash_0.wav\n"))
    members.append(_file("./testing_list.txt", b"yes/cc33_nohash_0.wav\n"))
    return _tar(members)


class _Server:
    """Serves ``files`` (path → bytes) with HTTP Range support; ``cut[path]`` makes the
    next full response stop after that many bytes (then the connection is closed)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.cut, self.ranges = files, {}, []
        # path → "from0" (a 206 sent from byte 0), "shifted" (a 206 from the wrong byte),
        # ("trickle", bytes, seconds) (that many bytes every so many seconds)
        self.mode: dict[str, object] = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                mode = outer.mode.get(self.path)
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    start = {"from0": 0, "shifted": start // 2}.get(mode, start)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if isinstance(mode, tuple):  # a crawl
                    _, size, pause = mode
                    for i in range(0, len(body), size):
                        try:
                            self.wfile.write(body[i:i + size])
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(pause)
                    return
                stop = outer.cut.pop(self.path, None)
                self.wfile.write(body if stop is None else body[:stop])
                if stop is not None:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server({"/good.tar.gz": good_archive()})
    yield s
    s.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(root.rglob("*"))}


def test_a_good_archive_is_checked_unpacked_and_read_as_a_dataset(server, tmp_path, capsys):
    data = server.files["/good.tar.gz"]
    out = tmp_path / "sc"
    assert cli(["download", "speech-commands", str(out), "--url", server.url("/good.tar.gz"),
                "--sha256", _sha(data)]) == 0
    said = capsys.readouterr().out
    assert "wrote 11 files" in said and "sha256 checked" in said
    ds = scan_dataset(out, words=("yes", "no"))
    assert {c.label for c in ds.clips} == {"yes", "no", "_unknown_"}
    assert [c.speaker for c in ds.select("validation")] == ["bb22"]
    assert not (out / ".download").exists()  # nothing of ours left beside the data
    assert sorted(p.name for p in out.iterdir()) == ["bird", "no", "testing_list.txt",
                                                     "validation_list.txt", "yes"]


def test_an_interrupted_download_resumes_where_it_stopped(server, tmp_path, capsys):
    data = server.files["/good.tar.gz"]
    out = tmp_path / "sc"
    server.cut["/good.tar.gz"] = len(data) // 2
    args = ["download", "speech-commands", str(out), "--url", server.url("/good.tar.gz"),
            "--sha256", _sha(data)]
    assert cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run the same command again to resume" in err
    part = out / ".download" / "good.tar.gz.part"
    assert part.stat().st_size == len(data) // 2
    assert cli(args) == 0
    assert server.ranges[-1] == f"bytes={len(data) // 2}-"  # asked only for the rest
    assert len(scan_dataset(out).clips) == 9


def test_a_wrong_checksum_removes_the_download_and_extracts_nothing(server, tmp_path, capsys):
    out = tmp_path / "sc"
    assert cli(["download", "speech-commands", str(out), "--url", server.url("/good.tar.gz"),
                "--sha256", "0" * 64]) == 2
    err = capsys.readouterr().err
    assert "sha256" in err and "is not the expected" in err and server.url("/good.tar.gz") in err
    assert [p for p in out.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("bad", ["absolute", "dotdot", "symlink", "hardlink", "device", "fifo"])
def test_a_hostile_archive_is_refused_naming_the_member(server, tmp_path, capsys, bad):
    info = tarfile.TarInfo({"absolute": "/evil.wav", "dotdot": "./yes/../../evil.wav"}
                           .get(bad, "./yes/evil"))
    data = None
    if bad in ("absolute", "dotdot"):
        data = b"x"
    elif bad == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    elif bad == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, "../../outside"
    elif bad == "device":
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    else:
        info.type = tarfile.FIFOTYPE
    archive = _tar([_file("./no/aa11_nohash_0.wav", _wav_bytes(0)), (info, data)])
    server.files["/bad.tar.gz"] = archive
    (tmp_path / "keep.txt").write_text("mine")
    before = _snapshot(tmp_path)
    out = tmp_path / "sc"
    assert cli(["download", "speech-commands", str(out), "--url", server.url("/bad.tar.gz"),
                "--sha256", _sha(archive)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refused" in err and repr(info.name) in err
    after = {k: v for k, v in _snapshot(tmp_path).items() if not k.startswith("sc")}
    assert after == before  # nothing written outside DIR
    assert not (out / "no").exists()  # and nothing extracted inside it


def test_a_folder_that_already_holds_the_data_is_not_overwritten(server, tmp_path, capsys):
    out = tmp_path / "sc"
    (out / "yes").mkdir(parents=True)
    (out / "yes" / "mine.wav").write_bytes(b"mine")
    data = server.files["/good.tar.gz"]
    assert cli(["download", "speech-commands", str(out), "--url", server.url("/good.tar.gz"),
                "--sha256", _sha(data)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert (out / "yes" / "mine.wav").read_bytes() == b"mine"
    assert sorted(p.name for p in (out / "yes").iterdir()) == ["mine.wav"]


def test_the_official_archives_are_known_by_size_and_sha256():
    from speechgru.data.download import ARCHIVES

    assert set(ARCHIVES) == {"v0.02", "v0.01", "test"}
    for a in ARCHIVES.values():
        assert a.url.startswith("https://") and len(a.sha256) == 64
        int(a.sha256, 16)


def _args(server, out, path, *extra):
    return ["download", "speech-commands", str(out), "--url", server.url(path), *extra]


@pytest.mark.parametrize("mode", ["from0", "shifted"])
def test_a_resume_answered_from_the_wrong_byte_is_never_appended(mode, server, tmp_path,
                                                                   capsys):
    """A 206 whose Content-Range starts at 0 restarts the file; any other wrong start
    removes the partial file and says so. Either way no corrupt archive is unpacked."""
    data = server.files["/good.tar.gz"]
    out = tmp_path / "sc"
    server.cut["/good.tar.gz"] = len(data) // 2
    assert cli(_args(server, out, "/good.tar.gz")) == 2  # no --sha256: nothing to check
    capsys.readouterr()
    server.mode["/good.tar.gz"] = mode
    rc = cli(_args(server, out, "/good.tar.gz"))
    err = capsys.readouterr().err.strip()
    if mode == "from0":
        assert rc == 0, err
        assert len(scan_dataset(out).clips) == 9
        assert (out / "yes" / "aa11_nohash_0.wav").read_bytes() == _wav_bytes(0)
    else:
        assert rc == 2 and len(err.splitlines()) == 1 and "asked for the bytes from" in err
        assert "the partial download was removed" in err
        assert not (out / ".download" / "good.tar.gz.part").exists()
        assert not any(p.suffix == ".wav" for p in out.rglob("*"))


def test_a_page_instead_of_an_archive_is_not_kept_to_resume_onto(server, tmp_path, capsys):
    server.files["/page.tar.gz"] = b"<html><body>Please log in</body></html>\n"
    out = tmp_path / "sc"
    for _ in range(2):
        assert cli(_args(server, out, "/page.tar.gz")) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "not a readable tar archive" in err
        assert "the download was removed" in err
        assert not (out / ".download" / "page.tar.gz.part").exists()
    assert server.ranges == [None, None]  # the second run started again
    # a partial file left by something else that is not an archive's start
    part = out / ".download" / "good.tar.gz.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"<!DOCTYPE html><html>" + b"x" * 300)
    assert cli(_args(server, out, "/good.tar.gz")) == 0
    said = capsys.readouterr().out
    assert "not the start of an archive" in said and server.ranges[-1] is None
    assert len(scan_dataset(out).clips) == 9


def test_a_crawling_server_is_left_with_what_arrived(server, tmp_path, capsys, monkeypatch):
    from speechgru.data import download

    monkeypatch.setattr(download, "RATE_WINDOW", 0.5)
    server.mode["/good.tar.gz"] = ("trickle", 64, 0.1)  # 640 bytes/s
    out = tmp_path / "sc"
    assert cli(_args(server, out, "/good.tar.gz", "--min-rate", "5000")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "below --min-rate 5,000" in err
    part = out / ".download" / "good.tar.gz.part"
    kept = part.stat().st_size
    assert kept > 0 and "bytes kept" in err  # what arrived reached the file
    assert cli(_args(server, out, "/good.tar.gz", "--min-rate", "0", "--deadline", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert "deadline" in err and part.stat().st_size > kept
    assert server.ranges[-1] == f"bytes={kept}-"
    assert cli(_args(server, out, "/good.tar.gz", "--deadline", "-1")) == 2
    assert "--deadline -1.0: must be a positive number" in capsys.readouterr().err


def test_an_archive_that_unpacks_too_far_is_refused_before_writing(server, tmp_path, capsys):
    big = _tar([_file("./yes/aa11_nohash_0.wav", b"\0" * 5_000_000)])
    many = _tar([_file(f"./yes/s{i}_nohash_0.wav", b"") for i in range(300)])
    assert len(big) < 20_000
    server.files.update({"/big.tar.gz": big, "/many.tar.gz": many})
    for path, flag, needle in (("/big.tar.gz", ["--max-unpacked", "1000000"],
                                "more than 1,000,000 bytes (--max-unpacked)"),
                               ("/many.tar.gz", ["--max-files", "100"],
                                "more than 100 members (--max-files)")):
        out = tmp_path / path.strip("/").split(".")[0]
        assert cli(_args(server, out, path, *flag)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
        assert not any(p.is_file() for p in out.rglob("*") if ".download" not in p.parts)
