"""A pydantic ``ValidationError`` as one line (a :class:`ConfigError`): the top of ``schemas``, above the
models whose union tags it strips (engine kinds from the plugin registry, workload kinds from the
``WorkloadSource`` union in ``config``)."""

from __future__ import annotations

from typing import get_args

from .config import WorkloadSource
from .errors import ConfigError
from .plugins import engine_kinds


def workload_kinds() -> tuple[str, ...]:
    """The ``kind`` of every member of the ``WorkloadSource`` union, in its order."""
    union = get_args(WorkloadSource)[0]
    return tuple(model.model_fields["kind"].default for model in get_args(union))


def _union_tags() -> tuple[str, ...]:
    return tuple(f"{k}." for k in (*engine_kinds(), *workload_kinds()))


def _name(x) -> str:
    """A field name as written, or quoted when it holds characters that would not print."""
    return str(x) if str(x).isprintable() and str(x) else repr(str(x))


def _kinds(kinds) -> str:
    kinds = list(kinds)
    return ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else "".join(kinds)


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
        fix = f"use kind: {_kinds(workload_kinds())}"
    elif e["type"] == "union_tag_invalid":
        fix = f"use kind: {', '.join(engine_kinds())}"
    return ConfigError(f"{where}: {loc}: {msg}" if loc else f"{where}: {msg}", fix)
