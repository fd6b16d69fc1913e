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


_WORKLOAD_TAGS = ("synthetic.", "jsonl.", "samples.", "multi-turn.", "shared-prefix.")


def _union_tags() -> tuple[str, ...]:
    from .plugins import engine_kinds  # noqa: PLC0415 (errors is imported by the registry)

    return tuple(f"{k}." for k in engine_kinds()) + _WORKLOAD_TAGS


def _name(x) -> str:
    """A field name as written, or quoted when it holds characters that would not print."""
    return str(x) if str(x).isprintable() and str(x) else repr(str(x))


def from_validation(exc, where: str, fix: str = "see examples/ for a valid study", root: str = "") -> ConfigError:
    """A pydantic ``ValidationError`` as one line: ``<where>: <root.field>: <problem> — <fix>``."""
    e = exc.errors()[0]
    loc = ".".join(_name(x) if not isinstance(x, int) else f"[{x}]" for x in e["loc"]).replace(".[", "[")
    for tag in _union_tags():  # pydantic's union tags (engine.llamacpp.threads -> engine.threads)
        loc = loc.replace(tag, "")
    loc = ".".join(x for x in (root, loc) if x).replace(".[", "[")
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg, fix = "unknown field", "remove it or fix its spelling (see examples/ for valid fields)"
    elif e["type"] == "missing":
        fix = "add it"
    elif e["type"] == "union_tag_invalid" and "source" in e["loc"]:
        fix = "use kind: synthetic, jsonl, samples, multi-turn or shared-prefix"
    elif e["type"] == "union_tag_invalid":
        from .plugins import engine_kinds  # noqa: PLC0415

        fix = f"use kind: {', '.join(engine_kinds())}"
    return ConfigError(f"{where}: {loc}: {msg}" if loc else f"{where}: {msg}", fix)
