"""Is the host quiet? CPU taken from the server by other processes, and where the client runs.

A cell is measured on a shared machine: another process on the server's cores slows the server
and nothing in the client's timestamps says so. :class:`CpuWatch` takes two snapshots (start and
end of a level) of per-core CPU times, the server's process tree and deploybench's own process
(psutil), and reports

* ``foreign_share``: CPU time on the server's cores not used by the server (nor, when the client
  shares those cores, by deploybench) / (elapsed x cores) — kernel work for the sockets counts
  as foreign too, so a quiet host reads a few per cent, not zero;
* ``steal_share``: steal time on those cores / their total time (a hypervisor giving the vCPU away).

:func:`client_cores` picks the cores the client is pinned to: every core no server of the study
uses, when there is one; otherwise the client shares the server's cores and cells say
``shared-cpu``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psutil

BUSY = ("user", "nice", "system", "irq", "softirq")
ALL = BUSY + ("idle", "iowait", "steal")  # guest time is already inside user


def all_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def client_cores(server_sets: Iterable[Sequence[int] | None], host: Sequence[int] | None = None) -> list[int] | None:
    """Cores for the client: those outside every server's ``cpu_set`` (None: no spare core).

    A server without a ``cpu_set`` may run on every core, so it leaves none spare.
    """
    host = list(host if host is not None else all_cores())
    used: set[int] = set()
    for cs in server_sets:
        if not cs:
            return None
        used |= set(cs)
    spare = [c for c in host if c not in used]
    return spare or None


class Pinned:
    """Pin this process (the client's event loop) to ``cores`` for a block; restore afterwards."""

    def __init__(self, cores: Sequence[int] | None) -> None:
        self.cores, self.before = cores, None

    def __enter__(self) -> "Pinned":
        if self.cores and hasattr(os, "sched_setaffinity"):
            self.before = os.sched_getaffinity(0)
            os.sched_setaffinity(0, set(self.cores))
        return self

    def __exit__(self, *exc) -> None:
        if self.before is not None:
            os.sched_setaffinity(0, self.before)


def yield_to_client(pid: int | None, niceness: int = 10) -> int:
    """Lower the priority of every thread of the server's process tree (Linux: niceness is per thread).

    When the client has to share the server's cores, a server whose threads fill every core delays
    the client's sends (schedule lag of tens of ms on 2 cores); the client needs a few per cent of
    one core, so giving it precedence costs the server little and keeps the measurement honest.
    Returns the number of threads reniced (0 where it cannot be done).
    """
    if pid is None or not hasattr(os, "setpriority"):
        return 0
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0
    done = 0
    for proc in procs:
        try:
            for t in proc.threads():
                os.setpriority(os.PRIO_PROCESS, t.id, max(niceness, os.getpriority(os.PRIO_PROCESS, t.id)))
                done += 1
        except (psutil.Error, OSError):
            continue
    return done


def _tree_cpu(pid: int | None) -> float | None:
    """user + system seconds of a process and its children (None when it cannot be read)."""
    if pid is None:
        return None
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for q in procs:
        try:
            t = q.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


@dataclass
class _Snap:
    t: float
    cores: list
    server: float | None
    own: float


def _snap(server_pid: int | None, client_pids: Sequence[int] = ()) -> _Snap:
    """``own``: deploybench's CPU time, its load worker processes (``load.workers``) included."""
    own = 0.0
    for pid in (None, *client_pids):
        try:
            t = psutil.Process(pid).cpu_times()
            own += t.user + t.system
        except psutil.Error:
            continue
    return _Snap(time.monotonic(), psutil.cpu_times(percpu=True), _tree_cpu(server_pid), own)


def _core_delta(a, b, fields: Sequence[str]) -> float:
    return sum(getattr(b, f, 0.0) - getattr(a, f, 0.0) for f in fields)


class CpuWatch:
    """Snapshots around one level; :meth:`result` turns them into shares of the server's cores."""

    def __init__(self, server_pid: int | None, server_cores: Sequence[int] | None, client_shares: bool,
                 client_pids: Sequence[int] = (), probe=None) -> None:
        self.pid, self.client_pids, self.probe = server_pid, list(client_pids), probe
        self.cores = list(server_cores) if server_cores else all_cores()
        self.client_shares = client_shares
        self.first = _snap(server_pid, self.client_pids)

    def result(self) -> dict:
        last = _snap(self.pid, self.client_pids)
        elapsed = max(1e-9, last.t - self.first.t)
        pairs = [(self.first.cores[c], last.cores[c]) for c in self.cores if c < len(last.cores)]
        busy = sum(_core_delta(a, b, BUSY) for a, b in pairs)
        steal = sum(_core_delta(a, b, ("steal",)) for a, b in pairs)
        total = sum(_core_delta(a, b, ALL) for a, b in pairs) or elapsed * len(pairs)
        out = {"cores": self.cores, "elapsed_s": round(elapsed, 3), "steal_share": round(steal / total, 4),
               "client_shares_cores": self.client_shares}
        slow = self.probe.slowdown(int(self.first.t * 1e9), int(last.t * 1e9)) if self.probe is not None else None
        if slow is not None:
            out.update(host_slowdown=round(slow[0], 3), probe_typical_us=round(slow[1] / 1e3, 1), probe_samples=slow[2])
        if self.first.server is None or last.server is None:
            out["foreign_share"] = None  # no server process to account for (external endpoint)
            return out
        server = last.server - self.first.server
        own = (last.own - self.first.own) if self.client_shares else 0.0
        out.update(server_cpu_s=round(server, 3), client_cpu_s=round(last.own - self.first.own, 3),
                   foreign_share=round(max(0.0, busy - server - own) / (elapsed * len(pairs)), 4))
        return out


def contended(result: dict, cpu_limit: float, steal_limit: float, slowdown_limit: float | None = None) -> str | None:
    """Why a cell counts as contended (None when it does not)."""
    foreign, steal = result.get("foreign_share"), result.get("steal_share") or 0.0
    slow = result.get("host_slowdown")
    if slowdown_limit and slow is not None and slow > slowdown_limit:
        return (f"the host's CPU ran {slow:.2f}x slower than its typical speed in this study (CPU probe; limit "
                f"{slowdown_limit:.2f}x): a neighbour outside this machine")
    if foreign is not None and foreign > cpu_limit:
        return f"other processes used {foreign:.0%} of the server's cores (limit {cpu_limit:.0%})"
    if steal > steal_limit:
        return f"steal time {steal:.0%} of the server's cores (limit {steal_limit:.0%})"
    return None
