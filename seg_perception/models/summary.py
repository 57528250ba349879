"""``seg-perception models``: parameters and GFLOPs of every registered model; memory report.

GFLOPs follow the official HRNet convention (convolution multiply-accumulates / 2³⁰), so
HRNetV2-W48 at 1024×2048 prints ≈ 696. Models are built on the ``meta`` device: counting a
large model at full resolution needs neither memory nor compute.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

import torch

from seg_perception.cli_args import add_size_argument
from seg_perception.errors import SegPerceptionError
from seg_perception.models.complexity import count_gflops, count_parameters
from seg_perception.models.memory import DEFAULT_CONFIGS, measure
from seg_perception.models.registry import build_model, list_models, model_entry

MIN_SIZE = 32  # the models downsample 32x


def register(parser: argparse.ArgumentParser) -> None:
    add_size_argument(parser, "--size", "input (1024x2048)", minimum=MIN_SIZE, default=(1024, 2048))
    parser.add_argument("--num-classes", type=int, default=19, help="classes of the head (19, Cityscapes)")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="only these models (default: all)")
    parser.add_argument("--activation", choices=("relu", "mish"), default="relu")
    parser.add_argument("--csp", action="store_true", help="HRNet with cross-stage-partial stages")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--memory-report",
        action="store_true",
        help="also measure one training step of hrnetv2_w18_small_v2 with ReLU/Mish/CSP (slow: ~1 min)",
    )
    add_size_argument(
        parser, "--memory-size", "input of the memory report (256x512)", minimum=MIN_SIZE, default=(256, 512)
    )
    parser.add_argument("--memory-batch", type=int, default=2, help="batch of the memory report")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
        lines[1] = "|---|" + "|".join("---:" for _ in header[1:]) + "|"
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*row) for row in [header, *rows])


def complexity_rows(
    names: Sequence[str], size: tuple[int, int], *, num_classes: int, activation: str, csp: bool
) -> list[list[str]]:
    """One row per model: name, params (M), GFLOPs at ``size``."""
    rows = []
    for name in names:
        options: dict[str, object] = {"activation": activation}
        if csp and "csp" in model_entry(name).options:
            options["csp"] = True
        with torch.device("meta"):
            model = build_model(name, num_classes, **options)
        rows.append([name, f"{count_parameters(model) / 1e6:.2f}", f"{count_gflops(model, size):.1f}"])
    return rows


def memory_rows(size: tuple[int, int], batch: int) -> list[list[str]]:
    """Rows of the memory report (each configuration in its own subprocess)."""
    rows = []
    for config in DEFAULT_CONFIGS:
        result = measure(replace(config, size=size, batch=batch))
        rows.append(
            [
                f"{config.model} {config.label}",
                f"{result['params'] / 1e6:.2f}",
                f"{result['saved_activations_mb']:.0f}",
                f"{result['peak_step_rss_mb']:.0f}",
            ]
        )
    return rows


def run(args: argparse.Namespace) -> int:
    names = args.models or list_models()
    for name in names:
        model_entry(name)  # unknown names fail before any work, listing the valid ones
    if args.num_classes < 1:
        raise SegPerceptionError(f"--num-classes must be >= 1, got {args.num_classes}")
    height, width = args.size
    print(
        f"Input {height}x{width}, {args.num_classes} classes; GFLOPs = conv multiply-accumulates / 2^30 "
        "(official HRNet convention)"
    )
    print(
        _table(
            ["model", "params (M)", f"GFLOPs @ {height}x{width}"],
            complexity_rows(
                names, args.size, num_classes=args.num_classes, activation=args.activation, csp=args.csp
            ),
            markdown=args.markdown,
        )
    )
    if args.memory_report:
        mh, mw = args.memory_size
        print(f"\nOne training step (forward + backward), input {args.memory_batch}x3x{mh}x{mw}, CPU:")
        print(
            _table(
                ["configuration", "params (M)", "saved activations (MB)", "peak RSS increase (MB)"],
                memory_rows(args.memory_size, args.memory_batch),
                markdown=args.markdown,
            )
        )
    return 0
