"""The end of a run as a person reads it: one screen of at most 40 lines, none wider than 100 columns.

One line per pick (scenario x model) with its figure, interval and margin or ties; the SLO pick;
a compact cell table with consistently shortened deployment names and a legend; one line per kind
of warning with how many cells it affects. The full tables sit behind ``--details`` and in the
report. Lines are plain text, laid out here, so a terminal and a pipe read the same.
"""

from __future__ import annotations

import statistics

from collections.abc import Iterable, Sequence

from ..schemas import FLAGS, RunSummary

WIDTH = 100
MAX_LINES = 40
SCENARIO_TITLES = {"cost": "cost", "latency": "latency", "throughput": "throughput", "slo": "SLO"}
UNITS = {"$/1M tokens": "$/1M", "ms/token": "ms/tok", "tokens/s": "tok/s"}
_LONG = 9  # a name part longer than this is shortened (when some name is longer than NAME_LIMIT)
NAME_LIMIT = 24
_LABELS = ("model", "quantization", "hardware", "engine")


def fit(line: str, width: int = WIDTH) -> str:
    """The line, cut to ``width`` columns with an ellipsis (never wrapped)."""
    line = line.rstrip()
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def level_of(s: RunSummary) -> str:
    return s.level or f"c{s.concurrency}"


class ShortNames:
    """Deployment names shortened the same way everywhere on the screen, with a legend.

    A name is split into its ``_`` parts (model, quantization, hardware, ...); when some name is longer
    than ``limit``, every part longer than 9 characters becomes its shortest leading ``-`` run that no
    other long part starts with (``smollm2-135m`` -> ``smollm2``, ``llama-30m-random`` -> ``llama``).
    If that would make two names equal, nothing is shortened.
    """

    def __init__(self, names: Iterable[str], limit: int = NAME_LIMIT) -> None:
        names = list(dict.fromkeys(names))
        self.alias: dict[str, str] = {}
        if not any(len(n) > limit for n in names):
            return
        parts = {p for n in names for p in n.split("_")}
        long = sorted(p for p in parts if len(p) > _LONG)
        alias = {}
        for part in long:
            chunks = part.split("-")
            for k in range(1, len(chunks)):
                cand = "-".join(chunks[:k])
                clash = any(o != part and "-".join(o.split("-")[:k]) == cand for o in long)
                if not clash and cand not in parts:
                    alias[part] = cand
                    break
        short = {self._apply(n, alias) for n in names}
        if len(short) == len(names):
            self.alias = alias

    @staticmethod
    def _apply(name: str, alias: dict[str, str]) -> str:
        return "_".join(alias.get(p, p) for p in name.split("_"))

    def __call__(self, name: str) -> str:
        return self._apply(name, self.alias)

    def legend(self) -> str | None:
        if not self.alias:
            return None
        return fit("short names: " + "; ".join(f"{a} = {p}" for p, a in self.alias.items()))


def _half(value: float, iv) -> str:
    """`` ±h%``: the 95 % interval's half-width relative to the figure (``±>99%`` beyond that); or nothing."""
    if iv is None or not value:
        return ""
    h = (iv.hi - iv.lo) / 2 / abs(value)
    return " ±>99%" if h > 0.995 else f" ±{h:.0%}"


def _pm(value: float | None, iv, fmt: str) -> str:
    """``value ±h%``, or ``—``."""
    return "—" if value is None else fmt.format(value) + _half(value, iv)


def _num(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"


class PickLines:
    """One line per pick: ``scenario  model  deployment level  figure ±h%  lead over the next best | tie with ...``."""

    def __init__(self, summaries: Sequence[RunSummary], names: ShortNames) -> None:
        self.by_run = {s.run_id: s for s in summaries}
        self.names = names

    def _differs(self, run_id: str, pick) -> str:
        """What tells a cell apart from the pick: its differing labels and level, else its short name."""
        s = self.by_run.get(run_id)
        if s is None:
            dep, _, level = run_id.partition("__")
            return f"{self.names(dep)} {level}".strip()
        mine = self.by_run.get(pick.run_id or "")
        if mine is None or s.deployment == mine.deployment:
            parts = [] if mine is not None else [self.names(s.deployment)]
        else:  # the labels that tell them apart (Q8_0 vs Q4_K_M), else the name without the parts they share
            parts = [s.labels[k] for k in _LABELS if s.labels.get(k) and s.labels.get(k) != mine.labels.get(k)]
            parts = [self.names(x) for x in parts] if 0 < len(parts) <= 2 else [self._unshared(s, mine)]
        if mine is None or level_of(s) != level_of(mine):
            parts.append(level_of(s))
        return " ".join(parts)

    def _unshared(self, s: RunSummary, mine: RunSummary) -> str:
        """The short name of ``s`` less the leading parts it shares with ``mine``'s."""
        a, b = self.names(s.deployment).split("_"), self.names(mine.deployment).split("_")
        k = 0
        while k < min(len(a), len(b)) - 1 and a[k] == b[k]:
            k += 1
        return "_".join(a[k:])

    def margin(self, p) -> str:
        if p.run_id is None:
            return f"no pick: {p.note or 'no cell qualifies'}"
        if p.tie and p.tied_with:
            shown = [self._differs(r, p) for r in p.tied_with[:3]]
            more = f" (+{len(p.tied_with) - 3})" if len(p.tied_with) > 3 else ""
            return "tie with " + ", ".join(shown) + more
        if p.runner_up is None or p.margin is None:
            out = len(p.left_out_here())
            return f"only one: {out} rivals flagged" if out else "only candidate"
        lead = f"{p.margin:.1%}" if p.margin < 0.1 else f"{p.margin:.0%}"
        return f"{lead} ahead of {self._differs(p.runner_up.run_id, p)}"

    def rows(self, picks: Sequence, scenario: str) -> list[tuple[str, ...]]:
        out = []
        for p in picks:
            title = SCENARIO_TITLES.get(scenario, scenario)
            if p.run_id is None:
                out.append((title, self.names(p.group), "—", "", "", self.margin(p)))
                continue
            s = self.by_run.get(p.run_id)
            level = level_of(s) if s is not None else f"c{p.concurrency}"
            unit = UNITS.get(p.unit, p.unit)
            figure = "—" if p.value is None else f"{_num(p.value)} {unit}{_half(p.value, p.interval)}"
            out.append((title, self.names(p.group), self.names(p.deployment or "—"), level, figure, self.margin(p)))
        return out


def table(rows: list[tuple[str, ...]], right: set[int] = frozenset(), sep: str = "  ") -> list[str]:
    """Plain columns ``sep`` apart (two spaces after the first), each line cut to WIDTH."""
    if not rows:
        return []
    n = len(rows[0])
    widths = [max(len(r[i]) for r in rows) for i in range(n)]
    lines = []
    for r in rows:
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(n)]
        lines.append(fit(cells[0] + "  " + sep.join(cells[1:])))
    return lines


def cell_rows(summaries: Sequence[RunSummary], names: ShortNames, max_rows: int | None = None,
              keep: set[str] = frozenset()) -> list[str]:
    """The compact cell table (header included), at most ``max_rows`` lines: cells in ``keep`` (the
    picks) are always shown, the others in order while room is left, then a line with how many more."""
    summaries = _order(summaries)
    shown = list(summaries)
    if max_rows is not None and len(shown) + 1 > max_rows:
        room = max(max_rows - 2, 0)
        must = [s for s in shown if s.run_id in keep][:room]
        rest = [s for s in shown if s.run_id not in keep][: room - len(must)]
        chosen = {id(s) for s in must + rest}
        shown = [s for s in shown if id(s) in chosen]
    common = common_flags(summaries)  # said once below the table, not on every row
    rows = [("deployment", "level", "tok/s", "TTFT p50", "TPOT p50", "$/1M", "flags (times in ms)")]
    for s in shown:
        trial = f" t{s.trial}" if s.trial > 1 and s.trials <= 1 else ""
        rows.append((names(s.deployment) + trial, level_of(s),
                     _pm(s.output_throughput_tok_s, s.intervals.get("output_throughput_tok_s"), "{:.1f}"),
                     "—" if s.ttft_ms.p50 is None else f"{s.ttft_ms.p50:.1f}",
                     "—" if s.tpot_ms.p50 is None else f"{s.tpot_ms.p50:.2f}",
                     "—" if s.cost_per_1m_tokens is None else f"{s.cost_per_1m_tokens:.4g}",
                     ",".join(f for f in s.flags if f not in common) or "—"))
    lines = table(rows, right={2, 3, 4, 5}, sep=" ")
    hidden = len(summaries) - len(shown)
    if hidden:
        lines.append(fit(f"… {hidden} more cells: `deploybench summarize DIR --details`, or the report"))
    return lines


_SHORT_MEANING = {flag: meaning.split(";")[0] for flag, meaning in FLAGS.items()}


def _cells(n: int) -> str:
    return f"{n} cell" + ("" if n == 1 else "s")


def _order(summaries: Sequence[RunSummary]) -> list[RunSummary]:
    """Cells by deployment (first seen), then level (users, rate), then round."""
    first: dict[str, int] = {}
    for s in summaries:
        first.setdefault(s.deployment, len(first))
    return sorted(summaries, key=lambda s: (first[s.deployment], s.level_kind, s.concurrency, s.offered_rps or 0,
                                            s.level, s.trial))


COMMON_SHARE = 0.8
"""A flag on at least this share of the cells (and on 3 or more) describes the study, not a cell: it is said
once, below the table, and left out of the rows, where it would tell no cell from another."""


def common_flags(summaries: Sequence[RunSummary]) -> set[str]:
    """The flags on most cells (:data:`COMMON_SHARE`)."""
    n = len(summaries)
    return {f for f in FLAGS if (k := sum(f in s.flags for s in summaries)) >= 3 and k >= COMMON_SHARE * n}


def _round_spread(s: RunSummary) -> float | None:
    """How far a combined cell's rounds disagree on tok/s: their standard deviation over their mean."""
    values = [v for v in s.round_values.get("output_throughput_tok_s", []) if v]
    if len(values) < 2:
        return None
    return statistics.stdev(values) / statistics.fmean(values)


def _imprecise_meaning(flagged: Sequence[RunSummary]) -> list[str]:
    """Why cells are imprecise, in the terms that apply to them (one or two lines): a cell of several rounds
    because its rounds disagree (by how much, measured), a single window because it hit its time cap."""
    spreads = sorted(x for s in flagged if s.trials > 1 and (x := _round_spread(s)) is not None)
    if not spreads:
        return [_SHORT_MEANING["imprecise"]]
    rounds = max(s.trials for s in flagged)
    return [f"their rounds disagree, tok/s by {spreads[len(spreads) // 2]:.0%} (median spread)",
            f"  so {rounds} rounds give intervals wider than the target; picks tie where they overlap "
            "(more --rounds)"]


def warning_lines(summaries: Sequence[RunSummary], retried: Iterable[str] = ()) -> list[str]:
    """One line per kind of warning, with how many cells it affects."""
    lines = []
    again = set(retried)
    if again:
        lines.append(f"{_cells(len(again))} contended: measured again (a busy host took the server's CPU)")
    common = common_flags(summaries)
    for flag in FLAGS:
        flagged = [s for s in summaries if flag in s.flags]
        if flagged:
            skip = " (never picked)" if "skipped by recommend" in FLAGS[flag] else ""
            meaning = _imprecise_meaning(flagged) if flag == "imprecise" else [_SHORT_MEANING[flag]]
            count = (f"{len(flagged)} of {len(summaries)} cells {flag}{skip} (not marked per row)" if flag in common
                     else f"{_cells(len(flagged))} {flag}{skip}")
            lines += [fit(f"{count}: {meaning[0]}"), *(fit(x) for x in meaning[1:])]
    erred = [s for s in summaries if s.errors]
    if erred:
        lines.append(fit(f"{_cells(len(erred))} had failed requests ({sum(s.errors for s in erred)} in all): "
                         "the report's notes list them by kind"))
    if any(s.price_per_hour is None for s in summaries):
        n = sum(s.price_per_hour is None for s in summaries)
        lines.append(fit(f"{_cells(n)} without a price per hour: no $/1M (give --price-per-hour or a hardware price)"))
    return lines


def screen(summaries: Sequence[RunSummary], title: str, picks: Sequence[tuple[str, Sequence]] = (),
           retried: Iterable[str] = (), extra: Sequence[str] = (), reserve: int = 1, slo: str | None = None) -> list[str]:
    """The final screen (at most MAX_LINES - ``reserve`` lines: the report's path follows it).

    ``picks``: (scenario, picks) pairs, the SLO pick as scenario ``slo``; ``extra``: lines said as they
    are (pruning), cut to WIDTH."""
    every = [s.deployment for s in summaries] + [p.deployment for _, ps in picks for p in ps if p.deployment]
    names = ShortNames(every)
    lines = [fit(title)]
    pick_rows: list[tuple[str, ...]] = []
    keep: set[str] = set()
    pl = PickLines(summaries, names)
    for scenario, ps in picks:
        pick_rows += pl.rows(ps, scenario)
        keep |= {p.run_id for p in ps if p.run_id}
    if pick_rows:
        lines.append(fit("picks: figure ±95 %, lead over the next best or ties"
                         + (f"; SLO = cheapest meeting {slo}" if slo else "")))
        lines += table(pick_rows)
    tail = [x for x in (names.legend(),) if x] + warning_lines(summaries, retried) + [fit(x) for x in extra]
    room = MAX_LINES - reserve - len(lines) - len(tail)
    lines += cell_rows(summaries, names, max_rows=max(room, 3), keep=keep)
    lines += tail
    return lines[: MAX_LINES - reserve]
