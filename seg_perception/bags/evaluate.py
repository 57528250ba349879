"""``seg-perception eval-bag``: accuracy of the pipeline on a bag, a dataset folder or generated scenes.

Ground truth comes from the bag's ``/camera/<cam>/ground_truth/{mask,polygons}`` topics
(``--gt-bag`` when they live in another bag, e.g. the input of ``process``), from an
image/mask folder (``--dataset``) or from the scene generator (``--generate N``).
Predictions come from the bag's ``process`` outputs (``/<cam>/mask``, or the PNG
``/<cam>/mask/compressed``, ``/<cam>/polygons/json`` and the typed ``/<cam>/slots``, which
supersedes the JSON's slots) when present, else from running the pipeline on its images.
Frames are paired by camera and header stamp. Metrics: see
:mod:`seg_perception.metrics.evaluation`; parking scenarios add the ps2.0-style marking-point and
slot table of :mod:`seg_perception.metrics.parking` (truth: the frame JSON's visible
``marking_points``, else its slots' entrance corners; prediction: the pipeline's marking points
when it reports them, else its slots' entrance corners).
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from seg_perception.bags import frame_json, messages, topics
from seg_perception.bags.errors import BagError
from seg_perception.bags.process import PARTIAL_SUFFIX, STATUS_KEY
from seg_perception.bags.storage import BagMessage, BagReader, prepare_output_directory
from seg_perception.cli_args import SIZE_METAVAR
from seg_perception.config import ScenarioConfig
from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.inference.arguments import add_engine_arguments, engine_options
from seg_perception.interfaces import PARKING_SLOT_ARRAY_MSGTYPE, SLOTS_TOPIC, Occupancy, SlotType
from seg_perception.metrics.evaluation import EvaluationAccumulator, markdown
from seg_perception.metrics.latency import stage_latencies
from seg_perception.metrics.parking import (
    DEFAULT_THRESHOLD_M,
    OccupancyAgreement,
    ParkingAccumulator,
    SlotIdPersistence,
    format_occupancy,
    format_persistence,
    format_report,
    frame_threshold_px,
    marking_point_positions,
    merge_points,
    slot_entrances,
)
from seg_perception.postprocess.scene_cut import StampGap

DEFAULT_SLOT_THRESHOLD_M = 0.5
DEFAULT_SLOT_THRESHOLD_PX = 25.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
PROCESS_BAG_DIR = "bag"  # where `seg-perception process --out DIR` writes its output bag


@dataclass
class Frame:
    """One evaluated frame: truth and prediction (polygons/slots None when unknown)."""

    true_mask: np.ndarray
    predicted_mask: np.ndarray
    true_polygons: list[Polygon] | None = None
    predicted_polygons: list[Polygon] | None = None
    true_slots: list[ParkingSlot] | None = None
    predicted_slots: list[ParkingSlot] | None = None
    true_points: np.ndarray | None = None  # marking points (pixels); None: use the slots' entrances
    predicted_points: np.ndarray | None = None


@dataclass
class _Pending:
    parts: dict[str, Any] = field(default_factory=dict)


def has_slots(scenario: ScenarioConfig) -> bool:
    roles = scenario.roles
    return (
        scenario.postprocess == "parking_slots"
        and roles.get("slot_line") is not None
        and roles.get("free_space") is not None
    )


def slot_threshold(args: argparse.Namespace, scenario: ScenarioConfig) -> tuple[float, float]:
    """(threshold_px, metres_per_pixel) from the options and the scenario's camera calibration."""
    scale = float(scenario.camera(scenario.primary_camera).get("metres_per_pixel", 0.0) or 0.0)
    if args.slot_threshold_px is not None:
        return float(args.slot_threshold_px), scale
    if scale > 0:
        return args.slot_threshold_m / scale, scale
    return DEFAULT_SLOT_THRESHOLD_PX, scale


class PipelineRunner:
    """Runs the scenario's pipeline per camera, created on first use."""

    def __init__(self, args: argparse.Namespace, scenario: ScenarioConfig) -> None:
        self.args = args
        self.scenario = scenario
        self._engine: Any = None
        self._pipelines: dict[str, Any] = {}
        self._stamp_gaps: dict[str, StampGap] = {}  # per camera: stamps that jump restart its trackers
        self.timings: list[dict[str, float]] = []

    def __call__(self, camera: str, image: np.ndarray, *, stamp_ns: int = 0, still: bool = False) -> Any:
        """The pipeline's result on one frame of ``camera``.

        Args:
            stamp_ns: The frame's stamp: stamps that go back or pause start tracking afresh, as in the node.
            still: The frame is a picture of its own (a dataset folder's): nothing tracked before holds.
        """
        if self._engine is None:
            from seg_perception.config import scenario_model_path
            from seg_perception.inference.engine import create_engine

            model = self.args.model or scenario_model_path(self.scenario, self.args.device)
            self._engine = create_engine(model, engine_options(self.args))
        if camera not in self._pipelines:
            from seg_perception.inference.pipeline import SegmentationPipeline

            self._pipelines[camera] = SegmentationPipeline(self._engine, self.scenario, camera)
        pipeline = self._pipelines[camera]
        if still or self._stamp_gaps.setdefault(camera, StampGap()).jump(stamp_ns) is not None:
            pipeline.reset_tracking()
        result = pipeline.process(image)
        self.timings.append(result.timings_ms)
        return result

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def bag_frames(args: argparse.Namespace, scenario: ScenarioConfig, runner: PipelineRunner) -> Iterator[Frame]:
    """Frames of a bag, paired by (camera, stamp) while streaming through it."""
    with BagReader(args.bag) as reader, BagReader(args.gt_bag or args.bag) as truth:
        plan = _plan(reader, truth, args, scenario)
        sources = [reader.messages(plan["main"])]
        if args.gt_bag:
            sources.append(truth.messages(plan["truth"]))
        pending: dict[tuple[str, int], _Pending] = {}
        total = sum(
            reader.message_counts.get(t, 0)
            for t in plan["main"]
            if plan["roles"][t][1] in ("pred_mask", "image")
        )
        with tqdm(total=total, unit="frame", desc="eval-bag", leave=False, disable=None) as progress:
            for message in heapq.merge(*sources, key=lambda m: m.timestamp_ns):
                camera, role = plan["roles"][message.topic]
                stamp, value = _decode(message, role)
                entry = pending.setdefault((camera, stamp), _Pending())
                entry.parts[role] = value
                if set(entry.parts) >= plan["needed"][camera]:
                    del pending[(camera, stamp)]
                    progress.update(1)
                    yield _frame(entry.parts, camera, runner, stamp=stamp, with_slots=has_slots(scenario))
        if pending:
            print(
                f"eval-bag: {len(pending)} frame(s) without a counterpart (no truth or no prediction) skipped"
            )


def check_complete(reader: BagReader, *, allow_incomplete: bool) -> str | None:
    """Refuse (or, when allowed, loudly report) the output of a ``process`` run that did not finish.

    Returns:
        None for a complete bag, else a one-line description of what is missing.

    Raises:
        BagError: the bag is incomplete and ``allow_incomplete`` is false.
    """
    problem = None
    raw = reader.custom_data.get(STATUS_KEY)
    if raw is not None:
        try:
            status = json.loads(raw)
        except json.JSONDecodeError:
            status = {"status": f"unreadable ({raw[:40]!r})"}
        if status.get("status") != "complete":
            problem = (
                f"{reader.path} is the output of a 'process' run that did not finish "
                f"({status.get('frames_done', '?')} of {status.get('frames_expected', '?')} frames, "
                f"status {status.get('status')!r})"
            )
    elif reader.path.name.endswith(PARTIAL_SUFFIX):
        problem = f"{reader.path} is a partial 'process' output (its run did not finish)"
    if problem is None:
        return None
    if not allow_incomplete:
        raise BagError(f"{problem}; run 'process' again, or pass --allow-incomplete to evaluate it anyway")
    print(f"eval-bag: WARNING: {problem}; the metrics cover only the frames it holds", file=sys.stderr)
    return problem


def _plan(
    reader: BagReader, truth: BagReader, args: argparse.Namespace, scenario: ScenarioConfig
) -> dict[str, Any]:
    roles: dict[str, tuple[str, str]] = {}
    needed: dict[str, set[str]] = {}
    for camera in scenario.cameras:
        truth_mask = topics.ground_truth_mask_topic(camera)
        if truth_mask not in truth.topics:
            continue
        parts = {truth_mask: "true_mask"}
        if topics.ground_truth_polygons_topic(camera) in truth.topics:
            parts[topics.ground_truth_polygons_topic(camera)] = "true_json"
        namespace = args.output_namespace
        predicted = _prediction_topic(reader, camera, namespace)
        if predicted is not None and not args.run_pipeline:
            parts[predicted] = "pred_mask"
            predicted_json = topics.output_topic(camera, "polygons", namespace=namespace) + "/json"
            if predicted_json in reader.topics:
                parts[predicted_json] = "pred_json"
            predicted_slots = topics.output_topic(camera, SLOTS_TOPIC, namespace=namespace)
            if reader.topics.get(predicted_slots) == PARKING_SLOT_ARRAY_MSGTYPE:
                parts[predicted_slots] = "pred_slots"
        else:
            image = _image_topic(reader, camera)
            if image is None:
                raise BagError(
                    f"{args.bag} has neither predictions "
                    f"({topics.output_topic(camera, 'mask', namespace=namespace)}) "
                    f"nor images of camera {camera}; "
                    f"the bag has: {reader.topic_listing()}"
                )
            parts[image] = "image"
        roles.update({topic: (camera, role) for topic, role in parts.items()})
        needed[camera] = set(parts.values())
    if not needed:
        wanted = ", ".join(topics.ground_truth_mask_topic(c) for c in scenario.cameras)
        raise BagError(
            f"no ground truth ({wanted}) in {truth.path}; pass --gt-bag, --dataset or --generate; "
            f"the bag has: {truth.topic_listing()}"
        )
    truth_topics = [t for t, (_, role) in roles.items() if role.startswith("true_")]
    main = [t for t in roles if not (args.gt_bag and t in truth_topics)]
    return {"roles": roles, "needed": needed, "main": main, "truth": truth_topics}


def _prediction_topic(reader: BagReader, camera: str, namespace: str) -> str | None:
    """``process``'s mask topic of ``camera`` in the bag: raw ``mono8`` first, else the PNG one."""
    for compressed in (False, True):
        topic = topics.output_topic(camera, "mask", namespace=namespace, compressed=compressed)
        if topic in reader.topics:
            return topic
    return None


def _image_topic(reader: BagReader, camera: str) -> str | None:
    for compressed in (False, True):
        topic = topics.image_topic(camera, compressed=compressed)
        if topic in reader.topics:
            return topic
    return None


def _decode(message: BagMessage, role: str) -> tuple[int, Any]:
    msg = message.decode()
    if role.endswith("_json"):
        polygons, slots, record = frame_json.parse_record(msg.data, topic=message.topic)
        stamp = int(record.get("stamp_ns", message.timestamp_ns))
        return stamp, (polygons, slots, frame_json.marking_point_positions(record))
    if role == "image":
        return messages.stamp_ns(msg), messages.decode_image(msg, message.msgtype, topic=message.topic)
    if role == "pred_slots":
        return messages.stamp_ns(msg), slots_from_msg(msg)
    return messages.stamp_ns(msg), messages.decode_mask(msg, topic=message.topic, msgtype=message.msgtype)


def slots_from_msg(msg: Any) -> list[ParkingSlot]:
    """Slots of a decoded ``seg_perception/ParkingSlotArray`` (pixel corners, occupancy, type, id)."""
    return [
        ParkingSlot(
            corners=np.array([[p.x, p.y] for p in slot.corner_pixels], dtype=np.float32),
            free=int(slot.occupancy) != Occupancy.OCCUPIED,
            instance_id=int(slot.id),
            slot_type=SlotType(int(slot.type)),
            confidence=float(slot.confidence),
            occupancy_confidence=float(slot.occupancy_confidence),
        )
        for slot in msg.slots
    ]


def _frame(
    parts: dict[str, Any], camera: str, runner: PipelineRunner, *, stamp: int, with_slots: bool
) -> Frame:
    true_polygons, true_slots, true_points = parts.get("true_json", (None, None, None))
    if "image" in parts:
        result = runner(camera, parts["image"], stamp_ns=stamp)
        predicted_mask, predicted_polygons, predicted_slots = result.mask, result.polygons, result.slots
        predicted_points = _result_points(result)
    else:
        predicted_mask = parts["pred_mask"]
        predicted_polygons, predicted_slots, predicted_points = parts.get("pred_json", (None, None, None))
        predicted_slots = parts.get("pred_slots", predicted_slots)
    return Frame(
        parts["true_mask"],
        predicted_mask,
        true_polygons,
        predicted_polygons,
        true_slots if with_slots else None,
        predicted_slots if with_slots else None,
        true_points if with_slots else None,
        predicted_points if with_slots else None,
    )


def _result_points(result: Any) -> np.ndarray | None:
    """The pipeline's marking points as (N, 2) pixels, when it reports any."""
    points = marking_point_positions(getattr(result, "marking_points", None))
    return points if len(points) else None


def _points_or_corners(
    points: np.ndarray | None, slots: list[ParkingSlot], threshold_px: float
) -> np.ndarray:
    """Marking points when known, else the slots' entrance corners (shared ones merged)."""
    if points is not None:
        return points
    return merge_points(slot_entrances(slots).reshape(-1, 2), threshold_px / 2.0)


def generated_frames(
    args: argparse.Namespace, scenario: ScenarioConfig, runner: PipelineRunner
) -> Iterator[Frame]:
    """Frames of a generated drive, predicted by the pipeline."""
    from seg_perception.bags.make_bag import size_option
    from seg_perception.data.synthetic import generate_drive

    for sample in tqdm(
        generate_drive(scenario.name, args.seed, args.generate, size=size_option(args.size)),
        total=args.generate,
        unit="frame",
        desc="eval-bag",
        leave=False,
        disable=None,
    ):
        camera = str(sample.meta.get("camera", scenario.primary_camera))
        result = runner(camera, sample.image)
        slots = has_slots(scenario)
        yield Frame(
            sample.mask,
            result.mask,
            list(sample.polygons),
            result.polygons,
            list(sample.slots) if slots else None,
            result.slots if slots else None,
            np.array([m.position for m in sample.marking_points if not m.occluded], np.float64).reshape(-1, 2)
            if slots
            else None,
            _result_points(result) if slots else None,
        )


def dataset_frames(
    args: argparse.Namespace, scenario: ScenarioConfig, runner: PipelineRunner
) -> Iterator[Frame]:
    """Frames of an ``images/`` + ``masks/`` folder (same file stems), predicted by the pipeline."""
    from seg_perception.data.synthetic.sample import mask_to_polygons

    root: Path = args.dataset
    images = sorted(p for p in (root / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise BagError(f"{root}/images holds no images; expected images/<name>.png and masks/<name>.png")
    for path in tqdm(images, unit="frame", desc="eval-bag", leave=False, disable=None):
        mask_path = root / "masks" / f"{path.stem}.png"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        if image is None or mask is None or mask.ndim != 2:
            raise BagError(f"cannot read {path} or its single-channel mask {mask_path}")
        result = runner(scenario.primary_camera, image, still=True)  # a dataset's images are unrelated
        yield Frame(mask, result.mask, mask_to_polygons(mask, scenario.classes), result.polygons)


def resolve_bag(path: Path) -> Path:
    """The bag at ``path``; a ``seg-perception process --out`` folder means the ``bag/`` inside it.

    Raises:
        BagError: nothing there, with the process output bag named when there is one nearby.
    """
    processed = path / PROCESS_BAG_DIR
    partial = path / (PROCESS_BAG_DIR + PARTIAL_SUFFIX)
    if path.is_dir() and not any(path.glob("*.mcap")) and not any(path.glob("*.db3")):
        if processed.is_dir():
            return processed
        if partial.is_dir():  # a run that did not finish: check_complete says so
            return partial
    if not path.exists():
        for candidate in (path.parent / PROCESS_BAG_DIR, path.parent.parent / PROCESS_BAG_DIR):
            if candidate.is_dir():
                raise BagError(f"bag {path} does not exist; 'seg-perception process' wrote {candidate}")
    return path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "bag",
        type=Path,
        nargs="?",
        help="bag to evaluate: a 'process --out' folder (its bag/), its bag, or a recorded drive",
    )
    parser.add_argument("--scenario", required=True, help="highway, road, parking or a YAML path")
    parser.add_argument(
        "--gt-bag", type=Path, help="bag holding the ground-truth topics (default: BAG itself)"
    )
    parser.add_argument(
        "--dataset", type=Path, help="evaluate on images/ + masks/ of this folder instead of a bag"
    )
    parser.add_argument(
        "--generate", type=int, metavar="N", help="evaluate on N generated frames instead of a bag"
    )
    parser.add_argument(
        "--seed", type=int, default=1000, help="generator seed with --generate (default 1000)"
    )
    parser.add_argument("--size", metavar=SIZE_METAVAR, help="generated image size with --generate")
    parser.add_argument(
        "--model", type=Path, help="model file when the pipeline runs (default: shipped weights)"
    )
    parser.add_argument(
        "--run-pipeline", action="store_true", help="ignore predictions stored in BAG; run the model"
    )
    add_engine_arguments(parser)
    parser.add_argument(
        "--output-namespace",
        default=topics.DEFAULT_OUTPUT_NAMESPACE,
        help="namespace of process's output topics (default: none, i.e. /<camera>/mask)",
    )
    parser.add_argument(
        "--slot-threshold-m",
        type=float,
        default=DEFAULT_SLOT_THRESHOLD_M,
        help="slot corner match distance in metres (default 0.5), converted with metres_per_pixel",
    )
    parser.add_argument(
        "--slot-threshold-px",
        type=float,
        help="slot corner match distance in pixels (overrides --slot-threshold-m)",
    )
    parser.add_argument(
        "--point-threshold-cm",
        type=float,
        default=100.0 * DEFAULT_THRESHOLD_M,
        help="marking-point / slot-entrance match distance for the ps2.0-style table (default "
        f"{100.0 * DEFAULT_THRESHOLD_M:.1f} cm = 10 px at 600x600)",
    )
    parser.add_argument("--out", type=Path, help="write report.json and report.md here")
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="evaluate the output of a 'process' run that did not finish (reported as incomplete)",
    )


@dataclass
class _SlotScores:
    """Marking points and slots of a parking run, with occupancy and (on a stream) slot ids."""

    parking: ParkingAccumulator
    scale: float  # metres per pixel of the frames (0: unknown)
    occupancy: OccupancyAgreement = field(default_factory=OccupancyAgreement)
    persistence: SlotIdPersistence | None = None  # a bag or a generated drive: slots keep their ids

    def update(self, frame: Frame) -> None:
        if frame.true_slots is None or frame.predicted_slots is None:
            return
        width = int(frame.true_mask.shape[1])
        point_px = frame_threshold_px(width, self.scale or None, self.parking.threshold_m)
        matches = self.parking.update(
            image_width=width,
            predicted_points=_points_or_corners(frame.predicted_points, frame.predicted_slots, point_px),
            true_points=_points_or_corners(frame.true_points, frame.true_slots, point_px),
            predicted_entrances=slot_entrances(frame.predicted_slots),
            true_entrances=slot_entrances(frame.true_slots),
            metres_per_pixel=self.scale or None,
        )
        self.occupancy.update(
            matches["slots"],
            [slot.occupied for slot in frame.predicted_slots],
            [slot.occupied for slot in frame.true_slots],
            [slot.occupancy_confidence for slot in frame.predicted_slots],
        )
        if self.persistence is not None:
            self.persistence.update(
                matches["slots"],
                [slot.instance_id for slot in frame.predicted_slots],
                [slot.instance_id for slot in frame.true_slots],
            )

    def report(self) -> dict[str, Any] | None:
        """The parking report (None when no frame had slots on both sides)."""
        if not self.parking.frames:
            return None
        report = self.parking.report()
        report["occupancy"] = self.occupancy.report()
        if self.persistence is not None:
            report["slot_ids"] = self.persistence.report()
        return report


def _source(args: argparse.Namespace) -> None:
    """Check that exactly one input is given (and --gt-bag only with a bag)."""
    sources = [
        name
        for name, value in (("BAG", args.bag), ("--dataset", args.dataset), ("--generate", args.generate))
        if value
    ]
    if len(sources) != 1:
        raise BagError(
            f"give exactly one of BAG, --dataset or --generate N (got {', '.join(sources) or 'none'})"
        )
    if args.gt_bag and not args.bag:
        raise BagError("--gt-bag needs BAG")


def _report_text(report: dict[str, Any], incomplete: str | None) -> str:
    text = markdown(report)
    if "parking" in report:
        text += (
            "\nMarking points and slots (every labelled slot, occupied ones too; ps2.0-style matching):\n\n"
            + format_report(report["parking"])
        )
        if "occupancy" in report["parking"]:
            text += "\n" + format_occupancy(report["parking"]["occupancy"])
        if "slot_ids" in report["parking"]:
            text += format_persistence(report["parking"]["slot_ids"])
    if incomplete:
        text = f"> **INCOMPLETE INPUT**: {incomplete}\n\n{text}"
    return text


def run(args: argparse.Namespace) -> int:
    from seg_perception.config import load_scenario

    _source(args)
    if args.out:
        prepare_output_directory(args.out)
    incomplete = None
    if args.bag:
        args.bag = resolve_bag(args.bag)
        with BagReader(args.bag) as reader:
            incomplete = check_complete(reader, allow_incomplete=args.allow_incomplete)
    scenario = load_scenario(args.scenario)
    threshold_px, scale = slot_threshold(args, scenario)
    accumulator = EvaluationAccumulator(scenario.classes.names, threshold_px, scale)
    slot_scores = (
        _SlotScores(
            ParkingAccumulator(threshold_m=args.point_threshold_cm / 100.0),
            scale,
            persistence=None if args.dataset else SlotIdPersistence(),
        )
        if has_slots(scenario)
        else None
    )
    runner = PipelineRunner(args, scenario)
    frames = (bag_frames if args.bag else generated_frames if args.generate else dataset_frames)(
        args, scenario, runner
    )
    try:
        for frame in frames:
            accumulator.update(
                true_mask=frame.true_mask,
                predicted_mask=frame.predicted_mask,
                true_polygons=frame.true_polygons,
                predicted_polygons=frame.predicted_polygons,
                true_slots=frame.true_slots,
                predicted_slots=frame.predicted_slots,
            )
            if slot_scores is not None:
                slot_scores.update(frame)
    except ValueError as err:
        raise BagError(str(err)) from err
    finally:
        runner.close()
    if accumulator.frames == 0:
        raise BagError("no frame had both ground truth and a prediction")
    report = accumulator.report()
    parking_report = slot_scores.report() if slot_scores is not None else None
    if parking_report is not None:
        report["parking"] = parking_report
    report.update(
        {"scenario": scenario.name, "source": str(args.bag or args.dataset or f"generate:{args.generate}")}
    )
    if incomplete:
        report["incomplete"] = incomplete
    if runner.timings:
        from seg_perception.bags.process import LATENCY_DIGITS

        report["latency_ms"] = stage_latencies(runner.timings, LATENCY_DIGITS)
    text = _report_text(report, incomplete)
    print(text, end="")
    if args.out:
        try:
            (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
            (args.out / "report.md").write_text(text)
        except OSError as err:
            raise BagError(f"cannot write the report to {args.out}: {err.strerror or err}") from err
    return 0
