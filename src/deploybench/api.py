"""The Python API: the same operations as the CLI, on the same pydantic models.

Everything ``deploybench`` does from the command line is a function here (the CLI only parses
options and prints what these return); ``import deploybench`` re-exports ``__all__``. Bad input
raises :class:`ConfigError` (one line: ``exc.line()``), a server or cloud failure
:class:`EngineError`; both are :class:`DeploybenchError`.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import quality, recommend, seed, storage, sweep, workloads
from .catalog import DEFAULT_REGION, Catalog
from .catalog import load_catalog as read_catalog
from .engines import needs
from .engines.external import ExternalEngine  # public vocabulary (registered like any engine)
from .engines.llamacpp import LlamaCppEngine
from .engines.shortcut import shortcut_config
from .ingest import FORMATS as _IMPORT_READERS
from .ingest import DeploymentFacts, export_rows, import_files
from .ingest.table import EXPORT_COLUMNS, write_csv
from .metrics import Constraint, ttft_ms
from .metrics import slo as slo_mod
from .predict.capacity import Lifecycle
from .predict.cells import load_cells
from .predict.features import measure_cpu_bandwidth
from .predict.study import MODEL_FILE as PREDICT_MODEL_FILE
from .predict.study import capacity_plan, fit_study, predicted_cells
from .predict.validate import HOLDOUTS, validate
from .quality import study as quality_study
from .quality.ladder import LADDER_METHODS
from .recommend import DEFAULT_LATENCY, TIE_REL, ParetoPoint, Pick, SpeedPick
from .recommend import Front as InteractivityFront
from .schemas import ConfigError, DeploybenchError, EngineError, RunConfig, RunSummary, Study
from .schemas.plugins import engine_plugin, engine_plugins
from .schemas.study import PruneConfig
from .schemas.validation import from_validation
from .storage.cells import combined_cells, finished_dirs, load_cell, summarize_cell
from .storage.lock import StudyLock
from .sweep import Reporter, run_deployment
from .sweep import doctor as sweep_doctor
from .sweep import prune as sweep_prune
from .sweep.judge import helper_process

# Names never equal a subpackage's (``deploybench.report`` is the package, ``write_report`` the function).
__all__ = [
    # running
    "run", "run_study", "default_study", "load_study", "validate_study", "plan", "estimate", "check_installed",
    "prune_result", "roofline", "doctor", "doctor_figures", "preflight", "planned_peak",
    # stored data
    "summarize", "load_summaries", "stored_runs", "write_report", "compare", "recommend_picks", "pareto", "import_seed",
    "interactivity", "recommend_at_interactivity",
    "import_results", "export_table", "IMPORT_FORMATS", "load_external", "load_catalog",
    # quality, predict, cloud
    "quality_ladder", "quality_gate", "predict_fit", "predict_validate", "predict_cells", "host_bandwidth",
    "capacity", "cloud_leftovers", "delete_cloud_leftovers", "shortcut_engine",
    # vocabulary: models, errors, helpers the results are made of
    "RunConfig", "RunSummary", "Study", "ExternalEngine", "LlamaCppEngine", "Catalog", "Pick", "ParetoPoint",
    "InteractivityFront", "SpeedPick",
    "Constraint", "Reporter", "DeploybenchError", "ConfigError", "EngineError", "parse_slo", "ttft_ms",
    "DEFAULT_LATENCY", "DEFAULT_REGION", "PREDICT_MODEL_FILE", "TIE_REL",
]


def run(cfg: RunConfig, out: Path | str = "runs", name: str | None = None,
        reporter: Reporter | None = None, resume: bool = True, wait: bool = False) -> tuple[Path, list[RunSummary]]:
    """Measure one deployment at every load level; returns the study folder and the summaries.

    One run writes a study folder at a time: another run on it raises ``StudyBusy`` (``wait``: blocks)."""
    needs.check([cfg.deployment])
    name = name or f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    study_dir = Path(out) / name
    with StudyLock(study_dir, wait), helper_process(cfg.load.adaptive):
        study_dir.mkdir(parents=True, exist_ok=True)
        storage.atomic_write(study_dir / "study.json", cfg.model_dump_json(indent=2))
        prompts = workloads.load_prompts(cfg.workload.source)
        run_deployment(cfg, prompts, study_dir, study=name, reporter=reporter, resume=resume)
        return study_dir, load_summaries(study_dir)  # one per cell, its rounds combined


def summarize(path: Path | str, slo: str | None = None) -> list[RunSummary]:
    """Re-summarize every stored run under ``path`` from raw records (no re-run); cells being measured
    (status ``running``) are left out."""
    return [summarize_cell(d, slo=slo) for d in finished_dirs(Path(path))]


def load_summaries(path: Path | str, rounds: bool = False) -> list[RunSummary]:
    """One summary per cell, its rounds combined from their raw records (``rounds=True``: each round's own
    stored summary, recomputed where missing, with the same figures :func:`summarize` gives)."""
    if rounds:
        return [load_cell(d).summary for d in finished_dirs(Path(path))]
    return [c.summary for c in combined_cells(Path(path))]


QUICK_LOAD = dict(rounds=4, min_duration_s=1.5, max_duration_s=2, warmup_requests=1)
"""``run --quick``: the default grid, in shorter rounds (docs/metrics.md, "Rounds")."""


def default_study(quick: bool = False):
    """The embedded default study (``--quick`` trims it for a first look)."""
    from importlib import resources

    import yaml

    data = yaml.safe_load(resources.files("deploybench").joinpath("data/default-study.yaml").read_text())
    if quick:
        data["name"] = "default-quick"
        data["load"].update(QUICK_LOAD)
    return sweep.validate_study(data, "default study")


def _check_installed(planned, est) -> None:
    """Every package the deployments still to measure need, in one line, before anything starts."""
    todo = {c.deployment for c in est.cells if not c.done}
    check_installed(p.deployment for p in planned if p.name in todo)


def run_study(study, out: Path | str = "runs", reporter: Reporter | None = None, resume: bool = True,
              fresh: bool = False, max_cost: float | None = None, prune: bool | None = None,
              prune_margin: float | None = None, parallel_deployments: int = 1, cluster=None, wait: bool = False):
    """Plan, cost-check and run a study; returns (folder, summaries, failures).

    One run writes a study folder at a time: another run on it raises ``StudyBusy`` (``wait``: blocks).

    ``prune`` (or ``prune:`` in the study): predict every cell and measure only those that can
    matter for a pick (:mod:`deploybench.sweep.prune`); :func:`prune_result` reads what it saved.
    ``parallel_deployments`` N > 1: N deployments at once, each on a host of the Dask cluster ``cluster``
    (an address or a ``distributed.Client``; default ``load.cluster``); only this process writes the folder.
    """
    study_dir = Path(out) / study.name
    with StudyLock(study_dir, wait), helper_process(study.load.adaptive):
        return _run_study_locked(study, study_dir, reporter, resume, fresh, max_cost, prune, prune_margin,
                                 parallel_deployments, cluster)


def _run_study_locked(study, study_dir: Path, reporter, resume, fresh, max_cost, prune, prune_margin,
                      parallel_deployments, cluster):
    planned = sweep.plan(study)
    if fresh and study_dir.exists():
        study_dir.rename(study_dir.with_name(f"{study.name}.{time.strftime('%Y%m%d-%H%M%S')}"))
    est = sweep.estimate(study, planned, study_dir)
    sweep.check_cost(est, study.max_cost if max_cost is None else max_cost)
    _check_installed(planned, est)
    quality_study.check(study, planned)
    pruning = _pruning(study, prune, prune_margin)
    if pruning is not None:
        summaries, failures, _ = sweep_prune.run_pruned(study, planned, study_dir, reporter, pruning.margin, pruning.calibration)
    else:
        summaries, failures = sweep.run_study(study, planned, study_dir, reporter=reporter, resume=resume,
                                   parallel=parallel_deployments, cluster=cluster)
    if summaries:  # one per cell, its rounds combined from their records
        summaries = load_summaries(study_dir)
    if study.quality is not None:
        try:
            quality_study.measure(study, planned, study_dir)
        except DeploybenchError as exc:  # the measured cells stay; quality can be measured on a re-run
            failures.append(f"quality: {exc.line()}")
    return study_dir, summaries, failures


def _pruning(study, prune: bool | None, margin: float | None):
    """The study's prune settings, with ``--prune`` / ``--prune-margin`` applied (None: measure every cell)."""
    if prune is False or (prune is None and study.prune is None and margin is None):
        return None
    base = study.prune or PruneConfig()
    return base if margin is None else PruneConfig(**{**base.model_dump(), "margin": margin})


def prune_result(study_dir: Path | str):
    """What ``--prune`` decided for a study folder (every cell, predicted or measured; savings), or None."""
    return sweep_prune.read_result(study_dir)


# --------------------------------------------------------------------------- planning


def load_study(path: Path | str) -> Study:
    """A study YAML file, validated (a bad field is one ConfigError line)."""
    return sweep.load_study(Path(path))


def validate_study(data: dict, where: str = "study") -> Study:
    """A study from a dict (a parsed YAML, or a dumped study with overrides), validated."""
    return sweep.validate_study(data, where)


def plan(study: Study, where: str | None = None):
    """The study's deployments, expanded from its grid and checked against the hardware (``Planned``)."""
    return sweep.plan(study, where) if where is not None else sweep.plan(study)


def estimate(study: Study, planned=None, out: Path | str = "runs"):
    """Time and cloud cost of what a run would still measure under ``out/<study name>`` (``Estimate``)."""
    return sweep.estimate(study, planned if planned is not None else plan(study), Path(out) / study.name)


def check_installed(deployments) -> None:
    """ConfigError naming every package these deployments need that is not installed here."""
    needs.check(deployments)


def parse_slo(text: str | None) -> list[Constraint]:
    """``"p90_ttft_ms<=500,p50_tpot_ms<=40"`` -> constraints (ConfigError on a bad term); None -> []."""
    return slo_mod.parse(text)


# --------------------------------------------------------------------------- stored data


def stored_runs(path: Path | str) -> list[Path]:
    """Cell folders under ``path`` (a single run or a study), in name order."""
    return storage.run_dirs(Path(path))


def write_report(path: Path | str, formats: str | list[str] | None = None, out: Path | str | None = None,
           slo: str | list[Constraint] | None = None, basis: str = "deploybench") -> list[Path]:
    """Write the report (md, csv, xlsx, html, json) of the runs under ``path``; returns the files."""
    from .report import build_report  # report loads scipy (and plotly for HTML): only when one is written

    constraints = parse_slo(slo) if slo is None or isinstance(slo, str) else list(slo)
    return build_report(path, formats, out, slo=constraints, basis=basis)


def compare(a: Path | str, b: Path | str, confidence: float = 0.95):
    """Two runs or studies cell by cell, each change judged against run-to-run noise (``Comparison``)."""
    from .report import compare as _compare  # report loads scipy: only when runs are compared

    if not 0.5 <= confidence < 1:
        raise ConfigError(f"--confidence {confidence} is out of range", "use e.g. 0.95")
    return _compare(a, b, confidence=confidence)


def _summaries(data: Path | str | list[RunSummary]) -> list[RunSummary]:
    return data if isinstance(data, list) else load_summaries(data)


def recommend_picks(data: Path | str | list[RunSummary], scenario: str, slo: str | list[Constraint] | None = None,
              basis: str = "deploybench", external: dict | None = None, tie_threshold: float | None = None,
              max_error_rate: float = 0.01) -> list[Pick]:
    """The best deployment per model for a scenario (cost | latency | throughput | capacity), with its
    rule and margin. ``data``: a study folder (its imported figures are read too) or summaries."""
    if not 0 <= max_error_rate <= 1:
        raise ConfigError(f"--max-error-rate: {max_error_rate} is out of range", "use a fraction, e.g. 0.01 for 1%")
    if external is None and not isinstance(data, list):
        external = load_external(data)
    constraints = parse_slo(slo) if slo is None or isinstance(slo, str) else list(slo)
    return recommend.recommend(_summaries(data), scenario, slo=constraints or None, basis=basis, external=external,
                      tie_threshold=TIE_REL if tie_threshold is None else tie_threshold, max_error_rate=max_error_rate)


def pareto(data: Path | str | list[RunSummary], latency: str | None = None, per_concurrency: bool = True,
           basis: str = "deploybench", external: dict | None = None) -> list[ParetoPoint]:
    """Cells on the cost vs latency Pareto front, per model (and per concurrency level)."""
    if external is None and not isinstance(data, list):
        external = load_external(data)
    return recommend.pareto(_summaries(data), latency=latency or DEFAULT_LATENCY, per_concurrency=per_concurrency,
                   basis=basis, external=external)


def _cells_and_devices(path: Path | str, catalog: Path | str | None):
    cells = combined_cells(Path(path))
    if not cells:
        raise ConfigError(f"no runs under {path}", "give a folder written by `deploybench run` or `deploybench import`")
    return [c.summary for c in cells], recommend.devices_by_run(cells, load_catalog(catalog))


def interactivity(path: Path | str, at: float | None = None, catalog: Path | str | None = None) -> InteractivityFront:
    """Per-user speed (1000 / TPOT p50) against output tokens/s per device and $ per 1M tokens: one curve per
    deployment over its load levels and the fronts per model; with ``at`` (tokens/s per user) each curve read
    off there, interpolated monotonically and never extrapolated (docs/metrics.md, "The interactivity front")."""
    summaries, devices = _cells_and_devices(path, catalog)
    return recommend.interactivity_front(summaries, devices, at)


def recommend_at_interactivity(path: Path | str, at: float, tie_threshold: float | None = None,
                               catalog: Path | str | None = None) -> list[SpeedPick]:
    """``recommend --scenario cost --at-interactivity N``: per model, the cheapest deployment at N tokens/s per user."""
    summaries, devices = _cells_and_devices(path, catalog)
    return recommend.cheapest_at(recommend.interactivity_front(summaries, devices).curves, at,
                       TIE_REL if tie_threshold is None else tie_threshold)


def import_seed(seed_dir: Path | str | None = None, out: Path | str = "runs", include_superseded: bool = False,
                catalog: Path | str | None = None, region: str | None = None) -> Path:
    """Import the 2023 Llama 2 SageMaker study's results (default: the copy shipped with deploybench)."""
    return seed.import_seed(seed_dir, out, include_superseded=include_superseded, catalog=load_catalog(catalog),
                   region=region or DEFAULT_REGION)


IMPORT_FORMATS = tuple(_IMPORT_READERS)
"""``deploybench import --from``: the formats :func:`import_results` reads (docs/import.md)."""


def import_results(paths, fmt: str, out: Path | str = "runs", name: str | None = None, catalog: Path | str | None = None,
                   **deployment) -> tuple[Path, list[RunSummary]]:
    """Import other tools' result files (``fmt``: one of :data:`IMPORT_FORMATS`) as cells of the study
    ``out/name`` (default ``import-<format>``); ``deployment``: model, hardware, gpus, engine, precision, tp,
    pp, price_per_hour, region, for what the files do not say. Returns the study folder and the new cells'
    summaries. A bad file raises one ConfigError and stores nothing."""
    from pydantic import ValidationError

    try:
        facts = DeploymentFacts(**{k: v for k, v in deployment.items() if v is not None})
    except ValidationError as exc:
        raise from_validation(exc, "import", "see `deploybench import --help`") from None
    study_dir = Path(out) / (name or f"import-{fmt}")
    cells = import_files(list(paths), fmt, study_dir, facts, load_catalog(catalog))
    return study_dir, [c.summary for c in cells]


def export_table(path: Path | str, out: Path | str | None = None, to: str = "table",
                 catalog: Path | str | None = None) -> tuple[Path, int]:
    """Every cell of a study as one row of the table format (CSV, or Parquet for a ``.parquet`` name);
    default ``<study>/export-table.csv``. Returns the file and the row count."""
    if to != "table":
        raise ConfigError(f"--to: unknown format '{to}'", "use --to table")
    root = Path(path)
    cells = combined_cells(root) if root.is_dir() else []
    if not cells:
        raise ConfigError(f"no runs under {root}", "give a folder written by `deploybench run` or `deploybench import`")
    rows = export_rows([(c.summary, c.meta.config) for c in cells], load_catalog(catalog))
    target = Path(out) if out is not None else root / "export-table.csv"
    with storage.replacing(target) as tmp:
        if target.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist([{k: (None if r.get(k) is None else str(r[k])) for k in EXPORT_COLUMNS}
                                                 for r in rows]), tmp)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                write_csv(rows, f)
    return target, len(rows)


def load_external(path: Path | str) -> dict:
    """Figures an imported study published itself, per run id (empty for measured studies)."""
    return seed.load_external(path) if Path(path).is_dir() else {}


def load_catalog(path: Path | str | None = None) -> Catalog:
    """The hardware catalog (GPUs, memory, bandwidth, dated prices), with ``path`` merged over it."""
    return read_catalog(Path(path) if path is not None else None)


# --------------------------------------------------------------------------- quality


def quality_ladder(model: str, quantizations: str, method: str = "kld", ctx: int = 256, chunks: int = 8,
                   threads: int | None = None, text: Path | str | None = None, fresh: bool = False):
    """What each quantization of ``model`` costs in quality against its least-quantized form (cached)."""
    if method not in LADDER_METHODS:
        raise ConfigError(f"--method: '{method}' is not a model-file method",
                          "use kld or perplexity (agreement compares deployments: set quality: in a study)")
    return quality.measure_ladder(model, quantizations, method, ctx=ctx, chunks=chunks, threads=threads,
                          text=Path(text) if text is not None else None, fresh=fresh)


def quality_gate(path: Path | str, summaries: list[RunSummary], spec: str | None, external: dict | None = None):
    """``--max-quality-loss``: (kept summaries, exclusions, limits, the study's quality table or None)."""
    kept, excluded, limits = quality.gate_folder(Path(path), summaries, spec, external)
    return kept, excluded, limits, (quality.read_table(Path(path)) if limits else None)


# --------------------------------------------------------------------------- predict


def predict_fit(path: Path | str, out: Path | str | None = None):
    """Calibrate the predict model on a study; returns (model, file written)."""
    return fit_study(path, out)


def predict_validate(path: Path | str, holdout: str = "model", train: list[str] | None = None):
    """Fit on all but one model size (or instance type), predict it: MAPE and picks agreement.
    ``train``: fit only on these, predict each of the others."""
    if holdout not in HOLDOUTS:
        raise ConfigError(f"--holdout: unknown '{holdout}'", f"use one of: {', '.join(HOLDOUTS)}")
    if not Path(path).exists():
        raise ConfigError(f"path {path} does not exist",
                          "give a folder written by `deploybench run` or `deploybench import-seed`")
    return validate(load_cells(path), holdout, train)


def predict_cells(path: Path | str, model_file: Path | str | None = None) -> list[dict]:
    """Every cell of a study predicted beside its measurement."""
    return predicted_cells(path, model_file)


def host_bandwidth() -> dict:
    """This host's memory bandwidth and float32 FLOP/s (about a second)."""
    return measure_cpu_bandwidth()


def capacity(path: Path | str, target_rate: float, slo: str | None = None, hours_per_day: float = 24.0,
             min_replicas: int = 0, startup_s: float | None = None, model_file: Path | str | None = None):
    """Replicas and fleet cost per deployment for a target request rate within an SLO (predicted);
    returns (rows cheapest first, constraints, lifecycle)."""
    if not 0 < hours_per_day <= 24:
        raise ConfigError(f"--hours-per-day: {hours_per_day} is not in (0, 24]", "give hours a day, e.g. 12")
    if min_replicas < 0 or (startup_s is not None and startup_s < 0):
        raise ConfigError("--min-replicas / --startup-s must be >= 0", "give 0 or more")
    constraints = parse_slo(slo)
    life = Lifecycle(hours_per_day=hours_per_day, min_replicas=min_replicas, startup_s=startup_s)
    return capacity_plan(path, target_rate, constraints, life, model_file), constraints, life


# --------------------------------------------------------------------------- cloud


def cloud_leftovers(region: str, study: str | None = None, older_than_hours: float | None = None):
    """Cloud resources a run left behind (tagged ``deploybench:managed=true``), from every engine that creates
    any (:meth:`~deploybench.schemas.EnginePlugin.find_leftovers`); each says its ``engine``."""
    found: list = []
    for plugin in engine_plugins().values():
        found += plugin.find_leftovers(region, study=study, older_than_hours=older_than_hours) or []
    return found


def delete_cloud_leftovers(region: str, leftovers, report=None) -> list:
    """Delete what :func:`cloud_leftovers` found, each by its engine; ``report(leftover, error_or_None)`` after
    each; returns ``(leftover, error or None)`` per item."""
    results: list = []
    for kind in dict.fromkeys(lo.engine for lo in leftovers):
        results += engine_plugin(kind).delete_leftovers(region, [lo for lo in leftovers if lo.engine == kind], report)
    return results


def shortcut_engine(**options):
    """The engine config of ``deploybench run``'s one-server shortcut (``--endpoint URL`` or ``--model M
    --threads N ...``; None: not given): the engine whose shortcut key is given, else the default engine
    (:func:`deploybench.engines.shortcut.shortcut_config`). Bad input raises one ConfigError line."""
    return shortcut_config(options)


def doctor(streams: int = 256, seconds: float = 3.0, workers: int | str = 1):
    """Drive ``streams`` streams at the bundled scripted server (loopback) for ``seconds``: what this client
    keeps up here (:class:`deploybench.sweep.doctor.Check`: tok/s, lag, TTFT added, ceiling)."""
    return sweep_doctor.check(streams, seconds, workers)


def doctor_figures(check) -> dict:
    """A :func:`doctor` check as plain figures (JSON)."""
    from dataclasses import asdict

    return {**asdict(check), "share": check.share, "client_ttft_ms": check.client_ttft_ms, "holds": check.holds,
            "ceiling_streams": check.ceiling_streams}


def planned_peak(load) -> int | None:
    """The most streams a study's levels keep in flight (None when no level says)."""
    return sweep_doctor.planned_peak(load)


def preflight(load, seconds: float = 3.0):
    """``run``'s pre-flight: ``(check or None, warnings)``; skipped when the planned peak is <= 64 streams."""
    return sweep_doctor.preflight(load, seconds)


def roofline(path: Path | str) -> dict:
    """run id -> :class:`deploybench.report.roofline.Roofline` (share of its roofline bound) for every
    measured cell under ``path`` that has the features to compute it."""
    from .report.roofline import cell_roofline  # report loads scipy: only when asked for
    out = {}
    for d in storage.run_dirs(Path(path)):
        c = load_cell(d)
        rf = cell_roofline(c.meta, c.summary)
        if rf is not None:
            out[c.summary.run_id] = rf
    return out
