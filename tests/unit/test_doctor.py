"""The pre-flight's rule (#10 item 5): skipped for a planned peak of 64 streams or fewer and with
--no-preflight; otherwise it drives twice the peak and warns, before anything starts, when the client
does not hold that load."""

from __future__ import annotations

import pytest

from deploybench import api
from deploybench.cli import main
from deploybench.schemas import LoadConfig
from deploybench.sweep import doctor


def _check(streams: int, share: float, ttft_added_ms: float) -> doctor.Check:
    theory = doctor.theory_tok_s(streams)
    return doctor.Check(streams=streams, seconds=3.0, workers=1, tok_s=share * theory, theory_tok_s=theory,
                        lag_p50_ms=0.5, lag_p99_ms=2.0, ttft_error_ms=ttft_added_ms + 1.0, server_late_ms=1.0, errors=0)


def test_planned_peak_of_each_level_kind():
    assert doctor.planned_peak(LoadConfig(concurrency=[1, 4, 100], requests=10)) == 100
    assert doctor.planned_peak(LoadConfig(concurrency=[], requests=10, levels=[
        {"kind": "rate", "rps": 5, "max_in_flight": 300}, {"kind": "sweep", "max_users": 16}],
        slo="p90_ttft_ms<=500")) == 300
    assert doctor.planned_peak(LoadConfig(concurrency=[], requests=10, levels=[{"kind": "rate", "rps": 5}])) is None


def test_small_peaks_skip_the_preflight(monkeypatch):
    def never(*_a, **_k):
        raise AssertionError("the pre-flight must not drive anything for a small study")

    monkeypatch.setattr(doctor, "check", never)
    assert doctor.preflight(LoadConfig(concurrency=[1, 4, 64], requests=10)) == (None, [])
    assert doctor.preflight(LoadConfig(concurrency=[], requests=10, levels=[{"kind": "rate", "rps": 5}])) == (None, [])


@pytest.mark.parametrize("share,added,warned", [(0.97, 1.0, False), (0.8, 1.0, True), (0.97, 9.0, True)])
def test_preflight_drives_twice_the_peak_and_warns_when_the_client_falls_behind(monkeypatch, share, added, warned):
    driven = []

    def fake(streams, seconds, workers):
        driven.append(streams)
        return _check(streams, share, added)

    monkeypatch.setattr(doctor, "check", fake)
    check, warnings = doctor.preflight(LoadConfig(concurrency=[8, 100], requests=10))
    assert driven == [200] and check.streams == 200
    assert bool(warnings) is warned
    if warned:
        assert "planned peak of 100 streams" in warnings[0] and "--no-preflight" in warnings[0]
        assert check.ceiling_streams == (160 if share == 0.8 else 194)


def test_run_warns_before_anything_starts_and_no_preflight_skips(monkeypatch, capsys):
    calls = []

    def fake_preflight(load, seconds=3.0):
        calls.append(("preflight", doctor.planned_peak(load)))
        return _check(200, 0.5, 20.0), ["pre-flight: the planned peak of 100 streams is too much"]

    def fake_run(*_a, **_k):
        calls.append(("run",))
        raise KeyboardInterrupt  # stop here: nothing to measure

    monkeypatch.setattr(api, "preflight", fake_preflight)
    monkeypatch.setattr(api, "run", fake_run)
    args = ["run", "--endpoint", "http://127.0.0.1:9", "-c", "100", "-n", "100", "--no-report"]
    main(args)
    assert calls == [("preflight", 100), ("run",)]  # the check came first
    assert "warning: pre-flight: the planned peak of 100 streams" in capsys.readouterr().err
    main(args + ["--no-preflight"])
    assert calls[2:] == [("run",)]  # not checked again
