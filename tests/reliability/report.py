"""Print the reliability table (docs/reliability.md) from a run's tallies.

RELIABILITY_REPORT=run/reliability.jsonl .venv/bin/python -m pytest tests/reliability   # or: make soak
.venv/bin/python -m tests.reliability.report run/reliability.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("fault", "sent", "landed", "quarantined", "duplicates_removed", "retried", "lost")
HEADERS = ("fault", "sent", "landed", "quarantined", "duplicated, then removed", "retried", "lost")


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = [str(row[c]) if c == "fault" else f"{row[c]:,}" for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in Path(argv[0]).read_text(encoding="utf-8").splitlines() if line.strip()]
    print(table(rows))
    print()
    for row in rows:
        print(f"- {row['fault']}: {row['notes']}")
    return 0 if all(row["lost"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
