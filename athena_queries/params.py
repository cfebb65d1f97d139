"""Parameters of saved queries: declared in the file's header, written `{{name}}` in the SQL, rendered as literals.

A header line declares one parameter, its type and its default:

    -- @param since timestamp = now-24h  first event time included (UTC)

Types and how a value is rendered into Trino SQL (the same text is then transpiled for DuckDB):

    int        42                      -> 42
    float      2.5                     -> 2.5
    string     CS101                   -> 'CS101'  (quotes doubled)
    timestamp  2026-11-24T10:00[:00Z]  -> from_iso8601_timestamp('2026-11-24T10:00:00.000Z')
               now, now-90m, now-24h, now-7d -> current_timestamp [- INTERVAL '90' MINUTE]

Values are validated and rendered as literals, never pasted as SQL, so a parameter cannot change a query's shape.
Relative timestamps stay relative in the named query text (the Athena console runs it as "the last 24 hours");
Trino folds `current_timestamp` to a constant before planning, so partition projection still prunes on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

PARAM_TYPES: tuple[str, ...] = ("int", "float", "string", "timestamp")

_DECLARATION = re.compile(
    r"^--\s*@param\s+(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>\w+)\s*=\s*(?P<default>\S+)\s*(?P<doc>.*)$"
)
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_RELATIVE = re.compile(r"^now(?:-(?P<amount>\d{1,6})(?P<unit>[mhd]))?$")
_UNITS = {"m": "MINUTE", "h": "HOUR", "d": "DAY"}


class ParameterError(ValueError):
    """A parameter value (or declaration) is invalid; the message names the parameter."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: name, type (one of PARAM_TYPES), default value as written, and what it means."""

    name: str
    type: str
    default: str
    doc: str

    def render(self, value: str | None = None) -> str:
        """The Trino SQL literal for `value` (the default when None); ParameterError when it does not fit the type."""
        raw = self.default if value is None else value.strip()
        try:
            return _RENDERERS[self.type](raw)
        except ValueError as error:
            raise ParameterError(f"parameter {self.name} ({self.type}): {error}") from None


def parse_declaration(line: str) -> Param | None:
    """The Param a `-- @param ...` header line declares, None for other lines; ParameterError for a bad type."""
    match = _DECLARATION.match(line.strip())
    if not match:
        return None
    param = Param(match["name"], match["type"], match["default"], match["doc"].strip())
    if param.type not in PARAM_TYPES:
        raise ParameterError(f"parameter {param.name}: unknown type {param.type!r}; expected one of {PARAM_TYPES}")
    param.render()  # the default itself must be valid
    return param


def parse_timestamp(raw: str) -> datetime:
    """An absolute timestamp parameter as an aware UTC datetime (a naive value is UTC, like the event contract)."""
    text = raw[:-1] + "+00:00" if raw.endswith(("z", "Z")) else raw
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not ISO-8601 (2026-11-24T10:00Z) nor now, now-<n>m, now-<n>h, now-<n>d") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _int(raw: str) -> str:
    if not re.fullmatch(r"-?\d{1,18}", raw):
        raise ValueError(f"{raw!r} is not an integer")
    return str(int(raw))


def _float(raw: str) -> str:
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{raw!r} is not a finite number")
    # repr keeps full precision; Trino reads 2.5 as DECIMAL and 2.5E0 as DOUBLE, both compare correctly with doubles.
    return repr(number)


def _string(raw: str) -> str:
    return "'" + raw.replace("'", "''") + "'"


def _timestamp(raw: str) -> str:
    relative = _RELATIVE.match(raw)
    if relative:
        if not relative["amount"]:
            return "current_timestamp"
        return f"(current_timestamp - INTERVAL '{int(relative['amount'])}' {_UNITS[relative['unit']]})"
    moment = parse_timestamp(raw)
    iso = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f"from_iso8601_timestamp('{iso}')"


_RENDERERS = {"int": _int, "float": _float, "string": _string, "timestamp": _timestamp}


def render(template: str, params: tuple[Param, ...], values: dict[str, str] | None = None) -> str:
    """`template` with every `{{name}}` replaced by its value's literal (defaults where `values` has none).

    ParameterError for a value naming no declared parameter, or a placeholder that has no declaration.
    """
    values = values or {}
    declared = {p.name: p for p in params}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)}; this query takes: {known}")
    literals = {name: param.render(values.get(name)) for name, param in declared.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name not in literals:
            raise ParameterError(f"placeholder {{{{{name}}}}} has no '-- @param {name} ...' declaration")
        return literals[name]

    return PLACEHOLDER.sub(substitute, template)
