"""``seg-perception recover``: a training checkpoint from a shipped ONNX model, to fine-tune it.

    seg-perception recover weights/parking.onnx --out runs/parking_shipped.pt
    seg-perception train --config config/training/<recipe>.yaml --init runs/parking_shipped.pt --out runs/...

The weights come from the graph (:mod:`seg_perception.inference.recover`); the batch norms get
the statistics of synthetic scenes of the model's own scenario, drawn from the training seed
range, so a fine-tune in train mode starts from the shipped function.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seg_perception.inference.export import DEFAULT_TOLERANCE
from seg_perception.tools.synthetic_batches import synthetic_batches


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="ONNX model written by 'seg-perception export'")
    parser.add_argument("--out", type=Path, required=True, help="destination training checkpoint (.pt)")
    parser.add_argument(
        "--calibration-scenes",
        type=int,
        default=64,
        help="synthetic scenes of the model's scenario whose statistics the batch norms get (default 64; "
        "0: none, fine for inference, not for a fine-tune in train mode)",
    )
    parser.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="max abs output difference allowed"
    )


def run(args: argparse.Namespace) -> int:
    from seg_perception.inference.recover import recover_checkpoint

    report = recover_checkpoint(
        args.model,
        args.out,
        calibration=lambda metadata: synthetic_batches(metadata, args.calibration_scenes),
        tolerance=args.tolerance,
    )
    unused = ", ".join(report.unused_modules) or "none"
    print(
        f"wrote {report.path}: {report.convolutions} convolutions ({report.folded_norms} with their batch "
        f"norms folded in) from {args.model}; batch norms calibrated on {report.calibration_frames} "
        f"synthetic scenes; parity ONNX Runtime vs PyTorch: max abs diff {report.max_abs_diff:.2e}\n"
        f"not in the graph, left as built (training-only heads): {unused}"
    )
    if report.mirror_averaged:
        print(
            "the file averaged each frame with its left-right mirror; the checkpoint holds the bare "
            "model: 'seg-perception export --mirror-average' makes such a file again"
        )
    return 0
