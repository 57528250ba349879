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
from seg_perception.postprocess.coarse import trace_source
from seg_perception.postprocess.regions import has_min_area, outer_contours

SAMPLES_PER_SIDE = 12
PAINTED = 0.5  # a side with at least this coverage counts as painted (closed)
LONGITUDINAL_WEIGHT = 0.25  # aisles run along the ego's heading: lateral offset matters most
_NEXT = np.array([1, 2, 3, 0])  # corner/side i+1 (np.roll(..., -1) without its overhead)
_PREVIOUS = np.array([3, 0, 1, 2])
_OUTWARD = np.array([1.0, -1.0])  # (dy, -dx): the outward normal of a clockwise-on-screen side
_ALONG = np.linspace(0.15, 0.85, SAMPLES_PER_SIDE)
_ROTATIONS = [np.roll(np.arange(4), -start) for start in range(4)]  # corner order starting at each side


def clockwise_on_screen(corners: np.ndarray) -> np.ndarray:
    """Return (4, 2) corners ordered clockwise as seen in an image (positive shoelace sum, y down)."""
    return clockwise_quadrilaterals(np.asarray(corners)[None])[0]


def clockwise_quadrilaterals(corners: np.ndarray) -> np.ndarray:
    """:func:`clockwise_on_screen` of n quadrilaterals at once; (n, 4, 2) → (n, 4, 2)."""
    x, y = corners[..., 0], corners[..., 1]
    signed = np.sum(x * y[:, _NEXT] - x[:, _NEXT] * y, axis=1)
    reverse = signed < 0
    if not reverse.any():
        return corners
    ordered = corners.copy()
    ordered[reverse] = corners[reverse][:, ::-1]
    return ordered


def grow_quadrilateral(corners: np.ndarray, distance: float) -> np.ndarray:
    """Move every side of a clockwise-on-screen convex quadrilateral outward by ``distance``."""
    return grow_quadrilaterals(np.asarray(corners)[None], distance)[0]


def grow_quadrilaterals(corners: np.ndarray, distance: float) -> np.ndarray:
    """:func:`grow_quadrilateral` of n quadrilaterals at once; (n, 4, 2) → (n, 4, 2) float64."""
    corners = np.asarray(corners, dtype=np.float64)
    directions = corners[:, _NEXT] - corners
    lengths = np.sqrt(np.einsum("nij,nij->ni", directions, directions))[..., None]
    normals = directions[..., ::-1] * _OUTWARD / np.maximum(lengths, 1e-9)  # outward when clockwise
    shifted = corners + normals * distance
    # Corner i joins side i-1 and side i: shifted[i-1] + t * d[i-1] = shifted[i] + s * d[i],
    # solved for t with Cramer's rule on every corner at once (a 2x2 solve per corner).
    previous_dirs, previous_shifted = directions[:, _PREVIOUS], shifted[:, _PREVIOUS]
    offset = shifted - previous_shifted
    det = previous_dirs[..., 1] * directions[..., 0] - previous_dirs[..., 0] * directions[..., 1]
    numerator = offset[..., 1] * directions[..., 0] - offset[..., 0] * directions[..., 1]
    degenerate = np.abs(det) < 1e-9  # parallel neighbours: keep the corner
    step = numerator / np.where(degenerate, 1.0, det)
    grown = previous_shifted + step[..., None] * previous_dirs
    grown[degenerate] = corners[degenerate]
    return grown


def quadrilateral_corners(points: np.ndarray) -> np.ndarray:
    """Convex quadrilateral around a region's outline points, in no particular order; (4, 2) float64.

    The one that adds the least area to the convex hull (``cv2.approxPolyN``), else the
    minimum-area rectangle.
    """
    hull = cv2.convexHull(points.astype(np.float32))
    if hasattr(cv2, "approxPolyN") and len(hull) >= 4:  # OpenCV >= 4.11
        approx = cv2.approxPolyN(hull, 4, ensure_convex=False).reshape(-1, 2)
        if len(approx) == 4:
            return approx.astype(np.float64)
    return cv2.boxPoints(cv2.minAreaRect(points)).astype(np.float64)


def slot_quadrilateral(contour: np.ndarray) -> np.ndarray:
    """Convex quadrilateral of a region, clockwise on screen, spanning pixel edges; (4, 2) float64."""
    return grow_quadrilateral(clockwise_on_screen(quadrilateral_corners(contour)), 0.5)


def side_paint_coverage(line_mask: np.ndarray, corners: np.ndarray, probe_px: float) -> np.ndarray:
    """Fraction of each side ``i -> i+1`` with paint within ``probe_px`` outside it; (4,) float.

    ``corners`` must be a convex quadrilateral.

    Sides whose probe band falls entirely outside the image get coverage 1 (unknown,
    treated as closed).
    """
    return paint_coverage_of_slots(line_mask, corners[None], [probe_px])[0]


def paint_coverage_of_slots(
    line_mask: np.ndarray, corners: np.ndarray, probe_px: Sequence[float]
) -> np.ndarray:
    """:func:`side_paint_coverage` of n quadrilaterals in one pass; (n, 4, 2) corners → (n, 4).

    One vectorised probe for every slot of a frame: the per-call NumPy overhead, not the
    arithmetic, dominates for a handful of slots.
    """
    height, width = line_mask.shape
    corners = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)
    following = corners[:, _NEXT]
    directions = following - corners
    normals = directions[..., ::-1] * _OUTWARD
    normals /= np.maximum(np.sqrt(np.einsum("nij,nij->ni", normals, normals)), 1e-9)[..., None]
    midpoints = (corners + following) / 2.0
    centre = corners.mean(axis=1, keepdims=True)
    outward = np.sign(np.einsum("nij,nij->ni", midpoints - centre, normals))[..., None]
    normals *= np.where(outward == 0, 1.0, outward)

    # (slot, side, sample along the side, step outward, xy); corners are skipped, paint meets
    # there anyway. Slots probe 1..depth px; the shallower ones mask the extra steps off.
    step_counts = np.array([len(np.arange(1.0, max(float(p), 1.0) + 1.0)) for p in probe_px])
    outward_steps = np.arange(1.0, step_counts.max() + 1.0)
    points = (
        corners[:, :, None, None, :]
        + _ALONG[None, None, :, None, None] * directions[:, :, None, None, :]
        + outward_steps[None, None, None, :, None] * normals[:, :, None, None, :]
    )
    cols = np.rint(points[..., 0]).astype(np.int64)
    rows = np.rint(points[..., 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    inside &= (outward_steps[None, :] <= step_counts[:, None])[:, None, None, :]
    # Outside samples read pixel (0, 0) and are masked off: one gather, no boolean scatter.
    painted = line_mask[np.where(inside, rows, 0), np.where(inside, cols, 0)].astype(bool) & inside
    hit = painted.any(axis=3)  # (slot, side, sample)
    visible = inside.any(axis=3)
    seen = visible.sum(axis=2)
    covered = (hit & visible).sum(axis=2)
    return np.where(seen > 0, covered / np.maximum(seen, 1), 1.0)


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
    normals = (corners[_NEXT] - corners)[:, ::-1] * _OUTWARD  # outward (clockwise on screen)
    normals /= np.maximum(np.sqrt(np.einsum("ij,ij->i", normals, normals)), 1e-9)[:, None]
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
    coarse_mask: np.ndarray | None = None,
    border_margin_px: float = 2.0,
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
        coarse_mask: Optional (h, w) mask that ``mask`` is the nearest-neighbour upscale
            of (the model-resolution mask): free-slot regions are traced on it (fewer
            pixels) and their hulls built from the corner pixels of the blocks of the
            coarse hull, which is the hull traced on ``mask`` for an integer scale (within a
            fraction of a pixel otherwise); paint is probed on ``mask``.
        border_margin_px: A slot with an entrance corner this close to the image border is
            dropped: its entrance is cut by the edge of the view, so that corner is the
            border, not paint (a negative value keeps every slot).

    Returns:
        Slots ordered bottom-most first, then left to right; ``extra`` records the
        entrance rule used and the per-side paint coverage.
    """
    source, grid = trace_source(mask, coarse_mask)
    height, width = mask.shape
    ego = (width / 2.0, height / 2.0) if ego_px is None else tuple(ego_px)
    free = (source == free_slot_id).view(np.uint8)
    if not cv2.countNonZero(free):
        return []
    line = mask == slot_line_id
    if grid is None:
        outlines = [contour for contour in outer_contours(free) if has_min_area(contour, min_area_px)]
    else:  # the fine region's convex hull is that of the corner pixels of its hull's blocks
        outlines = [
            grid.block_corners(cv2.convexHull(contour))
            for contour in outer_contours(free)
            if grid.has_min_area(contour, min_area_px)
        ]
    if not outlines:
        return []
    corners_all = np.stack([quadrilateral_corners(outline) for outline in outlines])
    corners_all = grow_quadrilaterals(clockwise_quadrilaterals(corners_all), 0.5)  # span pixel edges
    if probe_px is None:
        sides = corners_all[:, _NEXT] - corners_all
        shortest = np.sqrt(np.einsum("nij,nij->ni", sides, sides).min(axis=1))
        depths = [max(4.0, 0.1 * float(side)) for side in shortest]
    else:
        depths = [probe_px] * len(corners_all)
    coverages = paint_coverage_of_slots(line, corners_all, depths)
    found: list[tuple[np.ndarray, str, np.ndarray]] = []
    for corners, coverage in zip(corners_all, coverages, strict=True):
        entrance, rule = choose_entrance(corners, coverage, ego, open_tolerance=open_tolerance)
        order = _ROTATIONS[entrance]  # the entrance side first
        entrance_corners = corners[order][:2]
        inside = (entrance_corners >= border_margin_px) & (
            entrance_corners <= np.array([width, height]) - 1 - border_margin_px
        )
        if border_margin_px >= 0 and not inside.all():
            continue
        found.append((corners[order], rule, coverage[order]))
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
