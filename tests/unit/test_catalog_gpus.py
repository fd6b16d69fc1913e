"""The accelerator table: every figure sourced or flagged recalled, dense peaks consistent, instances wired."""

import pytest

from deploybench.catalog import ENV_VAR, PRECISION_ORDER, GpuSpec, load_catalog
from deploybench.schemas import ConfigError

FIGURES = ("memory_gib", "memory_bandwidth_gbs", "interconnect_gbs")
WANTED = {  # the accelerators the catalog promises, by family
    "H100-SXM5-80GB", "H100-PCIe-80GB", "H200-SXM-141GB", "B200-SXM-180GB", "GB200-186GB", "MI300X-192GB",
    "MI325X-256GB", "L4", "L40S", "A10G", "A100-SXM4-40GB", "A100-SXM4-80GB", "Gaudi3-128GB", "Inferentia2",
    "TPU-v5e"}


@pytest.fixture(autouse=True)
def _no_env_catalog(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def gpus():
    return load_catalog().gpus


def test_the_promised_accelerators_are_there(gpus):
    assert WANTED <= set(gpus)


def test_every_figure_has_a_dated_source_or_says_recalled(gpus):
    for name, g in gpus.items():
        names = [f for f in FIGURES if getattr(g, f) is not None] + [f"peak_tflops.{d}" for d in g.peak_tflops]
        for fig in names:
            p = g.provenance(fig)
            assert p.recalled or (p.source and p.as_of), (name, fig)
        assert g.source, name  # even a recalled GPU names the sheet it was recalled from
        for fig in g.figures:  # per-figure overrides name real figures
            assert fig in FIGURES or fig.split(".", 1)[0] == "peak_tflops", (name, fig)


def test_checked_figures_cite_a_page(gpus):
    checked = [n for n, g in gpus.items() if not g.recalled]
    assert len(checked) >= 10
    for n in checked:
        assert "http" in gpus[n].source or "documentation" in gpus[n].source.lower() or "checked" in gpus[n].source, n


def test_dense_peaks_never_fall_with_precision(gpus):
    for name, g in gpus.items():
        assert g.peak("fp16") or g.peak("bf16"), name
        given = [(d, g.peak(d)) for d in PRECISION_ORDER if g.peak(d)]
        for (wide, a), (narrow, b) in zip(given, given[1:]):
            assert b >= a, (name, wide, narrow)
        if g.peak("fp8") and g.peak("fp16"):
            assert g.peak("fp8") >= g.peak("fp16"), name
        if g.peak("fp4"):
            assert g.peak("fp4") >= g.peak("fp8"), name


def test_sparse_figures_are_halved(gpus):
    halved = [n for n, g in gpus.items() if g.sparse_tflops]
    assert {"H100-SXM5-80GB", "H200-SXM-141GB", "B200-SXM-180GB", "L4"} <= set(halved)
    for n in halved:
        for dtype, sparse in gpus[n].sparse_tflops.items():
            assert gpus[n].peak_tflops[dtype] == pytest.approx(sparse / 2, rel=0.01), (n, dtype)


def test_known_sheet_figures(gpus):
    h100, h200, b200, mi300x = (gpus[k] for k in ("H100-SXM5-80GB", "H200-SXM-141GB", "B200-SXM-180GB", "MI300X-192GB"))
    assert (h100.memory_bandwidth_gbs, h200.memory_bandwidth_gbs, b200.memory_bandwidth_gbs) == (3350, 4800, 8000)
    assert h200.peak("fp8") == pytest.approx(h100.peak("fp8"), rel=0.01)  # same Hopper die, more memory
    assert mi300x.peak("fp8") == pytest.approx(2 * mi300x.peak("fp16"), rel=0.01)
    assert b200.peak("fp4") == pytest.approx(2 * b200.peak("fp8"))
    assert gpus["Gaudi3-128GB"].peak("fp16") == gpus["Gaudi3-128GB"].peak("bf16") == 1835  # bf16 stands in for fp16
    assert gpus["TPU-v5e"].peak("fp8") is None


@pytest.mark.parametrize("spec, words", [
    ({"memory_gib": 80, "memory_bandwidth_gbs": 3350, "peak_tflops": {"fp16": 1979, "fp8": 1979},
      "sparse_tflops": {"fp16": 1979, "fp8": 3958}, "source": "sheet", "as_of": "2023"}, ["sparse_tflops.fp16", "half"]),
    ({"memory_gib": 80, "memory_bandwidth_gbs": 3350, "peak_tflops": {"fp16": 1979, "fp8": 989},
      "source": "sheet", "as_of": "2023"}, ["peak_tflops.fp8", "below"]),
    ({"memory_gib": 80, "memory_bandwidth_gbs": 3350, "peak_tflops": {"fp16": 989, "bf16": 1979},
      "source": "sheet", "as_of": "2023"}, ["bf16", "differ"]),
    ({"memory_gib": 80, "memory_bandwidth_gbs": 3350, "peak_tflops": {"fp16": 989}}, ["source", "recalled"]),
    ({"memory_gib": 80, "memory_bandwidth_gbs": 3350, "peak_tflops": {"fp16": 989}, "source": "s", "as_of": "x",
      "figures": {"memory_gib": {"source": "page"}}}, ["recalled"]),
])
def test_inconsistent_gpu_is_rejected(spec, words):
    with pytest.raises(ValueError) as e:
        GpuSpec.model_validate(spec)
    for w in words:
        assert w in str(e.value)


def test_user_gpu_without_source_is_one_config_error(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("gpus:\n  X1: {memory_gib: 24, memory_bandwidth_gbs: 300, peak_tflops: {fp16: 100}}\n")
    with pytest.raises(ConfigError) as e:
        load_catalog(f)
    assert "gpus.X1" in e.value.line() and "recalled" in e.value.line()
    f.write_text("gpus:\n  X1: {memory_gib: 24, memory_bandwidth_gbs: 300, peak_tflops: {fp16: 100}, recalled: true,"
                 " source: my notes}\n")
    assert load_catalog(f).gpus["X1"].provenance("memory_gib").recalled


def test_new_instances_resolve_their_gpus():
    cat = load_catalog()
    for name, gpu, n in [("p5en.48xlarge", "H200-SXM-141GB", 8), ("p6-b200.48xlarge", "B200-SXM-180GB", 8),
                         ("p4de.24xlarge", "A100-SXM4-80GB", 8), ("inf2.48xlarge", "Inferentia2", 12),
                         ("ct5lp-hightpu-8t", "TPU-v5e", 8)]:
        e = cat.get(name)
        assert (e.gpu_model, e.gpu_count) == (gpu, n)
        assert e.memory_bandwidth_gbs == cat.gpus[gpu].memory_bandwidth_gbs
    assert cat.price("p4de.24xlarge").estimate  # derived from the pre-cut rate, says so
    assert cat.price("inf2.xlarge").recalled
    assert cat.price("ct5lp-hightpu-8t", "us-central1").usd_per_hour == pytest.approx(8 * 1.2)
    for e in cat.entries.values():  # every instance's GPU is in the table
        assert e.gpu_model in cat.gpus, e.name


def test_a_figure_can_carry_its_own_provenance(gpus):
    gb200 = gpus["GB200-186GB"]
    assert not gb200.recalled and gb200.provenance("memory_gib").recalled  # the rack sheet's total, recalled
    assert not gb200.provenance("memory_bandwidth_gbs").recalled
    assert "vultr" in gpus["B200-SXM-180GB"].provenance("memory_gib").source
    assert gpus["Gaudi3-128GB"].provenance("interconnect_gbs").recalled
    assert gpus["A10G"].provenance("peak_tflops.fp16").recalled  # a recalled GPU: every figure recalled
