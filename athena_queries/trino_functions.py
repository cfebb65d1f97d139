"""Trino functions whose DuckDB look-alikes answer differently, written out in Python from Trino's documentation.

The local engine (athena_queries/local.py) registers these as DuckDB scalar functions named `sl_<name>` and the
translator (athena_queries/trino_sql.py) calls them in place of the DuckDB built-ins. Each follows Trino's
documented behaviour (docs/src/main/sphinx/functions/*.md), including where DuckDB's built-in differs:

- regular expressions: no match gives NULL (DuckDB: ''), a group that did not take part gives NULL, `$1` in
  replacements, Java's ASCII `\\d`/`\\w`/`\\s`;
- split_part: an index past the last field gives NULL (DuckDB: '');
- JSON: a string that is not JSON gives NULL per row (DuckDB raises "Malformed JSON" and fails the query), and
  json_extract_scalar on an object or array gives NULL (DuckDB returns its text);
- date_diff: whole units elapsed, months and years as Joda-Time counts them (DuckDB counts boundaries crossed).

Timestamps arrive as naive UTC datetimes (the engine casts to TIMESTAMP in a UTC session), so nothing here reads
the machine's time zone.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

# -- regular expressions ----------------------------------------------------------------------------------------


class TrinoFunctionError(ValueError):
    """Trino would fail the query here too (bad argument); the message says why."""


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    # Java's \d, \w, \s and \b are ASCII unless UNICODE_CHARACTER_CLASS is set; Python's are Unicode by default.
    # Java writes named groups (?<name>...); Python 3.11 wants (?P<name>...).
    translated = re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern)
    try:
        return re.compile(translated, re.ASCII)
    except re.error as error:
        raise TrinoFunctionError(f"invalid regular expression {pattern!r}: {error}") from None


def _group(match: re.Match[str], group: int) -> str | None:
    if group < 0 or group > (match.re.groups or 0):
        raise TrinoFunctionError(f"pattern has {match.re.groups} groups. Cannot access group {group}")
    return match.group(group)


def regexp_like(string: str | None, pattern: str | None) -> bool | None:
    """True when `pattern` matches anywhere in `string` (a contains, not a full match)."""
    if string is None or pattern is None:
        return None
    return _regex(pattern).search(string) is not None


def regexp_extract(string: str | None, pattern: str | None, group: int | None = 0) -> str | None:
    """The first match (or its `group`); NULL when nothing matches or the group did not take part."""
    if string is None or pattern is None or group is None:
        return None
    match = _regex(pattern).search(string)
    return None if match is None else _group(match, group)


def regexp_extract_all(string: str | None, pattern: str | None, group: int | None = 0) -> list[str | None] | None:
    """Every match (or its `group`), in order; an empty array when nothing matches."""
    if string is None or pattern is None or group is None:
        return None
    return [_group(m, group) for m in _regex(pattern).finditer(string)]


def regexp_count(string: str | None, pattern: str | None) -> int | None:
    """How many times `pattern` matches in `string`."""
    if string is None or pattern is None:
        return None
    return sum(1 for _ in _regex(pattern).finditer(string))


def _replacement(template: str) -> str:
    """Trino's replacement syntax ($1, ${name}, \\$) as Python's (\\g<1>, \\g<name>, $)."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and i + 1 < len(template):
            out.append(re.escape(template[i + 1]) if template[i + 1] != "$" else "$")
            i += 2
        elif char == "$":
            named = re.match(r"\$\{([A-Za-z][A-Za-z0-9]*)\}", template[i:])
            number = re.match(r"\$(\d+)", template[i:])
            if named:
                out.append(f"\\g<{named[1]}>")
                i += len(named[0])
            elif number:
                out.append(f"\\g<{number[1]}>")
                i += len(number[0])
            else:
                raise TrinoFunctionError(f"illegal replacement {template!r}: '$' must name a group or be escaped")
        else:
            out.append(char.replace("\\", "\\\\"))
            i += 1
    return "".join(out)


def regexp_replace(string: str | None, pattern: str | None, replacement: str | None = "") -> str | None:
    """Every match of `pattern` replaced by `replacement` ($g refers to a group); removed when no replacement."""
    if string is None or pattern is None or replacement is None:
        return None
    return _regex(pattern).sub(lambda m: m.expand(_replacement(replacement)), string)


# -- strings ----------------------------------------------------------------------------------------------------


# Java's Character.isWhitespace, which Trino's trim uses: Unicode space separators except the non-breaking ones,
# line and paragraph separators, and the ASCII controls \t \n \v \f \r and \x1c-\x1f. DuckDB trims spaces only.
_JAVA_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a"
    "\u2028\u2029\u205f\u3000"
)


def trim(string: str | None, side: str | None) -> str | None:
    """Whitespace (Java's definition) removed from `side`: 'both', 'leading' or 'trailing'."""
    if string is None or side is None:
        return None
    start, end = 0, len(string)
    if side in ("both", "leading"):
        while start < end and string[start] in _JAVA_WHITESPACE:
            start += 1
    if side in ("both", "trailing"):
        while end > start and string[end - 1] in _JAVA_WHITESPACE:
            end -= 1
    return string[start:end]


def _substr(string: str, start: int, length: int | None) -> str:
    # Trino: start 0, a length <= 0 or an empty string give ''; a negative start counts from the end, and one
    # before the beginning gives ''; so does a start past the end.
    if start == 0 or (length is not None and length <= 0) or string == "":
        return ""
    size = len(string)
    begin = start - 1 if start > 0 else start + size
    if begin < 0 or begin >= size:
        return ""
    return string[begin:] if length is None else string[begin : begin + length]


def substr2(string: str | None, start: int | None) -> str | None:
    """substr(string, start): the rest of `string` from code point `start` (1-based; negative from the end)."""
    return None if string is None or start is None else _substr(string, start, None)


def substr3(string: str | None, start: int | None, length: int | None) -> str | None:
    """substr(string, start, length)."""
    return None if string is None or start is None or length is None else _substr(string, start, length)


def replace(string: str | None, search: str | None, replacement: str | None) -> str | None:
    """Every `search` replaced; an empty `search` puts `replacement` before every character and at the end."""
    if string is None or search is None or replacement is None:
        return None
    if search == "":
        return "".join(replacement + char for char in string) + replacement
    return string.replace(search, replacement)


def upper(string: str | None) -> str | None:
    """Upper case code point by code point, without one-to-many mappings (Trino: 'ß' stays 'ß')."""
    if string is None:
        return None
    return "".join(u if len(u := char.upper()) == 1 else char for char in string)


def split_part(string: str | None, delimiter: str | None, index: int | None) -> str | None:
    """Field `index` (from 1) of `string` split on `delimiter`; NULL when there are fewer fields."""
    if string is None or delimiter is None or index is None:
        return None
    if index <= 0:
        raise TrinoFunctionError(f"Index must be greater than zero, got {index}")
    fields = list(string) if delimiter == "" else string.split(delimiter)
    return fields[index - 1] if index <= len(fields) else None


def double_to_varchar(value: float | None) -> str | None:
    """CAST(double AS varchar) as Trino prints it: Java's Double.toString (1.0E7, 21.5, 1.0E-4, NaN, Infinity)."""
    if value is None:
        return None
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    # repr() is the shortest decimal that reads back as the same double, as Java's Double.toString (JDK 19+).
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = len(digits) + int(digits_tuple.exponent) - 1  # scientific exponent of the first digit
    if 1e-3 <= abs(value) < 1e7:
        if exponent >= 0:
            whole = digits[: exponent + 1].ljust(exponent + 1, "0")
            fraction = digits[exponent + 1 :] or "0"
        else:
            whole, fraction = "0", "0" * (-exponent - 1) + digits
        return f"{sign}{whole}.{fraction}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


# -- JSON -------------------------------------------------------------------------------------------------------

_MISSING = object()
_PATH_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]"]+)|\[(?P<index>\d+)\]|\[\s*"(?P<quoted>(?:[^"\\]|\\.)*)"\s*\]|\[(?P<bare>[A-Za-z_][\w]*)\]"""
)


@dataclass(frozen=True)
class _Number:
    """A JSON number as written: json_extract_scalar returns this text, as Trino returns the parser's token text."""

    text: str
    integer: bool

    @property
    def value(self) -> float:
        return float(self.text)


def _reject_constant(name: str) -> float:
    # Jackson (Trino's parser) rejects NaN and Infinity, which Python's json accepts.
    raise ValueError(f"not JSON: {name}")


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Trino walks the text in order and stops at the first matching key; a dict would keep the last.
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def _parse_json(text: Any) -> Any:
    if not isinstance(text, str):
        return _MISSING
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=lambda raw: _Number(raw, True),
            parse_float=lambda raw: _Number(raw, False),
            object_pairs_hook=_first_key_wins,
        )
    except ValueError:
        return _MISSING


@lru_cache(maxsize=256)
def parse_json_path(path: str) -> tuple[str | int, ...]:
    """Trino's json_extract path ($, .name, ["name"], [name], [n]) as keys and indexes; ValueError otherwise."""
    text = path.strip()
    if not text.startswith("$"):
        raise TrinoFunctionError(f"Invalid JSON path: {path!r}")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _PATH_TOKEN.match(text, position)
        if not match:
            raise TrinoFunctionError(f"Invalid JSON path: {path!r}")
        if match["index"] is not None:
            steps.append(int(match["index"]))
        elif match["quoted"] is not None:
            steps.append(json.loads(f'"{match["quoted"]}"'))
        else:
            steps.append(match["name"] if match["name"] is not None else match["bare"])
        position = match.end()
    return tuple(steps)


def _walk(document: Any, path: str) -> Any:
    value = document
    for step in parse_json_path(path):
        if isinstance(step, int) and isinstance(value, list):
            value = value[step] if step < len(value) else _MISSING
        elif isinstance(value, dict) and str(step) in value:
            value = value[str(step)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _json_text(value: Any) -> str:
    """JSON text as Trino's json_extract writes it (Jackson): compact, floats as Java's Double.toString."""
    if isinstance(value, _Number):
        return str(int(value.text)) if value.integer else double_to_varchar(value.value) or "null"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_text(k)}:{_json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def json_extract(text: str | None, path: str | None) -> str | None:
    """The JSON value at `path` as JSON text; NULL when `text` is not JSON or nothing is there."""
    if text is None or path is None:
        return None
    value = _walk(_parse_json(text), path) if _parse_json(text) is not _MISSING else _MISSING
    return None if value is _MISSING else _json_text(value)


def json_extract_scalar(text: str | None, path: str | None) -> str | None:
    """The scalar at `path` as text; NULL for an object, an array, JSON null, no value or text that is not JSON."""
    if text is None or path is None:
        return None
    document = _parse_json(text)
    value = _MISSING if document is _MISSING else _walk(document, path)
    if value is _MISSING or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return value.text  # a number, exactly as written


def json_array_length(text: str | None) -> int | None:
    """Length of the JSON array in `text`; NULL when it is not a JSON array."""
    document = _parse_json(text)
    return len(document) if isinstance(document, list) else None


def json_size(text: str | None, path: str | None) -> int | None:
    """Members of the object or array at `path` (0 for a scalar); NULL when nothing is there or not JSON."""
    if text is None or path is None:
        return None
    document = _parse_json(text)
    value = _MISSING if document is _MISSING else _walk(document, path)
    if value is _MISSING:
        return None
    return len(value) if isinstance(value, dict | list) else 0


def _json_array_contains(text: str | None, needle: Any, kind: type) -> bool | None:
    document = _parse_json(text)
    if text is None or needle is None or not isinstance(document, list):
        return None
    for element in document:
        if kind is bool:
            if isinstance(element, bool) and element == needle:
                return True
        elif kind is str:
            if isinstance(element, str) and element == needle:
                return True
        elif isinstance(element, _Number):
            # Trino: a bigint matches integer tokens only (1.0 is not 1); a double matches any number.
            if kind is int and not element.integer:
                continue
            if (int(element.text) if element.integer and kind is int else element.value) == needle:
                return True
    return False


def json_array_contains_varchar(text: str | None, needle: str | None) -> bool | None:
    """Whether the JSON array in `text` has the string `needle` (numbers and booleans never equal a string)."""
    return _json_array_contains(text, needle, str)


def json_array_contains_bigint(text: str | None, needle: int | None) -> bool | None:
    """Whether the JSON array in `text` has the integer `needle`."""
    return _json_array_contains(text, needle, int)


def json_array_contains_double(text: str | None, needle: float | None) -> bool | None:
    """Whether the JSON array in `text` has the number `needle`."""
    return _json_array_contains(text, needle, float)


def json_array_contains_boolean(text: str | None, needle: bool | None) -> bool | None:
    """Whether the JSON array in `text` has the boolean `needle`."""
    return _json_array_contains(text, needle, bool)


# -- dates ---------------------------------------------------------------------------------------------------------

_ORDINAL_DATE = re.compile(r"^(\d{4})-?(\d{3})$")


def from_iso8601_date(text: str | None) -> date | None:
    """An ISO 8601 calendar date (2020-05-11), week date (2020-W10, 2020-W10-1) or ordinal date (2020-123)."""
    if text is None:
        return None
    ordinal = _ORDINAL_DATE.match(text)
    if ordinal:
        year, day = int(ordinal[1]), int(ordinal[2])
        if not 1 <= day <= (366 if calendar.isleap(year) else 365):
            raise TrinoFunctionError(f"Invalid format: {text!r}")
        return date(year, 1, 1) + timedelta(days=day - 1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TrinoFunctionError(f"Invalid format: {text!r}") from None


# -- date_diff ---------------------------------------------------------------------------------------------------

_FIXED_UNITS_MS = {
    "millisecond": 1,
    "second": 1000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
}
DATE_DIFF_UNITS: tuple[str, ...] = (*_FIXED_UNITS_MS, "month", "quarter", "year")
_EPOCH = datetime(1970, 1, 1)


def _millis(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _month_start_millis(moment: datetime) -> int:
    return _millis(datetime(moment.year, moment.month, 1))


def _months_between(start: datetime, end: datetime) -> int:
    """Whole months from `start` to `end` as Joda-Time's month field counts them (Trino's date_diff('month'))."""
    if end < start:
        return -_months_between(end, start)
    difference = (end.year - start.year) * 12 + end.month - start.month
    # Joda: when `end` is on the last day of its month and `start`'s day is later (Jan 31 -> Feb 29), `start`'s
    # day is clamped to it, so Jan 31 + 1 month reaching Feb 29 counts as a whole month.
    last_day = calendar.monthrange(end.year, end.month)[1]
    if end.day == last_day and start.day > last_day:
        start = start.replace(day=last_day)
    if _millis(end) - _month_start_millis(end) < _millis(start) - _month_start_millis(start):
        difference -= 1
    return difference


def _years_between(start: datetime, end: datetime) -> int:
    """Whole years as Joda-Time counts them, balancing Feb 29 between leap and common years."""
    if end < start:
        return -_years_between(end, start)
    feb_29 = (31 + 29 - 1) * 86_400_000
    end_rem = _millis(end) - _millis(datetime(end.year, 1, 1))
    start_rem = _millis(start) - _millis(datetime(start.year, 1, 1))
    if start_rem >= feb_29:
        if calendar.isleap(start.year):
            if not calendar.isleap(end.year):
                start_rem -= 86_400_000
        elif end_rem >= feb_29 and calendar.isleap(end.year):
            end_rem -= 86_400_000
    difference = end.year - start.year
    if end_rem < start_rem:
        difference -= 1
    return difference


def date_diff(unit: str | None, start: datetime | None, end: datetime | None) -> int | None:
    """`end - start` in whole `unit`s, truncated toward zero (Trino: 10:00:00.9 to 10:00:01.1 is 0 seconds)."""
    if unit is None or start is None or end is None:
        return None
    name = unit.lower()
    if name in _FIXED_UNITS_MS:
        elapsed = _millis(end) - _millis(start)
        return int(math.copysign(abs(elapsed) // _FIXED_UNITS_MS[name], elapsed)) if elapsed else 0
    if name == "month":
        return _months_between(start, end)
    if name == "quarter":
        months = _months_between(start, end)
        return int(math.copysign(abs(months) // 3, months)) if months else 0
    if name == "year":
        return _years_between(start, end)
    raise TrinoFunctionError(f"'{unit}' is not a valid unit for date_diff; use one of {', '.join(DATE_DIFF_UNITS)}")


def fail(message: str | None) -> int:
    """Raise Trino's error for a value (division by zero); unlike DuckDB's error(), TRY() can catch it."""
    raise TrinoFunctionError(message or "error")


# name -> (function, DuckDB parameter types, DuckDB return type); the engine registers each as sl_<name>.
UDFS: dict[str, tuple[Any, list[str], str]] = {
    "fail": (fail, ["VARCHAR"], "BIGINT"),
    "regexp_like": (regexp_like, ["VARCHAR", "VARCHAR"], "BOOLEAN"),
    "regexp_extract": (regexp_extract, ["VARCHAR", "VARCHAR", "BIGINT"], "VARCHAR"),
    "regexp_extract_all": (regexp_extract_all, ["VARCHAR", "VARCHAR", "BIGINT"], "VARCHAR[]"),
    "regexp_count": (regexp_count, ["VARCHAR", "VARCHAR"], "BIGINT"),
    "regexp_replace": (regexp_replace, ["VARCHAR", "VARCHAR", "VARCHAR"], "VARCHAR"),
    "double_to_varchar": (double_to_varchar, ["DOUBLE"], "VARCHAR"),
    "trim": (trim, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "substr2": (substr2, ["VARCHAR", "BIGINT"], "VARCHAR"),
    "substr3": (substr3, ["VARCHAR", "BIGINT", "BIGINT"], "VARCHAR"),
    "replace": (replace, ["VARCHAR", "VARCHAR", "VARCHAR"], "VARCHAR"),
    "upper": (upper, ["VARCHAR"], "VARCHAR"),
    "split_part": (split_part, ["VARCHAR", "VARCHAR", "BIGINT"], "VARCHAR"),
    "json_extract": (json_extract, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "json_extract_scalar": (json_extract_scalar, ["VARCHAR", "VARCHAR"], "VARCHAR"),
    "json_array_length": (json_array_length, ["VARCHAR"], "BIGINT"),
    "json_size": (json_size, ["VARCHAR", "VARCHAR"], "BIGINT"),
    "json_array_contains_varchar": (json_array_contains_varchar, ["VARCHAR", "VARCHAR"], "BOOLEAN"),
    "json_array_contains_bigint": (json_array_contains_bigint, ["VARCHAR", "BIGINT"], "BOOLEAN"),
    "json_array_contains_double": (json_array_contains_double, ["VARCHAR", "DOUBLE"], "BOOLEAN"),
    "json_array_contains_boolean": (json_array_contains_boolean, ["VARCHAR", "BOOLEAN"], "BOOLEAN"),
    "from_iso8601_date": (from_iso8601_date, ["VARCHAR"], "DATE"),
    "date_diff": (date_diff, ["VARCHAR", "TIMESTAMP", "TIMESTAMP"], "BIGINT"),
}
