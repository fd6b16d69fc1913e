"""Command line: ``deploybench run | summarize | ...``. Errors are one line, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from typer.exceptions import Abort, Exit, TyperException
from rich.console import Console

from .. import api
from ..schemas import (
    ConfigError, Deployment, DeploybenchError, LoadConfig, RunConfig, SyntheticWorkload, JsonlWorkload, Workload,
)
from ..schemas.validation import from_validation
from .progress import RunProgress
from .tables import summary_table, ttft_split_table

app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Which LLM deployment should I pick? Measure, price, recommend.")
err = Console(stderr=True, soft_wrap=True)
out = Console(width=None if sys.stdout.isatty() else 200)


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
    from .levels import cli_levels

    if rounds is not None and not 1 <= rounds <= 20:
        raise ConfigError(f"--rounds: {rounds} is out of range", "use 1 to 20, e.g. --rounds 3")
    if slo:
        api.parse_slo(slo)
    levels = cli_levels(rate, arrival, burstiness, max_in_flight, sweep, sweep_rates, trace, time_scale, slo)
    load_over = dict(concurrency=_levels(concurrency) if concurrency else ([] if levels else None),
                     levels=levels or None, slo=slo, requests=requests,
                     duration_s=duration, warmup_requests=warmup, rounds=rounds,
                     restart_server=restart_server or None, cluster=cluster,
                     workers=int(workers) if workers and workers.isdigit() else workers)
    single_server = any(v is not None for v in (model, threads, parallel, ctx_size, port))
    if endpoint or single_server:
        if study is not None:
            raise ConfigError("give either a study file or --endpoint/--model, not both", "drop one of them")
        engine = api.shortcut_engine(endpoint=endpoint, model=model, api_key_env=api_key_env, threads=threads,
                                     parallel=parallel, ctx_size=ctx_size, port=port)  # the engine's own shortcut
        if requests is None and duration is None and not endpoint:  # an endpoint: the adaptive default window
            load_over.update(duration_s=15.0, requests=500)
        if load_over["concurrency"] is None:
            load_over["concurrency"] = [1, 2, 4]
        cfg = _validated(lambda: RunConfig(  # every part inside: any bad option is one line naming it
            deployment=Deployment(name="endpoint" if endpoint else "default", engine=engine,
                                  protocol=protocol, hardware={"name": "local", "price_per_hour": price}),
            workload=Workload(source=JsonlWorkload(path=prompts) if prompts else SyntheticWorkload(input_tokens=input_tokens),
                              max_tokens=max_tokens or 50),
            load=LoadConfig(**{k: v for k, v in load_over.items() if v is not None})), "run options")
        if dry_run:
            err.print(f"would measure {cfg.deployment.name} at levels "
                      f"{', '.join(lv.key for lv in cfg.load.all_levels)}", highlight=False)
            return
        from .doctor import preflight

        preflight(cfg.load, no_preflight)
        with RunProgress(total_cells=len(cfg.load.all_levels) * cfg.load.rounds, verbose=verbose) as progress:
            study_dir, summaries = api.run(cfg, out_dir, name=name, reporter=progress, wait=wait)
        _end_of_run(summaries, study_dir, as_json, details, retried=progress.retried, no_report=no_report)
        return
    _run_study(study, quick, name, load_over, max_tokens, out_dir, dry_run, fresh, max_cost, as_json, no_report,
               (True if prune else None, prune_margin), parallel_deployments, no_preflight, wait, (details, verbose))


def _note_missing(planned) -> None:
    """A dry run starts nothing, but says what a real run would first need installed here."""
    try:
        api.check_installed(p.deployment for p in planned)
    except ConfigError as exc:
        err.print(f"before a real run: {exc.line()}", highlight=False, markup=False)


def _report_after_run(study_dir: Path, as_json: bool, no_report: bool) -> None:
    if not no_report:
        from .reporting import write_after_run

        write_after_run(study_dir, as_json)


def _end_of_run(summaries, study_dir: Path, as_json: bool, details: bool, study=None, retried=(),
                failures=(), no_report: bool = False) -> None:
    """After the last cell: --details' tables, then one screen (picks, cells, warnings), errors, the report."""
    if as_json:
        _print_summaries(summaries, study_dir, as_json)
    else:
        from .endscreen import screen
        from .studyview import end_picks

        if details:
            _print_summaries(summaries, study_dir, as_json, details=True)
        extra = []
        if study is not None:
            from .predict import pruning_line

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
    from .predict import print_pruning, print_roofline
    from .studyview import print_picks

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
        from .studyview import print_plan

        print_plan(st, planned, est, out)
        _note_missing(planned)
        return
    from .doctor import preflight

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
        from .endscreen import ShortNames, cell_rows, warning_lines

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
        from .predict import print_roofline

        print_roofline(api.roofline(path), out)


def _sigterm(signum, frame) -> None:  # make SIGTERM take the Ctrl-C path (cleanup included)
    os.kill(os.getpid(), signal.SIGINT)


def _install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM both stop a run cleanly, also when SIGINT was inherited as ignored.

    A process started with ``&`` from a script (or by many CI runners and service managers)
    inherits SIGINT ignored; Python then keeps it ignored, and the SIGTERM handler, which re-sends
    SIGINT, would do nothing. So both are installed explicitly.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm)


INTERRUPTED = 130


def _interrupted() -> int:
    err.print("interrupted — measurements taken so far are saved; run the same command with --name to resume",
              highlight=False, markup=False)
    return INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    _install_signal_handlers()
    try:
        rv = typer.main.get_command(app).main(args=argv, prog_name="deploybench", standalone_mode=False)
    except Exit as exc:
        return exc.exit_code
    except TyperException as exc:  # usage errors: unknown option, bad value, missing argument
        cmd = getattr(getattr(exc, "ctx", None), "command_path", "deploybench")
        err.print(f"error: {exc.format_message()} — see `{cmd} --help`", highlight=False, markup=False)
        return 2
    except DeploybenchError as exc:
        err.print(f"error: {exc.line()}", highlight=False, markup=False)
        return exc.exit_code
    except (KeyboardInterrupt, Abort):
        return _interrupted()
    except Exception as exc:  # a bug: keep the traceback in a file, print one line
        log = _crash_log(exc)
        err.print(f"error: internal error {type(exc).__name__}: {str(exc)[:200]} — please report it with {log}",
                  highlight=False, markup=False)
        return 70
    if rv == INTERRUPTED:  # typer turns Ctrl-C (and so SIGTERM) into a returned 130 without a word
        return _interrupted()
    return rv if isinstance(rv, int) else 0


def _crash_log(exc: BaseException) -> str:
    import tempfile
    import traceback

    path = Path(tempfile.gettempdir()) / "deploybench-crash.log"
    try:
        path.write_text("".join(traceback.format_exception(exc)))
    except OSError:
        return "the command line you ran"
    return str(path)


if __name__ == "__main__":
    sys.exit(main())


def entry() -> None:
    sys.exit(main())


def _register_subcommands() -> None:
    """Commands that live in their own modules register themselves on ``app``."""
    import importlib

    for mod in ("analysis", "reporting", "cloud", "quality", "predict", "doctor", "ingest"):
        try:
            module = importlib.import_module(f".{mod}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"cli.{mod}"):
                continue
            raise
        module.register(app)


_register_subcommands()
