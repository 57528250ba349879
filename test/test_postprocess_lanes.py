"""Lane boundaries from masks drawn through a known camera: grouping, fit, type, positions, tracking."""

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.errors import ConfigError
from seg_perception.postprocess.camera_model import (
    CameraModel,
    GroundMapper,
    Mounting,
    homography_from_correspondences,
)
from seg_perception.postprocess.lane_tracking import LaneTracker, TrackerSettings
from seg_perception.postprocess.lanes import LaneExtractor, LaneSettings, render_curve, render_curves
from seg_perception.postprocess.lanes.junctions import before_junction, wide_components
from seg_perception.postprocess.lanes.paint import GroundSamples, row_runs
from seg_perception.postprocess.vanishing import estimate_vanishing_point, intersect_lines, vanishing_lines

ROOT = Path(__file__).resolve().parents[1]
SIZE = (360, 640)
CLASSES = ["background", "lane_marking", "crosswalk"]
LANE = 1
WHITE, YELLOW = (230, 230, 230), (30, 190, 230)  # BGR
CAMERA = CameraModel(640, 360, 420.0, 420.0, 320.0, 180.0, Mounting(height_m=1.4, pitch_rad=np.deg2rad(3.0)))
MAPPER = GroundMapper.from_camera(CAMERA)


def ground_strip(mapper, y_of_x, x0, x1, width=0.15, steps=12):
    """Image polygon of a painted strip ``y_of_x(x) +- width/2`` for ``x0 <= x <= x1`` metres."""
    xs = np.linspace(x0, x1, steps)
    ys = y_of_x(xs)
    outline = np.concatenate(
        [np.column_stack([xs, ys + width / 2]), np.column_stack([xs[::-1], ys[::-1] - width / 2])]
    )
    return mapper.to_image(outline)


def draw_road(
    lines,
    *,
    curvature=0.0,
    shift=0.0,
    heading=0.0,
    far=45.0,
    near=2.0,
    mapper=MAPPER,
    size=SIZE,
    transverse=None,
):
    """(mask, image) of lane lines ``(offset_m, style, colour, phase_m)`` on a road of the given curvature.

    ``shift`` moves the car to the left (every line's offset decreases); ``heading`` turns the road to the
    left of the car's axis by that slope (a car heading across it); dashes are 3 m with 6 m gaps.
    """
    mask = np.zeros(size, np.uint8)
    image = np.full((*size, 3), 90, np.uint8)
    for offset, style, colour, phase in lines:

        def centre(xs, offset=offset):
            return offset - shift + heading * xs + curvature / 2.0 * xs**2

        if style == "dashed":
            pieces = [(a, a + 3.0) for a in np.arange(near + phase % 9.0 - 9.0, far, 9.0)]
        else:
            pieces = [(near, far)]
        offsets = [-0.12, 0.12] if style == "double" else [0.0]
        for a, b in pieces:
            a, b = max(a, near), min(b, far)
            if b - a < 0.2:
                continue
            for extra in offsets:
                polygon = ground_strip(mapper, lambda xs, c=centre, e=extra: c(xs) + e, a, b)
                if not np.isfinite(polygon).all():
                    continue
                points = np.round(polygon).astype(np.int32)
                cv2.fillPoly(mask, [points], LANE)
                cv2.fillPoly(image, [points], colour)
    if transverse is not None:  # a stop line across the road at this distance
        polygon = mapper.to_image(
            np.array(
                [[transverse, 3.0], [transverse, -3.0], [transverse + 0.4, -3.0], [transverse + 0.4, 3.0]]
            )
        )
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], LANE)
    return mask, image


THREE_LANES = [
    (5.25, "solid", WHITE, 0.0),
    (1.75, "dashed", WHITE, 2.0),
    (-1.75, "dashed", WHITE, 5.0),
    (-5.25, "solid", WHITE, 0.0),
]


def test_homography_from_correspondences_recovers_the_camera():
    truth = CAMERA.image_to_ground_homography()
    ground = np.array([[5.0, 2.0], [5.0, -2.0], [20.0, 3.0], [20.0, -3.0], [40.0, 0.0], [12.0, 1.0]])
    pixels = MAPPER.to_image(ground)
    matrix, rms = homography_from_correspondences(pixels, ground)
    assert rms < 1e-4
    np.testing.assert_allclose(matrix / matrix[2, 2], truth / truth[2, 2], rtol=1e-4, atol=1e-7)
    # w > 0 on the ground in front: the fitted matrix works as a node's ground_homography
    assert (np.column_stack([pixels, np.ones(len(pixels))]) @ matrix[2] > 0).all()


def test_homography_needs_four_spread_pairs():
    ground = np.array([[5.0, 2.0], [5.0, -2.0], [20.0, 3.0]])
    with pytest.raises(ConfigError, match="at least 4"):
        homography_from_correspondences(MAPPER.to_image(ground), ground)
    collinear = np.array([[5.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]])
    with pytest.raises(ConfigError, match="one line"):
        homography_from_correspondences(MAPPER.to_image(collinear), collinear)


def test_camera_model_geometry_and_distortion_round_trip():
    # zero pitch: a point d metres straight ahead is h*f/d below the centre row
    level = CameraModel(640, 360, 400.0, 400.0, 320.0, 180.0, Mounting(height_m=1.5))
    u, v = GroundMapper.from_camera(level).to_image(np.array([[10.0, 0.0], [10.0, 1.0]])).T
    np.testing.assert_allclose([u[0], v[0]], [320.0, 180.0 + 400.0 * 1.5 / 10.0])
    assert u[1] < u[0]  # left of the car is left in the image
    tilted = CameraModel(
        640, 360, 400.0, 410.0, 330.0, 175.0,
        Mounting(height_m=1.3, pitch_rad=0.06, roll_rad=0.02, yaw_rad=-0.03, x_m=1.2, y_m=0.3),
        distortion=(-0.12, 0.03, 0.0, 0.0, 0.0),
    )  # fmt: skip
    mapper = GroundMapper.from_camera(tilted)
    points = np.array([[6.0, 2.0], [15.0, -3.0], [30.0, 0.5]])
    back, valid = mapper.to_ground(mapper.to_image(points))
    assert valid.all()
    np.testing.assert_allclose(back, points, atol=1e-3)
    assert not mapper.to_ground(np.array([[320.0, 0.0]]))[1][0]  # the top row is sky


def test_ground_a_barrel_lens_folds_back_into_the_frame_has_no_pixel():
    """Barrel distortion 1 + k1 r^2 stops growing at r = sqrt(-1 / (3 k1)); ground seen at a larger
    ray radius (near the car, far to the side) would be drawn inside the frame if projected through
    the polynomial. It has no pixel (NaN), while ground inside the field of view round-trips."""
    lens = replace(CAMERA, distortion=(-0.3, 0.0, 0.0, 0.0, 0.0))
    assert lens.monotonic_radius == pytest.approx(np.sqrt(1.0 / 0.9), abs=2e-3)
    assert CAMERA.monotonic_radius == np.inf
    mapper = GroundMapper.from_camera(lens)
    beside = np.array([[2.0, 6.0]])  # 2 m ahead, 6 m to the left: a ray of radius ~3
    straight = GroundMapper.from_camera(CAMERA).to_image(beside)[0]
    assert np.hypot(straight[0] - CAMERA.cx, straight[1] - CAMERA.cy) / CAMERA.fx > lens.monotonic_radius
    assert np.isnan(mapper.to_image(beside)).all()
    seen = np.array([[8.0, 1.5], [20.0, -3.0]])
    back, valid = mapper.to_ground(mapper.to_image(seen))
    assert valid.all()
    np.testing.assert_allclose(back, seen, atol=1e-3)


def test_camera_info_yaml_and_mounting(tmp_path):
    info = tmp_path / "front.yaml"
    info.write_text(
        "image_width: 640\nimage_height: 360\n"
        "camera_matrix: {rows: 3, cols: 3, data: [420, 0, 320, 0, 420, 180, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\ndistortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n"
    )
    camera = CameraModel.from_camera_info_file(
        info, Mounting.from_mapping({"height_m": 1.4, "pitch_deg": 3.0})
    )
    np.testing.assert_allclose(
        camera.image_to_ground_homography(), CAMERA.image_to_ground_homography(), atol=1e-9
    )
    with pytest.raises(ConfigError, match="height_m"):
        Mounting.from_mapping({"pitch_deg": 2.0})


def test_dashes_are_joined_across_gaps_and_placed():
    mask, image = draw_road(THREE_LANES)
    result = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert result.metric
    assert [b.position for b in result.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]
    by_position = {b.position: b for b in result.boundaries}
    for position, offset in (("left_1", 5.25), ("ego_left", 1.75), ("ego_right", -1.75), ("right_1", -5.25)):
        boundary = by_position[position]
        assert abs(float(boundary.lateral_at(10.0)) - offset) < 0.05, position
        assert boundary.plane_range[1] > 35.0  # to the farthest dash, across the gaps
    assert by_position["ego_left"].line_type == "dashed" and by_position["left_1"].line_type == "solid"
    ego = result.ego_lane
    assert ego is not None and abs(ego.width - 3.5) < 0.05 and abs(ego.lateral_offset) < 0.05
    json.dumps(result.to_json())


def test_curved_road_fit_and_ego_lane():
    curvature = 1.0 / 150.0
    mask, image = draw_road(THREE_LANES[1:3], curvature=curvature, shift=0.4)
    result = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in result.boundaries] == ["ego_left", "ego_right"]
    for boundary, offset in zip(result.boundaries, (1.75, -1.75), strict=True):
        for x in (8.0, 20.0, 30.0):
            expected = offset - 0.4 + curvature / 2.0 * x**2
            assert abs(float(boundary.lateral_at(x)) - expected) < 0.08, (boundary.position, x)
    ego = result.ego_lane
    assert abs(ego.lateral_offset - 0.4) < 0.05
    assert abs(ego.curvature - curvature) < 0.25 * curvature


def test_double_yellow_line_and_colour():
    lines = [(1.75, "double", YELLOW, 0.0), (-1.75, "dashed", WHITE, 0.0)]
    mask, image = draw_road(lines, far=30.0)
    result = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    left, right = result.boundary_at("ego_left"), result.boundary_at("ego_right")
    assert len(result.boundaries) == 2
    assert left.line_type == "double" and left.color == "yellow"
    assert abs(float(left.lateral_at(10.0)) - 1.75) < 0.06
    assert right.color == "white"


def test_the_stripe_check_s_flags_stay_with_their_samples_when_a_junction_cuts_the_tracklets():
    # three tracklets: one wholly beyond a stop line at 12-13 m, one before it, one through it; its
    # flags (one per sample: on a bright stripe) must go where their samples go, not stay per index
    xs = [np.linspace(20.0, 25.0, 6), np.linspace(3.0, 10.0, 8), np.linspace(8.0, 18.0, 11)]
    samples = [
        np.column_stack([x, np.full_like(x, lateral)])
        for x, lateral in zip(xs, (0.0, 1.75, -1.75), strict=True)
    ]
    flags = [np.ones(6, bool), np.zeros(8, bool), xs[2] < 12.0]
    ground = GroundSamples(
        samples=samples,
        weights=[np.ones(len(x)) for x in xs],
        spans=[(float(x[0]), float(x[-1])) for x in xs],
        reach=[np.column_stack([x - 0.5, x + 0.5]) for x in xs],
        kept=[(x * 10.0, x * 5.0) for x in xs],
        stripes=flags,
        transverse_found=True,
    )
    before, across = before_junction(ground, [(12.0, 13.0)], x_bottom=2.0, at_junction_m=4.0)
    assert not across and len(before.samples) == 2
    assert before.stripes is not None
    for xy, weight, (u, _), stripe in zip(
        before.samples, before.weights, before.kept, before.stripes, strict=True
    ):
        assert len(xy) == len(weight) == len(u) == len(stripe) and (xy[:, 0] < 12.0).all()
    assert not before.stripes[0].any() and before.stripes[1].all()  # the line before, the one through it
    assert before.spans[1] == (8.0, float(xs[2][xs[2] < 12.0].max()))


def test_stop_line_is_its_own_object():
    mask, image = draw_road(THREE_LANES[1:3], far=14.0, transverse=15.0)
    result = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert [m.kind for m in result.markings] == ["stop_line"]
    assert abs(result.markings[0].distance - 15.0) < 0.5
    assert [b.position for b in result.boundaries] == ["ego_left", "ego_right"]


@pytest.mark.parametrize("calibrated", [True, False])
def test_a_stop_line_touching_the_lines_is_still_a_stop_line(calibrated):
    # the lines run on through the stop line: one paint component with it, as tall as the lines
    mask, image = draw_road([(1.75, "solid", WHITE, 0.0), THREE_LANES[2]], transverse=15.0)
    result = LaneExtractor(CLASSES, mapper=MAPPER if calibrated else None).extract(mask, image)
    assert [m.kind for m in result.markings] == ["stop_line"]
    assert [b.position for b in result.boundaries] == ["ego_left", "ego_right"]
    stop = result.markings[0].distance
    assert all(b.plane_range[1] <= stop + 1e-6 for b in result.boundaries)
    if calibrated:
        assert abs(stop - 15.0) < 0.5


@pytest.mark.parametrize("calibrated", [True, False])
def test_a_speck_of_paint_just_below_the_horizon_is_no_stop_line(calibrated):
    # a few pixels there span metres across the road: wide enough for a stop line, but beyond max_range_m
    mask, image = draw_road(THREE_LANES[1:3])
    horizon = int(np.ceil(CAMERA.horizon_v()))
    for below in (2, 6):
        speck = mask.copy()
        speck[horizon + below, 300:312] = LANE
        result = LaneExtractor(CLASSES, mapper=MAPPER if calibrated else None).extract(speck, image)
        assert result.markings == []


def test_uncalibrated_boundaries_are_image_curves_on_the_paint():
    mask, image = draw_road(THREE_LANES)
    result = LaneExtractor(CLASSES).extract(mask, image)
    assert not result.metric and result.vanishing_point is not None
    assert abs(result.vanishing_point[1] - CAMERA.horizon_v()) < 6.0
    assert [b.position for b in result.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]
    truth = {"ego_left": 1.75, "ego_right": -1.75}
    for position, offset in truth.items():
        boundary = result.boundary_at(position)
        assert boundary.ground_points is None and boundary.line_type == "dashed"
        rows = np.linspace(boundary.valid_range[0], boundary.valid_range[1], 10)
        columns = np.polynomial.polynomial.polyval(rows, boundary.coefficients)
        # each image point lies on the true line: its ground position is `offset` metres across
        ground, _ = MAPPER.to_ground(np.column_stack([columns, rows]))
        assert np.all(np.abs(ground[:, 1] - offset) < 0.12 + 0.01 * ground[:, 0]), position


def test_uncalibrated_boundaries_run_on_only_under_a_found_horizon():
    extractor = LaneExtractor(CLASSES)
    # one line: no vanishing point from the paint, so no guessed horizon is passed on or drawn to
    mask, image = draw_road([(1.75, "solid", WHITE, 0.0)], far=15.0)
    lone = extractor.extract(mask, image)
    assert lone.vanishing_point is None and len(lone.boundaries) == 1
    painted = lone.boundaries[0].paint_range[1]
    assert lone.boundaries[0].plane_range[1] <= painted + 1e-6
    # lines either side give the horizon: the boundaries go on towards it
    mask, image = draw_road(THREE_LANES[1:3], far=15.0)
    both = extractor.extract(mask, image)
    assert both.vanishing_point is not None and abs(both.vanishing_point[1] - CAMERA.horizon_v()) < 6.0
    for boundary in both.boundaries:
        assert boundary.plane_range[1] > 2.0 * boundary.paint_range[1]
        assert boundary.image_points[:, 1].min() < CAMERA.horizon_v() + 15.0


def test_a_crossing_far_from_any_horizon_is_not_taken_for_the_vanishing_point():
    height, width = SIZE
    region = LaneSettings().vanishing_region(SIZE)
    # a lane line and a shadow edge crossing far up and to the right (a tree's shadow on real frames)
    v = np.linspace(200.0, 350.0, 12)
    crossing = (0.8 * width, 0.1 * height)
    line = (crossing[0] - 1.2 * (v - crossing[1]), v)
    shadow = (crossing[0] + 0.3 * (v - crossing[1]), v)
    found = estimate_vanishing_point([line, shadow], SIZE)
    assert found is not None and abs(found[0] - crossing[0]) < 1.0 and abs(found[1] - crossing[1]) < 1.0
    assert estimate_vanishing_point([line, shadow], SIZE, region) is None
    # lines either side of the car that meet near the horizon give it, region or not
    left, right = (320.0 - 1.2 * (v - 150.0), v), (320.0 + 1.2 * (v - 150.0), v)
    centre = estimate_vanishing_point([left, right], SIZE, region)
    assert centre is not None and abs(centre[0] - 320.0) < 1.0 and abs(centre[1] - 150.0) < 1.0


def test_short_paint_fragments_do_not_outvote_the_lines_for_the_vanishing_point():
    horizon = CAMERA.horizon_v()
    mask, image = draw_road([(1.75, "solid", WHITE, 0.0), (-1.75, "solid", WHITE, 0.0)], far=30.0)
    # short strokes (a model's blobs and far fragments), in pairs meeting 35 px above the horizon
    fake = (320.0, horizon - 35.0)
    for k in range(6):
        for sign in (-1, 1):
            slope = sign * (2.0 + 0.3 * k)
            v0 = 185 + 3 * (k % 4)
            ends = [(fake[0] + slope * (v - fake[1]), v) for v in (v0, v0 + 10)]
            cv2.line(mask, *[tuple(int(c) for c in end) for end in ends], LANE, 3)
    found = LaneExtractor(CLASSES).extract(mask, image)
    assert found.vanishing_point is not None and abs(found.vanishing_point[1] - horizon) < 3.0
    every = LaneExtractor(CLASSES, LaneSettings(vanishing_long_span=0.0)).extract(mask, image)
    assert every.vanishing_point is not None and abs(every.vanishing_point[1] - fake[1]) < 12.0
    # only short dashes (none spans 5 % of the height): they still give the horizon
    mask, image = draw_road(
        [(1.75, "dashed", WHITE, 0.0), (-1.75, "dashed", WHITE, 4.0)], near=10.0, far=30.0
    )
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    assert stats[1:, cv2.CC_STAT_HEIGHT].max() < LaneSettings().vanishing_long_span * SIZE[0]
    dashes = LaneExtractor(CLASSES).extract(mask, image)
    assert dashes.vanishing_point is not None and abs(dashes.vanishing_point[1] - horizon) < 3.0


def test_a_shadow_edge_crossing_a_line_far_above_the_horizon_leaves_the_vanishing_point():
    height, _ = SIZE
    mask, image = draw_road(THREE_LANES[1:3], far=15.0)
    rows, columns = np.nonzero(mask == LANE)
    left = columns < SIZE[1] / 2
    slope, intercept = np.polyfit(rows[left], columns[left], 1)
    # a straight shadow edge from the bottom right to where the left line's extension is at 10 % of the height
    crossing = np.array([slope * 0.1 * height + intercept, 0.1 * height])
    start = np.array([crossing[0] + 0.35 * (height - 1 - crossing[1]), height - 1.0])
    end = start + (crossing - start) * (height - 1 - 230.0) / (height - 1 - crossing[1])
    cv2.line(mask, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)), LANE, 6)
    found = LaneExtractor(CLASSES).extract(mask, image)
    assert found.vanishing_point is not None and abs(found.vanishing_point[1] - CAMERA.horizon_v()) < 6.0
    assert len(found.boundaries) >= 2
    # taken anywhere, the crossing would be the vanishing point
    anywhere = LaneSettings(vanishing_max_pitch_deg=89.0, vanishing_max_yaw_deg=89.0)
    fooled = LaneExtractor(CLASSES, anywhere).extract(mask, image)
    assert fooled.vanishing_point is not None and abs(fooled.vanishing_point[1] - crossing[1]) < 6.0


def test_frame_size_scaling_from_a_coarse_mask():
    mask, image = draw_road(THREE_LANES)
    coarse = cv2.resize(mask, (320, 180), interpolation=cv2.INTER_NEAREST)
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    full = extractor.extract(mask, image)
    scaled = extractor.extract(coarse, image, frame_size=SIZE)
    assert [b.position for b in scaled.boundaries] == [b.position for b in full.boundaries]
    for a, b in zip(full.boundaries, scaled.boundaries, strict=True):
        assert abs(float(a.lateral_at(10.0)) - float(b.lateral_at(10.0))) < 0.1  # 2-px blocks


def test_settings_reject_unknown_keys():
    with pytest.raises(ValueError, match="unknown lane settings"):
        LaneSettings.from_mapping({"cluster_gap": 1.0})
    assert LaneSettings.from_mapping({"cluster_gap_m": 1.0, "yellow_hue": [5, 30]}).yellow_hue == (5, 30)


def test_tracking_keeps_ids_through_dash_gaps_and_missed_frames():
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    tracker = LaneTracker()
    ids = []
    for frame in range(30):
        travelled = 0.8 * frame  # the dashes scroll towards the car
        lines = [(1.75, "dashed", WHITE, 2.0 - travelled), (-1.75, "dashed", WHITE, 5.0 - travelled)]
        if frame in (10, 11, 12):  # nothing seen for three frames (glare, an occluding truck)
            lines = []
        mask, image = draw_road(lines, far=20.0)
        result = tracker.update(extractor.extract(mask, image, vanishing_hint=tracker.vanishing_point))
        ids.append({b.position: (b.id, b.missed_frames) for b in result.boundaries})
    left_ids = {entry["ego_left"][0] for entry in ids}
    right_ids = {entry["ego_right"][0] for entry in ids}
    assert len(left_ids) == 1 and len(right_ids) == 1 and left_ids != right_ids
    assert ids[12]["ego_left"][1] == 3 and ids[13]["ego_left"][1] == 0  # coasted, then seen again


def test_tracking_drops_a_boundary_after_max_missed_frames():
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    tracker = LaneTracker()
    mask, image = draw_road(THREE_LANES[1:3])
    tracker.update(extractor.extract(mask, image))
    empty = np.zeros(SIZE, np.uint8)
    counts = [len(tracker.update(extractor.extract(empty, image)).boundaries) for _ in range(8)]
    assert counts[:6] == [2] * 6 and counts[-1] == 0


def test_a_boundary_seen_in_few_frames_coasts_as_many_frames_with_earned_coasting():
    # the ego lines in ten frames, a right_1 line in the last two of them, then nothing: with
    # coast_per_hit 1 the right_1 line coasts two frames, the ego lines the full max_missed (6);
    # without it every boundary coasts max_missed frames
    def boundary_counts(settings):
        extractor = LaneExtractor(CLASSES, mapper=MAPPER)
        tracker = LaneTracker(settings)
        ego = list(THREE_LANES[1:3])
        for lines in [ego] * 8 + [[*ego, (-5.25, "solid", WHITE, 0.0)]] * 2:
            mask, image = draw_road(lines, far=30.0)
            seen = tracker.update(extractor.extract(mask, image))
        assert [b.position for b in seen.boundaries] == ["ego_left", "ego_right", "right_1"]
        empty = np.zeros(SIZE, np.uint8)
        return [len(tracker.update(extractor.extract(empty, image)).boundaries) for _ in range(8)]

    assert boundary_counts(TrackerSettings()) == [3] * 6 + [0] * 2
    assert boundary_counts(TrackerSettings(coast_per_hit=1.0)) == [3] * 2 + [2] * 4 + [0] * 2


def test_a_detection_less_confident_than_its_track_moves_it_less_with_min_weight_share():
    # an ego-left line seen whole for five frames, then 0.5 m to the left: as 3 m of paint 14 m ahead
    # (confidence about half the track's) or whole (as confident as the track). Without
    # min_weight_share both move the track by smoothing (0.6) x 0.5 m; with it the short paint moves
    # it by about half that, the whole line still by smoothing
    def moved(settings, near, far):
        extractor = LaneExtractor(CLASSES, mapper=MAPPER)
        tracker = LaneTracker(settings)
        right = (-1.75, "solid", WHITE, 0.0)
        for _ in range(5):
            mask, image = draw_road([(1.75, "solid", WHITE, 0.0), right], far=30.0)
            before = tracker.update(extractor.extract(mask, image)).boundary_at("ego_left")
        mask, image = draw_road([right], far=30.0)
        mask, image = _painted(mask, image, [(2.25, "solid", WHITE, 0.0)], near=near, far=far)
        after = tracker.update(extractor.extract(mask, image)).boundary_at("ego_left")
        assert before is not None and after is not None and after.id == before.id
        return float(after.lateral_at(10.0)) - float(before.lateral_at(10.0))

    for near, far in ((14.0, 17.0), (2.0, 30.0)):
        assert moved(TrackerSettings(), near, far) == pytest.approx(0.3, abs=0.02)
    assert moved(TrackerSettings(min_weight_share=0.3), 14.0, 17.0) == pytest.approx(0.15, abs=0.03)
    assert moved(TrackerSettings(min_weight_share=0.3), 2.0, 30.0) == pytest.approx(0.3, abs=0.02)


def test_a_detection_extrapolated_towards_the_car_moves_the_near_track_less_with_extrapolation_scale():
    # an ego-left line seen from the car on for five frames (or only from 14 m on), then 0.5 m to the
    # left as paint from 14 to 30 m (a dash gap before the car). Without extrapolation_scale_m the
    # whole track moves by smoothing (0.6) x 0.5 m; with it, where the track's paint reached nearer
    # than the detection's, the near road keeps the track's course and only the painted stretch moves
    def moved(settings, track_near):
        extractor = LaneExtractor(CLASSES, mapper=MAPPER)
        tracker = LaneTracker(settings)
        right = (-1.75, "solid", WHITE, 0.0)
        for _ in range(5):
            mask, image = draw_road([right], far=30.0)
            mask, image = _painted(mask, image, [(1.75, "solid", WHITE, 0.0)], near=track_near, far=30.0)
            before = tracker.update(extractor.extract(mask, image)).boundary_at("ego_left")
        mask, image = draw_road([right], far=30.0)
        mask, image = _painted(mask, image, [(2.25, "solid", WHITE, 0.0)], near=14.0, far=30.0)
        after = tracker.update(extractor.extract(mask, image)).boundary_at("ego_left")
        assert before is not None and after is not None and after.id == before.id
        return [float(after.lateral_at(x)) - float(before.lateral_at(x)) for x in (5.0, 22.0)]

    scaled = TrackerSettings(extrapolation_scale_m=1.0, support_drift_m=0.5)
    assert moved(TrackerSettings(), 0.0) == pytest.approx([0.3, 0.3], abs=0.03)
    near, painted = moved(scaled, 0.0)
    assert abs(near) < 0.05 and painted == pytest.approx(0.3, abs=0.03)
    # a track whose own paint never came nearer than the detection's (and has aged since) keeps no
    # near course of its own: there the detection weighs at least smoothing
    near, painted = moved(scaled, 14.0)
    assert painted == pytest.approx(0.3, abs=0.03) and near >= painted - 0.01


def test_a_line_seen_by_one_track_is_not_also_coasted_by_another():
    # two lines 1 m apart, then one line between them: one boundary, not one plus a coasting twin
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    tracker = LaneTracker()
    mask, image = draw_road([(1.5, "solid", WHITE, 0.0), (2.5, "solid", WHITE, 0.0)], far=30.0)
    assert len(tracker.update(extractor.extract(mask, image)).boundaries) == 2
    mask, image = draw_road([(2.0, "solid", WHITE, 0.0)], far=30.0)
    result = tracker.update(extractor.extract(mask, image))
    assert [(b.position, b.missed_frames) for b in result.boundaries] == [("ego_left", 0)]
    assert abs(float(result.boundaries[0].lateral_at(10.0)) - 2.0) < 0.3


def test_a_line_split_for_a_while_keeps_its_first_id():
    # one line, then split in two for two frames (the new half gets a new track), then one again
    # nearer the new track: the line goes on with the id it had first
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    tracker = LaneTracker()
    frames = [[2.0]] * 5 + [[1.2, 2.4]] * 2 + [[1.6]] * 3
    ids = []
    for offsets in frames:
        mask, image = draw_road([(o, "solid", WHITE, 0.0) for o in offsets], far=30.0)
        result = tracker.update(extractor.extract(mask, image))
        ids.append([b.id for b in result.boundaries])
    assert len(ids[0]) == 1 and len(ids[6]) == 2
    assert ids[-3:] == [ids[0]] * 3


def test_lane_change_renumbers_positions_and_keeps_ids():
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    tracker = LaneTracker()
    lines = [(5.25, "dashed", WHITE, 0.0), (1.75, "dashed", WHITE, 3.0), (-1.75, "solid", WHITE, 0.0)]
    history = []
    for frame in range(41):
        shift = 3.5 * frame / 40.0  # the car moves one lane to the left
        mask, image = draw_road(lines, shift=shift, far=30.0)
        result = tracker.update(extractor.extract(mask, image, vanishing_hint=tracker.vanishing_point))
        history.append(
            {round(float(b.lateral_at(0.0)) + shift, 0): (b.id, b.position) for b in result.boundaries}
        )
    first, last = history[0], history[-1]
    # the crossed line (1.75 m) keeps its id but goes from ego-left to ego-right
    assert first[2.0][1] == "ego_left" and last[2.0][1] == "ego_right"
    assert first[2.0][0] == last[2.0][0]
    assert first[5.0][1] == "left_1" and last[5.0][1] == "ego_left" and first[5.0][0] == last[5.0][0]
    assert first[-2.0][1] == "ego_right" and last[-2.0][1] == "right_1" and first[-2.0][0] == last[-2.0][0]


def test_a_line_the_car_crosses_is_not_taken_for_a_blob():
    """Heading across the road in a lane change, the car sees the line it crosses run from under it
    along one of the camera's rays, keeping one column as a far blob does. The blob test measures a
    tracklet against a line along the road's heading, so that line stays a line (it used to be cut
    to its centre and lost); the solid lines either side are found as before."""
    extractor = LaneExtractor(CLASSES, LaneSettings(blob_shift_ratio=0.5), mapper=MAPPER)
    for heading in (0.03, 0.06, -0.06):
        lines = [(0.1, "solid", WHITE, 0.0), (3.6, "solid", WHITE, 0.0), (-3.4, "dashed", WHITE, 0.0)]
        mask, image = draw_road(lines, heading=heading, far=60.0)
        found = sorted(float(b.lateral_at(0.0)) for b in extractor.extract(mask, image).boundaries)
        np.testing.assert_allclose(found, [-3.4, 0.1, 3.6], atol=0.05)


def test_the_roads_heading_comes_from_long_tracklets_that_agree():
    """``road_slope``: the length-weighted median slope of the long tracklets; short ones (a far dash,
    a blob) do not vote, and paint that fans out (stripes straight up the image are rays on the
    plane) gives no heading, so the blob test falls back to the car's axis."""
    from seg_perception.postprocess.lanes.paint import road_slope

    def tracklets(*lines: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        parts = [
            np.column_stack([x := np.linspace(x0, x1, 12), offset + slope * x])
            for offset, slope, x0, x1 in lines
        ]
        return np.vstack(parts), np.r_[0, np.cumsum([len(p) for p in parts])[:-1]]

    parallel = tracklets(
        (1.8, 0.05, 5.0, 40.0), (-1.7, 0.05, 6.0, 30.0), (5.0, 0.06, 10.0, 25.0), (9.0, -0.6, 30.0, 32.0)
    )
    assert road_slope(*parallel) == pytest.approx(0.05)
    assert road_slope(*tracklets((9.0, -0.6, 30.0, 32.0))) == 0.0  # too short to say
    fanned = tracklets((0.0, 0.3, 5.0, 40.0), (0.0, -0.3, 5.0, 40.0), (0.0, 0.25, 5.0, 30.0))
    assert road_slope(*fanned) == 0.0


def test_tracks_follow_the_cars_sideways_motion_with_ego_motion_min_lines():
    """In a lane change every line moves across by the same few centimetres a frame. Smoothing alone
    leaves the tracks trailing behind; moved first by the shift the matched lines share, they stay on
    their lines, and a line seen alone (fewer than ego_motion_min_lines) or in image space is blended
    as before."""
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    lines = [(5.25, "solid", WHITE, 0.0), (1.75, "solid", WHITE, 0.0), (-1.75, "solid", WHITE, 0.0)]

    def lag(settings: TrackerSettings, drawn: list) -> np.ndarray:
        """How far each track trails its line after 15 frames (metres, at the car)."""
        tracker = LaneTracker(settings)
        for frame in range(15):
            shift = 0.06 * frame  # 1.8 m/s across at 30 frames a second
            mask, image = draw_road(drawn, shift=shift, far=30.0)
            result = tracker.update(extractor.extract(mask, image))
        truth = np.array([offset - shift for offset, *_ in drawn])
        found = np.array([b.lateral_at(0.0) for b in result.boundaries])
        return np.abs(np.sort(found) - np.sort(truth))

    assert lag(TrackerSettings(), lines).min() > 0.02  # smoothing trails 0.06 x 0.4 / 0.6 = 0.04 m
    assert lag(TrackerSettings(ego_motion_min_lines=2), lines).max() < 0.015  # the mask's own error
    one = lines[1:2]
    np.testing.assert_allclose(lag(TrackerSettings(ego_motion_min_lines=2), one), lag(TrackerSettings(), one))
    # in image space (no calibration) the plane follows each frame's horizon: tracks are not moved
    extractor = LaneExtractor(CLASSES)
    moved = lag(TrackerSettings(ego_motion_min_lines=2), lines)
    np.testing.assert_allclose(moved, lag(TrackerSettings(), lines))


def test_generator_meta_and_config_blocks(tmp_path):
    from seg_perception.postprocess.camera_model import ground_mapper_from_config

    meta = {
        "K": [400.0, 0.0, 330.0, 0.0, 400.0, 175.0, 0.0, 0.0, 1.0],
        "D": [-0.2, 0.03, 0.0, 0.0, 0.0],
        "mount_height_m": 1.3,
        "pitch_rad": 0.05,
        "roll_rad": 0.02,
    }
    camera = CameraModel.from_generator_meta(meta, (350, 660))
    assert (camera.fx, camera.cx, camera.cy, camera.width) == (400.0, 330.0, 175.0, 660)
    assert camera.mounting.roll_rad == 0.02 and camera.distortion[:2] == (-0.2, 0.03)
    legacy = CameraModel.from_generator_meta(
        {"focal_px": 500, "cx": 320, "cy": 180, "mount_height_m": 1.5, "pitch_rad": 0.0}, SIZE
    )
    assert legacy.distortion == () and legacy.fy == 500.0
    with pytest.raises(ConfigError):
        CameraModel.from_generator_meta({"focal_px": 500}, SIZE)
    assert ground_mapper_from_config({}) is None
    matrix = CAMERA.image_to_ground_homography()
    mapper = ground_mapper_from_config({"ground_homography": matrix.ravel().tolist()})
    np.testing.assert_allclose(mapper.image_to_ground, matrix)
    with pytest.raises(ConfigError, match="9 finite"):
        ground_mapper_from_config({"ground_homography": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="mounting"):
        ground_mapper_from_config({"camera_info_file": str(tmp_path / "x.yaml")})


def test_boundaries_run_on_past_their_paint_along_the_road():
    # paint seen only to 18 m (a truck ahead hides the rest): the lines go on along the curve
    curvature = 1.0 / 400.0
    mask, image = draw_road(THREE_LANES[1:3], curvature=curvature, far=18.0)
    result = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in result.boundaries] == ["ego_left", "ego_right"]
    for boundary, offset in zip(result.boundaries, (1.75, -1.75), strict=True):
        assert boundary.paint_range[1] < 19.0  # its own paint
        assert boundary.plane_range[1] >= LaneSettings().extend_to_m - 1e-6  # drawn on ahead
        assert boundary.ground_points[-1, 0] > 50.0
        expected = offset + curvature / 2.0 * 40.0**2
        assert abs(float(boundary.lateral_at(40.0)) - expected) < 0.5
    short = LaneExtractor(CLASSES, LaneSettings(extend_to_m=0.0), mapper=MAPPER).extract(mask, image)
    assert all(b.plane_range[1] < 19.0 for b in short.boundaries)


def test_run_on_straight_continues_along_the_tangent_past_the_paint():
    # a curvature fitted to 18 m of paint is not extrapolated over the run-on: past the paint the
    # line goes straight on, as it leaves the paint, while on the paint it keeps the curve
    curvature = 1.0 / 400.0
    mask, image = draw_road(THREE_LANES[1:3], curvature=curvature, far=18.0)
    settings = LaneSettings(run_on_straight=True)
    result = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in result.boundaries] == ["ego_left", "ego_right"]
    for boundary, offset in zip(result.boundaries, (1.75, -1.75), strict=True):
        far_paint = boundary.paint_range[1]
        assert far_paint < 19.0
        assert boundary.plane_range[1] >= settings.extend_to_m - 1e-6
        for x in (8.0, 14.0):  # on the paint: the curve
            assert abs(float(boundary.lateral_at(x)) - (offset + curvature / 2.0 * x**2)) < 0.08
        for x in (40.0, 55.0):  # past it: the tangent at the paint's far end
            tangent = offset + curvature / 2.0 * far_paint**2 + curvature * far_paint * (x - far_paint)
            assert abs(float(boundary.lateral_at(x)) - tangent) < 0.25, (boundary.position, x)


def test_near_straight_extrapolates_towards_the_car_along_the_tangent_at_the_nearest_paint():
    # paint seen only from 12 m on (glare, wear or a dash gap near the car): the curvature fitted
    # there is not carried to the car; nearer than the paint the line goes on along its tangent
    curvature = 1.0 / 150.0
    mask, image = draw_road([(-1.75, "solid", WHITE, 0.0)], curvature=curvature, near=12.0, far=30.0)
    curved = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image).boundary_at("ego_right")
    settings = LaneSettings(near_straight=True)
    straight = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image).boundary_at("ego_right")
    assert curved is not None and straight is not None
    near_paint = straight.paint_range[0]
    assert 11.0 < near_paint < 13.0 and straight.plane_range[0] < 6.0  # drawn on towards the car
    slope = curvature * near_paint
    at_paint = -1.75 + curvature / 2.0 * near_paint**2
    for x in (15.0, 25.0):  # on the paint: the curve, as without the setting
        assert abs(float(straight.lateral_at(x)) - (-1.75 + curvature / 2.0 * x**2)) < 0.08
    for x in (4.0, 5.0):  # nearer: the tangent at the nearest paint, where the curve bent away
        tangent = at_paint + slope * (x - near_paint)
        assert abs(float(straight.lateral_at(x)) - tangent) < 0.05, x
        assert abs(float(curved.lateral_at(x)) - tangent) > 0.1, x


def test_paint_that_begins_far_ahead_does_not_take_the_ego_position():
    # a strip painted only from 32 m on, 0.8 m left (a far blob, or the far end of a curve the
    # road shape does not follow): extrapolated to the car it lies between the car and the
    # ego-left line, so ranked at the car it would push that line out to left_1
    mask, image = draw_road(THREE_LANES[1:3], far=45.0)
    far_mask, far_image = draw_road([(0.8, "solid", WHITE, 0.0)], near=32.0, far=50.0)
    mask = np.maximum(mask, far_mask)
    image = np.where(far_mask[..., None] > 0, far_image, image)
    unlimited = LaneExtractor(CLASSES, LaneSettings(max_paint_start_m=0.0), mapper=MAPPER).extract(
        mask, image
    )
    assert [b.position for b in unlimited.boundaries] == ["left_1", "ego_left", "ego_right"]
    assert unlimited.boundary_at("ego_left").paint_range[0] > 30.0
    limited = LaneExtractor(CLASSES, LaneSettings(max_paint_start_m=30.0), mapper=MAPPER).extract(mask, image)
    assert [b.position for b in limited.boundaries] == ["ego_left", "ego_right"]
    for boundary, offset in zip(limited.boundaries, (1.75, -1.75), strict=True):
        assert abs(float(boundary.lateral_at(10.0)) - offset) < 0.05
        assert boundary.paint_range[0] < 10.0


def _painted(mask, image, lines, *, near, far):
    more_mask, more_image = draw_road(lines, near=near, far=far)
    return np.maximum(mask, more_mask), np.where(more_mask[..., None] > 0, more_image, image)


def test_paint_spanning_under_the_minimum_span_is_not_a_boundary():
    # a 2 m fleck where a right_1 line would be (a glint, a kerb's corner) becomes a boundary of
    # its own without the limit; with it, only lines whose paint spans the limit remain, and a
    # line of Botts' dots (0.3 m of paint every 1.5 m: little paint, a long span) is still one
    mask, image = draw_road(THREE_LANES[1:3], far=45.0)
    mask, image = _painted(mask, image, [(-5.25, "solid", WHITE, 0.0)], near=12.0, far=14.0)
    for start in np.arange(4.0, 30.0, 1.5):
        mask, image = _painted(mask, image, [(5.25, "solid", WHITE, 0.0)], near=start, far=start + 0.3)
    unlimited = LaneExtractor(CLASSES, LaneSettings(), mapper=MAPPER).extract(mask, image)
    assert [b.position for b in unlimited.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]
    limited = LaneExtractor(CLASSES, LaneSettings(min_paint_span_m=3.0), mapper=MAPPER).extract(mask, image)
    assert [b.position for b in limited.boundaries] == ["left_1", "ego_left", "ego_right"]
    assert abs(float(limited.boundary_at("left_1").lateral_at(10.0)) - 5.25) < 0.1


def test_short_paint_far_ahead_is_no_boundary_with_a_calibrated_camera_only():
    # 6 m of paint from 22 m on where a right_1 line would be (a vehicle's edge, a bit of barrier)
    # beside a left_1 line painted from 22 m to 45 m: with the far-paint check the short one is
    # dropped and the long one stays; in image space (no camera) the check does not apply
    mask, image = draw_road(THREE_LANES[1:3], far=45.0)
    mask, image = _painted(mask, image, [(-5.25, "solid", WHITE, 0.0)], near=22.0, far=28.0)
    mask, image = _painted(mask, image, [(5.25, "solid", WHITE, 0.0)], near=22.0, far=45.0)
    checked = LaneSettings(far_paint_start_m=20.0, far_paint_min_span_m=10.0)
    unchecked = LaneExtractor(CLASSES, LaneSettings(), mapper=MAPPER).extract(mask, image)
    assert [b.position for b in unchecked.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]
    limited = LaneExtractor(CLASSES, checked, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in limited.boundaries] == ["left_1", "ego_left", "ego_right"]
    assert abs(float(limited.boundary_at("left_1").lateral_at(30.0)) - 5.25) < 0.1
    image_space = LaneExtractor(CLASSES, checked).extract(mask, image)
    assert not image_space.metric
    assert len(image_space.boundaries) == len(LaneExtractor(CLASSES).extract(mask, image).boundaries)


def test_nothing_beyond_a_solid_yellow_edge_on_the_configured_side_is_a_boundary():
    # a divided highway's yellow left edge with a barrier's bright edge beyond it (drawn as paint):
    # with yellow_edge_side left the barrier is no boundary; on the right side, or with a dashed
    # yellow line (a centre line with lanes beyond), every line stays
    def positions(lines, side):
        mask, image = draw_road(lines, far=45.0)
        result = LaneExtractor(CLASSES, LaneSettings(yellow_edge_side=side), mapper=MAPPER).extract(
            mask, image
        )
        return [b.position for b in result.boundaries], result

    edge = [(5.25, "solid", WHITE, 0.0), (1.75, "solid", YELLOW, 0.0), *THREE_LANES[2:]]
    assert positions(edge, "")[0] == ["left_1", "ego_left", "ego_right", "right_1"]
    kept, result = positions(edge, "left")
    assert kept == ["ego_left", "ego_right", "right_1"]
    assert result.boundary_at("ego_left").color == "yellow"
    assert positions(edge, "right")[0] == ["left_1", "ego_left", "ego_right", "right_1"]
    centre = [(5.25, "solid", WHITE, 0.0), (1.75, "dashed", YELLOW, 2.0), *THREE_LANES[2:]]
    assert positions(centre, "left")[0] == ["left_1", "ego_left", "ego_right", "right_1"]
    mirrored = [*THREE_LANES[:2], (-1.75, "solid", YELLOW, 0.0), (-5.25, "solid", WHITE, 0.0)]
    assert positions(mirrored, "right")[0] == ["left_1", "ego_left", "ego_right"]


def test_an_edge_bright_on_one_side_only_is_no_boundary_with_the_stripe_check():
    # the model marks the edge of snow covering the road's right part (bright beyond, asphalt inside)
    # as paint where the right lane's line lies under the snow: a long straight edge, not a stripe
    lines = THREE_LANES[:3]
    mask, image = draw_road(lines, far=45.0)
    snow = ground_strip(MAPPER, lambda xs: np.full_like(xs, -5.25 - 5.0), 2.0, 45.0, width=10.0)
    cv2.fillPoly(image, [np.round(snow).astype(np.int32)], (235, 235, 240))
    edge = ground_strip(MAPPER, lambda xs: np.full_like(xs, -5.25), 2.0, 45.0)
    cv2.fillPoly(mask, [np.round(edge).astype(np.int32)], LANE)

    def positions(share):
        settings = LaneSettings(min_stripe_share=share)
        result = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
        return [b.position for b in result.boundaries]

    assert positions(0.0) == ["left_1", "ego_left", "ego_right", "right_1"]
    assert positions(0.5) == ["left_1", "ego_left", "ego_right"]
    with pytest.raises(ValueError, match="min_stripe_share"):
        LaneSettings(min_stripe_share=1.5)


def _edited_highway_fails(tmp_path, shipped, edited, message):
    """highway.yaml with ``shipped`` replaced by ``edited`` is a one-line configuration error for
    eval as for the node (both read the block through ``lane_settings_and_tracking``)."""
    from seg_perception.config import load_scenario
    from seg_perception.training.lane_eval import scenario_lane_settings

    text = (ROOT / "config" / "highway.yaml").read_text()
    assert shipped in text
    bad = tmp_path / "highway.yaml"
    bad.write_text(text.replace(shipped, edited))
    with pytest.raises(ConfigError, match=message):
        scenario_lane_settings(load_scenario(str(bad)))
    return scenario_lane_settings(load_scenario("highway"))


def test_an_unknown_yellow_edge_side_is_a_settings_error(tmp_path):
    with pytest.raises(ValueError, match="yellow_edge_side"):
        LaneSettings.from_mapping({"yellow_edge_side": "both"})
    shipped = _edited_highway_fails(
        tmp_path, "yellow_edge_side: left", "yellow_edge_side: both", "bad 'lanes' block: yellow_edge_side"
    )
    assert shipped[0].yellow_edge_side == "left"


def test_a_switch_takes_true_or_false_and_a_bad_value_names_its_key():
    # as a launch argument or a quoted YAML value the switch arrives as a string: "false" is off
    assert LaneSettings.from_mapping({"off_path_stop_lines": "false"}).off_path_stop_lines is False
    assert LaneSettings.from_mapping({"run_on_straight": " True "}).run_on_straight is True
    assert LaneSettings.from_mapping({"start_at_frame_edge": False}).start_at_frame_edge is False
    for bad, message in (
        ({"off_path_stop_lines": "no"}, "lane settings: off_path_stop_lines must be true or false, got 'no'"),
        ({"run_on_straight": 1}, "run_on_straight must be true or false, got 1"),
        ({"max_lane_width_m": "wide"}, "lane settings: max_lane_width_m must be a number, got 'wide'"),
    ):
        with pytest.raises(ValueError, match=message):
            LaneSettings.from_mapping(bad)


def test_a_bad_tracking_value_is_a_settings_error(tmp_path):
    assert TrackerSettings.from_mapping({"max_missed": "10", "coast_per_hit": 1}) == TrackerSettings(
        max_missed=10, coast_per_hit=1.0
    )
    for bad, message in (
        ({"max_mised": 3}, "unknown tracking settings"),
        ({"coast_per_hit": -1.0}, "must not be negative"),
        ({"min_weight_share": 1.5}, "min_weight_share is a share of smoothing: at most 1"),
        ({"extrapolation_scale_m": -1.0}, "must not be negative"),
        ({"max_missed": "often"}, "tracking settings: max_missed must be an integer, got 'often'"),
    ):
        with pytest.raises(ValueError, match=message):
            TrackerSettings.from_mapping(bad)
    shipped = _edited_highway_fails(
        tmp_path, "coast_per_hit: 1.0", "coast_per_hit: -1.0", "bad 'lanes' block: tracking settings"
    )
    assert shipped[1].coast_per_hit == 1.0


def test_boundaries_stop_at_the_stop_line_ahead():
    mask, image = draw_road(THREE_LANES[1:3], far=14.0, transverse=15.0)
    result = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert len(result.boundaries) == 2 and [m.kind for m in result.markings] == ["stop_line"]
    stop = result.markings[0].distance
    assert all(14.0 <= b.plane_range[1] <= stop + 1e-6 for b in result.boundaries)


def _side_blob(mask, distance, lateral=(-6.0, -8.0), mapper=MAPPER):
    """Transverse paint off to the side of the road (beyond its right edge) at ``distance`` m."""
    near, far = lateral
    outline = np.array([[distance, near], [distance, far], [distance + 0.4, far], [distance + 0.4, near]])
    cv2.fillPoly(mask, [np.round(mapper.to_image(outline)).astype(np.int32)], LANE)


@pytest.mark.parametrize("calibrated", [True, False])
def test_transverse_paint_off_the_cars_path_ends_no_boundary(calibrated):
    mask, image = draw_road(THREE_LANES)
    _side_blob(mask, 15.0)
    mapper = MAPPER if calibrated else None
    cut = LaneExtractor(CLASSES, mapper=mapper).extract(mask, image)
    kept = LaneExtractor(CLASSES, LaneSettings(junction_corridor_m=2.0), mapper=mapper).extract(mask, image)
    for result in (cut, kept):
        assert [m.kind for m in result.markings] == ["stop_line"]  # reported either way
    assert cut.markings[0].on_path and not kept.markings[0].on_path
    ego = ("ego_left", "ego_right")
    # every corridor: the blob ends the lanes; with one, they run on to their paint's end
    assert all(cut.boundary_at(p).paint_range[1] < kept.boundary_at(p).paint_range[1] for p in ego)
    if calibrated:
        stop = cut.markings[0].distance
        assert abs(stop - 15.0) < 0.5
        assert all(cut.boundary_at(p).plane_range[1] <= stop + 1e-6 for p in ego)
        assert all(kept.boundary_at(p).plane_range[1] > 40.0 for p in ego)


def test_a_stop_line_across_the_cars_path_still_ends_the_boundaries():
    mask, image = draw_road(THREE_LANES[1:3], far=14.0, transverse=15.0)
    result = LaneExtractor(CLASSES, LaneSettings(junction_corridor_m=2.0), mapper=MAPPER).extract(mask, image)
    assert [m.on_path for m in result.markings] == [True]
    stop = result.markings[0].distance
    assert len(result.boundaries) == 2
    assert all(b.plane_range[1] <= stop + 1e-6 for b in result.boundaries)


@pytest.mark.parametrize("calibrated", [True, False])
def test_off_path_stop_lines_false_reports_only_stop_lines_on_the_cars_path(calibrated):
    mask, image = draw_road(THREE_LANES[1:3], far=14.0, transverse=15.0)
    _side_blob(mask, 25.0)
    mapper = MAPPER if calibrated else None
    reporting = LaneSettings(junction_corridor_m=2.0)
    reported = LaneExtractor(CLASSES, reporting, mapper=mapper).extract(mask, image)
    settings = LaneSettings(junction_corridor_m=2.0, off_path_stop_lines=False)
    result = LaneExtractor(CLASSES, settings, mapper=mapper).extract(mask, image)
    assert [m.on_path for m in reported.markings] == [True, False]
    # the one across the car's path stays (and still ends the boundaries); the one beside it goes
    assert [(m.kind, m.on_path, m.id) for m in result.markings] == [("stop_line", True, 0)]
    assert result.markings[0].distance == reported.markings[0].distance
    assert [b.plane_range for b in result.boundaries] == [b.plane_range for b in reported.boundaries]


def runs_reference(rows, max_hole):
    """Runs of each row pixel by pixel, holes of up to ``max_hole`` pixels closed."""
    found = []
    for index, row in enumerate(rows):
        columns = np.flatnonzero(row)
        if not len(columns):
            continue
        start = previous = int(columns[0])
        for column in columns[1:].tolist():
            if column - previous - 1 > max_hole:
                found.append((index, start, previous + 1))
                start = column
            previous = column
        found.append((index, start, previous + 1))
    return found


def test_row_runs_close_small_holes_only():
    rng = np.random.default_rng(3)
    for _ in range(300):
        rows = (rng.random((int(rng.integers(1, 8)), int(rng.integers(1, 30)))) < rng.random()).astype(
            np.uint8
        )
        hole = int(rng.integers(0, 4))
        row_index, starts, ends = row_runs(rows, hole)
        assert list(zip(row_index.tolist(), starts.tolist(), ends.tolist(), strict=True)) == runs_reference(
            rows, hole
        )
    empty = row_runs(np.zeros((3, 5), np.uint8), 2)
    assert all(len(part) == 0 for part in empty)


def test_wide_components_are_the_labelled_components_twice_as_wide_as_tall():
    rng = np.random.default_rng(4)
    ring = np.zeros((12, 30), np.uint8)
    cv2.rectangle(ring, (1, 1), (28, 10), 1, 1)  # a component with a hole ...
    ring[5:7, 8:20] = 1  # ... and a wide one inside it
    masks = [ring] + [
        cv2.dilate((rng.random((20, 50)) < 0.15).astype(np.uint8), np.ones((1, 3), np.uint8))
        for _ in range(60)
    ]
    for binary in masks:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        expected = sorted(
            (int(x), int(y), int(w), int(h), np.flatnonzero(labels[y : y + h, x : x + w] == label).tolist())
            for label, (x, y, w, h, _) in enumerate(stats)
            if label and w >= 2 * h
        )
        found = sorted(
            (x, y, w, h, np.flatnonzero(pixels).tolist()) for x, y, w, h, pixels in wide_components(binary)
        )
        assert found == expected
    assert len(wide_components(ring)) == 2


@pytest.mark.parametrize("mapper", [MAPPER, None], ids=["metric", "image_space"])
def test_curves_drawn_together_are_the_curves_drawn_one_by_one(mapper):
    mask, _ = draw_road([(1.8, "solid", WHITE, 0.0), (-1.8, "dashed", WHITE, 0.0)])
    plane = LaneExtractor(CLASSES, mapper=mapper).extract(mask).plane
    curves = [
        (np.array([1.8, 0.01, 1e-4, 0.0]), (3.0, 60.0)),
        (np.array([-1.8, 0.0, 0.0, 1e-6]), (5.0, 40.0)),
        (np.array([400.0, 0.0, 0.0, 0.0]), (3.0, 20.0)),  # far off to the side: not in the image
    ]
    together = render_curves(plane, curves, SIZE)
    assert together[2] is None and together[0] is not None and together[1] is not None
    for (coefficients, x_range), drawn in zip(curves, together, strict=True):
        alone = render_curve(plane, coefficients, x_range, SIZE)
        assert (alone is None) == (drawn is None)
        if alone is not None and drawn is not None:
            for part_alone, part_drawn in zip(alone[:3], drawn[:3], strict=True):
                np.testing.assert_array_equal(part_alone, part_drawn)
            assert alone[3] == drawn[3]


@pytest.mark.parametrize("mapper", [MAPPER, None], ids=["metric", "image_space"])
def test_a_curve_starts_where_it_enters_the_frame(mapper):
    """A curve whose near end lies just below the frame starts on the bottom row (it lost a whole
    sample spacing, ~15 px of 540, when only the samples inside were kept); one that leaves the
    side of the frame near the car starts on that side."""
    mask, _ = draw_road([(1.8, "solid", WHITE, 0.0), (-1.8, "dashed", WHITE, 0.0)])
    plane = LaneExtractor(CLASSES, mapper=mapper).extract(mask).plane
    height, width = SIZE
    bottom = float(plane.to_plane(np.array([[width / 2.0, height - 1.0]]))[0, 0])
    straight = np.array([1.0, 0.0, 0.0, 0.0])
    sampled = render_curve(plane, straight, (0.99 * bottom, 60.0), SIZE)[0]
    assert sampled[0, 1] < height - 5  # without the option: the first sample inside, rows up
    image_points, _, _, valid = render_curve(
        plane, straight, (0.99 * bottom, 60.0), SIZE, from_frame_edge=True
    )
    assert image_points[0, 1] == pytest.approx(height - 1, abs=1e-3)
    np.testing.assert_array_equal(image_points[1:], sampled)
    assert valid[1 if mapper is None else 0] == pytest.approx(
        height - 1 if mapper is None else bottom, rel=1e-3
    )
    assert np.all(np.diff(image_points[:, 1]) < 0)  # still near to far, up the frame
    # far to the side: it enters through the frame's left edge
    wide = np.array([12.0, 0.0, 0.0, 0.0])
    side_points = render_curve(plane, wide, (0.99 * bottom, 60.0), SIZE, from_frame_edge=True)[0]
    assert side_points[0, 0] == pytest.approx(0.0, abs=1e-3) and 0 < side_points[0, 1] < height - 1


@pytest.mark.parametrize("mapper", [MAPPER, None], ids=["metric", "image_space"])
def test_boundaries_and_their_tracks_start_on_the_bottom_row_with_start_at_frame_edge(mapper):
    mask, image = draw_road(THREE_LANES[1:3], near=0.5)  # paint from below the frame
    for edge in (False, True):
        extractor = LaneExtractor(CLASSES, LaneSettings(start_at_frame_edge=edge), mapper=mapper)
        tracker = LaneTracker()
        for _ in range(3):  # confirmed tracks are drawn by the tracker
            tracked = tracker.update(extractor.extract(mask, image))
        for result in (extractor.extract(mask, image), tracked):
            lowest = [float(b.image_points[:, 1].max()) for b in result.boundaries]
            assert len(lowest) == 2
            if edge:
                assert lowest == pytest.approx([SIZE[0] - 1] * 2, abs=1e-3)
            else:  # the first drawing sample inside: rows up for at least one of them
                assert min(lowest) < SIZE[0] - 2


def test_dashes_joined_into_their_lines_give_the_vanishing_point_their_own_directions_miss():
    height = SIZE[0]
    vanishing = (320.0, 150.0)
    rng = np.random.default_rng(3)
    dashes = []
    for lean in (-1.2, 1.3):
        # a model's short blobby dashes: centres on the line, each dash's own direction 30 % steeper
        for top in (175.0, 195.0, 225.0, 265.0, 320.0):
            v = np.linspace(top, top + 0.02 * height, 6)
            centre = vanishing[0] + lean * (v.mean() - vanishing[1])
            dashes.append((centre + 1.3 * lean * (v - v.mean()) + rng.normal(0.0, 0.3, v.shape), v))
    alone = estimate_vanishing_point(dashes, SIZE)
    assert alone is not None and np.hypot(alone[0] - vanishing[0], alone[1] - vanishing[1]) > 10.0
    joined = estimate_vanishing_point(dashes, SIZE, join=0.02)
    assert joined is not None and np.hypot(joined[0] - vanishing[0], joined[1] - vanishing[1]) < 2.0


def test_dashes_of_two_lines_are_not_joined_into_a_line_turned_far_from_both():
    vanishing = (320.0, 150.0)

    def dash(lean: float, top: float, rows: float, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        v = np.linspace(top, top + rows, 8)
        return vanishing[0] + lean * (v - vanishing[1]) + shift, v

    # a near dash of one line and a far dash of the next line out: one straight fit lies within the
    # join's tolerance of both (they are short) but runs nearly 30 degrees off the direction of either
    near, far = dash(1.6, 300.0, 24.0), dash(1.6, 200.0, 10.0, shift=110.0)
    lines = vanishing_lines([near, far], SIZE, join=0.03)
    assert len(lines) == 2
    # dashes of one line, each a few degrees off its direction (a model's blobs), still join
    wobbly = [dash(1.6, 300.0, 24.0), dash(1.75, 200.0, 10.0), dash(1.45, 240.0, 12.0)]
    (joined,) = vanishing_lines(wobbly, SIZE, join=0.03)
    assert joined.slope == pytest.approx(1.6, abs=0.1)


def test_lines_whose_paint_reaches_the_horizon_still_give_it_but_lines_crossing_in_their_paint_do_not():
    height = SIZE[0]
    vanishing = (320.0, 150.0)

    def line(lean: float, top: float, bottom: float) -> tuple[np.ndarray, np.ndarray]:
        v = np.linspace(top, bottom, 40)
        return vanishing[0] + lean * (v - vanishing[1]), v

    # the paint runs up to the horizon (a blob's top row a little above it): the crossing lies
    # just below the higher line's top, within the fits' noise
    reaching = vanishing_lines([line(-1.4, vanishing[1] - 1.0, 340.0), line(1.5, 160.0, 340.0)], SIZE)
    found = intersect_lines(reaching, SIZE)
    assert found is not None and found == pytest.approx(vanishing, abs=0.5)
    # two lines crossing well inside their paint (an X of a line and a blob's edge) meet no horizon
    above = vanishing[1] - 0.05 * height
    crossing = vanishing_lines([line(-1.4, above, 340.0), line(1.5, 130.0, 340.0)], SIZE)
    assert intersect_lines(crossing, SIZE) is None


def test_lines_all_on_one_side_give_the_horizon_where_three_of_them_meet():
    # the car at the left edge of the road: every line is right of it and leans the same way
    right_side = [(-1.75, "solid", WHITE, 0.0), (-5.25, "solid", WHITE, 0.0), (-8.75, "solid", WHITE, 0.0)]
    mask, image = draw_road(right_side, far=40.0)
    assert LaneExtractor(CLASSES).extract(mask, image).vanishing_point is None
    one_side = LaneSettings(vanishing_same_side_deg=10.0, vanishing_join=0.02)
    found = LaneExtractor(CLASSES, one_side).extract(mask, image).vanishing_point
    assert found is not None and abs(found[1] - CAMERA.horizon_v()) < 4.0
    # two lines on one side cross somewhere in any case: no third line through it, no horizon
    mask, image = draw_road(right_side[:2], far=40.0)
    assert LaneExtractor(CLASSES, one_side).extract(mask, image).vanishing_point is None


def test_two_lines_on_one_side_give_the_horizon_when_nothing_else_does_with_vanishing_pair_deg():
    # the far side of the road is a snow bank or an unpainted edge: two lines, both right of the car
    right_side = [(-1.75, "solid", WHITE, 0.0), (-5.25, "solid", WHITE, 0.0)]
    mask, image = draw_road(right_side, far=40.0)
    pair = LaneSettings(vanishing_same_side_deg=10.0, vanishing_join=0.02, vanishing_pair_deg=15.0)
    found = LaneExtractor(CLASSES, pair).extract(mask, image).vanishing_point
    assert found is not None and abs(found[1] - CAMERA.horizon_v()) < 4.0
    # lines nearly parallel in the image cross anywhere along them: under the angle, no horizon
    narrow = LaneSettings(vanishing_same_side_deg=10.0, vanishing_join=0.02, vanishing_pair_deg=60.0)
    assert LaneExtractor(CLASSES, narrow).extract(mask, image).vanishing_point is None
    # where lines either side of the car cross, the pair tier is never asked
    both_sides = [(1.75, "solid", WHITE, 0.0), (-1.75, "solid", WHITE, 0.0), (-5.25, "solid", WHITE, 0.0)]
    mask, image = draw_road(both_sides, far=40.0)
    without = LaneExtractor(CLASSES, LaneSettings(vanishing_same_side_deg=10.0, vanishing_join=0.02))
    assert (
        LaneExtractor(CLASSES, pair).extract(mask, image).vanishing_point
        == without.extract(mask, image).vanishing_point
    )


def test_trimmed_dash_ends_stop_pulling_the_vanishing_point_above_the_horizon():
    vanishing = (320.0, 150.0)
    dashes = []
    for lean in (-1.2, 1.3):
        for top in (200.0, 280.0):
            v = np.arange(top, top + 40.0)
            u = vanishing[0] + lean * (v - vanishing[1])
            # a slanted (or rounded) end: the runs of the first and last rows are cut short, their
            # centres drawn towards the dash's middle column
            ends = np.r_[np.linspace(1.0, 0.0, 6), np.zeros(len(v) - 12), np.linspace(0.0, 1.0, 6)]
            dashes.append((u + ends * (u.mean() - u) * 0.5, v))
    plain = estimate_vanishing_point(dashes, SIZE)
    assert plain is not None and vanishing[1] - plain[1] > 5.0  # above the horizon
    trimmed = estimate_vanishing_point(dashes, SIZE, trim=0.15)
    assert trimmed is not None and np.hypot(trimmed[0] - vanishing[0], trimmed[1] - vanishing[1]) < 1.0
    # both keys are scenario-config keys (an unknown one would raise)
    settings = LaneSettings.from_mapping({"vanishing_trim": 0.15, "vanishing_pair_deg": 15})
    assert (settings.vanishing_trim, settings.vanishing_pair_deg) == (0.15, 15.0)


def test_uncalibrated_lines_keep_to_their_paint_near_the_car_under_a_horizon_a_few_rows_off():
    """A lens's distortion or a roll leaves a frame's lines meeting in no single point: the
    horizon found lies a few rows off some of them, which turns those lines in the pseudo-ground
    by an amount proportional to their offset. Pulled to the road's shared heading, such a line
    leaves its own paint near the car; its heading is only loosely tied to the road's."""
    size = height, width = 540, 960
    mask = np.zeros(size, np.uint8)
    # (lean, row where the line meets the image's middle column, dashed): the outer line meets
    # the others' crossing 10 rows higher
    lines = [(-1.0, 225.0, False), (1.3, 225.0, True), (3.2, 215.0, True)]
    for lean, meets, dashed in lines:
        for v in range(240, height):
            u = width / 2 + lean * (v - meets)
            if 0 <= u < width and not (dashed and (v // 20) % 2):
                cv2.circle(mask, (int(u), v), max(1, (v - 230) // 60), 1, -1)
    image = np.full((*size, 3), 90, np.uint8)
    image[mask > 0] = WHITE

    def near_end_errors(settings):
        result = LaneExtractor(CLASSES, settings).extract(mask, image)
        assert len(result.boundaries) == len(lines)
        errors = []
        for boundary in result.boundaries:
            u, v = boundary.image_points[np.argmax(boundary.image_points[:, 1])]
            errors.append(min(abs(width / 2 + lean * (v - meets) - u) for lean, meets, _ in lines))
        return errors

    assert max(near_end_errors(LaneSettings())) < 4.0
    # the heading pulled as hard as the curvature (before heading_prior): off by 12-18 px
    assert max(near_end_errors(LaneSettings(heading_prior=1.0))) > 10.0
    with pytest.raises(ValueError, match="heading_prior"):
        LaneSettings(heading_prior=-0.1)


def test_calibrated_lines_keep_to_their_paint_near_the_car_when_the_camera_pitches_off_its_calibration():
    """Braking, a load or a slope ahead pitch the camera away from its calibration: the lines then
    splay in the ground plane in proportion to their offset, and pulled to the road's shared heading
    the outer ones leave their paint near the car."""
    lines = [(offset, "solid", WHITE, 0.0) for offset in (5.25, 1.75, -1.75, -5.25)]
    mask, image = draw_road(lines)
    mounting = CAMERA.mounting
    pitched = replace(CAMERA, mounting=replace(mounting, pitch_rad=mounting.pitch_rad - np.deg2rad(0.5)))
    calibration = GroundMapper.from_camera(pitched)
    xs = np.linspace(1.0, 80.0, 400)

    def near_end_errors(settings):
        result = LaneExtractor(CLASSES, settings, mapper=calibration).extract(mask, image)
        assert len(result.boundaries) == len(lines)
        errors = []
        for boundary in result.boundaries:
            u, v = boundary.image_points[np.argmax(boundary.image_points[:, 1])]
            columns = []
            for offset, *_ in lines:  # each painted line's column at that row, through the true camera
                uv = MAPPER.to_image(np.column_stack([xs, np.full_like(xs, offset)]))
                order = np.argsort(uv[:, 1])
                columns.append(np.interp(v, uv[order, 1], uv[order, 0]))
            errors.append(min(abs(c - u) for c in columns))
        return errors

    assert max(near_end_errors(LaneSettings())) < 3.0
    # the heading pulled as hard as the curvature (before heading_prior): off by 6-9 px
    assert max(near_end_errors(LaneSettings(heading_prior=1.0))) > 6.0


def test_pitch_from_lines_puts_a_camera_pitched_off_its_calibration_back_on_the_road():
    """With pitch_from_lines the lines' vanishing point moves the calibration's horizon: lines 1.75 m
    and 5.25 m either side come out where they are, 20 and 40 m ahead, whichever way the camera pitched."""
    offsets = (5.25, 1.75, -1.75, -5.25)
    mask, image = draw_road([(offset, "solid", WHITE, 0.0) for offset in offsets])
    mounting = CAMERA.mounting
    for error_deg in (0.5, -0.5, 1.0):
        pitched = replace(
            CAMERA, mounting=replace(mounting, pitch_rad=mounting.pitch_rad + np.deg2rad(error_deg))
        )
        calibration = GroundMapper.from_camera(pitched)
        fixed = LaneExtractor(CLASSES, LaneSettings(pitch_from_lines=0.03), mapper=calibration).extract(
            mask, image
        )
        assert fixed.vanishing_point is not None  # passed on as the next frame's hint
        found = sorted(float(b.lateral_at(20.0)) for b in fixed.boundaries)
        assert np.allclose(found, sorted(offsets), atol=0.15)
        assert np.allclose(
            sorted(float(b.lateral_at(40.0)) for b in fixed.boundaries), sorted(offsets), atol=0.2
        )
        plain = LaneExtractor(CLASSES, LaneSettings(), mapper=calibration).extract(mask, image)
        assert plain.vanishing_point is None
        outer = max(abs(float(b.lateral_at(40.0))) for b in plain.boundaries)
        assert abs(outer - 5.25) > 0.6  # the calibration alone misplaces the outermost line (or loses it)
    with pytest.raises(ValueError, match="pitch_from_lines"):
        LaneSettings(pitch_from_lines=-0.01)


def test_a_calibration_for_another_resolution_of_the_camera_maps_frames_of_this_one():
    """A CameraInfo (or calibration file) made at the sensor's full size, frames at half of it: the
    camera model, lens included, is resized to the frames (before, the homography alone was applied to
    pixels of the wrong size, or, scaled, without the lens)."""
    offsets = (5.25, 1.75, -1.75, -5.25)
    lens = replace(CAMERA, distortion=(-0.25, 0.05, 0.0, 0.0, 0.0))
    mask, image = draw_road(
        [(o, "solid", WHITE, 0.0) for o in offsets], mapper=GroundMapper.from_camera(lens)
    )
    full_size = GroundMapper.from_camera(lens.scaled((2 * SIZE[0], 2 * SIZE[1])))
    result = LaneExtractor(CLASSES, mapper=full_size).extract(mask, image)
    for distance in (10.0, 30.0):
        found = sorted(float(b.lateral_at(distance)) for b in result.boundaries)
        assert np.allclose(found, sorted(offsets), atol=0.05)


def test_intersect_lines_pairs_same_side_lines_without_a_third_only_when_asked():
    vanishing = (320.0, 150.0)
    v = np.linspace(250.0, 470.0, 12)
    lines = vanishing_lines([(vanishing[0] + lean * (v - vanishing[1]), v) for lean in (0.6, 1.6)], SIZE)
    assert intersect_lines(lines, SIZE, same_side_angle_deg=10.0) is None
    found = intersect_lines(lines, SIZE, same_side_angle_deg=10.0, third_line=False)
    assert found is not None and np.hypot(found[0] - vanishing[0], found[1] - vanishing[1]) < 1.0
    assert intersect_lines(lines, SIZE, same_side_angle_deg=40.0, third_line=False) is None


def test_a_missed_ego_line_does_not_make_its_neighbour_the_ego_boundary():
    # the ego lane's left line (dots the model missed) is not painted: the line a lane further
    # left would make a 7 m ego lane, so with max_lane_width_m it is left_1 and no ego lane is given
    lines = [THREE_LANES[0], THREE_LANES[2]]  # +5.25 m and -1.75 m
    mask, image = draw_road(lines)
    unchecked = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in unchecked.boundaries] == ["ego_left", "ego_right"]
    assert unchecked.ego_lane is not None and unchecked.ego_lane.width > 6.5
    settings = LaneSettings(max_lane_width_m=5.0)
    result = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
    assert [(b.position, b.position_index) for b in result.boundaries] == [("left_1", 2), ("ego_right", -1)]
    assert result.ego_lane is None
    # the tracker keeps the names (it renames its boundaries every frame)
    tracked = LaneTracker().update(result)
    assert sorted(b.position for b in tracked.boundaries) == ["ego_right", "left_1"]
    # a lane of ordinary width is untouched, and so is a lone line within a lane width of the car
    both = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(*draw_road(THREE_LANES[1:3]))
    assert [b.position for b in both.boundaries] == ["ego_left", "ego_right"]
    alone = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(*draw_road([THREE_LANES[0]], shift=2.0))
    assert [b.position for b in alone.boundaries] == ["ego_left"]  # 3.25 m to the left
    far_alone = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(
        *draw_road([THREE_LANES[0]], shift=-1.0)
    )
    assert [b.position for b in far_alone.boundaries] == ["left_1"]  # 6.25 m: a lane away


def test_a_line_too_close_to_make_a_lane_with_the_other_side_is_dropped():
    # a short stripe of false paint (a seam, glare) 0.2 m left of the car, between the ego lines
    mask, image = draw_road(THREE_LANES[1:3])
    stripe_mask, stripe_image = draw_road([(0.2, "solid", WHITE, 0.0)], near=5.0, far=9.0)
    stripe = stripe_mask == LANE
    mask[stripe], image[stripe] = LANE, stripe_image[stripe]
    unchecked = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in unchecked.boundaries] == ["left_1", "ego_left", "ego_right"]
    assert unchecked.ego_lane is not None and unchecked.ego_lane.width < 2.2
    result = LaneExtractor(CLASSES, LaneSettings(min_lane_width_m=2.2), mapper=MAPPER).extract(mask, image)
    # the stripe is less confident than either real line: it goes, and the real lines are the ego lane
    assert [b.position for b in result.boundaries] == ["ego_left", "ego_right"]
    assert result.ego_lane is not None and result.ego_lane.width == pytest.approx(3.5, abs=0.1)
    # a lane of ordinary width keeps both lines
    both = LaneExtractor(CLASSES, LaneSettings(min_lane_width_m=2.2), mapper=MAPPER).extract(
        *draw_road(THREE_LANES[1:3])
    )
    assert [b.position for b in both.boundaries] == ["ego_left", "ego_right"]


def test_a_stray_stripe_beside_a_lines_near_gap_leaves_the_line_with_max_member_offset_m():
    # a seam half a metre outside the dashed ego-left line, in the gap before its first dash: within
    # cluster_gap_m of the line, it joined it and turned the line and the road shape towards it
    lines = [(1.75, "dashed", WHITE, 7.0), (-1.75, "dashed", WHITE, 3.0), (5.25, "dashed", WHITE, 7.0)]
    mask, image = draw_road(lines)
    stray_mask, stray_image = draw_road([(1.75 + 0.55, "solid", WHITE, 0.0)], near=3.5, far=7.5)
    stray = stray_mask == LANE
    mask[stray], image[stray] = LANE, stray_image[stray]

    def ego_left_errors(settings):
        result = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
        boundary = result.boundary_at("ego_left")
        return [abs(float(boundary.lateral_at(x)) - 1.75) for x in (4.0, 10.0, 20.0)], result

    unchecked, _ = ego_left_errors(LaneSettings())
    assert max(unchecked) > 0.15
    errors, result = ego_left_errors(LaneSettings(max_member_offset_m=0.4))
    assert max(errors) < 0.06, errors
    assert [b.position for b in result.boundaries] == ["left_1", "ego_left", "ego_right"]
    assert result.ego_lane is not None and abs(result.ego_lane.heading_rad) < 0.01
    # image space: a line's pseudo-metre offset drifts along the road, so the check is not made there
    plain, checked = (LaneExtractor(CLASSES, LaneSettings(max_member_offset_m=m)) for m in (0.0, 0.4))
    assert [b.coefficients.tolist() for b in checked.extract(mask, image).boundaries] == [
        b.coefficients.tolist() for b in plain.extract(mask, image).boundaries
    ]
    # lines without strays come out as without the check, a double line's stripes included
    for road in (THREE_LANES, [(1.75, "double", YELLOW, 0.0), (-1.75, "dashed", WHITE, 0.0)]):
        plain = LaneExtractor(CLASSES, mapper=MAPPER).extract(*draw_road(road))
        checked = LaneExtractor(CLASSES, LaneSettings(max_member_offset_m=0.4), mapper=MAPPER).extract(
            *draw_road(road)
        )
        assert [(b.position, b.line_type) for b in checked.boundaries] == [
            (b.position, b.line_type) for b in plain.boundaries
        ]
        for before, after in zip(plain.boundaries, checked.boundaries, strict=True):
            assert np.allclose(before.coefficients, after.coefficients)


def test_a_stuck_vanishing_hint_gives_way_to_estimates_that_agree_over_frames():
    mask, image = draw_road(THREE_LANES[1:3], far=40.0)
    found = LaneExtractor(CLASSES).extract(mask, image).vanishing_point
    assert found is not None and abs(found[1] - CAMERA.horizon_v()) < 4.0
    stuck = (found[0], found[1] - 60.0)  # a hint far above: every frame's estimate is refused as a jump
    never = LaneExtractor(CLASSES)
    for _ in range(5):
        assert never.extract(mask, image, vanishing_hint=stuck).vanishing_point == stuck
    reanchor = LaneExtractor(CLASSES, LaneSettings(vanishing_reanchor_frames=3))
    kept = [reanchor.extract(mask, image, vanishing_hint=stuck).vanishing_point for _ in range(2)]
    assert kept == [stuck, stuck]  # two refused estimates are not yet a horizon
    moved = reanchor.extract(mask, image, vanishing_hint=stuck).vanishing_point
    assert moved is not None and np.hypot(moved[0] - found[0], moved[1] - found[1]) < 1.0
    # a new stream (no hint) starts counting again
    reanchor.extract(mask, image)
    assert reanchor.extract(mask, image, vanishing_hint=stuck).vanishing_point == stuck


def test_a_vanishing_point_many_frames_confirmed_outlasts_a_few_agreeing_others():
    """A stream whose first frames put the horizon 60 px higher (a wrong first estimate, or the
    camera pitched): the more frames confirmed it, the more agreeing estimates in a row it takes to
    move it, so one wrong first frame is undone after ``vanishing_reanchor_frames`` frames but a
    horizon held for a while does not give way to a few outliers."""
    mask, image = draw_road(THREE_LANES[1:3], far=40.0)
    shift = 60
    mask_up, image_up = np.roll(mask, -shift, axis=0), np.roll(image, -shift, axis=0)
    mask_up[-shift:], image_up[-shift:] = 0, image[-1]
    truth = LaneExtractor(CLASSES).extract(mask, image).vanishing_point
    assert truth is not None

    def stream(confirming_frames: int, later_frames: int) -> list[tuple[float, float] | None]:
        extractor = LaneExtractor(CLASSES, LaneSettings(vanishing_reanchor_frames=3))
        hint = extractor.extract(mask_up, image_up).vanishing_point
        for _ in range(confirming_frames):
            hint = extractor.extract(mask_up, image_up, vanishing_hint=hint).vanishing_point
        assert hint is not None and hint[1] < truth[1] - shift / 2
        points = []
        for _ in range(later_frames):
            hint = extractor.extract(mask, image, vanishing_hint=hint).vanishing_point
            points.append(hint)
        return points

    def at_truth(point: tuple[float, float] | None) -> bool:
        return point is not None and float(np.hypot(point[0] - truth[0], point[1] - truth[1])) < 1.0

    # the wrong first frame alone: the third agreeing frame moves it
    once = stream(0, 3)
    assert not at_truth(once[1]) and at_truth(once[2])
    # confirmed by 8 frames (9 with the first): three agreeing others are outliers, ten are a horizon
    held = stream(8, 10)
    assert not any(at_truth(point) for point in held[:9]) and at_truth(held[9])


def test_a_line_beyond_a_gap_wider_than_a_lane_is_named_past_the_lane_that_fits_there():
    # right of the ego lane the next line was missed (or a shoulder and median lie there): the line
    # 7 m beyond the ego-right line is two lanes out, not the right-1 boundary
    lines = [THREE_LANES[1], THREE_LANES[2], (-8.75, "solid", WHITE, 0.0)]
    mask, image = draw_road(lines)
    unchecked = LaneExtractor(CLASSES, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in unchecked.boundaries] == ["ego_left", "ego_right", "right_1"]
    settings = LaneSettings(max_lane_width_m=4.5)
    result = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
    assert [(b.position, b.position_index) for b in result.boundaries] == [
        ("ego_left", 1),
        ("ego_right", -1),
        ("right_2", -3),
    ]
    tracked = LaneTracker().update(result)
    assert sorted(b.position for b in tracked.boundaries) == ["ego_left", "ego_right", "right_2"]
    # lines a lane apart keep their names
    four = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(*draw_road(THREE_LANES))
    assert [b.position for b in four.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]


EGO_SOLID = [(1.75, "solid", WHITE, 0.0), (-1.75, "solid", WHITE, 0.0)]


def test_with_start_at_frame_edge_a_line_entering_at_a_nearer_corner_is_drawn_from_the_frame_edge():
    """Through a barrel lens (or a rolled camera) a bottom corner of the frame sees nearer ground than
    the bottom row's centre: a line whose nearest dash lies ahead is drawn back to the frame's edge,
    as it is labelled, not only to the centre's distance, which at its side lies above the edge."""
    lens = CameraModel(640, 360, 420.0, 420.0, 320.0, 180.0, CAMERA.mounting, (-0.3, 0.08, 0.0, 0.0, 0.0))
    mapper = GroundMapper.from_camera(lens)
    dashed = [(1.75, "dashed", WHITE, 0.0), (-1.75, "dashed", WHITE, 0.0)]
    mask, image = draw_road(dashed, near=3.0, mapper=mapper)  # dashes at 3-6 m, 12-15 m, ...
    settings = LaneSettings(start_at_frame_edge=True)
    result = LaneExtractor(CLASSES, settings, mapper=mapper).extract(mask, image)
    assert len(result.boundaries) == 2
    centre = float(mapper.to_ground(np.array([[SIZE[1] / 2.0, SIZE[0] - 1.0]]))[0][0, 0])
    for boundary in result.boundaries:
        u, v = boundary.image_points[0]
        assert v >= SIZE[0] - 1.5 or u <= 0.5 or u >= SIZE[1] - 1.5  # on the frame's edge
        assert boundary.plane_range[0] < centre - 0.1  # nearer than the centre column's bottom row


def test_at_a_junction_the_road_across_it_starts_at_its_paint():
    """With the stop line under the car and paint only beyond the junction, the boundaries are the
    road across it and begin at their paint, not drawn back through the junction to the car."""
    across, _ = draw_road(EGO_SOLID, near=9.0, transverse=3.2)
    plain, image = draw_road(EGO_SOLID, near=9.0)
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    at_junction, open_road = extractor.extract(across, image), extractor.extract(plain, image)
    assert at_junction.across_junction and not open_road.across_junction
    assert len(at_junction.boundaries) == len(open_road.boundaries) == 2
    assert all(b.plane_range[0] >= 8.5 for b in at_junction.boundaries)
    assert all(b.plane_range[0] < 4.0 for b in open_road.boundaries)  # paint far ahead, no junction


def test_a_stretch_of_road_without_any_lines_paint_is_an_unmarked_junction():
    """Both lines stop 12 m ahead and go on from 24 m (a crossing street, no stop line, no crosswalk):
    with unmarked_junction_m the boundaries end where the paint does, as at a marked junction; a hole
    in one line only (a missed stretch), or dash gaps that line up across lines, are no junction."""
    settings = LaneSettings(unmarked_junction_m=10.0, min_lane_width_m=2.2)
    unmarked = LaneExtractor(CLASSES, settings, mapper=MAPPER)
    plain = LaneExtractor(CLASSES, mapper=MAPPER)
    before, image = draw_road(EGO_SOLID, near=2.0, far=12.0)
    crossed = np.maximum(before, draw_road(EGO_SOLID, near=24.0)[0])
    result = unmarked.extract(crossed, image)
    assert not result.across_junction and len(result.boundaries) == 2
    assert all(b.plane_range[1] < 13.0 for b in result.boundaries)  # up to the junction, not across it
    off = plain.extract(crossed, image).boundaries
    assert len(off) == 2 and all(b.plane_range[1] > 40.0 for b in off)  # off: they run on
    one_hole = np.maximum(crossed, draw_road(EGO_SOLID[:1], near=2.0)[0])  # the left line is whole
    aligned_dashes = draw_road([(1.75, "dashed", WHITE, 0.0), (-1.75, "dashed", WHITE, 0.0)])[0]
    for mask in (one_hole, aligned_dashes):
        boundaries = unmarked.extract(mask, image).boundaries
        assert len(boundaries) == 2 and all(b.plane_range[1] > 40.0 for b in boundaries)
    # with less than at_junction_m of paint before it the car is at the junction: the road across it
    x_bottom = bottom_row_distance()
    stub = draw_road(EGO_SOLID, near=2.0, far=x_bottom + 0.5)[0]
    at_it = np.maximum(stub, draw_road(EGO_SOLID, near=x_bottom + 12.0)[0])
    result = unmarked.extract(at_it, image)
    assert result.across_junction and len(result.boundaries) == 2
    assert all(b.plane_range[0] > x_bottom + 11.0 for b in result.boundaries)


def test_unmarked_junction_m_needs_the_lane_width_it_checks_the_lines_by():
    with pytest.raises(ValueError, match="min_lane_width_m"):
        LaneSettings(unmarked_junction_m=10.0)
    with pytest.raises(ValueError, match="unmarked_junction_m"):
        LaneSettings(unmarked_junction_m=-1.0, min_lane_width_m=2.2)


def bottom_row_distance() -> float:
    """Metres ahead of the ground the bottom image row sees at the frame's centre column."""
    ground, _ = MAPPER.to_ground(np.array([[SIZE[1] / 2.0, SIZE[0] - 1.0]]))
    return float(ground[0, 0])


def test_a_stop_line_just_beyond_the_bottom_row_is_the_junction_the_car_is_at():
    """Paint before a stop line less than at_junction_m beyond the bottom row is no lane to steer by:
    the boundaries are of the road across it. Farther on, the lane before it is kept, up to it."""
    from seg_perception.postprocess.lanes import AT_JUNCTION_M

    x_bottom = bottom_row_distance()
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)

    def junction(stop_line_at: float) -> tuple[np.ndarray, np.ndarray]:
        """The lines up to a stop line, and on across the junction 8 m beyond it."""
        before, image = draw_road(EGO_SOLID, near=2.0, far=stop_line_at - 0.3, transverse=stop_line_at)
        return np.maximum(before, draw_road(EGO_SOLID, near=stop_line_at + 8.0)[0]), image

    near_stop = x_bottom + 0.6 * AT_JUNCTION_M
    result = extractor.extract(*junction(near_stop))
    assert result.across_junction and len(result.boundaries) == 2
    assert all(b.plane_range[0] > near_stop + 7.0 for b in result.boundaries)  # at the road across
    far_stop = x_bottom + 2.0 * AT_JUNCTION_M
    result = extractor.extract(*junction(far_stop))
    assert not result.across_junction and len(result.boundaries) == 2
    for boundary in result.boundaries:  # from the car up to the stop line
        assert boundary.plane_range[0] < x_bottom + 0.5 and boundary.plane_range[1] < far_stop + 0.2


def test_less_than_at_junction_m_of_paint_before_a_junction_is_no_lane_before_it():
    """With the stop line well ahead but only a stub of each line's paint before it (the end of a dash),
    the boundaries are of the road across the junction, as a labeller marks that frame's lanes."""
    from seg_perception.postprocess.lanes import AT_JUNCTION_M

    x_bottom = bottom_row_distance()
    stop_line_at = x_bottom + 3.0 * AT_JUNCTION_M
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)

    def junction(paint_before_m: float) -> tuple[np.ndarray, np.ndarray]:
        paint_ends = stop_line_at - 0.3
        before, image = draw_road(
            EGO_SOLID, near=paint_ends - paint_before_m, far=paint_ends, transverse=stop_line_at
        )
        return np.maximum(before, draw_road(EGO_SOLID, near=stop_line_at + 8.0)[0]), image

    stub = extractor.extract(*junction(0.6 * AT_JUNCTION_M))
    assert stub.across_junction and len(stub.boundaries) == 2
    assert all(b.plane_range[0] > stop_line_at + 7.0 for b in stub.boundaries)
    lane = extractor.extract(*junction(2.0 * AT_JUNCTION_M))
    assert not lane.across_junction and len(lane.boundaries) == 2
    assert all(b.plane_range[1] < stop_line_at + 0.2 for b in lane.boundaries)


def test_across_a_junction_every_boundary_starts_where_the_road_across_does():
    """Beyond the junction the solid line's paint starts where the road does; the dashed line's first
    dash lies metres on, but its boundary starts there too (as a labeller draws it)."""
    from seg_perception.postprocess.lanes import AT_JUNCTION_M

    stop_line_at = bottom_row_distance() + 0.5 * AT_JUNCTION_M  # the junction the car is at
    road_from = stop_line_at + 8.0
    lines = [(1.75, "dashed", WHITE, 3.0), (-1.75, "solid", WHITE, 0.0)]  # the first dash at road_from + 3
    result = LaneExtractor(CLASSES, mapper=MAPPER).extract(
        *draw_road(lines, near=road_from, transverse=stop_line_at)
    )
    assert result.across_junction
    dashed, solid = result.boundary_at("ego_left"), result.boundary_at("ego_right")
    assert dashed.line_type == "dashed" and dashed.painted_range[0] > road_from + 2.5
    assert abs(solid.plane_range[0] - road_from) < 0.5
    assert abs(dashed.plane_range[0] - solid.plane_range[0]) < 0.1


def test_a_short_solid_line_sets_where_the_road_across_a_junction_starts_only_past_its_minimum_span():
    """With type_min_span_m 5, 6 m of gapless paint is a solid line; across a junction, where every
    boundary starts at the nearest solid line's paint, it counts only with junction_solid_min_span_m
    of paint (default 10 m): how short a line is typed solid does not move where the road starts."""
    from seg_perception.postprocess.lanes import AT_JUNCTION_M

    stop_line_at = bottom_row_distance() + 0.5 * AT_JUNCTION_M  # the junction the car is at
    road_from = stop_line_at + 8.0
    dashed_mask, image = draw_road([(1.75, "dashed", WHITE, 3.0)], near=road_from, transverse=stop_line_at)
    solid_mask, _ = draw_road([(-1.75, "solid", WHITE, 0.0)], near=road_from, far=road_from + 6.0)
    mask = np.maximum(dashed_mask, solid_mask)

    def dashed_start(**values: float) -> float:
        result = LaneExtractor(CLASSES, LaneSettings(**values), mapper=MAPPER).extract(mask, image)
        assert result.across_junction and result.boundary_at("ego_right").line_type == "solid"
        return float(result.boundary_at("ego_left").plane_range[0])

    assert dashed_start(type_min_span_m=5.0) > road_from + 2.5  # at its own first dash
    assert abs(dashed_start(type_min_span_m=5.0, junction_solid_min_span_m=5.0) - road_from) < 0.5
    with pytest.raises(ValueError, match="junction_solid_min_span_m"):
        LaneSettings(junction_solid_min_span_m=-1.0)


def test_crossing_a_junction_boundaries_start_at_their_paint_until_it_reaches_the_car():
    """Once the stop line has left the frame the tracker's hint carries the crossing on; paint
    reaching the bottom rows ends it."""
    tracker = LaneTracker()
    extractor = LaneExtractor(CLASSES, mapper=MAPPER)
    entering, _ = draw_road(EGO_SOLID, near=9.0, transverse=3.2)
    crossing, image = draw_road(EGO_SOLID, near=7.0)
    reached, _ = draw_road(EGO_SOLID, near=2.0)
    tracker.update(extractor.extract(entering, image, junction_hint=tracker.across_junction))
    assert tracker.across_junction
    hinted = tracker.update(extractor.extract(crossing, image, junction_hint=tracker.across_junction))
    assert hinted.across_junction and all(b.plane_range[0] >= 6.5 for b in hinted.boundaries)
    unhinted = extractor.extract(crossing, image)  # a stream that never saw the junction
    assert not unhinted.across_junction and all(b.plane_range[0] < 4.0 for b in unhinted.boundaries)
    back_on_road = tracker.update(extractor.extract(reached, image, junction_hint=tracker.across_junction))
    assert not back_on_road.across_junction and not tracker.across_junction
    assert all(b.plane_range[0] < 4.0 for b in back_on_road.boundaries)


def test_a_dashed_line_whose_far_dashes_run_together_is_typed_from_its_near_paint():
    """Far away a mask runs a dashed line's dashes into one stripe; ``type_window_m`` types the line
    from its nearer paint, where the gaps show, and a solid line stays solid."""
    near_dashes, image = draw_road([(1.75, "dashed", WHITE, 0.0), (-1.75, "solid", WHITE, 0.0)], far=25.0)
    merged_far, _ = draw_road(
        [(1.75, "solid", WHITE, 0.0), (-1.75, "solid", WHITE, 0.0)], near=25.0, far=85.0
    )
    mask = np.maximum(near_dashes, merged_far)

    def types(settings):
        result = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
        return {b.position: b.line_type for b in result.boundaries}

    assert types(LaneSettings()) == {"ego_left": "solid", "ego_right": "solid"}  # the far stripe outweighs
    assert types(LaneSettings(type_window_m=30.0)) == {"ego_left": "dashed", "ego_right": "solid"}
    # a window shorter than a dash and its gap sees no gap: no dashes can be told there
    assert types(LaneSettings(type_window_m=2.0))["ego_left"] != "dashed"


def _blobs(mask, image, offset, distances, side_px=6):
    """Paint a far line as the model draws its far dashes: a square blob ``side_px`` wide at each dash
    centre (``offset`` metres left, ``distances`` ahead), which every sampled row cuts at its centre."""
    half = side_px // 2
    for u, v in np.round(MAPPER.to_image(np.column_stack([distances, np.full(len(distances), offset)]))):
        u, v = int(u), int(v)
        mask[v - half : v + half, u - half : u + half] = LANE
        image[v - half : v + half, u - half : u + half] = WHITE
    return mask, image


def test_a_far_line_drawn_as_blobs_is_a_line_with_blob_shift_ratio():
    # two lanes over on the right (-8.75 m) the line is blobs 6 px wide 16-34 m ahead, where it crosses
    # 6 columns per row: the rows cut each blob at its centre, the samples run along the camera's rays
    mask, image = draw_road(THREE_LANES[1:], far=45.0)
    mask, image = _blobs(mask, image, -8.75, np.arange(16.0, 35.0, 4.5))
    plain = LaneExtractor(CLASSES, LaneSettings(), mapper=MAPPER).extract(mask, image)
    assert [b.position for b in plain.boundaries] == ["ego_left", "ego_right", "right_1"]
    settings = LaneSettings(blob_shift_ratio=0.5)
    blobs = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in blobs.boundaries] == ["ego_left", "ego_right", "right_1", "right_2"]
    assert abs(float(blobs.boundary_at("right_2").lateral_at(25.0)) + 8.75) < 0.3
    for position, boundary in zip(("ego_left", "ego_right", "right_1"), plain.boundaries, strict=True):
        assert abs(float(blobs.boundary_at(position).lateral_at(10.0) - boundary.lateral_at(10.0))) < 0.02
    # one blob alone (a fleck of paint) stays no line
    mask, image = draw_road(THREE_LANES[1:], far=45.0)
    mask, image = _blobs(mask, image, -8.75, np.array([20.0]))
    alone = LaneExtractor(CLASSES, settings, mapper=MAPPER).extract(mask, image)
    assert [b.position for b in alone.boundaries] == ["ego_left", "ego_right", "right_1"]


def test_lines_beyond_the_farthest_position_are_not_published_nor_tracked_out():
    lines = [(offset, "solid", WHITE, 0.0) for offset in (8.75, 5.25, 1.75, -1.75, -5.25, -8.75)]
    mask, image = draw_road(lines, far=45.0)
    every = LaneExtractor(CLASSES, LaneSettings(), mapper=MAPPER).extract(mask, image)
    assert [b.position for b in every.boundaries] == [
        "left_2",
        "left_1",
        "ego_left",
        "ego_right",
        "right_1",
        "right_2",
    ]
    extractor = LaneExtractor(CLASSES, LaneSettings(farthest_position=1), mapper=MAPPER)
    near = extractor.extract(mask, image)
    assert [b.position for b in near.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]
    assert [b.id for b in near.boundaries] == [0, 1, 2, 3]
    assert near.ego_lane is not None and abs(near.ego_lane.width - 3.5) < 0.05
    # tracks of the outer lines from an earlier frame coast on; the tracker names them like the
    # extractor and holds back those beyond the farthest position too
    tracker = LaneTracker(TrackerSettings())
    assert len(tracker.update(every).boundaries) == 6
    tracked = tracker.update(near)
    assert [b.position for b in tracked.boundaries] == ["left_1", "ego_left", "ego_right", "right_1"]
    assert len(tracker.update(replace(near, farthest_position=0)).boundaries) == 6  # the coasting ones
