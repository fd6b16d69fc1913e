import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def seed_dir() -> Path:
    """The 2023 seed data: $DEPLOYBENCH_SEED_DIR, else ../shared/seed-data, else the packaged copy."""
    if os.environ.get("DEPLOYBENCH_SEED_DIR"):
        return Path(os.environ["DEPLOYBENCH_SEED_DIR"])
    shared = REPO.parent / "shared" / "seed-data"
    if (shared / "sagemaker").is_dir():
        return shared
    from deploybench.seed import PACKAGED_SEED

    return PACKAGED_SEED


def llama_server_available() -> bool:
    try:
        from deploybench.engines.llamacpp import server_binary

        server_binary()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def have_llama():
    if not llama_server_available():
        if ci():
            pytest.fail("llama-server is not installed in CI (run scripts/setup.sh)")
        pytest.skip("llama-server not built (run scripts/setup.sh)")
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI set, a skipped ``@pytest.mark.required`` test is a failure (it must run in CI)."""
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail") and item.get_closest_marker("required") and ci():
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"required test skipped in CI: {reason}"


def ci() -> bool:
    """Are we in CI (``CI`` set to anything but empty, 0, false or no): the one definition the tests use."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


VLLM_PYTHON = os.environ.get("DEPLOYBENCH_VLLM_PYTHON") or str(Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python")
"""The vLLM (CPU) interpreter scripts/setup.sh --test installs (.venv-vllm), or DEPLOYBENCH_VLLM_PYTHON."""
needs_vllm = pytest.mark.skipif(not Path(VLLM_PYTHON).is_file(),
                                reason=f"no vLLM interpreter at {VLLM_PYTHON} (set DEPLOYBENCH_VLLM_PYTHON)")
