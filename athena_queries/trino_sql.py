"""Athena (Trino) SQL to DuckDB SQL, or a refusal naming the construct: the local engine's translator.

The rule is "Athena's rows or a refusal, never a different answer", so translation works from an allowlist:

- Every function call is tagged with the name it was written with (sqlglot would otherwise turn
  `parse_datetime` into a look-alike node and forget the name). A name must be in SUPPORTED_FUNCTIONS, each of which
  tests/athena/test_trino_semantics.py checks against the examples in Trino's documentation; a name in
  REFUSED_FUNCTIONS is refused with its reason; any other name is refused as not verified locally.
- Functions whose DuckDB look-alikes differ (regular expressions, split_part, JSON, date_diff, Joda and MySQL
  date patterns, to_iso8601, reduce's finish, approx_percentile) are parsed as plain calls and rewritten here into
  DuckDB expressions or the `sl_*` functions athena_queries/trino_functions.py implements.
- Casts of doubles to integer types round half away from zero (Trino) instead of half to even (DuckDB); integer
  division truncates; UNNEST of a map becomes two zipped unnests; catalog and database prefixes are checked and
  dropped; Athena's hidden columns ($path, $file_size, $file_modified_time) read the views that carry them.
- Output columns are named as Trino names them: lower case, and `_col<i>` for an expression without a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.dialects.trino import Trino
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types

from athena_queries.trino_functions import DATE_DIFF_UNITS, TrinoFunctionError, parse_json_path

NAME_KEY = "trino_name"
UNNAMED_PREFIX = "__sl_unnamed_"
HIDDEN_COLUMNS: tuple[str, ...] = ("$path", "$file_size", "$file_modified_time")
HIDDEN_VIEW_PREFIX = "sl_hidden_"
DEFAULT_CATALOG = "awsdatacatalog"
REFUSED_AT_RUN_TIME = "is refused locally"  # in the error a macro raises for a value it cannot print as Trino


class LocalQueryError(RuntimeError):
    """The query cannot run locally, or DuckDB rejected it; the message says which construct and why."""


class UnsupportedConstructError(LocalQueryError):
    """The query uses an Athena construct the local engine does not reproduce faithfully; the message names it."""


# Functions the local engine runs with Trino's documented semantics (name -> how it runs locally, for docs/athena.md).
# Each has test vectors from Trino's documentation in tests/athena/test_trino_semantics.py.
SUPPORTED_FUNCTIONS: dict[str, str] = {
    # date and time
    "current_timestamp": "`CURRENT_TIMESTAMP` (UTC session)",
    "now": "`NOW()` (UTC session)",
    "current_date": "`CURRENT_DATE` (UTC session)",
    "from_iso8601_timestamp": "`CAST(… AS TIMESTAMPTZ)`; a literal with a non-UTC offset is refused",
    "from_iso8601_date": "`sl_from_iso8601_date` (calendar, week and ordinal dates)",
    "date_trunc": "`DATE_TRUNC` (a DATE stays a DATE)",
    "date_add": "`+ to_<unit>(n)` (months clamp to the month's end, as Joda)",
    "date_diff": "`sl_date_diff`: whole units elapsed, months/years as Joda counts them",
    "date_format": "`STRFTIME`, MySQL specifiers mapped one by one; unmappable ones refused",
    "date_parse": "`STRPTIME`, same mapping",
    "format_datetime": "`STRFTIME`, Joda pattern letters mapped one by one; unmappable letters refused",
    "parse_datetime": "`STRPTIME`, same mapping",
    "to_iso8601": "`sl_to_iso8601`: the timestamp's precision in digits (0, 3, 6, 9), UTC as `Z`",
    "to_unixtime": "`EPOCH`",
    "from_unixtime": "`TO_TIMESTAMP`",
    "year": "`YEAR`",
    "quarter": "`QUARTER`",
    "month": "`MONTH`",
    "week": "`WEEK` (ISO)",
    "day": "`DAY`",
    "day_of_week": "`ISODOW` (Monday = 1)",
    "day_of_year": "`DAYOFYEAR`",
    "dow": "`ISODOW` (alias of day_of_week)",
    "doy": "`DAYOFYEAR` (alias of day_of_year)",
    "day_of_month": "`DAYOFMONTH` (alias of day)",
    "week_of_year": "`WEEKOFYEAR` (ISO; alias of week)",
    "year_of_week": "`EXTRACT(ISOYEAR …)`",
    "last_day_of_month": "`LAST_DAY`",
    "date": "`CAST(… AS DATE)`",
    "hour": "`HOUR`",
    "minute": "`MINUTE`",
    "second": "`SECOND`",
    "extract": "`EXTRACT`",
    # math
    "abs": "`ABS`",
    "ceil": "`CEIL`",
    "ceiling": "`CEIL`",
    "floor": "`FLOOR`",
    "round": "`ROUND` (half away from zero on both)",
    "mod": "`%` (sign of the dividend on both)",
    "power": "`POWER`",
    "pow": "`POWER`",
    "sqrt": "`SQRT`",
    "cbrt": "`CBRT`",
    "exp": "`EXP`",
    "ln": "`LN`",
    "log10": "`LOG10`",
    "log2": "`LOG2`",
    "sign": "`SIGN`",
    "greatest": "`GREATEST` with a NULL guard",
    "least": "`LEAST` with a NULL guard",
    "truncate": "`TRUNC`",
    "pi": "`PI`",
    # conditional and conversion
    "coalesce": "`COALESCE`",
    "nullif": "`NULLIF`",
    "if": "`CASE WHEN`",
    "case": "`CASE`",
    "cast": "`CAST`; double to integer rounds half away from zero; double to varchar as Java prints it; "
    "timestamp to varchar refused",
    "try_cast": "`TRY_CAST`",
    "try": "`TRY` (a refused construct inside still fails; it is not turned into NULL)",
    # strings
    "concat": "`||`",
    "length": "`LENGTH`",
    "lower": "`LOWER`",
    "upper": "`sl_upper`: code point by code point, no one-to-many mappings",
    "substr": "`sl_substr`: start 0, or before the beginning, gives '' (DuckDB: the whole string)",
    "substring": "`sl_substr`",
    "strpos": "`STRPOS`",
    "replace": "`sl_replace` (an empty search inserts between characters)",
    "reverse": "`REVERSE`",
    "chr": "`CHR`",
    "trim": "`sl_trim` (Java whitespace: tabs and newlines too; DuckDB trims spaces only)",
    "ltrim": "`sl_trim`",
    "rtrim": "`sl_trim`",
    "lpad": "`LPAD`",
    "rpad": "`RPAD`",
    "split": "`STR_SPLIT`",
    "split_part": "`sl_split_part`: NULL past the last field",
    "starts_with": "`STARTS_WITH`",
    "translate": "`TRANSLATE`",
    # regular expressions
    "regexp_like": "`sl_regexp_like` (Java syntax, ASCII classes)",
    "regexp_extract": "`sl_regexp_extract`: NULL when nothing matches",
    "regexp_extract_all": "`sl_regexp_extract_all`",
    "regexp_replace": "`sl_regexp_replace` (`$1` group references)",
    "regexp_count": "`sl_regexp_count`",
    # JSON
    "json_extract": "`sl_json_extract`: NULL for text that is not JSON",
    "json_extract_scalar": "`sl_json_extract_scalar`: NULL for objects, arrays and text that is not JSON",
    "json_array_contains": "`sl_json_array_contains_<type>`",
    "json_array_length": "`sl_json_array_length`",
    "json_size": "`sl_json_size`",
    # arrays and maps
    "cardinality": "`LEN`",
    "contains": "`sl_contains`: NULL when absent but the array holds a NULL",
    "element_at": "`[i]` / map lookup",
    "array_join": "`ARRAY_TO_STRING`",
    "array_max": "`sl_array_max`: NULL if any element is NULL",
    "array_min": "`sl_array_min`: NULL if any element is NULL",
    "array_position": "`LIST_POSITION` (0 when absent)",
    "filter": "`LIST_FILTER`",
    "transform": "`LIST_TRANSFORM`",
    "reduce": "`LIST_REDUCE`, then the finish lambda",
    "map": "`MAP`",
    "map_keys": "`MAP_KEYS`",
    "map_values": "`MAP_VALUES`",
    # aggregates
    "count": "`COUNT`",
    "count_if": "`COUNT_IF`",
    "sum": "`SUM`",
    "avg": "`AVG`",
    "min": "`MIN`",
    "max": "`MAX`",
    "arbitrary": "`ANY_VALUE`",
    "max_by": "`ARG_MAX`",
    "min_by": "`ARG_MIN`",
    "stddev": "`STDDEV_SAMP`",
    "stddev_samp": "`STDDEV_SAMP`",
    "stddev_pop": "`STDDEV_POP`",
    "variance": "`VAR_SAMP`",
    "var_samp": "`VAR_SAMP`",
    "var_pop": "`VAR_POP`",
    "array_agg": "`LIST`",
    "bool_and": "`BOOL_AND`",
    "bool_or": "`BOOL_OR`",
    "approx_distinct": "`COUNT(DISTINCT …)`: exact (Athena's estimate has a 2.3% standard error)",
    "approx_percentile": "`QUANTILE_DISC`: the exact nearest-rank percentile (Athena's t-digest approximates it)",
    # window functions
    "row_number": "`ROW_NUMBER`",
    "rank": "`RANK`",
    "dense_rank": "`DENSE_RANK`",
    "ntile": "`NTILE`",
    "lag": "`LAG`",
    "lead": "`LEAD`",
    "first_value": "`FIRST_VALUE`",
    "last_value": "`LAST_VALUE`",
}

# Functions refused with a reason (name -> why), besides every name missing from SUPPORTED_FUNCTIONS.
REFUSED_FUNCTIONS: dict[str, str] = {
    "map_agg": "builds a MAP from key/value pairs; DuckDB's map functions differ in duplicate-key handling",
    "format": "formats Java-style (%s, %d); DuckDB's format() reads {} placeholders, so the text would be wrong. "
    "Use concat or ||",
    "histogram": "returns a MAP of value counts; no DuckDB translation",
    "approx_set": "builds a HyperLogLog sketch, an Athena-only type",
    "merge": "merges HyperLogLog/t-digest sketches, an Athena-only type",
    "tdigest_agg": "builds a t-digest, an Athena-only type",
    "at_timezone": "gives a timestamp in another zone; locally every timestamp is UTC",
    "with_timezone": "gives a timestamp in another zone; locally every timestamp is UTC",
}

# Parsed as plain calls (not sqlglot's look-alike nodes) so their arguments keep Trino's order for the rewrite.
_REWRITTEN: tuple[str, ...] = (
    "regexp_like", "regexp_extract", "regexp_extract_all", "regexp_replace", "regexp_count", "split_part",
    "json_extract", "json_extract_scalar", "json_array_contains", "json_array_length", "json_size", "date_diff",
    "date_add", "date_format", "date_parse", "format_datetime", "parse_datetime", "to_iso8601", "approx_percentile",
    "approx_distinct", "reduce", "from_iso8601_timestamp", "from_iso8601_date",
)  # fmt: skip


class AthenaTrino(Trino):
    """Trino as sqlglot reads it, remembering the name each function was called by."""

    class Parser(Trino.Parser):
        FUNCTIONS = {k: v for k, v in Trino.Parser.FUNCTIONS.items() if k.lower() not in _REWRITTEN}

        def _parse_function_call(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - sqlglot's signature
            token = self._curr
            result = super()._parse_function_call(*args, **kwargs)
            node = result
            while isinstance(node, exp.Window | exp.Filter | exp.IgnoreNulls | exp.RespectNulls):
                node = node.this
            if isinstance(node, exp.Func) and token is not None and NAME_KEY not in node.meta:
                node.meta[NAME_KEY] = token.text.lower()
            return result


@dataclass
class Translation:
    """DuckDB SQL for one Trino query, and whether it reads Athena's hidden columns (the views that carry them)."""

    duckdb_sql: str
    uses_hidden_columns: bool = False
    tables: set[str] = field(default_factory=set)


def parse(sql: str) -> exp.Expression:
    """The one statement of `sql`, which must be a query; LocalQueryError/UnsupportedConstructError otherwise."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=AthenaTrino) if s is not None]
    except ParseError as error:
        raise LocalQueryError(
            f"not valid Athena (Trino) SQL: {error.errors[0]['description'] if error.errors else error}"
        ) from None
    if len(statements) != 1:
        raise UnsupportedConstructError(f"expected one statement, got {len(statements)}: run them one at a time")
    statement = statements[0]
    if isinstance(statement, exp.Create):
        raise UnsupportedConstructError(
            "CREATE TABLE AS / CREATE VIEW (CTAS) writes to S3 and the Glue catalog; locally only SELECT queries run"
        )
    if not isinstance(statement, exp.Query):
        raise UnsupportedConstructError(
            f"{statement.key.upper()} statements are not queries (INSERT, DDL and MSCK change the catalog or the "
            "lake); locally only SELECT runs"
        )
    return statement


def function_name(node: exp.Func) -> str | None:
    """The name a function was called by in the Trino text; None for nodes built from syntax."""
    return node.meta.get(NAME_KEY)


def check_functions(statement: exp.Expression) -> None:
    """UnsupportedConstructError for the first function that is refused or not verified locally."""
    for node in statement.walk():
        if not isinstance(node, exp.Func):
            continue
        name = function_name(node)
        if name is None:
            # Built from syntax (operators, ARRAY[...], CASE, DATE '...'), not a call: every call is tagged.
            continue
        if name in REFUSED_FUNCTIONS:
            raise UnsupportedConstructError(f"{name}() {REFUSED_FUNCTIONS[name]}")
        if name not in SUPPORTED_FUNCTIONS:
            raise UnsupportedConstructError(
                f"{name}() is not among the functions checked against Trino's documentation locally "
                "(docs/athena.md lists them); run it on Athena"
            )


# -- tables ------------------------------------------------------------------------------------------------------


def _check_tables(statement: exp.Expression, databases: set[str], known_tables: set[str]) -> set[str]:
    """Drop `awsdatacatalog.` and a known database from table names; refuse other catalogs and databases."""
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    used: set[str] = set()
    for table in statement.find_all(exp.Table):
        if not table.name:
            continue
        if table.catalog and table.catalog.lower() != DEFAULT_CATALOG:
            raise UnsupportedConstructError(
                f"catalog-qualified table {table.sql(dialect='trino')}: '{table.catalog}' is not Athena's default "
                f"data catalog ({DEFAULT_CATALOG}); locally there is only that one"
            )
        if table.db and table.db.lower() not in databases:
            raise UnsupportedConstructError(
                f"table {table.sql(dialect='trino')}: database '{table.db}' is not the lake's Glue database "
                f"({', '.join(sorted(databases))})"
            )
        table.set("catalog", None)
        table.set("db", None)
        name = table.name.lower()
        if name in known_tables and name not in ctes:
            used.add(name)
    return used


def _hidden_columns(statement: exp.Expression) -> bool:
    found = False
    for column in statement.find_all(exp.Column):
        if column.name.startswith("$"):
            if column.name.lower() not in HIDDEN_COLUMNS:
                raise UnsupportedConstructError(
                    f'"{column.name}" is not one of Athena\'s hidden columns ({", ".join(HIDDEN_COLUMNS)})'
                )
            column.this.set("this", column.name.lower())
            column.this.set("quoted", True)
            found = True
    return found


def _use_hidden_views(statement: exp.Expression, lake_tables: set[str]) -> None:
    """Read lake tables from the views that carry the hidden columns; `*` still shows only the table's columns."""
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    hidden_aliases: dict[int, set[str]] = {}
    for table in list(statement.find_all(exp.Table)):
        name = table.name.lower()
        if name not in lake_tables or name in ctes:
            continue
        alias = table.alias_or_name
        table.set("this", exp.to_identifier(HIDDEN_VIEW_PREFIX + name))
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        select = table.find_ancestor(exp.Select)
        if select is not None:
            hidden_aliases.setdefault(id(select), set()).add(alias.lower())
    excluded = [exp.column(c, quoted=True) for c in HIDDEN_COLUMNS]
    for select in statement.find_all(exp.Select):
        aliases = hidden_aliases.get(id(select))
        if not aliases:
            continue
        for projection in select.expressions:
            if isinstance(projection, exp.Star):
                if len(aliases) == 1 and _source_count(select) == 1:
                    projection.set("except_", [c.copy() for c in excluded])
                else:
                    raise UnsupportedConstructError(
                        'SELECT * over a join that reads "$path" (or another hidden column): name the columns'
                    )
            elif (
                isinstance(projection, exp.Column)
                and isinstance(projection.this, exp.Star)
                and projection.table.lower() in aliases
            ):
                projection.this.set("except_", [c.copy() for c in excluded])


def _source_count(select: exp.Select) -> int:
    from_ = select.args.get("from_") or select.args.get("from")
    return (1 if from_ else 0) + len(select.args.get("joins") or [])


# -- functions ---------------------------------------------------------------------------------------------------


def _anon(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _literal_text(node: exp.Expression, what: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    raise UnsupportedConstructError(f"{what} must be a string literal locally (it is checked before running)")


def _args(node: exp.Anonymous, name: str, counts: tuple[int, ...]) -> list[exp.Expression]:
    args = list(node.expressions)
    if len(args) not in counts:
        raise UnsupportedConstructError(
            f"{name}() with {len(args)} arguments: locally it takes {' or '.join(map(str, counts))}"
        )
    return args


def _cast(node: exp.Expression, to: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(to))


# MySQL specifiers (Trino's date_format / date_parse) -> DuckDB strftime / strptime; None: no faithful mapping.
_MYSQL_FORMAT: dict[str, str | None] = {
    "a": "%a", "b": "%b", "c": "%-m", "d": "%d", "e": "%-d", "f": "%f", "H": "%H", "h": "%I", "I": "%I",
    "i": "%M", "j": "%j", "k": "%-H", "l": "%-I", "M": "%B", "m": "%m", "p": "%p", "r": "%I:%M:%S %p",
    "S": "%S", "s": "%S", "T": "%H:%M:%S", "v": "%V", "W": "%A", "Y": "%Y", "y": "%y", "%": "%%",
    "D": None, "U": None, "u": None, "V": None, "w": None, "X": None, "x": None,
}  # fmt: skip
_MYSQL_PARSE: dict[str, str | None] = {
    **_MYSQL_FORMAT, "c": "%m", "e": "%d", "k": "%H", "l": "%I", "y": None, "f": None, "v": None, "a": None,
    "W": None, "j": None,
}  # fmt: skip


def mysql_pattern(pattern: str, *, parsing: bool) -> str:
    """Trino's MySQL-style `pattern` as a DuckDB strftime/strptime pattern; refuses specifiers it cannot map."""
    table = _MYSQL_PARSE if parsing else _MYSQL_FORMAT
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "%" and i + 1 < len(pattern):
            spec = pattern[i + 1]
            if spec in table:
                mapped = table[spec]
                if mapped is None:
                    raise UnsupportedConstructError(
                        f"date_{'parse' if parsing else 'format'}() specifier %{spec} has no faithful local "
                        "equivalent (or Trino does not support it)"
                    )
                out.append(mapped)
            else:
                out.append("%%" if spec == "%" else spec)  # Trino: %x is x for any x not listed
            i += 2
        else:
            out.append("%%" if char == "%" else char)
            i += 1
    return "".join(out)


# Joda-Time letters (format_datetime / parse_datetime) -> DuckDB by repeat count; the last entry covers more.
_JODA_FORMAT: dict[str, dict[int, str]] = {
    "y": {1: "%Y", 2: "%y", 3: "%Y", 4: "%Y"},
    "Y": {1: "%Y", 2: "%y", 3: "%Y", 4: "%Y"},
    "M": {1: "%-m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%-d", 2: "%d"},
    "H": {1: "%-H", 2: "%H"},
    "h": {1: "%-I", 2: "%I"},
    "m": {1: "%-M", 2: "%M"},
    "s": {1: "%-S", 2: "%S"},
    "S": {3: "%g", 6: "%f"},
    "a": {1: "%p"},
    "E": {1: "%a", 2: "%a", 3: "%a", 4: "%A"},
    "D": {1: "%-j", 3: "%j"},
    "e": {1: "%u"},
    "w": {2: "%V"},
    "x": {4: "%G"},
    # Every local timestamp is UTC, so the zone prints as Joda prints UTC.
    "Z": {1: "+0000", 2: "+00:00", 3: "UTC"},
    "z": {1: "UTC", 2: "UTC", 3: "UTC"},
    "G": {1: "AD", 2: "AD", 3: "AD"},
}
_JODA_PARSE: dict[str, dict[int, str]] = {
    "y": {1: "%Y", 3: "%Y", 4: "%Y"},
    "M": {1: "%m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%d", 2: "%d"},
    "H": {1: "%H", 2: "%H"},
    "h": {1: "%I", 2: "%I"},
    "m": {1: "%M", 2: "%M"},
    "s": {1: "%S", 2: "%S"},
    "S": {3: "%g", 6: "%f"},
    "a": {1: "%p"},
    "Z": {1: "%z", 2: "%z"},
    "E": {3: "%a", 4: "%A"},
}
_FULL_TEXT_FROM = {"M": 4, "E": 4}  # MMMM and longer, EEEE and longer: the full name


def joda_pattern(pattern: str, *, parsing: bool) -> str:
    """A Joda-Time `pattern` as a DuckDB pattern, letter by letter; refuses letters (or counts) it cannot map."""
    table = _JODA_PARSE if parsing else _JODA_FORMAT
    what = "parse_datetime" if parsing else "format_datetime"
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            if end == -1:
                raise UnsupportedConstructError(f"{what}() pattern {pattern!r} has an unterminated quote")
            literal = pattern[i + 1 : end] if end > i + 1 else "'"
            out.append(literal.replace("%", "%%"))
            i = end + 1
            continue
        if char.isascii() and char.isalpha():
            count = 1
            while i + count < len(pattern) and pattern[i + count] == char:
                count += 1
            counts = table.get(char)
            if counts is not None and char in _FULL_TEXT_FROM and count > _FULL_TEXT_FROM[char]:
                count = _FULL_TEXT_FROM[char]
            mapped = counts.get(count) if counts else None
            if mapped is None:
                raise UnsupportedConstructError(
                    f"{what}() pattern letter '{char}' repeated {count} time(s) has no faithful local mapping "
                    f"(mapped letters: {', '.join(table)})"
                )
            out.append(mapped)
            i += count
            continue
        out.append("%%" if char == "%" else char)
        i += 1
    return "".join(out)


_ADD_UNITS = {
    "millisecond": ("to_milliseconds", 1),
    "second": ("to_seconds", 1),
    "minute": ("to_minutes", 1),
    "hour": ("to_hours", 1),
    "day": ("to_days", 1),
    "week": ("to_weeks", 1),
    "month": ("to_months", 1),
    "quarter": ("to_months", 3),
    "year": ("to_years", 1),
}
_UTC_OFFSET = re.compile(r"(Z|[+-]00:?00)$", re.IGNORECASE)
_HAS_OFFSET = re.compile(r"T.*([+-]\d\d(:?\d\d)?|Z)$", re.IGNORECASE)


def _is_date(node: exp.Expression) -> bool:
    return node.type is not None and node.type.is_type(exp.DataType.Type.DATE)


def _json_needle_type(needle: exp.Expression) -> str:
    if isinstance(needle, exp.Boolean):
        return "boolean"
    if isinstance(needle, exp.Literal):
        if needle.is_string:
            return "varchar"
        return "bigint" if re.fullmatch(r"-?\d+", needle.this) else "double"
    if needle.type is not None and not needle.type.is_type(exp.DataType.Type.UNKNOWN):
        if needle.type.is_type(*exp.DataType.INTEGER_TYPES):
            return "bigint"
        if needle.type.is_type(*exp.DataType.REAL_TYPES):
            return "double"
        if needle.type.is_type(*exp.DataType.TEXT_TYPES):
            return "varchar"
        if needle.type.is_type(exp.DataType.Type.BOOLEAN):
            return "boolean"
    raise UnsupportedConstructError(
        "json_array_contains() needs a value whose type is known before running (a literal or a typed column)"
    )


def _rewrite_call(node: exp.Anonymous) -> exp.Expression:
    """The DuckDB expression for one of the _REWRITTEN Trino functions."""
    name = function_name(node) or node.name.lower()
    if name in ("regexp_like", "regexp_count"):
        return _anon(f"sl_{name}", *_args(node, name, (2,)))
    if name in ("regexp_extract", "regexp_extract_all"):
        args = _args(node, name, (2, 3))
        return _anon(f"sl_{name}", *args, *([exp.Literal.number(0)] if len(args) == 2 else []))
    if name == "regexp_replace":
        args = _args(node, name, (2, 3))
        if len(args) == 3 and isinstance(args[2], exp.Lambda):
            raise UnsupportedConstructError("regexp_replace() with a lambda replacement is not supported locally")
        return _anon("sl_regexp_replace", *args, *([exp.Literal.string("")] if len(args) == 2 else []))
    if name == "split_part":
        return _anon("sl_split_part", *_args(node, name, (3,)))
    if name in ("json_extract", "json_extract_scalar", "json_size"):
        document, path = _args(node, name, (2,))
        if isinstance(path, exp.Literal) and path.is_string:
            try:
                parse_json_path(path.this)
            except TrinoFunctionError as error:
                raise UnsupportedConstructError(f'{name}(): {error} (locally: $, .key, ["key"], [n])') from None
        return _anon(f"sl_{name}", _cast(document, "varchar"), path)
    if name == "json_array_length":
        (document,) = _args(node, name, (1,))
        return _anon("sl_json_array_length", _cast(document, "varchar"))
    if name == "json_array_contains":
        document, needle = _args(node, name, (2,))
        return _anon(f"sl_json_array_contains_{_json_needle_type(needle)}", _cast(document, "varchar"), needle)
    if name == "date_diff":
        unit, start, end = _args(node, name, (3,))
        unit_name = _literal_text(unit, "date_diff()'s unit").lower()
        if unit_name not in DATE_DIFF_UNITS:
            raise UnsupportedConstructError(f"date_diff() unit '{unit_name}': Trino takes {', '.join(DATE_DIFF_UNITS)}")
        return _anon("sl_date_diff", exp.Literal.string(unit_name), _cast(start, "timestamp"), _cast(end, "timestamp"))
    if name == "date_add":
        unit, value, moment = _args(node, name, (3,))
        unit_name = _literal_text(unit, "date_add()'s unit").lower()
        if unit_name not in _ADD_UNITS:
            raise UnsupportedConstructError(f"date_add() unit '{unit_name}': Trino takes {', '.join(_ADD_UNITS)}")
        function, factor = _ADD_UNITS[unit_name]
        amount: exp.Expression = _cast(value, "bigint")
        if factor != 1:
            amount = exp.Mul(this=amount, expression=exp.Literal.number(factor))
        added = exp.Paren(this=exp.Add(this=moment, expression=_anon(function, amount)))
        return _cast(added, "date") if _is_date(moment) else added
    if name in ("date_format", "format_datetime"):
        moment, pattern = _args(node, name, (2,))
        text = _literal_text(pattern, f"{name}()'s pattern")
        mapped = mysql_pattern(text, parsing=False) if name == "date_format" else joda_pattern(text, parsing=False)
        return _anon("strftime", moment, exp.Literal.string(mapped))
    if name == "date_parse":
        string, pattern = _args(node, name, (2,))
        mapped = mysql_pattern(_literal_text(pattern, "date_parse()'s pattern"), parsing=True)
        return _cast(_anon("strptime", string, exp.Literal.string(mapped)), "timestamp")
    if name == "parse_datetime":
        string, pattern = _args(node, name, (2,))
        mapped = joda_pattern(_literal_text(pattern, "parse_datetime()'s pattern"), parsing=True)
        return _cast(_anon("strptime", string, exp.Literal.string(mapped)), "timestamptz")
    if name == "to_iso8601":
        (value,) = _args(node, name, (1,))
        precision = node.meta.get("precision", 3)
        if precision not in _FRACTIONS:
            raise UnsupportedConstructError(
                f"to_iso8601() of a timestamp({precision}): locally only precisions 0, 3, 6 and 9 print as Trino's"
            )
        return _anon("sl_to_iso8601", value, exp.Literal.string(_FRACTIONS[precision]))
    if name == "from_iso8601_timestamp":
        (text,) = _args(node, name, (1,))
        literal = text.this if isinstance(text, exp.Literal) and text.is_string else ""
        if _HAS_OFFSET.search(literal) and not _UTC_OFFSET.search(literal):
            raise UnsupportedConstructError(
                f"from_iso8601_timestamp('{text.this}') keeps the literal's UTC offset in Trino (hour() and "
                "date_format() read the local wall time there); locally every timestamp is UTC: write it in UTC"
            )
        return _cast(text, "timestamptz")
    if name == "from_iso8601_date":
        return _anon("sl_from_iso8601_date", *_args(node, name, (1,)))
    if name == "approx_percentile":
        args = _args(node, name, (2, 3))
        if len(args) == 3:
            raise UnsupportedConstructError("approx_percentile() with weights is not supported locally")
        return _anon("quantile_disc", *args)
    if name == "approx_distinct":
        args = _args(node, name, (1, 2))
        return exp.Count(this=exp.Distinct(expressions=[args[0]]))
    if name == "reduce":
        array, initial, step, finish = _args(node, name, (4,))
        reduced = _anon("list_reduce", array, step, initial)
        applied = _anon("list_transform", exp.Array(expressions=[reduced]), finish)
        return _anon("list_extract", applied, exp.Literal.number(1))
    raise AssertionError(name)  # every _REWRITTEN name is handled above


def _type_columns(statement: exp.Expression, schema: dict[str, dict[str, str]]) -> None:
    """Give unqualified lake columns their Glue type (sqlglot types only qualified ones from the schema).

    Every lake table types a column name the same way (they share the all_events schema), so the name is enough;
    a CTE or subquery column of the same name keeps whatever sqlglot inferred for it.
    """
    types: dict[str, str] = {}
    for columns in schema.values():
        types.update({name.lower(): kind for name, kind in columns.items()})
    derived = {a.alias.lower() for a in statement.find_all(exp.Alias)}
    for column in statement.find_all(exp.Column):
        name = column.name.lower()
        unknown = column.type is None or column.type.is_type(exp.DataType.Type.UNKNOWN)
        if unknown and name in types and name not in derived:
            column.type = exp.DataType.build(types[name])


# Fractional seconds as Trino prints a timestamp(p) (to_iso8601), for the precisions DuckDB's strftime can print.
_FRACTIONS = {0: "", 3: ".%g", 6: ".%f", 9: ".%n"}
# Functions whose result has their (last) timestamp argument's precision; other timestamp-valued ones give 3.
_KEEPS_PRECISION = {"date_trunc", "date_add", "max", "min", "arbitrary", "max_by", "min_by", "coalesce"}


def _precision(node: exp.Expression) -> int:
    """The precision p of a Trino timestamp(p) expression: typed literals and casts say it, most functions give 3."""
    if isinstance(node, exp.Paren | exp.AtTimeZone):
        return _precision(node.this)
    if isinstance(node, exp.Cast):
        params = node.to.expressions
        if params and isinstance(params[0].this, exp.Literal):
            return int(params[0].this.this)
        return 3  # a bare TIMESTAMP is timestamp(3)
    if isinstance(node, exp.Func) and function_name(node) in _KEEPS_PRECISION:
        args = [a for a in node.iter_expressions() if isinstance(a, exp.Cast | exp.Func | exp.Paren | exp.Column)]
        return max((_precision(a) for a in args), default=3)
    return 3


def _note_precisions(statement: exp.Expression) -> None:
    for node in statement.find_all(exp.Anonymous):
        if function_name(node) == "to_iso8601" and node.expressions:
            node.meta["precision"] = _precision(node.expressions[0])


def _round_integer_casts(statement: exp.Expression) -> None:
    """CAST(double AS bigint/integer/...) rounds half away from zero in Trino, half to even in DuckDB."""
    for cast in list(statement.find_all(exp.Cast, exp.TryCast)):
        if not cast.to.is_type(*exp.DataType.INTEGER_TYPES):
            continue
        operand = cast.this
        kind = operand.type
        if isinstance(operand, exp.Paren):
            kind = operand.this.type
        if kind is None or kind.is_type(exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
            # Type not known before running: DECIMAL rounds half away from zero in DuckDB, like Trino for doubles.
            operand.replace(_cast(operand.copy(), "decimal(38, 17)"))
        elif kind.is_type(*exp.DataType.REAL_TYPES) and not kind.is_type(exp.DataType.Type.DECIMAL):
            operand.replace(_anon("round", operand.copy()))


def _text_casts(statement: exp.Expression) -> None:
    """CAST(x AS varchar) where x may be a double or a timestamp (sl_to_varchar decides by the value's type).

    Trino prints a double as Java's Double.toString (1.0E7; DuckDB: 10000000.0) and a timestamp at its declared
    precision with its zone ('2026-11-24 10:00:00.000 UTC'), which DuckDB does not track: the macro refuses that
    one at run time, naming it. Text, integers, booleans, decimals and dates print alike and are left alone.
    """
    same_text = (
        *exp.DataType.TEXT_TYPES, *exp.DataType.INTEGER_TYPES, exp.DataType.Type.BOOLEAN,
        exp.DataType.Type.DECIMAL, exp.DataType.Type.DATE,
    )  # fmt: skip
    for cast in list(statement.find_all(exp.Cast, exp.TryCast)):
        if not cast.to.is_type(*exp.DataType.TEXT_TYPES):
            continue
        operand = cast.this
        if operand.type is not None and operand.type.is_type(*same_text):
            continue
        cast.replace(_anon("sl_to_varchar", operand.copy()))


def _collections(statement: exp.Expression) -> None:
    """contains() is NULL, not false, when the element is absent but the array holds a NULL; array_max/array_min
    are NULL when any element is; date_trunc of a DATE stays a DATE. (Trino semantics, all three.)"""
    for node in list(statement.find_all(exp.Func)):
        name = function_name(node)
        if name == "contains":
            node.replace(_anon("sl_contains", node.this.copy(), node.expression.copy()))
        elif name in ("array_max", "array_min"):
            node.replace(_anon(f"sl_{name}", node.this.copy()))
        elif name == "date_trunc" and _is_date(node.this):
            node.replace(_cast(node.copy(), "date"))


def _strings(statement: exp.Expression) -> None:
    """trim() of whitespace, substr(), replace() and upper() as Trino defines them (trino_functions.py)."""
    for node in list(statement.find_all(exp.Func)):
        name = function_name(node)
        if name == "replace":
            args = [node.this, node.expression, node.args.get("replacement")]
            if args[2] is None:
                args[2] = exp.Literal.string("")
            node.replace(_anon("sl_replace", *(a.copy() for a in args)))
        elif name == "upper":
            node.replace(_anon("sl_upper", node.this.copy()))
    for node in list(statement.find_all(exp.Trim, exp.Substring)):
        if isinstance(node, exp.Trim):
            if node.args.get("expression") is not None:
                continue  # trim(chars FROM x): DuckDB's trim(x, chars) removes the same characters
            position = (node.text("position") or "BOTH").lower()
            side = {"both": "both", "leading": "leading", "trailing": "trailing"}[position]
            node.replace(_anon("sl_trim", node.this.copy(), exp.Literal.string(side)))
        else:
            length = node.args.get("length")
            args = [node.this.copy(), _cast(node.args["start"].copy(), "bigint")]
            if length is not None:
                args.append(_cast(length.copy(), "bigint"))
            node.replace(_anon("sl_substr3" if length is not None else "sl_substr2", *args))


def _unnest_maps(statement: exp.Expression) -> None:
    """UNNEST(map) AS t(k, v) -> a lateral subquery unnesting map_keys and map_values side by side."""
    for unnest in list(statement.find_all(exp.Unnest)):
        alias = unnest.args.get("alias")
        columns = alias.columns if alias is not None else []
        if unnest.args.get("offset"):
            raise UnsupportedConstructError("UNNEST ... WITH ORDINALITY is not supported locally")
        if len(unnest.expressions) != 1 or len(columns) != 2 or not _is_map(unnest.expressions[0], statement):
            continue
        value = unnest.expressions[0]
        keys = exp.alias_(exp.Unnest(expressions=[_anon("map_keys", value.copy())]), columns[0].copy())
        values = exp.alias_(exp.Unnest(expressions=[_anon("map_values", value.copy())]), columns[1].copy())
        subquery = exp.select(keys, values).subquery(alias.name or "_u")
        unnest.replace(subquery)


_MAP_FUNCTIONS = {"map", "map_from_entries", "map_concat", "map_filter", "transform_values", "split_to_map"}


def _is_map(node: exp.Expression, statement: exp.Expression) -> bool:
    if node.type is not None and node.type.is_type(exp.DataType.Type.MAP):
        return True
    if isinstance(node, exp.Func) and function_name(node) in _MAP_FUNCTIONS:
        return True
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.MAP):
        return True
    if isinstance(node, exp.Column):
        # A column defined as a map in a CTE or subquery of the same statement.
        for select in statement.find_all(exp.Select):
            for projection in select.expressions:
                if (
                    isinstance(projection, exp.Alias)
                    and projection.alias.lower() == node.name.lower()
                    and projection.this is not node
                    and _is_map(projection.this, statement)
                ):
                    return True
    return False


def _check_time_zones(statement: exp.Expression) -> None:
    for node in statement.find_all(exp.AtTimeZone):
        zone = node.args.get("zone")
        if not (isinstance(zone, exp.Literal) and zone.this.upper() in ("UTC", "Z", "+00:00")):
            raise UnsupportedConstructError(
                f"{node.sql(dialect='trino')}: a timestamp in another time zone; locally every timestamp is UTC"
            )


_TIMESTAMP_LITERAL = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[ T](?P<hm>\d{1,2}:\d{2})(?P<sec>:\d{2}(?:\.\d+)?)?)?\s*(?P<zone>\S+)?$"
)


def _timestamp_literals(statement: exp.Expression) -> None:
    """TIMESTAMP '2020-03-01 00:00' and '... UTC' as DuckDB reads them; literals in other zones are refused."""
    for cast in list(statement.find_all(exp.Cast)):
        literal = cast.this
        if not (isinstance(literal, exp.Literal) and literal.is_string):
            continue
        if not cast.to.is_type(exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ):
            continue
        match = _TIMESTAMP_LITERAL.match(literal.this.strip())
        if not match:
            continue
        zone = match["zone"]
        if zone and zone.upper() not in ("UTC", "Z", "+00:00", "+00"):
            raise UnsupportedConstructError(
                f"TIMESTAMP '{literal.this}' is in time zone {zone}; locally every timestamp is UTC: write it in UTC"
            )
        text = match["date"] + (f" {match['hm']}{match['sec'] or ':00'}" if match["hm"] else "")
        literal.set("this", text)
        if zone:
            cast.set("to", exp.DataType(this=exp.DataType.Type.TIMESTAMPTZ, expressions=cast.to.expressions))


def _array_operators(statement: exp.Expression) -> None:
    """ARRAY || element and element || ARRAY append and prepend in Trino; DuckDB refuses to bind them."""
    for pipe in list(statement.find_all(exp.DPipe)):
        left, right = pipe.this, pipe.expression
        left_array = left.type is not None and left.type.is_type(exp.DataType.Type.ARRAY)
        right_array = right.type is not None and right.type.is_type(exp.DataType.Type.ARRAY)
        if left_array and not right_array:
            pipe.replace(_anon("list_append", left.copy(), right.copy()))
        elif right_array and not left_array:
            pipe.replace(_anon("list_prepend", left.copy(), right.copy()))
        elif left_array and right_array:
            pipe.replace(_anon("list_concat", left.copy(), right.copy()))


def _cardinality(statement: exp.Expression) -> None:
    """cardinality() of a map is DuckDB's cardinality(); of an array, len()."""
    for node in list(statement.find_all(exp.Func)):
        if function_name(node) != "cardinality":
            continue
        (value,) = [node.this] if node.this is not None else node.expressions
        node.replace(_anon("cardinality" if _is_map(value, statement) else "len", value.copy()))


# EXTRACT fields whose DuckDB namesakes count differently (DuckDB's DOW is 0 for Sunday; Trino's is ISO, 7).
_EXTRACT_FIELDS = {"dow": "isodow", "day_of_week": "isodow", "yow": "isoyear", "year_of_week": "isoyear",
                   "doy": "doy", "day_of_year": "doy", "day_of_month": "day"}  # fmt: skip


def _extract_fields(statement: exp.Expression) -> None:
    for node in statement.find_all(exp.Extract):
        part = node.this.name.lower() if isinstance(node.this, exp.Var | exp.Identifier | exp.Column) else ""
        if part in _EXTRACT_FIELDS:
            node.set("this", exp.var(_EXTRACT_FIELDS[part].upper()))
        elif part in ("timezone_hour", "timezone_minute"):
            raise UnsupportedConstructError(f"EXTRACT({part.upper()} ...): locally every timestamp is UTC")


def _numeric_results(statement: exp.Expression) -> None:
    """sign() of a double is a double in Trino (DuckDB: an integer); array_position() is 0 when absent (not NULL)."""
    for node in list(statement.find_all(exp.Func)):
        name = function_name(node)
        if name == "sign":
            operand = node.this
            if operand.type is not None and operand.type.is_type(exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
                node.replace(_cast(node.copy(), "double"))
        elif name == "array_position":
            args = [node.this, *node.expressions] if node.this is not None else list(node.expressions)
            if node.args.get("expression") is not None:
                args = [node.this, node.expression]
            array, element = args[0], args[1]
            position = _anon("coalesce", _anon("list_position", array.copy(), element.copy()), exp.Literal.number(0))
            node.replace(exp.If(this=exp.Is(this=array.copy(), expression=exp.Null()), true=exp.Null(), false=position))


def _date_arithmetic(statement: exp.Expression) -> None:
    """DATE +/- INTERVAL of days, months or years stays a DATE in Trino (DuckDB gives a TIMESTAMP)."""
    for node in list(statement.find_all(exp.Add, exp.Sub)):
        if isinstance(node.expression, exp.Interval) and _is_date(node.this):
            unit = node.expression.text("unit").lower()
            if unit in ("day", "week", "month", "year"):
                node.replace(_cast(exp.Paren(this=node.copy()), "date"))


def _name_outputs(statement: exp.Expression) -> None:
    """Give expressions without a name a placeholder alias; the engine renames them _col<i> by position."""
    select = statement
    while not isinstance(select, exp.Select):
        if isinstance(select, exp.SetOperation | exp.Subquery):
            select = select.this
        else:
            return
    for index, projection in enumerate(list(select.expressions)):
        if isinstance(projection, exp.Alias | exp.Column | exp.Star):
            continue
        projection.replace(exp.alias_(projection.copy(), f"{UNNAMED_PREFIX}{index}", quoted=True))


def _integer_division(statement: exp.Expression) -> None:
    """Integer / integer truncates toward zero in Trino, and dividing an integer by zero fails the query there
    ("Division by zero"), where DuckDB would give NULL; % by zero likewise."""
    for division in list(statement.find_all(exp.Div)):
        left, right = division.this, division.expression
        if _is_integer(left) and _is_integer(right):
            division.replace(_anon("sl_int_div", left.copy(), right.copy()))
    for modulo in list(statement.find_all(exp.Mod)):
        left, right = modulo.this, modulo.expression
        if _is_integer(left) and _is_integer(right):
            modulo.replace(_anon("sl_int_mod", left.copy(), right.copy()))


def _is_integer(node: exp.Expression) -> bool:
    return node.type is not None and node.type.is_type(*exp.DataType.INTEGER_TYPES)


def translate(
    sql: str, *, databases: set[str], schema: dict[str, dict[str, str]], lake_tables: set[str]
) -> Translation:
    """Trino `sql` as DuckDB SQL over the local views, or UnsupportedConstructError naming what cannot run.

    `databases`: names a table may be qualified with (the lake's Glue database); `schema`: table -> column -> Trino
    type, so casts and divisions know their operand types; `lake_tables`: the views over the lake.
    """
    statement = parse(sql)
    check_functions(statement)
    _check_time_zones(statement)
    used = _check_tables(statement, {d.lower() for d in databases}, lake_tables)
    hidden = _hidden_columns(statement)
    _timestamp_literals(statement)
    annotate_types(statement, schema=schema, dialect=AthenaTrino)
    _type_columns(statement, schema)
    _integer_division(statement)
    _date_arithmetic(statement)
    _array_operators(statement)
    _cardinality(statement)
    _extract_fields(statement)
    _numeric_results(statement)
    _round_integer_casts(statement)
    _text_casts(statement)
    _strings(statement)
    _collections(statement)
    _unnest_maps(statement)
    _note_precisions(statement)
    for node in reversed(list(statement.walk())):
        if isinstance(node, exp.Anonymous) and function_name(node) in _REWRITTEN:
            node.replace(_rewrite_call(node))
    if hidden:
        _use_hidden_views(statement, lake_tables)
    _name_outputs(statement)
    try:
        # RAISE: sqlglot otherwise warns and drops what DuckDB cannot express (strpos's third argument, ...).
        duckdb_sql = statement.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        raise UnsupportedConstructError(f"no faithful DuckDB translation: {error}") from None
    return Translation(duckdb_sql, hidden, used)


# DuckDB macros the translation calls (created on every connection).
MACROS: tuple[str, ...] = (
    "CREATE OR REPLACE MACRO sl_has_null(a) AS list_contains(list_transform(a, e -> e IS NULL), true)",
    "CREATE OR REPLACE MACRO sl_contains(a, x) AS CASE WHEN a IS NULL OR x IS NULL THEN NULL "
    "WHEN list_contains(a, x) THEN true WHEN sl_has_null(a) THEN NULL ELSE false END",
    "CREATE OR REPLACE MACRO sl_array_max(a) AS CASE WHEN sl_has_null(a) THEN NULL ELSE list_max(a) END",
    "CREATE OR REPLACE MACRO sl_array_min(a) AS CASE WHEN sl_has_null(a) THEN NULL ELSE list_min(a) END",
    "CREATE OR REPLACE MACRO sl_to_varchar(x) AS CASE "
    "WHEN typeof(x) LIKE 'TIMESTAMP%' OR typeof(x) LIKE 'TIME%' THEN error('CAST(timestamp AS varchar) is refused "
    "locally: Trino prints the declared precision and zone (2026-11-24 10:00:00.000 UTC), which the local engine "
    "does not track; use date_format(), format_datetime() or to_iso8601()') "
    "WHEN typeof(x) = 'DOUBLE' THEN sl_double_to_varchar(TRY_CAST(CAST(x AS VARCHAR) AS DOUBLE)) "
    "WHEN typeof(x) = 'FLOAT' THEN error('CAST(real AS varchar) is refused locally: Trino prints Java''s "
    "Float.toString; cast to double first') "
    "ELSE CAST(x AS VARCHAR) END",
    # sl_fail (a Python function) rather than error(): TRY() can catch it, as Trino's TRY catches division by zero.
    "CREATE OR REPLACE MACRO sl_int_div(a, b) AS CASE WHEN b = 0 THEN sl_fail('Division by zero') ELSE a // b END",
    "CREATE OR REPLACE MACRO sl_int_mod(a, b) AS CASE WHEN b = 0 THEN sl_fail('Division by zero') ELSE a % b END",
    "CREATE OR REPLACE MACRO sl_to_iso8601(x, fraction) AS CASE "
    "WHEN typeof(x) = 'DATE' THEN strftime(x, '%Y-%m-%d') "
    "WHEN typeof(x) = 'TIMESTAMP WITH TIME ZONE' THEN strftime(x, '%Y-%m-%dT%H:%M:%S' || fraction || 'Z') "
    "ELSE strftime(x, '%Y-%m-%dT%H:%M:%S' || fraction) END",
)
