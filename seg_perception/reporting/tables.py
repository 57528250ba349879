"""Markdown tables for reports."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def format_number(value: Any, *, digits: int = 2) -> str:
    """A table cell: floats rounded to ``digits``, NaN/None as ``n/a``, the rest ``str``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def _cell(value: Any, digits: int) -> str:
    # A pipe would end the cell; a newline would end the row.
    return format_number(value, digits=digits).replace("|", "\\|").replace("\n", " ")


def _is_numeric_column(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)


def render_markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, digits: int = 2
) -> str:
    """Render dict rows as a GitHub-flavoured Markdown table.

    Args:
        rows: One mapping per row; a missing key renders as an empty cell.
        columns: Column order; default: keys in order of first appearance.
        digits: Decimal places of float cells.

    Returns:
        The table without a trailing newline; an empty string when ``rows`` is empty.
    """
    if not rows:
        return ""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    numeric = [_is_numeric_column([row.get(c) for row in rows]) for c in columns]
    header = "| " + " | ".join(_cell(c, digits) for c in columns) + " |"
    rule = "|" + "|".join("---:" if is_num else "---" for is_num in numeric) + "|"
    body = [
        "| " + " | ".join("" if c not in row else _cell(row[c], digits) for c in columns) + " |"
        for row in rows
    ]
    return "\n".join([header, rule, *body])
