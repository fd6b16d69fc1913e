"""Measure one deployment at each load level: start the engine once, run every level, stop it.

The ``Engine`` Protocol lives here, with its only caller.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import engines, protocols, storage
from ..storage import run_id_for
from .._version import __version__
from ..load import faults, workers
from ..load.scrape import scrape_loop
from ..protocols.base import GenParams, Prompt
from ..schemas import Endpoint, EngineInfo, RequestRecord, RunConfig, RunMeta, RunSummary, engine_plugin
from ..storage.cells import summarize_cell
from ._hostinfo import host_info
from . import contention, levels, ratesweep, speedprobe
from ._probe import probe_openai


class Engine(Protocol):
    kind: str

    def start(self) -> Endpoint: ...
    def stop(self) -> None: ...
    def info(self) -> EngineInfo: ...


class Reporter(Protocol):
    def cell_started(self, run_id: str, concurrency: int, cfg: RunConfig) -> None: ...
    def request_done(self, rec: RequestRecord) -> None: ...
    def cell_finished(self, summary: RunSummary) -> None: ...
    def cell_skipped(self, summary: RunSummary) -> None: ...


class NullReporter:
    def cell_started(self, run_id, concurrency, cfg) -> None: ...
    def request_done(self, rec) -> None: ...
    def cell_finished(self, summary) -> None: ...
    def cell_skipped(self, summary) -> None: ...


_QUANT_RE = re.compile(r"(?i)(?:^|[._-])((?:I?Q\d(?:_[A-Z0-9]+)*)|F16|BF16|F32)(?:$|[._-])")


def default_labels(dep, info: EngineInfo) -> dict[str, str]:
    """model / engine / quantization labels for cells that were not given them (single runs)."""
    labels = {"hardware": dep.hardware.name, "engine": info.kind, "model": info.model or dep.name}
    quant = getattr(dep.engine, "quantization", None)
    if not quant and info.model_path:
        m = _QUANT_RE.search(Path(info.model_path).stem)
        quant = m.group(1).upper() if m else None
    labels["quantization"] = quant or "native"
    return labels


def completed_summary(run_dir: Path) -> RunSummary | None:
    """The stored summary of a cell that finished; None if it must (re)run."""
    try:
        meta = storage.read_meta(run_dir)
    except (OSError, ValueError):
        return None
    if meta.status != "complete":
        return None
    return storage.read_summary(run_dir) or summarize_cell(run_dir, meta)


AUTO = "auto"


@dataclass
class _Ctx:
    """What every level of one engine start shares."""

    cfg: RunConfig
    client: object
    info: EngineInfo
    host: object
    study_dir: Path
    study: str | None
    reporter: Reporter
    labels: dict[str, str]
    scrape: tuple | None
    cursor: list[int]
    server_pid: int | None
    client_cores: list[int] | None
    pool: object = None  # load.workers > 1 or load.cluster: the level's load comes from these workers


def run_deployment(cfg: RunConfig, prompts: Sequence[Prompt], study_dir: Path, *, study: str | None = None,
                   reporter: Reporter | None = None, resume: bool = True,
                   labels: dict[str, str] | None = None, client_cores: list[int] | None | str = AUTO) -> list[RunSummary]:
    """Start the engine, measure every load level (x trials), always stop the engine.

    Trials repeat the whole sequence of levels (1..N, then again), so slow drift shows up as
    spread between trials; with ``load.restart_server`` each trial gets a freshly started engine.
    """
    reporter = reporter or NullReporter()
    dep = cfg.deployment
    if cfg.load.cluster:  # before any engine starts: without Dask, one line saying how to get it
        from ..load.cluster import distributed_module

        distributed_module()
    todo, done = [], []
    for trial in range(1, cfg.load.trials + 1):
        for level in cfg.load.all_levels:
            if level.kind == "sweep":
                prior = ratesweep.completed(study_dir, dep.name, trial) if resume else None
            else:
                prior = completed_summary(study_dir / run_id_for(dep.name, level, trial)) if resume else None
            if prior is not None:
                for s in prior if isinstance(prior, list) else [prior]:
                    reporter.cell_skipped(s)
                    done.append(s)
            else:
                todo.append((trial, level))
    if client_cores == AUTO:
        client_cores = (contention.client_cores([getattr(dep.engine, "cpu_set", None)])
                        if cfg.load.pin_client else None)
    groups = ([[x for x in todo if x[0] == t] for t in range(1, cfg.load.trials + 1)]
              if cfg.load.restart_server else [todo])
    for group in (g for g in groups if g):
        done += _with_engine(cfg, prompts, group, study_dir, study, reporter, labels or {}, client_cores)
    order = {lv.key: i for i, lv in enumerate(cfg.load.all_levels)}
    return sorted(done, key=lambda s: (s.trial, order.get(s.level, len(order)), s.offered_rps or 0, s.concurrency))


def _with_engine(cfg, prompts, cells, study_dir, study, reporter, labels, client_cores) -> list[RunSummary]:
    dep = cfg.deployment
    engine: Engine = engines.create(dep.engine, study_dir / "_servers" / dep.name, dep.hardware.price_per_hour)
    try:
        if hasattr(engine, "proc"):  # a server on this host: the speed probe is sampling by its first cell
            speedprobe.shared()
        endpoint = engine.start()
        if dep.protocol in engine_plugin(dep.engine.kind).protocols:  # the deployment picks among them
            endpoint = endpoint.model_copy(update={"protocol": dep.protocol})
        info = engine.info()
        proc = getattr(engine, "proc", None)
        if client_cores is None and proc is not None:  # client and server share cores: the client goes first
            contention.yield_to_client(proc.pid)
        with contention.Pinned(client_cores):
            return workers.run_async(_measure(cfg, endpoint, info, cells, prompts, study_dir, study, reporter,
                                              labels, getattr(proc, "pid", None), client_cores))
    finally:
        engine.stop()


async def _measure(cfg: RunConfig, endpoint: Endpoint, info: EngineInfo, cells: list[tuple[int, int]],
                   prompts: Sequence[Prompt], study_dir: Path, study: str | None, reporter: Reporter,
                   labels: dict[str, str], server_pid: int | None, client_cores) -> list[RunSummary]:
    async with workers.new_session() as session:
        if endpoint.protocol.startswith("openai"):
            endpoint = await probe_openai(endpoint, session)
        info.model = info.model or endpoint.model
        client = protocols.create(endpoint, session)
        scrape = (endpoint.metrics_url, session, endpoint.headers) if endpoint.metrics_url else None
        # prompts continue across levels: a server must not see a prompt again (prompt caches)
        ctx = _Ctx(cfg, client, info, host_info(), study_dir, study, reporter, labels, scrape, [0], server_pid,
                   client_cores)
        out = []
        pool = workers.pool_for(cfg.load, endpoint, client_cores, server_pid is not None)
        try:
            ctx.pool = await pool.__aenter__()
            for trial, level in cells:
                if level.kind == "sweep":
                    out += await ratesweep.run_sweep(ctx, level, trial, prompts, _measure_checked)
                else:
                    out.append(await _measure_checked(ctx, level, trial, prompts))
        finally:
            await pool.__aexit__(None, None, None)
            close = getattr(client, "close", None)
            if close is not None:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
        return out


async def _measure_checked(ctx: _Ctx, level, trial: int, prompts) -> RunSummary:
    """Measure a level; a contended try is set aside (``<cell>.contended-<time>``) and measured again."""
    for attempt in range(ctx.cfg.load.contention_retries + 1):
        summary, why = await _measure_level(ctx, level, trial, prompts)
        if why is None or attempt == ctx.cfg.load.contention_retries:
            return summary
        run_dir = ctx.study_dir / summary.run_id
        run_dir.rename(run_dir.with_name(f"{summary.run_id}.contended-{time.strftime('%Y%m%d-%H%M%S')}-{attempt + 1}"))
        retried = getattr(ctx.reporter, "cell_retried", None)
        if retried is not None:
            retried(summary.run_id, why)
    return summary


async def _measure_level(ctx: _Ctx, level, trial: int, prompts) -> tuple[RunSummary, str | None]:
    cfg, dep = ctx.cfg, ctx.cfg.deployment
    concurrency = levels.users_of(level)
    run_id = run_id_for(dep.name, level, trial)
    run_dir = ctx.study_dir / run_id
    if run_dir.exists():  # an incomplete earlier attempt: keep it aside, start clean
        run_dir.rename(run_dir.with_name(f"{run_id}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"))
    server_cores = getattr(dep.engine, "cpu_set", None)
    shares = ctx.client_cores is None and ctx.server_pid is not None  # a server process on this host
    meta = RunMeta(run_id=run_id, study=ctx.study, deployment=dep.name, deployment_config=dep.model_dump(mode="json"),
                   concurrency=concurrency, config=cfg.model_dump(mode="json"), engine=ctx.info, host=ctx.host,
                   deploybench_version=__version__, started_at=storage.now_iso(),
                   price_per_hour=dep.hardware.price_per_hour, trial=trial,
                   level={**level.model_dump(mode="json"), "key": level.key},
                   labels={**default_labels(dep, ctx.info), **dep.labels, **ctx.labels})
    from ..predict.deployed import features_or_why  # never raises: a run never fails on its features

    meta.features, meta.features_note = features_or_why(dep.model_copy(update={"labels": meta.labels}), concurrency,
                                                        cfg.workload, prompts, ctx.info.model_path, level.key, run_id)
    writer = storage.RunWriter(run_dir, meta)
    params = GenParams(max_tokens=cfg.workload.max_tokens, ignore_eos=cfg.workload.ignore_eos,
                       temperature=cfg.workload.temperature)
    ctx.reporter.cell_started(run_id, concurrency, cfg)
    status = "interrupted"
    scraper = _start_scraper(ctx.scrape, cfg.load.scrape_interval_s, run_dir)
    probe = speedprobe.shared() if ctx.server_pid is not None else None  # a server on this host: how fast is it?
    watch = contention.CpuWatch(ctx.server_pid, server_cores, shares,
                                [*getattr(ctx.pool, "pids", ()), *([probe.proc.pid] if probe and probe.proc else [])],
                                probe)
    # a server that dies mid-level stops the level at once; the cell is stored as failed (resume measures it again)
    gone = faults.SERVER_WATCH.set(faults.ServerWatch(faults.process_alive(ctx.server_pid)))
    try:
        res = await levels.drive(ctx.client, level, cfg.load, params, prompts, writer.append, ctx.reporter,
                                 ctx.cursor[0], run_dir, ctx.pool)
        ctx.cursor[0] += res.prompts_used
        meta.window_start_ns, meta.window_end_ns = res.window_start_ns, res.window_end_ns
        meta.contention = watch.result()
        why = contention.contended(meta.contention, cfg.load.contention_cpu, cfg.load.contention_steal,
                                   cfg.load.contention_slowdown)
        meta.contention["contended"] = why
        meta.flags = [f for f, on in (("contended", why), ("imprecise", res.imprecise), ("shared-cpu", shares),
                                      ("truncated", res.truncated), ("failed", res.failed)) if on]
        status, why = ("failed", None) if res.failed else ("complete", why)
        meta.note = res.failed or meta.note
    finally:
        faults.SERVER_WATCH.reset(gone)
        await _stop_scraper(scraper)
        meta.ended_at = storage.now_iso()
        writer.close(status)
    summary = summarize_cell(run_dir, meta)  # the figures `summarize` and `report` recompute
    storage.write_summary(run_dir, summary)
    storage.write_parquet(run_dir)
    ctx.reporter.cell_finished(summary)
    return summary, why


def _start_scraper(scrape, interval_s: float, run_dir: Path):
    """Background task scraping the engine's /metrics into the cell's folder (None when off)."""
    if not scrape or interval_s <= 0:
        return None
    url, session, headers = scrape
    stop = asyncio.Event()
    sink = storage.JsonlAppender(run_dir / storage.SERVER_METRICS)
    task = asyncio.create_task(scrape_loop(session, url, interval_s, sink, stop, headers))
    return stop, task, sink


async def _stop_scraper(scraper) -> None:
    if scraper is None:
        return
    stop, task, sink = scraper
    stop.set()
    try:
        await asyncio.wait_for(task, 5)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        task.cancel()
    finally:
        sink.close()
