"""Imported cells -> deploybench's store: the same folders a run writes (meta.json, records.jsonl, summary.json).

Every cell of an import is read and built first; only then is anything written, each cell into
``<run_id>.incomplete-import`` (ignored by every reader) and renamed into place whole, so a bad file
stores nothing and a crash never leaves half a cell under its name.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .. import storage
from .._version import __version__
from ..catalog import DEFAULT_REGION, Catalog
from ..metrics.imported import summarize_imported
from ..schemas import ConfigError, EngineInfo, RequestRecord, RunMeta, RunSummary
from .cell import ImportedCell, sha256

SOURCE = "import"
"""``labels.source`` of every imported cell (with ``labels.tool``); stores from before say ``import-seed``."""


class DeploymentFacts(BaseModel):
    """What an import knows of the deployment beyond the file: ``--model``, ``--hardware``, ... A value the
    file gives wins over the flag; a price comes from ``price_per_hour``, else the catalog entry of
    ``hardware`` (in ``region``), else there is none (no cost)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    hardware: str | None = Field(None, description="instance type (catalog name: priced) or GPU name")
    gpus: int | None = Field(None, ge=0)
    engine: str | None = Field(None, description="free text: vllm, sglang, tensorrt-llm, tgi, llamacpp, ...")
    precision: str | None = None
    tp: int | None = Field(None, ge=1)
    pp: int | None = Field(None, ge=1)
    price_per_hour: float | None = Field(None, ge=0)
    region: str = DEFAULT_REGION


@dataclass
class Prepared:
    """One cell ready to store."""

    meta: RunMeta
    summary: RunSummary
    records: list[RequestRecord] | None
    origin: str  # file (and row) it came from, for duplicate messages


def _facts(cell: ImportedCell, flags: DeploymentFacts) -> dict[str, Any]:
    out = flags.model_dump(exclude={"region"})
    out.update({k: v for k, v in cell.facts.items() if v is not None})
    return out


def _price(facts: dict[str, Any], catalog: Catalog, region: str) -> tuple[float | None, str]:
    if facts.get("price_per_hour") is not None:
        return float(facts["price_per_hour"]), "given"
    hw = facts.get("hardware")
    if hw and hw in catalog:
        try:
            p = catalog.price(hw, region)
        except ConfigError:
            return None, f"no catalog price for {hw} in {region}"
        return p.usd_per_hour, f"catalog {region}, as of {p.as_of}"
    return None, "no price: give --price-per-hour or a catalog --hardware name"


def _deployment(facts: dict[str, Any]) -> str:
    if facts.get("deployment"):
        return str(facts["deployment"])
    model = str(facts.get("model") or "model").rstrip("/").rsplit("/", 1)[-1]
    parts = [model, facts.get("hardware"), facts.get("engine"), facts.get("precision"),
             f"tp{facts['tp']}" if facts.get("tp") else None, facts.get("shape")]
    return "_".join(str(p) for p in parts if p)


def _labels(cell: ImportedCell, facts: dict[str, Any]) -> dict[str, str]:
    labels = {"source": SOURCE, "tool": cell.tool, "data": "per-request" if cell.per_request else "summary-only"}
    for key, name in (("model", "model"), ("hardware", "hardware"), ("engine", "engine"), ("precision", "quantization"),
                      ("tp", "tp"), ("pp", "pp"), ("gpus", "gpus")):
        if facts.get(key) is not None:
            labels[name] = str(facts[key])
    if facts.get("model"):
        labels["model_id"] = str(facts["model"])
        labels["model"] = str(facts["model"]).rstrip("/").rsplit("/", 1)[-1]
    if cell.relative_time:
        labels["time"] = "relative"
    return {**labels, **cell.labels}


def provenance(cell: ImportedCell, digest: str, when: str) -> dict[str, Any]:
    prov = {"tool": cell.tool, "version": cell.tool_version, "file": str(cell.source.resolve()),
            "sha256": digest, "imported_at": when, "deploybench_version": __version__}
    if cell.row is not None:
        prov["row"] = cell.row
    return prov


def prepare(cell: ImportedCell, flags: DeploymentFacts, catalog: Catalog, study: str, digest: str,
            when: str) -> Prepared:
    facts = _facts(cell, flags)
    price, price_note = _price(facts, catalog, flags.region)
    deployment = _deployment(facts)
    run_id = storage.run_id_for(deployment, cell.level)
    labels = _labels(cell, facts)
    prov = provenance(cell, digest, when)
    window = cell.tool_window
    external = {**cell.external, "provenance": prov, "missing": list(cell.missing), "definitions": cell.definitions,
                "price": price_note}
    if window is not None:
        external["tool_window"] = {"window_s": window.window_s, "output_tokens": window.output_tokens,
                                   "output_tok_s": window.output_tok_s, "request_rps": window.request_rps,
                                   "basis": window.basis}
    start, end = cell.window_ns or (None, None)
    meta = RunMeta(
        run_id=run_id, study=study, deployment=deployment, concurrency=getattr(cell.level, "users", 0),
        deployment_config={"name": deployment, "engine": {"kind": facts.get("engine") or "unknown",
                                                          "model": facts.get("model")},
                           "hardware": {"name": facts.get("hardware"), "price_per_hour": price,
                                        "gpus": facts.get("gpus")}, "labels": labels},
        config={"import": prov, "workload": {"input_tokens": cell.figures.get("input_tokens_per_request"),
                                             "max_tokens": cell.figures.get("output_tokens_per_request")}},
        engine=EngineInfo(kind=facts.get("engine") or "unknown", model=facts.get("model") or ""),
        deploybench_version=__version__, started_at=when, ended_at=when, status="complete",
        window_start_ns=None if cell.relative_time else start, window_end_ns=None if cell.relative_time else end,
        price_per_hour=price, labels=labels, external=external, level={**cell.level.model_dump(), "key": cell.level.key},
        note=_note(cell, prov))
    summary = summarize_imported(meta, cell.records, cell.figures)
    origin = f"{cell.source}" + (f" row {cell.row}" if cell.row is not None else "")
    return Prepared(meta, summary, cell.records, origin)


def _note(cell: ImportedCell, prov: dict[str, Any]) -> str:
    kind = ("per-request records" + (" (relative times)" if cell.relative_time else "")
            if cell.per_request else "summary only")
    window = f"; window figures: {cell.tool_window.basis}" if cell.tool_window and cell.per_request else ""
    version = f" {prov['version']}" if prov.get("version") else ""
    return f"imported from {cell.source.name} ({cell.tool}{version}); {kind}{window}"


def write(prepared: list[Prepared], study_dir: Path, entry: dict[str, Any]) -> None:
    """Store every prepared cell (each whole or not at all) and record the import in ``study.json``."""
    seen: dict[str, str] = {}
    for p in prepared:
        if p.meta.run_id in seen:
            raise ConfigError(f"{p.origin}: same deployment and load level as {seen[p.meta.run_id]} ({p.meta.run_id})",
                              "import them into different studies (--name), or tell them apart (--model, --hardware, "
                              "--engine, --precision, --tp)")
        seen[p.meta.run_id] = p.origin
    study_dir.mkdir(parents=True, exist_ok=True)
    for p in prepared:
        write_cell(study_dir, p.meta, p.summary, p.records)
    _study_json(study_dir, entry)


def write_cell(study_dir: Path, meta: RunMeta, summary: RunSummary, records: list[RequestRecord] | None) -> Path:
    """One cell folder, written beside its final name and renamed into place (an older copy is replaced)."""
    final = study_dir / meta.run_id
    tmp = study_dir / f"{meta.run_id}.incomplete-import"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    storage.atomic_write(tmp / storage.META, meta.model_dump_json(indent=2))
    storage.atomic_write(tmp / storage.RECORDS, "".join(r.model_dump_json() + "\n" for r in records or []))
    if records:
        storage.write_parquet(tmp, records)
    storage.write_summary(tmp, summary)
    if final.exists():
        old = study_dir / f"{meta.run_id}.incomplete-replaced"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


def _study_json(study_dir: Path, entry: dict[str, Any]) -> None:
    path = study_dir / "study.json"
    doc: dict[str, Any] = {"kind": "import", "imports": []}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and old.get("kind") == "import":
                doc = old
        except (OSError, ValueError):
            pass
    doc.setdefault("imports", []).append(entry)
    storage.atomic_write(path, json.dumps(doc, indent=2, default=str))


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def digest(path: Path) -> str:
    return sha256(path)
