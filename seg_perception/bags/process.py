"""``seg-perception process``: run a scenario's pipeline on every image of a bag, offline.

No DDS: frames are read with ``rosbags``, decoded like the live node does and passed to
:class:`~seg_perception.inference.pipeline.SegmentationPipeline` (the node's per-frame
code path), so masks match the live node's. Writes to ``--out``:

- ``bag/`` (MCAP): the input images and ground-truth topics, and per camera
  ``/<cam>/mask`` (mono8, exact; the live node's topic; PNG on ``/<cam>/mask/compressed`` with
  ``--compress-masks``), ``/<cam>/overlay/compressed`` (JPEG; raw bgr8 on ``/<cam>/overlay`` with
  ``--raw-overlay``), ``markers`` (MarkerArray), ``lanes`` (``seg_perception/LaneBoundaryArray``,
  front cameras), ``slots`` (``seg_perception/ParkingSlotArray``) and ``polygons/json`` (frame JSON),
  plus ``polygons`` (PointCloud2) with ``--polygon-cloud`` (the node's opt-in), all with the input
  header stamps and log times; the typed messages' schemas go into the MCAP file, so Foxglove and
  ``rosbags`` decode them;
- ``polygons.jsonl``: one frame JSON per line (``seg_perception.bags.frame_json``);
- ``summary.json``: frames, fps, latency percentiles per stage;
- ``overlay.mp4`` (or ``.gif``) and ``contact_sheet.png``.

A run that does not finish leaves nothing that looks complete: the bag is written as
``bag.partial/`` and the frame JSON as ``polygons.jsonl.partial``, renamed when every frame
is done, and ``summary.json`` comes last; the partial bag's metadata says
``seg_perception.process: {"status": "incomplete", ...}`` so ``eval-bag`` refuses it.
A frame the live node would reject (undecodable, refused format, declared size over
``--max-image-pixels``, ...) is skipped, counted in ``summary.json`` under ``rejected`` and
warned about once per reason.

Raw overlays and masks made a 20 s output bag 1.3-1.6 GB; a JPEG overlay is ~20x smaller
than its raw image and costs ~2 ms per 640x640 frame (docs/rosbags.md, Measurements).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml
from tqdm import tqdm

from seg_perception.bags import frame_json, messages, topics
from seg_perception.bags.errors import BagError, FrameRejectedError
from seg_perception.bags.selection import select_image_topics
from seg_perception.bags.storage import BagMessage, BagReader, BagWriter, prepare_output_directory
from seg_perception.bags.topics import CAMERA_INFO_MSGTYPE
from seg_perception.calibration_arguments import add_calibration_arguments, calibration_fields
from seg_perception.image_decoding import DEFAULT_MAX_PIXELS
from seg_perception.inference.arguments import add_engine_arguments, engine_options
from seg_perception.metrics.latency import stage_latencies
from seg_perception.postprocess.camera_model import camera_info_mapping
from seg_perception.postprocess.scene_cut import DEFAULT_TRACKING_GAP_S, StampGap
from seg_perception.reporting import (
    VideoSink,
    close_video_or_warn,
    contact_sheet,
    evenly_spaced,
    write_png,
)
from seg_perception.ros.outputs import LANES, MARKERS, MASK, OVERLAY, POLYGONS, SLOTS, output_frame_id
from seg_perception.ros.projection import scenario_camera_geometry

CONTACT_SHEET_FRAMES = 12
CONTACT_SHEET_COLUMNS = 4
DEFAULT_OVERLAY_JPEG_QUALITY = 90
LATENCY_DIGITS = 3  # summary.json rounds milliseconds to microseconds
PARTIAL_SUFFIX = ".partial"
STATUS_KEY = "seg_perception.process"


class CameraOutputs:
    """Everything written per processed frame of one camera.

    Args:
        raw_overlay: Write the overlay as raw ``bgr8`` on ``<cam>/overlay`` instead of JPEG on
            ``<cam>/overlay/compressed``.
        compress_masks: Write masks as PNG on ``<cam>/mask/compressed`` instead of raw ``mono8``
            on ``<cam>/mask`` (both exact).
        jpeg_quality: Quality of the JPEG overlay.
    """

    def __init__(
        self,
        *,
        camera: str,
        pipeline: Any,
        scenario: Any,
        writer: BagWriter,
        namespace: str,
        jsonl: Any,
        raw_overlay: bool = False,
        compress_masks: bool = False,
        jpeg_quality: int = DEFAULT_OVERLAY_JPEG_QUALITY,
        polygon_cloud: bool = False,
        tracking_gap_s: float = DEFAULT_TRACKING_GAP_S,
    ) -> None:
        self.camera = camera
        self.pipeline = pipeline
        self.writer = writer
        self.jsonl = jsonl
        self.raw_overlay = raw_overlay
        self.compress_masks = compress_masks
        self.jpeg_quality = jpeg_quality
        self.polygon_cloud = polygon_cloud
        compressed = {
            MASK.name: compress_masks,
            OVERLAY.name: not raw_overlay,
            MARKERS.name: False,
            LANES.name: False,
            SLOTS.name: False,
            POLYGONS.name: False,
        }
        self.topic = {
            kind: topics.output_topic(camera, kind, namespace=namespace, compressed=is_compressed)
            for kind, is_compressed in compressed.items()
        }
        self.topic["json"] = self.topic[POLYGONS.name] + "/json"
        # The node's frame and projection for this camera, and its message builders (None where
        # the ROS message packages are not installed).
        self.geometry = scenario_camera_geometry(scenario, camera)
        projection = self.geometry.projection
        self.calibration = frame_json.Calibration(projection.metres_per_pixel, projection.origin_px)
        self.ros = _serialized_outputs(scenario, camera)
        self.timings: list[dict[str, float]] = []
        self.scene_cuts = 0  # frames unrelated to the one before: the pipeline restarted its trackers
        # stamps that go back or pause restart the trackers, as in the node (tracking_gap_s)
        self.stamp_gap = StampGap(tracking_gap_s)
        self.tracking_restarts = 0

    def handle(self, image: np.ndarray, *, stamp: int, log_time: int, frame_id: str) -> np.ndarray:
        """Process one frame (``frame_id``: the input's), write its outputs, return the overlay."""
        frame_id = output_frame_id(self.geometry.frame_id, frame_id)
        if (note := self.pipeline.new_ground_geometry_note(image.shape[:2])) is not None:
            print(
                f"process: warning: {note} (set them in a scenario YAML given as --scenario)", file=sys.stderr
            )
        if self.stamp_gap.jump(stamp) is not None:
            self.pipeline.reset_tracking()
            self.tracking_restarts += 1
        result = self.pipeline.process(image)
        self.timings.append(result.timings_ms)
        self.scene_cuts += result.scene_cut
        overlay = self.pipeline.overlay(image, result.mask, lanes=result.lanes)
        size = (int(result.mask.shape[0]), int(result.mask.shape[1]))
        self.writer.write(self.topic[MASK.name], log_time, self._mask_msg(result.mask, stamp, frame_id))
        self.writer.write(self.topic[OVERLAY.name], log_time, self._overlay_msg(overlay, stamp, frame_id))
        record = frame_json.frame_record(
            stamp_ns=stamp,
            frame_id=frame_id,
            camera=self.camera,
            image_size=size,
            polygons=result.polygons,
            slots=result.slots,
            calibration=self.calibration,
            lanes=result.lanes,
        )
        text = frame_json.dumps(record)
        self.writer.write(self.topic["json"], log_time, messages.string_msg(text))
        self.jsonl.write(text + "\n")
        if self.ros is not None:
            typed = [MARKERS, SLOTS]
            if result.lanes is not None:  # front cameras: as the node, no lanes topic without lanes
                typed.append(LANES)
            if self.polygon_cloud:
                typed.append(POLYGONS)
            for output in typed:
                rawdata = self.ros.serialized(output, stamp_ns=stamp, frame_id=frame_id, result=result)
                self.writer.write_raw(self.topic[output.name], output.msgtype, log_time, rawdata)
        return overlay

    def _mask_msg(self, mask: np.ndarray, stamp: int, frame_id: str) -> Any:
        if self.compress_masks:
            return messages.png_mask_msg(mask, stamp=stamp, frame_id=frame_id)
        return messages.image_msg(mask, stamp=stamp, frame_id=frame_id)

    def _overlay_msg(self, overlay: np.ndarray, stamp: int, frame_id: str) -> Any:
        if self.raw_overlay:
            return messages.image_msg(overlay, stamp=stamp, frame_id=frame_id)
        return messages.jpeg_msg(overlay, stamp=stamp, frame_id=frame_id, quality=self.jpeg_quality)


def _serialized_outputs(scenario: Any, camera: str) -> Any:
    try:
        from seg_perception.ros.bag_outputs import for_camera
    except ImportError:
        return None
    return for_camera(scenario, camera)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="input bag (directory, .mcap or .db3; or a ROS 1 .bag)")
    parser.add_argument("--scenario", required=True, help="highway, road, parking or a YAML path")
    parser.add_argument("--model", type=Path, help="model file (default: the scenario's shipped weights)")
    parser.add_argument(
        "--topics",
        nargs="+",
        metavar="TOPIC",
        help="image topics to process (default: the scenario cameras' image topics)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    add_engine_arguments(parser)
    parser.add_argument("--max-frames", type=int, help="stop after this many frames per camera")
    parser.add_argument(
        "--output-namespace",
        default=topics.DEFAULT_OUTPUT_NAMESPACE,
        help="namespace of the output topics (default: none, i.e. /<camera>/mask like the live node)",
    )
    parser.add_argument(
        "--raw-overlay",
        action="store_true",
        help="store the overlay as raw bgr8 on /<cam>/overlay (default: JPEG on /<cam>/overlay/compressed)",
    )
    parser.add_argument(
        "--overlay-jpeg-quality",
        type=int,
        default=DEFAULT_OVERLAY_JPEG_QUALITY,
        help=f"JPEG quality of the compressed overlay (default {DEFAULT_OVERLAY_JPEG_QUALITY})",
    )
    parser.add_argument(
        "--compress-masks",
        action="store_true",
        help="store masks as lossless PNG on /<cam>/mask/compressed (default: raw mono8 on /<cam>/mask, "
        "the live node's topic)",
    )
    parser.add_argument(
        "--polygon-cloud",
        action="store_true",
        help="also write every region polygon as a PointCloud2 on /<cam>/polygons (the node's "
        "publish_polygon_cloud); lanes and slots are always written as typed messages",
    )
    parser.add_argument(
        "--video",
        default="mp4",
        choices=("mp4", "gif", "none"),
        help="overlay video of the first topic (default mp4; a GIF where OpenCV cannot write MP4)",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"frames declaring more pixels are skipped, like the node does (default {DEFAULT_MAX_PIXELS})",
    )
    parser.add_argument(
        "--tracking-gap-s",
        type=float,
        default=DEFAULT_TRACKING_GAP_S,
        help="input stamps that go back or pause longer than this start lane and slot tracking afresh, "
        f"like the node's tracking_gap_s (default {DEFAULT_TRACKING_GAP_S:g}; 0: never)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output bag")
    add_calibration_arguments(parser)
    parser.add_argument(
        "--camera-info-topic",
        metavar="TOPIC",
        help="the bag's sensor_msgs/CameraInfo topic (its first message) instead of --camera-info; written "
        "to OUT/camera_info.yaml and copied into the output bag",
    )


def run(args: argparse.Namespace) -> int:
    from seg_perception.config import load_scenario, scenario_model_path
    from seg_perception.inference.engine import create_engine
    from seg_perception.inference.pipeline import SegmentationPipeline

    if not 1 <= args.overlay_jpeg_quality <= 100:
        raise BagError(f"--overlay-jpeg-quality must be 1..100, got {args.overlay_jpeg_quality}")
    if args.max_image_pixels < 1:
        raise BagError(f"--max-image-pixels must be positive, got {args.max_image_pixels}")
    scenario = load_scenario(args.scenario)
    prepare_output_directory(args.out)
    final_bag = args.out / "bag"
    if final_bag.exists() and not args.overwrite:
        raise BagError(f"{final_bag} exists already; pass --overwrite to replace it")
    with BagReader(args.bag) as reader:
        selection = select_image_topics(reader, scenario, args.topics)
        counts = reader.message_counts
        total = sum(counts.get(topic, 0) for topic in selection)
        if args.max_frames:
            total = min(total, args.max_frames * len(selection))
        copied = list(selection) + [
            topic
            for camera in set(selection.values())
            for topic in (topics.ground_truth_mask_topic(camera), topics.ground_truth_polygons_topic(camera))
            if topic in reader.topics
        ]
        scenario = _calibrated(scenario, args, reader, set(selection.values()))
        if args.camera_info_topic:
            copied.append(args.camera_info_topic)
        model_file = args.model or scenario_model_path(scenario, args.device)
        engine = create_engine(model_file, engine_options(args))
        try:
            summary = _process(reader, args, scenario, engine, SegmentationPipeline, selection, copied, total)
        finally:
            engine.close()
    summary["model"] = str(model_file)
    summary["providers"] = list(engine.providers)
    _write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    for camera, stats in summary["cameras"].items():
        total_ms = stats["latency_ms"].get("total", {})
        cuts, jumps = stats["scene_cuts"], stats["tracking_restarts"]
        restarts = f", tracking restarted on {cuts} unrelated frame(s)" if cuts else ""
        restarts += f", on {jumps} jump(s) of the stamps" if jumps else ""
        print(
            f"{camera}: {stats['frames']} frames, pipeline p50 {total_ms.get('p50', float('nan')):.1f} ms "
            f"p99 {total_ms.get('p99', float('nan')):.1f} ms{restarts}"
        )
    print(
        f"processed {summary['frames']} frames in {summary['wall_s']:.1f} s "
        f"({summary['fps']:.1f} fps) -> {args.out}"
    )
    for reason, count in summary["rejected"].items():
        first = summary["first_rejection"][reason]
        print(f"process: warning: {count} frame(s) skipped as {reason} (first: {first})", file=sys.stderr)
    return 0


def _calibrated(scenario: Any, args: argparse.Namespace, reader: BagReader, cameras: set[str]) -> Any:
    """``scenario`` with its front cameras calibrated by ``--camera-info`` or ``--camera-info-topic``.

    Raises:
        BagError: both given, a CameraInfo topic missing, empty or of another type, or no front camera
            among the processed ones.
        ConfigError: a mounting without a camera info, or the other way round.
    """
    if args.camera_info_topic and args.camera_info is not None:
        raise BagError("give --camera-info or --camera-info-topic, not both")
    written = None
    if args.camera_info_topic:
        (topic,) = reader.require_topics([args.camera_info_topic], msgtypes=[CAMERA_INFO_MSGTYPE])
        first = next(iter(reader.messages([topic])), None)
        if first is None:
            raise BagError(f"topic {topic} holds no CameraInfo message")
        written = args.out / "camera_info.yaml"
        _write_text(written, yaml.safe_dump(camera_info_mapping(first.decode()), sort_keys=False))
    fields = calibration_fields(args, written)
    if not fields:
        return scenario
    front = sorted(camera for camera in cameras if not scenario.camera(camera).get("metres_per_pixel"))
    if not front:
        raise BagError(
            "--camera-info calibrates front cameras' lane boundaries; the processed cameras "
            f"{sorted(cameras)} are bird's-eye ones"
        )
    for camera in front:
        scenario = scenario.with_camera_params(camera, fields)
    return scenario


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as err:
        raise BagError(f"cannot write {path}: {err.strerror or err}") from err


def _remove_previous(out: Path, *, overwrite: bool) -> None:
    """Remove what an earlier run left, so no stale file passes for this run's output."""
    import shutil

    for name in ("summary.json", "bag" + PARTIAL_SUFFIX, "polygons.jsonl" + PARTIAL_SUFFIX):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if overwrite and (out / "bag").is_dir():
        shutil.rmtree(out / "bag")


@dataclass
class _Rejections:
    """Frames refused by the decoder, counted by reason, with each reason's first message."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, err: FrameRejectedError) -> None:
        self.counts[err.reason] = self.counts.get(err.reason, 0) + 1
        self.first.setdefault(err.reason, str(err))

    def decode(self, message: BagMessage, *, max_pixels: int) -> tuple[Any, np.ndarray] | None:
        """The message and its image, or None (counted here) when the decoder refuses the frame."""
        msg = message.decode()
        try:
            return msg, messages.decode_image(
                msg, message.msgtype, topic=message.topic, max_pixels=max_pixels
            )
        except FrameRejectedError as err:
            self.add(err)
            return None

    def describe(self) -> str:
        """``; N frame(s) rejected, first: ...`` for an error message ("" when none was)."""
        if not self.counts:
            return ""
        return (
            f"; {sum(self.counts.values())} frame(s) rejected, first: {next(iter(self.first.values()), '')}"
        )


@dataclass
class _ContactSheet:
    """Overlays of evenly spaced frames of the first topic, for one picture of the run."""

    indices: set[int]
    images: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def add(self, index: int, overlay: np.ndarray, label: str) -> None:
        if index in self.indices:
            self.images.append(overlay)
            self.labels.append(label)

    def write(self, path: Path) -> Path | None:
        if not self.images:
            return None
        return write_png(contact_sheet(self.images, CONTACT_SHEET_COLUMNS, labels=self.labels), path)


def _camera_outputs(
    args: argparse.Namespace, camera: str, pipeline: Any, scenario: Any, writer: BagWriter, jsonl: IO[str]
) -> CameraOutputs:
    return CameraOutputs(
        camera=camera,
        pipeline=pipeline,
        scenario=scenario,
        writer=writer,
        namespace=args.output_namespace,
        jsonl=jsonl,
        raw_overlay=args.raw_overlay,
        compress_masks=args.compress_masks,
        jpeg_quality=args.overlay_jpeg_quality,
        polygon_cloud=args.polygon_cloud,
        tracking_gap_s=args.tracking_gap_s,
    )


def _open_for_writing(path: Path) -> IO[str]:
    try:
        return path.open("w")
    except OSError as err:
        raise BagError(f"cannot write {path}: {err.strerror or err}") from err


def _camera_summary(outputs: CameraOutputs) -> dict[str, Any]:
    return {
        "frames": len(outputs.timings),
        "topics": outputs.topic,
        "markers": outputs.ros is not None,
        "scene_cuts": outputs.scene_cuts,
        "tracking_restarts": outputs.tracking_restarts,
        "latency_ms": stage_latencies(outputs.timings, LATENCY_DIGITS),
    }


def _process(
    reader: BagReader,
    args: argparse.Namespace,
    scenario: Any,
    engine: Any,
    pipeline_cls: Any,
    selection: dict[str, str],
    copied: list[str],
    total: int,
) -> dict[str, Any]:
    out: Path = args.out
    video_path = None if args.video == "none" else out / f"overlay.{args.video}"
    first_topic = next(iter(selection))
    sheet = _ContactSheet(
        set(evenly_spaced(min(total, reader.message_counts.get(first_topic, 0)), CONTACT_SHEET_FRAMES))
    )
    frames_per_topic = dict.fromkeys(selection, 0)
    rejected = _Rejections()
    _remove_previous(out, overwrite=args.overwrite)
    partial_bag, partial_jsonl = out / ("bag" + PARTIAL_SUFFIX), out / ("polygons.jsonl" + PARTIAL_SUFFIX)
    status: dict[str, Any] = {"status": "incomplete", "frames_expected": total, "frames_done": 0}
    start = time.perf_counter()
    with (
        _open_for_writing(partial_jsonl) as jsonl,  # opened first: nothing is written when it cannot be
        BagWriter(partial_bag, storage="mcap", custom_data={STATUS_KEY: json.dumps(status)}) as writer,
    ):
        cameras = {
            camera: _camera_outputs(
                args, camera, pipeline_cls(engine, scenario, camera), scenario, writer, jsonl
            )
            for camera in set(selection.values())
        }
        video = VideoSink(video_path, fps=_bag_fps(reader, first_topic)) if video_path else None
        progress = tqdm(total=total, unit="frame", desc="process", disable=None)
        try:
            for message in reader.messages(copied):
                if message.topic not in selection:
                    writer.write_raw(message.topic, message.msgtype, message.timestamp_ns, message.rawdata)
                    continue
                index = frames_per_topic[message.topic]
                if args.max_frames and index >= args.max_frames:
                    continue
                writer.write_raw(message.topic, message.msgtype, message.timestamp_ns, message.rawdata)
                decoded = rejected.decode(message, max_pixels=args.max_image_pixels)
                if decoded is None:
                    progress.update(1)
                    continue
                msg, image = decoded
                stamp = messages.stamp_ns(msg)
                overlay = cameras[selection[message.topic]].handle(
                    image, stamp=stamp, log_time=message.timestamp_ns, frame_id=msg.header.frame_id
                )
                if message.topic == first_topic:
                    if video is not None:
                        video.add(overlay)
                    sheet.add(index, overlay, f"{(stamp - reader.start_time_ns) / 1e9:.2f} s")
                frames_per_topic[message.topic] = index + 1
                status["frames_done"] += 1
                progress.update(1)
            status["status"] = "complete" if status["frames_done"] else "failed: no frame processed"
        finally:
            # the bag's metadata (written when the writer closes) says whether the run finished
            writer.set_custom_data(STATUS_KEY, json.dumps(status))
            progress.close()
        video_path = close_video_or_warn(video, tool="process")
    wall = time.perf_counter() - start
    frames = sum(frames_per_topic.values())
    if frames == 0:
        raise BagError(f"no frames processed from {', '.join(selection)}{rejected.describe()}")
    partial_jsonl.replace(out / "polygons.jsonl")
    partial_bag.replace(out / "bag")
    sheet_path = sheet.write(out / "contact_sheet.png")
    return {
        "bag": str(args.bag),
        "scenario": scenario.name,
        "topics": selection,
        "frames": frames,
        "rejected": dict(sorted(rejected.counts.items())),
        "first_rejection": rejected.first,
        "wall_s": round(wall, 3),
        "fps": round(frames / wall, 2) if wall > 0 else 0.0,
        "cameras": {camera: _camera_summary(outputs) for camera, outputs in cameras.items()},
        "outputs": {
            "bag": str(out / "bag"),
            "polygons": str(out / "polygons.jsonl"),
            "video": str(video_path) if video_path else None,
            "contact_sheet": str(sheet_path) if sheet_path else None,
        },
    }


def _bag_fps(reader: BagReader, topic: str) -> float:
    count = reader.message_counts.get(topic, 0)
    duration = reader.duration_ns / 1e9
    return float(np.clip((count - 1) / duration, 1.0, 120.0)) if count > 1 and duration > 0 else 30.0
