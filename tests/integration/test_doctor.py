"""``deploybench doctor`` (#10 item 5): a small load against the bundled scripted server, through the
CLI, gives coherent figures: tokens against the theoretical rate, lag, and TTFT added by the client."""

from __future__ import annotations

import json

from deploybench.cli import main
from deploybench.sweep import doctor


def test_doctor_reports_the_clients_figures(capsys):
    assert main(["doctor", "--streams", "8", "--seconds", "1", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["streams"] == 8 and got["errors"] == 0
    assert got["theory_tok_s"] == doctor.theory_tok_s(8)
    # 8 streams leave a 2-core host idle: most of the scripted server's rate (lag, warm-up edges aside)
    assert 0.6 <= got["share"] <= 1.05, got
    assert got["lag_p50_ms"] is not None and got["lag_p99_ms"] >= got["lag_p50_ms"]
    # the scripted server reported its own first-token lateness; the rest is the client's
    assert got["server_late_ms"] is not None and 0 <= got["server_late_ms"] < 20
    assert abs(got["client_ttft_ms"] - (got["ttft_error_ms"] - got["server_late_ms"])) < 1e-9
    assert got["ceiling_streams"] == (8 if got["holds"] else int(8 * min(got["share"], 1.0)))
