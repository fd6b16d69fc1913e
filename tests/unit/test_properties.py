"""Property tests (hypothesis): bad study YAML and CLI arguments always give one line naming the field
and the fix, never a traceback; strings from servers are escaped in every report format."""

from __future__ import annotations

import copy
import csv
import html
import re

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the [test] extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from deploybench.cli import main  # noqa: E402
from deploybench.schemas import ConfigError  # noqa: E402
from deploybench.sweep import load_study, plan  # noqa: E402

BASE = {
    "name": "prop",
    "models": [{"name": "smol", "source": "smollm2"}],
    "quantizations": ["native"],
    "hardware": [{"name": "one-core", "threads": 1, "cpu_set": [0], "price_per_hour": 0.02}],
    "engine": {"kind": "llamacpp", "settings": {"parallel": 2, "ctx_size": 1024}},
    "workload": {"source": {"kind": "synthetic", "input_tokens": 24, "prompts": 8}, "max_tokens": 8},
    "load": {"concurrency": [1, 2], "requests": 4, "warmup_requests": 1},
}
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

junk = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=12) | st.sampled_from(["", "-1", "0", "1e309", "nan", "Q9", "~/x", "../../etc"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def _paths(obj, prefix=()):
    """Every key path in the study (dict keys and list indexes)."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


PATHS = list(_paths(BASE))


def _set(data, path, value):
    out = copy.deepcopy(data)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def _one_line(text: str) -> str:
    text = text.strip()
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    return text


@FAST
@given(path=st.sampled_from(PATHS), value=junk)
def test_any_bad_study_value_is_one_line_naming_the_field(tmp_path_factory, path, value):
    folder = tmp_path_factory.mktemp("study")
    f = folder / "study.yaml"
    f.write_text(yaml.safe_dump(_set(BASE, path, value)))
    try:
        plan(load_study(f), str(f))
    except ConfigError as exc:
        line = _one_line(exc.line())
        assert str(path[0]) in line, (path, line)  # names the field (its section at least)
        assert " — " in line, line  # and the fix


@FAST
@given(data=st.dictionaries(st.text(max_size=10), junk, max_size=4) | junk)
def test_any_yaml_document_is_one_line(tmp_path_factory, data):
    f = tmp_path_factory.mktemp("study") / "study.yaml"
    f.write_text(yaml.safe_dump(data))
    try:
        plan(load_study(f), str(f))
    except ConfigError as exc:
        _one_line(exc.line())


OPTIONS = ["--concurrency", "--requests", "--duration", "--max-tokens", "--input-tokens", "--threads",
           "--parallel", "--ctx-size", "--port", "--warmup", "--price-per-hour", "--protocol", "--endpoint",
           "--model", "--max-cost"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(OPTIONS),
       value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
       | st.sampled_from(["0", "-1", "1e400", "nan", "inf", "1,,2", "http://", "ftp://x", "x" * 300]))
def test_any_bad_cli_value_is_one_line(tmp_path_factory, capsys, option, value):
    out = tmp_path_factory.mktemp("out")
    args = ["run", "--dry-run", "--out", str(out), option, value]
    if option not in ("--endpoint", "--model", "--threads", "--parallel", "--ctx-size", "--port"):
        args += ["--endpoint", "http://127.0.0.1:9"]
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err
    assert code in (0, 2), (args, code, err)  # 70 would be an internal error (a bug), not bad input
    if code:
        line = _one_line(err)
        assert line.startswith("error: ") and ("--" in line or "engine" in line or "config" in line), line


# --------------------------------------------------------------------------- strings from servers

FORMULA_START = ("=", "+", "-", "@")
hostile = st.builds(lambda head, body: head + body,
                    st.sampled_from(["=", "+", "-", "@", "<script>", '"><img src=x onerror=alert(1)>', "=cmd|' /C calc'!A0"]),
                    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10))


def _numeric(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(error=hostile, finish=hostile, model=hostile)
def test_server_strings_are_escaped_in_every_report_format(tmp_path_factory, error, finish, model):
    import numpy as np
    from openpyxl import load_workbook

    from deploybench.report import build_report

    from .test_report import Dep, make_records, write_run

    root = tmp_path_factory.mktemp("hostile")
    recs = make_records(6, 1, 50.0, 10.0, np.random.default_rng(0), errors=2)
    for r in recs:
        r.finish_reason = finish if r.error is None else None
        r.error = error if r.error else None
    write_run(root, Dep("dep", model, "cpu", 1.0, 50.0, 10.0), 1, recs)
    build_report(root)
    rep = root / "report"
    for f in rep.glob("*.csv"):
        for row in csv.reader(f.open(encoding="utf-8")):
            for v in row:
                assert not (v.startswith(FORMULA_START) and not _numeric(v)), (f.name, v)
    wb = load_workbook(rep / "report.xlsx")
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            for v in row:
                if isinstance(v, str):
                    seen.add(v)
                    assert not (v.startswith(FORMULA_START) and not _numeric(v)), (ws.title, v)
    for raw in (error, finish):  # the records sheet keeps them, a formula-like one defused
        assert ("'" + raw if raw.startswith(FORMULA_START) else raw) in seen, raw
    for text in ((rep / "report.md").read_text(), (rep / "report.html").read_text()):
        for raw in (model, error, finish):
            if "<" in raw:
                assert raw not in text
    assert not re.search(r"<img src=x", (rep / "report.html").read_text())


@pytest.fixture(scope="module")
def seed_study(tmp_path_factory):
    from deploybench.seed import import_seed

    return import_seed(None, tmp_path_factory.mktemp("seed"))


ANALYSIS = [("recommend", "--scenario"), ("recommend", "--slo"), ("recommend", "--basis"),
            ("recommend", "--tie-threshold"), ("recommend", "--max-error-rate"), ("pareto", "--latency"),
            ("pareto", "--basis")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(ANALYSIS),
       value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=16)
       | st.sampled_from(["p90_ttft_ms<=", "ttft<=1", "p50_ms_per_token<=-1", "-1", "2", "nan", "study", "cost",
                          "p99_server_ms_per_token", "x" * 200]))
def test_any_bad_analysis_option_is_one_line(seed_study, capsys, where, value):
    command, option = where
    args = [command, str(seed_study), option, value]
    if command == "recommend" and option != "--scenario":
        args += ["--scenario", "cost"]
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err
    assert code in (0, 2), (args, code, err)
    if code:
        line = _one_line(err)
        assert line.startswith("error: ") and option.lstrip("-").split("-")[0] in line.lower(), line
