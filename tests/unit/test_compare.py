"""deploybench compare: cell matching, and changes judged against noise (within-run intervals or trials)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploybench import storage
from deploybench.report import compare
from deploybench.schemas import Dist

from .test_report import DEFAULT_DEPS, Dep, import_like, make_records, make_store, write_run


def _change(cell, metric):
    return next(ch for ch in cell.changes if ch.metric == metric)


def _one_deployment(root, name, ttft, tpot, seed, levels=(1, 4), n=120):
    rng = np.random.default_rng(seed)
    dep = Dep(name, "7B", "cpu", 0.1, ttft, tpot)
    for c in levels:
        write_run(root, dep, c, make_records(n, c, ttft, tpot, rng))
    return root


# --------------------------------------------------------------------------- whole runs


def test_ttft_doubling_is_beyond_noise_tpot_is_not(tmp_path):
    a = _one_deployment(tmp_path / "a", "srv", ttft=100, tpot=10, seed=10)
    b = _one_deployment(tmp_path / "b", "srv", ttft=200, tpot=10, seed=11)
    result = compare(a, b)
    assert result.matched_by == "concurrency" and len(result.cells) == 2
    for cell in result.cells:
        ttft = _change(cell, "ttft_p50_ms")
        assert ttft.beyond_noise and ttft.verdict == "worse" and ttft.ci_low > 0
        assert ttft.change_pct == pytest.approx(100, abs=25)
        tpot = _change(cell, "tpot_p50_ms")
        assert tpot.beyond_noise is False and tpot.verdict == "within noise" and tpot.ci_low < 0 < tpot.ci_high
        # throughput has a batch-means interval per run: closed loop, +100 ms TTFT per request of
        # 20 x 10 ms decode (~300 ms) costs throughput, well beyond the two intervals
        tput = _change(cell, "output_tok_s")
        assert tput.beyond_noise and tput.verdict == "worse" and tput.change < 0 and tput.change_pct < -20
        assert "one round" in cell.method
    # reversing the runs reverses the verdict
    back = compare(b, a)
    assert all(_change(c, "ttft_p50_ms").verdict == "better" for c in back.cells)


def test_two_single_deployment_folders_match_by_concurrency(tmp_path):
    a = _one_deployment(tmp_path / "a", "before", 100, 10, seed=1, levels=(1, 4, 8), n=24)
    b = _one_deployment(tmp_path / "b", "after", 100, 10, seed=2, levels=(1, 4), n=24)
    result = compare(a, b)
    assert result.matched_by == "concurrency"
    assert [c.concurrency for c in result.cells] == [1, 4]
    assert result.only_a == ["c=8"] and result.only_b == []
    assert result.cells[0].deployment_a == "before" and result.cells[0].deployment_b == "after"


def test_studies_match_by_deployment_and_concurrency(tmp_path):
    a = make_store(tmp_path / "a", deps=DEFAULT_DEPS, levels=(1, 5), n=10, seed=1)
    b = make_store(tmp_path / "b", deps=DEFAULT_DEPS[:2], levels=(1, 5), n=10, seed=2)
    result = compare(a, b)
    assert result.matched_by == "deployment+concurrency"
    assert sorted(c.key for c in result.cells) == sorted(f"{d.name} @ c={c}" for d in DEFAULT_DEPS[:2] for c in (1, 5))
    assert sorted(result.only_a) == ["big-model @ c=1", "big-model @ c=5"]
    assert all(c.deployment_a == c.deployment_b for c in result.cells)


def test_single_run_folders(tmp_path):
    a = _one_deployment(tmp_path / "a", "x", 100, 10, seed=1, levels=(2,), n=20)
    b = _one_deployment(tmp_path / "b", "x", 100, 10, seed=2, levels=(2,), n=20)
    result = compare(storage.run_dirs(a)[0], storage.run_dirs(b)[0])
    assert len(result.cells) == 1 and result.cells[0].n_a == result.cells[0].n_b == 20


def test_summary_only_runs_compare_plainly(tmp_path):
    a = import_like(tmp_path / "a")
    b = import_like(tmp_path / "b")
    result = compare(a, b)
    assert result.cells
    for cell in result.cells:
        ch = _change(cell, "e2e_p50_ms")
        assert ch.ci_low is None and ch.beyond_noise is None and "no interval" in ch.note


def test_cli_compare_json_and_errors(tmp_path, capsys):
    from deploybench.cli import main

    a = _one_deployment(tmp_path / "a", "srv", 100, 10, seed=1, levels=(1,), n=30)
    b = _one_deployment(tmp_path / "b", "srv", 300, 10, seed=2, levels=(1,), n=30)
    assert main(["compare", str(a), str(b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ttft = next(ch for ch in data["cells"][0]["changes"] if ch["metric"] == "ttft_p50_ms")
    assert ttft["beyond_noise"] is True and "one round" in data["cells"][0]["method"]
    assert main(["compare", str(a), str(b)]) == 0
    assert "TTFT p50" in capsys.readouterr().out
    c = _one_deployment(tmp_path / "c", "srv", 100, 10, seed=3, levels=(2,), n=10)
    assert main(["compare", str(a), str(c)]) == 2
    assert "no common cells" in capsys.readouterr().err
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2


def _edit_summaries(root, **update):
    for d in storage.run_dirs(root):
        s = storage.read_summary(d).model_copy(update=update)
        (d / storage.SUMMARY).write_text(s.model_dump_json(indent=2))


def test_plain_change_is_the_hand_computed_difference(tmp_path):
    a = _one_deployment(tmp_path / "a", "srv", 100, 10, seed=1, levels=(1,), n=20)
    b = _one_deployment(tmp_path / "b", "srv", 100, 10, seed=2, levels=(1,), n=20)
    _edit_summaries(a, error_rate=0.04)
    _edit_summaries(b, error_rate=0.05)
    (cell,) = compare(a, b).cells
    err = _change(cell, "error_rate")
    assert err.a == 0.04 and err.b == 0.05
    assert err.change == pytest.approx(0.01) and err.change_pct == pytest.approx(25.0) and err.improved is False


def test_client_ms_per_token_is_never_compared_with_the_servers(tmp_path):
    """An imported cell (TGI's server-side time per token) against a measured one (client E2E / tokens):
    neither row compares the two figures."""
    a = _one_deployment(tmp_path / "a", "srv", 100, 10, seed=1, levels=(1,), n=20)
    b = _one_deployment(tmp_path / "b", "srv", 100, 10, seed=2, levels=(1,), n=20)
    for d in storage.run_dirs(b):
        (d / storage.RECORDS).write_text("")
    _edit_summaries(b, ms_per_token=Dist(), server_ms_per_token=Dist(n=20, p50=7.5))
    (cell,) = compare(a, b).cells
    client, server = _change(cell, "ms_per_token_p50"), _change(cell, "server_ms_per_token_p50")
    assert client.a is not None and client.b is None and client.change is None
    assert server.a is None and server.b == 7.5 and server.change is None


def _trials(root, name, ttfts, seed, level=2, n=40):
    rng = np.random.default_rng(seed)
    for t, ttft in enumerate(ttfts, start=1):
        write_run(root, Dep(name, "7B", "cpu", 0.1, ttft, 10), level, make_records(n, level, ttft, 10, rng), trial=t)
    return root


def test_trials_judge_by_between_run_spread(tmp_path):
    """Within each run TTFT is tight, but the runs themselves wander (100 / 130 / 90 ms): with trials
    the spread between runs decides, so a 10 % shift of the mean is within noise; a doubling is not."""
    a = _trials(tmp_path / "a", "srv", [100, 130, 90], seed=1)
    b = _trials(tmp_path / "b", "srv", [110, 140, 100], seed=2)
    (cell,) = compare(a, b).cells
    assert cell.trials_a == cell.trials_b == 3 and cell.method.startswith("between rounds")
    assert _change(cell, "ttft_p50_ms").verdict == "within noise"
    c = _trials(tmp_path / "c", "srv", [200, 260, 180], seed=3)
    (cell,) = compare(a, c).cells
    assert _change(cell, "ttft_p50_ms").verdict == "worse"
