"""Things above the ground in a stitched AVM image: cars, pillars, walls, kerbs, people, poles.

An AVM image is the camera images projected onto the ground plane. A point at height ``z``
seen by a camera at height ``H`` lands on the ground where the camera's ray through it
does: ``c + (p - c) * H / (H - z)`` for the camera's ground point ``c``. So every object is
smeared radially away from the camera that sees it, and whatever reaches the camera's
height runs out of the image. An object is drawn as convex height bands (a footprint
extruded between two heights, each projected like that), from the top band down, so the
lower parts cover the stretched upper ones as they do in real images.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seg_perception.data.synthetic.render import ellipse_polygon

MAX_STRETCH = 60.0  # projection scale of points at or above the camera: far outside any view
_TOP_FRACTION = 0.97  # heights above this fraction of the camera height count as at the camera


@dataclass
class Band:
    """A horizontal slice of an object between two heights (metres), in one colour."""

    z0: float
    z1: float
    colour: tuple[int, int, int]


@dataclass
class Solid:
    """An object standing on the ground: a convex footprint (world metres) and its height bands."""

    footprint: np.ndarray  # (K, 2)
    bands: list[Band]
    kind: str
    top: tuple[int, int, int] | None = None  # colour of a flat top one can see (platforms), else None
    ridges: tuple[float, float] | None = None  # ridges along the top: spacing (m), shade (0..1)


def stretch(height: float, camera_height: float) -> float:
    """Ground-projection scale of a point at ``height`` seen from ``camera_height``."""
    if height >= _TOP_FRACTION * camera_height:
        return MAX_STRETCH
    return camera_height / (camera_height - height)


def near_chain(footprint_px: np.ndarray, camera_px: np.ndarray) -> np.ndarray | None:
    """The footprint's outline facing the camera, as a chain of vertices; None when the camera is inside."""
    hull = cv2.convexHull(footprint_px.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    count = len(hull)
    following = hull[(np.arange(count) + 1) % count]
    edges = following - hull
    to_camera = camera_px - hull
    cross = edges[:, 0] * to_camera[:, 1] - edges[:, 1] * to_camera[:, 0]
    area = float(np.sum(hull[:, 0] * following[:, 1] - following[:, 0] * hull[:, 1]))
    facing = (cross * area) < 0
    if facing.all() or not facing.any():
        return None
    start = int(np.flatnonzero(facing & ~facing[np.arange(count) - 1])[0])
    length = 0
    while facing[(start + length) % count]:
        length += 1
    return hull[(start + np.arange(length + 1)) % count]


def project_bands(
    footprint_px: np.ndarray, camera_px: np.ndarray, camera_height: float, bands: list[Band]
) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
    """Pixel polygons of an object's bands in painting order (top band first).

    The first polygon is also the object's whole outline in the image.

    Along each ray from the camera, the ground point at distance ``r`` shows the object's
    near face at height ``z = H (1 - r_near / r)``. Band ``[z0, z1]`` is drawn as the whole
    stretch from the near face to ``z1``; painting the top band first and the lower ones over
    it leaves each band where it belongs, and covers the footprint (hidden ground) too.
    """
    chain = near_chain(footprint_px, camera_px)
    out = []
    for band in sorted(bands, key=lambda b: -b.z1):
        s1 = stretch(band.z1, camera_height)
        if chain is None:  # the camera inside the footprint: the hull of the stretched footprint
            points = np.vstack([footprint_px, camera_px + (footprint_px - camera_px) * s1]).astype(np.float32)
            polygon = cv2.convexHull(points).reshape(-1, 2).astype(np.float64)
        else:
            polygon = np.vstack([chain, (camera_px + (chain - camera_px) * s1)[::-1]])
        out.append((polygon, band.colour))
    return out


def _scaled(colour: tuple[int, int, int] | np.ndarray, factor: float) -> tuple[int, int, int]:
    c = np.clip(np.asarray(colour, np.float32) * factor, 0, 255).astype(int)
    return (int(c[0]), int(c[1]), int(c[2]))


def rectangle(centre: np.ndarray, axis: np.ndarray, length: float, width: float) -> np.ndarray:
    """(4, 2) rectangle with its length along ``axis``."""
    d = axis / max(float(np.linalg.norm(axis)), 1e-9)
    n = np.array([-d[1], d[0]])
    hl, hw = length / 2.0, width / 2.0
    return np.array(
        [
            centre - d * hl - n * hw,
            centre + d * hl - n * hw,
            centre + d * hl + n * hw,
            centre - d * hl + n * hw,
        ]
    )


def car(
    centre: np.ndarray, axis: np.ndarray, length: float, width: float, colour: tuple[int, int, int]
) -> list[Solid]:
    """A parked car: dark wheels and under-body, painted body, glass, roof."""
    d = axis / max(float(np.linalg.norm(axis)), 1e-9)
    n = np.array([-d[1], d[0]])
    hl, hw = length / 2.0, width / 2.0
    # rounded footprint: the corners cut by 0.25 m
    cut = min(0.25, hw * 0.3)
    body = np.array([
        centre - d * hl - n * (hw - cut), centre - d * (hl - cut) - n * hw,
        centre + d * (hl - cut) - n * hw, centre + d * hl - n * (hw - cut),
        centre + d * hl + n * (hw - cut), centre + d * (hl - cut) + n * hw,
        centre - d * (hl - cut) + n * hw, centre - d * hl + n * (hw - cut),
    ])  # fmt: skip
    glass = (40, 38, 36) if sum(colour) > 240 else (95, 90, 85)  # glass mirrors the sky or the roof
    solids = [
        Solid(
            body,
            [
                Band(0.0, 0.1, (45, 45, 48)),
                Band(0.1, 0.5, _scaled(colour, 0.8)),
                Band(0.5, 0.7, _scaled(colour, 1.15)),
                Band(0.7, 0.9, colour),
                Band(0.9, 1.3, glass),
                Band(1.3, 1.5, _scaled(colour, 1.2)),
            ],
            "car",
        ),
    ]
    for along in (-hl + 0.8, hl - 0.9):  # wheels stick out of the body's lower band
        for side in (-1.0, 1.0):
            wheel = rectangle(centre + d * along + n * side * (hw - 0.1), d, 0.6, 0.2)
            solids.append(Solid(wheel, [Band(0.0, 0.38, (38, 38, 40))], "wheel"))
    return solids


def pillar(centre: np.ndarray, size: float, colour: tuple[int, int, int], striped: bool) -> Solid:
    """A square concrete pillar, often with yellow/black warning stripes at its foot."""
    square = rectangle(centre, np.array([1.0, 0.0]), size, size)
    bands = [Band(0.0, 3.0, colour)]
    if striped:
        bands = [Band(0.0, 0.2, (20, 20, 20)), Band(0.2, 0.4, (30, 200, 230)), Band(0.4, 0.6, (20, 20, 20)),
                 Band(0.6, 0.8, (30, 200, 230)), Band(0.8, 3.0, colour)]  # fmt: skip
    return Solid(square, bands, "pillar")


def wall(p: np.ndarray, q: np.ndarray, thickness: float, colour: tuple[int, int, int]) -> Solid:
    """A wall along ``p -> q`` with a darker skirting."""
    centre, axis = (p + q) / 2.0, q - p
    box = rectangle(centre, axis, float(np.linalg.norm(axis)), thickness)
    return Solid(box, [Band(0.0, 0.25, _scaled(colour, 0.6)), Band(0.25, 3.0, colour)], "wall")


def kerb(p: np.ndarray, q: np.ndarray, colour: tuple[int, int, int]) -> Solid:
    """A 15 cm kerb along ``p -> q``."""
    centre, axis = (p + q) / 2.0, q - p
    box = rectangle(centre, axis, float(np.linalg.norm(axis)), 0.18)
    return Solid(box, [Band(0.0, 0.15, colour)], "kerb")


def wheel_stopper(centre: np.ndarray, axis: np.ndarray, colour: tuple[int, int, int]) -> Solid:
    """A low bar across the back of a slot; ``axis`` runs along the bar."""
    return Solid(rectangle(centre, axis, 0.6, 0.15), [Band(0.0, 0.12, colour)], "stopper")


def person(centre: np.ndarray, heading: float, shirt: tuple[int, int, int]) -> Solid:
    """A standing pedestrian."""
    footprint = ellipse_polygon(float(centre[0]), float(centre[1]), 0.24, 0.15, heading, 10)
    bands = [Band(0.0, 0.1, (25, 25, 25)), Band(0.1, 0.85, (60, 50, 45)), Band(0.85, 1.5, shirt),
             Band(1.5, 1.75, (60, 80, 110))]  # fmt: skip
    return Solid(footprint, bands, "person")


def pole(centre: np.ndarray, radius: float, colour: tuple[int, int, int]) -> Solid:
    """A thin post (sign, lamp, barrier)."""
    footprint = ellipse_polygon(float(centre[0]), float(centre[1]), radius, radius, 0.0, 8)
    return Solid(footprint, [Band(0.0, 2.5, colour)], "pole")


def platform(
    footprint: np.ndarray,
    height: float,
    side: tuple[int, int, int],
    top: tuple[int, int, int],
    *,
    ridges: tuple[float, float] | None = None,
) -> Solid:
    """A low steel pallet of a stacked (mechanical) garage: its slot is the platform itself.

    ``footprint`` runs front edge first (entrance corners, then back corners); ``ridges`` are
    the anti-slip ridges along it: spacing in metres and their shade of the top colour.
    """
    return Solid(footprint, [Band(0.0, height, side)], "platform", top=top, ridges=ridges)
