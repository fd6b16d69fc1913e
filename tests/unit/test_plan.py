"""Study files: grid expansion, include/exclude, and one-line errors naming file, field and fix."""

import os

import pytest

from deploybench.schemas import ConfigError
from deploybench.sweep import estimate, load_study, plan, validate_study

BASE = {
    "name": "t",
    "models": [{"name": "smol", "source": "smollm2"}, {"name": "rnd", "source": "random-llama:10M"}],
    "quantizations": ["Q8_0", "Q4_K_M"],
    "hardware": [{"name": "c1", "threads": 1, "cpu_set": [0], "price_per_hour": 0.05},
                 {"name": "c2", "threads": 1, "price_per_vcpu_hour": 0.04}],
    "engine": {"kind": "llamacpp", "settings": {"parallel": [2, 4], "ctx_size": 1024}},
    "load": {"concurrency": [1, 2], "duration_s": 2},
}


def _study(**over):
    data = {**BASE, **over}
    return validate_study(data, "s.yaml")


def test_grid_is_the_product():
    ps = plan(_study())
    assert len(ps) == 2 * 2 * 2 * 2
    names = {p.name for p in ps}
    assert "smol_Q8_0_c1_parallel2" in names and "rnd_Q4_K_M_c2_parallel4" in names
    p = next(p for p in ps if p.name == "rnd_Q4_K_M_c2_parallel4")
    assert p.deployment.engine.quantization == "Q4_K_M" and p.deployment.engine.parallel == 4
    assert p.deployment.engine.ctx_size == 1024 and p.deployment.hardware.price_per_hour == pytest.approx(0.04)
    assert p.deployment.labels == {"model": "rnd", "quantization": "Q4_K_M", "hardware": "c2", "engine": "llamacpp"}


def test_include_exclude():
    ps = plan(_study(include=[{"model": "smol"}], exclude=[{"quantization": "Q4_K_M", "hardware": "c2"},
                                                           {"settings": {"parallel": 4}}]))
    assert sorted(p.name for p in ps) == ["smol_Q4_K_M_c1_parallel2", "smol_Q8_0_c1_parallel2", "smol_Q8_0_c2_parallel2"]


def test_estimate_counts_cells_and_cost():
    st = _study(include=[{"model": "smol", "quantization": "Q8_0", "hardware": "c1"}])
    est = estimate(st, plan(st))
    rounds = st.load.rounds
    assert len(est.cells) == 2 * 2 * rounds  # 2 settings x 2 levels x rounds
    assert est.wall_s > 2 * 2 * 2 * rounds and est.cost_usd == pytest.approx(0.05 * est.wall_s / 3600)
    assert est.cloud_cost_usd == 0


@pytest.mark.parametrize("over,words", [
    ({"models": [{"name": "x", "source": "no-such-model"}]}, ["s.yaml", "models[0].source", "unknown model", "GGUF"]),
    ({"quantizations": ["Q9_9"]}, ["s.yaml", "quantizations", "Q9_9", "Q4_K_M"]),
    ({"hardware": [{"name": "c", "threads": 1}]}, ["s.yaml", "hardware[0]", "no price", "price_per_hour"]),
    ({"hardware": [{"name": "c", "threads": 999, "price_per_hour": 1}]}, ["hardware[0].threads", "999", "threads <="]),
    ({"hardware": [{"name": "c", "cpu_set": [0, 64], "price_per_hour": 1}]}, ["hardware[0]", "cpu_set"]),
    ({"load": {"concurrency": []}}, ["s.yaml", "load.concurrency"]),
    ({"engine": {"kind": "llamacpp", "settings": {"paralel": 2}}}, ["engine.settings", "paralel", "unknown field"]),
    ({"bogus": 1}, ["s.yaml", "bogus", "unknown field"]),
])
def test_errors_name_file_field_and_fix(over, words):
    if "threads" in str(over) and (os.cpu_count() or 1) >= 999:
        pytest.skip("huge host")
    with pytest.raises(ConfigError) as e:
        plan(_study(**over), "s.yaml")
    msg = str(e.value)
    assert "\n" not in msg and " — " in msg
    for w in words:
        assert w in msg, msg


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nmodels: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        load_study(p)


def test_empty_grid_is_an_error():
    with pytest.raises(ConfigError, match="empty after include/exclude"):
        plan(_study(include=[{"model": "nobody"}]))
