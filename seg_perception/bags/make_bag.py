"""``seg-perception make-bag``: record a synthetic drive into a ROS 2 bag.

Per camera: images at ``fps`` on ``/camera/<cam>/image_raw`` (``bgr8``) or
``/camera/<cam>/image_raw/compressed`` (JPEG), the exact label mask on
``/camera/<cam>/ground_truth/mask`` (``mono8``) and the ground-truth polygons and
parking slots as frame JSON (``seg_perception.bags.frame_json``) on
``/camera/<cam>/ground_truth/polygons`` (``std_msgs/String``). Header stamps follow a
fixed-rate timeline; the bag's log time equals the header stamp.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from seg_perception import cli_args
from seg_perception.bags import frame_json, messages, topics
from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import STORAGE_FORMATS, BagWriter

CUSTOM_DATA_KEY = "seg_perception.drive"


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


def write_sample(writer: BagWriter, sample: Any, *, stamp: int, layout: BagLayout) -> None:
    """Write one ``SceneSample`` (image, and ground truth when asked) at ``stamp``."""
    camera = str(sample.meta.get("camera", "front"))
    frame_id = topics.camera_frame_id(camera)
    if layout.compressed:
        msg = messages.jpeg_msg(sample.image, stamp=stamp, frame_id=frame_id, quality=layout.jpeg_quality)
        writer.write(topics.image_topic(camera, compressed=True), stamp, msg)
    else:
        writer.write(
            topics.image_topic(camera),
            stamp,
            messages.image_msg(sample.image, stamp=stamp, frame_id=frame_id),
        )
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
    parser.add_argument("--seconds", type=float, default=20.0, help="drive length (default 20)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the timeline (default 30)")
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

    if args.seconds <= 0 or args.fps <= 0:
        raise BagError("--seconds and --fps must be positive")
    if not 1 <= args.jpeg_quality <= 100:
        raise BagError("--jpeg-quality must be within 1..100")
    scenarios = [load_scenario(name).name for name in args.scenario]
    if len(set(scenarios)) != len(scenarios):
        raise BagError(f"--scenario given twice: {scenarios}")
    size = size_option(args.size)
    num_frames = max(1, math.ceil(args.seconds * args.fps - 1e-9))
    layout = BagLayout(
        compressed=args.compressed,
        jpeg_quality=args.jpeg_quality,
        fps=args.fps,
        start_ns=round(args.start_time * 1e9),
        ground_truth=not args.no_ground_truth,
    )
    drive = {
        "scenarios": scenarios,
        "seed": args.seed,
        "num_frames": num_frames,
        "fps": args.fps,
        "size": list(size) if size else None,
        "start_ns": layout.start_ns,
        "compressed": args.compressed,
    }
    streams = [generate_drive(name, args.seed, num_frames, size=size, fps=args.fps) for name in scenarios]
    with BagWriter(
        args.out,
        storage=args.storage,
        overwrite=args.overwrite,
        custom_data={CUSTOM_DATA_KEY: json.dumps(drive)},
    ) as writer:
        written = write_frames(writer, zip(*streams, strict=False), layout=layout, total=num_frames)
    print(
        f"wrote {written} frames x {len(scenarios)} camera(s) "
        f"({written / args.fps:.2f} s at {args.fps:g} Hz) "
        f"to {args.out} ({args.storage})"
    )
    return 0
