"""Whole deployments in parallel on a Dask cluster (``--parallel-deployments N``).

Each deployment becomes one Dask task: the worker host starts the engine, measures every level into
a scratch folder of its own, and stops it (a GPU node per deployment, or several cloud endpoints at
once). As each cell finishes, its files travel back through a ``distributed.Queue`` and the
coordinator, the only writer of the study folder, puts them in place: written in full under
``<cell>.incomplete-part`` and renamed into ``<cell>`` in one step, so a crash leaves either the
whole cell or a folder set aside (never read as a cell). Resume works as for a one-host study: the
coordinator sends each task the summaries of its deployment's complete cells, and the remote run
skips them. At most N deployments run at once.
"""

from __future__ import annotations

import asyncio
import shutil
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
    """The remote run's reporter: each finished cell's folder goes to the coordinator."""

    def __init__(self, root: Path, put, dep: str) -> None:
        self.root, self.put, self.prefix = root, put, storage.safe_name(dep) + "__"

    def cell_started(self, run_id, concurrency, cfg) -> None: ...
    def request_done(self, rec) -> None: ...
    def cell_skipped(self, summary) -> None: ...

    def cell_finished(self, summary: RunSummary) -> None:
        tops = {p.name: p.read_bytes() for p in self.root.glob(self.prefix + "*.json") if p.is_file()}
        self.put(["cell", summary.run_id, _files(self.root, summary.run_id), tops])


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
        summaries = run_deployment(cfg, prompts, root, study=study, reporter=fwd, resume=True,
                                   design="back-to-back" if cfg.load.rounds > 1 else "interleaved")
        return ["ok", [s.model_dump_json() for s in summaries]]
    except DeploybenchError as exc:
        return ["failed", exc.line()]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def store_cell(study_dir: Path, run_id: str, files: dict[str, bytes], tops: dict[str, bytes]) -> RunSummary | None:
    """Put a cell measured elsewhere in place (the coordinator is the only writer of ``study_dir``)."""
    part = study_dir / (run_id + PART)
    shutil.rmtree(part, ignore_errors=True)
    for rel, data in files.items():
        path = part / Path(rel).relative_to(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    final = study_dir / run_id
    if final.exists():  # a contended try measured again, or an unfinished one from an earlier run
        why = "contended" if storage.read_summary(final) else "incomplete"
        final.rename(final.with_name(f"{run_id}.{why}-{time.strftime('%Y%m%d-%H%M%S')}"))
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
            s = store_cell(study_dir, msg[1], msg[2], msg[3])
            if s is not None:
                reporter.cell_finished(s)
        for dep, fut in list(running.items()):
            if fut.done():
                for msg in await asyncio.to_thread(q.get, timeout=1, batch=True):  # cells sent before it ended
                    s = store_cell(study_dir, msg[1], msg[2], msg[3])
                    if s is not None:
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
