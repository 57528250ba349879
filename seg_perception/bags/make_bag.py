"""``seg-perception make-bag``: record a synthetic drive, or a real camera's video, into a ROS 2 bag.

Per camera: images at ``fps`` on ``/camera/<cam>/image_raw`` (``bgr8``) or
``/camera/<cam>/image_raw/compressed`` (JPEG), the exact label mask on
``/camera/<cam>/ground_truth/mask`` (``mono8``) and the ground-truth polygons and
parking slots as frame JSON (``seg_perception.bags.frame_json``) on
``/camera/<cam>/ground_truth/polygons`` (``std_msgs/String``). Header stamps follow a
fixed-rate timeline; the bag's log time equals the header stamp.

With ``--from`` the frames are a real camera's instead (a video file or a folder of frames in natural
order, as ``predict`` reads them), on the scenario camera's image topic at the video's own rate, with no
ground truth; ``--camera-info`` adds its calibration on ``/camera/<cam>/camera_info``, stamped like the
frames, as a camera driver publishes it. A dash-cam clip so becomes a bag that ``play`` feeds the live
node (and RViz) and that ``process`` runs offline.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from tqdm import tqdm

from seg_perception import cli_args
from seg_perception.bags import frame_json, messages, topics
from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import STORAGE_FORMATS, BagWriter

if TYPE_CHECKING:
    from seg_perception.media_files import Source

CUSTOM_DATA_KEY = "seg_perception.drive"
DEFAULT_SECONDS = 20.0
DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class BagLayout:
    """How frames are written.

    Attributes:
        compressed: JPEG ``CompressedImage`` instead of raw ``bgr8`` images.
        jpeg_quality: JPEG quality (1..100) when compressed.
        fps: Frame rate of the timeline.
        start_ns: Stamp of the first frame.
        ground_truth: Write the ground-truth mask and polygon topics.
    """

    compressed: bool = False
    jpeg_quality: int = 90
    fps: float = 30.0
    start_ns: int = int(topics.DEFAULT_START_TIME_S * 1e9)
    ground_truth: bool = True


def size_option(text: str | None) -> tuple[int, int] | None:
    """``HxW`` → (height, width); None passes through.

    Raises:
        BagError: not two positive integers separated by ``x``.
    """
    if text is None:
        return None
    try:
        return cli_args.parse_size(text)
    except ValueError as err:
        raise BagError(f"--size: {err}") from err


def write_frames(
    writer: BagWriter, frames: Iterable[Sequence[Any]], *, layout: BagLayout, total: int | None = None
) -> int:
    """Write synchronised frames; each item holds one ``SceneSample`` per camera.

    Returns:
        The number of time steps written.
    """
    count = 0
    for index, samples in enumerate(
        tqdm(frames, total=total, unit="frame", desc="make-bag", leave=False, disable=None)
    ):
        stamp = topics.frame_stamp_ns(index, start_ns=layout.start_ns, fps=layout.fps)
        for sample in samples:
            write_sample(writer, sample, stamp=stamp, layout=layout)
        count += 1
    return count


def write_image(writer: BagWriter, image: np.ndarray, camera: str, *, stamp: int, layout: BagLayout) -> None:
    """Write one of ``camera``'s frames at ``stamp``, raw or JPEG as ``layout`` says."""
    frame_id = topics.camera_frame_id(camera)
    if layout.compressed:
        msg = messages.jpeg_msg(image, stamp=stamp, frame_id=frame_id, quality=layout.jpeg_quality)
        writer.write(topics.image_topic(camera, compressed=True), stamp, msg)
    else:
        msg = messages.image_msg(image, stamp=stamp, frame_id=frame_id)
        writer.write(topics.image_topic(camera), stamp, msg)


def write_sample(writer: BagWriter, sample: Any, *, stamp: int, layout: BagLayout) -> None:
    """Write one ``SceneSample`` (image, and ground truth when asked) at ``stamp``."""
    camera = str(sample.meta.get("camera", "front"))
    frame_id = topics.camera_frame_id(camera)
    write_image(writer, sample.image, camera, stamp=stamp, layout=layout)
    if not layout.ground_truth:
        return
    writer.write(
        topics.ground_truth_mask_topic(camera),
        stamp,
        messages.image_msg(sample.mask, stamp=stamp, frame_id=frame_id),
    )
    record = frame_json.frame_record(
        stamp_ns=stamp,
        frame_id=frame_id,
        camera=camera,
        image_size=sample.mask.shape[:2],
        polygons=sample.polygons,
        slots=sample.slots,
        calibration=frame_json.Calibration.from_mapping(sample.meta),
        marking_points=getattr(sample, "marking_points", ()),
    )
    writer.write(
        topics.ground_truth_polygons_topic(camera), stamp, messages.string_msg(frame_json.dumps(record))
    )


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        action="append",
        required=True,
        metavar="NAME",
        help="highway, road or parking; repeat for several cameras on one timeline",
    )
    parser.add_argument(
        "--seconds", type=float, help="drive length (default 20; --from: the whole video or folder)"
    )
    parser.add_argument(
        "--fps",
        type=float,
        help="frame rate of the timeline (default 30; --from: a video's own rate, 30 for a folder)",
    )
    recorded = parser.add_argument_group("a real camera's frames instead of a synthetic drive")
    recorded.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="VIDEO_OR_FOLDER",
        help="a video file or a folder of one video's frames (natural order: 2.jpg before 10.jpg), "
        "written on the --scenario camera's topic without ground truth",
    )
    recorded.add_argument(
        "--camera-info",
        type=Path,
        metavar="FILE",
        help="with --from: the camera's sensor_msgs/CameraInfo YAML (camera_calibration), written on "
        "/camera/<cam>/camera_info beside every frame",
    )
    parser.add_argument("--out", type=Path, required=True, help="bag directory to create")
    parser.add_argument(
        "--storage", choices=STORAGE_FORMATS, default="mcap", help="storage format (default mcap)"
    )
    parser.add_argument(
        "--compressed", action="store_true", help="JPEG CompressedImage on .../image_raw/compressed"
    )
    parser.add_argument(
        "--jpeg-quality", type=int, default=90, help="JPEG quality with --compressed (default 90)"
    )
    parser.add_argument("--size", help="image size HEIGHTxWIDTH (default: the scenario's image_size)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument(
        "--start-time",
        type=float,
        default=topics.DEFAULT_START_TIME_S,
        help="UNIX time of the first stamp, seconds (default %(default).0f, fixed for reproducibility)",
    )
    parser.add_argument("--no-ground-truth", action="store_true", help="omit the ground-truth topics")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag at --out")


def run(args: argparse.Namespace) -> int:
    from seg_perception.config import load_scenario
    from seg_perception.data.synthetic import generate_drive

    if (args.seconds is not None and args.seconds <= 0) or (args.fps is not None and args.fps <= 0):
        raise BagError("--seconds and --fps must be positive")
    if not 1 <= args.jpeg_quality <= 100:
        raise BagError("--jpeg-quality must be within 1..100")
    scenarios = [load_scenario(name).name for name in args.scenario]
    if len(set(scenarios)) != len(scenarios):
        raise BagError(f"--scenario given twice: {scenarios}")
    size = size_option(args.size)
    if args.source is not None:
        return _run_from_media(args, load_scenario(scenarios[0]).primary_camera, size)
    if args.camera_info is not None:
        raise BagError("--camera-info goes with --from (a synthetic drive's camera is the generator's)")
    seconds = DEFAULT_SECONDS if args.seconds is None else args.seconds
    fps = DEFAULT_FPS if args.fps is None else args.fps
    num_frames = max(1, math.ceil(seconds * fps - 1e-9))
    layout = _layout(args, fps, ground_truth=not args.no_ground_truth)
    drive = {
        "scenarios": scenarios,
        "seed": args.seed,
        "num_frames": num_frames,
        "fps": fps,
        "size": list(size) if size else None,
        "start_ns": layout.start_ns,
        "compressed": args.compressed,
    }
    streams = [generate_drive(name, args.seed, num_frames, size=size, fps=fps) for name in scenarios]
    with _writer(args, drive) as writer:
        written = write_frames(writer, zip(*streams, strict=False), layout=layout, total=num_frames)
    print(
        f"wrote {written} frames x {len(scenarios)} camera(s) "
        f"({written / fps:.2f} s at {fps:g} Hz) "
        f"to {args.out} ({args.storage})"
    )
    return 0


def _layout(args: argparse.Namespace, fps: float, *, ground_truth: bool) -> BagLayout:
    return BagLayout(
        compressed=args.compressed,
        jpeg_quality=args.jpeg_quality,
        fps=fps,
        start_ns=round(args.start_time * 1e9),
        ground_truth=ground_truth,
    )


def _writer(args: argparse.Namespace, recording: dict[str, Any]) -> BagWriter:
    """The bag at ``--out``, with what it records (the drive or the source) in its custom data."""
    return BagWriter(
        args.out,
        storage=args.storage,
        overwrite=args.overwrite,
        custom_data={CUSTOM_DATA_KEY: json.dumps(recording)},
    )


def _camera_info(path: Path) -> dict[str, Any]:
    """A CameraInfo YAML, checked as the node will read it (a bad file fails here, not at playback)."""
    from seg_perception.errors import ConfigError
    from seg_perception.postprocess.camera_model import UNMOUNTED, CameraModel

    try:
        CameraModel.from_camera_info_file(path, UNMOUNTED)
    except ConfigError as err:
        raise BagError(str(err)) from err
    info: dict[str, Any] = yaml.safe_load(path.read_text())
    return info


def _media_source(path: Path, fps: float | None) -> Source:
    """A video or a folder of frames (read at ``fps``, default DEFAULT_FPS); an image is refused."""
    from seg_perception.errors import MediaSourceError
    from seg_perception.media_files import Source

    folder_fps = None if path.is_file() else (fps or DEFAULT_FPS)
    try:
        source = Source(str(path), sequence_fps=folder_fps)
    except MediaSourceError as err:
        raise BagError(f"--from: {err}") from err
    if source.kind not in ("video", "sequence"):
        source.close()
        raise BagError(f"--from takes a video file or a folder of frames; {path} is an image")
    return source


def _run_from_media(args: argparse.Namespace, camera: str, size: tuple[int, int] | None) -> int:
    """``make-bag --from``: a real camera's video or folder of frames on ``camera``'s topics."""
    import cv2

    if len(args.scenario) > 1:
        raise BagError("--from records one camera: give one --scenario")
    info = None if args.camera_info is None else _camera_info(args.camera_info)
    source = _media_source(args.source, args.fps)
    fps = args.fps or source.fps or DEFAULT_FPS
    limit = None if args.seconds is None else max(1, math.ceil(args.seconds * fps - 1e-9))
    layout = _layout(args, fps, ground_truth=False)
    frame_id = topics.camera_frame_id(camera)
    recording = {"source": str(args.source), "camera": camera, "fps": fps, "start_ns": layout.start_ns}
    written = unreadable = 0
    with _writer(args, recording) as writer:
        try:
            for frame in tqdm(
                source.frames(), total=source.total, unit="frame", desc="make-bag", disable=None
            ):
                if limit is not None and frame.index >= limit:
                    break
                stamp = topics.frame_stamp_ns(frame.index, start_ns=layout.start_ns, fps=fps)
                if frame.image is None:
                    unreadable += 1  # a gap in the timeline, as a dropped frame leaves one
                    continue
                image = frame.image if size is None else cv2.resize(frame.image, (size[1], size[0]))
                write_image(writer, image, camera, stamp=stamp, layout=layout)
                if info is not None:
                    message = messages.camera_info_msg(info, stamp=stamp, frame_id=frame_id)
                    writer.write(topics.camera_info_topic(camera), stamp, message)
                written += 1
        finally:
            source.close()
    if not written:
        shutil.rmtree(args.out, ignore_errors=True)  # no bag of nothing left behind
        raise BagError(f"--from: no readable frame in {args.source}")
    topic = topics.image_topic(camera, compressed=args.compressed)
    extra = f", {topics.camera_info_topic(camera)}" if info is not None else ""
    skipped = f"; {unreadable} unreadable frame(s) skipped" if unreadable else ""
    print(
        f"wrote {written} frames ({written / fps:.2f} s at {fps:g} Hz) on {topic}{extra} "
        f"to {args.out}{skipped}"
    )
    return 0
