"""``seg-perception average``: the weights of two checkpoints of one model, averaged.

    seg-perception recover weights/highway_hrnetv2_w18_small_v1.onnx --out runs/shipped.pt
    seg-perception train --config config/training/<recipe>.yaml --init runs/shipped.pt --out runs/ft
    seg-perception average runs/shipped.pt runs/ft/best.pt --out runs/ft_average.pt [--weight 0.5]
    seg-perception export runs/ft_average.pt --out weights/<file>.onnx

A fine-tune averaged with the weights it started from is meant to keep more of what the start did
away from the fine-tune's data (here: real roads, where the synthetic fine-tunes tend to lose lines);
judge the average like any candidate (weights/README.md, rule 11, where it did not).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("first", type=Path, help="checkpoint (.pt), e.g. the start of a fine-tune")
    parser.add_argument("second", type=Path, help="checkpoint (.pt) of the same model, e.g. the fine-tune")
    parser.add_argument("--out", type=Path, required=True, help="destination checkpoint (.pt)")
    parser.add_argument(
        "--weight",
        type=float,
        default=0.5,
        help="share of the second checkpoint, 0..1 (default 0.5: the midpoint)",
    )


def run(args: argparse.Namespace) -> int:
    from seg_perception.inference.checkpoint import average_checkpoints

    path = average_checkpoints(args.first, args.second, args.out, weight=args.weight)
    print(f"wrote {path}: {1.0 - args.weight:g} x {args.first} + {args.weight:g} x {args.second}")
    return 0
