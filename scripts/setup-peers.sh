#!/usr/bin/env bash
# Peer load generators for benchmarks/peers.py, in their own environment (.venv-peers, git-ignored).
# NOT part of CI (.ci/run never calls it): benchmarks are run on demand.
#   - GuideLLM from PyPI (pinned), on the CPU torch wheel (the default torch pulls ~5 GB of CUDA);
#   - `vllm bench serve` comes from the vLLM environment (.venv-vllm, scripts/setup-vllm.sh);
#   - the tokenizer both need: the Hugging Face-format SmolLM2 that deploybench converts from the
#     bundled GGUF for vLLM (~/.cache/deploybench/hf/<sha>), made offline (HF_HUB_OFFLINE=1).
# Needs .venv (bash scripts/setup.sh) first. Prints the tokenizer folder at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
GUIDELLM_VERSION=${GUIDELLM_VERSION:-0.8.1}
[ -x .venv/bin/python ] || { echo "run scripts/setup.sh first (.venv with deploybench)" >&2; exit 1; }
[ -x .venv-vllm/bin/python ] || bash scripts/setup-vllm.sh
[ -x .venv-peers/bin/python ] || "$PY" -m venv .venv-peers
.venv-peers/bin/python -m pip install -q --upgrade pip
.venv-peers/bin/python -m pip install -q "torch==2.13.0" "guidellm==${GUIDELLM_VERSION}"
.venv-peers/bin/guidellm --version
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python benchmarks/peers.py --check
