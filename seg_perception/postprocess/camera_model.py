"""A calibrated front camera over a flat ground: intrinsics + mounting -> ground homography.

Frames (ROS REP 103 / 105):

- vehicle frame: x forward, y left, z up, origin on the ground below the reference point;
- camera optical frame: x right, y down, z along the optical axis.

The camera sits at ``(x_m, y_m, height_m)`` in the vehicle frame and is rotated by
``yaw`` (about z, positive turns it to the left), ``pitch`` (positive looks down) and
``roll`` (about the optical axis, positive turns the image clockwise as seen by the
camera). A ground point ``(x, y, 0)`` reaches the (undistorted) pixel ``K (R (p - c))``,
which is the 3x3 homography ``K [r1 r2 -R c]``; its inverse maps pixels to metres.

Intrinsics come from a ``sensor_msgs/CameraInfo`` (message fields ``k``, ``d``,
``distortion_model``, ``p``, ``width``, ``height``, or the ``camera_calibration`` YAML file
with ``camera_matrix``, ``distortion_model``, ``distortion_coefficients`` and
``projection_matrix``), read as ROS defines them: raw images are projected with ``K`` and
their lens distortion (``plumb_bob`` / ``rational_polynomial``: OpenCV's model;
``equidistant``: OpenCV's fisheye model) is removed from pixels before the homography;
rectified images (``image_proc``'s ``image_rect``) are projected with ``P`` and no distortion.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from seg_perception.errors import ConfigError
from seg_perception.postprocess.ground import apply_homography

# vehicle (x fwd, y left, z up) -> optical (x right, y down, z fwd) with all angles zero
_VEHICLE_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
MIN_CORRESPONDENCES = 4
#: A mounting written as a list (node parameters, launch arguments, command lines): these values in this
#: order, trailing ones may be left out (0); ``x_m``, ``y_m``: where the camera sits ahead of and left of
#: the vehicle-frame origin (a base_link on the rear axle)
MOUNTING_KEYS = ("height_m", "pitch_deg", "roll_deg", "yaw_deg", "x_m", "y_m")
MOUNTING_TEXT = "[height_m, pitch_deg, roll_deg, yaw_deg, x_m, y_m]"

PLUMB_BOB = "plumb_bob"
RATIONAL_POLYNOMIAL = "rational_polynomial"
EQUIDISTANT = "equidistant"
#: The CameraInfo ``distortion_model`` values the package projects with, and how many coefficients
#: each takes (``plumb_bob``: k1 k2 p1 p2 [k3]; ``rational_polynomial``: k1 k2 p1 p2 k3 k4 k5 k6;
#: ``equidistant``: k1 k2 k3 k4 of the angle)
DISTORTION_COEFFICIENTS = {PLUMB_BOB: (4, 5), RATIONAL_POLYNOMIAL: (8,), EQUIDISTANT: (4,)}


_NO_ROTATION = np.zeros(3)  # rvec / tvec of cv2.projectPoints for points already in the camera frame
_NO_ROTATION.flags.writeable = False
# the lens's fold (CameraModel.monotonic_radius) is searched for up to this normalised radius (76 degrees
# off the axis), in this many steps
_MAX_RAY_RADIUS = 4.0
_RADIUS_SAMPLES = 4001


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def parse_mounting(text: str) -> list[float]:
    """``HEIGHT_M,PITCH_DEG[,ROLL_DEG,YAW_DEG,X_M,Y_M]`` (a command line's or a launch argument's mounting).

    Raises:
        ValueError: not two to six finite numbers, or a height not above 0 (the message says which).
    """
    form = (
        f"give HEIGHT_M,PITCH_DEG[,ROLL_DEG,YAW_DEG,X_M,Y_M] in metres and degrees (e.g. 1.4,2), got {text!r}"
    )
    try:
        values = [float(part) for part in str(text).strip("[]() ").split(",")]
    except ValueError as err:
        raise ValueError(form) from err
    if not 2 <= len(values) <= len(MOUNTING_KEYS) or not all(np.isfinite(values)):
        raise ValueError(form)
    if not values[0] > 0:
        raise ValueError(f"the height (metres above the ground) must be above 0, got {text!r}")
    return values


@dataclass(frozen=True)
class Mounting:
    """Where the camera sits on the vehicle (metres, radians)."""

    height_m: float
    pitch_rad: float = 0.0
    roll_rad: float = 0.0
    yaw_rad: float = 0.0
    x_m: float = 0.0
    y_m: float = 0.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Mounting:
        """From ``{height_m, pitch_deg, roll_deg, yaw_deg, x_m, y_m}`` (degrees, as humans write them).

        Raises:
            ConfigError: no positive ``height_m``.
        """
        height = float(values.get("height_m", 0.0))
        if not height > 0:
            raise ConfigError(
                f"camera mounting needs a positive height_m (metres above the ground), got {height}"
            )
        return cls(
            height_m=height,
            pitch_rad=float(np.deg2rad(float(values.get("pitch_deg", 0.0)))),
            roll_rad=float(np.deg2rad(float(values.get("roll_deg", 0.0)))),
            yaw_rad=float(np.deg2rad(float(values.get("yaw_deg", 0.0)))),
            x_m=float(values.get("x_m", 0.0)),
            y_m=float(values.get("y_m", 0.0)),
        )

    def values(self) -> list[float]:
        """:data:`MOUNTING_KEYS`' values (metres and degrees), as a mounting is written as a list."""
        angles = np.rad2deg([self.pitch_rad, self.roll_rad, self.yaw_rad])
        return [self.height_m, *(float(angle) for angle in angles), self.x_m, self.y_m]

    @classmethod
    def from_values(cls, values: Sequence[float] | Mapping[str, Any]) -> Mounting:
        """From :data:`MOUNTING_KEYS`' values as a list (trailing ones may be left out) or a mapping.

        Raises:
            ConfigError: no value or more than six, or no positive ``height_m``.
        """
        if isinstance(values, Mapping):
            return cls.from_mapping(values)
        if not 1 <= len(values) <= len(MOUNTING_KEYS):
            raise ConfigError(
                f"a camera mounting is {MOUNTING_TEXT} (trailing values may be left out), got {list(values)}"
            )
        return cls.from_mapping(dict(zip(MOUNTING_KEYS, (float(v) for v in values), strict=False)))


# the mounting of a camera read for its intrinsics alone (checked, or mounted later by measuring it)
UNMOUNTED = Mounting(height_m=1.0)


def camera_info_mapping(msg: Any) -> dict[str, Any]:
    """A ``sensor_msgs/CameraInfo`` message as the ``camera_calibration`` YAML mapping a ``camera_info_file``
    holds (what :meth:`CameraModel.from_camera_info` reads; written out by ``process``).

    Takes rclpy's and ``rosbags``' ROS 2 messages (``k``, ``d``, ``r``, ``p``) and ROS 1 ones (``K``, ``D``,
    ``R``, ``P``); the message's binning and region of interest are kept (``from_camera_info`` applies them).
    """

    def numbers(name: str) -> list[float]:
        values = getattr(msg, name, None)
        return [float(v) for v in (values if values is not None else getattr(msg, name.upper(), ()))]

    d = numbers("d")
    roi = msg.roi
    return {
        "image_width": int(msg.width),
        "image_height": int(msg.height),
        "camera_matrix": {"rows": 3, "cols": 3, "data": numbers("k")},
        "distortion_model": str(msg.distortion_model),
        "distortion_coefficients": {"rows": 1, "cols": len(d), "data": d},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": numbers("r")},
        "projection_matrix": {"rows": 3, "cols": 4, "data": numbers("p")},
        # not in camera_calibration's files, but in the message: what the frames are of the sensor
        "binning_x": int(msg.binning_x),
        "binning_y": int(msg.binning_y),
        "roi": {
            "x_offset": int(roi.x_offset),
            "y_offset": int(roi.y_offset),
            "width": int(roi.width),
            "height": int(roi.height),
        },
    }


@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics (plus optional distortion) and mounting of one camera.

    ``distortion`` holds the coefficients of ``distortion_model`` (:data:`DISTORTION_COEFFICIENTS`);
    empty: an undistorted (or rectified) image.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    mounting: Mounting
    distortion: tuple[float, ...] = field(default=())
    distortion_model: str = PLUMB_BOB

    @classmethod
    def from_camera_info(
        cls, info: Mapping[str, Any], mounting: Mounting, *, rectified: bool = False
    ) -> CameraModel:
        """From a CameraInfo as a mapping: message fields (``k``, ``d``, ``p``) or the calibration YAML.

        Args:
            info: The CameraInfo.
            mounting: Where the camera sits.
            rectified: The images are rectified (``image_proc``'s ``image_rect``): their camera is
                the projection matrix ``P``, without distortion; otherwise ``K`` and ``D``. Either is
                taken to the frames through the message's ``roi`` and ``binning_x`` / ``binning_y``.

        Raises:
            ConfigError: no camera matrix (or a zero one: the camera was never calibrated), no image
                size, a distortion model the package does not know or coefficients it does not take.
        """
        width = info.get("width", info.get("image_width"))
        height = info.get("height", info.get("image_height"))
        dist: tuple[float, ...] = ()
        if not width or not height:
            raise ConfigError("camera info needs the image size (width/height or image_width/image_height)")
        if rectified:
            values = _matrix_values(info, "p", "projection_matrix")
            if values.size != 12:
                raise ConfigError(
                    "rectified images need the camera info's 3x4 projection matrix (p or "
                    "projection_matrix.data, 12 numbers)"
                )
            fx, cx, fy, cy = (float(values[i]) for i in (0, 2, 5, 6))
            model = PLUMB_BOB
        else:
            values = _matrix_values(info, "k", "camera_matrix")
            if values.size != 9:
                raise ConfigError(
                    "camera info needs a 3x3 camera matrix (k or camera_matrix.data, 9 numbers)"
                )
            fx, cx, fy, cy = (float(values[i]) for i in (0, 2, 4, 5))
            model = str(info.get("distortion_model") or PLUMB_BOB).strip().lower()
            distortion = info.get("d")
            if distortion is None and isinstance(info.get("distortion_coefficients"), Mapping):
                distortion = info["distortion_coefficients"].get("data")
            dist = tuple(float(v) for v in (distortion or []))
            if model != EQUIDISTANT and not any(abs(v) > 0 for v in dist):
                dist = ()  # a pinhole (a fisheye's zero coefficients are its ideal lens, theta_d = theta)
            if model not in DISTORTION_COEFFICIENTS:
                known = ", ".join(DISTORTION_COEFFICIENTS)
                raise ConfigError(
                    f"camera info distortion model {model!r} is not supported ({known}): rectify the "
                    "images (image_proc) and set the camera's 'rectified'"
                )
            longest = max(DISTORTION_COEFFICIENTS[model])
            if len(dist) > longest and not any(dist[longest:]):
                dist = dist[:longest]  # drivers that pad D with zeros (a plumb_bob of 8 or 14 numbers)
            if dist and len(dist) not in DISTORTION_COEFFICIENTS[model]:
                counts = " or ".join(str(n) for n in DISTORTION_COEFFICIENTS[model])
                raise ConfigError(
                    f"camera info distortion model {model!r} takes {counts} coefficients, got {len(dist)}"
                )
        # a driver's region of interest and binning: K and P describe the full sensor, the frames
        # its ROI (when set) binned (as image_geometry reads them)
        roi = info.get("roi") or {}
        if int(roi.get("width", 0) or 0) > 0 and int(roi.get("height", 0) or 0) > 0:
            width, height = int(roi["width"]), int(roi["height"])
            cx -= float(roi.get("x_offset", 0) or 0)
            cy -= float(roi.get("y_offset", 0) or 0)
        binning_x = max(int(info.get("binning_x", 0) or 0), 1)
        binning_y = max(int(info.get("binning_y", 0) or 0), 1)
        fx, cx, width = fx / binning_x, cx / binning_x, int(width) // binning_x
        fy, cy, height = fy / binning_y, cy / binning_y, int(height) // binning_y
        if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0):
            which = "projection matrix P" if rectified else "camera matrix K"
            raise ConfigError(
                f"the camera info's {which} has no focal length (fx {fx:g}, fy {fy:g}): the camera was not "
                "calibrated; calibrate it (camera_calibration) or give a ground_homography"
            )
        return cls(int(width), int(height), fx, fy, cx, cy, mounting, dist, model)

    @classmethod
    def from_camera_info_file(
        cls, path: str | Path, mounting: Mounting, *, rectified: bool = False
    ) -> CameraModel:
        """From a ``camera_calibration`` / ``camera_info_manager`` YAML file (see :meth:`from_camera_info`).

        Raises:
            ConfigError: unreadable file or missing fields.
        """
        try:
            info = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read camera info file {path}: {err}") from err
        if not isinstance(info, Mapping):
            raise ConfigError(f"camera info file {path} does not hold a mapping")
        try:
            return cls.from_camera_info(info, mounting, rectified=rectified)
        except ConfigError as err:
            raise ConfigError(f"camera info file {path}: {err}") from err

    def camera_info(self) -> dict[str, Any]:
        """This camera as a ``camera_calibration`` YAML mapping (what :meth:`from_camera_info_file` reads)."""
        k = [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]
        return {
            "image_width": self.width,
            "image_height": self.height,
            "camera_matrix": {"rows": 3, "cols": 3, "data": k},
            "distortion_model": self.distortion_model,
            "distortion_coefficients": {
                "rows": 1,
                "cols": len(self.distortion),
                "data": list(self.distortion),
            },
            "rectification_matrix": {
                "rows": 3,
                "cols": 3,
                "data": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            },
            "projection_matrix": {"rows": 3, "cols": 4, "data": [*k[:3], 0.0, *k[3:6], 0.0, *k[6:], 0.0]},
        }

    @classmethod
    def from_generator_meta(cls, meta: Mapping[str, Any], size: tuple[int, int]) -> CameraModel:
        """The synthetic generator's true camera from a sample's ``meta["camera_model"]``.

        Reads the intrinsics from ``K`` (row-major 3x3) or ``focal_px``, ``cx``, ``cy``; the
        mounting from ``mount_height_m``, ``pitch_rad`` and, when present, ``roll_rad`` and
        ``yaw_rad``; the plumb-bob distortion from ``D`` when present. ``size`` = (height, width).

        Raises:
            ConfigError: a required key is missing.
        """
        try:
            if meta.get("K") is not None:
                k = [float(v) for v in meta["K"]]
                meta = {**meta, "fx": k[0], "fy": k[4], "cx": k[2], "cy": k[5]}
            fx = float(meta.get("fx", meta.get("focal_px")))
            fy = float(meta.get("fy", meta.get("focal_px")))
            mounting = Mounting(
                height_m=float(meta["mount_height_m"]),
                pitch_rad=float(meta["pitch_rad"]),
                roll_rad=float(meta.get("roll_rad", 0.0)),
                yaw_rad=float(meta.get("yaw_rad", 0.0)),
            )
            cx, cy = float(meta["cx"]), float(meta["cy"])
        except (KeyError, TypeError) as err:
            raise ConfigError(f"synthetic camera metadata {dict(meta)} lacks {err}") from err
        distortion = tuple(float(v) for v in meta.get("D", ()) or ())
        if not any(distortion):
            distortion = ()
        return cls(int(size[1]), int(size[0]), fx, fy, cx, cy, mounting, distortion)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @functools.cached_property
    def distortion_array(self) -> np.ndarray:
        """``distortion`` as OpenCV takes it."""
        return np.asarray(self.distortion, dtype=np.float64)

    @functools.cached_property
    def monotonic_radius(self) -> float:
        """Largest normalised radius up to which the radial distortion still grows (inf if it always does).

        Far outside the field of view barrel distortion folds back: a ray beyond this radius would be
        drawn inside the frame, among the rays it really sees.
        """
        k = np.zeros(8)
        k[: min(len(self.distortion), 8)] = self.distortion[:8]
        if self.distortion_model == EQUIDISTANT:  # theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8)
            if not k[:4].any():
                return float("inf")
            theta = np.linspace(0.0, np.arctan(_MAX_RAY_RADIUS), _RADIUS_SAMPLES)
            t2 = theta * theta
            radial = theta * (1 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))
            falling = np.flatnonzero(np.diff(radial) <= 0)
            return float(np.tan(theta[falling[0]])) if falling.size else float("inf")
        k1, k2, _, _, k3, k4, k5, k6 = k.tolist()
        if not (k1 or k2 or k3):
            return float("inf")
        r = np.linspace(0.0, _MAX_RAY_RADIUS, _RADIUS_SAMPLES)
        r2 = r * r
        radial = r * (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        falling = np.flatnonzero(np.diff(radial) <= 0)
        return float(r[falling[0]]) if falling.size else float("inf")

    @property
    def rotation(self) -> np.ndarray:
        """3x3 rotation taking vehicle-frame vectors to the camera optical frame."""
        m = self.mounting
        return _rot_z(-m.roll_rad) @ _VEHICLE_TO_OPTICAL @ _rot_y(-m.pitch_rad) @ _rot_z(-m.yaw_rad)

    @property
    def position(self) -> np.ndarray:
        m = self.mounting
        return np.array([m.x_m, m.y_m, m.height_m])

    def ground_to_image_homography(self) -> np.ndarray:
        """3x3 homography from ground ``(x, y, 1)`` metres to undistorted pixels ``(u, v, 1)``."""
        rotation = self.rotation
        translation = -rotation @ self.position
        matrix = self.matrix @ np.column_stack([rotation[:, 0], rotation[:, 1], translation])
        return matrix / np.abs(matrix).max()  # a positive scale keeps w = depth > 0 in front

    def image_to_ground_homography(self) -> np.ndarray:
        """3x3 homography from undistorted pixels to ground metres (the node's ``ground_homography``)."""
        inverse = np.linalg.inv(self.ground_to_image_homography())
        # a positive scale keeps w > 0 for pixels below the horizon (ground in front of the camera)
        return inverse / abs(inverse[2, 2]) if abs(inverse[2, 2]) > 1e-12 else inverse / np.abs(inverse).max()

    def undistort(self, points_uv: np.ndarray) -> np.ndarray:
        """(K, 2) pixels with the lens distortion removed (unchanged without distortion)."""
        points = np.asarray(points_uv, dtype=np.float64).reshape(-1, 2)
        if not self.distortion or len(points) == 0:
            return points
        undistort = (
            cv2.fisheye.undistortPoints if self.distortion_model == EQUIDISTANT else cv2.undistortPoints
        )
        undistorted = undistort(points.reshape(-1, 1, 2), self.matrix, self.distortion_array, P=self.matrix)
        return undistorted.reshape(-1, 2)

    def distort(self, rays: np.ndarray) -> np.ndarray:
        """(K, 2) pixels of (K, 1, 3) rays in the optical frame, through the lens."""
        project = cv2.fisheye.projectPoints if self.distortion_model == EQUIDISTANT else cv2.projectPoints
        pixels, _ = project(rays, _NO_ROTATION, _NO_ROTATION, self.matrix, self.distortion_array)
        return pixels.reshape(-1, 2)

    def scaled(self, size: tuple[int, int]) -> CameraModel:
        """The same camera for frames resized to ``size`` = (height, width)."""
        height, width = size
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=int(width),
            height=int(height),
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=self.cx * sx,
            cy=self.cy * sy,
        )

    def horizon_v(self, u: float | None = None) -> float:
        """Image row of the horizon at column ``u`` (default the centre), from the homography."""
        return horizon_row(self.image_to_ground_homography(), self.cx if u is None else u)


def _matrix_values(info: Mapping[str, Any], message_field: str, yaml_key: str) -> np.ndarray:
    """A CameraInfo matrix's numbers: the message field (``k``) or the YAML block's ``data``."""
    values = info.get(message_field)
    if values is None and isinstance(info.get(yaml_key), Mapping):
        values = info[yaml_key].get("data")
    return np.asarray(list(values or []), dtype=np.float64)


def horizon_row(image_to_ground: np.ndarray, u: float) -> float:
    """Row of the horizon at column ``u`` (undistorted pixels) of an image -> ground homography."""
    # w(u, v) = h20 u + h21 v + h22 vanishes on the horizon
    a, b, c = (float(value) for value in image_to_ground[2])
    return -(a * u + c) / b if abs(b) > 1e-12 else 0.0


@dataclass(frozen=True)
class GroundMapper:
    """Pixels <-> ground metres through a homography (and, optionally, undistortion).

    Attributes:
        image_to_ground: 3x3 homography from undistorted pixels to ground ``(x fwd, y left)``.
        camera: The camera model, when known (its distortion is applied).
    """

    image_to_ground: np.ndarray
    camera: CameraModel | None = None

    @classmethod
    def from_camera(cls, camera: CameraModel) -> GroundMapper:
        return cls(camera.image_to_ground_homography(), camera)

    @functools.cached_property
    def ground_to_image(self) -> np.ndarray:
        """The inverse homography (computed once: lane curves are projected several times a frame)."""
        return np.linalg.inv(self.image_to_ground)

    def resized(self, size: tuple[int, int], made_for: tuple[int, int] | None = None) -> GroundMapper:
        """This mapping for frames of ``size`` = (height, width), made once per size.

        With a camera, the camera resized to the frames (its lens goes with it); without one, the
        homography rescaled from ``made_for``, the size it was made for. ``made_for`` defaults to the
        camera's size; without either the mapping is used as it is.
        """
        if made_for is None and self.camera is not None:
            made_for = (self.camera.height, self.camera.width)
        size = (int(size[0]), int(size[1]))
        if made_for is None or tuple(made_for) == size:
            return self
        key = (size, (int(made_for[0]), int(made_for[1])))
        resized = self._resized.get(key)
        if resized is None:
            if self.camera is not None:
                resized = GroundMapper.from_camera(self.camera.scaled(size))
            else:
                scale = np.diag(
                    [made_for[1] / size[1], made_for[0] / size[0], 1.0]
                )  # frame -> made_for pixels
                resized = GroundMapper(self.image_to_ground @ scale, None)
            self._resized[key] = resized
        return resized

    @functools.cached_property
    def _resized(self) -> dict[tuple[tuple[int, int], tuple[int, int]], GroundMapper]:
        return {}

    def to_ground(self, points_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(xy, valid)``: (K, 2) metres and a mask of points below the horizon (NaN elsewhere)."""
        points = np.asarray(points_uv, dtype=np.float64).reshape(-1, 2)
        if self.camera is not None:
            points = self.camera.undistort(points)
        projected = np.column_stack([points, np.ones(len(points))]) @ self.image_to_ground.T
        valid = projected[:, 2] > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = np.where(valid[:, None], projected[:, :2] / projected[:, 2:3], np.nan)
        return xy, valid

    def to_image(self, points_xy: np.ndarray) -> np.ndarray:
        """(K, 2) ground metres -> pixels (distorted if the camera has distortion); NaN behind the camera
        and where the lens folds back (beyond :attr:`CameraModel.monotonic_radius`)."""
        points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        x, y = points[:, 0], points[:, 1]
        (a, b, c), (d, e, f), (g, h, i) = self.ground_to_image.tolist()
        w = g * x + h * y + i
        valid = w > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.column_stack([(a * x + b * y + c) / w, (d * x + e * y + f) / w])
        if not valid.all():
            uv[~valid] = np.nan
        if self.camera is not None and self.camera.distortion and valid.any():
            cam = self.camera
            rays = np.ones((int(valid.sum()), 1, 3))
            rays[:, 0, 0] = (uv[valid, 0] - cam.cx) / cam.fx
            rays[:, 0, 1] = (uv[valid, 1] - cam.cy) / cam.fy
            distorted = cam.distort(rays)
            # beyond the lens's monotonic radius a ray would fold back into the frame: no pixel
            folded = np.hypot(rays[:, 0, 0], rays[:, 0, 1]) >= cam.monotonic_radius
            distorted[folded] = np.nan
            uv[valid] = distorted
        return uv


def homography_from_correspondences(
    image_points: Sequence[Sequence[float]] | np.ndarray,
    ground_points: Sequence[Sequence[float]] | np.ndarray,
) -> tuple[np.ndarray, float]:
    """Least-squares image -> ground homography from >= 4 pixel <-> metre pairs.

    Returns:
        ``(H, rms_m)``: the 3x3 homography (``|H[2, 2]| = 1``, signed so that ``w > 0`` for
        pixels on the ground in front of the camera) and the RMS ground error of the
        pairs in metres.

    Raises:
        ConfigError: fewer than 4 pairs, mismatched counts, or a degenerate layout (three of
            four points on a line, all points on a line).
    """
    image = np.asarray(image_points, dtype=np.float64).reshape(-1, 2)
    ground = np.asarray(ground_points, dtype=np.float64).reshape(-1, 2)
    if len(image) != len(ground):
        raise ConfigError(f"{len(image)} image points but {len(ground)} ground points: give them in pairs")
    if len(image) < MIN_CORRESPONDENCES:
        raise ConfigError(
            f"a homography needs at least {MIN_CORRESPONDENCES} image<->ground pairs, got {len(image)}"
        )
    if not (np.isfinite(image).all() and np.isfinite(ground).all()):
        raise ConfigError("correspondences must be finite numbers")
    for name, points in (("image", image), ("ground", ground)):
        centred = points - points.mean(axis=0)
        singular = np.linalg.svd(centred, compute_uv=False)
        if singular[-1] <= 1e-6 * max(singular[0], 1e-12):
            raise ConfigError(f"the {name} points lie on one line: spread them over the ground plane")
    matrix, _ = cv2.findHomography(image, ground, 0)
    if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
        raise ConfigError("the correspondences do not determine a homography (three of them on one line?)")
    matrix = matrix / matrix[2, 2]
    image_w = np.column_stack([image, np.ones(len(image))]) @ matrix[2]
    if np.median(image_w) < 0:  # sign chosen so that w > 0 on the ground the pairs lie on
        matrix = -matrix
    predicted = apply_homography(image, matrix)
    rms = float(np.sqrt(np.mean(np.sum((predicted - ground) ** 2, axis=1))))
    return matrix, rms


def mounting_from_correspondences(
    camera: CameraModel,
    image_points: Sequence[Sequence[float]] | np.ndarray,
    ground_points: Sequence[Sequence[float]] | np.ndarray,
) -> tuple[Mounting, float]:
    """Where a camera of known intrinsics and lens sits, from >= 4 pixel <-> ground-metre pairs.

    The pixels are undistorted with the camera's lens, the pose is solved as a planar PnP and read
    as :class:`Mounting` (height, pitch, roll, yaw and the offsets ``x_m``, ``y_m`` from the origin
    the ground points are measured from). ``camera``'s own mounting is not used.

    Returns:
        ``(mounting, rms_px)``: the mounting and the pairs' reprojection RMS in pixels.

    Raises:
        ConfigError: fewer than 4 pairs, points on one line, or a pose below the ground.
    """
    image = np.asarray(image_points, dtype=np.float64).reshape(-1, 2)
    ground = np.asarray(ground_points, dtype=np.float64).reshape(-1, 2)
    if len(image) != len(ground) or len(image) < MIN_CORRESPONDENCES:
        raise ConfigError(
            f"a mounting needs at least {MIN_CORRESPONDENCES} image<->ground pairs, got {len(image)} image "
            f"and {len(ground)} ground points"
        )
    centred = ground - ground.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    if singular[-1] <= 1e-6 * max(singular[0], 1e-12):
        raise ConfigError("the ground points lie on one line: spread them over the ground plane")
    undistorted = camera.undistort(image)
    world = np.column_stack([ground, np.zeros(len(ground))])
    found, rvec, tvec = cv2.solvePnP(world, undistorted, camera.matrix, None, flags=cv2.SOLVEPNP_IPPE)
    if not found:
        raise ConfigError("the pairs do not determine the camera's pose (check the pixels and the metres)")
    rvec, tvec = cv2.solvePnPRefineLM(world, undistorted, camera.matrix, None, rvec, tvec)
    rotation = cv2.Rodrigues(rvec)[0]  # vehicle -> optical
    position = (-rotation.T @ tvec).ravel()
    if position[2] <= 0:
        raise ConfigError("the pairs put the camera below the ground: check the pixels and the metres")
    # rotation = Rz(-roll) V Ry(-pitch) Rz(-yaw) and V^T Rz(t) V = Rx(t), so
    # V^T rotation = Rx(-roll) Ry(-pitch) Rz(-yaw)
    m = _VEHICLE_TO_OPTICAL.T @ rotation
    mounting = Mounting(
        height_m=float(position[2]),
        pitch_rad=-float(np.arcsin(np.clip(m[0, 2], -1.0, 1.0))),
        roll_rad=-float(np.arctan2(-m[1, 2], m[2, 2])),
        yaw_rad=-float(np.arctan2(-m[0, 1], m[0, 0])),
        x_m=float(position[0]),
        y_m=float(position[1]),
    )
    reprojected = GroundMapper.from_camera(replace(camera, mounting=mounting)).to_image(ground)
    rms = float(np.sqrt(np.mean(np.sum((reprojected - image) ** 2, axis=1))))
    return mounting, rms


@dataclass(frozen=True)
class StraightRoadCalibration:
    """A mounting measured from the two lines of a straight lane (:func:`mounting_from_straight_lane`).

    Attributes:
        mounting: Height, pitch and yaw (roll as given; the camera above the vehicle origin).
        vanishing_point: Undistorted pixel ``(u, v)`` where the two lines meet.
        lateral_offset_m: The camera's offset from the lane's centre (+ = left of it).
    """

    mounting: Mounting
    vanishing_point: tuple[float, float]
    lateral_offset_m: float


def mounting_from_straight_lane(
    camera: CameraModel,
    left_uv: np.ndarray,
    right_uv: np.ndarray,
    lane_width_m: float,
    *,
    roll_rad: float = 0.0,
) -> StraightRoadCalibration:
    """A camera's pitch, yaw and height from the two lines of a straight lane of known width.

    The lines' vanishing point gives the direction of the road, hence pitch and yaw (the car
    driving along the lane); the lane's width gives the height, since ground distances scale with
    it. Roll cannot be told from two parallel lines: it is taken as given.

    Args:
        camera: Intrinsics and lens (its mounting is not used).
        left_uv: (K, 2) pixels along the lane's left line (raw, distorted as the frame is).
        right_uv: (K, 2) pixels along its right line.
        lane_width_m: The lane's width between the lines' centres (a US highway: 3.66 m).
        roll_rad: The camera's roll.

    Raises:
        ConfigError: fewer than 2 points on a line, lines that do not meet ahead, or a width not above 0.
    """
    if not lane_width_m > 0:
        raise ConfigError(f"the lane width must be above 0 metres, got {lane_width_m}")
    lines = []
    for name, points in (("left", left_uv), ("right", right_uv)):
        undistorted = camera.undistort(np.asarray(points, dtype=np.float64).reshape(-1, 2))
        if len(undistorted) < 2 or np.ptp(undistorted[:, 1]) < 1.0:
            raise ConfigError(f"the {name} line needs points over more than one image row")
        # u = a v + b fitted to the line, as a homogeneous line through two of its points
        slope, offset = np.polyfit(undistorted[:, 1], undistorted[:, 0], 1)
        lines.append(np.cross([offset, 0.0, 1.0], [slope + offset, 1.0, 1.0]))
    vanishing = np.cross(lines[0], lines[1])
    if abs(vanishing[2]) < 1e-12:
        raise ConfigError("the two lines are parallel in the image: they do not meet ahead")
    u_v, v_v = vanishing[:2] / vanishing[2]
    # the road's direction through the camera (rolled back to level)
    ray = _rot_z(roll_rad) @ np.array([(u_v - camera.cx) / camera.fx, (v_v - camera.cy) / camera.fy, 1.0])
    ray /= np.linalg.norm(ray)
    if ray[2] <= 0:
        raise ConfigError("the lines meet behind the camera: check which is left and which is right")
    # optical direction of the vehicle's x axis: (sin yaw, -sin pitch cos yaw, cos pitch cos yaw)
    pitch = float(np.arcsin(np.clip(-ray[1], -1.0, 1.0)))
    yaw = float(np.arctan2(ray[0], ray[2] / np.cos(pitch)))
    unit = replace(camera, mounting=Mounting(height_m=1.0, pitch_rad=pitch, roll_rad=roll_rad, yaw_rad=yaw))
    mapper = GroundMapper.from_camera(unit)
    fits = []
    for points in (left_uv, right_uv):
        ground, valid = mapper.to_ground(np.asarray(points, dtype=np.float64).reshape(-1, 2))
        if valid.sum() < 2:
            raise ConfigError("a line lies above the horizon the vanishing point gives")
        fits.append(np.polyfit(ground[valid, 0], ground[valid, 1], 1))  # y = b x + a, at height 1 m
    separation = float(fits[0][1] - fits[1][1])
    if not separation > 0:
        raise ConfigError("the left line lies right of the right one on the ground: swap them")
    height = lane_width_m / separation
    centre = height * float(fits[0][1] + fits[1][1]) / 2.0
    return StraightRoadCalibration(
        Mounting(height_m=height, pitch_rad=pitch, roll_rad=roll_rad, yaw_rad=yaw),
        (float(u_v), float(v_v)),
        -centre,
    )


def draw_metric_grid(
    image_bgr: np.ndarray,
    mapper: GroundMapper,
    *,
    forward_m: Sequence[float] = (5, 10, 15, 20, 30, 40, 50),
    lateral_m: Sequence[float] = (-6, -4.5, -3, -1.5, 0, 1.5, 3, 4.5, 6),
    color: tuple[int, int, int] = (0, 255, 0),
) -> np.ndarray:
    """A copy of the frame with ground lines at the given forward and lateral distances, labelled."""
    out = image_bgr.copy()
    height, width = out.shape[:2]
    x_far = float(max(forward_m))
    x_near = 0.5
    samples = np.linspace(x_near, x_far, 200)

    def polyline(points_xy: np.ndarray) -> np.ndarray | None:
        uv = mapper.to_image(points_xy)
        keep = np.isfinite(uv).all(axis=1) & (np.abs(uv) < 4 * max(height, width)).all(axis=1)
        return np.round(uv[keep]).astype(np.int32) if keep.sum() >= 2 else None

    for y in lateral_m:
        line = polyline(np.column_stack([samples, np.full_like(samples, y)]))
        if line is not None:
            cv2.polylines(out, [line], False, color, 1, cv2.LINE_AA)
    y_lo, y_hi = float(min(lateral_m)), float(max(lateral_m))
    for x in forward_m:
        line = polyline(np.column_stack([np.full(50, float(x)), np.linspace(y_lo, y_hi, 50)]))
        if line is None:
            continue
        cv2.polylines(out, [line], False, color, 1, cv2.LINE_AA)
        u, v = line[len(line) // 2]
        if 0 <= u < width and 0 <= v < height:
            cv2.putText(
                out,
                f"{x:g} m",
                (int(u) + 3, int(v) - 3),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                color,
                1,
                cv2.LINE_AA,
            )
    return out


def ground_mapper_from_config(block: Mapping[str, Any]) -> GroundMapper | None:
    """A camera's ground mapping from its config block, or None when it is not calibrated.

    First match wins:

    1. ``ground_homography``: 9 numbers, row-major image -> ground homography;
    2. ``camera_info_file`` (a CameraInfo YAML) plus ``mounting``
       (``{height_m, pitch_deg, roll_deg, yaw_deg, x_m, y_m}``, or those values as a list);
       ``rectified: true`` for rectified images (the file's ``P``, no distortion).

    Raises:
        ConfigError: a malformed homography, camera info file or mounting.
    """
    values = list(block.get("ground_homography") or [])
    if values:
        matrix = np.asarray(values, dtype=np.float64)
        if (
            matrix.size != 9
            or not np.all(np.isfinite(matrix))
            or abs(np.linalg.det(matrix.reshape(3, 3))) < 1e-12
        ):
            raise ConfigError(
                f"ground_homography must be 9 finite numbers of a non-singular 3x3 matrix, got {values}"
            )
        return GroundMapper(matrix.reshape(3, 3))
    info_file = str(block.get("camera_info_file") or "")
    if info_file:
        mounting = block.get("mounting")
        if not mounting:
            raise ConfigError(
                f"camera_info_file {info_file} needs a 'mounting' (height_m, pitch_deg, ...: a mapping, or "
                f"a list {MOUNTING_TEXT})"
            )
        camera = CameraModel.from_camera_info_file(
            info_file, Mounting.from_values(mounting), rectified=bool(block.get("rectified", False))
        )
        return GroundMapper.from_camera(camera)
    return None
