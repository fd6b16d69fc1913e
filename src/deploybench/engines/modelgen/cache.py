"""Where generated models live, and how a file gets there exactly once (lock + tmp + rename)."""

from __future__ import annotations

import contextlib
import hashlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

#: bump when the bytes a generator writes change, so stale cache entries are not reused
FORMAT_VERSION = 2  # 2: widths >= 256 are multiples of 256


_sha_cache: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def model_cache_dir() -> Path:
    """``$DEPLOYBENCH_CACHE/models``, else ``~/.cache/deploybench/models`` (created if missing)."""
    base = os.environ.get("DEPLOYBENCH_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "deploybench"
    path = root / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def building(target: Path) -> Iterator[Path | None]:
    """Build ``target`` once, safely across processes.

    Yields ``None`` when ``target`` already exists (someone built it), else a temporary path in the
    same folder to write; on a clean exit the temporary file is renamed onto ``target`` (atomic),
    on an error it is removed. A lock file serialises concurrent builders of the same target.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        yield None
        return
    lock = target.with_name(f".{target.name}.lock")
    with open(lock, "w") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            if target.is_file():
                yield None
                return
            _remove_stale_tmps(target)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            try:
                yield tmp
                if not tmp.is_file():
                    raise RuntimeError(f"builder wrote nothing to {tmp}")
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)
            lock.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_tmps(target: Path) -> None:
    """Half-written files of builders that died (killed mid-write): their pid is gone."""
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        parts = tmp.name[len(target.name) + 2:].split(".")
        if parts and parts[0].isdigit() and not _pid_alive(int(parts[0])):
            tmp.unlink(missing_ok=True)
