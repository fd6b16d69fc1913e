"""The end-of-run screen, the progress's time left and the roofline wording, piece by piece."""

from __future__ import annotations

import pytest

from deploybench import api
from deploybench.cli import endscreen, progress
from deploybench.cli.studyview import end_picks
from deploybench.report.roofline import Roofline

from .test_report import Dep, make_store


def test_short_names_are_consistent_and_have_a_legend():
    names = endscreen.ShortNames(["smollm2-135m_Q8_0_cpu-1core", "smollm2-135m_Q4_K_M_cpu-2core",
                                  "llama-30m-random_Q8_0_cpu-1core", "llama-50m-random_Q8_0_cpu-1core"])
    assert names("smollm2-135m_Q4_K_M_cpu-2core") == "smollm2_Q4_K_M_cpu-2core"
    # the shortest leading run of '-' parts that no other long part shares
    assert names("llama-30m-random_Q8_0_cpu-1core") == "llama-30m_Q8_0_cpu-1core"
    assert names("llama-50m-random_Q8_0_cpu-1core") == "llama-50m_Q8_0_cpu-1core"
    assert names.legend() == ("short names: llama-30m = llama-30m-random; llama-50m = llama-50m-random; "
                              "smollm2 = smollm2-135m")
    short = endscreen.ShortNames(["a_Q8_0", "b_Q4_0"])
    assert short("a_Q8_0") == "a_Q8_0" and short.legend() is None  # nothing long: nothing shortened
    # a shortening that would make two names equal (or read as another name's part) is not made
    clash = endscreen.ShortNames(["smollm2-135m-instruct_Q8_0", "smollm2_Q8_0_long-hardware-name"])
    assert clash("smollm2-135m-instruct_Q8_0") != clash("smollm2_Q8_0_long-hardware-name")
    assert len({clash(n) for n in ("smollm2-135m-instruct_Q8_0", "smollm2_Q8_0_long-hardware-name")}) == 2


def test_a_large_study_still_fits_one_screen(tmp_path):
    deps = [Dep(f"model-{m}-instruct-long_Q{q}_0_hardware-profile-{h}", f"model-{m}", f"hw{h}", 0.1 * (h + 1),
                80.0 + 7 * m + 3 * q, 12.0 + m + q + h) for m in range(3) for q in (4, 8) for h in range(3)]
    root = make_store(tmp_path / "big", deps=deps, levels=(1, 5, 20), n=20)  # 18 deployments, 54 cells
    sums = api.load_summaries(root)
    picks = end_picks(sums, "p90_ttft_ms<=400")
    lines = endscreen.screen(sums, f"deploybench — {root}: {len(sums)} cells", picks,
                             retried=["x__c1", "y__c5"], reserve=1, slo="p90_ttft_ms<=400")
    assert len(lines) <= endscreen.MAX_LINES - 1 and max(map(len, lines)) <= endscreen.WIDTH
    assert lines[-1] == "2 cells contended: measured again (a busy host took the server's CPU)"
    assert any(ln.startswith("… ") and "more cells" in ln for ln in lines)
    assert sum(1 for ln in lines if ln.split()[:1] in (["cost"], ["latency"], ["throughput"], ["SLO"])) == 12
    # every picked cell is in the table, whatever was left out
    names = endscreen.ShortNames([s.deployment for s in sums])
    by_run = {s.run_id: s for s in sums}
    table = [ln.split()[:2] for ln in lines]
    for _, ps in picks:
        for p in ps:
            s = by_run[p.run_id]
            assert [names(s.deployment), endscreen.level_of(s)] in table, p.run_id


def test_warnings_one_line_per_kind(tmp_path):
    sums = api.load_summaries(make_store(tmp_path / "s", levels=(1, 5), n=10))
    sums[0].flags += ["contended"]
    sums[1].flags += ["contended", "imprecise"]
    sums[2].price_per_hour = None
    lines = endscreen.warning_lines(sums)
    assert lines[0].startswith("2 cells contended (never picked): other processes took CPU")
    assert lines[1].startswith("1 cell imprecise: the level reached its maximum time")
    assert lines[2].startswith("1 cell without a price per hour")
    assert len(lines) == 3


def test_a_flag_on_most_cells_is_said_once_with_the_rounds_spread(tmp_path):
    """A flag on (nearly) every cell tells no cell from another: it is said once below the table, not on
    each row; a combined cell is imprecise because its rounds disagree, and the line says by how much."""
    sums = api.load_summaries(make_store(tmp_path / "s", levels=(1, 5), n=10))
    assert len(sums) >= 4
    for s in sums[1:]:
        s.flags = sorted({*s.flags, "imprecise"})
        s.trials = 4
        s.round_values = {"output_throughput_tok_s": [90.0, 100.0, 110.0, 100.0]}  # sd 8.16 / mean 100
    sums[0].flags = sorted({*sums[0].flags, "contended"})
    lines = endscreen.warning_lines(sums)
    n = len(sums)
    assert lines[1] == (f"{n - 1} of {n} cells imprecise (not marked per row): their rounds disagree, tok/s by "
                        "8% (median spread)")
    assert lines[2].startswith("  so 4 rounds give intervals wider than the target")
    assert lines[0].startswith("1 cell contended")  # on one cell: counted, and kept on its row
    rows = endscreen.cell_rows(sums, endscreen.ShortNames([s.deployment for s in sums]))
    assert not any("imprecise" in r for r in rows) and sum("contended" in r for r in rows) == 1
    # on fewer cells it stays on the rows
    for s in sums[2:]:
        s.flags.remove("imprecise")
    rows = endscreen.cell_rows(sums, endscreen.ShortNames([s.deployment for s in sums]))
    assert sum("imprecise" in r for r in rows) == 1


def test_time_left_starts_from_the_plan_and_follows_the_measured_cells(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    eta = progress.Eta(plan_s=100.0, plan_cells=10)  # the plan: 10 s per cell
    assert eta.left(10) == "~1m40s"
    for _ in range(2):  # the first two cells take 30 s each: 3x the plan
        eta.cell_began()
        now[0] += 30
        eta.cell_ended()
    # per cell = (2 x 10 s + 60 s) / (2 + 2) = 20 s; 8 cells left
    assert eta.per_cell() == pytest.approx(20.0)
    assert eta.left_s(8) == pytest.approx(160.0)
    eta.cell_began()
    now[0] += 5  # 5 s into the next cell
    assert eta.left_s(8) == pytest.approx(155.0)
    assert eta.elapsed() == "1m05s"
    unplanned = progress.Eta()
    assert unplanned.left(3) == "?"
    unplanned.cell_began()
    now[0] += 12
    unplanned.cell_ended()
    assert unplanned.left_s(3) == pytest.approx(36.0)


def test_roofline_cpu_share_beyond_numpy_peak_is_not_a_percentage():
    over = Roofline(1.21, "compute", cpu=True)
    assert over.label == "≥ numpy's matmul peak" and over.share is None and "121" not in over.text
    assert Roofline(0.71, "memory-bandwidth", cpu=True).label == "71 %"
    assert Roofline(0.71, "memory-bandwidth", cpu=True).text.startswith("reaches 71 % of its memory-bandwidth")
    assert Roofline(0.4, "compute", cpu=True).share == pytest.approx(40.0)
    gpu = Roofline(0.9, "compute")  # a datasheet peak: a share, as before
    assert gpu.label == "90 %" and gpu.text == "reaches 90 % of its compute limit"


def test_a_lone_pick_says_how_many_rivals_were_left_out():
    from deploybench.recommend.picks import Pick

    p = Pick(scenario="cost", group="m", metric="cost_per_1m_tokens", rule="r", run_id="m_q8__c4", deployment="m_q8",
             concurrency=4, value=1.0, skipped=["m_q4__c4: flagged contended", "m_q4__c1: flagged contended",
                                               "m_q2__c4: flagged client-lag", "m_q2__c48: flagged contended"])
    assert p.left_out_here() == ["m_q4__c4: flagged contended", "m_q2__c4: flagged client-lag"]
    lines = endscreen.PickLines([], endscreen.ShortNames(["m_q8"]))
    assert lines.margin(p) == "only one: 2 rivals flagged"
    assert lines.margin(p.model_copy(update={"skipped": []})) == "only candidate"


def test_progress_ttft_median_is_constant_work_and_within_its_bucket():
    """The live line's TTFT p50 comes from 2 % buckets (O(1) per record, however many requests)."""
    from deploybench.schemas import RequestRecord

    cell = progress._Cell("c", 1, None, None)
    ttfts = [10.0 + i for i in range(1001)]  # median 510 ms
    for t in ttfts:
        cell.add(RequestRecord(index=0, scheduled_ns=0, started_ns=0, sent_ns=0, chunk_ns=[int(t * 1e6)],
                               chunk_tokens=[1], done_ns=int(t * 1e6), output_tokens=1))
    assert cell.done == 1001 and len(cell.ttfts) < 250
    assert cell.ttft_p50() == pytest.approx(510, rel=0.02)
