"""Whole deployments in parallel on a Dask cluster (``--parallel-deployments N``).

Each deployment becomes one Dask task: the worker host starts the engine, measures every level into
a scratch folder of its own, and stops it (a GPU node per deployment, or several cloud endpoints at
once). As each cell finishes, its files travel back through a ``distributed.Queue`` and the
coordinator, the only writer of the study folder, puts them in place: written in full under
``<cell>.incomplete-part`` and renamed into ``<cell>`` in one step, so a crash leaves either the
whole cell or a folder set aside (never read as a cell). Records do not wait for the cell to finish:
each cell's meta (status running) and its records, in batches as they complete, travel ahead of it
and are appended to ``<cell>`` here, so a crash of either side loses no measurement already taken
(:class:`_Live`). Resume works as for a one-host study: the
coordinator sends each task the summaries of its deployment's complete cells, and the remote run
skips them. At most N deployments run at once.
"""

from __future__ import annotations

import asyncio
import queue
import shutil
import threading
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from .. import storage, workloads
from ..load.cluster import connect
from ..schemas import DeploybenchError, RunConfig, RunSummary, Study
from .plan import Planned
from .runner import NullReporter, Reporter, run_deployment

PART = ".incomplete-part"


def _seeds(study_dir: Path, dep: str) -> dict[str, bytes]:
    """The files a remote run needs to skip this deployment's complete cells (meta, summary, sweep files)."""
    prefix, out = storage.safe_name(dep) + "__", {}
    for d in study_dir.glob(prefix + "*"):
        if d.is_file() and d.suffix == ".json":
            out[d.name] = d.read_bytes()
        elif d.is_dir() and not storage.SET_ASIDE.search(d.name) and (d / storage.META).exists():
            if storage.read_meta(d).status == "complete":
                for name in (storage.META, storage.SUMMARY):
                    if (d / name).exists():
                        out[f"{d.name}/{name}"] = (d / name).read_bytes()
    return out


def _files(root: Path, sub: str) -> dict[str, bytes]:
    base = root / sub
    return {str(p.relative_to(root)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


class _Forward:
    """The remote run's reporter: each cell's meta when it starts, its records as they complete (in
    batches, from a sender thread, so the measuring loop never waits on the network), and the whole
    finished folder at the end go to the coordinator, in that order."""

    BATCH_S = 0.2

    def __init__(self, root: Path, put, dep: str) -> None:
        self.root, self.put, self.prefix = root, put, storage.safe_name(dep) + "__"
        self.run_id: str | None = None
        self._batch: list[str] = []
        self._last = time.monotonic()
        self._out: queue.Queue = queue.Queue()
        self._sender = threading.Thread(target=self._send, daemon=True)
        self._sender.start()

    def _send(self) -> None:
        while (msg := self._out.get()) is not None:
            self.put(msg)

    def _flush(self) -> None:
        if self._batch and self.run_id:
            self._out.put(["records", self.run_id, self._batch])
            self._batch = []
        self._last = time.monotonic()

    def cell_started(self, run_id, concurrency, cfg) -> None:
        self._flush()
        self.run_id = run_id
        meta = self.root / run_id / storage.META
        self._out.put(["started", run_id, meta.read_bytes() if meta.exists() else b""])

    def request_done(self, rec) -> None:
        self._batch.append(rec.model_dump_json())
        if time.monotonic() - self._last >= self.BATCH_S:
            self._flush()

    def cell_skipped(self, summary) -> None: ...

    def cell_finished(self, summary: RunSummary) -> None:
        self._flush()
        tops = {p.name: p.read_bytes() for p in self.root.glob(self.prefix + "*.json") if p.is_file()}
        self._out.put(["cell", summary.run_id, _files(self.root, summary.run_id), tops])

    def close(self) -> None:
        """Send what is left (records of a cell that did not finish included) and stop the sender."""
        self._flush()
        self._out.put(None)
        self._sender.join(timeout=30)


def _remote_deployment(cfg_json: str, prompts, study: str, seeds: dict[str, bytes], out: str) -> list:
    """Runs on a Dask worker: one deployment, every level; cells stream to the coordinator."""
    from distributed import Queue, get_client

    q = Queue(out, client=get_client())
    root = Path(tempfile.mkdtemp(prefix="deploybench-remote-"))
    try:
        for rel, data in seeds.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        cfg = RunConfig.model_validate_json(cfg_json)
        fwd = _Forward(root, q.put, cfg.deployment.name)
        try:
            summaries = run_deployment(cfg, prompts, root, study=study, reporter=fwd, resume=True,
                                       design="back-to-back" if cfg.load.rounds > 1 else "interleaved")
        finally:
            fwd.close()
        return ["ok", [s.model_dump_json() for s in summaries]]
    except DeploybenchError as exc:
        return ["failed", exc.line()]
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _Live:
    """Cells being measured elsewhere, stored here record by record: ``<cell>/meta.json`` (status
    running) when the cell starts, each batch of records appended whole as it arrives. A crash of the
    coordinator or the worker leaves a ``running`` cell with every record received so far, which the
    next run sets aside (``.incomplete-<time>``) and measures again, as for a cell measured here."""

    def __init__(self, study_dir: Path) -> None:
        self.study_dir, self.sinks = study_dir, {}

    def started(self, run_id: str, meta: bytes) -> None:
        self.close(run_id)
        final = self.study_dir / run_id
        if final.exists():
            _set_aside(final, "incomplete")
        final.mkdir(parents=True)
        if meta:
            storage.atomic_write(final / storage.META, meta.decode())
        self.sinks[run_id] = storage.JsonlAppender(final / storage.RECORDS)

    def records(self, run_id: str, lines: list[str]) -> None:
        sink = self.sinks.get(run_id)
        if sink is not None:
            for line in lines:
                sink.write_line(line)

    def close(self, run_id: str | None = None) -> None:
        for rid in [run_id] if run_id else list(self.sinks):
            sink = self.sinks.pop(rid, None)
            if sink is not None:
                sink.close()

    def handle(self, msg) -> RunSummary | None:
        kind = msg[0]
        if kind == "started":
            self.started(msg[1], msg[2])
        elif kind == "records":
            self.records(msg[1], msg[2])
        elif kind == "cell":
            self.close(msg[1])
            return store_cell(self.study_dir, msg[1], msg[2], msg[3])
        return None


def _set_aside(path: Path, why: str) -> None:
    path.rename(path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}"))


def store_cell(study_dir: Path, run_id: str, files: dict[str, bytes], tops: dict[str, bytes]) -> RunSummary | None:
    """Put a cell measured elsewhere in place (the coordinator is the only writer of ``study_dir``)."""
    part = study_dir / (run_id + PART)
    shutil.rmtree(part, ignore_errors=True)
    for rel, data in files.items():
        path = part / Path(rel).relative_to(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    final = study_dir / run_id
    if final.exists():  # its live copy (records as they came), a contended try, or an unfinished earlier one
        live = (final / storage.META).exists() and storage.read_meta(final).status == "running"
        if live:
            shutil.rmtree(final)  # the finished folder holds every record the live copy had
        else:
            _set_aside(final, "contended" if storage.read_summary(final) else "incomplete")
    part.rename(final)
    for name, data in tops.items():
        storage.atomic_write(study_dir / name, data.decode())
    return storage.read_summary(final)


def run_parallel(study: Study, planned: Sequence[Planned], study_dir: Path, cluster, n: int,
                 reporter: Reporter | None = None, resume: bool = True) -> tuple[list[RunSummary], list[str]]:
    """Measure the deployments on ``cluster``'s workers, at most ``n`` at a time; same result as
    :func:`~deploybench.sweep.study.run_study`."""
    reporter = reporter or NullReporter()
    client, owned = connect(cluster)
    try:
        return asyncio.run(_run(client, study, planned, study_dir, n, reporter, resume))
    finally:
        if owned:
            client.close()


async def _run(client, study, planned, study_dir, n, reporter, resume):
    from distributed import Queue

    prompts = workloads.load_prompts(study.workload.source)
    name = f"deploybench-cells-{uuid.uuid4().hex[:8]}"
    q = Queue(name, client=client)
    live = _Live(study_dir)
    try:
        return await _loop(client, study, planned, study_dir, n, reporter, resume, prompts, name, q, live)
    finally:
        live.close()


async def _loop(client, study, planned, study_dir, n, reporter, resume, prompts, name, q, live):
    todo, running, summaries, failures = list(planned), {}, [], []
    while todo or running:
        while todo and len(running) < n:
            p = todo.pop(0)
            # its load comes from the host that measures it (load.workers there), not from the cluster again
            cfg = RunConfig(deployment=p.deployment, workload=study.workload,
                            load=study.load.model_copy(update={"cluster": None}))
            seeds = _seeds(study_dir, p.name) if resume else {}
            running[p.name] = client.submit(_remote_deployment, cfg.model_dump_json(), prompts, study.name, seeds,
                                            name, pure=False, key=f"deploybench-deployment-{uuid.uuid4().hex[:8]}")
        for msg in await asyncio.to_thread(q.get, timeout=1, batch=True):
            if (s := live.handle(msg)) is not None:
                reporter.cell_finished(s)
        for dep, fut in list(running.items()):
            if fut.done():
                for msg in await asyncio.to_thread(q.get, timeout=1, batch=True):  # sent before it ended
                    if (s := live.handle(msg)) is not None:
                        reporter.cell_finished(s)
                del running[dep]
                summaries, failures = _collect(fut, dep, summaries, failures, reporter)
        await asyncio.sleep(0.05)
    return summaries, failures


def _collect(fut, dep, summaries, failures, reporter):
    try:
        status, data = fut.result()
    except Exception as exc:  # noqa: BLE001  (a lost worker: the deployment failed, the others go on)
        status, data = "failed", f"its Dask worker failed ({type(exc).__name__}: {exc}); run again to resume"
    if status == "ok":
        summaries += [RunSummary.model_validate_json(s) for s in data]
    else:
        failures.append(f"{dep}: {data}")
        if hasattr(reporter, "cell_failed"):
            reporter.cell_failed(dep, data)
    return summaries, failures
