"""``deploybench run`` and ``deploybench summarize``: measure (one server, an endpoint or a study), then one
screen of results and the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import typer
from pydantic import ValidationError
from typer.exceptions import Exit

from .. import api
from ..schemas import ConfigError, Deployment, JsonlWorkload, LoadConfig, RunConfig, SyntheticWorkload, Workload
from ..schemas.validation import from_validation
from .app import app, err, out
from .doctor import preflight
from .endscreen import ShortNames, cell_rows, screen, warning_lines
from .levels import cli_levels
from .predict import print_pruning, print_roofline, pruning_line
from .progress import RunProgress
from .reporting import write_after_run
from .studyview import end_picks, print_picks, print_plan
from .tables import summary_table, ttft_split_table


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--concurrency: '{text}' is not a list of integers", "write e.g. --concurrency 1,4,8") from None
    if not levels or min(levels) < 1:
        raise ConfigError(f"--concurrency: '{text}' needs levels >= 1", "write e.g. --concurrency 1,4,8")
    return levels


def _validated(factory, field: str, **kw):
    try:
        return factory(**kw)
    except ValidationError as exc:
        raise from_validation(exc, field, "see `deploybench run --help`") from None


@app.command()
def run(
    study: Optional[Path] = typer.Argument(None, help="study YAML (default: the embedded default study)"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="measure a running OpenAI-compatible server at URL"),
    model: Optional[str] = typer.Option(None, "--model", help="model name (with --endpoint), or the model one server of the default engine loads (a GGUF path, bundled name)"),
    concurrency: Optional[str] = typer.Option(None, "--concurrency", "-c", help="closed-loop levels, e.g. 1,4,8"),
    requests: Optional[int] = typer.Option(None, "--requests", "-n", help="measured requests per level"),
    duration: Optional[float] = typer.Option(None, "--duration", help="measured seconds per level"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="output tokens per request (ignore_eos)"),
    input_tokens: int = typer.Option(128, "--input-tokens", help="synthetic prompt length (tokens, approx.)"),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="JSONL file of prompts ({\"prompt\": ...})"),
    protocol: str = typer.Option("openai-chat", "--protocol", help="openai-chat | openai-completions"),
    threads: Optional[int] = typer.Option(None, "--threads", help="one server: CPU threads (default: the engine's)"),
    parallel: Optional[int] = typer.Option(None, "--parallel", help="one server: slots / max batch (default: the engine's)"),
    ctx_size: Optional[int] = typer.Option(None, "--ctx-size", help="one server: context size (default: the engine's)"),
    port: Optional[int] = typer.Option(None, "--port", help="one server: listen port (default: a free one)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="warm-up requests per level (excluded)"),
    price: Optional[float] = typer.Option(None, "--price-per-hour", help="$/hour of this hardware, for cost per 1M tokens"),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="env var holding the endpoint's API key"),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="where runs are stored"),
    name: Optional[str] = typer.Option(None, "--name", help="study folder name (same name = resume)"),
    quick: bool = typer.Option(False, "--quick", help="trimmed default study for a first look"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan, time and cost estimate; start nothing"),
    fresh: bool = typer.Option(False, "--fresh", help="measure again even if the study folder is complete"),
    wait: bool = typer.Option(False, "--wait", help="another run is measuring this study: wait for it to finish "
                              "instead of refusing"),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="refuse studies whose cloud cost estimate is above this ($)"),
    as_json: bool = typer.Option(False, "--json", help="print run summaries as JSON on stdout"),
    details: bool = typer.Option(False, "--details", help="at the end, also every table: all figures, where TTFT "
                                 "goes, the picks with their rules, % of roofline (the report has them too)"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="per-cell interim figures while a cell runs"),
    no_report: bool = typer.Option(False, "--no-report", help="skip writing the report (DIR/report/) at the end"),
    no_preflight: bool = typer.Option(False, "--no-preflight", help="skip the client self-check that runs before "
                                      "a study whose peak is over 64 streams (deploybench doctor)"),
    rounds: Optional[int] = typer.Option(None, "--rounds", "--trials", help="measure every cell N times, interleaved "
                                         "(each round every cell once, order rotating; stored as <cell>__t2, ...)"),
    restart_server: bool = typer.Option(False, "--restart-server", help="start the engine afresh for each round"),
    rate: Optional[str] = typer.Option(None, "--rate", help="open-loop levels in requests/s, e.g. 2,4,8"),
    arrival: str = typer.Option("poisson", "--arrival", help="constant | poisson | gamma (open-loop arrivals)"),
    burstiness: Optional[float] = typer.Option(None, "--burstiness", help="gamma arrivals with this CV (1 = Poisson)"),
    max_in_flight: Optional[int] = typer.Option(None, "--max-in-flight", help="open loop: drop arrivals beyond this"),
    sweep: bool = typer.Option(False, "--sweep", help="sweep to saturation: synchronous rate, max, rates between"),
    sweep_rates: int = typer.Option(8, "--sweep-rates", help="open-loop rates a sweep measures"),
    trace: Optional[Path] = typer.Option(None, "--trace", help="replay a trace's arrivals and lengths (JSONL/CSV)"),
    time_scale: float = typer.Option(1.0, "--time-scale", help="stretch the trace's time by this factor"),
    slo: Optional[str] = typer.Option(None, "--slo", help='e.g. "p90_ttft_ms<=500": goodput, a sweep\'s knee'),
    prune: bool = typer.Option(False, "--prune", help="study: predict every cell, measure only those that can win a pick"),
    prune_margin: Optional[float] = typer.Option(None, "--prune-margin", help="with --prune: measure cells predicted "
                                                 "within this fraction of a pick's best (default 0.25)"),
    workers: Optional[str] = typer.Option(None, "--workers", help="client processes sharing each level's load: "
                                          "auto (one per core the server leaves free) or N"),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="run the load on a Dask cluster, "
                                          "e.g. tcp://HOST:8786 (pip install 'deploybench[dask]')"),
    parallel_deployments: int = typer.Option(1, "--parallel-deployments", min=1, help="study: measure N deployments "
                                             "at once, each on a host of --cluster"),
) -> None:
    """Run a benchmark: the embedded default study, a study file, one --model, or an existing --endpoint."""
    _run_command(SimpleNamespace(**locals()))


def _run_command(o: SimpleNamespace) -> None:
    """``run``'s options (``o``) in the order the command reads them: levels, then one server or a study."""
    if o.rounds is not None and not 1 <= o.rounds <= 20:
        raise ConfigError(f"--rounds: {o.rounds} is out of range", "use 1 to 20, e.g. --rounds 3")
    if o.slo:
        api.parse_slo(o.slo)
    levels = cli_levels(o.rate, o.arrival, o.burstiness, o.max_in_flight, o.sweep, o.sweep_rates, o.trace,
                        o.time_scale, o.slo)
    workers = o.workers
    load_over = dict(concurrency=_levels(o.concurrency) if o.concurrency else ([] if levels else None),
                     levels=levels or None, slo=o.slo, requests=o.requests,
                     duration_s=o.duration, warmup_requests=o.warmup, rounds=o.rounds,
                     restart_server=o.restart_server or None, cluster=o.cluster,
                     workers=int(workers) if workers and workers.isdigit() else workers)
    single_server = any(v is not None for v in (o.model, o.threads, o.parallel, o.ctx_size, o.port))
    if o.endpoint or single_server:
        if o.study is not None:
            raise ConfigError("give either a study file or --endpoint/--model, not both", "drop one of them")
        _run_one_server(o, load_over)
        return
    _run_study(o.study, o.quick, o.name, load_over, o.max_tokens, o.out_dir, o.dry_run, o.fresh, o.max_cost, o.as_json,
               o.no_report, (True if o.prune else None, o.prune_margin), o.parallel_deployments, o.no_preflight, o.wait,
               (o.details, o.verbose))


def _run_one_server(o: SimpleNamespace, load_over: dict) -> None:
    """``run --endpoint URL`` or ``run --model M ...``: one deployment, the engine's own shortcut."""
    endpoint, requests, duration = o.endpoint, o.requests, o.duration
    engine = api.shortcut_engine(endpoint=endpoint, model=o.model, api_key_env=o.api_key_env, threads=o.threads,
                                 parallel=o.parallel, ctx_size=o.ctx_size, port=o.port)  # the engine's own shortcut
    if requests is None and duration is None and not endpoint:  # an endpoint: the adaptive default window
        load_over.update(duration_s=15.0, requests=500)
    if load_over["concurrency"] is None:
        load_over["concurrency"] = [1, 2, 4]
    prompts = o.prompts
    cfg = _validated(lambda: RunConfig(  # every part inside: any bad option is one line naming it
        deployment=Deployment(name="endpoint" if endpoint else "default", engine=engine,
                              protocol=o.protocol, hardware={"name": "local", "price_per_hour": o.price}),
        workload=Workload(source=JsonlWorkload(path=prompts) if prompts else SyntheticWorkload(input_tokens=o.input_tokens),
                          max_tokens=o.max_tokens or 50),
        load=LoadConfig(**{k: v for k, v in load_over.items() if v is not None})), "run options")
    if o.dry_run:
        err.print(f"would measure {cfg.deployment.name} at levels "
                  f"{', '.join(lv.key for lv in cfg.load.all_levels)}", highlight=False)
        return
    preflight(cfg.load, o.no_preflight)
    with RunProgress(total_cells=len(cfg.load.all_levels) * cfg.load.rounds, verbose=o.verbose) as progress:
        study_dir, summaries = api.run(cfg, o.out_dir, name=o.name, reporter=progress, wait=o.wait)
    _end_of_run(summaries, study_dir, o.as_json, o.details, retried=progress.retried, no_report=o.no_report)


def _note_missing(planned) -> None:
    """A dry run starts nothing, but says what a real run would first need installed here."""
    try:
        api.check_installed(p.deployment for p in planned)
    except ConfigError as exc:
        err.print(f"before a real run: {exc.line()}", highlight=False, markup=False)


def _report_after_run(study_dir: Path, as_json: bool, no_report: bool) -> None:
    if not no_report:
        write_after_run(study_dir, as_json)


def _end_of_run(summaries, study_dir: Path, as_json: bool, details: bool, study=None, retried=(),
                failures=(), no_report: bool = False) -> None:
    """After the last cell: --details' tables, then one screen (picks, cells, warnings), errors, the report."""
    if as_json:
        _print_summaries(summaries, study_dir, as_json)
    else:
        if details:
            _print_summaries(summaries, study_dir, as_json, details=True)
        extra = []
        if study is not None:
            if details:
                _print_study_details(summaries, study_dir)
            extra = [x for x in [pruning_line(api.prune_result(study_dir))] if x]
        picks = end_picks(summaries, study.load.slo if study is not None else None) if study is not None else []
        rounds = max((s.trials for s in summaries), default=1)
        title = (f"deploybench — {study_dir}: {len(summaries)} cells"
                 + (f", {rounds} rounds each" if rounds > 1 else ""))
        reserve = len(failures) + (0 if no_report else 1)
        slo = study.load.slo if study is not None else None
        for line in screen(summaries, title, picks, retried, extra, reserve=reserve, slo=slo):
            out.print(line, highlight=False, markup=False, soft_wrap=True)
    for line in failures:
        err.print(f"error: {line}", highlight=False, markup=False)
    _report_after_run(study_dir, as_json, no_report)


def _print_study_details(summaries, study_dir: Path) -> None:
    print_picks(summaries, out)
    print_pruning(api.prune_result(study_dir), out)
    print_roofline(api.roofline(study_dir), out)


def _run_study(path, quick, name, load_over, max_tokens, out_dir, dry_run, fresh, max_cost, as_json,
               no_report=False, prune=(None, None), parallel: int = 1, no_preflight: bool = False,
               wait: bool = False, shown=(False, False)) -> None:
    st = api.load_study(path) if path is not None else api.default_study(quick)
    overrides = {k: v for k, v in load_over.items() if v is not None}
    if overrides or name or max_tokens:
        data = st.model_dump(mode="json")
        data["load"].update(overrides)
        if overrides.get("requests") and "duration_s" not in overrides:
            data["load"]["duration_s"] = None
        if overrides.get("requests") or overrides.get("duration_s"):  # a fixed budget replaces an adaptive window
            data["load"].update(min_duration_s=None, max_duration_s=None)
        if name:
            data["name"] = name
        if max_tokens:
            data["workload"]["max_tokens"] = max_tokens
        st = api.validate_study(data, str(path or "default study"))
    planned = api.plan(st, str(path or "default study"))
    est = api.estimate(st, planned, out_dir)
    if dry_run:
        print_plan(st, planned, est, out)
        _note_missing(planned)
        return
    preflight(st.load, no_preflight)
    details, verbose = shown
    todo = sum(not c.done for c in est.cells) if not fresh else len(est.cells)
    with RunProgress(total_cells=len(planned) * len(st.load.all_levels) * st.load.rounds, verbose=verbose,
                     plan_s=est.wall_s if not fresh else None, plan_cells=todo) as progress:
        study_dir, summaries, failures = api.run_study(st, out_dir, reporter=progress, fresh=fresh,
                                                       max_cost=max_cost, prune=prune[0], prune_margin=prune[1],
                                                       parallel_deployments=parallel, wait=wait)
    _end_of_run(summaries, study_dir, as_json, details, st, progress.retried, failures, no_report)
    if failures:
        raise Exit(3)


def _print_summaries(summaries, study_dir: Path, as_json: bool, details: bool = False) -> None:
    """--json: the summaries; --details: every figure and where TTFT goes; else the compact cell table."""
    if as_json:
        sys.stdout.write(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2) + "\n")
        err.print(f"results: {study_dir}", highlight=False)
    elif details:
        out.print(summary_table(summaries, title=f"deploybench — {study_dir}"))
        if (split := ttft_split_table(summaries)) is not None:
            out.print(split)
    else:
        names = ShortNames(s.deployment for s in summaries)
        lines = [f"deploybench — {study_dir}: {len(summaries)} cells", *cell_rows(summaries, names),
                 *[x for x in (names.legend(),) if x], *warning_lines(summaries)]
        for line in lines:
            out.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command()
def summarize(
    path: Path = typer.Argument(..., help="a run or study folder"),
    slo: Optional[str] = typer.Option(None, "--slo", help='goodput SLO, e.g. "ttft_ms<=500,tpot_ms<=40"'),
    as_json: bool = typer.Option(False, "--json"),
    details: bool = typer.Option(False, "--details", help="every figure of every cell, and where TTFT goes"),
) -> None:
    """Recompute summaries from stored raw records (no re-run)."""
    if not path.exists():
        raise ConfigError(f"path {path} does not exist", "give a folder written by `deploybench run`")
    summaries = api.summarize(path, slo)
    if not summaries:
        raise ConfigError(f"no runs under {path}", "give a folder written by `deploybench run`")
    _print_summaries(summaries, path, as_json, details)
    if details and not as_json:
        print_roofline(api.roofline(path), out)
