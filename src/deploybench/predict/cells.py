"""Stored runs -> (features, measured figures): what the fit and the validation read.

Imported 2023 cells are judged on the study's own named figures (``summary.external``): its
server-side median ms/token (TGI ``time_per_token``) and its throughput (``VU x 50 x 1000 /
mean(total_time)``). Measured cells use deploybench's: median ms/token (E2E / output tokens),
counted output tokens/s, median TTFT and TPOT.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import storage
from ..ingest import SOURCE as IMPORTED, DeploymentFacts, prepare, table
from ..ingest.store import digest, now
from ..storage.cells import load_cell
from ..catalog import Catalog, load_catalog
from ..schemas import ConfigError, RunMeta, RunSummary, Serving
from ..schemas import plugins
from ..seed import TOOL as SEED_TOOL
from .deployed import host_figures, kv_bits, model_arch, serving_hardware
from .scheduling import attention_dp
from .features import (SEED_WORKLOAD, Architecture, CellFeatures, HardwareFeatures, Workload, bits_per_weight,
                       gpu_features)

__all__ = ["Cell", "cell_features", "load_cells", "measured_figures", "host_figures"]

STUDY_MS = "Latency (ms/token) med"
KV_COLUMN = "kv_cache_dtype"
"""An imported table's column for the KV-cache precision (tests/data/public-gpu: AMD's FP8-KV checkpoint)."""
TABLES = (".csv", ".parquet")


@dataclass
class Cell:
    features: CellFeatures
    measured: dict[str, float]
    summary: RunSummary | None = None
    meta: RunMeta | None = None
    extra: dict = field(default_factory=dict)


def measured_figures(s: RunSummary) -> dict[str, float]:
    """The figures a prediction is compared with (only those the cell has)."""
    ext = s.external or {}
    out: dict[str, float] = {}
    if STUDY_MS in ext:
        out["ms_per_token"] = float(ext[STUDY_MS])
    elif s.ms_per_token.p50:
        out["ms_per_token"] = s.ms_per_token.p50
    tput = ext.get("study_throughput_tok_s") or s.output_throughput_tok_s
    if tput:
        out["tok_s"] = float(tput)
    if s.ttft_ms.p50:
        out["ttft_ms"] = s.ttft_ms.p50
    if s.tpot_ms.p50:
        out["tpot_ms"] = s.tpot_ms.p50
    return out


def _stored(meta: RunMeta) -> CellFeatures | None:
    """The features the run stored in its meta.json at run time (None for older runs or when they failed)."""
    if not meta.features:
        return None
    try:
        return CellFeatures.model_validate(meta.features)
    except ValueError:
        return None


def _arch(meta: RunMeta) -> tuple[Architecture, float | None]:
    labels = meta.labels
    refs = [labels.get("model_id", ""), labels.get("model", ""), meta.engine.model if meta.engine else ""]
    path = meta.engine.model_path if meta.engine else None
    try:
        return model_arch([r for r in refs if r], path)
    except ConfigError:
        stored = _stored(meta)
        if stored is not None:
            return stored.arch, stored.bits
        raise ConfigError(f"run {meta.run_id}: model '{labels.get('model')}' has no known architecture",
                          "keep the GGUF file at the path in meta.json (engine.model_path), or use a Llama 2 model")


def _engine_config(meta: RunMeta):
    """The cell's stored engine config, validated by its plugin (None: not installed, or an older store)."""
    return plugins.stored_config(meta.deployment_config.get("engine"))


def _serving(meta: RunMeta) -> Serving:
    """What the engine plugin says of the stored config; an imported cell's own ``tp`` / ``pp`` labels and
    KV-cache precision (a table's ``kv_cache_dtype`` column) where it has them."""
    labels = meta.labels
    cfg = None if labels.get("source") == IMPORTED else _engine_config(meta)  # an import's config is a stub:
    serving = plugins.serving(cfg) if cfg is not None else Serving()  # its plugin's defaults are not the server's
    if labels.get("tp", "").isdigit():  # an imported cell's own label
        pp = labels.get("pp", "")
        serving = replace(serving, tp=int(labels["tp"]), pp=int(pp) if pp.isdigit() else None)
    columns = (meta.external or {}).get("table_columns") or {}
    if serving.kv_precision is None and columns.get(KV_COLUMN):
        serving = replace(serving, kv_precision=str(columns[KV_COLUMN]))
    return serving


def _hardware(meta: RunMeta, catalog: Catalog) -> HardwareFeatures:
    labels = meta.labels
    name = labels.get("hardware") or (meta.deployment_config.get("hardware") or {}).get("name", "")
    serving = _serving(meta)
    inst = serving.instance_type or name
    if inst in catalog and catalog.get(inst).gpu_count > 0:
        return serving_hardware(name, meta.price_per_hour, serving, catalog)
    if name and name.lower() in {g.lower() for g in catalog.gpus}:  # a table names the GPU, not an instance
        gpus = labels.get("gpus", "")
        devices = serving.devices or (int(gpus) if gpus.isdigit() else 1)
        return gpu_features(name, devices, catalog, meta.price_per_hour)
    stored = _stored(meta)
    if stored is not None:  # measured on the host that ran the cell, at run time
        return stored.hardware.model_copy(update={"price_per_hour": meta.price_per_hour})
    return serving_hardware(name, meta.price_per_hour, serving, catalog)


def _workload(meta: RunMeta, s: RunSummary) -> Workload:
    if meta.labels.get("source") == "import-seed" or meta.labels.get("tool") == SEED_TOOL:
        return SEED_WORKLOAD
    done = max(1, s.completed)
    wl = meta.config.get("workload") or {}
    out = s.output_tokens / done if s.output_tokens else float(wl.get("max_tokens") or 64)
    inp = s.input_tokens / done if s.input_tokens else float(wl.get("input_tokens") or 128.0)
    return Workload(input_mean=max(1.0, inp), input_median=max(1.0, inp), output_tokens=max(1.0, out),
                    source="this run's mean input/output tokens")


def _group(meta: RunMeta, cfg) -> str:
    """The predictor's calibration group: the engine plugin's label for the stored config (a config that no
    longer validates, or whose engine is not installed: the engine label the cell stored)."""
    if cfg is not None:
        return plugins.calibration_group(cfg)
    return meta.labels.get("engine") or (meta.engine.kind if meta.engine else "") or "unknown"


def cell_features(meta: RunMeta, s: RunSummary, catalog: Catalog | None = None) -> CellFeatures:
    catalog = catalog or load_catalog()
    arch, gguf_bits = _arch(meta)
    quant = meta.labels.get("quantization") or "none"
    bits = gguf_bits or bits_per_weight(quant)
    cfg = _engine_config(meta)
    serving = _serving(meta)
    return CellFeatures(run_id=meta.run_id, deployment=meta.deployment, model=meta.labels.get("model", arch.name),
                        arch=arch, quantization=quant, bits=bits, kv_bits=kv_bits(serving),
                        hardware=_hardware(meta, catalog), pp=serving.pp or 1,
                        engine=_group(meta, cfg), concurrency=meta.concurrency, max_batch=serving.batch_slots,
                        workload=_workload(meta, s), level=str(meta.level.get("key") or f"c{meta.concurrency}"),
                        attention_dp=attention_dp(((meta.external or {}).get("table_columns") or {}).get(
                            "engine_settings"), serving.tp or 1))


def load_cells(path: Path | str, catalog: Catalog | None = None) -> list[Cell]:
    """Every complete closed-loop run under ``path`` with its features and measured figures (the model is
    a closed-loop one; open-loop rate cells feed capacity plans through their sweep instead)."""
    path = Path(path)
    catalog = catalog or load_catalog()
    if path.is_file() and path.suffix.lower() in TABLES:
        pairs = table_cells(path, catalog)
    elif not path.is_dir():
        raise ConfigError(f"{path} is not a study folder",
                          "give a folder written by `deploybench run` or `deploybench import-seed`, or a table "
                          "file (.csv / .parquet, the `import --from table` format)")
    else:
        pairs = [(c.meta, c.summary) for c in map(load_cell, storage.run_dirs(path))]
    cells = []
    for meta, s in pairs:
        if meta.status != "complete" or meta.concurrency < 1:  # not complete, or an open-loop level
            continue
        m = measured_figures(s)
        if "ms_per_token" in m or "tok_s" in m or "tpot_ms" in m:
            cells.append(Cell(cell_features(meta, s, catalog), m, s, meta))
    if not cells:
        raise ConfigError(f"no complete runs with figures under {path}",
                          "give a folder written by `deploybench run` or `deploybench import-seed`")
    return cells


def table_cells(path: Path, catalog: Catalog) -> list[tuple[RunMeta, RunSummary]]:
    """A table file (``deploybench import --from table`` format) read by the importer's own code, cells built
    exactly as the import stores them but kept in memory: rows that differ only in their workload (the
    public data's output lengths at one concurrency) would share a cell folder in one study."""
    d, when = digest(path), now()
    study = path.stem
    out = []
    for c in table.read(path):
        p = prepare(c, DeploymentFacts(), catalog, study, d, when)
        wl = f"{c.figures.get('input_tokens_per_request')}-{c.figures.get('output_tokens_per_request')}"
        run_id = f"{p.meta.run_id}__in{wl.replace('-', '-out')}"
        out.append((p.meta.model_copy(update={"run_id": run_id}), p.summary.model_copy(update={"run_id": run_id})))
    return out
