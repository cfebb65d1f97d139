"""Saved Athena queries: one `.sql` file each, the single source for the workgroup's named queries and the runner.

A file starts with `--` comment lines: the first says what the query answers (it becomes the named query's
description), later ones may document parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

QUERIES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    sql: str


def saved_queries(directory: Path = QUERIES_DIR) -> list[SavedQuery]:
    """Every saved query in `directory`, sorted by name. A file without a leading description comment is an error."""
    queries = []
    for path in sorted(directory.glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip()
        first = sql.splitlines()[0] if sql else ""
        if not first.startswith("--") or not first[2:].strip():
            raise ValueError(f"{path.name}: must start with a '-- what this query answers' comment line")
        queries.append(SavedQuery(name=path.stem, description=first[2:].strip(), sql=sql))
    return queries
