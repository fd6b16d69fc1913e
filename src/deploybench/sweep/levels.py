"""Drive one load level of any kind: closed users, an open-loop rate, or a trace replay.

A new load mode is a level model in ``schemas/config.py`` (with its ``key``) plus one entry in
:data:`DRIVERS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import storage, workloads
from ..load import LevelResult, run_level, run_open_level
from ..load.arrivals import schedule
from ..protocols.base import GenParams, Prompt
from ..schemas import ConfigError, LoadConfig, RequestRecord

SCHEDULE = "schedule.json"


def _horizon(cfg: LoadConfig) -> float:
    """How far ahead to compute arrivals (s): the window's longest possible length."""
    if cfg.adaptive:
        return float(cfg.max_duration_s)
    if cfg.duration_s:
        return float(cfg.duration_s)
    return float("inf")


def _write_schedule(run_dir: Path, level: dict, offsets: Sequence[float]) -> None:
    """The arrival schedule, stored before the level starts (a rerun with the same seed repeats it)."""
    storage.atomic_write(run_dir / SCHEDULE, json.dumps({"level": level, "offsets_s": [round(o, 6) for o in offsets]}))


async def _closed(client, level, cfg, params, prompts, sink, progress, cursor, run_dir, pool=None) -> LevelResult:
    return await (pool.run_level if pool else run_level)(client, prompts, params, level.users, cfg, sink, progress,
                                                         prompt_offset=cursor)


async def _rate(client, level, cfg, params, prompts, sink, progress, cursor, run_dir, pool=None) -> LevelResult:
    horizon = _horizon(cfg)
    limit = cfg.requests if cfg.requests is not None else None
    if horizon == float("inf") and limit is None:
        raise ConfigError("load: a rate level needs duration_s, min/max_duration_s or requests", "add duration_s")
    offsets = schedule(level.rps, level.arrival, horizon if horizon != float("inf") else 1e9, level.cv, level.seed,
                       limit)
    _write_schedule(run_dir, level.model_dump(mode="json"), offsets)
    return await (pool.run_open_level if pool else run_open_level)(
        client, prompts, params, offsets, cfg, sink, progress, prompt_offset=cursor, max_in_flight=level.max_in_flight)


async def _trace(client, level, cfg, params, prompts, sink, progress, cursor, run_dir, pool=None) -> LevelResult:
    rows = workloads.read_trace(Path(level.path), shape=level.shape)
    offsets = [r.arrival_s * level.time_scale for r in rows]
    horizon = _horizon(cfg)
    keep = [i for i, o in enumerate(offsets) if o < horizon]
    if cfg.requests is not None:
        keep = keep[: cfg.requests]
    rows, offsets = [rows[i] for i in keep], [offsets[i] for i in keep]
    _write_schedule(run_dir, level.model_dump(mode="json"), offsets)
    return await (pool.run_open_level if pool else run_open_level)(
        client, workloads.trace_prompts(rows), params, offsets, cfg, sink, progress, aligned=True)


DRIVERS: dict[str, Callable] = {"closed": _closed, "rate": _rate, "trace": _trace}


async def drive(client, level, cfg: LoadConfig, params: GenParams, prompts: Sequence[Prompt],
                sink: Callable[[RequestRecord], None], progress, cursor: int, run_dir: Path,
                pool=None) -> LevelResult:
    """Run ``level`` against ``client`` (or across ``pool``'s workers, ``load.workers``); records go to ``sink``
    as they complete."""
    try:
        driver = DRIVERS[level.kind]
    except KeyError:
        raise ConfigError(f"load.levels: level kind '{level.kind}' cannot be driven directly",
                          f"use one of: {', '.join(DRIVERS)}") from None
    return await driver(client, level, cfg, params, prompts, sink, progress, cursor, run_dir, pool)


def users_of(level) -> int:
    """The closed-loop user count (0 for open-loop levels): RunMeta/RunSummary ``concurrency``."""
    return getattr(level, "users", 0)
