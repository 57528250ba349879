"""Free-slot regions of an AVM mask → parking-slot quadrilaterals with the entrance side first.

Shape: each free-slot region's outline is reduced to the convex quadrilateral that
adds the least area (``cv2.approxPolyN``), so angled slots keep their parallelogram
shape and slots cut by the image border are extrapolated; ``cv2.minAreaRect`` is the
fallback. The quadrilateral is grown by half a pixel so it spans pixel edges.

Entrance rule (no input beyond the mask): a slot is painted on its closed sides and
open where a car drives in. For each side we probe a thin band just outside it and
measure the fraction of the side that has ``slot_line`` paint there ("coverage").
The entrance is the side with the least paint (rule ``open_side``). When that is
ambiguous (several sides within ``open_tolerance`` of the least painted one, or no
side clearly painted, or every side painted) the ambiguous side that best faces the
ego vehicle wins (rule ``faces_ego``): largest dot product of the side's outward
normal with the slot-to-ego direction, the longitudinal (image-vertical) component
weighted down because in an AVM view the aisle runs along the vehicle's heading.
This handles perpendicular and angled slots (open short side) and parallel slots
(open long side) alike. Probe samples outside the image say nothing, so a side
lying along the image border is never taken for the entrance by paint.

Corners then go clockwise on screen (image y down), starting at the entrance:
``corners[0] -> corners[1]`` is the entrance (left to right as seen from the aisle),
``corners[2] -> corners[3]`` the back.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from seg_perception.geometry import ParkingSlot
from seg_perception.postprocess.polygons import outer_contours, region_pixel_area

SAMPLES_PER_SIDE = 12
PAINTED = 0.5  # a side with at least this coverage counts as painted (closed)
LONGITUDINAL_WEIGHT = 0.25  # aisles run along the ego's heading: lateral offset matters most


def clockwise_on_screen(corners: np.ndarray) -> np.ndarray:
    """Return (4, 2) corners ordered clockwise as seen in an image (positive shoelace sum, y down)."""
    x, y = corners[:, 0], corners[:, 1]
    signed = float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
    return corners if signed >= 0 else corners[::-1].copy()


def grow_quadrilateral(corners: np.ndarray, distance: float) -> np.ndarray:
    """Move every side of a clockwise-on-screen convex quadrilateral outward by ``distance``."""
    starts, ends = corners, np.roll(corners, -1, axis=0)
    directions = ends - starts
    lengths = np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-9)
    normals = np.stack([directions[:, 1], -directions[:, 0]], axis=1) / lengths  # outward when clockwise
    shifted = starts + normals * distance
    grown = np.empty_like(corners)
    for index in range(4):  # corner i joins side i-1 and side i
        previous = index - 1
        matrix = np.stack([directions[previous], -directions[index]], axis=1)
        if abs(np.linalg.det(matrix)) < 1e-9:  # degenerate: keep the corner
            grown[index] = corners[index]
            continue
        step = np.linalg.solve(matrix, shifted[index] - shifted[previous])
        grown[index] = shifted[previous] + step[0] * directions[previous]
    return grown


def slot_quadrilateral(contour: np.ndarray) -> np.ndarray:
    """Convex quadrilateral of a region, clockwise on screen, spanning pixel edges; (4, 2) float64."""
    corners = None
    hull = cv2.convexHull(contour.astype(np.float32))
    if hasattr(cv2, "approxPolyN") and len(hull) >= 4:  # OpenCV >= 4.11
        approx = cv2.approxPolyN(hull, 4, ensure_convex=False).reshape(-1, 2)
        if len(approx) == 4:
            corners = approx.astype(np.float64)
    if corners is None:
        corners = cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float64)
    return grow_quadrilateral(clockwise_on_screen(corners), 0.5)


def side_paint_coverage(line_mask: np.ndarray, corners: np.ndarray, probe_px: float) -> np.ndarray:
    """Fraction of each side ``i -> i+1`` with paint within ``probe_px`` outside it; (4,) float.

    ``corners`` must be a convex quadrilateral.

    Sides whose probe band falls entirely outside the image get coverage 1 (unknown,
    treated as closed).
    """
    height, width = line_mask.shape
    centre = corners.mean(axis=0)
    starts, ends = corners, np.roll(corners, -1, axis=0)
    directions = ends - starts
    normals = np.stack([directions[:, 1], -directions[:, 0]], axis=1)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    midpoints = (starts + ends) / 2.0
    outward = np.sign(np.einsum("ij,ij->i", midpoints - centre, normals))[:, None]
    normals *= np.where(outward == 0, 1.0, outward)

    # (side, sample along the side, step outward, xy); corners are skipped, paint meets there anyway.
    along = np.linspace(0.15, 0.85, SAMPLES_PER_SIDE)
    outward_steps = np.arange(1.0, max(probe_px, 1.0) + 1.0)
    points = (
        starts[:, None, None, :]
        + along[None, :, None, None] * directions[:, None, None, :]
        + outward_steps[None, None, :, None] * normals[:, None, None, :]
    )
    cols = np.rint(points[..., 0]).astype(np.int64)
    rows = np.rint(points[..., 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    painted = np.zeros(inside.shape, dtype=bool)
    painted[inside] = line_mask[rows[inside], cols[inside]]
    hit = painted.any(axis=2)  # (side, sample)
    visible = inside.any(axis=2)
    coverage = np.ones(4)
    for side in range(4):
        if visible[side].any():
            coverage[side] = hit[side][visible[side]].mean()
    return coverage


def choose_entrance(
    corners: np.ndarray, coverage: np.ndarray, ego_px: Sequence[float], *, open_tolerance: float
) -> tuple[int, str]:
    """Index of the entrance side and the rule that decided it (``open_side`` or ``faces_ego``)."""
    least = float(coverage.min())
    candidates = np.flatnonzero(coverage <= least + open_tolerance)
    if len(candidates) == 1 and coverage.max() >= PAINTED:
        return int(candidates[0]), "open_side"
    if coverage.max() < PAINTED:  # no side clearly painted: paint tells nothing
        candidates = np.arange(4)
    directions = np.roll(corners, -1, axis=0) - corners
    normals = np.stack([directions[:, 1], -directions[:, 0]], axis=1)  # outward (clockwise on screen)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    towards_ego = np.asarray(ego_px, dtype=np.float64) - corners.mean(axis=0)
    towards_ego[1] *= LONGITUDINAL_WEIGHT
    scores = normals[candidates] @ towards_ego
    return int(candidates[int(np.argmax(scores))]), "faces_ego"


def extract_parking_slots(
    mask: np.ndarray,
    *,
    slot_line_id: int,
    free_slot_id: int,
    min_area_px: float,
    ego_px: Sequence[float] | None = None,
    probe_px: float | None = None,
    open_tolerance: float = 0.25,
) -> list[ParkingSlot]:
    """One quadrilateral per free-slot region, entrance side first (see the module docstring).

    Args:
        mask: (H, W) uint8 class ids of a bird's-eye image.
        slot_line_id: Class id of slot-line paint.
        free_slot_id: Class id of free parking space.
        min_area_px: Regions with fewer pixels are dropped.
        ego_px: Pixel ``(u, v)`` of the vehicle; default the image centre.
        probe_px: Depth of the paint probe outside each side; default 10% of the
            rectangle's short side, at least 4 px (tolerates a thin gap of background).
        open_tolerance: Coverage difference below which two sides are equally open.

    Returns:
        Slots ordered bottom-most first, then left to right; ``extra`` records the
        entrance rule used and the per-side paint coverage.
    """
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"expected an (H, W) uint8 mask, got shape {mask.shape} dtype {mask.dtype}")
    height, width = mask.shape
    ego = (width / 2.0, height / 2.0) if ego_px is None else tuple(ego_px)
    free = (mask == free_slot_id).view(np.uint8)
    if not free.any():
        return []
    line = mask == slot_line_id
    found: list[tuple[np.ndarray, str, np.ndarray]] = []
    for contour in outer_contours(free):
        if region_pixel_area(contour) < min_area_px:
            continue
        corners = slot_quadrilateral(contour)
        sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
        depth = probe_px if probe_px is not None else max(4.0, 0.1 * float(sides.min()))
        coverage = side_paint_coverage(line, corners, depth)
        entrance, rule = choose_entrance(corners, coverage, ego, open_tolerance=open_tolerance)
        found.append((np.roll(corners, -entrance, axis=0), rule, np.roll(coverage, -entrance)))
    found.sort(key=lambda item: (-float(item[0][:, 1].max()), float(item[0][:, 0].min())))
    return [
        ParkingSlot(
            corners=corners.astype(np.float32),
            free=True,
            instance_id=index,
            extra={"entrance_rule": rule, "side_paint": [round(float(c), 2) for c in coverage]},
        )
        for index, (corners, rule, coverage) in enumerate(found)
    ]
