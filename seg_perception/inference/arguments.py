"""Command-line arguments of the commands that load a model: engine, device, threads, precision.

Engine names come from the table :data:`~seg_perception.inference.engine.ENGINES`; the
arguments turn into :class:`~seg_perception.inference.options.EngineOptions` with
:func:`engine_options`. Sizes and devices alone: :mod:`seg_perception.cli_args`.
"""

from __future__ import annotations

import argparse

from seg_perception.cli_args import ArgumentTarget, add_device_argument
from seg_perception.inference.engine import ENGINES
from seg_perception.inference.options import DEFAULT_ENGINE, PRECISION_CHOICES, EngineOptions


def add_engine_arguments(
    parser: ArgumentTarget,
    *,
    threads_default: int | None = None,
    threads_help: str = "ONNX Runtime CPU threads (default: ONNX Runtime decides)",
) -> None:
    """``--engine``, ``--device`` and ``--threads``, read back by :func:`engine_options`."""
    parser.add_argument(
        "--engine",
        default=DEFAULT_ENGINE,
        choices=tuple(ENGINES),
        help=f"inference engine (default {DEFAULT_ENGINE})",
    )
    add_device_argument(parser)
    parser.add_argument("--threads", type=int, default=threads_default, help=threads_help)


def add_precision_argument(parser: ArgumentTarget, help_text: str) -> None:
    """``--precision``: ``auto`` or a precision the engines run."""
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto", help=help_text)


def engine_options(args: argparse.Namespace) -> EngineOptions:
    """:class:`EngineOptions` from :func:`add_engine_arguments`' arguments (``--threads 0``: the default)."""
    return EngineOptions(engine=args.engine, device=args.device, intra_op_threads=args.threads or None)
