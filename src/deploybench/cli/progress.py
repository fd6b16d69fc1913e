"""Progress for ``run``: a rich live display when stdout and stderr are terminals; otherwise plain log lines,
each written whole on one line (never wrapped at the console width, so a piped log can be grepped)."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from ..api import ttft_ms
from ..schemas import RequestRecord, RunConfig, RunSummary


class _Cell:
    def __init__(self, run_id: str, concurrency: int, total: int | None, duration: float | None) -> None:
        self.run_id, self.concurrency, self.total, self.duration = run_id, concurrency, total, duration
        self.started = time.monotonic()
        self.done = self.errors = self.tokens = 0
        self.ttfts: list[float] = []

    def add(self, rec: RequestRecord) -> None:
        if rec.warmup:
            return
        self.done += 1
        if rec.error:
            self.errors += 1
        else:
            self.tokens += rec.output_tokens or 0
            t = ttft_ms(rec)
            if t is not None:
                self.ttfts.append(t)

    def line(self) -> str:
        el = time.monotonic() - self.started
        tps = self.tokens / el if el > 0 else 0.0
        ttft = sorted(self.ttfts)[len(self.ttfts) // 2] if self.ttfts else float("nan")
        return (f"{self.run_id}: {self.done} req, {tps:.1f} tok/s, TTFT p50 {ttft:.0f} ms, "
                f"{self.errors} errors, {el:.0f}s")


class RunProgress:
    """Implements the sweep ``Reporter`` protocol."""

    def __init__(self, total_cells: int, console: Console | None = None, live: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        # live only when both streams are terminals: a piped stdout or stderr means a log is being kept
        self.live = (self.console.is_terminal and sys.stdout.isatty()) if live is None else live
        self.total_cells = total_cells
        self.cells_done = 0
        self.cell: _Cell | None = None
        self._last_log = 0.0
        self._progress: Progress | None = None
        self._study_task = self._cell_task = None

    def __enter__(self) -> "RunProgress":
        if self.live:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                      TextColumn("{task.fields[info]}"),
                                      console=self.console, transient=False)
            self._progress.start()
            self._study_task = self._progress.add_task("cells", total=self.total_cells, info="")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    def _say(self, text: str) -> None:
        """One log line, printed whole: no markup, no highlighting, never wrapped at the console width."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def cell_started(self, run_id: str, concurrency: int, cfg: RunConfig) -> None:
        self.cell = _Cell(run_id, concurrency, cfg.load.requests, cfg.load.duration_s)
        if self._progress:
            if self._cell_task is not None:
                self._progress.remove_task(self._cell_task)
            label = f"c={concurrency}" if concurrency else run_id.rsplit("__", 1)[-1]
            self._cell_task = self._progress.add_task(label, total=cfg.load.requests, info="")
        else:
            self._say(f"[{self.cells_done + 1}/{self.total_cells}] {run_id}: started")

    def request_done(self, rec: RequestRecord) -> None:
        if self.cell is None:
            return
        self.cell.add(rec)
        if self._progress and self._cell_task is not None:
            self._progress.update(self._cell_task, completed=self.cell.done, info=self.cell.line())
        elif time.monotonic() - self._last_log > 5:
            self._last_log = time.monotonic()
            self._say("  " + self.cell.line())

    def cell_finished(self, summary: RunSummary) -> None:
        self.cells_done += 1
        if self._progress:
            self._progress.update(self._study_task, completed=self.cells_done)
        else:
            self._say(f"[{self.cells_done}/{self.total_cells}] {summary.run_id}: done, "
                      f"{summary.output_throughput_tok_s:.1f} tok/s, {summary.errors} errors")
        if "failed" in summary.flags:  # said even under the live progress bar: the user must act
            self._say(f"{summary.run_id}: failed, the server died or stopped answering mid-level (why: the "
                      "cell's meta.json note); run the same command again to measure it")

    def cell_retried(self, run_id: str, why: str) -> None:
        """A contended try was set aside: the same cell runs again (it does not count twice)."""
        self.cells_done -= 1
        if self._progress:
            self._progress.update(self._study_task, completed=self.cells_done)
        self._say(f"{run_id}: contended ({why}); set aside, measuring again")

    def cell_failed(self, deployment: str, why: str) -> None:
        self.cells_done += 1
        if self._progress:
            self._progress.update(self._study_task, completed=self.cells_done)
        self._say(f"{deployment}: failed: {why}")

    def cell_skipped(self, summary: RunSummary) -> None:
        self.cells_done += 1
        if self._progress:
            self._progress.update(self._study_task, completed=self.cells_done)
        self._say(f"{summary.run_id}: already complete, skipped")
