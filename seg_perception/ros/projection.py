"""Pixel → output-frame coordinates for markers and the polygon cloud.

Three cases, chosen per camera from its parameters (first match wins):

1. ``ground_homography`` (9 floats, row-major 3×3) maps pixel ``(u, v, 1)`` to ground-plane
   metres ``(x, y, w)`` in the vehicle frame (x forward, y left): metric. Without it, a
   ``camera_info_file`` (CameraInfo YAML) plus ``mounting`` (height, pitch, roll, yaw) gives
   the homography (:class:`~seg_perception.postprocess.camera_model.CameraModel`), and the
   camera's lens distortion is removed from pixels first (``rectified``: the images are
   rectified, so ``P`` is their camera and there is no distortion to remove).
2. ``metres_per_pixel`` > 0 (bird's-eye / AVM images): ``x = (v0 - v)·s``, ``y = (u0 - u)·s``
   around ``origin_px = (u0, v0)``, the pixel of the vehicle-frame origin: metric
   (image up = vehicle forward, image left = vehicle left), as
   :func:`seg_perception.postprocess.ground.pixels_to_vehicle_metres`.
3. Otherwise a *pixel-scaled plane* for display only: ``x = (H - v)·k``, ``y = (W/2 - u)·k``
   with ``k = pixel_plane_scale`` (default 0.01 m per pixel): the image lies flat with its
   bottom centre at the origin and its top towards +x. Not metric: the polygon cloud
   carries NaN for x, y, z in this case.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from seg_perception.config import ScenarioConfig, load_scenario
from seg_perception.errors import ConfigError
from seg_perception.postprocess.camera_model import (
    MOUNTING_KEYS,
    MOUNTING_TEXT,
    CameraModel,
    GroundMapper,
    Mounting,
    camera_info_mapping,
)
from seg_perception.postprocess.ground import pixels_to_vehicle_metres
from seg_perception.ros.errors import NodeParameterError

DEFAULT_PIXEL_PLANE_SCALE = 0.01


@dataclass(frozen=True)
class GroundProjection:
    """Maps pixel coordinates to ``(x, y, z)`` in the output frame.

    Attributes:
        homography: 3×3 pixel → ground-metres homography, or None.
        metres_per_pixel: Bird's-eye scale (used when no homography); 0 disables.
        origin_px: Pixel ``(u, v)`` of the vehicle origin, for ``metres_per_pixel``.
        pixel_plane_scale: Display scale of the non-metric fallback.
        camera_model: The calibrated camera the homography came from (lens distortion), or None.
    """

    homography: np.ndarray | None = None
    metres_per_pixel: float = 0.0
    origin_px: tuple[float, float] = (0.0, 0.0)
    pixel_plane_scale: float = DEFAULT_PIXEL_PLANE_SCALE
    camera_model: CameraModel | None = None

    @classmethod
    def from_parameters(
        cls,
        *,
        ground_homography: Sequence[float] = (),
        metres_per_pixel: float = 0.0,
        origin_px: Sequence[float] = (),
        pixel_plane_scale: float = DEFAULT_PIXEL_PLANE_SCALE,
        camera: str = "",
        camera_info_file: str = "",
        mounting: Sequence[float] = (),
        rectified: bool = False,
    ) -> GroundProjection:
        """Build from node parameters.

        ``mounting`` is ``[height_m, pitch_deg, roll_deg, yaw_deg, x_m, y_m]`` (trailing values may
        be left out), used with ``camera_info_file`` when there is no ``ground_homography``;
        ``rectified``: the images are rectified (the file's ``P``, no distortion).

        Raises:
            NodeParameterError: a homography that is not 9 finite numbers or is singular,
                or an ``origin_px`` that is not two numbers while ``metres_per_pixel`` is set.
        """
        homography = None
        if len(ground_homography) > 0:
            values = np.asarray(list(ground_homography), dtype=np.float64)
            if values.size != 9 or not np.all(np.isfinite(values)):
                raise NodeParameterError(
                    f"parameter '{camera}.ground_homography' = {list(ground_homography)}: "
                    "expected 9 finite numbers (row-major 3x3) or an empty list"
                )
            homography = values.reshape(3, 3)
            if abs(np.linalg.det(homography)) < 1e-12:
                raise NodeParameterError(f"parameter '{camera}.ground_homography' is singular")
        camera_model = None
        if homography is None and camera_info_file:
            if not 1 <= len(mounting) <= len(MOUNTING_KEYS):
                raise NodeParameterError(
                    f"parameter '{camera}.mounting' = {list(mounting)}: expected {MOUNTING_TEXT} (trailing "
                    f"values may be left out) with '{camera}.camera_info_file'"
                )
            try:
                camera_model = CameraModel.from_camera_info_file(
                    camera_info_file,
                    Mounting.from_values(mounting),
                    rectified=rectified,
                )
            except ConfigError as err:
                raise NodeParameterError(f"parameter '{camera}.camera_info_file': {err}") from err
            homography = camera_model.image_to_ground_homography()
        origin = (0.0, 0.0)
        if metres_per_pixel > 0:
            if len(origin_px) != 2:
                raise NodeParameterError(
                    f"parameter '{camera}.origin_px' = {list(origin_px)}: expected [u, v] pixels "
                    f"when '{camera}.metres_per_pixel' is set"
                )
            origin = (float(origin_px[0]), float(origin_px[1]))
        return cls(
            homography, float(max(metres_per_pixel, 0.0)), origin, float(pixel_plane_scale), camera_model
        )

    def ground_mapper(self) -> GroundMapper | None:
        """The homography (and the camera's lens) as a :class:`GroundMapper` (None when not a homography)."""
        return self._ground_mapper

    @functools.cached_property
    def _ground_mapper(self) -> GroundMapper | None:
        return None if self.homography is None else GroundMapper(self.homography, self.camera_model)

    @property
    def metric(self) -> bool:
        """True when coordinates are metres on the ground plane."""
        return self.homography is not None or self.metres_per_pixel > 0

    def display_points(self, points_uv: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """(K, 3) float32 coordinates to draw, metric or pixel-plane; NaN where unprojectable."""
        points = np.asarray(points_uv, dtype=np.float64).reshape(-1, 2)
        u, v = points[:, 0], points[:, 1]
        if self._ground_mapper is not None:
            # the camera's lens removed, at the frame's size; NaN above the horizon
            ground, _ = self._ground_mapper.resized(image_size).to_ground(points)
            x, y = ground[:, 0], ground[:, 1]
        elif self.metres_per_pixel > 0:
            x, y = pixels_to_vehicle_metres(points, self.metres_per_pixel, self.origin_px).T
        else:
            height, width = image_size
            x = (height - v) * self.pixel_plane_scale
            y = (width / 2.0 - u) * self.pixel_plane_scale
        z = np.where(np.isfinite(x) & np.isfinite(y), 0.0, np.nan)
        return np.column_stack([x, y, z]).astype(np.float32)

    def metric_points(self, points_uv: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """(K, 3) float32 metres, all NaN when the camera is not calibrated."""
        if not self.metric:
            return np.full((len(np.asarray(points_uv).reshape(-1, 2)), 3), np.nan, dtype=np.float32)
        return self.display_points(points_uv, image_size)


def camera_info_projection(
    info: Any, mounting: Sequence[float], base: GroundProjection, *, rectified: bool = False
) -> GroundProjection:
    """``base`` with the homography of a ``sensor_msgs/CameraInfo`` message and a mounting.

    Args:
        info: The message (read by :func:`camera_info_mapping`).
        mounting: ``[height_m, pitch_deg, roll_deg, yaw_deg, x_m, y_m]`` (trailing values may be left out).
        base: The camera's projection so far (its display settings are kept).
        rectified: The images are rectified: projected with ``p``, without distortion.

    Raises:
        ConfigError: no mounting, or a message the camera cannot be made of (see
            :meth:`CameraModel.from_camera_info`: an uncalibrated camera's zero matrix among them).
    """
    if not 1 <= len(mounting) <= len(MOUNTING_KEYS):
        raise ConfigError(
            f"the camera's 'mounting' parameter is {list(mounting)}: set {MOUNTING_TEXT} (trailing values "
            "may be left out) to use CameraInfo"
        )
    camera = CameraModel.from_camera_info(
        camera_info_mapping(info), Mounting.from_values(mounting), rectified=rectified
    )
    return replace(base, homography=camera.image_to_ground_homography(), camera_model=camera)


@dataclass(frozen=True)
class CameraGeometry:
    """Where a camera's outputs lie: their ``frame_id`` ("" keeps the input's) and the projection."""

    frame_id: str
    projection: GroundProjection


def mounting_list(value: Any) -> list[float]:
    """A config's ``mounting`` (mapping or list) as ``[height_m, pitch_deg, roll_deg, yaw_deg, x_m, y_m]``."""
    if isinstance(value, Mapping):
        return [float(value.get(key, 0.0)) for key in MOUNTING_KEYS]
    return [float(v) for v in value or []]


def names_scenario(scenario: ScenarioConfig, text: str) -> bool:
    """True when ``text`` (a ``scenario`` parameter: name or YAML path) names ``scenario``."""
    return text in (scenario.name, str(scenario.path) if scenario.path else scenario.name)


def camera_block(scenario: ScenarioConfig, camera: str, camera_scenario: str = "") -> dict[str, Any]:
    """The parameter block of ``camera`` in ``scenario`` (empty when there is none).

    A camera running another scenario than the node's (``<camera>.scenario``, ``camera_scenario``
    here) takes that scenario's block for the camera as defaults (the AVM geometry of 'parking');
    the node's own block for the camera wins. An unloadable ``camera_scenario`` adds nothing (it
    is reported where the camera's model is resolved).
    """
    params = scenario.params.get(camera)
    block: dict[str, Any] = dict(params) if isinstance(params, dict) else {}
    if camera_scenario and not names_scenario(scenario, camera_scenario):
        try:
            own_block = load_scenario(camera_scenario).params.get(camera)
        except ConfigError:
            own_block = None
        if isinstance(own_block, dict):
            block = {**own_block, **block}
    return block


def geometry_parameters(block: Mapping[str, Any]) -> dict[str, Any]:
    """A scenario camera block's frame and projection values.

    The node declares them as its ``<camera>.*`` parameter defaults; offline ``process`` uses
    them as they are. Either way :func:`camera_geometry` turns them into a :class:`CameraGeometry`.
    """
    return {
        "frame_id": str(block.get("frame_id", "")),
        "metres_per_pixel": float(block.get("metres_per_pixel", 0.0)),
        "origin_px": [float(v) for v in block.get("origin_px", [])],
        "ground_homography": [float(v) for v in block.get("ground_homography", [])],
        "camera_info_file": str(block.get("camera_info_file", "")),
        "mounting": mounting_list(block.get("mounting")),
        "rectified": bool(block.get("rectified", False)),
        "pixel_plane_scale": float(block.get("pixel_plane_scale", DEFAULT_PIXEL_PLANE_SCALE)),
    }


def camera_geometry(values: Mapping[str, Any], camera: str) -> CameraGeometry:
    """The output frame and projection of ``camera`` from :func:`geometry_parameters`' values.

    Raises:
        NodeParameterError: values that do not make a projection (see
            :meth:`GroundProjection.from_parameters`).
    """
    projection = GroundProjection.from_parameters(
        ground_homography=values["ground_homography"],
        metres_per_pixel=values["metres_per_pixel"],
        origin_px=values["origin_px"],
        pixel_plane_scale=values["pixel_plane_scale"],
        camera=camera,
        camera_info_file=values["camera_info_file"],
        mounting=values["mounting"],
        rectified=bool(values.get("rectified", False)),
    )
    return CameraGeometry(str(values["frame_id"]), projection)


def scenario_camera_geometry(scenario: ScenarioConfig, camera: str) -> CameraGeometry:
    """The frame and projection the node gives ``camera`` when it runs ``scenario`` as configured.

    What offline ``process`` uses, so its outputs lie where the node's would.
    """
    own = camera_block(scenario, camera)
    block = camera_block(scenario, camera, str(own.get("scenario", "")))
    return camera_geometry(geometry_parameters(block), camera)
