"""Output quality next to cost: what a quantization (or a whole deployment) costs in quality.

* :func:`measure_ladder` - llama.cpp: perplexity on the bundled held-out text, KL divergence and
  top-token agreement against the baseline's logits, effective bits per weight; cached by model hash.
* :mod:`.agreement` - any OpenAI-compatible server: greedy-output agreement with a reference.
* :mod:`.gate` - ``--max-quality-loss "kld<=0.05,ppl<=+2%,top1>=95%"`` limits for picks.
* :mod:`.store` - ``quality.json`` beside a study's runs.

How each figure is computed: docs/metrics.md, "Quality".
"""

from __future__ import annotations

from ..schemas.quality import METHODS, QualityConfig, QualityResult, QualityTable
from .bpw import weights_info
from .gate import Exclusion, QualityLimit, parse as parse_limits
from .ladder import check_quants, measure_ladder
from .store import QUALITY_FILE, gate_folder, read_table, write_table

__all__ = ["METHODS", "QUALITY_FILE", "Exclusion", "QualityConfig", "QualityLimit", "QualityResult", "QualityTable",
           "check_quants", "gate_folder", "measure_ladder", "parse_limits", "read_table", "weights_info",
           "write_table"]
