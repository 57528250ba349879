"""Command-line arguments the subcommands share: frame sizes and devices.

Every ``HxW`` argument goes through :func:`parse_size` (:func:`add_size_argument` on a
parser). The engine arguments (``--engine``, ``--device``, ``--threads``, ``--precision``) are
:mod:`seg_perception.inference.arguments`. Imports nothing of the package, so every layer's
command line can use it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

SIZE_METAVAR = "HxW"
DEVICE_HELP = "cpu, cuda or cuda:N (default cpu)"
ArgumentTarget = argparse.ArgumentParser | argparse._ArgumentGroup


def parse_size(text: str, *, minimum: int = 1) -> tuple[int, int]:
    """``HEIGHTxWIDTH`` (e.g. ``540x960``) → ``(height, width)``.

    Raises:
        ValueError: not two integers separated by ``x``, or one below ``minimum``.
    """
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"size must be HEIGHTxWIDTH, e.g. 540x960, got {text!r}") from err
    if height < minimum or width < minimum:
        raise ValueError(f"size must be at least {minimum}x{minimum}, got {text!r}")
    return height, width


def size_type(minimum: int = 1) -> Callable[[str], tuple[int, int]]:
    """:func:`parse_size` as an argparse ``type``: a bad size is a usage error naming the argument."""

    def size(text: str) -> tuple[int, int]:
        try:
            return parse_size(text, minimum=minimum)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    return size


def probability(text: str) -> float:
    """A share from 0 to 1 as an argparse ``type``: anything else is a usage error."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}") from err
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text!r}")
    return value


def add_size_argument(
    parser: ArgumentTarget, flag: str, help_text: str, *, minimum: int = 1, **options: Any
) -> None:
    """An ``HxW`` argument ``flag`` parsed by :func:`size_type` (``options``: default, nargs, required)."""
    parser.add_argument(flag, type=size_type(minimum), metavar=SIZE_METAVAR, help=help_text, **options)


def add_device_argument(parser: ArgumentTarget, flag: str = "--device", *, what: str = "") -> None:
    """``--device`` (or ``flag``): ``cpu``, ``cuda`` or ``cuda:N``."""
    parser.add_argument(flag, default="cpu", help=f"{what}{DEVICE_HELP}")
