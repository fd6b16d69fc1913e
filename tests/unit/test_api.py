"""The public Python API: ``deploybench.__all__`` is pinned, every name is deploybench.api's own object,
and the API does what the CLI does on stored data (import-seed, recommend, report, compare, summarize)."""

from __future__ import annotations

import json
import types

import pytest

import deploybench
from deploybench import api

PUBLIC = [
    "__version__",
    # running
    "run", "run_study", "default_study", "load_study", "validate_study", "plan", "estimate", "check_installed",
    "prune_result", "roofline", "doctor", "doctor_figures", "preflight", "planned_peak",
    # stored data
    "summarize", "load_summaries", "stored_runs", "write_report", "compare", "recommend_picks", "pareto",
    "import_seed", "interactivity", "recommend_at_interactivity", "import_results", "export_table", "IMPORT_FORMATS", "load_external", "load_catalog",
    # quality, predict, cloud
    "quality_ladder", "quality_gate", "predict_fit", "predict_validate", "predict_cells", "host_bandwidth",
    "capacity", "cloud_leftovers", "delete_cloud_leftovers", "shortcut_engine",
    # vocabulary
    "RunConfig", "RunSummary", "Study", "ExternalEngine", "LlamaCppEngine", "Catalog", "Pick", "ParetoPoint",
    "InteractivityFront", "SpeedPick", "Constraint", "Reporter", "DeploybenchError", "ConfigError", "EngineError", "parse_slo", "ttft_ms",
    "DEFAULT_LATENCY", "DEFAULT_REGION", "PREDICT_MODEL_FILE", "TIE_REL",
]


def test_all_is_pinned_and_every_name_is_the_apis():
    assert deploybench.__all__ == PUBLIC  # a change here is a change of the public API: say so in the notes
    for name in PUBLIC[1:]:
        obj = getattr(deploybench, name)
        assert obj is getattr(api, name), name
        assert not isinstance(obj, types.ModuleType), f"{name} is shadowed by a subpackage of the same name"
        if isinstance(obj, types.FunctionType) and obj.__module__ == "deploybench.api":
            assert obj.__doc__, f"api.{name} has no docstring"
    assert isinstance(deploybench.__version__, str)
    with pytest.raises(AttributeError):
        deploybench.no_such_name  # noqa: B018


def test_star_import_gives_the_api():
    ns: dict = {}
    exec("from deploybench import *", ns)
    assert set(PUBLIC) <= set(ns) and ns["recommend_picks"] is api.recommend_picks


def test_stored_data_through_the_api(tmp_path):
    """The 2023 import through the API: the cost picks, a report, summaries, and a study compared with itself."""
    study = deploybench.import_seed(out=tmp_path)
    assert len(deploybench.stored_runs(study)) == 60
    picks = deploybench.recommend_picks(study, "cost")
    assert [(p.group, p.deployment, p.concurrency) for p in picks] == [
        ("7B", "Llama-2-7b-hf_ml.g5.2xlarge_tp1", 5), ("13B", "Llama-2-13B-GPTQ_ml.g5.2xlarge_tp1", 5),
        ("70B", "Llama-2-70B-GPTQ_ml.g5.12xlarge_tp4", 5)]
    (written,) = deploybench.write_report(study, "json", tmp_path / "rep")
    data = json.loads(written.read_text())
    assert [p["deployment"] for p in data["picks"]["cost"]] == [p.deployment for p in picks]
    assert deploybench.summarize(study) == deploybench.load_summaries(study)  # imported: the stored aggregates
    same = deploybench.compare(study, study)
    changes = [ch for c in same.cells for ch in c.changes]
    assert len(same.cells) == 60 and not same.only_a and not same.only_b
    assert all(ch.verdict in ("", "within noise") and ch.change in (0, None) for ch in changes)
    with pytest.raises(deploybench.ConfigError, match="max-error-rate"):
        deploybench.recommend_picks(study, "cost", max_error_rate=2)
    with pytest.raises(deploybench.ConfigError, match="--slo"):
        deploybench.recommend_picks(study, "cost", slo="p90_nonsense<=1")


@pytest.mark.parametrize("first", ["deploybench.sweep.runner"])
def test_a_subpackage_imported_first_does_not_drag_in_the_api(first):
    """``from deploybench import storage`` asks the package's lazy __getattr__ first: it must not load
    deploybench.api (a circular import when a module below api is the first one imported)."""
    import subprocess
    import sys

    code = f"import sys, {first}; import deploybench.schemas; print('deploybench.api' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"
