"""``seg-perception quantize``: an int8 copy of an exported model, for CPUs.

    seg-perception quantize weights/parking_hrnetv2_w18_small_v1_wholeframe.onnx \\
        --out weights/parking_hrnetv2_w18_small_v1_wholeframe_int8.onnx --marking-point-threshold 0.5

Activation ranges come from synthetic scenes of the model's own scenario drawn from the training
seed range (never evaluation scenes, never real images); a parity check on other scenes of that
range refuses a copy that does not follow the float model (:mod:`seg_perception.inference.quantize`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seg_perception.inference.quantize import DEFAULT_MIN_AGREEMENT
from seg_perception.tools.synthetic_batches import CALIBRATION_SEED, synthetic_batches

#: Check scenes start here: inside the training range, away from the calibration scenes.
CHECK_SEED = 99000


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="float ONNX model written by 'seg-perception export'")
    parser.add_argument("--out", type=Path, required=True, help="destination int8 ONNX file")
    parser.add_argument(
        "--calibration-scenes",
        type=int,
        default=64,
        help=f"synthetic scenes (seeds {CALIBRATION_SEED}..) that set the activation ranges (default 64)",
    )
    parser.add_argument(
        "--check-scenes",
        type=int,
        default=16,
        help=f"other synthetic scenes (seeds {CHECK_SEED}..) for the parity check (default 16)",
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=DEFAULT_MIN_AGREEMENT,
        help="least share of check pixels with the float model's class; below it nothing is written "
        f"(default {DEFAULT_MIN_AGREEMENT})",
    )
    parser.add_argument(
        "--marking-point-threshold",
        type=float,
        help="parking models: the least marking-point heat the copy's points are judged at, stored in its "
        "metadata and used where the scenario sets no slots.point_threshold (default: the float file's)",
    )
    parser.add_argument(
        "--ranges-from",
        type=Path,
        help="an earlier int8 copy of the same graph: keep its activation ranges except downstream of "
        "--recalibrate, so that the layers a fine-tune left alone come out bit for bit as there",
    )
    parser.add_argument(
        "--recalibrate",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="with --ranges-from: modules (e.g. last_layer) whose outputs and all computed from them get "
        "fresh ranges from the calibration scenes",
    )


def run(args: argparse.Namespace) -> int:
    from seg_perception.inference.onnxruntime_engine import read_onnx_metadata
    from seg_perception.inference.quantize import quantize_model

    metadata = read_onnx_metadata(args.model)
    report = quantize_model(
        args.model,
        args.out,
        calibration=synthetic_batches(metadata, args.calibration_scenes, first_seed=CALIBRATION_SEED),
        check=synthetic_batches(metadata, args.check_scenes, first_seed=CHECK_SEED),
        calibration_note={
            "generator": f"seg_perception synthetic '{metadata.scenario}' scenes",
            "seeds": [CALIBRATION_SEED, CALIBRATION_SEED + args.calibration_scenes],
            "size": list(metadata.input_size),
            "metres_per_pixel": metadata.metres_per_pixel,
        },
        min_agreement=args.min_agreement,
        marking_point_threshold=args.marking_point_threshold,
        ranges_from=args.ranges_from,
        recalibrate=tuple(args.recalibrate),
    )
    heat = (
        f", marking-point heat within {report.max_heat_difference:.3f}"
        if report.max_heat_difference is not None
        else ""
    )
    print(
        f"wrote {report.path} ({report.size_bytes / 1e6:.2f} MB, "
        f"float {report.source_size_bytes / 1e6:.2f} MB): "
        f"int8 weights and activations calibrated on {report.calibration_frames} synthetic scenes; "
        f"on {report.check_frames} other scenes it gives the float model's class on "
        f"{report.mask_agreement:.4f} of the pixels{heat}"
    )
    return 0
