"""One run per logdir: the advisory lock a run holds while it runs.

`RunLock` holds `LOGDIR/run.lock` for the life of a `train` call: an
exclusive `fcntl.flock` on the open file, which the kernel releases when
the process ends however it ends, and in the file the holder's pid, host
and start time, which a refusal names. A second run into a held logdir
is refused, `overwrite` or not (it would delete a live run). A lock file
left by a run that ended without releasing it (killed) is taken over:
its `flock` went with its process. One that names another host is
refused with advice instead, since this host cannot tell whether that
run still lives where locks do not reach across hosts.
"""

import datetime
import errno
import json
import os
import pathlib
import socket

from zoo.run_directory import RunConflictError
from zoo.run_directory import check_logdir

try:
    import fcntl
except ImportError:  # Windows: no `flock`; the file's holder decides.
    fcntl = None

LOCK_FILE = "run.lock"
# `flock` errors of a file system that has no locks (some network ones).
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class RunLockedError(RunConflictError):
    """The logdir is held by another run (`RunLock`)."""


class RunLock:
    """The advisory lock of a logdir: one run at a time.

    A context manager: entering it creates the logdir if needed and takes
    `LOGDIR/run.lock` (an exclusive `flock` without waiting, and the
    holder's pid, host and start time written into the file), exiting
    releases it, on an exception or a `KeyboardInterrupt` too (the file
    is deleted, then unlocked). A process that dies without exiting
    (`SIGKILL`, a power cut) leaves the file but not its `flock`.

    Taking the lock:

    - another process holds its `flock`: refused, naming the holder;
    - the file names a run on another host (left by a run that ended
      there without releasing it, or held on a file system whose locks
      do not reach across hosts): refused, with the advice to delete the
      file if that run has ended;
    - the file names a run on this host whose `flock` is gone (it was
      killed): taken over;
    - the file system has no `flock` (nor Windows): a file naming a live
      process of this host is refused, one naming a dead one taken over.

    Args:
        logdir: The run directory; created if missing.

    Attributes:
        holder: This run's `{"pid", "host", "since"}` while held, for the
            run record.

    Raises:
        RunLockedError: On entering, if another run holds the logdir,
            naming it.
        ValueError: If `logdir` is a file, or cannot be created or
            written to, naming it.

    Example:

    ```python
    with RunLock("runs/dates") as lock:
        print(lock.holder["pid"])  # This process's.
    ```
    """

    def __init__(self, logdir):
        self.logdir = pathlib.Path(logdir)
        self.path = self.logdir / LOCK_FILE
        self.holder = None
        self._file = None

    def __enter__(self):
        check_logdir(self.logdir)
        while self._file is None:
            self._file = self._take()
        return self

    def __exit__(self, *exc_info):
        self.release()

    def release(self):
        """Deletes the lock file and unlocks it (idempotent)."""
        if self._file is None:
            return
        # Deleted while locked: a run that opened it meanwhile finds its
        # file gone once it gets the lock, and opens a new one.
        self.path.unlink(missing_ok=True)
        os.close(self._file)
        self._file, self.holder = None, None

    def _take(self):
        """The locked file descriptor, or `None` to try again."""
        descriptor = self._open()
        try:
            locked = _flock(descriptor)
            if locked is False:
                raise RunLockedError(self._refusal(_read(self.path)))
            if not _same_file(descriptor, self.path):
                # Released (deleted) by its holder between open and lock.
                os.close(descriptor)
                return None
            held = _read(self.path)
            if held and (held.get("host") != socket.gethostname()):
                raise RunLockedError(self._other_host(held))
            if held and locked is None and _alive(held.get("pid")):
                raise RunLockedError(self._refusal(held))
            self.holder = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.datetime.now().isoformat(" ", "seconds"),
            }
            os.ftruncate(descriptor, 0)
            os.write(descriptor, json.dumps(self.holder).encode())
            return descriptor
        except BaseException:
            os.close(descriptor)
            raise

    def _open(self):
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError as error:
            raise ValueError(
                f"--logdir {self.logdir}: expected a writable directory, "
                f"received one where {LOCK_FILE} cannot be written "
                f"({error.strerror})"
            ) from None

    def _refusal(self, held):
        return (
            f"--logdir {self.logdir}: in use by another run "
            f"({_describe(held)}); wait for it to end, or use another "
            "--logdir"
        )

    def _other_host(self, held):
        return (
            f"--logdir {self.logdir}: {self.path} names a run on another "
            f"host ({_describe(held)}), which this host cannot check; use "
            f"another --logdir, or delete {self.path} if that run has ended"
        )


def _flock(descriptor):
    """`True` if locked, `False` if held elsewhere, `None` if no locks."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in _NO_LOCKS:
            return None
        raise
    return True


def _same_file(descriptor, path):
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (status.st_dev, status.st_ino) == (opened.st_dev, opened.st_ino)


def _read(path):
    """The holder a lock file names, or `None` (empty, unreadable)."""
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return held if isinstance(held, dict) else None


def _alive(pid):
    """Whether a process of this host has the id `pid` (if it can tell)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name != "posix":
        # Windows's `os.kill` would end it: assume it lives.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Another user's.
    return True


def _describe(held):
    if not held:
        return "holder not yet written"
    return (
        f"pid {held.get('pid')} on {held.get('host')} since {held.get('since')}"
    )
