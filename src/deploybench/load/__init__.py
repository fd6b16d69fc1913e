"""Load: drive one level against an endpoint and stamp every request; the modules, bottom to top:

* ``faults``, ``arrivals``, ``scrape`` - primitives: failure kinds and the server watch, arrival schedules,
  server-metric scrapes;
* ``request`` - one request (:func:`one_request`, :func:`request_draft`) through a :class:`ProtocolClient`;
* ``level`` - what every level shares: :class:`LevelResult`, :class:`Deadline`, the coordinator's and
  judge's hooks (:data:`COORDINATED`, :data:`JUDGE`), the warm-up, the hard limit;
* ``closed`` (:func:`run_level`: closed-loop users) and ``openloop`` (:func:`run_open_level`: arrival schedules);
* ``workers`` (load from several client processes), ``cluster`` (from Dask workers), ``pool`` (which of them).

This package's ``__init__`` only re-exports; ``docs/architecture.md`` draws the layers.
"""

from __future__ import annotations

from . import faults
from .closed import run_level, window_end
from .level import (COORDINATED, HARD_LIMIT, JUDGE, Coordinated, Deadline, Judge, LevelResult, Progress, chat_sessions,
                    hard_limit_s)
from .openloop import run_open_level
from .request import RESENDS, ProtocolClient, one_request, request_draft

__all__ = ["COORDINATED", "Coordinated", "Deadline", "JUDGE", "Judge", "LevelResult", "ProtocolClient", "run_level", "run_open_level",
           "one_request", "Progress", "request_draft"]

# also importable from here, as before the modules were split: faults, HARD_LIMIT, RESENDS, chat_sessions,
# hard_limit_s, window_end
