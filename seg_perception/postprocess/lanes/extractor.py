""":class:`LaneExtractor`: one frame's lane mask (and image) to its lane boundaries, ego lane and road
markings, running the steps of :mod:`seg_perception.postprocess.lanes`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from itertools import pairwise

import cv2
import numpy as np

from seg_perception.postprocess.camera_model import GroundMapper, horizon_row
from seg_perception.postprocess.hood import find_hood, paint_below
from seg_perception.postprocess.lanes.curves import (
    RENDER_POINTS,
    X_SCALE,
    clipped_intervals,
    fit_line,
    intervals_union,
    polyval,
    render_curves,
    shape_residuals,
    solve_shared,
    sorted_median,
    straight_past,
    to_metric_coefficients,
)
from seg_perception.postprocess.lanes.junctions import (
    before_junction,
    reaches_axis,
    transverse_paint,
    unmarked_junctions,
    wide_components,
)
from seg_perception.postprocess.lanes.paint import (
    BLOB_SAMPLES,
    GroundSamples,
    Tracklets,
    link_tracklets,
    row_runs,
    sample_rows,
    stripe_samples,
    unresolved_blobs,
)
from seg_perception.postprocess.lanes.plane import ExtractionPlane, pitched
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
    SOLID,
    STOP_LINE,
    UNKNOWN,
    WHITE,
    YELLOW,
    LaneBoundary,
    LaneResult,
    RoadMarking,
)
from seg_perception.postprocess.lanes.settings import LaneSettings
from seg_perception.postprocess.vanishing import VP_MIN_SPAN, intersect_lines, vanishing_lines

VP_SMOOTHING = 0.3  # weight of this frame's vanishing point against the hint
VP_JUMP = 0.08  # a per-frame estimate farther than this share of the height from the hint is ignored
# frames that confirmed the smoothed vanishing point count up to this many against refused estimates
# (vanishing_reanchor_frames): a horizon held for a second gives way to a second of agreeing others
VP_SUPPORT_CAP = 30
# two tracklets are side by side (a double line's stripes) where they overlap along the road by more
# than this share of the shorter one
DOUBLE_MIN_OVERLAP = 0.3


def _without_strays(
    members: list[int],
    offsets: np.ndarray,
    tolerances: np.ndarray,
    extents: tuple[np.ndarray, np.ndarray],
    min_overlap_m: float,
) -> list[int]:
    """The line's tracklets less those off the median offset of all by more than their tolerance.

    Only lines of three tracklets or more have a median that says which one strays. A tracklet side
    by side with another (a double line's stripes: overlapping along the road by at least
    ``min_overlap_m`` and by a share of the shorter as in ``_is_double``) is never a stray.
    """
    if len(members) < 3:
        return members
    x_min, x_max = extents
    median = float(np.median(offsets[members]))
    kept = []
    for k in members:
        beside = False
        for j in members:
            overlap = min(x_max[k], x_max[j]) - max(x_min[k], x_min[j])
            shorter = min(x_max[k] - x_min[k], x_max[j] - x_min[j])
            beside = beside or (
                j != k and overlap >= min_overlap_m and overlap > DOUBLE_MIN_OVERLAP * shorter
            )
        if beside or abs(float(offsets[k]) - median) <= float(tolerances[k]):
            kept.append(k)
    return kept


def _road_start(boundary: LaneBoundary, min_solid_span: float) -> float | None:
    """Where the road across a junction begins by this boundary's paint: a double line's nearest paint,
    a solid line's with at least ``min_solid_span`` of paint; None for any other boundary."""
    if boundary.painted_range is None:
        return None
    near, far = boundary.painted_range
    if boundary.line_type == DOUBLE or (boundary.line_type == SOLID and far - near >= min_solid_span):
        return near
    return None


class LaneExtractor:
    """Lane boundaries and road markings of single frames (no state; see :class:`LaneTracker`).

    Args:
        class_names: The scenario's class names (the lane and crosswalk classes are looked up).
        settings: Thresholds.
        mapper: Pixel <-> ground mapping of a calibrated camera (for frames of ``mapper_size``),
            or None for image-space boundaries.
        mapper_size: (height, width) the mapper was made for; frames of another size are
            scaled to it (None: the size of the mapper's camera model, when it has one).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        settings: LaneSettings | None = None,
        *,
        mapper: GroundMapper | None = None,
        mapper_size: tuple[int, int] | None = None,
    ) -> None:
        self.settings = settings or LaneSettings()
        names = list(class_names)
        if self.settings.lane_class not in names:
            raise ValueError(f"lane class {self.settings.lane_class!r} is not in the class map {names}")
        self.lane_id = names.index(self.settings.lane_class)
        self.crosswalk_id = (
            names.index(self.settings.crosswalk_class) if self.settings.crosswalk_class in names else None
        )
        self.mapper = mapper
        # a camera model knows its own size: frames of another size (a CameraInfo or calibration file
        # for another resolution of the camera) are mapped through the camera resized to them
        if mapper_size is None and mapper is not None and mapper.camera is not None:
            mapper_size = (mapper.camera.height, mapper.camera.width)
        self.mapper_size = mapper_size
        self._bottom_cache: dict[tuple[int, int], tuple[GroundMapper, tuple[float, float]]] = {}
        # consecutive vanishing-point estimates refused as jumps from the hint (vanishing_reanchor_frames)
        self._refused: list[tuple[float, float]] = []
        # frames whose estimates set or confirmed the hint since it was last set
        self._support = 0

    @property
    def metric(self) -> bool:
        return self.mapper is not None

    def _reanchor(
        self, estimate: tuple[float, float], hint: tuple[float, float], frames: int, height: int
    ) -> tuple[float, float]:
        """The hint, or the median of the refused estimates in a row once they agree and outnumber
        (and number at least ``frames``) the frames that confirmed the hint."""
        needed = max(frames, min(self._support, VP_SUPPORT_CAP) + 1)
        self._refused = [*self._refused[-(needed - 1) :], estimate] if needed > 1 else [estimate]
        if len(self._refused) < needed:
            return hint
        refused = np.asarray(self._refused)
        median = np.median(refused, axis=0)
        if np.max(np.hypot(*(refused - median).T)) >= VP_JUMP * height / 2.0:
            return hint  # scattered: outliers, not a horizon the hint missed
        self._support = len(self._refused)
        self._refused.clear()
        return float(median[0]), float(median[1])

    def _tracklets(self, paint: np.ndarray, scale: tuple[float, float]) -> Tracklets:
        """The paint's row runs on the sampled rows, linked row to row into tracklets (frame pixels)."""
        settings = self.settings
        scale_u, scale_v = scale
        rows = sample_rows(paint, settings.rows)
        row_index, starts, ends = row_runs(paint[rows], settings.max_hole_px)
        # to frame pixels: a mask pixel k covers frame pixels [k * s, (k + 1) * s)
        runs = (row_index, starts * scale_u, ends * scale_u)
        rows_frame = (rows + 0.5) * scale_v - 0.5
        # frame pixels between each sampled row and the next one (the bottom row: as its neighbour)
        spacing = np.diff(rows_frame, prepend=rows_frame[0] - scale_v) if len(rows) else rows_frame
        if len(spacing) > 1:
            spacing[0] = spacing[1]
        linked = link_tracklets(rows_frame, runs, float(np.max(spacing, initial=scale_v)), scale_u)
        tracklets = [t for t in linked if len(t) >= 2]  # a lone run is a speck, not a dash
        # every tracklet's runs one after the other: centres, rows and edges in frame pixels
        run_ids = np.concatenate(tracklets) if tracklets else np.zeros(0, np.int64)
        left_all, right_all = runs[1][run_ids], runs[2][run_ids]
        u_all = (left_all + right_all) / 2.0 - 0.5
        v_all = rows_frame[row_index[run_ids]]
        return Tracklets([len(t) for t in tracklets], u_all, v_all, left_all, right_all, rows_frame, spacing)

    def _horizon(
        self, runs: Tracklets, size: tuple[int, int], vanishing_hint: tuple[float, float] | None
    ) -> tuple[ExtractionPlane, tuple[float, float], bool, float]:
        """The frame's extraction plane and its vanishing point from the tracklets' runs (frame pixels).

        Returns:
            ``(plane, vanishing point, found, pitch rows)``: found is False where neither the paint nor
            ``vanishing_hint`` placed the vanishing point (uncalibrated: a nominal guess); pitch rows is
            how far (rows) ``pitch_from_lines`` may move a calibration's horizon (0: off).
        """
        settings = self.settings
        height, width = size
        u_all, v_all, lengths = runs.u, runs.v, runs.lengths
        vanishing = (width / 2.0, 0.42 * height) if vanishing_hint is None else vanishing_hint
        # calibrated, with pitch_from_lines: the lines' vanishing point moves the calibration's horizon
        pitch_rows = settings.pitch_from_lines * height if self.metric else 0.0
        plane = self._plane((height, width), vanishing)
        found = vanishing_hint is not None
        if not self.metric or pitch_rows > 0:
            u_vp, v_vp = u_all, v_all
            region = settings.vanishing_region((height, width))
            if plane.mapper is not None:
                # in the calibration's undistorted pixels, near its horizon
                if plane.mapper.camera is not None and len(u_all):
                    u_vp, v_vp = plane.mapper.camera.undistort(np.column_stack([u_all, v_all])).T
                horizon = horizon_row(plane.mapper.image_to_ground, width / 2.0)
                region = (region[0], region[1], horizon - pitch_rows, horizon + pitch_rows)
            cuts = np.cumsum(lengths)[:-1]
            arrays = list(zip(np.split(u_vp, cuts), np.split(v_vp, cuts), strict=True))
            straight = vanishing_lines(
                arrays, (height, width), join=settings.vanishing_join, trim=settings.vanishing_trim
            )
            # long lines first (a model's short fragments have noisy directions), then all; lines
            # leaning opposite ways first (they cross at a wide angle), same-side pairs (a narrow
            # angle: an error in either direction moves their crossing far) only when those give none
            min_spans = [max(settings.vanishing_long_span, VP_MIN_SPAN), VP_MIN_SPAN]
            same_side = [None, settings.vanishing_same_side_deg or None]
            estimate = None
            for angle, span in dict.fromkeys(itertools.product(same_side, min_spans)):
                estimate = intersect_lines(
                    straight,
                    (height, width),
                    region,
                    min_span=span,
                    same_side_angle_deg=angle,
                    tolerance=settings.vanishing_join * height,
                )
                if estimate is not None:
                    break
            if estimate is None and settings.vanishing_pair_deg > 0:
                estimate = intersect_lines(
                    straight,
                    (height, width),
                    region,
                    min_span=min_spans[0],
                    same_side_angle_deg=settings.vanishing_pair_deg,
                    third_line=False,
                )
            if vanishing_hint is None:
                self._refused.clear()
            if estimate is not None and vanishing_hint is None:
                vanishing = estimate
                found = True
                self._support = 1
            elif (
                estimate is not None
                and vanishing_hint is not None
                and np.hypot(*np.subtract(estimate, vanishing_hint)) < VP_JUMP * height
            ):
                # smoothed, so that the pseudo-ground (and the tracked curves in it) stays put
                vanishing = (
                    vanishing_hint[0] + VP_SMOOTHING * (estimate[0] - vanishing_hint[0]),
                    vanishing_hint[1] + VP_SMOOTHING * (estimate[1] - vanishing_hint[1]),
                )
                self._refused.clear()
                self._support += 1
            elif estimate is not None and settings.vanishing_reanchor_frames > 0:
                vanishing = self._reanchor(estimate, vanishing, settings.vanishing_reanchor_frames, height)
            if plane.mapper is None:
                plane = self._plane((height, width), vanishing)
            elif found:
                plane = pitched(plane, vanishing, pitch_rows)
        return plane, vanishing, found, pitch_rows

    def _ground_samples(
        self, runs: Tracklets, plane: ExtractionPlane, image_bgr: np.ndarray | None
    ) -> GroundSamples:
        """Each tracklet's runs on the extraction plane: the usable ones, the ground they stand for."""
        settings = self.settings
        lengths, u_all, v_all, left_all, right_all = runs.lengths, runs.u, runs.v, runs.left, runs.right
        samples, spans, reach, weights, kept = [], [], [], [], []
        # per tracklet, per sample: on a bright stripe (the stripe check)
        stripes: list[np.ndarray] | None = None
        transverse_found = False
        if lengths:
            half = np.interp(v_all, runs.rows, runs.spacing) / 2.0
            # one mapping call for all centres, edges and the ends of the rows' ground strips
            mapped = plane.to_plane(
                np.column_stack(
                    [
                        np.concatenate([u_all, left_all, right_all, u_all, u_all]),
                        np.concatenate([v_all, v_all, v_all, v_all + half, v_all - half]),
                    ]
                )
            )
            centre_all, left_m, right_m, near_all, far_all = np.split(mapped, 5)
            across_all = np.abs(left_m[:, 1] - right_m[:, 1])
            transverse = across_all >= settings.transverse_width_m
            transverse_found = bool(transverse.any())
            ok_all = (
                np.isfinite(centre_all).all(axis=1)
                & (centre_all[:, 0] > 0)
                & (centre_all[:, 0] < settings.max_range_m)
                & ~transverse
            )
            # per tracklet, its usable samples: one pass over all samples, then split (a loop of
            # small NumPy calls per tracklet cost more than the rest of this step)
            tracklet_of = np.repeat(np.arange(len(lengths)), lengths)[ok_all]
            counts = np.bincount(tracklet_of, minlength=len(lengths))
            xy_ok = centre_all[ok_all]
            # a sample stands for the ground between its row and the next sampled rows
            near_ok = np.where(np.isfinite(near_all[ok_all, 0]), near_all[ok_all, 0], xy_ok[:, 0])
            far_ok = np.where(np.isfinite(far_all[ok_all, 0]), far_all[ok_all, 0], xy_ok[:, 0])
            weight_ok = 1.0 / (1.0 + xy_ok[:, 0] / 30.0) ** 2
            present = counts[counts > 0]
            if len(present):
                starts = np.concatenate([[0], np.cumsum(present)[:-1]])
                cuts = starts[1:]
                near_min = np.minimum.reduceat(near_ok, starts)
                far_max = np.maximum.reduceat(far_ok, starts)
                samples = np.split(xy_ok, cuts)
                weights = np.split(weight_ok, cuts)
                spans = [(float(a), float(b)) for a, b in zip(near_min, far_max, strict=True)]
                reach = np.split(np.column_stack([near_ok, far_ok]), cuts)
                kept = list(zip(np.split(u_all[ok_all], cuts), np.split(v_all[ok_all], cuts), strict=True))
                if settings.min_stripe_share > 0 and image_bgr is not None:
                    stripe = stripe_samples(image_bgr, u_all, v_all, left_all, right_all, settings)
                    stripes = np.split(stripe[ok_all], cuts)
                if settings.blob_shift_ratio > 0:
                    runs_ok = (u_all[ok_all], v_all[ok_all], (right_all - left_all)[ok_all])
                    blob, centres = unresolved_blobs(
                        runs_ok, xy_ok, weight_ok, starts, plane, settings.blob_shift_ratio
                    )
                    for i in np.flatnonzero(blob).tolist():  # each blob: its centre, BLOB_SAMPLES times
                        samples[i] = np.repeat(centres[i : i + 1], BLOB_SAMPLES, axis=0)
                        weights[i] = np.full(BLOB_SAMPLES, weights[i].sum() / BLOB_SAMPLES)
                        ends = [[reach[i][:, 0].min(), reach[i][:, 1].max()]]
                        reach[i] = np.repeat(np.asarray(ends), BLOB_SAMPLES, axis=0)
                        u_kept, v_kept = kept[i]
                        kept[i] = (np.full(BLOB_SAMPLES, u_kept.mean()), np.full(BLOB_SAMPLES, v_kept.mean()))
                        if stripes is not None:
                            stripes[i] = np.full(BLOB_SAMPLES, stripes[i].mean() >= 0.5)
        return GroundSamples(samples, weights, spans, reach, kept, stripes, transverse_found)

    def _plane(self, size: tuple[int, int], vanishing_point: tuple[float, float]) -> ExtractionPlane:
        focal = (size[1] / 2.0) / np.tan(np.deg2rad(self.settings.nominal_hfov_deg) / 2.0)
        mapper = self.mapper
        if mapper is not None and self.mapper_size is not None:
            mapper = mapper.resized(size, self.mapper_size)
        return ExtractionPlane(
            mapper, vanishing_point, focal * self.settings.nominal_height_m, self.settings.nominal_height_m
        )

    def extract(
        self,
        mask: np.ndarray,
        image_bgr: np.ndarray | None = None,
        *,
        vanishing_hint: tuple[float, float] | None = None,
        junction_hint: bool = False,
        hood_hint: np.ndarray | None = None,
        frame_size: tuple[int, int] | None = None,
    ) -> LaneResult:
        """Boundaries (ids = per-frame indices, near-left first), ego lane and markings of one mask.

        Args:
            mask: (h, w) uint8 class ids: the frame's mask, or a smaller one it is the
                upscale of (e.g. the model-resolution mask, several times cheaper).
            image_bgr: The frame, for paint colour; None gives colour ``unknown``.
            vanishing_hint: Vanishing point (frame pixels) to use when this frame's paint cannot
                give one (uncalibrated cameras; e.g. the tracker's smoothed estimate).
            junction_hint: The previous frame's boundaries were across a junction (the
                tracker's ``across_junction``): with its markings out of sight, the car is still
                crossing it until paint comes within ``junction_exit_m`` of the bottom row.
            hood_hint: A hood edge held from earlier frames (the tracker's ``hood``): used when
                this frame finds none and shows no lane paint below it.
            frame_size: (H, W) of the frame when ``mask`` is smaller; all outputs are in
                frame pixels.
        """
        settings = self.settings
        mask_h, mask_w = mask.shape[:2]
        height, width = frame_size if frame_size is not None else (mask_h, mask_w)
        scale_u, scale_v = width / mask_w, height / mask_h
        paint = (mask == self.lane_id).view(np.uint8)
        runs = self._tracklets(paint, (scale_u, scale_v))
        plane, vanishing, found, pitch_rows = self._horizon(runs, (height, width), vanishing_hint)
        # uncalibrated, with neither a hint nor paint to place the horizon: a nominal guess, which
        # is not passed on (a wrong guess as the next frame's hint would outvote good estimates)
        guessed = not self.metric and not found
        ground = self._ground_samples(runs, plane, image_bgr)
        # stop lines are searched where a sampled row crossed transverse paint, and always in
        # scenarios with crosswalks (urban roads), where a thin far stop line can fall between rows
        look_for_stop_lines = ground.transverse_found or self.crosswalk_id is not None
        markings = self._markings(mask, paint if look_for_stop_lines else None, plane, (scale_u, scale_v))
        result = LaneResult(
            metric=plane.metric,
            # uncalibrated, or calibrated with pitch_from_lines: passed on as the next frame's hint
            vanishing_point=vanishing if found and (not plane.metric or pitch_rows > 0) else None,
            markings=markings,
            plane=plane,
            frame_size=(height, width),
            max_lane_width=settings.max_lane_width_m if plane.metric else 0.0,
            start_at_frame_edge=settings.start_at_frame_edge,
            farthest_position=settings.farthest_position,
            hood_edge=None if image_bgr is None else find_hood(image_bgr, paint, settings.hood_max_share),
        )
        # a hood the detector missed in this frame (glare, a shadow on it) is still there, unless the
        # road shows below its edge
        if (
            result.hood_edge is None
            and hood_hint is not None
            and image_bgr is not None
            and not paint_below(hood_hint, paint, height)
        ):
            result.hood_edge, result.hood_held = hood_hint, True
        x_bottom = self._bottom_distance(plane, (height, width), result.hood_edge)
        junctions = [(m.distance, m.far_distance) for m in markings if m.on_path]
        if settings.unmarked_junction_m > 0 and plane.metric:
            junctions += unmarked_junctions(
                ground, x_bottom, settings.unmarked_junction_m, settings.min_lane_width_m
            )
        ground, result.across_junction = before_junction(ground, junctions, x_bottom, settings.at_junction_m)
        samples, weights, spans = ground.samples, ground.weights, ground.spans
        kept, stripes = ground.kept, ground.stripes
        if not samples:
            return result
        # boundaries run on to the farthest paint of the frame (the road is seen that far), at
        # least to extend_to_m, but never past the junction ahead of the paint
        paint_far = max(span[1] for span in spans)
        junction = min((near for near, _ in junctions if near >= paint_far), default=np.inf)
        extend_to = 0.0
        if settings.extend_to_m > 0 and not guessed:  # a guessed horizon says nothing of the far road
            extend_to = min(max(settings.extend_to_m, paint_far), settings.max_range_m, junction)

        # each tracklet's stretch of road: [x_first[k], x_last[k]]
        firsts = np.r_[0, np.cumsum([len(xy) for xy in samples])[:-1]]
        all_x = np.concatenate([xy[:, 0] for xy in samples])
        x_first, x_last = np.minimum.reduceat(all_x, firsts), np.maximum.reduceat(all_x, firsts)
        lines = self._group(samples, weights, x_first, x_last)
        extents = list(zip(x_first.tolist(), x_last.tolist(), strict=True))
        yellow = self._yellow_samples(image_bgr, kept)

        def fit(nearest_start: float) -> list[LaneBoundary]:
            """The grouped lines fitted, each starting no nearer than ``nearest_start`` (m)."""
            fitted = []
            for members, shape in lines:
                on_stripe = None if stripes is None else sum(int(stripes[k].sum()) for k in members)
                if on_stripe is not None and on_stripe < settings.min_stripe_share * sum(
                    len(samples[k]) for k in members
                ):
                    continue  # an edge, not a stripe of paint
                boundary = self._boundary(
                    members, shape, samples, weights, extents, spans, yellow, plane, nearest_start, extend_to
                )
                if boundary is not None:
                    fitted.append(boundary)
            return fitted

        fitted = self._fit_from_start(fit, result, plane, (height, width), x_bottom, junction_hint)
        result.boundaries = self._drawn_boundaries(fitted, plane, (height, width), result)
        result.ego_lane = ego_lane(result.boundaries, metric=plane.metric)
        return result

    def _fit_from_start(
        self,
        fit: Callable[[float], list[LaneBoundary]],
        result: LaneResult,
        plane: ExtractionPlane,
        size: tuple[int, int],
        x_bottom: float,
        junction_hint: bool,
    ) -> list[LaneBoundary]:
        """The lines fitted from where the road starts: the frame's bottom, or beyond a junction.

        Sets ``result.across_junction`` when the car is still crossing the junction of
        ``junction_hint`` (the previous frame's) with its markings out of sight.
        """
        settings = self.settings
        # no lane runs across a junction: the road beyond it starts at its paint (infinite start)
        crossing = result.across_junction or junction_hint
        # from where a line can enter the frame: through a lens that bends straight lines (barrel
        # distortion) or a rolled camera, a corner of the bottom row sees nearer ground than its centre
        x_start = x_bottom
        if settings.start_at_frame_edge and result.hood_edge is None:
            x_start = self._bottom_row(plane, size)[1]
        fitted = fit(np.inf if crossing else x_start)
        if crossing and not result.across_junction:  # its markings out of sight: on while the lines'
            # paint stays off the bottom rows (a speck of paint there does not end it)
            reached = min(
                (b.painted_range[0] for b in fitted if b.painted_range is not None), default=-np.inf
            )
            result.across_junction = reached > x_bottom + settings.junction_exit_m
            if not result.across_junction:
                fitted = fit(x_start)
        if result.across_junction:
            # a solid line's paint starts where the road across does, a dashed line's first dash may
            # lie metres on: every boundary starts at the nearest solid line's start (if there is one)
            starts = [_road_start(b, settings.junction_solid_min_span_m) for b in fitted]
            road_start = min((s for s in starts if s is not None), default=np.inf)
            if any(b.painted_range is not None and b.painted_range[0] > road_start for b in fitted):
                fitted = fit(max(road_start, x_bottom))
        return fitted

    def _drawn_boundaries(
        self, fitted: list[LaneBoundary], plane: ExtractionPlane, size: tuple[int, int], result: LaneResult
    ) -> list[LaneBoundary]:
        """The fitted lines drawn in the frame, checked against each other, numbered by position."""
        settings = self.settings
        boundaries = []
        curves = [(b.plane_coefficients, b.plane_range) for b in fitted]
        drawn = render_curves(
            plane,
            curves,
            size,
            from_frame_edge=settings.start_at_frame_edge,
            hood=result.hood_edge,
        )
        for boundary, rendered in zip(fitted, drawn, strict=True):
            if rendered is not None:  # a curve with fewer than two points in the image is dropped
                boundary.image_points, boundary.ground_points, boundary.coefficients, boundary.valid_range = (
                    rendered
                )
                boundaries.append(boundary)
        boundaries.sort(key=lambda b: -float(b.plane_coefficients[0]))
        boundaries = within_yellow_edge(boundaries, settings.yellow_edge_side)
        if plane.metric:
            boundaries = without_narrow_ego_lane(boundaries, settings.min_lane_width_m)
        boundaries = (
            boundaries[: settings.max_lines]
            if len(boundaries) <= settings.max_lines
            else sorted(boundaries, key=lambda b: -b.confidence)[: settings.max_lines]
        )
        assign_positions(boundaries, result.max_lane_width)
        boundaries = within_farthest_position(boundaries, settings.farthest_position)
        for index, boundary in enumerate(boundaries):
            boundary.id = index
        return boundaries

    def _bottom_distance(
        self, plane: ExtractionPlane, size: tuple[int, int], hood: np.ndarray | None = None
    ) -> float:
        """Forward distance of the ground seen by the bottom row's centre (fixed for a calibrated
        camera), or by the hood edge's lowest point above it (the curves are drawn from there; where
        the edge is higher, the drawing clips them)."""
        if hood is not None:
            lowest = int(np.argmax(hood))
            x = plane.to_plane(np.array([[float(lowest), float(hood[lowest])]]))[0, 0]
            if np.isfinite(x) and x > 0:
                return max(float(x), self._bottom_row(plane, size)[0])
        return self._bottom_row(plane, size)[0]

    def _bottom_row(self, plane: ExtractionPlane, size: tuple[int, int]) -> tuple[float, float]:
        """Forward distances of the ground the bottom row sees: at its centre, and the nearest across its
        whole width (a corner's, through a barrel lens or a rolled camera). Fixed for a calibrated camera
        (cached); on an uncalibrated camera's pseudo-ground distance depends on the row only."""
        cached = self._bottom_cache.get(size)
        if cached is not None and plane.mapper is not None and cached[0] is plane.mapper:
            return cached[1]
        height, width = size
        columns = np.array([width / 2.0])
        if plane.mapper is not None:
            columns = np.r_[columns, np.linspace(0.0, width - 1.0, RENDER_POINTS)]
        x = plane.to_plane(np.column_stack([columns, np.full_like(columns, height - 1.0)]))[:, 0]
        centre = float(x[0]) if np.isfinite(x[0]) and x[0] > 0 else 0.5
        seen = x[np.isfinite(x) & (x > 0)]
        distances = (centre, min(centre, float(seen.min())) if seen.size else centre)
        if plane.mapper is not None:
            self._bottom_cache[size] = (plane.mapper, distances)
        return distances

    def _group(
        self, samples: list[np.ndarray], weights: list[np.ndarray], x_min: np.ndarray, x_max: np.ndarray
    ) -> list[tuple[list[int], np.ndarray]]:
        """Clusters of tracklet indices sharing one lateral offset, with the road shape.

        The shape is fitted on the reliable tracklets (starting within ``shape_range_m``, at
        least three samples), where paint is large and sharp; every tracklet's offset is then
        its mean distance from that shape, and tracklets that do not follow it (arrows, blobs,
        far noise) are left out.
        """
        settings = self.settings
        count = len(samples)
        lengths = np.array([len(xy) for xy in samples])
        xy_all, weight_all = np.concatenate(samples), np.concatenate(weights)
        owner = np.repeat(np.arange(count), lengths)
        reliable = [k for k in range(count) if lengths[k] >= 3 and x_min[k] < settings.shape_range_m]
        active = reliable or list(range(count))
        shape = np.zeros(0)
        for attempt in range(3):
            spread = float(x_max[active].max() - x_min[active].min())
            degree = min(1 if spread < 10.0 else 2, max(0, int(lengths[active].sum()) - len(active) - 1))
            if degree == 0:
                shape = np.zeros(0)
                break
            _, shape = solve_shared([samples[k] for k in active], degree, [weights[k] for k in active])
            residuals = shape_residuals(xy_all, weight_all, owner, count, shape)[1][active]
            # tracklets that do not follow the road (arrows, blobs) are dropped and the shape refitted
            bad = residuals > 0.3 + 3.0 * sorted_median(residuals)
            if not bad.any() or bad.all() or attempt == 2:
                break
            active = [k for k, b in zip(active, bad.tolist(), strict=True) if not b]
        offsets_all, rms_all = shape_residuals(xy_all, weight_all, owner, count, shape)
        growth = 1.0 + np.bincount(owner, xy_all[:, 0], count) / lengths / X_SCALE  # with the distance ahead
        limits = settings.max_shape_residual_m * growth
        kept = np.flatnonzero(rms_all <= limits).tolist()
        offsets = offsets_all[kept]
        order = np.argsort(offsets)
        clusters: list[list[int]] = []
        last = None
        for position, offset in zip(order.tolist(), offsets[order].tolist(), strict=True):
            if last is None or offset - last > settings.cluster_gap_m:
                clusters.append([])
            clusters[-1].append(kept[position])
            last = offset
        if settings.max_member_offset_m > 0 and self.metric:  # pseudo-metres: lines turn off the shape
            tolerances = settings.max_member_offset_m * growth
            clusters = [
                _without_strays(c, offsets_all, tolerances, (x_min, x_max), settings.min_painted_m)
                for c in clusters
            ]
        # the shape again with one offset per line: a line spans far more road than its dashes
        usable = [c for c in clusters if int(lengths[c].sum()) >= settings.min_samples]
        if usable:
            members = [k for c in usable for k in c]
            spread = float(x_max[members].max() - x_min[members].min())
            degree = 1 if spread < 10.0 else (2 if spread < 35.0 else 3)
            degree = min(degree, max(0, int(lengths[members].sum()) - len(usable) - 1))
            if degree > 0:
                _, shape = solve_shared(
                    [np.concatenate([samples[k] for k in c]) for c in usable],
                    degree,
                    [np.concatenate([weights[k] for k in c]) for c in usable],
                )
        return [(cluster, shape) for cluster in clusters]

    def _boundary(
        self,
        members: list[int],
        shape: np.ndarray,
        samples: list[np.ndarray],
        weights: list[np.ndarray],
        extents: list[tuple[float, float]],
        spans: list[tuple[float, float]],
        yellow: list[int] | None,
        plane: ExtractionPlane,
        x_bottom: float,
        extend_to: float,
    ) -> LaneBoundary | None:
        """The line of the tracklets ``members``: fitted, typed, coloured; not drawn yet (no image points)."""
        settings = self.settings
        xy = np.concatenate([samples[k] for k in members])
        weight = np.concatenate([weights[k] for k in members])
        if len(xy) < settings.min_samples:
            return None
        # a short stretch of paint says little about curvature: the shorter, the more it follows the road
        own_span = max(extents[k][1] for k in members) - min(extents[k][0] for k in members)
        prior = settings.shape_prior * (1.0 + (settings.shape_span_m / max(own_span, 1.0)) ** 2)
        normalised = fit_line(xy, weight, shape, prior, settings.heading_prior)
        coefficients = to_metric_coefficients(normalised)
        residuals = xy[:, 1] - polyval(xy[:, 0], coefficients)
        rms = math.sqrt(float((residuals**2 * weight).sum() / weight.sum()))  # np.average
        covered = intervals_union([spans[k] for k in members])
        x_near, x_far = covered[0][0], covered[-1][1]
        span = x_far - x_near
        covered_length = sum(b - a for a, b in covered)
        if covered_length < settings.min_painted_m:
            return None
        if 0.0 < settings.max_paint_start_m < x_near or span < settings.min_paint_span_m:
            return None
        far = 0.0 < settings.far_paint_start_m < x_near
        if plane.metric and far and span < settings.far_paint_min_span_m:
            return None
        window = settings.type_window_m
        typed = clipped_intervals(covered, x_near + window) if window > 0 else covered  # starts at x_near
        gaps = [b0 - a1 for (_, a1), (b0, _) in pairwise(typed)]
        long_gaps = [g for g in gaps if g >= settings.min_gap_m]
        coverage = sum(b - a for a, b in typed) / max(typed[-1][1] - x_near, 1e-6)
        if self._is_double(members, samples, extents, residuals):
            line_type = DOUBLE
        elif long_gaps and coverage < settings.dashed_max_coverage:
            line_type = DASHED
        elif span >= settings.type_min_span_m:
            line_type = SOLID
        else:
            line_type = UNKNOWN
        color = self._color(yellow, members, samples)
        confidence = min(max(min(1.0, covered_length / 6.0) * float(np.exp(-rms / 0.15)), 0.0), 1.0)

        # drawn from the bottom image row, but never extrapolated nearer by more than the painted span
        start = max(min(x_bottom, x_near), x_near - max(settings.min_extrapolation_m, span), 0.3)
        x_range = (start, max(x_far, extend_to, start + 0.1))
        far_paint = x_far if settings.run_on_straight and x_range[1] > x_far else None
        near_paint = x_near if settings.near_straight and start < x_near else None
        if far_paint is not None or near_paint is not None:
            coefficients = straight_past(
                coefficients, start, x_range[1], near_paint=near_paint, far_paint=far_paint
            )
        # drawn by the caller, all boundaries of the frame at once (render_curves)
        return LaneBoundary(
            id=0,
            position="",
            position_index=0,
            line_type=line_type,
            color=color,
            confidence=confidence,
            metric=plane.metric,
            coefficients=coefficients,
            valid_range=x_range,
            image_points=np.zeros((0, 2), np.float32),
            ground_points=None,
            plane_coefficients=coefficients,
            plane_range=x_range,
            painted_range=(x_near, x_far),
        )

    def _is_double(
        self,
        members: list[int],
        samples: list[np.ndarray],
        extents: list[tuple[float, float]],
        residuals: np.ndarray,
    ) -> bool:
        """Two tracklets side by side (overlapping along the road) a paint-gap apart.

        ``residuals``: the members' samples' lateral distances from the line's fit, member after member.
        """
        settings = self.settings
        if len(members) < 2:
            return False
        info = []  # (x_min, x_max, first sample, end) of the members with three samples or more
        start = 0
        for k in members:
            count = len(samples[k])
            if count >= 3:
                info.append((*extents[k], start, start + count))
            start += count
        medians: dict[int, float] = {}  # median residual of a member, computed when first needed

        def median(i: int) -> float:
            if i not in medians:
                medians[i] = sorted_median(residuals[info[i][2] : info[i][3]])
            return medians[i]

        for i in range(len(info)):
            for j in range(i + 1, len(info)):
                lo = max(info[i][0], info[j][0])
                hi = min(info[i][1], info[j][1])
                shorter = min(info[i][1] - info[i][0], info[j][1] - info[j][0])
                if hi - lo > DOUBLE_MIN_OVERLAP * max(shorter, 1e-6) and (
                    settings.double_min_sep_m <= abs(median(i) - median(j)) <= settings.double_max_sep_m
                ):
                    return True
        return False

    def _yellow_samples(
        self, image_bgr: np.ndarray | None, pixels: list[tuple[np.ndarray, np.ndarray]]
    ) -> list[int] | None:
        """Per tracklet, how many of its samples lie on yellow paint in the image (None without an image).

        One colour conversion for all tracklets of the frame (one per boundary cost more than the fits).
        """
        if image_bgr is None or not pixels:
            return None
        u = np.concatenate([p[0] for p in pixels])
        v = np.concatenate([p[1] for p in pixels])
        height, width = image_bgr.shape[:2]
        cols = np.clip(np.round(u).astype(np.int64), 0, width - 1)
        rows_ = np.clip(np.round(v).astype(np.int64), 0, height - 1)
        bgr = image_bgr[rows_, cols].reshape(-1, 1, 3)
        hsv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2HSV).reshape(-1, 3)
        low, high = self.settings.yellow_hue
        yellow = (hsv[:, 0] >= low) & (hsv[:, 0] <= high) & (hsv[:, 1] >= self.settings.yellow_min_saturation)
        owner = np.repeat(np.arange(len(pixels)), [len(p[0]) for p in pixels])
        return [int(c) for c in np.bincount(owner, yellow, len(pixels)).tolist()]

    def _color(self, yellow: list[int] | None, members: list[int], samples: list[np.ndarray]) -> str:
        if yellow is None:
            return "unknown"
        share = sum(yellow[k] for k in members) / sum(len(samples[k]) for k in members)
        return YELLOW if share >= self.settings.yellow_min_share else WHITE

    def _markings(
        self, mask: np.ndarray, paint: np.ndarray | None, plane: ExtractionPlane, scale: tuple[float, float]
    ) -> list[RoadMarking]:
        """Stop lines (transverse lane paint) and crosswalks (stripes of the crosswalk class joined).

        ``paint`` is None when there is no stop line to look for.
        """
        settings = self.settings
        to_frame = np.array(scale)
        found: list[RoadMarking] = []
        candidates = []
        components = (
            []
            if paint is None
            else wide_components(
                transverse_paint(paint, plane, to_frame, settings.transverse_width_m, settings.max_hole_px)
            )
        )
        for x0, y0, w, h, component in components:
            ys, xs = np.nonzero(component)
            if len(xs) < 10:
                continue
            pixels = (np.column_stack([xs + x0, ys + y0])[:: max(1, len(xs) // 400)] + 0.5) * to_frame - 0.5
            candidates.append((x0, y0, w, h, pixels))
        if candidates:  # one mapping call for all candidates' pixels
            mapped = plane.to_plane(np.concatenate([c[4] for c in candidates]))
            cuts = np.cumsum([len(c[4]) for c in candidates])[:-1]
            for (x0, y0, w, h, _), ground in zip(candidates, np.split(mapped, cuts), strict=True):
                ground = ground[np.isfinite(ground).all(axis=1)]
                if len(ground) < 3:
                    continue
                along = float(ground[:, 0].max() - ground[:, 0].min())
                across = float(ground[:, 1].max() - ground[:, 1].min())
                near = float(ground[:, 0].min())
                if (
                    across >= settings.stop_line_min_length_m
                    and along <= settings.stop_line_max_depth_m
                    and near < settings.max_range_m  # near the horizon a few pixels span metres
                ):
                    outline = (
                        np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float64)
                        * to_frame
                    )
                    found.append(self._marking(STOP_LINE, outline, plane, near))
        if self.crosswalk_id is not None:
            found.extend(self._crosswalks(mask, plane, to_frame))
        found.sort(key=lambda m: m.distance)
        if settings.junction_corridor_m > 0 and found:
            width = mask.shape[1] * to_frame[0]
            for marking in found:
                marking.on_path = reaches_axis(marking, plane, width, settings.junction_corridor_m)
            if not settings.off_path_stop_lines:
                found = [m for m in found if m.on_path or m.kind != STOP_LINE]
        for index, marking in enumerate(found):
            marking.id = index
        return found

    def _marking(
        self, kind: str, outline: np.ndarray, plane: ExtractionPlane, distance: float
    ) -> RoadMarking:
        ground = None
        in_plane = plane.to_plane(outline)
        if plane.metric:
            ground = in_plane.astype(np.float32)
        far = float(np.nanmax(in_plane[:, 0])) if np.isfinite(in_plane[:, 0]).any() else distance
        return RoadMarking(kind, 0, outline.astype(np.float32), ground, distance, far)

    def _crosswalks(
        self, mask: np.ndarray, plane: ExtractionPlane, to_frame: np.ndarray
    ) -> list[RoadMarking]:
        binary = (mask == self.crosswalk_id).view(np.uint8)
        if not cv2.countNonZero(binary):
            return []
        count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        boxes = []
        for label in range(1, count):
            x0, y0, w, h, area = stats[label]
            if area < 10:
                continue
            corners = (
                np.array([[x0, y0 + h], [x0 + w, y0 + h], [x0 + w, y0], [x0, y0]], np.float64) * to_frame
            )
            ground = plane.to_plane(corners)
            if not np.isfinite(ground).all():
                continue
            boxes.append((corners, ground))
        groups: list[list[int]] = []
        for index, (_, ground) in enumerate(boxes):
            lo, hi = ground.min(axis=0), ground.max(axis=0)
            for group in groups:
                g_lo = np.min([boxes[k][1].min(axis=0) for k in group], axis=0)
                g_hi = np.max([boxes[k][1].max(axis=0) for k in group], axis=0)
                gap = np.maximum(np.maximum(lo - g_hi, g_lo - hi), 0.0)
                if float(np.max(gap)) <= self.settings.crosswalk_join_m:
                    group.append(index)
                    break
            else:
                groups.append([index])
        found = []
        for group in groups:
            corners = np.concatenate([boxes[k][0] for k in group]).astype(np.float32)
            hull = cv2.convexHull(corners).reshape(-1, 2)
            distance = float(np.min([boxes[k][1][:, 0].min() for k in group]))
            found.append(self._marking(CROSSWALK, hull, plane, distance))
        return found
