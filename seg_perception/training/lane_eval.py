"""Lane-boundary evaluation on synthetic held-out drives (``seg-perception eval --lanes``).

Each drive is rendered frame by frame; a model (or the ground-truth mask, ``oracle``) gives
the lane mask, :class:`~seg_perception.postprocess.lanes.LaneExtractor` and
:class:`~seg_perception.postprocess.lane_tracking.LaneTracker` turn it into boundaries, and
the boundaries (not the paint pixels) are scored against the generator's exact lane lines:

- **TuSimple** accuracy, FP and FN of the boundaries' image polylines, ego-left/right and
  left-1/right-1 (rows every 1/72 of the height from the horizon down, the benchmark's 20 px
  at 1280 px width scaled to the frame);
- **id persistence**: for each of the four nearest true lines (two per side), the share of the
  frames it is visible in where the boundary matched to it (mean lateral distance < ``match_m``)
  carries the line's usual id (a line's stretch across a junction is another painted line, with
  an id of its own: the bar is about dash gaps, not junctions);
- **lateral error at 10 m**: ``|y_pred(10) - y_true(10)|`` of the ego-left and ego-right
  boundaries with the generator's true camera (calibrated runs only).

The true lines run from the bottom image row to the farthest paint in the labelled range
(dash gaps included, as TuSimple annotates), ending at the first junction ahead (at a junction:
the lines across it, from their first paint).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seg_perception.config import ScenarioConfig, load_scenario
from seg_perception.data.lanes import (
    above_hood,
    inside_frame,
    marked_in_frame,
    scene_tusimple_label,
    stretches_to_label,
    to_frame_edges,
)
from seg_perception.data.synthetic.front import (
    FrontWorld,
    _dash_intervals,
    _intervals_minus,
    sample_front_world,
)
from seg_perception.data.synthetic.scenes import DRIVE_FPS, DRIVE_SPEED, generate_drive
from seg_perception.inference.exposure import ExposureSettings, exposure_settings, normalise_exposure
from seg_perception.metrics.lanes import (
    BENCHMARK_LANES_PER_SIDE,
    TUSIMPLE_CONTEXT_FRAMES,
    tusimple_min_rows,
    tusimple_rows,
)
from seg_perception.postprocess.camera_model import CameraModel, GroundMapper
from seg_perception.postprocess.lane_tracking import LaneTracker, TrackerSettings
from seg_perception.postprocess.lanes import (
    DASHED,
    DOUBLE,
    EGO_LEFT,
    EGO_RIGHT,
    SOLID,
    LaneBoundary,
    LaneExtractor,
    LaneResult,
    LaneSettings,
)

if TYPE_CHECKING:
    from seg_perception.metrics.lanes import PaintCoverage, TuSimpleMetrics

Predictor = Callable[[np.ndarray], np.ndarray]
LATERAL_AT_M = 10.0
LATERAL_TARGET_M = 0.10
NEAR_STRETCH_M = 5.0  # a true line's offset at the car is extrapolated from this much of its nearest paint
TUSIMPLE_ROWS = 72  # h_samples per image height (TuSimple: every 10 px of 720)
OVERLAY_EVERY = 10  # frames of a drive between two overlay pictures
TYPED_STYLES = (SOLID, DASHED, DOUBLE)  # the generator's line styles the extractor also names
_TRUTH_BGR = (255, 255, 0)  # the scored true lines in overlay pictures
WORN_FADE = 0.5  # a line painted at under this share of its strength counts as worn in the drive's scene


@dataclass
class TrueLane:
    """One painted line of the drive at one frame."""

    index: int
    ground: np.ndarray  # (K, 2) x forward, y left (metres)
    image: np.ndarray  # (K, 2) pixels inside the frame
    style: str = ""  # the generator's: solid, dashed, double or dots ("": not known)

    def lateral_at(self, x: float) -> float:
        if not self.ground[0, 0] <= x <= self.ground[-1, 0]:
            return float("nan")
        return float(np.interp(x, self.ground[:, 0], self.ground[:, 1]))

    def lateral_at_vehicle(self) -> float:
        """The line's offset at the car (x = 0), straight on from its nearest few metres: the side of
        the car it is on as the package names positions (``assign_positions``), also while the car
        crosses it in a lane change."""
        near = self.ground[self.ground[:, 0] <= self.ground[0, 0] + NEAR_STRETCH_M]
        if len(near) < 2 or near[-1, 0] - near[0, 0] < 1e-6:
            return float(self.ground[0, 1])
        _slope, offset = np.polyfit(near[:, 0], near[:, 1], 1)
        return float(offset)


def lanes_of_sample(lanes: list[Any], size: tuple[int, int], hood: Any = None) -> list[TrueLane]:
    """The generator's per-lane truth (``SceneSample.lanes``: ground ``(x right, y forward)``) as
    :class:`TrueLane` in the vehicle frame (x forward, y left), image points inside the frame.

    A line with no visible stretch in the frame (under a snow bank, or behind a vehicle all the
    way) is left out, as the generator's TuSimple labels leave it out
    (:func:`seg_perception.data.lanes.scene_lane_polylines`): no one can label what the frame
    does not show. A line seen anywhere keeps its whole course, through what hides it.

    The generator cuts a line where a junction interrupts its paint; like :func:`true_lanes`,
    only its stretch up to the first junction ahead is scored (when the car is at the junction:
    the stretch across it), so one line is never two true lanes of the frame.

    With ``hood`` (the sample's ``meta["hood_edge_px"]``: ``(K, 2)`` pixels), a line starts at the
    hood's edge: what the car itself covers is no lane in the frame, as the labels hold it.
    """
    height, width = size
    found = []
    if hood is not None:
        edge = np.asarray(hood, dtype=np.float64).reshape(-1, 2)
        lanes = [above_hood(lane, edge) for lane in lanes]
    for index in stretches_to_label(lanes, size):
        lane = lanes[index]
        if not marked_in_frame(lane, size):
            continue
        ground = np.asarray(lane.ground, dtype=np.float64).reshape(-1, 2)
        image = np.asarray(lane.image, dtype=np.float64).reshape(-1, 2)
        inside = inside_frame(image, size)
        vehicle = np.column_stack([ground[:, 1], -ground[:, 0]])
        order = np.argsort(vehicle[:, 0])
        in_frame = to_frame_edges(image, inside, width, height)[1]
        found.append(TrueLane(int(lane.lane_id), vehicle[order], in_frame, str(lane.style)))
    return found


def true_lanes(world: FrontWorld, time_s: float, *, samples: int = 80) -> list[TrueLane]:
    """The lane lines with paint in the labelled range, as ground and image polylines."""
    world = world.at_time(time_s)
    cam = world.camera
    travelled = world.speed * time_s
    lateral = world.ego_lateral_m(time_s)
    lo, hi = travelled + world.s_near, travelled + world.marking_range
    near = max(cam.near_ground_m, 0.5)
    lanes = []
    for index, line in enumerate(world.lines):
        if line.style == "dashed":
            intervals = _dash_intervals(lo, hi, line.dash, line.gap, line.phase)
        else:
            intervals = [(lo, hi)]
        intervals = _intervals_minus(intervals, world.gaps)
        if not intervals:
            continue
        start = near
        junctions = sorted((g0, g1) for g0, g1 in world.gaps if g1 > travelled + near)
        if junctions:  # a junction ends the line; at the junction, the line across it counts
            g0, g1 = junctions[0]
            if g0 - travelled > near + 1.0:
                intervals = [(a, b) for a, b in intervals if b <= g0]
            else:
                beyond_end = junctions[1][0] if len(junctions) > 1 else np.inf
                intervals = [(a, b) for a, b in intervals if a >= g1 and b <= beyond_end]
                start = max(near, min((a for a, _ in intervals), default=near) - travelled)
        if not intervals:
            continue
        far = max(b for _, b in intervals) - travelled
        if far <= start + 1.0:
            continue
        s = np.geomspace(start, far, samples)
        world_x = world.centre_x(s) + line.t - lateral
        image = cam.project(world_x, s)
        inside = (
            (image[:, 0] >= 0)
            & (image[:, 0] <= cam.width - 1)
            & (image[:, 1] >= 0)
            & (image[:, 1] <= cam.height - 1)
        )
        if inside.sum() < 3:
            continue
        ground = np.column_stack([s, -world_x])
        lanes.append(
            TrueLane(index, *to_frame_edges(image, inside, cam.width, cam.height, ground), line.style)
        )
    return lanes


def junctions_before(world: FrontWorld, s: float) -> int:
    """How many of the world's junctions end before road position ``s`` (metres along the drive):
    which painted stretch of a line begins there (a line's stretches are cut at junctions, so a
    stretch begins past a junction's end)."""
    return sum(1 for _, end in world.gaps if end < s)


def drive_world(
    scenario: ScenarioConfig,
    seed: int,
    num_frames: int,
    size: tuple[int, int],
    fps: float,
    *,
    lane_change_p: float = 0.0,
) -> FrontWorld:
    """The world :func:`generate_drive` renders for these arguments (same random stream)."""
    rng = np.random.default_rng([int(seed), size[0], size[1]])
    scene = scenario.synthetic_scene
    speed = DRIVE_SPEED[scene]
    duration = max(num_frames - 1, 0) / fps
    return sample_front_world(
        rng, size, urban=scene == "urban", duration_s=duration, speed=speed, lane_change_p=lane_change_p
    )


@dataclass
class LaneScores:
    """Accumulated lane metrics over drives."""

    tusimple: TuSimpleMetrics
    kept_frames: int = 0
    detected_frames: int = 0
    visible_frames: int = 0
    lateral_errors: list[float] | None = None
    ego_missing: int = 0
    ego_expected: int = 0
    # (true style, published type) of every matched boundary whose line has a type the extractor
    # names (Botts' dots have none of their own)
    types: Counter[tuple[str, str]] = field(default_factory=Counter)
    # matched boundaries whose position (ego_left, left_1, ...) is the true line's, of all matched
    positions_right: int = 0
    positions_matched: int = 0
    # the lane class's coverage of the scored true lines, or None
    paint: PaintCoverage | None = None
    # the same boundaries against the generator's own TuSimple labels (``generate --tusimple``), or None
    labelled: TuSimpleMetrics | None = None

    def summary(self) -> dict[str, Any]:
        errors = np.asarray(self.lateral_errors or [], dtype=np.float64)
        result: dict[str, Any] = {f"tusimple_{k}": v for k, v in self.tusimple.summary().items()}
        if self.labelled is not None and self.labelled.frames:
            result.update({f"labels_tusimple_{k}": v for k, v in self.labelled.summary().items()})
        if self.paint is not None and self.paint.frames:
            paint = self.paint.summary()
            result["paint_point_recall"] = paint["point_recall"]
            result["paint_pixel_precision"] = paint["pixel_precision"]
        if self.visible_frames:  # ids and the ego lane are scored in metres only (a calibrated camera)
            result["id_persistence"] = self.kept_frames / self.visible_frames
            result["id_persistence_when_detected"] = self.kept_frames / max(self.detected_frames, 1)
            result["line_detected"] = self.detected_frames / self.visible_frames
            result["id_visible_frames"] = self.visible_frames
        if errors.size:
            result["lateral_error_10m_mean"] = float(errors.mean())
            result["lateral_error_10m_p95"] = float(np.percentile(errors, 95))
            result["lateral_error_10m_within_target"] = float(np.mean(errors <= LATERAL_TARGET_M))
        if self.ego_expected:
            result["ego_boundary_missing"] = self.ego_missing / self.ego_expected
        typed = sum(self.types.values())
        if typed:
            result["line_type_accuracy"] = (
                sum(n for (true, found), n in self.types.items() if true == found) / typed
            )
            result["line_type_pairs"] = typed
            result["line_types"] = {f"{true}->{found}": n for (true, found), n in sorted(self.types.items())}
        if self.positions_matched:
            result["position_accuracy"] = self.positions_right / self.positions_matched
            result["position_pairs"] = self.positions_matched
        return result


def _mean_lateral(boundary_xy: np.ndarray, lane: TrueLane) -> float:
    """Mean lateral distance between a boundary's ground polyline and a true lane where both exist."""
    near = max(boundary_xy[0, 0], lane.ground[0, 0])
    far = min(boundary_xy[-1, 0], lane.ground[-1, 0], 30.0)
    if far <= near:
        return float("inf")
    xs = np.linspace(near, far, 8)
    return float(
        np.mean(
            np.abs(
                np.interp(xs, boundary_xy[:, 0], boundary_xy[:, 1])
                - np.interp(xs, lane.ground[:, 0], lane.ground[:, 1])
            )
        )
    )


def _matched_in_metres(
    scored: list[TrueLane], result: LaneResult, match_m: float
) -> list[tuple[TrueLane, LaneBoundary | None]]:
    """Each scored true line with the boundary nearest it in metres (None: none within ``match_m``)."""
    pairs: list[tuple[TrueLane, LaneBoundary | None]] = []
    for lane in scored:
        distance, nearest = min(
            (
                (_mean_lateral(b.ground_points, lane), b)
                for b in result.boundaries
                if b.ground_points is not None
            ),
            default=(float("inf"), None),
            key=lambda pair: pair[0],
        )
        pairs.append((lane, nearest if distance < match_m else None))
    return pairs


def _score_metric_matches(
    scores: LaneScores, matches: list[tuple[TrueLane, LaneBoundary | None]], positions: dict[int, int]
) -> None:
    """Line types and positions (``position_index`` against the true line's) of the matched boundaries."""
    for lane, matched in matches:
        if matched is None:
            continue
        if lane.style in TYPED_STYLES:
            scores.types[(lane.style, matched.line_type)] += 1
        scores.positions_matched += 1
        scores.positions_right += int(matched.position_index == positions[lane.index])


def _score_ids(scores: LaneScores, ids: dict[tuple[int, int], list[int | None]]) -> float | None:
    """Add one drive's id persistence to ``scores`` and return it.

    ``ids``: per true line (and stretch between junctions), the id of its matched boundary in each
    frame it was visible (None: unmatched). A frame keeps the id when it is the line's usual one.
    """
    kept = visible = 0
    for seen in ids.values():
        present = [i for i in seen if i is not None]
        usual = Counter(present).most_common(1)[0][0] if present else None
        visible += len(seen)
        scores.detected_frames += len(present)
        kept += sum(1 for i in seen if i is not None and i == usual)
    scores.visible_frames += visible
    scores.kept_frames += kept
    return kept / visible if visible else None


@dataclass
class _DriveScoring:
    """What one drive's frames are scored with: its lane stage and TuSimple's rows for its camera."""

    world: FrontWorld
    scene: dict[str, Any]
    extractor: LaneExtractor
    h_samples: np.ndarray
    min_rows: int  # a true line crossing fewer of ``h_samples`` is not scored


@dataclass
class _DriveRun:
    """The settings :func:`evaluate_lane_drives` scores every drive with."""

    config: ScenarioConfig
    predict: Predictor | None
    frames: int
    size: tuple[int, int]
    fps: float
    calibrated: bool
    lane_settings: LaneSettings
    tracking: TrackerSettings
    match_m: float
    on_frame: Callable[[int, int, np.ndarray, LaneResult], None] | None
    overlays: Path | None
    overlay_every: int
    lane_change_p: float
    exposure: ExposureSettings  # frames brought into the trained range first, as the node's pipeline does

    def _setup(self, seed: int, meta: dict[str, Any]) -> _DriveScoring:
        """The drive's world, scene and lane stage on the true camera, as the generator reports it."""
        height = self.size[0]
        camera = CameraModel.from_generator_meta(meta["camera_model"], self.size)
        world = drive_world(
            self.config, seed, self.frames, self.size, self.fps, lane_change_p=self.lane_change_p
        )
        mapper = GroundMapper.from_camera(camera) if self.calibrated else None
        extractor = LaneExtractor(
            self.config.classes.names, self.lane_settings, mapper=mapper, mapper_size=self.size
        )
        # rows from the horizon down (rows above it, empty in both, would count as correct)
        top = int(np.clip(np.ceil(camera.horizon_v()), 0, height - 1))
        step = max(1, round(height / TUSIMPLE_ROWS))
        h_samples = np.arange(height - 1, top, -step, dtype=np.float64)[::-1]
        return _DriveScoring(
            world, drive_scene(meta, world), extractor, h_samples, tusimple_min_rows(len(h_samples))
        )

    def score(self, drive: int, seed: int, scores: LaneScores) -> dict[str, Any]:
        """Score drive ``seed`` into ``scores``; its own scores (and scene) for ``per_drive``."""
        import cv2

        height, width = self.size
        tracker = LaneTracker(self.tracking)
        ids: dict[tuple[int, int], list[int | None]] = {}
        first_frame = len(scores.tusimple.frames)
        drive_scoring: _DriveScoring | None = None
        for frame, sample in enumerate(
            _frames(self.config, seed, self.frames, self.size, self.fps, self.lane_change_p)
        ):
            if drive_scoring is None:
                drive_scoring = self._setup(seed, sample.meta)
            world, extractor, h_samples = (
                drive_scoring.world,
                drive_scoring.extractor,
                drive_scoring.h_samples,
            )
            image = normalise_exposure(sample.image, self.exposure)
            mask = sample.mask if self.predict is None else self.predict(image)
            result = tracker.update(tracker.detect(extractor, mask, image, self.size))
            if self.on_frame is not None:
                self.on_frame(drive, frame, sample.image, result)
            if getattr(sample, "lanes", None):
                truth = lanes_of_sample(sample.lanes, self.size, sample.meta.get("hood_edge_px"))
            else:  # a generator without per-lane truth: computed from its world
                truth = true_lanes(world, sample.meta["time_s"])
            # a line too short for TuSimple's line accuracy is no lane a benchmark labels (nor scores)
            truth = [lane for lane in truth if tusimple_rows(lane.image, h_samples) >= drive_scoring.min_rows]
            # TuSimple labels the ego lane's boundaries and the next one out on each side
            left, right = lanes_by_side(truth)
            scored = nearest_lanes(left, right, BENCHMARK_LANES_PER_SIDE)
            full = (
                mask
                if mask.shape[:2] == self.size
                else cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
            )
            if scores.paint is not None:
                scores.paint.update(full == extractor.lane_id, [lane.image for lane in scored], h_samples)
            published = [b for b in result.boundaries if abs(b.position_index) <= BENCHMARK_LANES_PER_SIDE]
            frame_scores = scores.tusimple.update(
                [b.image_points for b in published],
                [lane.image for lane in scored],
                h_samples,
                image_width=width,
            )
            if scores.labelled is not None and getattr(sample, "lanes", None):
                label = scene_tusimple_label(sample, "", lanes_per_side=BENCHMARK_LANES_PER_SIDE)
                scores.labelled.update(
                    [b.image_points for b in published], label.polylines(), label.h_samples, image_width=width
                )
            if self.overlays is not None and frame % max(self.overlay_every, 1) == 0:
                save_lane_overlay(
                    self.overlays / f"drive{seed}_{frame:03d}.png",
                    sample.image,
                    result,
                    [t.image for t in scored],
                )
            if not self.calibrated:  # line types of the lines matched in the image, as TuSimple matches them
                for true_index, found_index in frame_scores.pairs:
                    if scored[true_index].style in TYPED_STYLES:
                        scores.types[(scored[true_index].style, published[found_index].line_type)] += 1
                continue
            travelled = world.speed * float(sample.meta["time_s"])
            matches = _matched_in_metres(scored, result, self.match_m)
            for lane, matched in matches:
                stretch = junctions_before(world, travelled + lane.ground[0, 0])
                ids.setdefault((lane.index, stretch), []).append(None if matched is None else matched.id)
            _score_metric_matches(scores, matches, true_positions(left, right))
            _score_ego(scores, left, right, result)
        id_persistence = _score_ids(scores, ids)
        frames_of_drive = scores.tusimple.frames[first_frame:]
        return {
            "seed": seed,
            **(drive_scoring.scene if drive_scoring is not None else {}),
            "tusimple_accuracy": float(np.mean([f.accuracy for f in frames_of_drive])),
            "tusimple_fp": float(np.mean([f.fp for f in frames_of_drive])),
            "tusimple_fn": float(np.mean([f.fn for f in frames_of_drive])),
            "id_persistence": id_persistence,
        }


def evaluate_lane_drives(
    scenario: str | ScenarioConfig,
    *,
    predict: Predictor | None,
    drives: int,
    frames: int,
    seed_start: int,
    size: tuple[int, int],
    calibrated: bool = True,
    fps: float = DRIVE_FPS,
    settings: LaneSettings | None = None,
    match_m: float = 0.5,
    on_frame: Callable[[int, int, np.ndarray, LaneResult], None] | None = None,
    overlays: Path | None = None,
    overlay_every: int = OVERLAY_EVERY,
    lane_change_p: float = 0.0,
) -> dict[str, Any]:
    """Score lane boundaries on ``drives`` synthetic drives of ``frames`` frames.

    The summary holds TuSimple accuracy / FP / FN, id persistence, the lateral error at 10 m, line
    types, positions (``position_accuracy``: matched boundaries numbered as their true lines), and
    the mask's own coverage of the scored true lines (``paint_point_recall``,
    ``paint_pixel_precision``: :class:`~seg_perception.metrics.lanes.PaintCoverage`). Each frame
    passes the scenario's ``exposure`` block first, as in the node's pipeline.

    Args:
        scenario: Front scenario (``highway`` or ``road``) name or config.
        predict: ``image -> mask``, at the model's output size as the node's lane stage reads it
            (``load_predictor(..., model_size=True)``) or at the image's; None scores the true
            masks (oracle: the post-processing alone).
        calibrated: Use the generator's true camera (metres) or image space.
        on_frame: Called with ``(drive, frame, image, tracked result)``.
        overlays: Folder for pictures of every ``overlay_every``-th frame of each drive
            (``drive<seed>_<frame>.png``): the tracked boundaries (``draw_lanes``) and the
            scored true lines (thin cyan).
        lane_change_p: Share of drives in which the car moves into the next lane (the
            generator's ``lane_change_p``; 0: every seed's drive as it was).
    """
    from seg_perception.metrics.lanes import PaintCoverage, TuSimpleMetrics

    config = scenario if isinstance(scenario, ScenarioConfig) else load_scenario(scenario)
    lane_settings, tracking = scenario_lane_settings(config, settings)
    run = _DriveRun(
        config=config,
        predict=predict,
        frames=frames,
        size=size,
        fps=fps,
        calibrated=calibrated,
        lane_settings=lane_settings,
        tracking=tracking,
        match_m=match_m,
        on_frame=on_frame,
        overlays=overlays,
        overlay_every=overlay_every,
        lane_change_p=lane_change_p,
        exposure=scenario_exposure(config),
    )
    scores = LaneScores(
        TuSimpleMetrics(), lateral_errors=[], paint=PaintCoverage(), labelled=TuSimpleMetrics()
    )
    per_drive = [run.score(drive, seed_start + drive, scores) for drive in range(drives)]
    summary = scores.summary()
    summary["per_drive"] = per_drive
    summary["by_scene"] = scene_breakdown(per_drive)
    summary.update(
        {
            "scenario": config.name,
            "drives": drives,
            "frames_per_drive": frames,
            "seeds": f"{seed_start}..{seed_start + drives - 1}",
            "calibrated": calibrated,
            "source": "oracle (true masks)" if predict is None else "model",
        }
    )
    return summary


def save_lane_overlay(path: Path, image: np.ndarray, result: LaneResult, truth: list[np.ndarray]) -> None:
    """Write ``image`` with ``result``'s boundaries and, over them, the true lines (thin cyan).

    Raises:
        ConfigError: the picture cannot be written.
    """
    import cv2

    from seg_perception.errors import ConfigError
    from seg_perception.postprocess.visualize import draw_lanes

    picture = draw_lanes(image.copy(), result)
    for line in truth:  # 1 px over the wider boundaries: both stay visible where they agree
        points = np.asarray(line, np.float64).reshape(-1, 2)
        if len(points) >= 2:
            cv2.polylines(picture, [np.round(points).astype(np.int32)], False, _TRUTH_BGR, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), picture):
        raise ConfigError(f"cannot write overlay {path}")


def drive_scene(meta: dict[str, Any], world: FrontWorld | None = None) -> dict[str, Any]:
    """What a drive's first frame says about its scene: the generator's conditions (time of day,
    weather, motion blur, JPEG quality, ...), the camera's horizontal field of view and height and
    the world's line styles (``dots``: Botts' dots) and worn lines (paint at under half its
    strength), so that a per-drive score can be read against the conditions that made it."""
    scene: dict[str, Any] = dict(meta.get("conditions") or {})
    if world is not None:
        scene["line_styles"] = sorted({line.style for line in world.lines})
        scene["worn_lines"] = sum(1 for line in world.lines if line.fade < WORN_FADE)
    camera = meta.get("camera_model") or {}
    if camera.get("focal_px") and camera.get("width"):
        scene["hfov_deg"] = round(
            float(np.degrees(2.0 * np.arctan(camera["width"] / 2.0 / camera["focal_px"]))), 1
        )
    if camera.get("mount_height_m") is not None:
        scene["camera_height_m"] = round(float(camera["mount_height_m"]), 2)
    if meta.get("lane_change"):
        scene["lane_change"] = True
    return scene


def _has(key: str, value: object = None) -> Callable[[dict[str, Any]], bool]:
    """Whether a drive's scene has ``key`` (any true value), or ``key`` equal to ``value``."""
    if value is None:
        return lambda drive: bool(drive.get(key))
    return lambda drive: drive.get(key) == value


#: The scene facets a lane summary breaks its drives down by: a name and whether a drive has it.
SCENE_FACETS: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    ("day", _has("time", "day")),
    ("dusk", _has("time", "dusk")),
    ("night", _has("time", "night")),
    ("clear", _has("weather", "clear")),
    ("overcast", _has("weather", "overcast")),
    ("rain", _has("weather", "rain")),
    ("snow", _has("weather", "snow")),
    ("low sun", _has("low_sun")),
    ("wet road", _has("wet")),
    ("worn lines", _has("worn_lines")),
    ("Botts' dots", lambda drive: "dots" in (drive.get("line_styles") or ())),
    ("lane change", _has("lane_change")),
)


def scene_breakdown(per_drive: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Mean TuSimple accuracy, FP and FN of the drives of each scene facet (``SCENE_FACETS``) that any
    drive has, so that a total can be traced to the conditions that cost it."""
    groups: dict[str, dict[str, float | int]] = {}
    for name, has in SCENE_FACETS:
        drives = [d for d in per_drive if has(d)]
        if drives:
            groups[name] = {
                "drives": len(drives),
                **{
                    key: float(np.mean([d[f"tusimple_{key}"] for d in drives]))
                    for key in ("accuracy", "fp", "fn")
                },
            }
    return groups


def _describe_scene(drive: dict[str, Any]) -> str:
    parts = [str(drive[key]) for key in ("time", "weather") if key in drive]
    parts += [key.replace("_", " ") for key in ("low_sun", "headlights", "lane_change") if drive.get(key)]
    if drive.get("wet"):
        parts.append(f"wet {drive['wet']}")
    if drive.get("motion_blur_px"):
        parts.append(f"motion blur {drive['motion_blur_px']} px")
    if drive.get("jpeg_quality"):
        parts.append(f"JPEG {drive['jpeg_quality']}")
    if drive.get("line_styles"):
        parts.append("lines " + "/".join(drive["line_styles"]))
    if drive.get("worn_lines"):
        parts.append(f"{drive['worn_lines']} worn")
    if "hfov_deg" in drive:
        parts.append(f"FOV {drive['hfov_deg']:.0f} deg")
    if "camera_height_m" in drive:
        parts.append(f"camera {drive['camera_height_m']} m")
    return ", ".join(parts)


def scenario_exposure(config: ScenarioConfig) -> ExposureSettings:
    """The ``exposure`` block the node's pipeline would use for the scenario's front camera.

    Raises:
        ConfigError: an unknown key or a bad value in the block.
    """
    from seg_perception.errors import ConfigError

    try:
        return exposure_settings(config.params, config.camera(config.primary_camera))
    except ValueError as err:
        raise ConfigError(f"scenario {config.name!r}: {err}") from err


def scenario_lane_settings(
    config: ScenarioConfig, settings: LaneSettings | None = None
) -> tuple[LaneSettings, TrackerSettings]:
    """The lane settings and tracking the node would use for this scenario (its ``lanes`` block).

    ``settings``, when given, replace the block's extraction settings; the lane / crosswalk
    classes always come from the scenario's roles.

    Raises:
        ConfigError: an unknown key or a bad value in the block (as the node reports it).
    """
    from seg_perception.inference.pipeline import lane_settings_and_tracking

    block = dict(config.params.get("lanes") or {})
    return lane_settings_and_tracking(config, block, asdict(settings) if settings else None)


def lanes_by_side(truth: list[TrueLane]) -> tuple[list[TrueLane], list[TrueLane]]:
    """True lanes left and right of the vehicle, nearest first (by their lateral offset at the car)."""
    at_origin = [(lane.lateral_at_vehicle(), lane) for lane in truth]
    left = sorted((item for item in at_origin if item[0] >= 0), key=lambda item: item[0])
    right = sorted((item for item in at_origin if item[0] < 0), key=lambda item: -item[0])
    return [lane for _, lane in left], [lane for _, lane in right]


def nearest_lanes(left: list[TrueLane], right: list[TrueLane], per_side: int) -> list[TrueLane]:
    """The ``per_side`` lines nearest the vehicle on each side (:func:`lanes_by_side`'s lists)."""
    return left[:per_side] + right[:per_side]


def true_positions(left: list[TrueLane], right: list[TrueLane]) -> dict[int, int]:
    """Each true line's position index as :class:`LaneBoundary` numbers them (+1 ego-left, +2
    left-1, ..., -1 ego-right, ...), by line index, from the lines either side (:func:`lanes_by_side`)."""
    return {lane.index: rank + 1 for rank, lane in enumerate(left)} | {
        lane.index: -(rank + 1) for rank, lane in enumerate(right)
    }


def _score_ego(scores: LaneScores, left: list[TrueLane], right: list[TrueLane], result: LaneResult) -> None:
    """Lateral error at 10 m of the ego boundaries against the true lines either side of the vehicle
    (:func:`lanes_by_side`)."""
    for position, side in ((EGO_LEFT, left), (EGO_RIGHT, right)):
        if not side:
            continue
        lane = side[0]
        expected = lane.lateral_at(LATERAL_AT_M)
        if not np.isfinite(expected):
            continue
        scores.ego_expected += 1
        boundary = result.boundary_at(position)
        if boundary is None or not (boundary.plane_range[0] <= LATERAL_AT_M <= boundary.plane_range[1] + 5.0):
            scores.ego_missing += 1
            continue
        assert scores.lateral_errors is not None
        scores.lateral_errors.append(abs(float(boundary.lateral_at(LATERAL_AT_M)) - expected))


def _frames(
    config: ScenarioConfig,
    seed: int,
    frames: int,
    size: tuple[int, int],
    fps: float,
    lane_change_p: float = 0.0,
) -> Iterator[Any]:
    return generate_drive(config, seed, frames, size=size, fps=fps, lane_change_p=lane_change_p)


def format_lane_summary(summary: dict[str, Any]) -> str:
    """A few aligned lines for the terminal."""
    space = "true camera, metres" if summary["calibrated"] else "image space"
    lines = [
        f"lane boundaries ({summary['source']}, {space}), "
        f"{summary['scenario']} drives {summary['seeds']} x {summary['frames_per_drive']} frames:",
        f"  TuSimple accuracy {summary['tusimple_accuracy']:.4f}  FP {summary['tusimple_fp']:.4f}  "
        f"FN {summary['tusimple_fn']:.4f}  ({summary['tusimple_frames']} frames)",
    ]
    if "labels_tusimple_accuracy" in summary:
        lines.append(
            f"  against the generator's TuSimple labels (a line ends at the last paint in sight): accuracy "
            f"{summary['labels_tusimple_accuracy']:.4f}  FP {summary['labels_tusimple_fp']:.4f}  "
            f"FN {summary['labels_tusimple_fn']:.4f}"
        )
    if "paint_point_recall" in summary:
        lines.append(
            f"  paint: {100 * summary['paint_point_recall']:.1f} % of the scored lines' points have lane "
            f"paint within the threshold; {100 * summary['paint_pixel_precision']:.1f} % of the paint lies "
            "on a scored line"
        )
    if "id_persistence" in summary:
        lines.append(
            f"  id persistence {summary['id_persistence']:.4f} "
            f"over {summary['id_visible_frames']} line-frames "
            f"(lines detected in {100 * summary['line_detected']:.1f} %; "
            f"same id in {100 * summary['id_persistence_when_detected']:.1f} % of those)"
        )
        if "lateral_error_10m_mean" in summary:
            lines.append(
                f"  lateral error at 10 m: mean {summary['lateral_error_10m_mean']:.3f} m, "
                f"p95 {summary['lateral_error_10m_p95']:.3f} m, "
                f"{100 * summary['lateral_error_10m_within_target']:.1f} % <= {LATERAL_TARGET_M} m; "
                f"ego boundary missing in {100 * summary['ego_boundary_missing']:.1f} % of frames"
            )
    if "position_accuracy" in summary:
        lines.append(
            f"  position right in {100 * summary['position_accuracy']:.1f} % of "
            f"{summary['position_pairs']} matched line-frames (ego_left, ego_right, left_1, right_1)"
        )
    if "line_type_accuracy" in summary:
        lines.append(
            f"  line type right in {100 * summary['line_type_accuracy']:.1f} % of "
            f"{summary['line_type_pairs']} matched line-frames (solid, dashed, double)"
        )
    if summary.get("by_scene"):
        lines.append(
            "  by scene (drives: accuracy / FP / FN): "
            + "; ".join(
                f"{name} {g['drives']}: {g['accuracy']:.3f} / {g['fp']:.3f} / {g['fn']:.3f}"
                for name, g in summary["by_scene"].items()
            )
        )
    for drive in summary.get("per_drive", []):
        persistence = drive.get("id_persistence")
        kept = f"  id {persistence:.3f}" if summary["calibrated"] and persistence is not None else ""
        lines.append(
            f"    seed {drive['seed']}: TuSimple {drive['tusimple_accuracy']:.3f} / "
            f"{drive['tusimple_fp']:.3f} / {drive['tusimple_fn']:.3f}{kept}  ({_describe_scene(drive)})"
        )
    return "\n".join(lines)


def clip_frames_before(path: Path, count: int, labelled: Collection[Path] = ()) -> list[Path]:
    """The frames a TuSimple clip holds before its labelled one, oldest first.

    A TuSimple clip is a folder of frames named by their number (``1.jpg`` ... ``20.jpg``), the
    last one labelled. These are the files beside ``path`` numbered just below it, one by one
    (the same suffix and zero-padding), up to ``count`` of them; the run stops at a missing
    number or at a frame in ``labelled``: a folder of labelled frames numbered in a row is a set
    of stills, not a clip. None when ``path``'s name is no frame number.
    """
    if count <= 0 or not path.stem.isdigit():
        return []
    number = int(path.stem)
    width = len(path.stem) if path.stem.startswith("0") else 1  # zero-padded names keep their width
    earlier: list[Path] = []
    for previous in range(number - 1, max(number - 1 - count, -1), -1):
        frame = path.with_name(f"{previous:0{width}d}{path.suffix}")
        if not frame.is_file() or frame in labelled:
            break
        earlier.append(frame)
    return earlier[::-1]


def _read_image(path: Path) -> np.ndarray:
    import cv2

    from seg_perception.errors import ConfigError

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ConfigError(f"cannot read image {path}")
    return image


@dataclass
class _DatasetScorer:
    """Lane boundaries of labelled frames, one at a time, as :func:`evaluate_lane_dataset` scores them."""

    predict: Predictor
    class_names: list[str]
    settings: LaneSettings | None
    tracking: TrackerSettings | None
    overlays: Path | None
    lanes_per_side: int
    coverage: PaintCoverage
    exposure: ExposureSettings  # frames brought into the trained range first, as the node's pipeline does

    def __post_init__(self) -> None:
        self.extractor = LaneExtractor(self.class_names, self.settings)

    def _tracked(self, image: np.ndarray, mask: np.ndarray, context: list[Path]) -> tuple[LaneResult, float]:
        """The labelled frame's boundaries after tracking through ``context``, as the node runs, and
        the seconds its own step took."""
        tracker = LaneTracker(self.tracking or TrackerSettings())
        clip_extractor = LaneExtractor(self.class_names, self.settings)
        for path in context:
            frame = normalise_exposure(_read_image(path), self.exposure)
            tracker.update(tracker.detect(clip_extractor, self.predict(frame), frame, frame.shape[:2]))
        start = time.perf_counter()
        result = tracker.update(tracker.detect(clip_extractor, mask, image, image.shape[:2]))
        return result, time.perf_counter() - start

    def boundaries(
        self,
        image: np.ndarray,
        index: int,
        name: str,
        truth: list[np.ndarray],
        h_samples: list[float] | None = None,
        context: list[Path] | None = None,
    ) -> tuple[list[np.ndarray], float]:
        """The frame's scored boundaries and the milliseconds the model and the lane stage took on it.

        ``h_samples``: the labelled rows, where the lane class's coverage of ``truth`` is counted
        (None: not counted); ``context``: earlier frames of its clip to track through.
        """
        import cv2

        shown = image
        start = time.perf_counter()
        image = normalise_exposure(image, self.exposure)
        mask = self.predict(image)
        model_s = time.perf_counter() - start
        if h_samples is not None:
            height, width = image.shape[:2]
            full = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
            self.coverage.update(full == self.extractor.lane_id, truth, h_samples)
        if context:
            result, lanes_s = self._tracked(image, mask, context)
        else:
            start = time.perf_counter()
            result = self.extractor.extract(mask, image, frame_size=image.shape[:2])
            lanes_s = time.perf_counter() - start
        if self.overlays is not None:
            save_lane_overlay(self.overlays / f"{index:05d}_{Path(name).stem}.png", shown, result, truth)
        scored = [
            b.image_points
            for b in result.boundaries
            if self.lanes_per_side <= 0 or abs(b.position_index) <= self.lanes_per_side
        ]
        return scored, (model_s + lanes_s) * 1e3


def _score_tusimple(
    scorer: _DatasetScorer,
    tusimple: Path,
    root: Path,
    *,
    count: int | None,
    clip_frames: int,
    predictions: Path | None,
) -> dict[str, Any]:
    from seg_perception.data.lanes import TuSimpleLabel, read_tusimple_labels, write_tusimple_labels
    from seg_perception.metrics.lanes import TuSimpleMetrics

    metrics = TuSimpleMetrics()
    per_frame = []
    submission: list[TuSimpleLabel] = []
    labels = read_tusimple_labels(tusimple)
    labelled = {root / label.raw_file for label in labels}
    for index, label in enumerate(labels[:count]):
        image = _read_image(root / label.raw_file)
        truth = label.polylines()
        context = clip_frames_before(root / label.raw_file, clip_frames, labelled)
        predicted, run_ms = scorer.boundaries(
            image, index, label.raw_file, truth, list(label.h_samples), context
        )
        metrics.update(predicted, truth, label.h_samples, image_width=image.shape[1])
        if predictions is not None:
            submission.append(
                TuSimpleLabel.from_polylines(
                    label.raw_file, predicted, label.h_samples, run_time=round(run_ms, 1)
                )
            )
        scores = {k: v for k, v in asdict(metrics.frames[-1]).items() if k != "pairs"}  # list indices
        per_frame.append(
            {
                "raw_file": label.raw_file,
                **scores,
                "clip_frames": len(context),
                "paint": asdict(scorer.coverage.frames[-1]),
            }
        )
    if predictions is not None:
        predictions.parent.mkdir(parents=True, exist_ok=True)
        write_tusimple_labels(predictions, submission)
    return {
        "dataset": f"TuSimple {tusimple}",
        "lanes_per_side": scorer.lanes_per_side,
        "tracked_frames": sum(1 for frame in per_frame if frame["clip_frames"]),
        "tusimple": metrics.summary(),
        "paint": scorer.coverage.summary(),
        "per_frame": per_frame,
    }


def _score_culane(
    scorer: _DatasetScorer,
    culane_root: Path,
    culane_list: str | None,
    *,
    count: int | None,
    predictions: Path | None,
) -> dict[str, Any]:
    from seg_perception.data.lanes import CULaneDataset, write_culane_lines
    from seg_perception.metrics.lanes import CULaneMetrics

    dataset = CULaneDataset(culane_root, list_file=culane_list)
    culane = CULaneMetrics()
    for index, path in enumerate(dataset.images[:count]):
        image = _read_image(path)
        truth = dataset.lanes(index)
        # CULane labels a point every few rows: the rows of its points play TuSimple's h_samples
        rows = sorted({float(round(y)) for lane in truth for y in np.asarray(lane).reshape(-1, 2)[:, 1]})
        predicted, _ = scorer.boundaries(image, index, path.name, truth, rows or None)
        culane.update(predicted, truth, image.shape[:2])
        if predictions is not None:  # the layout CULane's own evaluator reads: the image's path, .lines.txt
            target = predictions / path.relative_to(culane_root).with_suffix(".lines.txt")
            target.parent.mkdir(parents=True, exist_ok=True)
            write_culane_lines(target, predicted)
    return {
        "dataset": f"CULane {culane_root}",
        "lanes_per_side": scorer.lanes_per_side,
        "culane": culane.summary(),
        "paint": scorer.coverage.summary(),
    }


def evaluate_lane_dataset(
    predict: Predictor,
    class_names: list[str],
    *,
    tusimple: Path | None = None,
    tusimple_root: Path | None = None,
    culane_root: Path | None = None,
    culane_list: str | None = None,
    count: int | None = None,
    settings: LaneSettings | None = None,
    tracking: TrackerSettings | None = None,
    overlays: Path | None = None,
    lanes_per_side: int = BENCHMARK_LANES_PER_SIDE,
    clip_frames: int = TUSIMPLE_CONTEXT_FRAMES,
    predictions: Path | None = None,
    exposure: ExposureSettings | None = None,
) -> dict[str, Any]:
    """TuSimple accuracy / FP / FN or CULane F1 of the lane boundaries on a labelled dataset.

    Frames are uncalibrated: boundaries are image-space curves from the lane mask, scored as
    polylines by :mod:`seg_perception.metrics.lanes`. A TuSimple frame whose clip holds the
    frames before it (:func:`clip_frames_before`) is scored as the node sees it on video: the
    boundaries tracked through those frames up to the labelled one (``tracking``); any other
    frame is scored alone. CULane frames (a second apart) are always scored alone.

    Args:
        predict: ``image -> mask``, at the model's output size as the node's lane stage reads it
            (``load_predictor(..., model_size=True)``) or at the image's.
        tusimple: A TuSimple label file (JSON lines); images under ``tusimple_root`` (default:
            the label file's folder).
        culane_root: A CULane root; ``culane_list`` a list file in it (None: every
            ``*.lines.txt``).
        count: Evaluate at most this many frames.
        settings: The extraction settings (default: :class:`LaneSettings`' own).
        tracking: The tracking settings for clips (default: :class:`TrackerSettings`' own).
        clip_frames: Track through at most this many frames before each labelled TuSimple
            frame (default: the 10 before it); 0 scores every frame alone.
        predictions: Where to write the scored boundaries in the benchmark's own form, for its
            official evaluator: TuSimple's submission file (JSON lines of ``raw_file``, ``lanes``,
            ``h_samples`` and ``run_time``, the milliseconds the model and the lane stage took on
            the frame) or, for CULane, a folder of ``<image path>.lines.txt``.
        overlays: Folder for a picture of every frame (``<index>_<image name>.png``): its
            boundaries and its labelled lines (thin cyan).
        lanes_per_side: Score only this many boundaries on each side of the car (ego-left,
            left-1, ...; 0: every boundary). The default is the benchmarks' own convention
            (:data:`~seg_perception.metrics.lanes.BENCHMARK_LANES_PER_SIDE`: TuSimple and CULane
            label the ego lane's lines and the next one out on each side, and TuSimple zeroes a
            frame with more than two lanes beyond its labels). Labels that mark every visible
            line, as the project's real stills do (``labels/real_front``), are scored with 0.
        exposure: Frames brought into the model's trained exposure and colour range first, as the
            node's pipeline does (the scenario's ``exposure`` block: :func:`scenario_exposure`);
            None: frames as they are.

    Returns:
        ``dataset``, ``lanes_per_side``, the metrics' summary (``tusimple`` or ``culane``),
        ``paint`` (the lane class's coverage of the labelled lines, :class:`PaintCoverage`; CULane
        frames without labelled lines are left out) and, for TuSimple, ``tracked_frames`` (how
        many were scored after their clip's earlier frames) and ``per_frame``: each frame's
        ``raw_file``, accuracy, FP, FN, lane counts, ``clip_frames`` (the earlier frames tracked
        through) and paint counts, to find the frames a change wins or loses.
    """
    from seg_perception.errors import ConfigError
    from seg_perception.metrics.lanes import PaintCoverage

    if lanes_per_side < 0:
        raise ConfigError(f"lanes_per_side must be 0 (every boundary) or more, got {lanes_per_side}")
    if clip_frames < 0:
        raise ConfigError(f"clip_frames must be 0 (frames alone) or more, got {clip_frames}")
    scorer = _DatasetScorer(
        predict,
        class_names,
        settings,
        tracking,
        overlays,
        lanes_per_side,
        PaintCoverage(),
        exposure or ExposureSettings(),
    )
    if tusimple is not None:
        root = tusimple_root or tusimple.parent
        return _score_tusimple(
            scorer, tusimple, root, count=count, clip_frames=clip_frames, predictions=predictions
        )
    if culane_root is None:
        raise ConfigError("give a TuSimple label file or a CULane root")
    return _score_culane(scorer, culane_root, culane_list, count=count, predictions=predictions)
