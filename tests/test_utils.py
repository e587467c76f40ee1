"""utils: path containment, atomic writes."""

import os
import stat

from speechgru.utils import atomic_write_text, inside


def test_inside_removes_dotdot_and_keeps_links_where_they_were_named(tmp_path, monkeypatch):
    data = tmp_path / "shared" / "data"
    (data / "yes").mkdir(parents=True)
    clip = data / "yes" / "a.wav"
    clip.write_bytes(b"")
    work = tmp_path / "main"
    work.mkdir()
    monkeypatch.chdir(work)
    assert inside(clip, "../shared/data")  # a relative folder with ".." (the CLI's --data)
    assert inside("../shared/data/yes/a.wav", data)
    assert not inside(clip, "../shared/other")
    assert not inside(tmp_path / "shared" / "database" / "x.wav", data)  # not a prefix match
    link = tmp_path / "view"
    link.symlink_to(data)
    assert inside(link / "yes" / "a.wav", link) and not inside(link / "yes" / "a.wav", data)


def test_atomic_write_is_readable_by_others_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_text(path, "{}")
    assert path.read_text() == "{}"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


def test_native_stderr_is_hidden_unless_verbose(capfd, monkeypatch):
    from speechgru.utils import VERBOSE_ENV, native_stderr_hidden

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with native_stderr_hidden():
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    monkeypatch.setenv(VERBOSE_ENV, "1")
    with native_stderr_hidden():
        os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"
