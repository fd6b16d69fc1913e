"""Share of its roofline bound each measured cell reaches ("reaches 71 % of its memory-bandwidth limit").

The bound of one decode step is the hardware's: for the weight multiplies and for attention, bytes
read at peak memory bandwidth or FLOPs at peak FLOP/s, whichever is longer
(:func:`deploybench.predict.model.roofline_decode`). The peak is the deployment's own dtype's
(``GpuSpec.peak``): an FP8 deployment is measured against the FP8 peak and its FP8 weight bytes, an
FP4 one against FP4 (attention against fp16). The share is that bound over the measured step (TPOT
p50, else the median ms/token). Definition: ``docs/predict.md`` ("% of roofline").
On a CPU host the peaks are numpy's (a float32 matmul, a copy): a cell beyond them shows
"≥ numpy's matmul peak" (or copy bandwidth), never a share over 100 %.

Features come from the cell's ``meta.json`` (stored at run time, with this host's measured memory
bandwidth) or, for imported cells on catalog GPUs, from the catalog and the published
architecture. A cell with neither (older local runs) has no figure: it is never guessed from the
host reading the report.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from ..catalog import load_catalog
from ..predict.cells import cell_features, measured_figures
from ..predict.model import Params, roofline_decode, step_times
from ..schemas import RunMeta, RunSummary

__all__ = ["Roofline", "cell_roofline", "of_cell"]


PEAK_OF = {"compute": "numpy's matmul peak", "memory-bandwidth": "numpy's copy bandwidth"}
"""What a CPU host's peak is: :func:`deploybench.predict.features.measure_cpu_bandwidth` times numpy."""


@dataclass(frozen=True)
class Roofline:
    fraction: float
    bound: str  # "memory-bandwidth" | "compute"
    cpu: bool = False  # the peak was measured with numpy on a CPU host, not a datasheet's

    @property
    def pct(self) -> float:
        return 100.0 * self.fraction

    @property
    def beyond_peak(self) -> bool:
        """A CPU cell faster than numpy's figure: numpy's float32 matmul (or copy) is not a bound for
        llama.cpp's quantized kernels (or for weights that sit in cache), so no share is shown."""
        return self.cpu and self.fraction > 1.0

    @property
    def share(self) -> float | None:
        """The share in percent, or None where it would be a number over 100 that means nothing."""
        return None if self.beyond_peak else self.pct

    @property
    def label(self) -> str:
        """``71 %``, or ``≥ numpy's matmul peak`` for a CPU cell beyond numpy's figure."""
        return f"≥ {PEAK_OF[self.bound]}" if self.beyond_peak else f"{self.pct:.0f} %"

    @property
    def text(self) -> str:
        if self.beyond_peak:
            return f"is {self.bound}-bound, at or above {PEAK_OF[self.bound]} (no share shown)"
        if self.cpu:
            return f"reaches {self.pct:.0f} % of its {self.bound} limit ({PEAK_OF[self.bound]})"
        return f"reaches {self.pct:.0f} % of its {self.bound} limit"


def _catalog_gpu(meta: RunMeta) -> bool:
    """The cell ran on catalog GPUs: an instance type with GPUs, or a GPU named directly (an imported table)."""
    name = meta.labels.get("hardware") or ""
    cat = load_catalog()
    return (name in cat and cat.get(name).gpu_count > 0) or name.lower() in {g.lower() for g in cat.gpus}


def cell_roofline(meta: RunMeta, summary: RunSummary) -> Roofline | None:
    """The share of the roofline bound a measured cell reaches, or None where it cannot be computed."""
    if not summary.completed or (not meta.features and not _catalog_gpu(meta)):
        return None
    try:
        f = cell_features(meta, summary)
    except Exception:  # noqa: BLE001 - a report never fails on a figure it cannot compute
        return None
    m = measured_figures(summary)
    step = m.get("tpot_ms") or m.get("ms_per_token")
    if not step or step <= 0:
        return None
    bound_ms, bound = roofline_decode(f, step_times(f, Params()).batch)
    return Roofline(bound_ms / step, bound, cpu=f.hardware.family == "cpu")


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def of_cell(cell) -> Roofline | None:
    """:func:`cell_roofline` of a report cell, computed once per cell."""
    if cell not in _CACHE:
        _CACHE[cell] = cell_roofline(cell.meta, cell.summary)
    return _CACHE[cell]
