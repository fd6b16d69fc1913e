"""``import-seed``: the 2023 Llama-2-on-SageMaker study's published results -> deploybench's store.

Each of the study's 60 JSON files (one per model x instance x TP x VU) becomes one run folder,
``<out>/llama2-sagemaker-2023/<deployment>__c<VU>/``, with the same files a real run has:

* ``meta.json``  - a :class:`RunMeta` (status ``complete``); ``external`` holds every original
  column under its original name (typos included) plus ``study_throughput_tok_s``.
* ``summary.json`` - a :class:`RunSummary` built from the study's aggregates.
* ``records.jsonl`` - empty: the study published aggregates only, no per-request records.

How the study's columns map onto deploybench's figures:

* ``server_ms_per_token`` <- ``Latency (ms/token) avg/min/med/p(90)/p(95)/max`` (TGI ``time_per_token``:
  inference time / generated tokens, server side: no queue, no network). It is *not* deploybench's
  ``ms_per_token`` (client E2E / output tokens, queue and network included), which stays empty:
  recommend and compare never rank one against the other.
* ``e2e_ms``        <- ``Latency Request ms ...`` (TGI ``total_time``, server side).
* ``requests`` = ``completed`` <- ``Number of requests``; no errors were reported.
* ``output_throughput_tok_s`` is deploybench's own reading, *counted tokens over the window*:
  ``Number of requests x generated_tokens per request / 90 s``. Assumptions: every request
  generated exactly ``max_new_tokens`` = 50 tokens (the column is the configured limit, not a
  count; greedy decoding of base models rarely stops early within 50 tokens), and every counted
  request falls inside the 90 s k6 load window (the study's CloudWatch query also caught the
  few requests draining after it, so this can overstate throughput by up to VU requests' worth).
* The study's own figure, ``VU x 50 x 1000 / mean(total_time ms)`` (it assumes always-busy
  clients), is kept as ``external["Thorughput (tokens/second)"]`` and
  ``external["study_throughput_tok_s"]``; ``recommend(..., basis="study")`` uses it.
* ``cost_per_1m_tokens`` / ``minutes_per_1m_tokens``: :func:`metrics.cost_per_1m` /
  :func:`metrics.minutes_per_1m` on deploybench's throughput and the catalog price (us-east-1).
* TTFT, TPOT, ITL, client ms/token and schedule lag were not measured by the study: their ``Dist``
  has ``n=0``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import storage
from ._version import __version__
from .catalog import DEFAULT_REGION, Catalog, load_catalog
from .ingest import SOURCE, write_cell
from .ingest.cell import sha256
from .metrics import cost_per_1m, minutes_per_1m
from .schemas import ConfigError, Dist, EngineInfo, RunMeta, RunSummary

__all__ = ["PACKAGED_SEED", "STUDY", "SUPERSEDED_STUDY", "WINDOW_S", "import_seed", "load_external",
           "read_seed_file"]

PACKAGED_SEED = Path(__file__).resolve().parent / "data" / "seed-2023"
"""The study's raw results as shipped inside the package (``data/seed-2023/SOURCE.md``)."""

STUDY = "llama2-sagemaker-2023"
SUPERSEDED_STUDY = "llama2-sagemaker-2023-superseded"
SOURCE_REPO = "philschmid/text-generation-inference-tests"
SOURCE_COMMIT = "4373a85992198f116af57c7dd18d2f07f6d03bae"
WINDOW_S = 90.0  # k6 constant-vus duration of every run
STUDY_TPUT = "Thorughput (tokens/second)"  # spelling as in the source
TOOL = "llama2-sagemaker-2023"
"""``labels.tool`` of the study's cells (``labels.source`` is ``import``, as for every imported cell; stores
imported before say ``source: import-seed``, and read the same)."""
TGI_VERSION = {"56ec033": "0.8.2"}  # superseded pilot runs; everything else used TGI 1.0.3

_STATS = {"avg": "mean", "min": "min", "med": "p50", "p(90)": "p90", "p(95)": "p95", "max": "max"}
MS_PER_TOKEN = "Latency (ms/token)"
REQUEST_MS = "Latency Request ms"
_INTS = ("Tensor parallelism degree", "generated_tokens per request", "Number of requests", "Virtual Users")
_STRS = ("Model Id", "Instance", "quantization")
_FLOATS = (STUDY_TPUT, *(f"{p} {s}" for p in (MS_PER_TOKEN, REQUEST_MS) for s in _STATS))
_SIZE = re.compile(r"llama-2-(\d+)b", re.IGNORECASE)
_FIX = "each file must hold the study's 34 columns (see seed-data/README.md)"


@dataclass(frozen=True)
class SeedRow:
    """One validated study result file."""

    path: Path
    data: dict[str, Any]

    @property
    def model_id(self) -> str:
        return self.data["Model Id"]

    @property
    def model_base(self) -> str:
        return self.model_id.rsplit("/", 1)[-1]

    @property
    def instance(self) -> str:
        return self.data["Instance"]

    @property
    def tp(self) -> int:
        return self.data["Tensor parallelism degree"]

    @property
    def vu(self) -> int:
        return self.data["Virtual Users"]

    @property
    def quantization(self) -> str:
        q = str(self.data["quantization"]).strip().lower()
        return "none" if q in ("", "none", "null") else q

    @property
    def size(self) -> str:
        m = _SIZE.search(self.model_id)
        return f"{m.group(1)}B" if m else self.model_base

    @property
    def deployment(self) -> str:
        return f"{self.model_base}_{self.instance}_tp{self.tp}"


def read_seed_file(path: Path) -> SeedRow:
    """Read and validate one study JSON file; ConfigError names the file and the column."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})", "check the file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno})", _FIX) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected one JSON object (one result row)", _FIX)
    for col in (*_STRS, *_INTS, *_FLOATS):
        if col not in data:
            raise ConfigError(f"{path}: missing column '{col}'", _FIX)
        v = data[col]
        if col in _STRS:
            ok = isinstance(v, str) and v.strip() != ""
        elif col in _INTS:
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= 1
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        if not ok:
            kind = "text" if col in _STRS else "a whole number >= 1" if col in _INTS else "a number >= 0"
            raise ConfigError(f"{path}: column '{col}' is {v!r}, not {kind}", _FIX)
    return SeedRow(path=path, data=data)


def _dist(row: SeedRow, prefix: str) -> Dist:
    return Dist(n=row.data["Number of requests"],
                **{field: float(row.data[f"{prefix} {stat}"]) for stat, field in _STATS.items()})


def _meta(row: SeedRow, run_id: str, deployment: str, study: str, commit: str, price, when: str) -> RunMeta:
    tgi = TGI_VERSION.get(commit[:7], "1.0.3")
    labels = {"model": row.size, "model_id": row.model_id, "quantization": row.quantization,
              "hardware": row.instance, "tp": str(row.tp), "source": SOURCE, "tool": TOOL, "data": "summary-only",
              "engine": f"tgi-{tgi}"}
    prov = {"tool": TOOL, "version": f"{SOURCE_REPO}@{commit[:7]} (k6 + TGI {tgi})", "file": str(row.path.resolve()),
            "sha256": sha256(row.path), "imported_at": when, "deploybench_version": __version__}
    engine_cfg = {"kind": "sagemaker", "model_id": row.model_id, "instance_type": row.instance,
                  "region": price.region or DEFAULT_REGION, "tgi_version": tgi, "num_gpus": row.tp,
                  "quantize": None if row.quantization == "none" else row.quantization,
                  "max_input_length": 1024, "max_total_tokens": 2048}
    external = dict(row.data)
    external.update(study_throughput_tok_s=float(row.data[STUDY_TPUT]), source_file=row.path.name,
                    source_repo=SOURCE_REPO, source_commit=commit, provenance=prov,
                    missing=["ttft_ms", "tpot_ms", "itl_ms", "ms_per_token", "schedule_lag_ms"])
    return RunMeta(
        run_id=run_id, study=study, deployment=deployment, concurrency=row.vu, status="complete",
        deployment_config={"name": deployment, "engine": engine_cfg, "protocol": "sagemaker-tgi",
                           "hardware": {"name": row.instance, "price_per_hour": price.usd_per_hour},
                           "labels": labels},
        config={"load": {"concurrency": [row.vu], "duration_s": WINDOW_S, "executor": "k6 constant-vus"},
                "workload": {"source": "samples.json (ShareGPT prompts, in order)",
                             "max_tokens": row.data["generated_tokens per request"]},
                "price": price.model_dump(), "import": prov},
        engine=EngineInfo(kind="sagemaker", model=row.model_id, extra={"tgi_version": tgi, "container": "HF LLM DLC"}),
        deploybench_version=__version__, price_per_hour=price.usd_per_hour, labels=labels, external=external,
        note=(f"imported from {SOURCE_REPO}@{commit[:7]} ({row.path.name}); aggregates only, no per-request "
              f"records; throughput = requests x {row.data['generated_tokens per request']} tokens / {WINDOW_S:g} s"),
    )


def _summary(row: SeedRow, meta: RunMeta) -> RunSummary:
    n = row.data["Number of requests"]
    tokens = n * row.data["generated_tokens per request"]
    tput = tokens / WINDOW_S
    return RunSummary(
        run_id=meta.run_id, deployment=meta.deployment, concurrency=meta.concurrency,
        requests=n, completed=n, errors=0, error_rate=0.0, window_s=WINDOW_S, output_tokens=tokens,
        output_throughput_tok_s=tput, request_throughput_rps=n / WINDOW_S,
        ttft_ms=Dist(), tpot_ms=Dist(), itl_ms=Dist(), e2e_ms=_dist(row, REQUEST_MS),
        ms_per_token=Dist(), server_ms_per_token=_dist(row, MS_PER_TOKEN), schedule_lag_ms=Dist(),
        token_source="assumed", missing=list(meta.external["missing"]),
        price_per_hour=meta.price_per_hour, minutes_per_1m_tokens=minutes_per_1m(tput),
        cost_per_1m_tokens=cost_per_1m(meta.price_per_hour, tput), labels=dict(meta.labels),
        external=dict(meta.external),
    )


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.is_file())


def _seed_folder(seed_dir: Path) -> Path:
    if not seed_dir.exists():
        raise ConfigError(f"seed folder {seed_dir} does not exist",
                          "give the seed-data folder (it holds sagemaker/ with the study's 60 JSON files)")
    if not seed_dir.is_dir():
        raise ConfigError(f"{seed_dir} is not a folder", "give the seed-data folder, not a file")
    folder = seed_dir / "sagemaker" if (seed_dir / "sagemaker").is_dir() else seed_dir
    if not _files(folder):
        raise ConfigError(f"no result files (*.json) in {folder}",
                          "give the seed-data folder (it holds sagemaker/ with the study's 60 JSON files)")
    return folder


def _import_folder(files: list[Path], study_dir: Path, study: str, commit: str, catalog: Catalog,
                   region: str, tag: str = "") -> int:
    rows = [read_seed_file(p) for p in files]
    when = storage.now_iso()
    cells: list[tuple[RunMeta, RunSummary]] = []
    seen: dict[str, Path] = {}
    for row in rows:
        deployment = row.deployment + tag
        run_id = storage.run_id_for(deployment, row.vu)
        if run_id in seen:
            raise ConfigError(f"{row.path}: same deployment and Virtual Users as {seen[run_id].name} ({run_id})",
                              "remove one of the two files")
        seen[run_id] = row.path
        try:
            price = catalog.price(row.instance, region)
        except ConfigError as exc:
            raise ConfigError(f"{row.path}: column 'Instance': {exc.problem}", exc.fix) from None
        meta = _meta(row, run_id, deployment, study, commit, price, when)
        cells.append((meta, _summary(row, meta)))
    for meta, summary in cells:  # every file read and checked first: a bad one stores nothing
        write_cell(study_dir, meta, summary, None)
    return len(rows)


def _study_json(study_dir: Path, study: str, count: int, source: str) -> None:
    storage.atomic_write(study_dir / "study.json", json.dumps(
        {"kind": "import-seed", "study": study, "runs": count, "source": source,
         "window_s": WINDOW_S, "deploybench_version": __version__}, indent=2))


def import_seed(seed_dir: Path | str | None, out: Path | str, include_superseded: bool = False,
                catalog: Catalog | None = None, region: str = DEFAULT_REGION) -> Path:
    """Import the study's results under ``out``; returns the study folder ``<out>/llama2-sagemaker-2023``.

    ``seed_dir`` is the seed-data folder (or its ``sagemaker/`` subfolder); ``None`` = the copy
    shipped in the package (:data:`PACKAGED_SEED`). With
    ``include_superseded`` the pilot and replaced runs in ``superseded/<commit>/`` go to a sibling
    study, ``<out>/llama2-sagemaker-2023-superseded``, their deployments suffixed ``@<commit>``.
    Re-importing overwrites the same run folders.
    """
    seed_dir, out = Path(seed_dir) if seed_dir is not None else PACKAGED_SEED, Path(out)
    folder = _seed_folder(seed_dir)
    catalog = catalog or load_catalog()
    study_dir = out / STUDY
    n = _import_folder(_files(folder), study_dir, STUDY, SOURCE_COMMIT, catalog, region)
    _study_json(study_dir, STUDY, n, f"{SOURCE_REPO}@{SOURCE_COMMIT} results/sagemaker ({folder})")
    if include_superseded:
        _import_superseded(folder.parent / "superseded", out, catalog, region)
    return study_dir


def _import_superseded(root: Path, out: Path, catalog: Catalog, region: str) -> Path:
    commits = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not commits:
        raise ConfigError(f"no superseded results in {root}",
                          "drop --include-superseded, or give a seed-data folder with superseded/<commit>/*.json")
    study_dir = out / SUPERSEDED_STUDY
    total = 0
    for c in commits:
        total += _import_folder(_files(c), study_dir, SUPERSEDED_STUDY, c.name, catalog, region, tag=f"@{c.name}")
    _study_json(study_dir, SUPERSEDED_STUDY, total, f"{SOURCE_REPO} superseded results ({root})")
    return study_dir


def load_external(path: Path | str) -> dict[str, dict[str, Any]]:
    """``run_id -> meta.external`` for every run under ``path`` (empty dicts for measured runs)."""
    out: dict[str, dict[str, Any]] = {}
    for d in storage.run_dirs(Path(path)):
        try:
            meta = storage.read_meta(d)
        except ValueError:
            raise ConfigError(f"{d / storage.META} is not a valid run description",
                              "remove or repair that run folder") from None
        out[meta.run_id] = dict(meta.external)
    return out
