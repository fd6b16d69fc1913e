"""``deploybench doctor`` (#10 item 5): a small load against the bundled scripted server, through the
CLI, gives coherent figures: tokens against the theoretical rate, lag, and TTFT added by the client."""

from __future__ import annotations

import json

import pytest

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


def test_doctor_figures_agree_with_the_scripted_servers_own_timings():
    """Checked against what the server itself stamped (GET /timings: per request, when its first byte was
    read, when its first token was due, when that token's write began), not against the doctor's formulas:
    the client's TTFT p50 is the server's own time to first token plus at most a few ms of the client's,
    and the server's lateness is what the server recorded."""
    import statistics

    from deploybench.testing.servers import first_token_timings, scripted_server

    with scripted_server(ttft_ms=doctor.TTFT_MS, itl_ms=doctor.ITL_MS, spin_ms=0) as url:
        got = doctor.check(8, 1.0, url=url)
        timings = first_token_timings(url)
    measured = timings[8:]  # after the 8 warm-up requests
    server_ttft = statistics.median((w - read) / 1e6 for read, _due, w in measured)
    server_late = statistics.median((w - due) / 1e6 for _read, due, w in measured)
    client_ttft = got.ttft_error_ms + doctor.TTFT_MS
    print(f"client TTFT p50 {client_ttft:.2f} ms, server's own {server_ttft:.2f} ms, server late {server_late:.2f} ms")
    assert got.errors == 0
    assert server_ttft - 0.5 <= client_ttft <= server_ttft + 5.0  # the client cannot see a token before it is written
    assert got.server_late_ms == pytest.approx(server_late, abs=1.0)
    assert got.tok_s <= 1.05 * doctor.theory_tok_s(8)
