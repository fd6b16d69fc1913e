"""One writer per study: an exclusive ``flock`` on ``<out>/.<study>.lock`` while a run measures it.

The lock file sits beside the study folder (``--fresh`` renames the folder under the lock). The OS
releases the lock when the process ends however it ends (``kill -9`` included), so there is no stale
lock to clean up; the file keeps the holder's pid and start time only to say who holds it.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from ..schemas import DeploybenchError


class StudyBusy(DeploybenchError):
    """Another run is measuring this study."""

    exit_code = 5


def lock_path(study_dir: Path) -> Path:
    return study_dir.parent / f".{study_dir.name}.lock"


class StudyLock:
    """``with StudyLock(study_dir, wait=False):`` — held for the whole run; ``wait`` blocks until it is free."""

    def __init__(self, study_dir: Path, wait: bool = False, say=None) -> None:
        self.study_dir, self.wait = Path(study_dir), wait
        self.say = say or (lambda line: print(line, file=sys.stderr))
        self._fd: int | None = None

    def __enter__(self) -> "StudyLock":
        path = lock_path(self.study_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                if not self.wait:
                    raise StudyBusy(f"study `{self.study_dir.name}` is being measured by {holder}",
                                    "wait for it (--wait) or use another --name") from None
                self.say(f"study `{self.study_dir.name}` is being measured by {holder}; waiting for it to finish")
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"
