"""Lane boundaries over time: stable ids, smoothing, coasting through missed frames.

Each frame's boundaries (from :class:`~seg_perception.postprocess.lanes.LaneExtractor`) are
matched to the tracks by their mean lateral distance over the stretch of road both cover
(nearest pairs first, up to ``match_distance_m``). A matched track blends in the new curve
(exponential smoothing of the polynomial coefficients and range; with ``min_weight_share`` a detection
less confident than the track, from less paint or a worse fit, moves it less; with ``extrapolation_scale_m``
the curves are blended distance by distance, each weighing less where it runs nearer than its paint);
an unmatched detection starts a track with a new id (output once seen in ``min_hits`` frames, or at once
in a stream's first frame, so one-frame blobs never get an id); a track without a detection is kept,
unchanged, for up to ``max_missed`` frames (with ``coast_per_hit`` set, no more than that many per frame it
was seen in) with its confidence decaying (``missed_frames`` says how long), so
a line that drops out for a frame or two (a dash gap with no dash in range, an occluding
car) keeps its id. Positions (ego-left, right-1, ...) and the ego lane are recomputed from
the tracked curves every frame, so they are renumbered as soon as a boundary crosses
under the vehicle during a lane change, while the ids stay with the lines.

The vehicle's own motion comes from no odometry: at lane-keeping rates a boundary moves a few
centimetres per frame, well inside the matching distance. With ``ego_motion_min_lines``, every track is
first moved across by the shift the frame's matched lines share (the car's own sideways motion, a lane
change's 5 cm a frame), so smoothing does not drag the boundaries behind the car's motion (boundaries in
metres only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from seg_perception.postprocess.lanes import (
    UNKNOWN,
    LaneBoundary,
    LaneExtractor,
    LaneResult,
    assign_positions,
    ego_lane,
    fit_polynomial,
    geometric_samples,
    polyval_at,
    render_curves,
    within_farthest_position,
)
from seg_perception.postprocess.settings import settings_values

# share of the frame's height: two hood edges this close (median over the columns) are one hood
HOOD_SAME_PLACE = 0.02
# distances at which a track and its detection are blended when their curves weigh by distance
BLEND_SAMPLES = 64


@dataclass(frozen=True)
class TrackerSettings:
    """Tracking thresholds (the ``tracking`` entries of a scenario's ``lanes`` block)."""

    match_distance_m: float = 0.9
    max_missed: int = 6
    # coasting is earned (0: off): a track coasts at most this many frames per frame it was seen
    # in (and never past max_missed), so a boundary seen twice does not live on for max_missed more
    coast_per_hit: float = 0.0
    min_hits: int = 2  # frames a new boundary must be seen in before it is output (but at a stream's start)
    smoothing: float = 0.6  # weight of the new detection
    # a detection less confident than its track (less paint, a worse fit) moves it less: its weight is
    # smoothing x their confidence ratio, but no less than this share of smoothing (1: always smoothing)
    min_weight_share: float = 1.0
    confidence_decay: float = 0.7
    vote_decay: float = 0.9
    # a hood found at the same place in this many frames in a row is held (the extractor's hood_hint)
    # through frames that miss it, until lane paint shows below its edge (0: off)
    hood_hold_frames: int = 0
    # Nearer than its paint a detection is an extrapolation (a dash gap before the car): there its weight
    # in the blend falls by exp(-metres short of its paint / this) against the track's, whose own paint
    # reached nearer in earlier frames (0: the coefficients blended as a whole, whatever the paint)
    extrapolation_scale_m: float = 0.0
    # how far the track's nearest paint moves ahead per frame without new paint there: old evidence
    # of the road just ahead of the car ages as the car drives over it
    support_drift_m: float = 0.5
    # with at least this many lines matched in a frame, every track is first moved across by the median
    # of their lateral shifts (the car's own sideways motion: a lane change), then blended (0: off).
    # Boundaries in metres only: in image space the plane moves with each frame's horizon estimate, and
    # the shift the lines share is that estimate's jitter as much as the car's motion
    ego_motion_min_lines: int = 0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> TrackerSettings:
        """From a ``tracking`` block: values converted to the fields' types, none negative.

        Raises:
            ValueError: an unknown key, a value of the wrong kind or a negative one.
        """
        converted = settings_values(cls(), values, "tracking settings")
        negative = sorted(key for key, value in converted.items() if value < 0)
        if negative:
            raise ValueError(f"tracking settings {negative} must not be negative")
        if converted.get("min_weight_share", 1.0) > 1.0:
            raise ValueError("tracking setting min_weight_share is a share of smoothing: at most 1")
        return cls(**converted)


@dataclass
class _Track:
    boundary: LaneBoundary
    hits: int = 1
    missed: int = 0
    from_start: bool = False  # seen in the stream's first frame: output at once
    types: Counter[str] = field(default_factory=Counter)
    colors: Counter[str] = field(default_factory=Counter)
    # the nearest distance its curve is backed by paint (seen now, or aged from earlier frames)
    support: float = field(init=False)

    def __post_init__(self) -> None:
        self.support = self.boundary.paint_range[0]


_GRID_M = np.array([2.0, 4.0, 6.0, 9.0, 12.0, 16.0, 20.0, 25.0, 30.0, 40.0, 50.0, 65.0, 80.0])


def _lateral_table(boundaries: list[LaneBoundary]) -> np.ndarray:
    """(N, grid) lateral offsets of the boundaries on the grid (Horner's rule on all rows at once)."""
    coefficients = [b.plane_coefficients for b in boundaries]
    if len({len(c) for c in coefficients}) != 1:
        return np.array([b.lateral_at(_GRID_M) for b in boundaries]).reshape(len(boundaries), len(_GRID_M))
    table = np.asarray(coefficients, dtype=np.float64)
    result = np.repeat(table[:, -1:], len(_GRID_M), axis=1)
    for j in range(table.shape[1] - 2, -1, -1):
        result = result * _GRID_M + table[:, j : j + 1]
    return result


def _lateral_differences(
    tracks: list[LaneBoundary], detections: list[LaneBoundary]
) -> tuple[np.ndarray, np.ndarray]:
    """(T, D) mean lateral distances over the stretch of road both boundaries cover up to their paint,
    and (T, D) mean detection-minus-track offsets there (positive when the detection lies further left).

    Sampled on a fixed grid of distances; pairs with no grid point in common are compared where
    the later one starts.
    """

    def table(boundaries: list[LaneBoundary]) -> tuple[np.ndarray, np.ndarray]:
        lateral = _lateral_table(boundaries)
        near = np.array([b.plane_range[0] for b in boundaries]).reshape(-1, 1)
        far = np.array([b.paint_range[1] for b in boundaries]).reshape(-1, 1)
        return lateral, (_GRID_M >= near) & (_GRID_M <= far)

    if not tracks or not detections:
        empty = np.zeros((len(tracks), len(detections)))
        return empty, empty.copy()
    track_lateral, track_valid = table(tracks)
    detection_lateral, detection_valid = table(detections)
    both = track_valid[:, None, :] & detection_valid[None, :, :]
    difference = detection_lateral[None, :, :] - track_lateral[:, None, :]
    count = both.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        distances = np.where(count > 0, (np.abs(difference) * both).sum(axis=2) / count, np.nan)
        shifts = np.where(count > 0, (difference * both).sum(axis=2) / count, np.nan)
    for t_index, d_index in zip(*np.nonzero(count == 0), strict=True):
        a, b = tracks[t_index], detections[d_index]
        x = max(a.plane_range[0], b.plane_range[0])
        shifts[t_index, d_index] = float(b.lateral_at(x)) - float(a.lateral_at(x))
        distances[t_index, d_index] = abs(shifts[t_index, d_index])
    return distances, shifts


class LaneTracker:
    """Stateful: feed it every frame of one camera in order; :meth:`reset` between streams."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: list[_Track] = []
        self._next_id = 0
        self.vanishing_point: tuple[float, float] | None = None
        # the last frame's boundaries were across a junction (the extractor's junction_hint)
        self.across_junction = False
        self._hood_found: np.ndarray | None = None  # the last hood edge found
        self._hood_streak = 0  # frames in a row it was found at the same place (held frames keep it)

    def reset(self) -> None:
        self._tracks = []
        self.vanishing_point = None
        self.across_junction = False
        self._hood_found, self._hood_streak = None, 0

    def detect(
        self,
        extractor: LaneExtractor,
        mask: np.ndarray,
        image_bgr: np.ndarray | None,
        frame_size: tuple[int, int],
    ) -> LaneResult:
        """``extractor`` on the next frame of this stream, told what the frames before found: the
        horizon, whether the boundaries ran across a junction, and a held hood (its hints)."""
        return extractor.extract(
            mask,
            image_bgr,
            vanishing_hint=self.vanishing_point,
            junction_hint=self.across_junction,
            hood_hint=self.hood,
            frame_size=frame_size,
        )

    def update(self, detections: LaneResult) -> LaneResult:
        """Tracked boundaries (stable ids, smoothed, coasting ones included) for this frame."""
        settings = self.settings
        if detections.vanishing_point is not None:  # already smoothed by the extractor (given as its hint)
            self.vanishing_point = detections.vanishing_point
        self.across_junction = detections.across_junction
        self._follow_hood(detections)
        distances, shifts = _lateral_differences([t.boundary for t in self._tracks], detections.boundaries)
        pairs = sorted(
            (float(distances[t, d]), int(t), int(d))
            for t, d in zip(*np.nonzero(distances <= settings.match_distance_m), strict=True)
        )
        matched_tracks: set[int] = set()
        matched_detections: dict[int, int] = {}  # detection -> the track it went to
        for _, t_index, d_index in pairs:
            if t_index in matched_tracks or d_index in matched_detections:
                continue
            matched_tracks.add(t_index)
            matched_detections[d_index] = t_index
        if detections.metric:  # image space: each frame's plane moves with its own horizon estimate
            self._follow_ego_motion(shifts, matched_detections)
        for d_index, t_index in matched_detections.items():
            self._blend(self._tracks[t_index], detections.boundaries[d_index])
        near_a_detection = [bool(v) for v in np.any(distances <= settings.match_distance_m, axis=1)]
        for t_index, track in enumerate(self._tracks):
            if t_index in matched_tracks or not near_a_detection[t_index]:
                continue
            # a duplicate of a line seen now: the line keeps the id it has had the longest
            nearest = min(
                (d for d in matched_detections if distances[t_index, d] <= settings.match_distance_m),
                key=lambda d: float(distances[t_index, d]),
            )
            twin = self._tracks[matched_detections[nearest]]
            if track.hits > twin.hits and self._confirmed(track):
                twin.boundary = replace(twin.boundary, id=track.boundary.id)
                twin.hits = track.hits + 1
        survivors = []
        for t_index, track in enumerate(self._tracks):
            if t_index not in matched_tracks:
                track.missed += 1
                # a boundary seen in fewer than min_hits frames was probably a blob: dropped at once;
                # one whose line is seen now, by another track, is a duplicate (the line was split
                # in two for a while): it does not coast beside it
                if (
                    track.missed > self._coast_limit(track)
                    or not self._confirmed(track)
                    or near_a_detection[t_index]
                ):
                    continue
            survivors.append(track)
        starting = not self._tracks
        for d_index, detection in enumerate(detections.boundaries):
            if d_index not in matched_detections:
                survivors.append(self._new_track(detection, from_start=starting))
        self._tracks = survivors
        return self._result(detections)

    def _follow_ego_motion(self, shifts: np.ndarray, matched: dict[int, int]) -> None:
        """Move every track across by the median shift of the matched lines (``ego_motion_min_lines``).

        Args:
            shifts: (T, D) detection-minus-track lateral offsets (:func:`_lateral_differences`).
            matched: Detection index -> the track it went to.
        """
        if self.settings.ego_motion_min_lines <= 0 or len(matched) < self.settings.ego_motion_min_lines:
            return
        shift = float(np.median([shifts[t_index, d_index] for d_index, t_index in matched.items()]))
        if not np.isfinite(shift) or shift == 0.0:
            return
        for track in self._tracks:
            coefficients = np.array(track.boundary.plane_coefficients, dtype=np.float64)
            coefficients[0] += shift
            track.boundary = replace(track.boundary, plane_coefficients=coefficients)

    def _coast_limit(self, track: _Track) -> float:
        settings = self.settings
        if settings.coast_per_hit <= 0.0:
            return settings.max_missed
        return min(settings.max_missed, settings.coast_per_hit * track.hits)

    def _confirmed(self, track: _Track) -> bool:
        return track.hits >= self.settings.min_hits or track.from_start

    def _new_track(self, detection: LaneBoundary, *, from_start: bool = False) -> _Track:
        track = _Track(replace(detection, id=self._next_id), from_start=from_start)
        self._next_id += 1
        self._vote(track, detection)
        return track

    def _vote(self, track: _Track, detection: LaneBoundary) -> None:
        decay = self.settings.vote_decay
        for counter, value in ((track.types, detection.line_type), (track.colors, detection.color)):
            for key in list(counter):
                counter[key] *= decay  # type: ignore[assignment]
            if value != UNKNOWN:
                counter[value] += 1

    def _weight(self, track: LaneBoundary, detection: LaneBoundary) -> float:
        """The detection's weight in the blend: ``smoothing``, less for one less confident than the track."""
        settings = self.settings
        if settings.min_weight_share >= 1.0 or detection.confidence >= track.confidence:
            return settings.smoothing
        share = detection.confidence / track.confidence
        return settings.smoothing * max(share, settings.min_weight_share)

    def _blend(self, track: _Track, detection: LaneBoundary) -> None:
        old = track.boundary
        w = self._weight(old, detection)
        aged_support = track.support + self.settings.support_drift_m
        coefficients = self._blended_coefficients(old, detection, w, aged_support)
        track.support = min(detection.paint_range[0], aged_support)
        plane_range = (
            detection.plane_range[0],
            w * detection.plane_range[1] + (1 - w) * old.plane_range[1],
        )
        track.boundary = replace(
            detection,
            id=old.id,
            plane_coefficients=coefficients,
            plane_range=plane_range,
            # at the usual rate whatever the weight: a line that really shows less paint now (a run of
            # dash gaps) soon has a track as unsure as its detections, which then weigh fully again
            confidence=self.settings.smoothing * detection.confidence
            + (1 - self.settings.smoothing) * old.confidence,
        )
        track.hits += 1
        track.missed = 0
        self._vote(track, detection)

    def _blended_coefficients(
        self, old: LaneBoundary, detection: LaneBoundary, weight: float, old_support: float
    ) -> np.ndarray:
        """The track's curve after the blend: ``weight`` for the detection where both are backed by
        paint; nearer than either's paint, each weighs less the farther it is extrapolated there."""
        scale = self.settings.extrapolation_scale_m
        degree = len(detection.plane_coefficients) - 1
        new_support = detection.paint_range[0]
        near = min(detection.plane_range[0], old.plane_range[0])
        if scale <= 0.0 or degree != len(old.plane_coefficients) - 1 or max(new_support, old_support) <= near:
            return weight * detection.plane_coefficients + (1 - weight) * old.plane_coefficients
        xs = geometric_samples(near, max(detection.plane_range[1], old.plane_range[1]), BLEND_SAMPLES)
        new_share = weight * np.exp(-np.clip(new_support - xs, 0.0, None) / scale)
        old_share = (1 - weight) * np.exp(-np.clip(old_support - xs, 0.0, None) / scale)
        share = new_share / np.maximum(new_share + old_share, np.finfo(np.float64).tiny)
        lateral = share * detection.lateral_at(xs) + (1 - share) * old.lateral_at(xs)
        return fit_polynomial(xs, lateral, degree)

    def _follow_hood(self, detections: LaneResult) -> None:
        """Hold a hood seen at one place in ``hood_hold_frames`` frames: a car's hood does not come and go."""
        edge = detections.hood_edge
        if edge is None:  # missed, and no hint held (or the road showed below it): let it go
            self._hood_found, self._hood_streak = None, 0
        elif not detections.hood_held:
            found = self._hood_found
            height = detections.frame_size[0]
            same = (
                found is not None
                and found.shape == edge.shape
                and float(np.median(np.abs(found - edge))) <= HOOD_SAME_PLACE * height
            )
            self._hood_found, self._hood_streak = edge, (self._hood_streak + 1 if same else 1)

    @property
    def hood(self) -> np.ndarray | None:
        """The hood edge to hold through frames that miss it (the extractor's ``hood_hint``), or None."""
        held = 0 < self.settings.hood_hold_frames <= self._hood_streak
        return self._hood_found if held else None

    def _result(self, detections: LaneResult) -> LaneResult:
        settings = self.settings
        plane = detections.plane
        size = detections.frame_size
        boundaries: list[LaneBoundary] = []
        shown = [track for track in self._tracks if self._confirmed(track)]
        curves = [(t.boundary.plane_coefficients, t.boundary.plane_range) for t in shown]
        if plane is not None:
            drawn = render_curves(
                plane, curves, size, from_frame_edge=detections.start_at_frame_edge, hood=detections.hood_edge
            )
        else:
            drawn = [None] * len(shown)
        for track, rendered in zip(shown, drawn, strict=True):
            if rendered is None:
                continue
            boundary = track.boundary
            image_points, ground, public, valid = rendered
            boundaries.append(
                replace(
                    boundary,
                    line_type=track.types.most_common(1)[0][0] if track.types else UNKNOWN,
                    color=track.colors.most_common(1)[0][0] if track.colors else boundary.color,
                    confidence=float(boundary.confidence * settings.confidence_decay**track.missed),
                    missed_frames=track.missed,
                    image_points=image_points,
                    ground_points=ground,
                    coefficients=public,
                    valid_range=valid,
                )
            )
        boundaries.sort(key=lambda b: -polyval_at(0.0, b.plane_coefficients))
        assign_positions(boundaries, detections.max_lane_width)
        boundaries = within_farthest_position(boundaries, detections.farthest_position)
        return replace(
            detections,
            boundaries=boundaries,
            ego_lane=ego_lane(boundaries, metric=detections.metric),
        )
