"""``seg-perception calibrate``: the image -> ground homography of a front camera, checked on a frame.

Three sources (one per run):

- ``--pair u,v,x,y`` (repeatable, >= 4) or ``--pairs FILE`` (one ``u v x y`` or ``u,v,x,y``
  per line, ``#`` comments): pixels of ground points and their metres in the vehicle frame
  (x forward, y left), e.g. the corners of a lane dash measured with a tape;
- ``--camera-info FILE`` (a ``sensor_msgs/CameraInfo`` YAML from ``camera_calibration``) plus
  the mounting ``--height`` (m) ``--pitch`` (deg, positive looking down) ``--roll`` ``--yaw``
  (``--rectified`` for rectified frames: the file's ``P``, no distortion);
- ``--camera-info FILE`` with pairs: the pairs measure the mounting (height, pitch, roll, yaw and
  where the camera sits from the origin the metres are measured from), the lens taken into account;
- ``--camera-info FILE --image FRAME --lane-width M``: a frame of the car driving along a straight
  lane M metres wide; the highway model finds its two lines, their vanishing point gives pitch and
  yaw, the width the height (roll as ``--roll`` gives it);
- ``--synthetic SCENARIO``: the generator's true camera of drive ``--seed`` (what the demo uses).

It prints the homography and the parameter lines to paste into a scenario config
(``<camera>: ground_homography: [...]`` for pairs and lenses without distortion, else
``camera_info_file`` + ``mounting``: a homography alone cannot hold a lens's distortion, and
the node takes a ``ground_homography`` over a camera info file), writes them with ``--yaml``
(``--synthetic`` with a distorting lens writes its camera info file beside them), and with
``--image FRAME --grid OUT.png`` draws a metric grid (5-50 m ahead,
1.5 m lateral steps) over the frame to check it: grid lines must lie flat on the road and
lane lines must run parallel to the lateral ones.

Examples:
    seg-perception calibrate --pairs dashes.txt --image frame.png --grid check.png
    seg-perception calibrate --camera-info front.yaml --height 1.45 --pitch 2.5 \
        --image frame.png --grid check.png
    seg-perception calibrate --camera-info front.yaml --pairs dashes.txt --image frame.png --grid check.png
    seg-perception calibrate --camera-info front.yaml --image straight.png --lane-width 3.66 --grid check.png
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from seg_perception.cli_args import parse_size
from seg_perception.errors import ConfigError
from seg_perception.postprocess.camera_model import (
    MOUNTING_KEYS,
    UNMOUNTED,
    CameraModel,
    GroundMapper,
    Mounting,
    draw_metric_grid,
    homography_from_correspondences,
    mounting_from_correspondences,
    mounting_from_straight_lane,
)
from seg_perception.postprocess.lanes.results import EGO_LEFT, EGO_RIGHT

#: the scenario whose model finds a straight road's lines for --lane-width
STRAIGHT_ROAD_SCENARIO = "highway"
#: the far share of a line's rows left out of the vanishing point (bunched near the horizon)
STRAIGHT_ROAD_FAR_SHARE = 0.2


def _pair(text: str) -> tuple[float, float, float, float]:
    values = [v for v in text.replace(",", " ").split() if v]
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"a pair is u,v,x,y (pixel then metres), got {text!r}")
    try:
        u, v, x, y = (float(value) for value in values)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"a pair is four numbers u,v,x,y, got {text!r}") from err
    return u, v, x, y


def read_pairs(path: Path) -> list[tuple[float, float, float, float]]:
    """``u v x y`` rows of a text file (commas or spaces; ``#`` starts a comment).

    Raises:
        ConfigError: unreadable file or a malformed row (named by line number).
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise ConfigError(f"cannot read correspondences file {path}: {err}") from err
    pairs = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            pairs.append(_pair(text))
        except argparse.ArgumentTypeError as err:
            raise ConfigError(f"{path}:{number}: {err}") from err
    return pairs


def register(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("source (one of)")
    source.add_argument(
        "--pair",
        type=_pair,
        action="append",
        default=[],
        metavar="U,V,X,Y",
        help="pixel (u, v) of a ground point and its metres (x forward, y left); repeat >= 4 times",
    )
    source.add_argument("--pairs", type=Path, help="file of 'u v x y' rows (>= 4)")
    source.add_argument(
        "--camera-info", type=Path, help="sensor_msgs/CameraInfo YAML (camera_calibration format)"
    )
    source.add_argument(
        "--synthetic", metavar="SCENARIO", help="the synthetic generator's true camera (highway, road)"
    )
    mount = parser.add_argument_group("mounting (with --camera-info)")
    mount.add_argument("--height", type=float, help="camera height above the ground, metres")
    mount.add_argument("--pitch", type=float, default=0.0, help="degrees, positive looking down (default 0)")
    mount.add_argument("--roll", type=float, default=0.0, help="degrees about the optical axis (default 0)")
    mount.add_argument("--yaw", type=float, default=0.0, help="degrees, positive turned left (default 0)")
    mount.add_argument(
        "--lane-width",
        type=float,
        metavar="M",
        help="with --camera-info and --image: measure pitch, yaw and height from the ego lane of a straight "
        "road in the frame (the highway model finds its lines); M: the lane's width (US highways 3.66)",
    )
    mount.add_argument(
        "--rectified",
        action="store_true",
        help="the frames are rectified (image_proc's image_rect): the camera info's P, no distortion",
    )
    parser.add_argument(
        "--seed", type=int, default=200000, help="drive seed for --synthetic (default 200000)"
    )
    parser.add_argument("--size", default="540x960", help="HxW for --synthetic (default 540x960)")
    parser.add_argument(
        "--camera", default="front", help="camera name in the printed parameters (default front)"
    )
    parser.add_argument("--image", type=Path, help="a frame of the camera, to draw the grid over")
    parser.add_argument("--grid", type=Path, help="write the frame with a metric grid here (PNG)")
    parser.add_argument("--yaml", type=Path, help="write the camera's parameter block here")


#: what a calibration source gives: the mapper, the node's parameter block, the frame to draw on, a summary
Calibration = tuple[GroundMapper, dict[str, Any], np.ndarray | None, str]


def calibrate(args: argparse.Namespace) -> Calibration:
    """``(mapper, parameter block, frame or None, summary text)`` for the chosen source.

    Raises:
        ConfigError: no source or several, too few pairs, missing mounting, unreadable files.
    """
    pairs = list(args.pair)
    if args.pairs is not None:
        pairs += read_pairs(args.pairs)
    chosen = [name for name, used in (("pairs", bool(pairs)), ("camera-info", args.camera_info is not None),
                                      ("synthetic", args.synthetic is not None)) if used]  # fmt: skip
    if len(chosen) != 1 and chosen != ["pairs", "camera-info"]:
        raise ConfigError(
            "give exactly one source: --pair/--pairs (>= 4 image<->ground pairs), --camera-info with "
            "--height/--pitch or with pairs (which then measure the mounting), or --synthetic SCENARIO "
            f"(got {chosen or 'none'})"
        )
    frame = None
    if args.image is not None:
        frame = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if frame is None:
            raise ConfigError(f"cannot read image {args.image}")
    if pairs and args.camera_info is not None:
        return _mounting_from_pairs(args, np.asarray(pairs, dtype=np.float64), frame)
    if args.lane_width is not None:
        if args.camera_info is None or frame is None or args.height is not None:
            raise ConfigError(
                "--lane-width measures the mounting from a straight road: give --camera-info and --image "
                "(a frame of the car driving along a straight lane), without --height"
            )
        return _mounting_from_straight_road(args, frame)
    if pairs:
        return _from_pairs(np.asarray(pairs, dtype=np.float64), frame)
    if args.camera_info is not None:
        return _from_camera_info(args, frame)
    return _from_synthetic(args, frame)


def _from_pairs(pairs: np.ndarray, frame: np.ndarray | None) -> Calibration:
    """A homography from image <-> ground pairs (``(N, 4)``: u, v, x, y)."""
    matrix, rms = homography_from_correspondences(pairs[:, :2], pairs[:, 2:])
    block: dict[str, Any] = {"ground_homography": [float(v) for v in matrix.ravel()]}
    return GroundMapper(matrix), block, frame, f"{len(pairs)} pairs, RMS ground error {rms:.3f} m"


def _from_camera_info(args: argparse.Namespace, frame: np.ndarray | None) -> Calibration:
    """A camera info file and the mounting given as options."""
    if args.height is None:
        raise ConfigError("--camera-info needs the mounting: --height (metres) and --pitch (degrees)")
    mounting = {
        "height_m": args.height,
        "pitch_deg": args.pitch,
        "roll_deg": args.roll,
        "yaw_deg": args.yaw,
    }
    camera = CameraModel.from_camera_info_file(
        args.camera_info, Mounting.from_mapping(mounting), rectified=args.rectified
    )
    block: dict[str, Any] = {"camera_info_file": str(args.camera_info), "mounting": mounting}
    if args.rectified:
        block["rectified"] = True
    lens = _lens(camera, args.rectified)
    text = f"camera info {args.camera_info} ({lens}), horizon at row {camera.horizon_v():.1f}"
    return GroundMapper.from_camera(camera), block, frame, text


def _from_synthetic(args: argparse.Namespace, frame: np.ndarray | None) -> Calibration:
    """The true camera of a generated drive (its first frame, when no --image is given)."""
    from seg_perception.data.synthetic import generate_drive

    try:
        size = parse_size(args.size)
    except ValueError as err:
        raise ConfigError(f"--size: {err}") from err
    sample = next(generate_drive(args.synthetic, args.seed, 1, size=size))
    if "camera_model" not in sample.meta:
        raise ConfigError(f"scenario {args.synthetic!r} has no front camera to calibrate")
    camera = CameraModel.from_generator_meta(sample.meta["camera_model"], size)
    block: dict[str, Any] = {
        "ground_homography": [float(v) for v in camera.image_to_ground_homography().ravel()]
    }
    text = f"synthetic {args.synthetic} seed {args.seed}, {_lens(camera, False)}"
    if camera.distortion:
        if args.yaml is None:
            text += " (the homography leaves it out: pass --yaml to write the camera info file too)"
        else:
            info_file = args.yaml.with_name(f"{args.yaml.stem}_camera_info.yaml")
            info_file.parent.mkdir(parents=True, exist_ok=True)
            info_file.write_text(yaml.safe_dump(camera.camera_info(), sort_keys=False))
            block = {"camera_info_file": str(info_file), "mounting": _mounting_degrees(camera.mounting)}
    return GroundMapper.from_camera(camera), block, sample.image if frame is None else frame, text


def _mounting_from_pairs(
    args: argparse.Namespace, pairs: np.ndarray, frame: np.ndarray | None
) -> Calibration:
    """A camera info plus pairs: the pairs measure the mounting (height, angles, offsets).

    Raises:
        ConfigError: --height given too, or pairs that do not determine a pose.
    """
    if args.height is not None:
        raise ConfigError(
            "--camera-info with pairs measures the mounting: leave out --height/--pitch/--roll/--yaw, or "
            "the pairs"
        )
    camera = _camera_to_mount(args)
    mounting, rms_px = mounting_from_correspondences(camera, pairs[:, :2], pairs[:, 2:])
    camera = replace(camera, mounting=mounting)
    mapper = GroundMapper.from_camera(camera)
    ground, _ = mapper.to_ground(pairs[:, :2])
    rms_m = float(np.sqrt(np.nanmean(np.sum((ground - pairs[:, 2:]) ** 2, axis=1))))
    values = _mounting_degrees(mounting)
    block: dict[str, Any] = {"camera_info_file": str(args.camera_info), "mounting": values}
    if args.rectified:
        block["rectified"] = True
    lens = _lens(camera, args.rectified)
    text = (
        f"camera info {args.camera_info} ({lens}); mounting from {len(pairs)} pairs: "
        f"height {values['height_m']:.3f} m, pitch {values['pitch_deg']:.2f} deg, "
        f"roll {values['roll_deg']:.2f} deg, yaw {values['yaw_deg']:.2f} deg, x {values['x_m']:.2f} m, "
        f"y {values['y_m']:.2f} m; reprojection RMS {rms_px:.2f} px, RMS ground error {rms_m:.3f} m"
    )
    return mapper, block, frame, text


def _mounting_from_straight_road(args: argparse.Namespace, frame: np.ndarray) -> Calibration:
    """A camera info plus a frame of a straight lane of known width: pitch, yaw and height.

    Raises:
        ConfigError: the model finds no ego lane in the frame, or its lines give no pose.
    """
    from seg_perception.inference.pipeline import SegmentationPipeline

    roll = float(np.deg2rad(args.roll))
    camera = _camera_to_mount(args)
    pipeline = SegmentationPipeline.load(STRAIGHT_ROAD_SCENARIO)
    try:
        lanes = pipeline.process(frame).lanes
    finally:
        pipeline.close()
    found = {b.position: b for b in (lanes.boundaries if lanes is not None else [])}
    if EGO_LEFT not in found or EGO_RIGHT not in found:
        raise ConfigError(
            f"the {STRAIGHT_ROAD_SCENARIO} model found no ego lane in {args.image} (boundaries: "
            f"{sorted(found) or 'none'}): give a frame of the car driving along a straight, painted lane"
        )
    left, right = (_near_part(found[position].image_points) for position in (EGO_LEFT, EGO_RIGHT))
    if camera.width != frame.shape[1] or camera.height != frame.shape[0]:
        camera = camera.scaled(frame.shape[:2])
    measured = mounting_from_straight_lane(camera, left, right, args.lane_width, roll_rad=roll)
    camera = replace(camera, mounting=measured.mounting)
    values = _mounting_degrees(measured.mounting)
    del values["x_m"], values["y_m"]
    block: dict[str, Any] = {"camera_info_file": str(args.camera_info), "mounting": values}
    if args.rectified:
        block["rectified"] = True
    u, v = measured.vanishing_point
    text = (
        f"camera info {args.camera_info} ({_lens(camera, args.rectified)}); mounting from the straight lane "
        f"in {args.image} ({args.lane_width:g} m wide): height {values['height_m']:.3f} m, pitch "
        f"{values['pitch_deg']:.2f} deg, yaw {values['yaw_deg']:.2f} deg (roll {args.roll:g} deg as given); "
        f"vanishing point ({u:.1f}, {v:.1f}), the camera {measured.lateral_offset_m:+.2f} m from the lane's "
        "centre"
    )
    return GroundMapper.from_camera(camera), block, frame, text


def _near_part(points: np.ndarray) -> np.ndarray:
    """A boundary's pixels without the far share of its rows, where a line bunches up at the horizon."""
    rows = points[:, 1]
    return points[rows >= rows.min() + STRAIGHT_ROAD_FAR_SHARE * np.ptp(rows)]


def _camera_to_mount(args: argparse.Namespace) -> CameraModel:
    """``--camera-info``'s camera, its mounting a placeholder for the one the command measures."""
    return CameraModel.from_camera_info_file(args.camera_info, UNMOUNTED, rectified=args.rectified)


def _lens(camera: CameraModel, rectified: bool) -> str:
    """The lens model in words, for the summary line."""
    if rectified:
        return "rectified frames"
    if not camera.distortion:
        return "no lens distortion"
    return f"{camera.distortion_model} distortion {[round(v, 4) for v in camera.distortion]}"


def _mounting_degrees(mounting: Mounting) -> dict[str, float]:
    """A mounting as the ``mounting`` block writes it (metres, degrees)."""
    return {key: round(value, 6) for key, value in zip(MOUNTING_KEYS, mounting.values(), strict=True)}


def run(args: argparse.Namespace) -> int:
    mapper, block, frame, summary = calibrate(args)
    matrix = mapper.image_to_ground
    print(f"image -> ground homography ({summary}):")
    for row in matrix:
        print("  [" + ", ".join(f"{v: .8e}" for v in row) + "]")
    if frame is not None:
        height, width = frame.shape[:2]
        corners = np.array([[width / 2.0, height - 1.0], [0.0, height - 1.0], [width - 1.0, height - 1.0]])
        ground, valid = mapper.to_ground(corners)
        if valid.all():
            print(
                f"bottom row: {ground[0, 0]:.2f} m ahead, {ground[1, 1]:+.2f} m (left edge) to "
                f"{ground[2, 1]:+.2f} m (right edge) lateral"
            )
        else:
            print("warning: the bottom image row does not map to the ground in front: check the source")
    parameters = {args.camera: block}
    print("\nscenario config / node parameters:\n" + yaml.safe_dump(parameters, sort_keys=False).rstrip())
    if args.yaml is not None:
        args.yaml.parent.mkdir(parents=True, exist_ok=True)
        args.yaml.write_text(yaml.safe_dump(parameters, sort_keys=False))
        print(f"wrote {args.yaml}")
    if args.grid is not None:
        if frame is None:
            raise ConfigError("--grid needs a frame: pass --image FRAME")
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.grid), draw_metric_grid(frame, mapper))
        print(f"wrote {args.grid}")
    return 0
