"""Settings dataclasses from config blocks: unknown keys are errors, values take the fields' types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def check_known(settings_type: Any, values: Mapping[str, Any], what: str) -> None:
    """Raise ``ValueError`` naming the keys of ``values`` that are no field of ``settings_type``.

    A typo in a config block must not go unnoticed (it would leave the default in force).
    """
    known = {f.name for f in fields(settings_type)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {sorted(known)}")


def settings_values(defaults: Any, values: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A config block's values for the dataclass instance ``defaults``, converted to its fields' types.

    Raises:
        ValueError: a key that is no field, or a value that does not convert.
    """
    values = dict(values or {})
    check_known(defaults, values, what)
    converted: dict[str, Any] = {}
    for key, value in values.items():
        default = getattr(defaults, key)
        converted[key] = tuple(value) if isinstance(default, tuple) else type(default)(value)
    return converted
