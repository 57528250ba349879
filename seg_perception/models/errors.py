"""Errors raised by the model registry and checkpoint loading."""

from __future__ import annotations

from seg_perception.errors import SegPerceptionError


class UnknownModelError(SegPerceptionError, KeyError):
    """A model name is not in the registry; the message lists the valid names."""

    def __str__(self) -> str:
        # KeyError quotes its message; keep it readable for the CLI.
        return str(self.args[0]) if self.args else ""


class ModelOptionError(SegPerceptionError, ValueError):
    """An option passed to a model builder is unknown or out of range."""


class StateDictMismatchError(SegPerceptionError):
    """A state dict does not fit the model: missing, unexpected or mis-shaped keys, listed by name."""
