"""``run --prune`` on real llama-server: fewer cells measured, the same picks (or ties) as the full grid."""

import json

import pytest
import yaml

from deploybench import api, storage
from deploybench.recommend import RULES, recommend
from deploybench.sweep import load_study
from tests.e2e.test_cli import run_cli

# 2 models x 2 quantizations x 1 profile x 2 levels; short levels (request-bounded)
STUDY = {
    "name": "prune-grid",
    # big enough that a decode step is bound by memory bandwidth: F32 reads ~6x the bytes of Q4_0 per token
    "models": [{"name": "50M", "source": "random-llama:50M"}, {"name": "100M", "source": "random-llama:100M"}],
    "quantizations": ["Q4_0", "F32"],
    "hardware": [{"name": "one-core", "threads": 1, "cpu_set": [0], "price_per_hour": 0.02}],
    "engine": {"kind": "llamacpp", "settings": {"parallel": 4, "ctx_size": 1024}},
    "workload": {"source": {"kind": "synthetic", "input_tokens": 24, "prompts": 64}, "max_tokens": 8},
    # contention flags keep a cell out of the picks; this test is about pruning, so they never fire here
    "load": {"rounds": 1, "concurrency": [1, 4], "requests": 4, "warmup_requests": 1, "contention_retries": 0,
             "contention_cpu": 100, "contention_steal": 100},
}


def _picks(summaries):
    return {(p.group, p.scenario): p for sc in RULES for p in recommend(summaries, sc)}


@pytest.mark.slow
def test_prune_measures_fewer_cells_same_picks(tmp_path, have_llama):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    _, full, failures = api.run_study(load_study(path), tmp_path / "full")
    assert not failures and len(full) == 8

    p = run_cli("run", str(path), "--prune", "--prune-margin", "0.25", "--out", str(tmp_path / "pruned"),
                "--no-report", "--details", timeout=600)
    assert p.returncode == 0, p.stderr
    assert "skipped (PREDICTED)" in p.stdout, p.stdout  # --details: the pruning table
    assert p.stdout.rstrip().splitlines()[-1].startswith("pruning measured "), p.stdout  # the screen's line
    study_dir = tmp_path / "pruned" / "prune-grid"
    result = api.prune_result(study_dir)
    stored = {d.name for d in storage.run_dirs(study_dir)}
    skipped = {c.run_id for c in result.cells if c.status == "skipped"}
    measured = {c.run_id for c in result.cells if c.status == "measured"}
    assert skipped and len(measured) < 8 and measured | skipped == {s.run_id for s in full}
    assert stored == measured  # a skipped cell is never stored as a measured cell
    assert result.saved_wall_s > 0 and result.full_wall_s > result.pruned_wall_s
    for d in storage.run_dirs(study_dir):  # every measured cell carries its typed features
        meta = storage.read_meta(d)
        assert meta.features and meta.features["arch"]["layers"] > 0 and meta.features["bits"] > 0, meta.features_note
        assert meta.features["level"] == f"c{meta.concurrency}"
    assert all(c.predicted_before for c in result.cells if c.status == "measured")

    md = next(p for p in api.write_report(study_dir, "md") if p.suffix == ".md").read_text()
    assert "## Pruned grid: predicted vs measured" in md  # measured cells: predicted beside measured
    assert md.count("skipped — PREDICTED, not measured") == len(skipped)
    assert "% of roofline" in md and "of its" in md  # the picks' roofline note
    print(f"\nprune: measured {result.measured_cells}/{len(result.cells)}, saved ~{result.saved_wall_s:.1f} s "
          f"of {result.full_wall_s:.1f} s (plan estimate), skipped cells' predicted duration "
          f"{result.skipped_predicted_s:.1f} s, this run {result.actual_wall_s:.1f} s")

    mine, truth = _picks(api.load_summaries(study_dir)), _picks(full)
    assert set(mine) == set(truth)
    for key, t in truth.items():
        m = mine[key]
        assert m.run_id is not None
        # the same cell, or one the full measurement cannot tell apart from its pick (the picks' tie rule)
        assert m.run_id == t.run_id or m.run_id in t.tied_with, (key, m.run_id, t.run_id, t.tied_with,
                                                                 json.dumps(result.model_dump()["cells"])[:2000])
