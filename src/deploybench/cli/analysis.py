"""Analysis commands: ``import-seed``, ``recommend``, ``pareto``, ``catalog``.

Registered on the main app by :func:`register` (see ``cli._register_subcommands``). Every bad
input is a :class:`ConfigError` (one line, no traceback).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from .. import api
from ..api import DEFAULT_LATENCY, DEFAULT_REGION, TIE_REL, Catalog, ParetoPoint, Pick
from ..schemas import ConfigError, RunSummary
from .interactivity import FRONTS, print_front, print_speed_picks
from .quality import Gated

out = Console()
err = Console(stderr=True, soft_wrap=True)


def _json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _f(v: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def _summaries(path: Path) -> list[RunSummary]:
    if not path.exists():
        raise ConfigError(f"path {path} does not exist",
                          "give a folder written by `deploybench run` or `deploybench import-seed`")
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder", "give a run or study folder, not a file")
    try:
        summaries = api.load_summaries(path)
    except ValueError as exc:  # a corrupt summary.json / meta.json
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"a run under {path} cannot be read ({line})", "remove or repair that run folder") from None
    if not summaries:
        raise ConfigError(f"no runs under {path}", "give a folder written by `deploybench run` or `deploybench import-seed`")
    return summaries


# --------------------------------------------------------------------------- tables


def picks_table(picks: list[Pick], title: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ("model", "pick", "conc", "quant", "ms/tok", "tok/s", "$/h", "$/1M", "margin"):
        left = c in ("model", "pick", "quant")
        t.add_column(c, justify="left" if left else "right", no_wrap=c == "pick")
    for p in picks:
        if p.run_id is None:
            t.add_row(p.group, "none (see below)", *["—"] * 7)
            continue
        t.add_row(p.group, _short(p), str(p.concurrency), p.quantization or "—",
                  _f(p.ms_per_token_p50), _f(p.tokens_per_s, "{:.1f}"), _f(p.price_per_hour, "{:.3f}"),
                  _f(p.cost_per_1m_tokens), _margin(p))
    return t


def _short(p: Pick) -> str:
    """The instance (and TP degree) where labels name it; else the deployment name."""
    if not p.hardware:
        return p.deployment or ""
    return p.hardware + (f" tp{p.tp}" if p.tp else "")


def _margin(p: Pick) -> str:
    if p.runner_up is None or p.margin is None:
        return "—"
    return f"{p.margin:.1%}" + (" tie" if p.tie else "")


def _gpus(e) -> str:
    return f"{e.gpu_count}x {(e.gpu_model or '?').split('-')[0]}" if e.gpu_count else "—"


def _price(pr) -> str:
    return "—" if pr is None else ("~" if pr.estimate else "") + f"{pr.usd_per_hour:g}"


def _spec_table(title: str, extra: list[str]) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ["name", "GPUs", "GiB", "GB/s", "vCPU", *extra]:
        t.add_column(c, justify="left" if c in ("name", "GPUs", "as of", "src") else "right", no_wrap=True)
    return t


def catalog_table(cat: Catalog, region: str | None) -> tuple[Table, list[str]]:
    """The catalog as a table, plus footnote lines.

    With a region: its price, as-of date and numbered source per entry. Without: one price
    column per region (dates and sources: ``--region`` or ``--json``).
    """
    regions = [region] if region else cat.regions()
    date = cat.catalog_date or "undated"
    if region:
        t = _spec_table(f"deploybench hardware catalog ({date}, {region}, $/hour)", ["$/h", "as of", "src"])
    else:
        t = _spec_table(f"deploybench hardware catalog ({date}, $/hour)", regions)
    notes: dict[str, int] = {}

    def ref(source: str) -> str:
        return f"[{notes.setdefault(source, len(notes) + 1)}]"

    order = sorted(cat.entries.values(), key=lambda e: (e.platform != "sagemaker", e.platform, e.family,
                                                        e.gpu_count, e.vcpus or 0, e.name))
    for e in order:
        spec = [e.name, _gpus(e), _f(e.gpu_memory_gib, "{:g}"), _f(e.memory_bandwidth_gbs, "{:g}"), _f(e.vcpus, "{:d}")]
        if region:
            pr = e.prices.get(region)
            t.add_row(*spec, _price(pr), pr.as_of if pr else "", ref(pr.source) if pr else "no price")
        else:
            t.add_row(*spec, *[_price(e.prices.get(r)) for r in regions])
    for p in cat.cpu_profiles.values():
        rate = f"{p.usd_per_vcpu_hour:g}/vCPU"
        tail = [rate, p.as_of, ref(p.source)] if region else [rate, *[""] * (len(regions) - 1)]
        t.add_row(p.name, "CPU", "—", "—", "—", *tail)
    lines = [f"[{i}] {src}" for src, i in notes.items()]
    lines.append("GiB, GB/s: memory and memory bandwidth per GPU; CPU profiles: price = vCPUs x rate, any region")
    if not region:
        lines.append("dates and sources: deploybench catalog --region R (or --json)")
    lines.append("~ = estimate (derived, not read off a price list); override with --catalog FILE")
    return t, lines


def _catalog_json(cat: Catalog, region: str | None) -> dict[str, Any]:
    entries = []
    for e in cat.entries.values():
        d = e.model_dump(mode="json")
        if region:
            d["prices"] = {k: v for k, v in d["prices"].items() if k == region}
        entries.append(d)
    return {"catalog_date": cat.catalog_date, "files": cat.files, "region": region, "entries": entries,
            "cpu_profiles": [p.model_dump(mode="json") for p in cat.cpu_profiles.values()],
            "gpus": {name: g.model_dump(mode="json", exclude_defaults=True) for name, g in cat.gpus.items()}}


def pareto_table(points: list[ParetoPoint], latency: str) -> Table:
    t = Table(title=f"cost vs {latency} Pareto front", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("model", "conc", "deployment", "$/1M tok", latency):
        t.add_column(c, justify="right" if c in ("conc", "$/1M tok", latency) else "left")
    for p in points:
        t.add_row(p.group, str(p.concurrency), p.deployment, _f(p.cost_per_1m_tokens), _f(p.latency))
    return t


# --------------------------------------------------------------------------- commands


def import_seed_cmd(
    seed_dir: Optional[Path] = typer.Argument(None, help="the seed-data folder (holds sagemaker/*.json); "
                                              "default: the copy shipped with deploybench"),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="store folder; the study goes to OUT/llama2-sagemaker-2023"),
    include_superseded: bool = typer.Option(False, "--include-superseded",
                                            help="also import superseded/<commit>/ runs into a sibling study"),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="catalog YAML overriding bundled prices"),
    region: str = typer.Option(DEFAULT_REGION, "--region", help="price region"),
    as_json: bool = typer.Option(False, "--json", help="print the study folder and run count as JSON"),
) -> None:
    """Import the 2023 Llama 2 SageMaker study's results into the run store."""
    study_dir = api.import_seed(seed_dir, out_dir, include_superseded=include_superseded, catalog=catalog,
                                region=region)
    n = len(api.load_summaries(study_dir))
    if as_json:
        _json({"study_dir": str(study_dir), "runs": n})
    err.print(f"imported {n} runs: {study_dir}", highlight=False, markup=False)


def recommend_cmd(
    path: Path = typer.Argument(..., help="a study folder (from `deploybench run` or `import-seed`)"),
    scenario: str = typer.Option(..., "--scenario", help="cost | latency | throughput | capacity (needs --slo)"),
    slo: Optional[str] = typer.Option(None, "--slo", help='only cells meeting e.g. "p90_ttft_ms<=500,p50_tpot_ms<=40"'),
    basis: str = typer.Option("deploybench", "--basis", help="deploybench | study (the study's own throughput)"),
    tie: float = typer.Option(TIE_REL, "--tie-threshold", help="relative margin counted as a tie (imported data "
                              "without intervals; measured cells tie by overlapping 95 % intervals)"),
    max_error_rate: float = typer.Option(0.01, "--max-error-rate", help="cells with more errors than this never win"),
    as_json: bool = typer.Option(False, "--json", help="print the picks as JSON"),
    max_quality_loss: Optional[str] = typer.Option(None, "--max-quality-loss", help='only deployments within e.g. '
                                                   '"kld<=0.05,ppl<=+2%,top1>=95%" (quality.json of the study)'),
    at_interactivity: Optional[float] = typer.Option(None, "--at-interactivity", help="with --scenario cost: the "
                                                     "cheapest at N tok/s per user (1000 / TPOT p50), read off each "
                                                     "deployment's curve over its load levels"),
    details: bool = typer.Option(False, "--details", help="also the picks' full table (the 2023 study's columns)"),
) -> None:
    """Pick the best deployment per model for a scenario, with the rule and the margin."""
    if at_interactivity is not None:
        _at_interactivity(path, scenario, at_interactivity, tie, as_json, slo, max_quality_loss, basis)
        return

    constraints = api.parse_slo(slo)
    external = api.load_external(path)
    gated = Gated(path, _summaries(path), max_quality_loss, external)
    picks = api.recommend_picks(gated.kept, scenario, slo=constraints, basis=basis, external=external, tie_threshold=tie,
                                max_error_rate=max_error_rate)
    if as_json:
        _json(gated.json([p.model_dump(mode="json") for p in picks]))
        return
    if details:
        out.print(picks_table(picks, f"deploybench recommend — {scenario} ({basis} basis) — {path}"))
    for rule in dict.fromkeys(p.rule for p in picks):
        out.print(f"rule: {rule}", highlight=False, markup=False)
    for p in picks:
        if p.run_id is None:
            out.print(f"{p.group}: {p.note or 'no pick'}", highlight=False, markup=False)
        else:
            noise = f" — cannot be told apart ({p.tie_rule}): {', '.join(p.tied_with)}" if p.tie else ""
            iv = f" [95%: {p.interval.lo:.4g}–{p.interval.hi:.4g}]" if p.interval else ""
            rate = f" at {p.rate_rps:g} req/s (its highest rate within the SLO)" if p.rate_rps else ""
            out.print(f"{p.group}: {p.deployment}{rate}; {p.margin_text}{iv}{noise}", highlight=False, markup=False)
        if p.skipped:
            out.print(f"{p.group}: left out: {'; '.join(p.skipped)}", highlight=False, markup=False)
    gated.print(out, picks)


def _at_interactivity(path: Path, scenario: str, at: float, tie: float, as_json: bool, *others) -> None:
    if scenario != "cost":
        raise ConfigError(f"--at-interactivity: works with --scenario cost, not '{scenario}'", "use --scenario cost")
    if others[0] or others[1] or others[2] != "deploybench":
        raise ConfigError("--at-interactivity: cannot be combined with --slo, --max-quality-loss or --basis study",
                          "drop those options (the read-off uses measured TPOT and throughput)")
    _summaries(path)  # a missing or empty folder: one line
    picks = api.recommend_at_interactivity(path, at, tie_threshold=tie)
    if as_json:
        _json([p.model_dump(mode="json") for p in picks])
        return
    print_speed_picks(out, picks, path)


def pareto_cmd(
    path: Path = typer.Argument(..., help="a study folder"),
    front: str = typer.Option("cost-latency", "--front", help="cost-latency | interactivity (tok/s per user vs "
                              "tok/s per device and $ per 1M tokens, one curve per deployment)"),
    at_interactivity: Optional[float] = typer.Option(None, "--at-interactivity", help="with --front interactivity: "
                                                     "read each curve off at N tok/s per user"),
    latency: str = typer.Option(DEFAULT_LATENCY, "--latency", help="<stat>_<metric>, e.g. p90_ttft_ms"),
    all_levels: bool = typer.Option(False, "--across-levels", help="one front across concurrency levels"),
    basis: str = typer.Option("deploybench", "--basis", help="deploybench | study"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Cells on the cost vs latency Pareto front, per model (and per concurrency level); or the interactivity front."""
    if front not in FRONTS:
        raise ConfigError(f"--front: unknown front '{front}'", f"use one of: {', '.join(FRONTS)}")
    if front == "interactivity" or at_interactivity is not None:
        if front != "interactivity":
            raise ConfigError("--at-interactivity needs --front interactivity", "add --front interactivity")
        _summaries(path)  # a missing or empty folder: one line
        view = api.interactivity(path, at=at_interactivity)
        if as_json:
            _json(view.model_dump(mode="json"))
        else:
            print_front(out, view)
        return
    points = api.pareto(_summaries(path), latency=latency, per_concurrency=not all_levels, basis=basis,
                        external=api.load_external(path))
    if as_json:
        _json([p.model_dump(mode="json") for p in points])
        return
    out.print(pareto_table(points, latency))


def catalog_cmd(
    region: Optional[str] = typer.Option(None, "--region", help="show prices for this region only"),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="catalog YAML merged over the bundled one"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List hardware (GPU, memory, bandwidth) and dated on-demand prices."""
    cat = api.load_catalog(catalog)
    if region and region not in cat.regions():
        raise ConfigError(f"--region: no prices for region '{region}'",
                          f"use one of: {', '.join(cat.regions())}, or add prices to a catalog file")
    if as_json:
        _json(_catalog_json(cat, region))
        return
    table, notes = catalog_table(cat, region)
    out.print(table)
    for line in notes:
        out.print(line, highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("import-seed")(import_seed_cmd)
    app.command("recommend")(recommend_cmd)
    app.command("pareto")(pareto_cmd)
    app.command("catalog")(catalog_cmd)
