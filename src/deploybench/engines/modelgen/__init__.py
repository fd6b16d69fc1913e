"""Models made on this machine: random-weight Llamas of any size, the bundled Gemma 3 270M,
quantization ladders (llama-quantize) and their perplexity (llama-perplexity).

Everything is built once into ``model_cache_dir()`` (``$DEPLOYBENCH_CACHE/models`` or
``~/.cache/deploybench/models``), atomically and under a per-file lock, and reused afterwards.
The ``gguf`` package is imported only when a random model is generated.
"""

from .cache import FORMAT_VERSION, model_cache_dir, sha256_file
from .bundled import BUNDLED, GEMMA_PIP, bundled_name, gemma3_270m, resolve_bundled
from .info import describe
from .quant import DEFAULT_LADDER, QTYPES, check_qtype, ladder, perplexity, quantize
from .generate import random_llama, random_llama_path
from .resolver import parse_random_ref, resolve, resolve_base
from .shapes import LlamaShape, parse_params, shape_for, size_label
from .tools import server_binary, tool_binary

__all__ = [
    "BUNDLED", "bundled_name", "resolve_bundled", "sha256_file", "server_binary", "tool_binary",
    "DEFAULT_LADDER", "FORMAT_VERSION", "GEMMA_PIP", "LlamaShape", "QTYPES", "check_qtype", "describe",
    "gemma3_270m", "ladder", "model_cache_dir", "parse_params", "parse_random_ref", "perplexity",
    "quantize", "random_llama", "random_llama_path", "resolve", "resolve_base", "shape_for", "size_label",
]
