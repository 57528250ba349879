"""Settings dataclasses from config blocks: unknown keys are errors, values take the fields' types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

_KINDS = {int: "an integer", float: "a number", str: "a string"}  # how a value's type reads in an error


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
    return {key: _converted(getattr(defaults, key), value, f"{what}: {key}") for key, value in values.items()}


def _converted(default: Any, value: Any, where: str) -> Any:
    """``value`` as the type of ``default``; a switch takes only true / false (a launch argument
    arrives as the string ``"false"``, which ``bool()`` would turn on).

    Raises:
        ValueError: a value that does not convert, named by ``where``.
    """
    if isinstance(default, tuple):
        return tuple(value)
    if isinstance(default, bool):
        return switch_value(value, where)
    try:
        return type(default)(value)
    except (TypeError, ValueError) as err:
        kind = _KINDS.get(type(default), type(default).__name__)
        raise ValueError(f"{where} must be {kind}, got {value!r}") from err


def switch_value(value: Any, where: str) -> bool:
    """``value`` of an on / off setting: a bool, or the string ``true`` / ``false`` (any case), as a
    launch argument or a quoted YAML value arrives; ``bool("false")`` would be on.

    Raises:
        ValueError: anything else, named by ``where``.
    """
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in ("true", "false"):
        return word == "true"
    raise ValueError(f"{where} must be true or false, got {value!r}")
