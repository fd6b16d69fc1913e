import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def seed_dir() -> Path:
    return Path(os.environ.get("DEPLOYBENCH_SEED_DIR", REPO.parent / "shared" / "seed-data"))


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
        if os.environ.get("CI"):
            pytest.fail("llama-server is not installed in CI (run scripts/setup.sh)")
        pytest.skip("llama-server not built (run scripts/setup.sh)")
    return True
