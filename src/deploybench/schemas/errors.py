"""User-facing errors: one line that names the problem and the fix, never a traceback."""

from __future__ import annotations


class DeploybenchError(Exception):
    """An error the CLI prints as one line (``problem — fix``) and exits non-zero."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.problem} — {self.fix}" if self.fix else self.problem
        return " ".join(text.splitlines())  # one line even when a name from a file holds a line break


class ConfigError(DeploybenchError):
    """Bad study/CLI input, found before anything starts."""


class EngineError(DeploybenchError):
    """An engine failed to start or died."""

    exit_code = 3


class EndpointError(DeploybenchError):
    """An endpoint is unreachable or does not speak the expected protocol."""

    exit_code = 3
