"""Predict before measuring: a calibrated roofline model of LLM serving (pure functions).

* :mod:`.features` - typed features of a cell (architecture, bits per weight, hardware, workload);
* :mod:`.model` - step times, KV capacity, queueing -> TTFT, TPOT, ms/token, tok/s, $/1M tokens;
* :mod:`.fit` - calibration from a stored study into a reusable :class:`FittedModel` file, and
  "% of roofline" per measured cell;
* :mod:`.validate` - hold-out validation (model size or instance type) with MAPE and picks;
* :mod:`.capacity` - replicas and fleet cost for a target request rate within an SLO.

``docs/predict.md`` gives every formula and the sources of the hardware figures.
"""

from __future__ import annotations

from .cells import Cell, cell_features, load_cells
from .features import LLAMA2, Architecture, CellFeatures, HardwareFeatures, Workload, arch_from_gguf, \
    arch_from_hf_config, bits_per_weight, hardware_features, measure_cpu_bandwidth
from .fit import FittedModel, fit, predict, roofline_fraction
from .model import Params, Prediction, decode_step_ms, max_batch, predict_cell, prefill_ms
from .validate import Validation, mape, validate

__all__ = ["Architecture", "Cell", "CellFeatures", "FittedModel", "HardwareFeatures", "LLAMA2", "Params",
           "Prediction", "Validation", "Workload", "arch_from_gguf", "arch_from_hf_config", "bits_per_weight",
           "cell_features", "decode_step_ms", "fit", "hardware_features", "load_cells", "mape", "max_batch",
           "measure_cpu_bandwidth", "predict", "predict_cell", "prefill_ms", "roofline_fraction", "validate"]
