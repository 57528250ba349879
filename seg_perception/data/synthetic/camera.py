"""Front camera over a flat ground plane: mounting, pinhole rendering and the lens.

World (vehicle) frame: x right, y forward, z up, the camera at ``(0, 0, mount_height)``.

Scenes are drawn with an ideal pinhole camera (:meth:`PinholeCamera.project`: focal
``focal_px``, principal point ``(cx, cy)``, pitched down by ``pitch_rad``, no roll, no
distortion). The camera the sample reports (``SceneSample.meta["camera_model"]``) adds the
lens: the image is rolled by ``roll_rad`` about the optical axis and distorted radially with
OpenCV's ``plumb_bob`` model ``(k1, k2, 0, 0, 0)``, at focal ``out_focal_px`` (chosen so the
rendered picture covers the whole output). :meth:`PinholeCamera.project_output` projects
world points straight to output pixels; :meth:`PinholeCamera.lens_maps` warps a rendered
image (and, with nearest-neighbour sampling, its labels) to the output.

Output projection of a world point ``(x, y, z)``:

1. camera coordinates with the pitch: ``depth = y cos p - (z - h) sin p``,
   ``down = -y sin p - (z - h) cos p``; normalised ``(a, b) = (x, down) / depth``;
2. roll (positive = the camera turned clockwise as seen from behind it, so the scene turns
   anticlockwise in the image): ``(a, b) <- (a cos r + b sin r, -a sin r + b cos r)``;
3. radial distortion: ``(a, b) <- (a, b) (1 + k1 ρ² + k2 ρ⁴)``, ``ρ² = a² + b²``;
4. pixels: ``u = cx + f a``, ``v = cy + f b`` with ``f = out_focal_px``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

_LENS_GRID_PX = 4  # the lens maps are computed on a coarse grid and interpolated


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics, lens and mounting of a forward-looking camera."""

    width: int
    height: int
    focal_px: float
    cx: float
    cy: float
    mount_height_m: float
    pitch_rad: float
    roll_rad: float = 0.0
    k1: float = 0.0
    k2: float = 0.0
    out_focal_px: float = 0.0  # 0: same as focal_px

    @classmethod
    def sample(cls, rng: np.random.Generator, size: tuple[int, int], *, lens: bool = False) -> PinholeCamera:
        """A random but plausible camera for an image of ``size`` = (H, W).

        With ``lens``, also a roll of a few degrees and barrel distortion, as on dash cams.
        """
        height, width = size
        hfov = np.deg2rad(rng.uniform(50.0, 95.0))
        focal = (width / 2.0) / np.tan(hfov / 2.0)
        pitch = np.deg2rad(rng.uniform(-1.0, 6.0))
        # keep the horizon between 25 % and 52 % of the height whatever the aspect ratio
        horizon = np.clip(height / 2.0 - focal * np.tan(pitch), 0.25 * height, 0.52 * height)
        pitch = float(np.arctan((height / 2.0 - horizon) / focal))
        roll = k1 = k2 = 0.0
        if lens:
            roll = float(np.deg2rad(rng.normal(0.0, 1.2)))
            if rng.random() < 0.6:
                k1 = float(rng.uniform(-0.30, 0.02))
                k2 = float(rng.uniform(0.0, 0.08)) if k1 < -0.15 else 0.0
        camera = cls(
            width=width,
            height=height,
            focal_px=float(focal),
            cx=width / 2.0 + float(rng.uniform(-0.02, 0.02)) * width,
            cy=height / 2.0 + float(rng.uniform(-0.02, 0.02)) * height,
            mount_height_m=float(rng.uniform(1.1, 2.4)) if lens else float(rng.uniform(1.2, 1.6)),
            pitch_rad=pitch,
            roll_rad=roll,
            k1=k1,
            k2=k2,
        )
        return camera.with_covering_focal()

    @property
    def has_lens(self) -> bool:
        """Whether the output differs from the rendered pinhole image (roll or distortion)."""
        return bool(
            self.roll_rad or self.k1 or self.k2 or (self.out_focal_px and self.out_focal_px != self.focal_px)
        )

    @property
    def output_focal_px(self) -> float:
        return self.out_focal_px or self.focal_px

    @property
    def horizon_v(self) -> float:
        """Image row of the horizon (points at infinity on the ground), rendered camera."""
        return self.cy - self.focal_px * np.tan(self.pitch_rad)

    @property
    def near_ground_m(self) -> float:
        """Forward distance of the ground seen at the bottom image row (rendered camera)."""
        k = (self.height - self.cy) / self.focal_px
        cos_p, sin_p = np.cos(self.pitch_rad), np.sin(self.pitch_rad)
        return float(self.mount_height_m * (cos_p - k * sin_p) / (k * cos_p + sin_p))

    def _normalised(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        cos_p, sin_p = np.cos(self.pitch_rad), np.sin(self.pitch_rad)
        dz = np.asarray(z, dtype=np.float64) - self.mount_height_m
        depth = np.maximum(np.asarray(y) * cos_p - dz * sin_p, 1e-3)
        down = -np.asarray(y) * sin_p - dz * cos_p
        return np.asarray(x) / depth, down / depth

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray | float = 0.0) -> np.ndarray:
        """World points (metres) -> (N, 2) pixels ``(u, v)`` of the rendered pinhole image; needs y > 0."""
        a, b = self._normalised(x, y, z)
        return np.stack(
            np.broadcast_arrays(self.cx + self.focal_px * a, self.cy + self.focal_px * b), axis=-1
        )

    def depth(self, y: np.ndarray | float, z: np.ndarray | float = 0.0) -> np.ndarray:
        """Distance along the optical axis of world points (for sizes in pixels)."""
        return np.asarray(y) * np.cos(self.pitch_rad) - (np.asarray(z) - self.mount_height_m) * np.sin(
            self.pitch_rad
        )

    def _lens_forward(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised pinhole coordinates -> normalised output coordinates (roll, then distortion)."""
        cos_r, sin_r = np.cos(self.roll_rad), np.sin(self.roll_rad)
        a, b = a * cos_r + b * sin_r, -a * sin_r + b * cos_r
        rho2 = a * a + b * b
        scale = 1.0 + self.k1 * rho2 + self.k2 * rho2 * rho2
        return a * scale, b * scale

    def _lens_inverse(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised output coordinates -> normalised pinhole coordinates (Newton undistortion)."""
        ua, ub = a, b
        if self.k1 or self.k2:
            # solve r (1 + k1 r² + k2 r⁴) = r_d for the undistorted radius r, starting from r_d
            r_d = np.hypot(a, b)
            r_max = self._monotonic_radius()
            r = np.minimum(r_d, r_max)
            for _ in range(8):
                r2 = r * r
                f = r * (1.0 + self.k1 * r2 + self.k2 * r2 * r2) - r_d
                slope = 1.0 + 3.0 * self.k1 * r2 + 5.0 * self.k2 * r2 * r2
                r = np.clip(r - f / np.maximum(slope, 1e-2), 0.0, r_max)
            scale = np.where(r_d > 1e-12, r / np.maximum(r_d, 1e-12), 1.0)
            ua, ub = a * scale, b * scale
        cos_r, sin_r = np.cos(self.roll_rad), np.sin(self.roll_rad)
        return ua * cos_r - ub * sin_r, ua * sin_r + ub * cos_r

    def _monotonic_radius(self) -> float:
        """Largest normalised radius where ``r (1 + k1 r² + k2 r⁴)`` still grows (inf if always)."""
        # roots in x = r² of 5 k2 x² + 3 k1 x + 1 = 0
        if self.k2 == 0.0:
            return float(np.sqrt(-1.0 / (3.0 * self.k1))) if self.k1 < 0 else float("inf")
        roots = np.roots([5.0 * self.k2, 3.0 * self.k1, 1.0])
        positive = [float(x.real) for x in roots if abs(x.imag) < 1e-12 and x.real > 0]
        return float(np.sqrt(min(positive))) if positive else float("inf")

    def lens_valid(self, points_px: np.ndarray) -> np.ndarray:
        """(N,) whether rendered pixels lie where the distortion polynomial is still monotonic.

        Far outside the field of view, barrel distortion ``1 + k1 ρ² + k2 ρ⁴`` folds back and
        would map points into the frame: such points have no output position.
        """
        points = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
        rho2 = ((points[:, 0] - self.cx) ** 2 + (points[:, 1] - self.cy) ** 2) / self.focal_px**2
        return 1.0 + 3.0 * self.k1 * rho2 + 5.0 * self.k2 * rho2 * rho2 > 0.05

    def to_output(self, points_px: np.ndarray) -> np.ndarray:
        """Rendered pinhole pixels (N, 2) -> output pixels (through roll and distortion)."""
        points = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
        a, b = (points[:, 0] - self.cx) / self.focal_px, (points[:, 1] - self.cy) / self.focal_px
        a, b = self._lens_forward(a, b)
        f = self.output_focal_px
        return np.stack([self.cx + f * a, self.cy + f * b], axis=1)

    def project_output(self, x: np.ndarray, y: np.ndarray, z: np.ndarray | float = 0.0) -> np.ndarray:
        """World points (metres) -> (N, 2) pixels of the output image (the reported camera)."""
        a, b = self._normalised(x, y, z)
        a, b = self._lens_forward(*np.broadcast_arrays(a, b))
        f = self.output_focal_px
        return np.stack([self.cx + f * a, self.cy + f * b], axis=-1)

    def with_covering_focal(self) -> PinholeCamera:
        """This camera with the output focal set so every output pixel comes from the rendered image."""
        if not (self.roll_rad or self.k1 or self.k2):
            return self

        r_max = self._monotonic_radius()
        # the largest distorted radius the lens reaches: output pixels beyond it have no source
        reach = r_max * (1.0 + self.k1 * r_max**2 + self.k2 * r_max**4) if np.isfinite(r_max) else np.inf
        corners = np.array([[0.0, 0.0], [self.width - 1.0, 0.0], [0.0, self.height - 1.0],
                            [self.width - 1.0, self.height - 1.0]])  # fmt: skip
        corner_px = np.hypot(corners[:, 0] - self.cx, corners[:, 1] - self.cy).max()

        # every candidate zoom at once: the first whose output border all comes from inside the render
        zooms = np.arange(1.0, 2.0 + 1e-9, 0.02)[:, None]
        border = self._border_pixels()
        focal = self.focal_px * zooms
        a, b = self._lens_inverse((border[:, 0] - self.cx) / focal, (border[:, 1] - self.cy) / focal)
        src_x, src_y = self.cx + self.focal_px * a, self.cy + self.focal_px * b
        inside = ((src_x >= 0) & (src_x <= self.width - 1) & (src_y >= 0) & (src_y <= self.height - 1)).all(
            axis=1
        )
        inside &= corner_px / focal[:, 0] <= 0.97 * reach
        if not inside.any():
            return _replace(self, roll_rad=0.0, k1=0.0, k2=0.0, out_focal_px=0.0)
        return _replace(self, out_focal_px=float(focal[int(np.argmax(inside)), 0]))

    def _border_pixels(self) -> np.ndarray:
        """(132, 2) output pixels along the image border."""
        w, h = self.width - 1, self.height - 1
        t = np.linspace(0.0, 1.0, 33)
        return np.concatenate([
            np.stack([t * w, np.zeros_like(t)], 1), np.stack([t * w, np.full_like(t, h)], 1),
            np.stack([np.zeros_like(t), t * h], 1), np.stack([np.full_like(t, w), t * h], 1),
        ])  # fmt: skip

    def _output_to_render(self, points_px: np.ndarray) -> np.ndarray:
        f = self.output_focal_px
        a, b = (points_px[:, 0] - self.cx) / f, (points_px[:, 1] - self.cy) / f
        a, b = self._lens_inverse(a, b)
        return np.stack([self.cx + self.focal_px * a, self.cy + self.focal_px * b], axis=1)

    def lens_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.remap`` maps (float32 x, y) from output pixels to rendered pixels."""
        return _lens_maps(self)

    def to_json(self) -> dict[str, Any]:
        """The output camera: ``sensor_msgs/CameraInfo``-style intrinsics plus the mounting.

        ``K`` row-major 3x3, ``D`` plumb_bob ``[k1, k2, p1, p2, k3]``; ``mount_height_m`` above
        the ground, ``pitch_rad`` down from horizontal, ``roll_rad`` (see the module docstring),
        ``yaw_rad`` 0 (the camera looks along the car). Also the legacy keys ``focal_px``, ``cx``
        and ``cy`` (the output focal and principal point).
        """
        f = self.output_focal_px
        return {
            "width": self.width,
            "height": self.height,
            "K": [f, 0.0, self.cx, 0.0, f, self.cy, 0.0, 0.0, 1.0],
            "D": [self.k1, self.k2, 0.0, 0.0, 0.0],
            "distortion_model": "plumb_bob",
            "focal_px": f,
            "cx": self.cx,
            "cy": self.cy,
            "mount_height_m": self.mount_height_m,
            "pitch_rad": self.pitch_rad,
            "roll_rad": self.roll_rad,
            "yaw_rad": 0.0,
        }


def _replace(camera: PinholeCamera, **changes: Any) -> PinholeCamera:
    from dataclasses import replace

    return replace(camera, **changes)


@functools.lru_cache(maxsize=8)
def _lens_maps(camera: PinholeCamera) -> tuple[np.ndarray, np.ndarray]:
    # cv2.resize samples destination pixel i at source (i + 0.5) / step - 0.5, so coarse node j
    # must sit at pixel (j + 0.5) * step - 0.5; one extra node on each side avoids clamped edges
    step = _LENS_GRID_PX
    gw, gh = -(-camera.width // step) + 2, -(-camera.height // step) + 2
    xs = (np.arange(gw) - 1 + 0.5) * step - 0.5
    ys = (np.arange(gh) - 1 + 0.5) * step - 0.5
    gx, gy = np.meshgrid(xs, ys)
    src = camera._output_to_render(np.stack([gx.ravel(), gy.ravel()], 1))
    full = []
    for column in (0, 1):
        coarse = src[:, column].reshape(gh, gw).astype(np.float32)
        fine = cv2.resize(coarse, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR)
        full.append(np.ascontiguousarray(fine[step : step + camera.height, step : step + camera.width]))
    return full[0], full[1]
