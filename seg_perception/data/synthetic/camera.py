"""Pinhole front camera over a flat ground plane.

World frame: x right, y forward, z up, the camera at ``(0, 0, mount_height)``
pitched down by ``pitch`` radians, no roll.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics and mounting of a forward-looking camera."""

    width: int
    height: int
    focal_px: float
    cx: float
    cy: float
    mount_height_m: float
    pitch_rad: float

    @classmethod
    def sample(cls, rng: np.random.Generator, size: tuple[int, int]) -> PinholeCamera:
        """A random but plausible camera for an image of ``size`` = (H, W)."""
        height, width = size
        hfov = np.deg2rad(rng.uniform(60.0, 90.0))
        focal = (width / 2.0) / np.tan(hfov / 2.0)
        pitch = np.deg2rad(rng.uniform(2.0, 5.5))
        # keep the horizon between 25 % and 48 % of the height whatever the aspect ratio
        horizon = np.clip(height / 2.0 - focal * np.tan(pitch), 0.25 * height, 0.48 * height)
        pitch = float(np.arctan((height / 2.0 - horizon) / focal))
        return cls(
            width=width,
            height=height,
            focal_px=float(focal),
            cx=width / 2.0 + float(rng.uniform(-0.02, 0.02)) * width,
            cy=height / 2.0,
            mount_height_m=float(rng.uniform(1.2, 1.6)),
            pitch_rad=pitch,
        )

    @property
    def horizon_v(self) -> float:
        """Image row of the horizon (points at infinity on the ground)."""
        return self.cy - self.focal_px * np.tan(self.pitch_rad)

    @property
    def near_ground_m(self) -> float:
        """Forward distance of the ground seen at the bottom image row."""
        k = (self.height - self.cy) / self.focal_px
        cos_p, sin_p = np.cos(self.pitch_rad), np.sin(self.pitch_rad)
        return float(self.mount_height_m * (cos_p - k * sin_p) / (k * cos_p + sin_p))

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray | float = 0.0) -> np.ndarray:
        """World points (metres) -> (N, 2) float pixel coordinates (u, v); requires y > 0."""
        cos_p, sin_p = np.cos(self.pitch_rad), np.sin(self.pitch_rad)
        dz = np.asarray(z, dtype=np.float64) - self.mount_height_m
        depth = y * cos_p - dz * sin_p
        down = -y * sin_p - dz * cos_p
        depth = np.maximum(depth, 1e-3)
        u = self.cx + self.focal_px * np.asarray(x) / depth
        v = self.cy + self.focal_px * down / depth
        return np.stack(np.broadcast_arrays(u, v), axis=-1)

    def depth(self, y: np.ndarray | float, z: np.ndarray | float = 0.0) -> np.ndarray:
        """Distance along the optical axis of world points (for sizes in pixels)."""
        return np.asarray(y) * np.cos(self.pitch_rad) - (np.asarray(z) - self.mount_height_m) * np.sin(
            self.pitch_rad
        )
