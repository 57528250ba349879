"""Command-line arguments that calibrate a front camera: a CameraInfo file and a mounting.

``predict`` and ``process`` take them as the node takes ``<camera>.camera_info_file``,
``<camera>.mounting`` and ``<camera>.rectified``, so frames of a real camera give lane boundaries
in metres without writing a scenario file. :func:`calibration_fields` turns them into the camera
block's fields (:meth:`~seg_perception.config.ScenarioConfig.with_camera_params`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seg_perception.cli_args import ArgumentTarget
from seg_perception.errors import ConfigError
from seg_perception.postprocess.camera_model import parse_mounting

MOUNTING_METAVAR = "H,PITCH[,ROLL,YAW,X,Y]"


def mounting_argument(text: str) -> list[float]:
    """:func:`~seg_perception.postprocess.camera_model.parse_mounting` as an argparse ``type``.

    Raises:
        argparse.ArgumentTypeError: not two to six numbers, or a height not above 0.
    """
    try:
        return parse_mounting(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_calibration_arguments(parser: ArgumentTarget) -> None:
    """``--camera-info``, ``--mounting`` and ``--rectified``."""
    group = parser.add_argument_group("front camera calibration (lane boundaries in metres)")
    group.add_argument(
        "--camera-info",
        type=Path,
        metavar="FILE",
        help="the camera's sensor_msgs/CameraInfo YAML (camera_calibration; its lens distortion is removed); "
        "with --mounting (seg-perception calibrate measures one)",
    )
    group.add_argument(
        "--mounting",
        type=mounting_argument,
        metavar=MOUNTING_METAVAR,
        help="the camera's height above the ground (m), pitch (deg, positive looking down), roll, yaw and "
        "where it sits ahead of / left of the vehicle origin (m)",
    )
    group.add_argument(
        "--rectified",
        action="store_true",
        help="the frames are rectified (image_proc's image_rect): the CameraInfo's P, no distortion",
    )


def calibration_fields(args: argparse.Namespace, camera_info: Path | None = None) -> dict[str, Any]:
    """The camera block's fields :func:`add_calibration_arguments` set (empty when none was given).

    ``camera_info`` (a file written from a bag's CameraInfo, say) stands in for ``--camera-info``.
    The scenario's own ``ground_homography`` is dropped: it would win over the camera info.

    Raises:
        ConfigError: ``--mounting`` or ``--rectified`` without a camera info, or a camera info
            without ``--mounting``.
    """
    info = camera_info or args.camera_info
    if info is None:
        if args.mounting is not None or args.rectified:
            raise ConfigError("--mounting and --rectified calibrate a camera info: give --camera-info too")
        return {}
    if args.mounting is None:
        raise ConfigError(
            f"a camera info needs the camera's --mounting {MOUNTING_METAVAR}: it does not say where the "
            "ground is"
        )
    return {
        "camera_info_file": str(info),
        "mounting": list(args.mounting),
        "rectified": bool(args.rectified),
        "ground_homography": None,
    }
