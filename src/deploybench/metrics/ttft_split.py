"""Where time to first token goes: one request's path from due to first token, in five parts.

Parts (docs/metrics.md, "Where time to first token goes"), all from raw client stamps:

  schedule     = started - scheduled     the client began the request late (event loop busy)
  connect      = connected - started     a new TCP connection, or taking a pooled one
  write        = sent - connected        the request (headers and body) written to the socket
  headers      = headers - sent          the server's answer head read (server queue, transit, client read)
  first_token  = chunk_ns[0] - headers   from the answer head to the first output token

schedule + connect + write = schedule lag (sent - scheduled); headers + first_token = TTFT.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..schemas import Dist, RequestRecord
from .core import NS_PER_MS, dist

PARTS = ("schedule", "connect", "write", "headers", "first_token")
"""The parts in time order (the keys of :func:`split`)."""


def parts_ms(r: RequestRecord) -> dict[str, float] | None:
    """One successful request's TTFT split in ms; None without every stamp (older records, errors)."""
    if r.error or not r.chunk_ns or None in (r.started_ns, r.connected_ns, r.headers_ns):
        return None
    marks = (r.scheduled_ns, r.started_ns, r.connected_ns, r.sent_ns, r.headers_ns, r.chunk_ns[0])
    return {name: (b - a) / NS_PER_MS for name, a, b in zip(PARTS, marks, marks[1:])}


def split(records: Iterable[RequestRecord]) -> dict[str, Dist]:
    """Distribution of each part over the requests that have every stamp, plus ``connect_new`` and
    ``connect_pooled`` (the connect part of requests on a new / a pooled connection); {} when none."""
    rows = [(r, p) for r in records if (p := parts_ms(r)) is not None]
    if not rows:
        return {}
    out = {name: dist([p[name] for _, p in rows]) for name in PARTS}
    out["connect_new"] = dist([p["connect"] for r, p in rows if not r.reused])
    out["connect_pooled"] = dist([p["connect"] for r, p in rows if r.reused])
    return out


def connections(records: Iterable[RequestRecord]) -> dict[str, int]:
    """Requests sent on a new / a pooled connection; {} when no record says (older records)."""
    known = [r.reused for r in records if r.reused is not None]
    return {"new": known.count(False), "pooled": known.count(True)} if known else {}


def p50s(parts: dict[str, Dist], names: Sequence[str] = PARTS) -> dict[str, float | None]:
    """The p50 of each part (None where it has no value): what reports print."""
    return {name: (parts[name].p50 if name in parts else None) for name in names}
