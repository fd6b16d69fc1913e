"""The worker pool a deployment's levels use: none (one process), local processes, or Dask workers.

Above both backends (``load.workers``: :class:`~deploybench.load.workers.LocalPool`; ``load.cluster``:
:class:`~deploybench.load.cluster.DaskPool`, which builds on the first), so neither imports the other back.
"""

from __future__ import annotations

import asyncio
import contextlib

from ..schemas import Endpoint, LoadConfig
from .cluster import DaskPool
from .workers import LocalPool, worker_count


@contextlib.asynccontextmanager
async def pool_for(cfg: LoadConfig, endpoint: Endpoint, client_cores: list[int] | None, local_server: bool):
    """The worker pool a deployment's levels use, or None (one process, as before); always closed."""
    if cfg.cluster:
        pool = await asyncio.to_thread(DaskPool, endpoint, cfg.cluster, cfg.workers)
    else:
        n = worker_count(cfg, client_cores, local_server)
        pool = LocalPool(endpoint, n, client_cores) if n > 1 else None
    try:
        yield pool
    finally:
        if pool is not None:
            await asyncio.to_thread(pool.close)
