"""deploybench.quality without llama.cpp binaries: limits, gating, agreement arithmetic, the
held-out text, llama-perplexity output parsing, bits per weight, reports and one-line errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from deploybench.cli import main
from deploybench.quality import QualityResult, QualityTable, gate_folder, parse_limits, weights_info, write_table
from deploybench.quality import agreement as agr
from deploybench.quality import gate
from deploybench.quality.llamacpp import parse_kld, text_file
from deploybench.report import build_report, load_store
from deploybench.schemas import ConfigError

from .test_report import DEFAULT_DEPS, Dep, import_like, make_store

KLD_OUTPUT = """
====== Perplexity statistics ======
Mean PPL(Q)                   :  20.123456 ±   0.412345
Mean PPL(base)                :  19.876543 ±   0.401234
Cor(ln(PPL(Q)), ln(PPL(base))):  99.12%
Mean ln(PPL(Q)/PPL(base))     :   0.012345 ±   0.001234
====== KL divergence statistics ======
Mean    KLD:   0.031234 ±   0.001111
Maximum KLD:   1.234567
99.9%   KLD:   0.912345
99.0%   KLD:   0.312345
Median  KLD:   0.012345
====== Token probability statistics ======
Same top p: 93.456 ± 0.543 %
"""


def result(dep: str, kld: float | None = None, change: float | None = None, top1: float | None = None,
           match: float | None = None, method: str = "kld") -> QualityResult:
    return QualityResult(method=method, model="m", quantization="Q", deployments=[dep], kld=kld,
                         perplexity_change=change, top1_agreement=top1, token_match=match, baseline="m as shipped")


# --------------------------------------------------------------------------- limits


def test_parse_limits_units():
    lims = parse_limits("kld<=0.05, ppl<=+2%, top1>=95%, match>=0.9, ppl<=25")
    assert [str(x) for x in lims] == ["kld<=0.05", "ppl<=+2%", "top1>=95%", "match>=90%", "ppl<=25"]
    assert lims[1].relative and lims[1].value == pytest.approx(0.02)
    assert not lims[4].relative and lims[4].value == 25
    assert parse_limits(None) == [] and parse_limits("  ") == []


@pytest.mark.parametrize("bad", ["kld<0.05", "kld>=0.05", "foo<=1", "top1>=150", "kld<=abc", "top1<=95%"])
def test_bad_limits_are_one_line(bad):
    with pytest.raises(ConfigError) as e:
        parse_limits(bad)
    msg = str(e.value)
    assert "\n" not in msg and "--max-quality-loss" in msg and " — " in msg


def test_limit_checks_and_reasons():
    kld, ppl, top1 = parse_limits("kld<=0.05,ppl<=+2%,top1>=95%")
    ok, bad = result("a", 0.01, 0.005, 0.97), result("b", 0.4, 0.08, 0.80)
    assert all(lim.check(ok) is None for lim in (kld, ppl, top1))
    assert kld.check(bad) == "mean KLD 0.4000 > 0.0500"
    assert ppl.check(bad) == "perplexity +8.00% > +2.00%"
    assert top1.check(bad) == "top-token agreement 80.0% < 95.0%"
    assert kld.check(result("c", method="agreement", match=1.0)) == "no mean KLD measured (method agreement)"


def _summary(dep: str, conc: int = 1):
    from deploybench.schemas import RunSummary

    return RunSummary.model_construct(run_id=f"{dep}__c{conc}", deployment=dep, concurrency=conc, labels={},
                                      external={})


def test_apply_drops_the_deployment_over_the_limit_and_says_why():
    table = QualityTable(method="kld", results=[result("q8", 0.002, 0.001, 0.99), result("q2", 0.45, 0.2, 0.7)])
    sums = [_summary(d, c) for d in ("q8", "q2", "unmeasured") for c in (1, 4)]
    kept, excluded = gate.apply(sums, table, parse_limits("kld<=0.05"), "no quality data")
    assert {s.deployment for s in kept} == {"q8"}
    assert [(e.deployment, e.cells) for e in excluded] == [("q2", 2), ("unmeasured", 2)]
    assert excluded[0].line() == "excluded q2 (2 cells): mean KLD 0.4500 > 0.0500"
    assert excluded[1].reasons == ["no quality data"]
    assert gate.apply(sums, table, [], "x") == (sums, [])


# --------------------------------------------------------------------------- agreement arithmetic


def test_agreement_compare():
    same = agr.compare(["a b c.", "x y"], ["a b c.", "x y"])
    assert same == {"token_match": 1.0, "exact_match": 1.0}
    part = agr.compare(["one two three four", "x"], ["one two five four", "y"])
    assert part["token_match"] == pytest.approx((2 / 4 + 0) / 2) and part["exact_match"] == 0.0
    assert agr.compare([""], [""])["token_match"] == 1.0
    with pytest.raises(ValueError):
        agr.compare(["a"], [])


def test_prompt_set_is_fixed_and_from_the_held_out_text():
    a, b = agr.prompt_set(12), agr.prompt_set(12)
    assert a == b and len(a) == 12 and len(set(a)) == 12
    text = text_file().read_text()
    assert all(p.rstrip("\n") in text for p in a)
    assert all(len(p.split()) >= 40 for p in a)


def test_held_out_text_is_long_public_domain_and_not_the_load_corpus():
    text = text_file().read_text(encoding="utf-8")
    corpus = (text_file().parent / "corpus.txt").read_text(encoding="utf-8")
    assert text.startswith("THE TRAGEDY OF HAMLET")
    assert len(text.split()) > 25_000  # > 20k tokens with any English tokenizer (about 1.3 tokens/word)
    assert not any(corpus[i:i + 80] in text for i in range(0, len(corpus) - 80, 40))


# --------------------------------------------------------------------------- llama-perplexity output, bpw


def test_parse_kld_summary_block():
    v = parse_kld(KLD_OUTPUT)
    assert v == {"perplexity": 20.123456, "perplexity_base": 19.876543, "kld": 0.031234, "kld_p99": 0.312345,
                 "top1_agreement": pytest.approx(0.93456)}


def test_parse_kld_missing_figure_is_one_line():
    from deploybench.schemas import EngineError

    with pytest.raises(EngineError) as e:
        parse_kld(KLD_OUTPUT.replace("Same top p", "Other"), "llama-perplexity x")
    assert "\n" not in str(e.value) and "top1_agreement" in str(e.value)


def _gguf(path: Path, tensors: list[tuple[str, tuple[int, ...], int]], file_type: int) -> Path:
    """A minimal GGUF v3 header (no tensor data): one uint32 key, the tensor infos."""
    def s(x: str) -> bytes:
        return struct.pack("<Q", len(x)) + x.encode()

    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1) + s("general.file_type") + struct.pack("<II", 4, file_type)
    for name, shape, typ in tensors:
        out += s(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", typ, 0)
    path.write_bytes(out + b"\0" * 64)
    return path


def test_bits_per_weight_counts_fallback_tensors(tmp_path):
    # a "Q4_K_M" file (ftype 15) whose 576-wide tensors fell back to Q5_0 (6) and one Q6_K (14) tensor
    p = _gguf(tmp_path / "m.gguf", [("a", (512, 256), 12), ("b", (576, 256), 6), ("c", (256, 256), 14),
                                    ("n", (256,), 0)], 15)
    info = weights_info(p)
    n = 512 * 256 + 576 * 256 + 256 * 256 + 256
    bits = 512 * 256 * 4.5 + 576 * 256 * 5.5 + 256 * 256 * 6.5625 + 256 * 32
    assert info["file_type"] == "Q4_K_M"
    assert info["bits_per_weight"] == pytest.approx(bits / n, abs=1e-3)
    assert info["nominal_type_share"] == pytest.approx(512 * 256 / n, abs=1e-4)
    assert info["tensor_types"] == {"Q5_0": 576 * 256, "Q4_K": 512 * 256, "Q6_K": 256 * 256, "F32": 256}


# --------------------------------------------------------------------------- CLI and study input


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv,needle", [
    (["quality", "smollm2", "--quantizations", "Q9_9"], "--quantizations: 'Q9_9'"),
    (["quality", "smollm2", "--quantizations", ","], "--quantizations: no quantization"),
    (["quality", "smollm2", "--method", "agreement"], "--method: 'agreement'"),
    (["quality", "smollm2", "--ctx", "8"], "--ctx: 8"),
    (["quality", "no-such-model"], "no-such-model"),
    (["quality", "smollm2", "--text", "/no/such.txt"], "--text: file not found"),
    (["quality", "smollm2", "--chunks", "0"], "--chunks: 0"),
])
def test_quality_cli_bad_input_is_one_line(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in _one_error(capsys)


def test_study_quality_field_is_validated(tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text("name: s\nmodels: [{name: m, source: smollm2}]\nhardware: [{name: c, threads: 1, "
                     "price_per_hour: 0.1}]\nquality: {method: bleu}\n")
    assert main(["run", str(study), "--dry-run"]) == 2
    assert "quality.method" in _one_error(capsys)


# --------------------------------------------------------------------------- stored, gated, reported


@pytest.fixture
def study(tmp_path) -> Path:
    deps = (Dep("q8", "7B", "cpu", 0.10, 100.0, 25.0, quantization="Q8_0"),
            Dep("q2", "7B", "cpu", 0.10, 60.0, 12.0, quantization="Q2_K"))  # q2 is faster, so cheaper
    root = make_store(tmp_path / "study", deps=deps, levels=(1, 5), n=20)
    write_table(root, QualityTable(method="kld", results=[result("q8", 0.003, 0.002, 0.985),
                                                          result("q2", 0.52, 0.31, 0.66)]))
    return root


def test_gated_recommend_drops_the_deployment_over_the_limit(study, capsys):
    assert main(["recommend", str(study), "--scenario", "cost", "--json"]) == 0
    assert [p["deployment"] for p in json.loads(capsys.readouterr().out)] == ["q2"]  # cheapest, ungated
    assert main(["recommend", str(study), "--scenario", "cost", "--max-quality-loss", "kld<=0.05", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["deployment"] for p in data["picks"]] == ["q8"]
    assert data["excluded"] == [{"deployment": "q2", "cells": 2, "reasons": ["mean KLD 0.5200 > 0.0500"]}]
    assert main(["recommend", str(study), "--scenario", "cost", "--max-quality-loss", "ppl<=+1%,top1>=95%"]) == 0
    text = capsys.readouterr().out
    assert "excluded q2 (2 cells): perplexity +31.00% > +1.00%; top-token agreement 66.0% < 95.0%" in text
    assert "pick quality — Q vs m as shipped, mean KLD 0.0030" in text


def test_gate_on_imported_data_says_it_has_no_quality(tmp_path):
    imported = import_like(tmp_path)
    sums = load_store(imported).summaries
    kept, excluded, _ = gate_folder(imported, sums, "kld<=0.05")
    assert kept == [] and excluded
    assert all("imported study" in e.reasons[0] for e in excluded)


def test_reports_show_quality_and_the_front(study):
    out = study / "report"
    build_report(study, "md,csv,xlsx,html,json", out)
    md = (out / "report.md").read_text()
    assert "## Quality" in md and "Quality method: kld" in md
    assert "| q2 | 7B | Q2_K |" in md and "0.5200" in md and "+31.00" in md
    assert "- 7B: q8 —" in md and "- 7B: q2 —" in md  # cheaper-but-worse and better-but-dearer: both on the front
    assert (out / "quality.csv").read_text().splitlines()[0].startswith("deployment,model,quantization")
    cells = (out / "cells.csv").read_text().splitlines()
    assert "quality_kld" in cells[0] and any(",0.52," in row for row in cells[1:])
    page = (out / "report.html").read_text()
    assert 'id="quality"' in page and "chart-quality" in page
    data = json.loads((out / "report.json").read_text())
    assert set(data["quality"]["front"]) == {"q8", "q2"}
    from openpyxl import load_workbook

    assert "Quality" in load_workbook(out / "report.xlsx", read_only=True).sheetnames


def test_reports_on_imported_data_say_there_is_no_quality_data(tmp_path):
    imported = import_like(tmp_path)
    build_report(imported, "md,html", tmp_path / "r")
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Quality: no quality data. The imported study" in md
    assert "no quality data" in (tmp_path / "r" / "report.html").read_text()


def test_measured_study_without_quality_says_how_to_get_it(tmp_path):
    root = make_store(tmp_path / "s", deps=DEFAULT_DEPS[:1], levels=(1,), n=5)
    build_report(root, "md", tmp_path / "r")
    assert "Quality: not measured. Add `quality: {method: kld}`" in (tmp_path / "r" / "report.md").read_text()


def _planned(quality: dict, n_models: int = 2, kind: str = "llamacpp"):
    from deploybench.sweep import plan, validate_study

    data = {"name": "s", "models": [{"name": f"m{i}", "source": "smollm2"} for i in range(n_models)],
            "hardware": [{"name": "c", "threads": 1, "price_per_hour": 0.1}], "quality": quality}
    st = validate_study(data, "s.yaml")
    return st, plan(st, "s.yaml")


@pytest.mark.parametrize("quality,n,needle", [
    ({"method": "agreement", "reference": "nope"}, 2, "quality.reference: 'nope' is not a deployment"),
    ({"method": "agreement"}, 1, "agreement needs at least two deployments"),
])
def test_study_quality_checked_before_anything_starts(quality, n, needle):
    from deploybench.quality.study import check

    st, planned = _planned(quality, n)
    with pytest.raises(ConfigError) as e:
        check(st, planned)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_study_quality_defaults():
    st, planned = _planned({"method": "kld"}, 1)
    from deploybench.quality.study import check

    check(st, planned)
    assert (st.quality.ctx, st.quality.chunks, st.quality.prompts, st.quality.max_tokens) == (256, 8, 16, 32)


def test_quality_cli_json_and_table(monkeypatch, capsys):
    import deploybench.quality as q

    rows = [QualityResult(method="kld", model="smollm2", quantization=n, baseline="smollm2 as shipped (Q4_1)",
                          kld=k, perplexity=p, perplexity_base=15.0, perplexity_change=p / 15 - 1, top1_agreement=t,
                          bits_per_weight=b, text="quality-text.txt", ctx=256, chunks=8, tokens_scored=1016)
            for n, k, p, t, b in (("Q8_0", 0.005, 15.1, 0.96, 8.5), ("Q2_K", 0.36, 20.2, 0.66, 5.14))]
    seen = {}

    def fake(ref, quants, method, **kw):
        seen.update(ref=ref, quants=quants, method=method, **kw)
        return rows

    monkeypatch.setattr(q, "measure_ladder", fake)
    assert main(["quality", "smollm2", "--quantizations", "Q8_0,Q2_K", "--chunks", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert seen["quants"] == "Q8_0,Q2_K" and seen["chunks"] == 4 and seen["method"] == "kld"
    assert data["baseline"] == "smollm2 as shipped (Q4_1)" and data["tokens_scored"] == 1016
    assert [(r["quantization"], r["kld"], r["perplexity"], r["top1_agreement"], r["bits_per_weight"])
            for r in data["quantizations"]] == [("Q8_0", 0.005, 15.1, 0.96, 8.5), ("Q2_K", 0.36, 20.2, 0.66, 5.14)]
    assert main(["quality", "smollm2"]) == 0
    text = capsys.readouterr().out
    assert "Q2_K" in text and "+34.67%" in text and "baseline: smollm2 as shipped (Q4_1), perplexity 15.000" in text


def test_study_agreement_method_end_to_end_on_fake_servers(tmp_path):
    """``quality: {method: agreement}``: each deployment vs the reference, stored in quality.json."""
    import http.server
    import threading

    from deploybench.quality import read_table
    from deploybench.quality.study import measure
    from deploybench.sweep import plan, validate_study

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert body["temperature"] == 0 and body["stream"] is False
            word = "same" if self.server.server_port != ports["other"] else "different"
            text = f" {word} words here" if body["prompt"].startswith("THE") else " same words here"
            data = json.dumps({"choices": [{"text": text}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    servers = {name: http.server.HTTPServer(("127.0.0.1", 0), Handler) for name in ("ref", "twin", "other")}
    ports = {name: s.server_port for name, s in servers.items()}
    for s in servers.values():
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        st = validate_study({"name": "agr", "deployments": [
            {"name": n, "engine": {"kind": "external", "url": f"http://127.0.0.1:{p}"}, "hardware": {"name": "x"}}
            for n, p in ports.items()], "quality": {"method": "agreement", "prompts": 4}}, "agr.yaml")
        measure(st, plan(st, "agr.yaml"), tmp_path)
    finally:
        for s in servers.values():
            s.shutdown()
    table = read_table(tmp_path)
    got = {r.deployments[0]: (r.token_match, r.exact_match, r.reference) for r in table.results}
    assert got["ref"] == (1.0, 1.0, "ref") and got["twin"] == (1.0, 1.0, "ref")
    # the first prompt (the play's title) differs in its first word: 0 of 4 tokens; the other three agree
    assert got["other"] == (pytest.approx(3 / 4), 3 / 4, "ref")
    assert table.method == "agreement" and table.for_deployment("ref").note == "the reference itself"
