"""``seg-perception point-threshold``: pick a parking model's marking-point threshold on labelled images.

    seg-perception point-threshold weights/parking.onnx --avm tuning/a --avm tuning/b \\
        --test-time-flips 4 --out weights/parking_tuned.onnx

Each candidate threshold (the least heat a marking point needs) is scored by the whole parking
pipeline over every labelled folder (``eval --avm``; the model runs once per image, each candidate
decodes its outputs and assembles slots again); the one with the highest slot F1 over all of them (or point F1
with ``--criterion points``, for labels without slots) is written into a copy's metadata
(``marking_point_threshold``), which the node uses wherever the scenario sets no
``slots.point_threshold``. Use generated scenes or your own labelled frames, never the images you will
judge the model on: the threshold is then fitted to them.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from seg_perception.tools.errors import PointThresholdError

#: Thresholds tried by default: the range where the shipped files' synthetic slot F1 peaks.
DEFAULT_CANDIDATES = (0.2, 0.3, 0.4, 0.5, 0.6)
CRITERIA = ("slots", "points")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="parking ONNX model with a marking-point output")
    parser.add_argument(
        "--avm",
        type=Path,
        action="append",
        required=True,
        help="folder of labelled AVM images (as for eval --avm); repeatable, scores are summed",
    )
    parser.add_argument(
        "--candidates",
        type=float,
        nargs="+",
        default=list(DEFAULT_CANDIDATES),
        help=f"thresholds to try (default {' '.join(map(str, DEFAULT_CANDIDATES))})",
    )
    parser.add_argument(
        "--criterion",
        choices=CRITERIA,
        default="slots",
        help="slots (default): slot F1; points: marking-point F1 (labels without slots)",
    )
    parser.add_argument(
        "--test-time-flips",
        type=int,
        choices=(1, 2, 4),
        help="mirrored copies as the model will run (config/parking.yaml: 1 on CPU, 4 on CUDA); "
        "default: the scenario's CPU setting",
    )
    parser.add_argument("--metres-per-pixel", type=float, help="ground resolution of the label frames")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (default 2)")
    parser.add_argument("--out", type=Path, help="write a copy with the chosen threshold in its metadata")


def f1_from_counts(counts: dict[str, int]) -> float:
    """F1 of summed ``predicted`` / ``true`` / ``matched`` counts (0 when nothing was predicted or true)."""
    total = counts["predicted"] + counts["true"]
    return 2.0 * counts["matched"] / total if total else 0.0


def choose_threshold(scores: dict[float, float]) -> float:
    """The threshold with the highest score; on a tie the higher one (fewer, surer points)."""
    if not scores:
        raise PointThresholdError("no candidate thresholds to choose from")
    return max(scores, key=lambda threshold: (round(scores[threshold], 6), threshold))


def run(args: argparse.Namespace) -> int:
    from seg_perception.inference.onnxruntime_engine import read_onnx_metadata, write_onnx_metadata
    from seg_perception.training.avm_eval import evaluate_avm_thresholds

    metadata = read_onnx_metadata(args.model)
    if not metadata.has_marking_points:
        raise PointThresholdError(f"{args.model} has no marking-point output: no threshold to pick")
    if any(not 0.0 < value < 1.0 for value in args.candidates):
        raise PointThresholdError(f"candidate thresholds must lie in (0, 1), got {args.candidates}")
    candidates = sorted(set(args.candidates))
    # the model runs once per image and folder; each candidate only re-decodes its outputs
    sweeps = [
        evaluate_avm_thresholds(
            args.model,
            folder,
            candidates,
            metres_per_pixel=args.metres_per_pixel,
            threads=args.threads,
            test_time_flips=args.test_time_flips,
        )
        for folder in args.avm
    ]
    scores: dict[float, float] = {}
    print("| threshold | " + " | ".join(f"{kind} P / R (F1)" for kind in CRITERIA) + " |")
    print("|---|---|---|")
    for threshold in candidates:
        totals: dict[str, dict[str, int]] = {
            kind: {"predicted": 0, "true": 0, "matched": 0} for kind in CRITERIA
        }
        for sweep in sweeps:
            overall: dict[str, Any] = sweep[threshold]["groups"]["all"]
            for kind in CRITERIA:
                if overall.get(kind) and overall[kind].get("true") is not None:
                    for key in ("predicted", "true", "matched"):
                        totals[kind][key] += int(overall[kind][key])
        if args.criterion == "slots" and totals["slots"]["true"] == 0:
            raise PointThresholdError("the labels hold no slots: use --criterion points")
        scores[threshold] = f1_from_counts(totals[args.criterion])
        cells = []
        for kind in CRITERIA:
            counts = totals[kind]
            precision = counts["matched"] / counts["predicted"] if counts["predicted"] else 0.0
            recall = counts["matched"] / counts["true"] if counts["true"] else 0.0
            cells.append(f"{precision:.3f} / {recall:.3f} ({f1_from_counts(counts):.3f})")
        print(f"| {threshold:g} | " + " | ".join(cells) + " |", flush=True)
    best = choose_threshold(scores)
    print(f"best {args.criterion} F1 {scores[best]:.3f} at threshold {best:g}")
    if args.out is not None:
        write_onnx_metadata(args.model, args.out, dataclasses.replace(metadata, marking_point_threshold=best))
        print(f"wrote {args.out} (marking_point_threshold {best:g})")
    return 0
