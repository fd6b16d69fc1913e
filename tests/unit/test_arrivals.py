"""Open-loop arrival schedules (pure) and the level models."""

import numpy as np
import pytest
from pydantic import ValidationError

from deploybench.load.arrivals import inter_arrival_cv, schedule
from deploybench.schemas import LoadConfig, RateLevel, TraceLevel
from deploybench.storage import run_id_for


def test_constant_rate_is_exact():
    off = schedule(50, "constant", 20.0)
    assert len(off) == 1000 and off[0] == 0.0
    assert np.allclose(np.diff(off), 0.02)


@pytest.mark.parametrize("arrival,cv,want", [("poisson", 1.0, 1.0), ("gamma", 2.0, 2.0), ("gamma", 0.5, 0.5)])
def test_inter_arrival_cv(arrival, cv, want):
    off = schedule(50, arrival, 100.0, cv=cv, seed=3)
    assert abs(inter_arrival_cv(off) - want) <= 0.1
    assert abs(len(off) / 100.0 - 50) / 50 < 0.08  # mean rate holds


def test_seeded_and_bounded():
    a, b = schedule(10, "poisson", 30, seed=7), schedule(10, "poisson", 30, seed=7)
    assert np.array_equal(a, b) and not np.array_equal(a, schedule(10, "poisson", 30, seed=8))
    assert len(schedule(10, "poisson", 1e9, limit=25)) == 25
    assert schedule(10, "poisson", 30).max() < 30


def test_level_keys_and_run_ids():
    assert RateLevel(rps=2).key == "r2-poisson"
    assert RateLevel(rps=2.5, arrival="gamma", cv=1.5).key == "r2.5-gamma1.5"
    assert TraceLevel(path="x/burst.jsonl", time_scale=0.5).key == "trace-burst-x0.5"
    assert run_id_for("dep a", 4) == "dep_a__c4"  # closed-loop ids unchanged: old folders resume
    assert run_id_for("d", RateLevel(rps=8, arrival="constant"), 2) == "d__r8-constant__t2"


def test_load_config_levels():
    cfg = LoadConfig(levels=[{"kind": "rate", "rps": 2}, {"kind": "closed", "users": 4}])
    assert [lv.key for lv in cfg.all_levels] == ["r2-poisson", "c4"] and cfg.concurrency == []
    assert [lv.key for lv in LoadConfig().all_levels] == ["c1", "c2", "c4"]
    assert [lv.key for lv in LoadConfig(concurrency=[1], levels=[{"kind": "rate", "rps": 1}]).all_levels] == ["c1", "r1-poisson"]
    with pytest.raises(ValidationError, match="rps"):
        LoadConfig(levels=[{"kind": "rate", "rps": 0}])
    with pytest.raises(ValidationError, match="SLO"):
        LoadConfig(levels=[{"kind": "sweep"}])
    with pytest.raises(ValidationError, match="repeat"):
        LoadConfig(concurrency=[4], levels=[{"kind": "closed", "users": 4}])
