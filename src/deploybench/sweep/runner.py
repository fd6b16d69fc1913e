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
from .. import load
from ..load import faults, pool as load_pool, workers
from ..load.cluster import distributed_module
from ..load.scrape import scrape_loop
from ..predict.deployed import features_or_why
from ..protocols.base import GenParams, Prompt
from ..schemas import Endpoint, EngineInfo, RequestRecord, RunConfig, RunMeta, RunSummary, engine_plugin
from ..storage.cells import summarize_cell
from ._hostinfo import host_info
from . import contention, judge, levels, ratesweep, speedprobe
from ._probe import probe_openai
from .resume import completed_summary


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
    quant = engine_plugin(dep.engine.kind).serving(dep.engine).weight_precision  # the engine says what it serves
    if not quant and info.model_path:
        m = _QUANT_RE.search(Path(info.model_path).stem)
        quant = m.group(1).upper() if m else None
    labels["quantization"] = quant or "native"
    return labels


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
    design: str = "interleaved"  # how this cell's rounds were laid out (RunMeta.round_design)


def rotated(items: Sequence, shift: int) -> list:
    """``items`` rotated left by ``shift`` places (round r of a study starts ``r - 1`` places further on)."""
    if not items:
        return []
    k = shift % len(items)
    return [*items[k:], *items[:k]]


def todo_cells(cfg: RunConfig, study_dir: Path, resume: bool, reporter: Reporter) -> tuple[list, list[RunSummary]]:
    """(round, level) pairs still to measure, round-major, the levels' order rotating by round; and the
    summaries of those already complete (reported as skipped)."""
    dep, todo, done = cfg.deployment, [], []
    all_levels = cfg.load.all_levels
    for rnd in range(1, cfg.load.rounds + 1):
        for level in rotated(all_levels, rnd - 1):
            if level.kind == "sweep":
                prior = ratesweep.completed(study_dir, dep.name, rnd) if resume else None
            else:
                prior = completed_summary(study_dir / run_id_for(dep.name, level, rnd)) if resume else None
            if prior is not None:
                for s in prior if isinstance(prior, list) else [prior]:
                    reporter.cell_skipped(s)
                    done.append(s)
            else:
                todo.append((rnd, level))
    return todo, done


def auto_client_cores(cfg: RunConfig, client_cores=AUTO):
    """The cores the client pins itself to (None: none spare), unless given."""
    if client_cores != AUTO:
        return client_cores
    return (contention.client_cores([getattr(cfg.deployment.engine, "cpu_set", None)])
            if cfg.load.pin_client else None)


def run_deployment(cfg: RunConfig, prompts: Sequence[Prompt], study_dir: Path, *, study: str | None = None,
                   reporter: Reporter | None = None, resume: bool = True,
                   labels: dict[str, str] | None = None, client_cores: list[int] | None | str = AUTO,
                   design: str = "interleaved") -> list[RunSummary]:
    """Start the engine, measure every load level in every round, always stop the engine.

    Rounds repeat the whole sequence of levels (each round in a rotated order), so slow drift shows
    up as spread between rounds; with ``load.restart_server`` each round gets a freshly started engine.
    ``design`` names this for the report: ``interleaved`` (one deployment: its levels alternate) or
    ``back-to-back`` (a study's engine slow to start, measured apart from the others).
    """
    reporter = reporter or NullReporter()
    if cfg.load.cluster:  # before any engine starts: without Dask, one line saying how to get it
        distributed_module()
    todo, done = todo_cells(cfg, study_dir, resume, reporter)
    client_cores = auto_client_cores(cfg, client_cores)
    groups = ([[x for x in todo if x[0] == t] for t in range(1, cfg.load.rounds + 1)]
              if cfg.load.restart_server else [todo])
    for group in (g for g in groups if g):
        held = start_engine(cfg, study_dir, client_cores)
        try:
            done += measure_held(held, cfg, prompts, group, study_dir, study, reporter, labels or {}, design)
        finally:
            held.engine.stop()
    return sort_rounds(cfg, done)


def sort_rounds(cfg: RunConfig, done: list[RunSummary]) -> list[RunSummary]:
    order = {lv.key: i for i, lv in enumerate(cfg.load.all_levels)}
    return sorted(done, key=lambda s: (s.trial, order.get(s.level, len(order)), s.offered_rps or 0, s.concurrency))


@dataclass
class Held:
    """A started engine kept up across rounds: its endpoint, and where its prompts have got to."""

    engine: Engine
    endpoint: Endpoint
    info: EngineInfo
    client_cores: list[int] | None
    cursor: list[int]
    warm: bool = False  # it has measured a cell: later cells skip the warm-up (docs/metrics.md, "Rounds")


def start_engine(cfg: RunConfig, study_dir: Path, client_cores) -> Held:
    """Start the deployment's engine (stopped again if starting fails half-way)."""
    dep = cfg.deployment
    engine: Engine = engines.create(dep.engine, study_dir / "_servers" / dep.name, dep.hardware.price_per_hour)
    try:
        if hasattr(engine, "proc"):  # a server on this host: the speed probe is sampling by its first cell
            speedprobe.shared()
        endpoint = engine.start()
        if dep.protocol in engine_plugin(dep.engine.kind).protocols:  # the deployment picks among them
            endpoint = endpoint.model_copy(update={"protocol": dep.protocol})
        return Held(engine, endpoint, engine.info(), client_cores, [0])
    except BaseException:
        engine.stop()
        raise


def measure_held(held: Held, cfg: RunConfig, prompts, cells, study_dir, study, reporter, labels,
                 design: str) -> list[RunSummary]:
    """Measure ``cells`` ((round, level) pairs) on an engine that is up; prompts go on where they stopped.
    An engine that has measured before is warm: its warm-up requests are skipped."""
    if held.warm and cfg.load.warmup_requests:
        cfg = cfg.model_copy(update={"load": cfg.load.model_copy(update={"warmup_requests": 0})})
    held.warm = True
    proc = getattr(held.engine, "proc", None)
    if held.client_cores is None and proc is not None:  # client and server share cores: the client goes first
        contention.yield_to_client(proc.pid)
    with contention.Pinned(held.client_cores):
        return workers.run_async(_measure(cfg, held.endpoint, held.info, cells, prompts, study_dir, study, reporter,
                                          labels, getattr(proc, "pid", None), held.client_cores, held.cursor, design))


async def _measure(cfg: RunConfig, endpoint: Endpoint, info: EngineInfo, cells: list[tuple[int, int]],
                   prompts: Sequence[Prompt], study_dir: Path, study: str | None, reporter: Reporter,
                   labels: dict[str, str], server_pid: int | None, client_cores, cursor: list[int],
                   design: str) -> list[RunSummary]:
    async with workers.new_session() as session:
        if endpoint.protocol.startswith("openai"):
            endpoint = await probe_openai(endpoint, session)
        info.model = info.model or endpoint.model
        client = protocols.create(endpoint, session)
        scrape = (endpoint.metrics_url, session, endpoint.headers) if endpoint.metrics_url else None
        # prompts continue across levels and rounds: a server must not see a prompt again (prompt caches)
        ctx = _Ctx(cfg, client, info, host_info(), study_dir, study, reporter, labels, scrape, cursor, server_pid,
                   client_cores, design=design)
        out = []
        pool = load_pool.pool_for(cfg.load, endpoint, client_cores, server_pid is not None)
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


def _set_aside(ctx: _Ctx, run_dir: Path) -> None:
    """Rename an unfinished earlier try of a cell to ``<cell>.incomplete-<time>`` (kept, read by nothing)
    and say so: its records stay on disk, and the user learns why the cell is measured again."""
    try:
        status = storage.read_meta(run_dir).status
    except Exception:  # noqa: BLE001 - no meta, or a meta cut short by a crash: still an unfinished try
        status = "no meta"
    aside = run_dir.with_name(f"{run_dir.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.rename(aside)
    said = getattr(ctx.reporter, "cell_set_aside", None)
    if said is not None:
        said(run_dir.name, aside.name, status)


async def _measure_level(ctx: _Ctx, level, trial: int, prompts) -> tuple[RunSummary, str | None]:
    cfg, dep = ctx.cfg, ctx.cfg.deployment
    concurrency = levels.users_of(level)
    run_id = run_id_for(dep.name, level, trial)
    run_dir = ctx.study_dir / run_id
    if run_dir.exists():  # an incomplete earlier attempt: keep it aside, start clean
        _set_aside(ctx, run_dir)
    server_cores = getattr(dep.engine, "cpu_set", None)
    shares = ctx.client_cores is None and ctx.server_pid is not None  # a server process on this host
    meta = _new_meta(ctx, level, trial, prompts, run_id, concurrency)
    writer = storage.RunWriter(run_dir, meta)
    params = GenParams(max_tokens=cfg.workload.max_tokens, ignore_eos=cfg.workload.ignore_eos,
                       temperature=cfg.workload.temperature, stall_timeout_s=cfg.load.stall_timeout_s)
    ctx.reporter.cell_started(run_id, concurrency, cfg)
    status = "interrupted"
    # a server that dies mid-level stops the level at once; the cell is stored as failed (resume measures it again)
    server_watch = faults.ServerWatch(faults.process_alive(ctx.server_pid))
    # so does a record or scrape that cannot be stored (a full disk): the cell is stored interrupted, the run ends
    disk_full: list[storage.DiskFullError] = []

    def full(exc: storage.DiskFullError) -> None:
        disk_full.append(exc)
        server_watch.trip(exc.problem)

    writer.on_error = full
    scraper = _start_scraper(ctx.scrape, cfg.load.scrape_interval_s, run_dir, full)
    probe = speedprobe.shared() if ctx.server_pid is not None else None  # a server on this host: how fast is it?
    watch = contention.CpuWatch(ctx.server_pid, server_cores, shares,
                                [*getattr(ctx.pool, "pids", ()), *([probe.proc.pid] if probe and probe.proc else [])],
                                probe)
    gone = faults.SERVER_WATCH.set(server_watch)
    judging = load.JUDGE.set(judge.FileJudge(writer)) if cfg.load.adaptive else None
    try:
        res = await levels.drive(ctx.client, level, cfg.load, params, prompts, writer.append, ctx.reporter,
                                 ctx.cursor[0], run_dir, ctx.pool)
        ctx.cursor[0] += res.prompts_used
        status, why = _conclude(meta, res, watch, cfg, shares)
        if disk_full:  # not the server's fault: measured again on the next run
            status, meta.note = "interrupted", disk_full[0].problem
            meta.flags = [f for f in meta.flags if f != "failed"]
    finally:
        faults.SERVER_WATCH.reset(gone)
        if judging is not None:
            load.JUDGE.reset(judging)
        await _stop_scraper(scraper)
        meta.ended_at = storage.now_iso()
        writer.close(status)  # a full disk here leaves the meta `running`: the next run sets the cell aside
    if disk_full or writer.error:  # (the writer thread may meet the full disk only in its last write)
        raise disk_full[0] if disk_full else writer.error
    summary = summarize_cell(run_dir, meta)  # the figures `summarize` and `report` recompute
    storage.write_summary(run_dir, summary)
    storage.write_parquet(run_dir)
    ctx.reporter.cell_finished(summary)
    return summary, why


def _new_meta(ctx: _Ctx, level, trial: int, prompts, run_id: str, concurrency: int) -> RunMeta:
    """A cell's meta as it starts: its deployment, config, engine, host, level and labels, and its features."""
    cfg, dep = ctx.cfg, ctx.cfg.deployment
    meta = RunMeta(run_id=run_id, study=ctx.study, deployment=dep.name, deployment_config=dep.model_dump(mode="json"),
                   concurrency=concurrency, config=cfg.model_dump(mode="json"), engine=ctx.info, host=ctx.host,
                   deploybench_version=__version__, started_at=storage.now_iso(),
                   price_per_hour=dep.hardware.price_per_hour, trial=trial, round_design=ctx.design,
                   level={**level.model_dump(mode="json"), "key": level.key},
                   labels={**default_labels(dep, ctx.info), **dep.labels, **ctx.labels})
    # features_or_why never raises: a run never fails on its features
    meta.features, meta.features_note = features_or_why(dep.model_copy(update={"labels": meta.labels}), concurrency,
                                                        cfg.workload, prompts, ctx.info.model_path, level.key, run_id)
    return meta


def _conclude(meta: RunMeta, res, watch: contention.CpuWatch, cfg: RunConfig, shares: bool) -> tuple[str, str | None]:
    """A measured level's window, contention, flags and note into its meta; (status, why it was contended)."""
    meta.window_start_ns, meta.window_end_ns = res.window_start_ns, res.window_end_ns
    meta.contention = watch.result()
    why = contention.contended(meta.contention, cfg.load.contention_cpu, cfg.load.contention_steal,
                               cfg.load.contention_slowdown)
    meta.contention["contended"] = why
    meta.flags = [f for f, on in (("contended", why), ("imprecise", res.imprecise), ("shared-cpu", shares),
                                  ("truncated", res.truncated), ("failed", res.failed)) if on]
    status, why = ("failed", None) if res.failed else ("complete", why)
    meta.note = res.failed or meta.note
    return status, why


def _start_scraper(scrape, interval_s: float, run_dir: Path, on_full):
    """Background task scraping the engine's /metrics into the cell's folder (None when off); a full disk
    is handed to ``on_full`` and ends the scraping."""
    if not scrape or interval_s <= 0:
        return None
    url, session, headers = scrape
    stop = asyncio.Event()
    sink = storage.JsonlAppender(run_dir / storage.SERVER_METRICS, lambda exc: (on_full(exc), stop.set()))
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
