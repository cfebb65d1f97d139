"""Saved Athena queries: one `.sql` file each, the single source for the workgroup's named queries and the runner.

A file starts with `--` comment lines: the first says what the query answers (it becomes the named query's
description), later ones document the query and declare its parameters (`-- @param name type = default  doc`,
see athena_queries/params.py). The SQL refers to a parameter as `{{name}}`.

`SavedQuery.sql` is the query with every parameter at its default: what the named query holds, so it runs as-is in
the Athena console. `SavedQuery.template` keeps the placeholders; `SavedQuery.render(values)` fills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from athena_queries.params import PLACEHOLDER, Param, ParameterError, parse_declaration, render

QUERIES_DIR = Path(__file__).resolve().parent

__all__ = [
    "QUERIES_DIR", "Param", "ParameterError", "SavedQuery", "UnknownQueryError", "adhoc_query", "get_query",
    "saved_queries",
]  # fmt: skip


class UnknownQueryError(LookupError):
    """No saved query has that name."""


@dataclass(frozen=True)
class SavedQuery:
    """One saved query: file stem, description (first comment line), SQL at its defaults, template and parameters."""

    name: str
    description: str
    sql: str
    template: str = ""
    params: tuple[Param, ...] = field(default=())

    def render(self, values: dict[str, str] | None = None) -> str:
        """The Trino SQL to run, with `values` (name -> text, as given on the command line) over the defaults."""
        return render(self.template or self.sql, self.params, values)


def _load(path: Path) -> SavedQuery:
    template = path.read_text(encoding="utf-8").strip()
    lines = template.splitlines()
    first = lines[0] if lines else ""
    if not first.startswith("--") or not first[2:].strip():
        raise ValueError(f"{path.name}: must start with a '-- what this query answers' comment line")
    return _from_text(template, path.stem, path.name, first[2:].strip())


def adhoc_query(text: str, name: str = "sql") -> SavedQuery:
    """A query that is not saved (a .sql file, --sql text, stdin), read like a saved one.

    Header `-- @param` declarations and `{{name}}` placeholders work as in saved files; a description comment is
    optional. ParameterError for a bad declaration or a placeholder without one; ValueError for empty text.
    """
    template = text.strip()
    if not template or all(line.strip().startswith("--") for line in template.splitlines()):
        raise ValueError(f"{name}: no SQL to run")
    first = template.splitlines()[0]
    description = first[2:].strip() if first.startswith("--") else "ad-hoc query"
    try:
        return _from_text(template, name, name, description)
    except ValueError as error:
        raise ParameterError(str(error)) from None


def _from_text(template: str, name: str, label: str, description: str) -> SavedQuery:
    lines = template.splitlines()
    params: list[Param] = []
    for line in lines:
        if not line.startswith("--"):
            break  # declarations live in the header only
        try:
            param = parse_declaration(line)
        except ParameterError as error:
            raise ValueError(f"{label}: {error}") from None
        if param is not None:
            params.append(param)
    used = set(PLACEHOLDER.findall(template))
    declared = {p.name for p in params}
    if used - declared or declared - used:
        raise ValueError(
            f"{label}: placeholders {sorted(used)} and '@param' declarations {sorted(declared)} must match"
        )
    return SavedQuery(
        name=name,
        description=description,
        sql=render(template, tuple(params)),
        template=template,
        params=tuple(params),
    )


def saved_queries(directory: Path = QUERIES_DIR) -> list[SavedQuery]:
    """Every saved query in `directory`, sorted by name. A file without a leading description comment is an error."""
    return [_load(path) for path in sorted(directory.glob("*.sql"))]


def get_query(name: str, directory: Path = QUERIES_DIR) -> SavedQuery:
    """The saved query called `name` (file stem); UnknownQueryError listing the names when there is none."""
    queries = {q.name: q for q in saved_queries(directory)}
    if name not in queries:
        raise UnknownQueryError(f"no saved query {name!r}; saved queries: {', '.join(queries)}")
    return queries[name]
