"""import-seed: the 2023 study's 60 result files -> the run store, checked against the CSV."""

import csv
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from deploybench import api, storage
from deploybench.schemas import ConfigError, RunMeta, RunSummary
from deploybench.seed import STUDY, SUPERSEDED_STUDY, import_seed, load_external, read_seed_file
from tests.conftest import seed_dir

SEED = seed_dir()
pytestmark = pytest.mark.required  # the 2023 data ships in the package: these must run in CI
needs_seed = pytest.mark.skipif(not (SEED / "sagemaker").is_dir(),
                                reason=f"2023 seed data not found at {SEED} (set DEPLOYBENCH_SEED_DIR)")


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    if not (SEED / "sagemaker").is_dir():
        pytest.skip(f"2023 seed data not found at {SEED} (set DEPLOYBENCH_SEED_DIR)")
    return import_seed(SEED, tmp_path_factory.mktemp("store"))


def _rows() -> list[dict]:
    with open(SEED / "sagemaker.csv", newline="") as f:
        return list(csv.DictReader(f))


def _run_id(row: dict) -> str:
    model = row["Model Id"].rsplit("/", 1)[-1]
    return f"{model}_{row['Instance']}_tp{row['Tensor parallelism degree']}__c{row['Virtual Users']}"


@needs_seed
def test_imports_all_60_runs(imported):
    assert imported.name == STUDY
    dirs = storage.run_dirs(imported)
    assert len(dirs) == 60
    for d in dirs:
        assert (d / "records.jsonl").read_text() == ""
        assert storage.read_records(d) == []
        meta = storage.read_meta(d)
        assert meta.status == "complete" and meta.study == STUDY and d.name == meta.run_id
    summaries = api.load_summaries(imported)
    assert Counter(s.labels["model"] for s in summaries) == {"7B": 20, "13B": 20, "70B": 20}
    assert Counter(s.concurrency for s in summaries) == {1: 15, 5: 15, 10: 15, 20: 15}
    assert Counter(s.labels["quantization"] for s in summaries) == {"none": 36, "gptq": 24}
    assert len({s.deployment for s in summaries}) == 15


@needs_seed
def test_every_run_matches_the_csv(imported):
    rows = _rows()
    assert len(rows) == 60
    prices = {"ml.g5.2xlarge": 1.515, "ml.g5.12xlarge": 7.09, "ml.p4d.24xlarge": 37.688}
    for row in rows:
        d = imported / _run_id(row)
        s = storage.read_summary(d)
        meta = storage.read_meta(d)
        n = int(row["Number of requests"])
        assert s.requests == s.completed == n and s.errors == 0
        assert s.server_ms_per_token.p50 == pytest.approx(float(row["Latency (ms/token) med"]), rel=1e-12)
        assert s.ms_per_token.n == 0  # not the client figure: never ranked against it
        assert s.server_ms_per_token.p95 == pytest.approx(float(row["Latency (ms/token) p(95)"]), rel=1e-12)
        assert s.e2e_ms.mean == pytest.approx(float(row["Latency Request ms avg"]), rel=1e-12)
        assert s.e2e_ms.p90 == pytest.approx(float(row["Latency Request ms p(90)"]), rel=1e-12)
        assert s.output_tokens == n * 50 and s.window_s == 90
        assert s.output_throughput_tok_s == pytest.approx(n * 50 / 90)
        study_tput = float(row["Thorughput (tokens/second)"])
        assert meta.external["study_throughput_tok_s"] == pytest.approx(study_tput, rel=1e-12)
        assert set(row) <= set(meta.external)  # every original column, original names
        if row["Instance"] in prices:
            assert s.price_per_hour == prices[row["Instance"]]
        assert s.cost_per_1m_tokens == pytest.approx(s.price_per_hour * 1e6 / (n * 50 / 90) / 3600)
        assert s.minutes_per_1m_tokens == pytest.approx(1e6 / (n * 50 / 90) / 60)


@needs_seed
def test_a_few_exact_figures(imported):
    d = imported / "Llama-2-7b-hf_ml.g5.12xlarge_tp4__c1"
    s, meta = storage.read_summary(d), storage.read_meta(d)
    assert s.server_ms_per_token.p50 == 16.812526
    assert s.requests == 102 and s.output_throughput_tok_s == pytest.approx(56.6667, abs=1e-4)
    assert s.ttft_ms.n == 0 and s.tpot_ms.n == 0  # not measured by the study
    assert meta.labels == {"model": "7B", "model_id": "meta-llama/Llama-2-7b-hf", "quantization": "none",
                           "hardware": "ml.g5.12xlarge", "tp": "4", "source": "import", "tool": "llama2-sagemaker-2023",
                           "data": "summary-only", "engine": "tgi-1.0.3"}
    prov = meta.config["import"]  # provenance on every imported cell
    assert prov["tool"] == "llama2-sagemaker-2023" and prov["file"].endswith(".json") and len(prov["sha256"]) == 64
    assert prov["imported_at"] and meta.external["provenance"] == prov
    assert meta.deployment == "Llama-2-7b-hf_ml.g5.12xlarge_tp4" and meta.concurrency == 1
    assert meta.price_per_hour == 7.09
    assert meta.external["Thorughput (tokens/second)"] == pytest.approx(61.45733054)
    assert meta.external["Do Sample"] is True  # kept as published, even where it is wrong
    g = storage.read_summary(imported / "Llama-2-13B-GPTQ_ml.g5.2xlarge_tp1__c5")
    assert g.labels["quantization"] == "gptq" and g.labels["model"] == "13B"
    assert g.server_ms_per_token.p50 == pytest.approx(56.237484)
    # written summary.json also carries the study figure for a future RunSummary.external
    body = json.loads((imported / "Llama-2-13B-GPTQ_ml.g5.2xlarge_tp1__c5" / "summary.json").read_text())
    assert body["external"]["study_throughput_tok_s"] == pytest.approx(71.70560104)
    assert load_external(imported)["Llama-2-13B-GPTQ_ml.g5.2xlarge_tp1__c5"]["Instance"] == "ml.g5.2xlarge"


@needs_seed
def test_reimport_is_idempotent_and_accepts_the_sagemaker_subfolder(imported):
    again = import_seed(SEED / "sagemaker", imported.parent)
    assert again == imported and len(storage.run_dirs(imported)) == 60


@needs_seed
def test_superseded_go_to_a_sibling_study(tmp_path):
    import_seed(SEED, tmp_path, include_superseded=True)
    sup = api.load_summaries(tmp_path / SUPERSEDED_STUDY)
    assert len(sup) == 20 and len(api.load_summaries(tmp_path / STUDY)) == 60
    engines = Counter(s.labels["engine"] for s in sup)
    assert engines == {"tgi-0.8.2": 14, "tgi-1.0.3": 6}
    assert all("@" in s.deployment for s in sup)


# --------------------------------------------------------------------------- bad input (no seed data needed)


def _row(**over) -> dict:
    row = {"Host": "sagemaker", "Model Id": "meta-llama/Llama-2-7b-hf", "Instance": "ml.g5.2xlarge",
           "Tensor parallelism degree": 1, "quantization": "none", "generated_tokens per request": 50,
           "Do Sample": True, "Number of requests": 90, "Virtual Users": 5, "Thorughput (tokens/second)": 50.0}
    for prefix in ("Latency (ms/token)", "Latency Request ms"):
        for i, stat in enumerate(("avg", "min", "med", "max", "p(90)", "p(95)")):
            row[f"{prefix} {stat}"] = 10.0 + i
    row.update(over)
    return {k: v for k, v in row.items() if v is not ...}


def _write(folder: Path, name: str, obj) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_synthetic_row_imports(tmp_path):
    _write(tmp_path / "seed" / "sagemaker", "a.json", _row())
    study = import_seed(tmp_path / "seed", tmp_path / "out")
    s = storage.read_summary(study / "Llama-2-7b-hf_ml.g5.2xlarge_tp1__c5")
    assert isinstance(s, RunSummary) and s.output_throughput_tok_s == 50.0  # 90 x 50 / 90
    assert s.cost_per_1m_tokens == pytest.approx(1.515 * 1e6 / 50 / 3600)
    assert s.server_ms_per_token.p50 == 12.0 and s.server_ms_per_token.p90 == 14.0 and s.server_ms_per_token.mean == 10.0
    assert isinstance(storage.read_meta(study / s.run_id), RunMeta)


@pytest.mark.parametrize("row, words", [
    (_row(**{"Virtual Users": ...}), ["missing column 'Virtual Users'"]),
    (_row(**{"Latency (ms/token) med": ...}), ["missing column 'Latency (ms/token) med'"]),
    (_row(**{"Number of requests": "many"}), ["column 'Number of requests'", "whole number"]),
    (_row(**{"Virtual Users": 0}), ["column 'Virtual Users'"]),
    (_row(**{"Latency Request ms p(90)": math.inf}), ["column 'Latency Request ms p(90)'"]),
    (_row(**{"Instance": ""}), ["column 'Instance'"]),
    (_row(**{"Instance": "ml.g9.huge"}), ["column 'Instance'", "unknown instance type 'ml.g9.huge'"]),
    ("{not json", ["not valid JSON"]),
    ([1, 2], ["one JSON object"]),
])
def test_bad_file_names_file_and_column(tmp_path, row, words):
    bad = _write(tmp_path / "seed" / "sagemaker", "bad.json", row)
    with pytest.raises(ConfigError) as e:
        import_seed(tmp_path / "seed", tmp_path / "out")
    line = e.value.line()
    assert str(bad) in line and "\n" not in line
    for w in words:
        assert w in line


def test_missing_or_empty_seed_folder(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        import_seed(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no result files \(\*\.json\)"):
        import_seed(tmp_path / "empty", tmp_path / "out")


def test_duplicate_cell_is_rejected(tmp_path):
    _write(tmp_path / "s", "a.json", _row())
    _write(tmp_path / "s", "b.json", _row())
    with pytest.raises(ConfigError, match="same deployment and Virtual Users as a.json"):
        import_seed(tmp_path / "s", tmp_path / "out")


def test_superseded_requested_but_absent(tmp_path):
    _write(tmp_path / "seed" / "sagemaker", "a.json", _row())
    with pytest.raises(ConfigError, match="no superseded results"):
        import_seed(tmp_path / "seed", tmp_path / "out", include_superseded=True)


def test_read_seed_file_quantization_and_size(tmp_path):
    p = _write(tmp_path, "x.json", _row(**{"Model Id": "TheBloke/Llama-2-70B-GPTQ", "quantization": "gptq",
                                          "Tensor parallelism degree": 4, "Instance": "ml.g5.12xlarge"}))
    r = read_seed_file(p)
    assert (r.size, r.quantization, r.deployment) == ("70B", "gptq", "Llama-2-70B-GPTQ_ml.g5.12xlarge_tp4")


def test_packaged_copy_imports_with_no_path(tmp_path):
    """The raw data ships in the package: import-seed needs no ../shared checkout."""
    from deploybench.seed import PACKAGED_SEED

    assert len(list((PACKAGED_SEED / "sagemaker").glob("*.json"))) == 60
    assert (PACKAGED_SEED / "samples.json").is_file() and (PACKAGED_SEED / "sagemaker.csv").is_file()
    assert (PACKAGED_SEED / "published-summary.txt").is_file()
    assert "Apache" in (PACKAGED_SEED / "SOURCE.md").read_text()
    study = import_seed(None, tmp_path, include_superseded=True)
    assert len(storage.run_dirs(study)) == 60
    assert len(storage.run_dirs(tmp_path / SUPERSEDED_STUDY)) == 20
    shared = Path(__file__).resolve().parents[3] / "shared" / "seed-data"
    if (shared / "sagemaker").is_dir():  # the shipped copy is the project's seed data, byte for byte
        for f in (shared / "sagemaker").glob("*.json"):
            assert (PACKAGED_SEED / "sagemaker" / f.name).read_bytes() == f.read_bytes(), f.name
