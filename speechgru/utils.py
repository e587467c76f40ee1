"""Small helpers shared by several stages: atomic writes, owned temporary folders, child
processes that die with their parent, file hashes, where made-once data is cached."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

FILE_MODE = 0o644  # what the package writes is readable by others (a service account)
DIR_MODE = 0o755
TEMP_SUFFIX = ".speechgru-tmp"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op
    elsewhere). Used as the initializer of every child process the package starts, so a
    killed command leaves no workers behind."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request was made


# a tiny process that waits for its parent to close the pipe (or to die: the kernel closes
# it), then removes the temporary folder if it is still there and is one of ours
_JANITOR = (
    "import os, shutil, sys, time\n"
    "sys.stdin.buffer.read()\n"
    "p = sys.argv[1]\n"
    "if p.endswith(sys.argv[2]) and os.path.isdir(p):\n"
    "    time.sleep(0.5)\n"
    "    shutil.rmtree(p, ignore_errors=True)\n"
)


@contextlib.contextmanager
def owned_tempdir(parent: str | Path, name: str):
    """A hidden temporary folder in ``parent`` (``.{name}.XXXX.speechgru-tmp``) that is
    removed on every exit path: by this process when the block ends, and by a small
    janitor process when this one is killed (even by SIGKILL). Rename it into place to
    keep it."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=parent))
    os.chmod(tmp, DIR_MODE)
    janitor = subprocess.Popen([sys.executable, "-c", _JANITOR, str(tmp), TEMP_SUFFIX],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        janitor.stdin.close()
        janitor.wait()


def publish_tree(path: Path) -> None:
    """Ordinary permissions for a folder the package wrote: 0755 folders, 0644 files."""
    os.chmod(path, DIR_MODE)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), DIR_MODE)
        for f in files:
            os.chmod(os.path.join(root, f), FILE_MODE)


def inside(path: str | Path, folder: str | Path) -> bool:
    """True when ``path`` lies in ``folder``, both made absolute with ``..`` removed (no
    symlink is followed: a dataset of links stays where it was named)."""
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


VERBOSE_ENV = "SPEECHGRU_VERBOSE"  # set by `speechgru --verbose`; inherited by children


@contextlib.contextmanager
def native_stderr_hidden():
    """Send what C and C++ code write to file descriptor 2 to /dev/null for the duration
    (TensorFlow's start-up lines: CUDA probing on a machine without a GPU, absl's pre-init
    notice; LiteRT's "Created TensorFlow Lite XNNPACK delegate"), unless
    ``SPEECHGRU_VERBOSE`` is set. Python exceptions are unaffected: they carry their own
    messages and are printed after the descriptor is restored."""
    if os.environ.get(VERBOSE_ENV):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly():
    """``import tensorflow`` without its C++ start-up lines, and with its later C++ logging
    limited to errors that stop it (``TF_CPP_MIN_LOG_LEVEL=3``), unless verbose."""
    if not os.environ.get(VERBOSE_ENV):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with native_stderr_hidden():
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]


class DirLock:
    """An exclusive advisory lock (``flock``) on a directory, held until :meth:`release` or
    the process ends (a killed holder frees it): two commands never write one run or one
    folder of exports at once. Nothing is written into the directory."""

    def __init__(self, path: str | Path, what: str, target: str | Path | None = None):
        from .errors import ConfigError

        self.path, self.fd = Path(path), None
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise ConfigError(f"{target or self.path}: another speechgru {what} is writing "
                              f"into {self.path} now; wait for it to finish or choose another "
                              "--out") from None
        except ImportError:  # no flock (not POSIX): no lock
            pass

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self):
        self.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def cache_root() -> Path:
    """Where made-once data lives: ``$SPEECHGRU_CACHE``, else ``$XDG_CACHE_HOME/speechgru``,
    else ``~/.cache/speechgru``."""
    if os.environ.get("SPEECHGRU_CACHE"):
        return Path(os.environ["SPEECHGRU_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "speechgru"
