"""Progress for ``run``: one live line when stdout and stderr are terminals; otherwise plain log lines,
each written whole on one line (never wrapped at the console width, so a piped log can be grepped).

Both say cells done of all, the current cell, the time elapsed and the time left. Time left = cells
left x the time per cell, where the time per cell starts as the plan's (the estimate ``--dry-run``
prints, over the cells it covers) and is corrected by the cells measured so far: the mean of the
plan's figure, weighted as ``PLAN_WEIGHT`` cells, and each measured cell's own time. Without a plan
(``--endpoint``, ``--model``) it is the measured mean alone, from the first cell on. Per-cell interim
figures (requests, tok/s, TTFT so far) only with ``--verbose``."""

from __future__ import annotations

import collections
import math
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from ..api import ttft_ms
from ..schemas import RequestRecord, RunConfig, RunSummary

PLAN_WEIGHT = 2
"""How many measured cells the plan's time per cell counts as, when the two are averaged."""


def clock(seconds: float) -> str:
    """``4m05s`` / ``1h02m``."""
    m, s = divmod(int(round(max(seconds, 0.0))), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Eta:
    """Time left in a study: the plan's time per cell corrected by the cells measured so far."""

    def __init__(self, plan_s: float | None = None, plan_cells: int = 0) -> None:
        self.per_plan = plan_s / plan_cells if plan_s and plan_cells else None
        self.started = time.monotonic()
        self.measured = 0
        self.measured_s = 0.0  # wall time up to the end of the last measured cell
        self.cell_started = self.started

    def cell_began(self) -> None:
        self.cell_started = time.monotonic()

    def cell_ended(self) -> None:
        self.measured += 1
        self.measured_s = time.monotonic() - self.started
        self.cell_started = time.monotonic()  # between cells, none is under way

    def per_cell(self) -> float | None:
        if self.per_plan is None:
            return self.measured_s / self.measured if self.measured else None
        return (PLAN_WEIGHT * self.per_plan + self.measured_s) / (PLAN_WEIGHT + self.measured)

    def left_s(self, cells_left: int) -> float | None:
        per = self.per_cell()
        if per is None:
            return None
        into = time.monotonic() - self.cell_started if cells_left else 0.0
        return max(per * cells_left - min(into, per), 0.0)

    def elapsed(self) -> str:
        return clock(time.monotonic() - self.started)

    def left(self, cells_left: int) -> str:
        s = self.left_s(cells_left)
        return "?" if s is None else f"~{clock(s)}"


class _Left(ProgressColumn):
    """The live line's time left, recomputed at every refresh."""

    def __init__(self, owner: "RunProgress") -> None:
        super().__init__()
        self.owner = owner

    def render(self, task) -> Text:
        return Text(f"left {self.owner.eta.left(self.owner.cells_left)}")


class _Cell:
    def __init__(self, run_id: str, concurrency: int, total: int | None, duration: float | None) -> None:
        self.run_id, self.concurrency, self.total, self.duration = run_id, concurrency, total, duration
        self.started = time.monotonic()
        self.done = self.errors = self.tokens = 0
        self.ttfts: collections.Counter = collections.Counter()  # TTFT in 2 % buckets: O(1) per record

    BUCKET = math.log(1.02)  # the progress line's TTFT p50 is within 2 % (the stored figures are exact)

    def add(self, rec: RequestRecord) -> None:
        if rec.warmup:
            return
        self.done += 1
        if rec.error:
            self.errors += 1
        else:
            self.tokens += rec.output_tokens or 0
            t = ttft_ms(rec)
            if t is not None and t > 0:
                self.ttfts[int(math.log(t) / self.BUCKET)] += 1

    def ttft_p50(self) -> float:
        """The median TTFT so far, from the buckets (constant work, however many requests)."""
        n, seen = sum(self.ttfts.values()), 0
        for b in sorted(self.ttfts):
            seen += self.ttfts[b]
            if 2 * seen >= n:
                return math.exp((b + 0.5) * self.BUCKET)
        return float("nan")

    def line(self) -> str:
        el = time.monotonic() - self.started
        tps = self.tokens / el if el > 0 else 0.0
        ttft = self.ttft_p50()
        return (f"{self.run_id}: {self.done} req, {tps:.1f} tok/s, TTFT p50 {ttft:.0f} ms, "
                f"{self.errors} errors, {el:.0f}s")


class RunProgress:
    """Implements the sweep ``Reporter`` protocol."""

    def __init__(self, total_cells: int, console: Console | None = None, live: bool | None = None,
                 plan_s: float | None = None, plan_cells: int = 0, verbose: bool = False) -> None:
        self.console = console or Console(stderr=True)
        # live only when both streams are terminals: a piped stdout or stderr means a log is being kept
        self.live = (self.console.is_terminal and sys.stdout.isatty()) if live is None else live
        self.total_cells = total_cells
        self.verbose = verbose
        self.cells_done = 0
        self.retried: list[str] = []  # cells set aside as contended and measured again
        self.cell: _Cell | None = None
        self.eta = Eta(plan_s, plan_cells)
        self._last_log = self._last_line = 0.0
        self._progress: Progress | None = None
        self._study_task = self._cell_task = None

    @property
    def cells_left(self) -> int:
        return max(self.total_cells - self.cells_done, 0)

    def __enter__(self) -> "RunProgress":
        if self.live:
            self._progress = Progress(TextColumn("cells"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                      TimeElapsedColumn(), _Left(self),
                                      TextColumn("{task.fields[info]}",
                                                 table_column=Column(no_wrap=True, overflow="ellipsis")),
                                      console=self.console, transient=True)
            self._progress.start()
            self._study_task = self._progress.add_task("cells", total=self.total_cells, info="")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    def _say(self, text: str) -> None:
        """One log line, printed whole: no markup, no highlighting, never wrapped at the console width."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def _count(self, delta: int) -> None:
        self.cells_done += delta
        if self._progress:
            self._progress.update(self._study_task, completed=self.cells_done)

    def cell_started(self, run_id: str, concurrency: int, cfg: RunConfig) -> None:
        self.cell = _Cell(run_id, concurrency, cfg.load.requests, cfg.load.duration_s)
        self.eta.cell_began()
        if self._progress:
            self._progress.update(self._study_task, info=run_id)
            if self.verbose:  # a second live line: the cell's requests so far
                if self._cell_task is not None:
                    self._progress.remove_task(self._cell_task)
                self._cell_task = self._progress.add_task("cell", total=cfg.load.requests, info="")
        else:
            self._say(f"[{self.cells_done + 1}/{self.total_cells}] {run_id}: started; "
                      f"elapsed {self.eta.elapsed()}, left {self.eta.left(self.cells_left)}")

    def request_done(self, rec: RequestRecord) -> None:
        if self.cell is None:
            return
        self.cell.add(rec)
        if not self.verbose:
            return
        if self._progress and self._cell_task is not None:  # the live line: counts each record, text 4 times a second
            now = time.monotonic()
            info = {}
            if now - self._last_line > 0.25:
                self._last_line, info = now, {"info": self.cell.line()}
            self._progress.update(self._cell_task, completed=self.cell.done, **info)
        elif not self._progress and time.monotonic() - self._last_log > 5:
            self._last_log = time.monotonic()
            self._say("  " + self.cell.line())

    def cell_finished(self, summary: RunSummary) -> None:
        self.eta.cell_ended()
        self._count(1)
        if not self._progress:
            self._say(f"[{self.cells_done}/{self.total_cells}] {summary.run_id}: done, "
                      f"{summary.output_throughput_tok_s:.1f} tok/s, {summary.errors} errors")
        if "failed" in summary.flags:  # said even under the live progress bar: the user must act
            self._say(f"{summary.run_id}: failed, the server died or stopped answering mid-level (why: the "
                      "cell's meta.json note); run the same command again to measure it")

    def cell_retried(self, run_id: str, why: str) -> None:
        """A contended try was set aside: the same cell runs again (it does not count twice)."""
        self._count(-1)
        self.retried.append(run_id)
        self._say(f"{run_id}: contended ({why}); set aside, measuring again")

    def cell_set_aside(self, run_id: str, aside: str, status: str) -> None:
        """An unfinished earlier try of this cell (a crash, a kill, a full disk) was kept under another name."""
        self._say(f"{run_id}: an earlier try ended unfinished ({status}); kept as {aside}, measuring again")

    def cell_failed(self, deployment: str, why: str) -> None:
        self.eta.cell_ended()
        self._count(1)
        self._say(f"{deployment}: failed: {why}")

    def cell_skipped(self, summary: RunSummary) -> None:
        self._count(1)
        self.eta.cell_began()
        if self.verbose or not self._progress:
            self._say(f"{summary.run_id}: already complete, skipped")
