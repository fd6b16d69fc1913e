"""Hardware/price catalog: bundled data, user overrides, unknown names, CPU profiles, TP checks."""

import pytest

from deploybench.catalog import (
    ENV_VAR, Catalog, Price, check_tp, cpu_profile_price, gpu_count, load_catalog,
)
from deploybench.schemas import ConfigError

REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


@pytest.fixture(autouse=True)
def _no_env_catalog(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_bundled_study_prices_exact():
    cat = load_catalog()
    assert cat.price("ml.g5.2xlarge", "us-east-1").usd_per_hour == 1.515
    assert cat.price("ml.g5.12xlarge", "us-east-1").usd_per_hour == 7.09
    assert cat.price("ml.p4d.24xlarge", "us-east-1").usd_per_hour == 37.688
    assert cat.price("ml.g5.48xlarge").usd_per_hour > cat.price("ml.g5.12xlarge").usd_per_hour
    p = cat.price("ml.g5.2xlarge")  # default region
    assert p.region == "us-east-1" and p.as_of == "2023-09" and "study" in p.source


def test_every_entry_has_specs_and_dated_prices_in_three_regions():
    """AWS entries are priced in the three AWS regions; other clouds in their own regions (at least one)."""
    cat = load_catalog()
    assert len(cat.entries) >= 20
    for e in cat.entries.values():
        assert e.gpu_count >= 1 and e.gpu_model, e.name
        assert e.gpu_memory_gib and e.memory_bandwidth_gbs, e.name
        regions = REGIONS if e.platform in ("sagemaker", "ec2") else tuple(e.prices)
        assert regions, e.name
        for r in regions:
            p = e.prices[r]
            assert p.usd_per_hour > 0 and p.as_of and p.source, (e.name, r)


def test_current_families_on_sagemaker_and_ec2():
    cat = load_catalog()
    for fam in ("g6", "g6e", "p5"):
        platforms = {e.platform for e in cat.entries.values() if e.family == fam}
        assert platforms == {"sagemaker", "ec2"}, fam
    p5 = cat.get("ml.p5.48xlarge")
    assert (p5.gpu_model, p5.gpu_count, p5.gpu_memory_gib, p5.total_gpu_memory_gib) == ("H100-SXM5-80GB", 8, 80, 640)
    assert cat.get("g6e.xlarge").memory_bandwidth_gbs == 864


def test_lookup_is_case_insensitive():
    cat = load_catalog()
    assert cat.get("ML.G5.12XLARGE").name == "ml.g5.12xlarge"
    assert "ml.g5.12xlarge" in cat and "ml.g5.13xlarge" not in cat


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ConfigError) as e:
        load_catalog().get("ml.g5.2xlarg")
    assert e.value.problem == "unknown instance type 'ml.g5.2xlarg'"
    assert "did you mean 'ml.g5.2xlarge'" in e.value.fix
    assert "catalog file" in e.value.fix and "ml.p4d.24xlarge" in e.value.fix


def test_unknown_region():
    with pytest.raises(ConfigError) as e:
        load_catalog().price("ml.g5.2xlarge", "ap-south-1")
    assert "ap-south-1" in e.value.problem and "us-east-1" in e.value.fix


def test_override_merges_by_name(tmp_path):
    f = tmp_path / "prices.yaml"
    f.write_text(
        "entries:\n"
        "  - name: ml.g5.2xlarge\n"
        "    prices:\n"
        "      us-east-1: {usd_per_hour: 1.0, as_of: '2026-01', source: 'my contract'}\n"
        "      ap-south-1: {usd_per_hour: 1.9, as_of: '2026-01', source: 'my contract'}\n"
        "  - {name: my.box, platform: other, gpu_model: L4, gpu_count: 2,\n"
        "     prices: {us-east-1: {usd_per_hour: 3.5, as_of: '2026-01', source: 'rack'}}}\n"
        "cpu_profiles:\n"
        "  - {name: local-cpu, usd_per_vcpu_hour: 0.1, as_of: '2026-01', source: 'power bill'}\n")
    cat = load_catalog(f)
    assert cat.price("ml.g5.2xlarge", "us-east-1") == Price(usd_per_hour=1.0, as_of="2026-01", source="my contract",
                                                            region="us-east-1")
    assert cat.price("ml.g5.2xlarge", "ap-south-1").usd_per_hour == 1.9
    assert cat.price("ml.g5.2xlarge", "us-west-2").usd_per_hour == 1.515  # untouched region kept
    assert cat.get("ml.g5.2xlarge").gpu_count == 1  # untouched fields kept
    box = cat.get("my.box")
    assert box.gpu_count == 2 and box.gpu_memory_gib == 24 and box.memory_bandwidth_gbs == 300
    assert cat.price("local-cpu", vcpus=3).usd_per_hour == pytest.approx(0.3)
    assert cat.files[-1] == str(f)
    # the bundled catalog is not changed by an override (nor by mutating a returned catalog)
    cat.entries.clear()
    assert load_catalog().price("ml.g5.2xlarge").usd_per_hour == 1.515


def test_env_var_override(tmp_path, monkeypatch):
    f = tmp_path / "c.yaml"
    f.write_text("entries:\n  - {name: ml.g5.12xlarge, prices: {us-east-1: {usd_per_hour: 6, as_of: x, source: y}}}\n")
    monkeypatch.setenv(ENV_VAR, str(f))
    assert load_catalog().price("ml.g5.12xlarge").usd_per_hour == 6


@pytest.mark.parametrize("text, words", [
    ("entries: [\n", ["not valid YAML", "line"]),
    ("- just a list\n", ["must be a mapping"]),
    ("entries:\n  - {name: x, gpu_count: -1}\n", ["entries[x].gpu_count", "greater than or equal to 0"]),
    ("entries:\n  - {gpu_count: 1}\n", ["entries[0].name is missing"]),
    ("entries:\n  - {name: x, prices: {us-east-1: {usd_per_hour: 1}}}\n", ["prices.us-east-1.as_of"]),
    ("cpu_profiles:\n  - {name: c, usd_per_vcpu_hour: -2, as_of: x, source: y}\n", ["usd_per_vcpu_hour"]),
])
def test_bad_override_is_one_config_error(tmp_path, text, words):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_catalog(f)
    line = e.value.line()
    assert str(f) in line and "\n" not in line
    for w in words:
        assert w in line


def test_missing_override_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_catalog(tmp_path / "nope.yaml")


def test_cpu_profile_price():
    cat = load_catalog()
    rate = cat.cpu_profile("local-cpu").usd_per_vcpu_hour
    assert cpu_profile_price(4) == pytest.approx(4 * rate)
    assert cat.cpu_profile_price(4) == pytest.approx(4 * rate)  # the method form the study planner uses
    assert cpu_profile_price(2, rate=0.05) == pytest.approx(0.10)
    assert cpu_profile_price(2, profile="local-cpu-arm") == pytest.approx(2 * cat.cpu_profile("local-cpu-arm").usd_per_vcpu_hour)
    p = cat.price("local-cpu", "anywhere", vcpus=8)  # dated Price, with its source
    assert p.usd_per_hour == pytest.approx(8 * rate) and "8 vCPU" in p.source and p.as_of
    for bad in (0, -1, 1.5):
        with pytest.raises(ConfigError, match="vcpus"):
            cpu_profile_price(bad)
    with pytest.raises(ConfigError, match="negative"):
        cpu_profile_price(2, rate=-1)
    with pytest.raises(ConfigError, match="unknown CPU profile 'gpu'"):
        cpu_profile_price(2, profile="gpu")


def test_gpu_count_and_tp_check():
    assert gpu_count("ml.g5.12xlarge") == 4
    assert gpu_count("ml.g5.2xlarge") == 1
    assert gpu_count("local-cpu") == 0
    assert check_tp("ml.g5.48xlarge", 8) == 8
    with pytest.raises(ConfigError) as e:
        check_tp("ml.g5.12xlarge", 8)
    assert "exceeds the 4 GPU(s)" in e.value.problem and "at most 4" in e.value.fix
    with pytest.raises(ConfigError, match="unknown instance type"):
        gpu_count("ml.nope")


def test_catalog_regions_and_names():
    cat: Catalog = load_catalog()
    assert set(REGIONS) <= set(cat.regions())
    assert "local-cpu" in cat.names() and cat.get("local-cpu").gpu_count == 0
