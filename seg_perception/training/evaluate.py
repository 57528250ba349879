"""``seg-perception eval``: pixel accuracy, per-class IoU and mIoU of a model on held-out data.

MODEL is an ONNX file (run through the package's engine, ONNX Runtime CPU) or a training
checkpoint (run in PyTorch). Data is either synthetic scenes with seeds disjoint from
training (train ``[0, 100000)``, validation ``[100000, 101000)``, eval from ``200000``),
generated at the model's input size, or an image/mask folder (``DIR/images/*`` with
``DIR/masks/<same stem>.png`` holding class ids).

With ``--avm DIR`` it scores the parking pipeline on real AVM images labelled with points
(ps2.0 DMPR-PS JSON, LabelMe XML/JSON): marking-point and slot precision/recall and the corner
error (:mod:`seg_perception.training.avm_eval`).

Lane scenarios also score the *lane boundaries* (not the paint pixels; see
:mod:`seg_perception.training.lane_eval`): ``--lanes`` on synthetic held-out drives (TuSimple
accuracy / FP / FN, id persistence, lateral error at 10 m with the generator's true camera),
``--tusimple LABELS.json`` or ``--culane ROOT`` on the standard datasets.

Example:
    seg-perception eval weights/highway.onnx --count 100 --json highway_eval.json
    seg-perception eval weights/parking.onnx --avm ps2.0/testing/all --metres-per-pixel 0.0167
    seg-perception eval weights/highway.onnx --lanes --drives 10 --frames 60
    seg-perception eval weights/highway.onnx --tusimple tusimple/test_label.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seg_perception.cli_args import parse_size, probability
from seg_perception.errors import ConfigError, ModelFileError
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.metrics.lanes import BENCHMARK_LANES_PER_SIDE, TUSIMPLE_CONTEXT_FRAMES
from seg_perception.metrics.parking import DEFAULT_THRESHOLD_M, POINT_SOURCES
from seg_perception.metrics.segmentation import SegmentationMetrics, format_table
from seg_perception.postprocess.marking_points import TEST_TIME_FLIPS
from seg_perception.training.engines import open_engine
from seg_perception.training.recipe import EVAL_SEED_START

Predictor = Callable[[np.ndarray], np.ndarray]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def load_predictor(
    model_path: str | Path, *, threads: int = 2, model_size: bool = False
) -> tuple[Predictor, ModelMetadata]:
    """``(predict(image_bgr) -> uint8 mask, metadata)`` for an ONNX file or checkpoint.

    Args:
        model_size: masks at the model's output size, as the node's lane stage reads them (with
            the frame's size beside them); by default at the image's size.

    Raises:
        ModelFileError: the file is missing or unusable.
    """
    path = Path(model_path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist; pass an .onnx file or a training checkpoint")
    loaded = open_engine(path, threads=threads)
    if model_size:
        return (lambda image: loaded.predict_masks(image)[1]), loaded.metadata
    return loaded.predict, loaded.metadata


def synthetic_samples(
    scenario: str, *, count: int, seed_start: int, size: tuple[int, int]
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, image_bgr, mask)`` of synthetic scenes ``seed_start .. seed_start + count - 1``."""
    from seg_perception.data.synthetic import generate_scene

    for seed in range(seed_start, seed_start + count):
        sample = generate_scene(scenario, seed, size=size)
        yield f"seed_{seed}", sample.image, sample.mask


def folder_samples(root: Path, *, count: int | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, image_bgr, mask)`` from ``root/images/*`` and ``root/masks/<stem>.png``."""
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise ConfigError(f"{root} must hold images/ and masks/ folders (mask = class ids, same stem, .png)")
    paths = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ConfigError(f"{images_dir} holds no images")
    for image_path in paths[:count]:
        mask_path = masks_dir / f"{image_path.stem}.png"
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        if image is None or mask is None:
            raise ConfigError(f"cannot read {image_path} or its mask {mask_path}")
        if mask.ndim == 3:
            mask = mask[..., 0]
        yield image_path.stem, image, mask


def _save_overlay(
    folder: Path,
    name: str,
    image: np.ndarray,
    mask: np.ndarray,
    prediction: np.ndarray,
    colors_bgr: np.ndarray,
) -> None:
    """Image | ground truth | prediction, side by side."""

    def paint(labels: np.ndarray) -> np.ndarray:
        colours = colors_bgr[np.clip(labels, 0, len(colors_bgr) - 1)]
        return cv2.addWeighted(image, 0.5, colours, 0.5, 0.0)

    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.png"), np.concatenate([image, paint(mask), paint(prediction)], axis=1))


def evaluate(
    model_path: str | Path,
    *,
    scenario: str | None = None,
    count: int = 100,
    seed_start: int = EVAL_SEED_START,
    data: Path | None = None,
    overlays: Path | None = None,
    overlay_count: int = 8,
    threads: int = 2,
) -> dict[str, Any]:
    """Evaluate a model and return the summary (see :meth:`SegmentationMetrics.summary`) plus provenance."""
    from seg_perception.config import parse_hex_color

    predict, metadata = load_predictor(model_path, threads=threads)
    if scenario is not None:
        _require_same_classes(model_path, metadata, scenario)
    scenario = scenario or metadata.scenario
    if data is not None:
        samples = folder_samples(Path(data), count=count)
    else:
        samples = synthetic_samples(scenario, count=count, seed_start=seed_start, size=metadata.input_size)
    metrics = SegmentationMetrics(list(metadata.classes))
    colors_bgr = np.array([parse_hex_color(c)[::-1] for c in metadata.colors], dtype=np.uint8)
    seconds = 0.0
    evaluated = 0
    for name, image, mask in samples:
        started = time.perf_counter()
        prediction = predict(image)
        seconds += time.perf_counter() - started
        metrics.update(mask, prediction)
        if overlays is not None and evaluated < overlay_count:
            _save_overlay(overlays, name, image, mask, prediction, colors_bgr)
        evaluated += 1
    summary = metrics.summary()
    summary.update(
        {
            "model": str(model_path),
            "model_name": metadata.model,
            "scenario": scenario,
            "input_size": list(metadata.input_size),
            "samples": evaluated,
            "data": str(data)
            if data is not None
            else f"synthetic seeds {seed_start}..{seed_start + count - 1}",
            "mean_predict_ms": 1000.0 * seconds / max(evaluated, 1),
        }
    )
    return summary


def _require_same_classes(model_path: str | Path, metadata: Any, scenario: str) -> None:
    """Refuse to score a model on scenes of another class map (the node and ``process`` refuse it too).

    Raises:
        ModelFileError: the scenario's classes differ from the model's.
    """
    from seg_perception.config import load_scenario

    expected = list(load_scenario(scenario).classes.names)
    if list(metadata.classes) != expected:
        raise ModelFileError(
            f"model {model_path} was trained for classes {list(metadata.classes)} "
            f"(scenario {metadata.scenario!r}) but scenario {scenario!r} has {expected}; "
            f"drop --scenario to evaluate on the model's own scenario, or pass the {scenario} model"
        )


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="ONNX file or training checkpoint (.pt)")
    parser.add_argument("--scenario", help="scenario of the synthetic scenes (default: the model's)")
    parser.add_argument(
        "--count", type=int, help="number of scenes (default 100; with --avm: every labelled image)"
    )
    parser.add_argument(
        "--seed-start",
        type=int,
        default=EVAL_SEED_START,
        help=f"first synthetic seed (default {EVAL_SEED_START})",
    )
    parser.add_argument("--data", type=Path, help="image/mask folder instead of synthetic scenes")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--overlays",
        type=Path,
        help="write image|truth|prediction PNGs here (with --lanes, --tusimple, --culane: frames with "
        "their boundaries over the true lines, every 10th frame of a drive)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    avm = parser.add_argument_group("real AVM images with point labels (marking points and slots)")
    avm.add_argument(
        "--avm",
        type=Path,
        metavar="DIR",
        help="AVM images with DMPR-PS JSON (ps2.0) or LabelMe XML/JSON labels: marking-point and slot "
        "precision/recall, corner error (see seg_perception/training/avm_eval.py)",
    )
    avm.add_argument(
        "--index", type=Path, help="with --avm: CSV listing image,label_xml[,category] under DIR"
    )
    avm.add_argument(
        "--metres-per-pixel",
        type=float,
        help="with --avm: ground resolution of the label frame (ps2.0: 0.0167); default: the labels' own",
    )
    avm.add_argument(
        "--oracle",
        action="store_true",
        help="with --avm on a folder written by generate: the true marking points and masks replace the "
        "model (never run; it names the scenario), so the slot table measures the slot assembly alone",
    )
    avm.add_argument(
        "--points-from",
        choices=POINT_SOURCES,
        default=POINT_SOURCES[0],
        help="with --avm: score the marking points (default) or the slots' entrance corners, which is "
        "what a consumer of the slots alone gets",
    )
    avm.add_argument(
        "--threshold-cm",
        type=float,
        default=100.0 * DEFAULT_THRESHOLD_M,
        help=f"with --avm: match distance (default {100.0 * DEFAULT_THRESHOLD_M:.1f} cm: "
        "10 px at ps2.0's 600x600)",
    )
    avm.add_argument(
        "--test-time-flips",
        type=int,
        choices=sorted(TEST_TIME_FLIPS),
        help="with --avm: mirrored copies of each frame whose marking points are averaged, instead of "
        "the scenario's slots.test_time_flips (the CPU's); 4 scores a model as device cuda runs it "
        "(config/parking.yaml: cuda_test_time_flips)",
    )
    parser.add_argument(
        "--point-threshold",
        type=float,
        help="with --avm: the least marking-point heat, instead of the model file's own "
        "(seg-perception point-threshold picks one on labelled images)",
    )

    lanes = parser.add_argument_group("lane boundaries (front scenarios)")
    lanes.add_argument(
        "--lanes", action="store_true", help="score lane boundaries on synthetic drives instead of pixels"
    )
    lanes.add_argument("--drives", type=int, default=10, help="synthetic drives for --lanes (default 10)")
    lanes.add_argument("--frames", type=int, default=60, help="frames per drive for --lanes (default 60)")
    lanes.add_argument("--size", default="540x960", help="frame HxW for --lanes (default 540x960)")
    lanes.add_argument(
        "--uncalibrated", action="store_true", help="--lanes in image space, without the true camera"
    )
    lanes.add_argument(
        "--lane-changes",
        type=probability,
        default=0.0,
        metavar="P",
        help="--lanes: share of drives in which the car moves into the next lane (3-6 s; needs drives "
        "of a few seconds, e.g. --frames 180; default 0)",
    )
    lanes.add_argument(
        "--tusimple", type=Path, help="TuSimple label file (JSON lines) to score boundaries on"
    )
    lanes.add_argument(
        "--tusimple-root", type=Path, help="folder the raw_file paths start in (default: the file's)"
    )
    lanes.add_argument("--culane", type=Path, help="CULane root to score boundaries on (F1 at IoU 0.5)")
    lanes.add_argument("--culane-list", help="CULane list file in the root (default: every .lines.txt)")
    lanes.add_argument(
        "--predictions",
        type=Path,
        help="--tusimple: also write the scored boundaries as a TuSimple submission file (JSON lines with "
        "run_time) for the benchmark's own evaluator; --culane: as <image>.lines.txt files under this folder",
    )
    lanes.add_argument(
        "--clip-frames",
        type=int,
        default=TUSIMPLE_CONTEXT_FRAMES,
        help="--tusimple: track through up to this many frames a clip holds before its labelled one "
        "(TuSimple's 1.jpg ... 19.jpg before 20.jpg), as the node runs on video (default "
        f"{TUSIMPLE_CONTEXT_FRAMES}, the nearest); 0: every frame alone",
    )
    lanes.add_argument(
        "--lanes-per-side",
        type=int,
        default=BENCHMARK_LANES_PER_SIDE,
        help="--tusimple / --culane: score only this many boundaries per side of the car (default "
        f"{BENCHMARK_LANES_PER_SIDE}: the ego lane's and the next one out, the lines TuSimple and CULane "
        "label); 0: every boundary, for labels that mark every visible line (labels/real_front)",
    )


def _write_json(path: Path | None, report: dict[str, Any]) -> None:
    """Write ``report`` as JSON to ``path`` (``--json``), when given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")


def run_avm(args: argparse.Namespace) -> int:
    """``eval --avm``: print the marking-point and slot table; ``--json`` writes the whole report."""
    from seg_perception.metrics.parking import format_report
    from seg_perception.training.avm_eval import evaluate_avm

    if args.metres_per_pixel is not None and args.metres_per_pixel <= 0:
        raise ConfigError(f"--metres-per-pixel must be positive, got {args.metres_per_pixel}")
    report = evaluate_avm(
        args.model,
        args.avm,
        index=args.index,
        metres_per_pixel=args.metres_per_pixel,
        threshold_m=args.threshold_cm / 100.0,
        count=args.count,
        overlays=args.overlays,
        threads=args.threads,
        scenario=args.scenario,
        oracle=args.oracle,
        test_time_flips=args.test_time_flips,
        point_threshold=args.point_threshold,
        points_from=args.points_from,
    )
    skipped = report["unlabelled_images_skipped"]
    print(
        f"{args.model} on {report['images']} labelled AVM images in {args.avm}"
        + (f" ({skipped} without labels skipped)" if skipped else "")
        + f"; predicted points from: {', '.join(report['predicted_points_from'])}"
    )
    if report["ps2_scale_assumed"]:
        print(
            "no ground scale (--metres-per-pixel or the labels' metres_per_pixel): every such image is "
            "taken to span 10 m across its width, as ps2.0's 600 px do; give the scale for other AVMs"
        )
    print(format_report(report), end="")
    _write_json(args.json, report)
    return 0


def _run_lanes(args: argparse.Namespace) -> int:
    from seg_perception.metrics.lanes import format_lane_metrics
    from seg_perception.training.lane_eval import (
        evaluate_lane_dataset,
        evaluate_lane_drives,
        format_lane_summary,
    )

    # the model-size mask, with the frame's size: the node's lane stage reads that, so the scores are
    # those of the boundaries it publishes
    predict, metadata = load_predictor(args.model, threads=args.threads, model_size=True)
    scenario = args.scenario or metadata.scenario
    if args.tusimple is not None or args.culane is not None:
        from seg_perception.config import load_scenario
        from seg_perception.inference.pipeline import scenario_from_metadata
        from seg_perception.training.lane_eval import scenario_exposure, scenario_lane_settings

        config = load_scenario(args.scenario) if args.scenario else scenario_from_metadata(metadata)
        settings, tracking = scenario_lane_settings(config)
        summary = evaluate_lane_dataset(
            predict,
            list(metadata.classes),
            settings=settings,
            tracking=tracking,
            exposure=scenario_exposure(config),
            clip_frames=args.clip_frames,
            predictions=args.predictions,
            tusimple=args.tusimple,
            tusimple_root=args.tusimple_root,
            culane_root=args.culane,
            culane_list=args.culane_list,
            count=args.count if args.count != 100 else None,
            overlays=args.overlays,
            lanes_per_side=args.lanes_per_side,
        )
        scored = (
            "every boundary"
            if args.lanes_per_side == 0
            else f"the {args.lanes_per_side} nearest boundaries on each side of the car"
        )
        print(f"{metadata.model} lane boundaries on {summary['dataset']}, {scored} (--lanes-per-side):")
        if summary.get("tracked_frames"):
            print(
                f"{summary['tracked_frames']} of {summary['tusimple']['frames']} frames tracked through the "
                "frames their clips hold before them, as the node runs on video (--clip-frames 0: alone)"
            )
        print(format_lane_metrics(summary.get("tusimple"), summary.get("culane"), summary.get("paint")))
        if args.predictions is not None:
            print(f"wrote the scored boundaries in the benchmark's form to {args.predictions}")
    else:
        try:
            height, width = parse_size(args.size)
        except ValueError as err:
            raise ConfigError(f"--size: {err}") from err
        summary = evaluate_lane_drives(
            scenario,
            predict=predict,
            drives=args.drives,
            frames=args.frames,
            seed_start=args.seed_start,
            size=(height, width),
            calibrated=not args.uncalibrated,
            overlays=args.overlays,
            lane_change_p=args.lane_changes,
        )
        summary["model"] = str(args.model)
        print(f"{metadata.model}: {format_lane_summary(summary)}")
    _write_json(args.json, summary)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.avm is not None:
        return run_avm(args)
    if args.oracle:
        raise ConfigError("--oracle scores the slot assembly on a generated folder: give it with --avm DIR")
    if args.lanes or args.tusimple is not None or args.culane is not None:
        return _run_lanes(args)
    summary = evaluate(
        args.model,
        scenario=args.scenario,
        count=args.count or 100,
        seed_start=args.seed_start,
        data=args.data,
        overlays=args.overlays,
        threads=args.threads,
    )
    print(f"{summary['model_name']} on {summary['samples']} scenes ({summary['data']}):")
    print(format_table(summary))
    print(f"mean predict time: {summary['mean_predict_ms']:.1f} ms")
    _write_json(args.json, summary)
    return 0
