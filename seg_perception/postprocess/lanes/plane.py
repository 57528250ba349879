"""The plane lane paint is fitted in: metres through a camera's homography, or a pseudo-ground from the
vanishing point (step 3 of :mod:`seg_perception.postprocess.lanes`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from seg_perception.postprocess.camera_model import GroundMapper, horizon_row


@dataclass
class ExtractionPlane:
    """Pixel <-> plane mapping of one frame (metric homography or vanishing-point pseudo-ground)."""

    mapper: GroundMapper | None
    vanishing_point: tuple[float, float]
    scale: float  # pseudo-ground: F * h
    height_m: float

    @property
    def metric(self) -> bool:
        return self.mapper is not None

    def to_plane(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if self.mapper is not None:
            return self.mapper.to_ground(uv)[0]
        u0, v0 = self.vanishing_point
        dv = uv[:, 1] - v0
        with np.errstate(divide="ignore", invalid="ignore"):
            dv = np.where(dv > 0.5, dv, np.nan)
            return np.column_stack([self.scale / dv, -(uv[:, 0] - u0) * self.height_m / dv])

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if self.mapper is not None:
            return self.mapper.to_image(xy)
        u0, v0 = self.vanishing_point
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(xy[:, 0] > 1e-6, xy[:, 0], np.nan)
            dv = self.scale / x
            return np.column_stack([u0 - xy[:, 1] * dv / self.height_m, v0 + dv])


def pitched(plane: ExtractionPlane, vanishing: tuple[float, float], max_rows: float) -> ExtractionPlane:
    """``plane`` with its calibration's horizon moved to the lines' vanishing point (undistorted
    pixels), when that lies within ``max_rows`` of it: a camera pitched otherwise than its
    calibration (braking, a load, a slope ahead) sees the road shifted by about as many rows."""
    assert plane.mapper is not None
    shift = vanishing[1] - horizon_row(plane.mapper.image_to_ground, vanishing[0])
    if abs(shift) > max_rows:
        return plane
    rows = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -shift], [0.0, 0.0, 1.0]])
    mapper = GroundMapper(plane.mapper.image_to_ground @ rows, plane.mapper.camera)
    return replace(plane, mapper=mapper)
