"""Lane-marking mask -> lane boundaries: dashes joined across gaps, fitted, typed and placed.

The steps, all plain NumPy/OpenCV:

1. **Runs.** In sampled rows (``rows`` over the height, denser towards the farthest paint), the
   lane-paint pixels of the row are split into runs
   (short holes closed). Runs whose width across the road exceeds ``transverse_width_m`` are
   transverse paint (stop lines), not lane lines.
2. **Tracklets.** Runs are linked from the bottom row upwards into tracklets (one dash, or a
   stretch of a solid line), following each tracklet's slope, so two lines that touch far
   away stay apart.
3. **Plane.** Run centres go to a ground plane ``(x forward, y left)``: metres through the
   camera's homography when calibrated; otherwise a *pseudo-ground* from the vanishing point
   ``(u0, v0)`` of the tracklets, ``x = F h / (v - v0)``, ``y = -(u - u0) h / (v - v0)`` with a
   nominal focal length ``F`` and camera height ``h``. For a camera with small pitch and roll
   that map is the true ground up to scale, so lane lines are parallel in it (the
   vanishing point, :mod:`seg_perception.postprocess.vanishing`, is re-estimated each frame and
   smoothed by the caller's ``hint``). With ``blob_shift_ratio``, a tracklet whose rows cut one
   blob of paint at its centre (a far dash beside the road, drawn a few pixels wide, where a
   line crosses many columns per row) stands for its centre alone.
4. **Grouping.** One least-squares fit of all tracklets with a shared road shape
   ``c1 x + c2 x^2 + c3 x^3`` and one lateral offset per tracklet; the offsets are clustered
   (gap > ``cluster_gap_m`` starts a new line). Dashes of one line share an offset however
   long the gap between them, so a line is joined across its dash gaps.
5. **Fit.** Each line is fitted as ``y = c0 + c1 x + c2 x^2 + c3 x^3``, pulled towards the
   shared shape (short lines follow the road, long lines their own paint); the heading ``c1``
   only loosely (``heading_prior``), as a horizon a few rows off, or a camera pitched otherwise
   than its calibration, turns each line in the plane by its offset.
6. **Junctions.** A lane ends at the first stop line or crosswalk ahead (stop lines: the paint's
   row runs at least ``transverse_width_m`` across the road, apart from the lines they touch);
   paint beyond it is the road across the junction (used instead when the car is already at the
   junction: its marking begins within ``at_junction_m`` of the bottom row, or no line shows that
   much paint before it), whose boundaries all start where its nearest solid line does. With
   ``unmarked_junction_m`` a stretch of road that long without any line's paint, lines going on
   on both sides of it, is a junction too (one without markings, or whose markings were missed).
7. **Attributes.** Type from the coverage of the line by paint (dashed: gaps along it;
   double: two parallel tracklets 0.1-0.7 m apart), colour from the image under the paint
   (HSV), position from the lateral offset at the vehicle (``x = 0``), confidence from the
   paint support and fit residual; the ego lane from the two boundaries either side. Lines beyond
   ``farthest_position`` (left_N / right_N) are not published.

A boundary's valid range runs from the ground seen by the bottom image row to the farthest
paint of the frame, at least ``extend_to_m`` ahead (not past a junction): a line goes on where
a vehicle hides its paint or where it is too thin far away for the mask, as lane labels (and a
planner's lookahead) assume. ``painted_range`` keeps the stretch its own paint covers. Its image
polyline is the fitted curve projected back (clipped to the image).

Modules: :mod:`.settings` (the thresholds), :mod:`.results` (boundaries, ego lane, markings),
:mod:`.paint` (steps 1-2: rows, runs, tracklets, the samples on the plane), :mod:`.plane` (step 3),
:mod:`.curves` (steps 4-5's fits, and drawing curves back into the image), :mod:`.junctions`
(step 6), :mod:`.positions` (step 7's positions and the ego lane) and :mod:`.extractor`, which runs
the steps on one frame.
"""

from seg_perception.postprocess.lanes.curves import (
    fit_polynomial,
    frame_entry_fraction,
    geometric_samples,
    polyval,
    polyval_at,
    render_curve,
    render_curves,
)
from seg_perception.postprocess.lanes.extractor import LaneExtractor
from seg_perception.postprocess.lanes.positions import (
    assign_positions,
    ego_lane,
    within_farthest_position,
    within_yellow_edge,
    without_narrow_ego_lane,
)
from seg_perception.postprocess.lanes.results import (
    CROSSWALK,
    DASHED,
    DOUBLE,
    EGO_LEFT,
    EGO_RIGHT,
    HOOD_JSON_POINTS,
    SOLID,
    STOP_LINE,
    UNKNOWN,
    WHITE,
    YELLOW,
    EgoLane,
    LaneBoundary,
    LaneResult,
    RoadMarking,
)
from seg_perception.postprocess.lanes.settings import (
    AT_JUNCTION_M,
    YELLOW_EDGE_SIDES,
    LaneSettings,
)

__all__ = [
    "AT_JUNCTION_M",
    "CROSSWALK",
    "DASHED",
    "DOUBLE",
    "EGO_LEFT",
    "EGO_RIGHT",
    "HOOD_JSON_POINTS",
    "SOLID",
    "STOP_LINE",
    "UNKNOWN",
    "WHITE",
    "YELLOW",
    "YELLOW_EDGE_SIDES",
    "EgoLane",
    "LaneBoundary",
    "LaneExtractor",
    "LaneResult",
    "LaneSettings",
    "RoadMarking",
    "assign_positions",
    "ego_lane",
    "fit_polynomial",
    "frame_entry_fraction",
    "geometric_samples",
    "polyval",
    "polyval_at",
    "render_curve",
    "render_curves",
    "within_farthest_position",
    "within_yellow_edge",
    "without_narrow_ego_lane",
]
