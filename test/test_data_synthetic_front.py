"""Front-camera generator: realism features, true camera, lane ground truth and label consistency."""

from __future__ import annotations

import itertools
import json
import warnings
from collections import Counter

import numpy as np
import pytest

from seg_perception.cli import main
from seg_perception.config import load_scenario
from seg_perception.data.lanes import (
    read_culane_lines,
    read_tusimple_labels,
    scene_lane_polylines,
    scene_tusimple_label,
)
from seg_perception.data.synthetic import generate_drive, generate_scene
from seg_perception.data.synthetic.camera import PinholeCamera
from seg_perception.data.synthetic.conditions import DARK_P
from seg_perception.data.synthetic.front import (
    FOLLOW_GAP_M,
    BarrierLook,
    LaneChange,
    Vehicle,
    render_front,
    sample_front_world,
)

SIZE = (144, 256)


def camera_from_meta(model: dict) -> PinholeCamera:
    return PinholeCamera(
        width=model["width"], height=model["height"], focal_px=model["K"][0], cx=model["K"][2],
        cy=model["K"][5], mount_height_m=model["mount_height_m"], pitch_rad=model["pitch_rad"],
        roll_rad=model["roll_rad"], k1=model["D"][0], k2=model["D"][1],
    )  # fmt: skip


def worlds(count: int, *, urban: bool = False):
    for seed in range(count):
        rng = np.random.default_rng([seed, 7])
        yield sample_front_world(rng, SIZE, urban=urban, duration_s=0.0, speed=20.0)


def test_realism_features_all_come_up():
    seen = Counter()
    for world in [*worlds(150), *worlds(80, urban=True)]:
        cond = world.conditions
        seen[cond.time] += 1
        seen[cond.weather] += 1
        seen["low_sun"] += cond.low_sun is not None
        seen["wet"] += cond.wet > 0
        seen["motion_blur"] += cond.motion_blur_px > 0
        seen["jpeg"] += cond.jpeg_quality > 0
        seen["hood"] += world.hood is not None
        seen["roll"] += abs(world.camera.roll_rad) > np.deg2rad(0.5)
        seen["distortion"] += world.camera.k1 < -0.05
        seen["truck"] += any(v.truck for v in world.vehicles)
        seen["yellow_car"] += any(v.color[2] > 200 and v.color[0] < 60 for v in world.vehicles)
        seen["white_car"] += any(min(v.color) > 220 for v in world.vehicles)
        seen["botts"] += any(line.style == "dots" for line in world.lines)
        seen["faded"] += any(line.fade < 0.7 for line in world.lines)
        seen["ghost"] += bool(world.ghosts)
        seen["seams"] += bool(world.seams)
        seen["concrete"] += world.joints > 0
        seen["snow_banks"] += bool(world.snow_banks)
        seen["street_lights"] += bool(world.street_lights)
        seen["kerbs"] += world.kerbs
        seen["barriers"] += bool(world.barriers)
    for feature in (
        "day",
        "dusk",
        "night",
        "rain",
        "snow",
        "overcast",
        "low_sun",
        "wet",
        "motion_blur",
        "jpeg",
        "hood",
        "roll",
        "distortion",
        "truck",
        "yellow_car",
        "white_car",
        "botts",
        "faded",
        "ghost",
        "seams",
        "concrete",
        "snow_banks",
        "street_lights",
        "kerbs",
        "barriers",
    ):
        assert seen[feature] >= 3, (feature, seen[feature])
    heights = [w.camera.mount_height_m for w in worlds(60)]
    assert min(heights) < 1.4 and max(heights) > 2.0


def test_same_seed_same_lanes_and_camera():
    a, b = (generate_scene("highway", 11, size=SIZE) for _ in range(2))
    assert a.meta == b.meta
    assert len(a.lanes) == len(b.lanes) > 0
    for la, lb in zip(a.lanes, b.lanes, strict=True):
        assert np.array_equal(la.image, lb.image) and np.array_equal(la.ground, lb.ground)
    model = a.meta["camera_model"]
    assert set(model) >= {"K", "D", "width", "height", "mount_height_m", "pitch_rad", "roll_rad", "yaw_rad"}
    assert model["distortion_model"] == "plumb_bob" and len(model["D"]) == 5
    assert {"time", "weather"} <= set(a.meta["conditions"])
    json.dumps(a.to_json())  # the ground truth is JSON-serialisable


@pytest.mark.parametrize("scenario", ["highway", "road"])
def test_lane_truth_follows_the_camera_and_the_paint(scenario):
    lane_id = load_scenario(scenario).classes.index("lane_marking")
    on_paint, checked = 0, 0
    for seed in range(12):
        sample = generate_scene(scenario, seed, size=SIZE)
        camera = camera_from_meta(sample.meta["camera_model"])
        near = np.zeros_like(sample.mask, bool)
        paint = sample.mask == lane_id
        for dy in (-2, -1, 0, 1, 2):
            for dx in (-2, -1, 0, 1, 2):
                near |= np.roll(paint, (dy, dx), axis=(0, 1))
        for lane in sample.lanes:
            # ground metres and image pixels agree through the reported camera
            # (but for points far outside the frame where the lens folds back: no position, NaN)
            projected = camera.project_output(lane.ground[:, 0], lane.ground[:, 1], 0.0)
            placed = np.isfinite(lane.image).all(axis=1)
            np.testing.assert_allclose(projected[placed], lane.image[placed], atol=1e-6)
            assert not lane.visible[~placed].any()
            assert lane.position != 0 and lane.color in ("white", "yellow")
            if lane.style not in ("solid", "double"):
                continue
            for (x, y), visible in zip(lane.image, lane.visible, strict=True):
                if visible and y > SIZE[0] * 0.6:
                    checked += 1
                    on_paint += bool(near[round(y), round(x)])
    assert checked > 30
    assert on_paint / checked > 0.9, on_paint / checked


def test_a_line_stays_one_line_where_the_lens_folds_back_beside_the_car():
    """Only junctions cut a line: a fold of the lens beside the car is no junction, so the line beyond
    it is not a second line (the lane scores took its unseen first piece for the line and left the
    line out)."""
    folded = 0
    for seed in range(20):
        sample = generate_scene("highway", seed, size=SIZE)  # highways have no junctions
        assert all(count == 1 for count in Counter(lane.lane_id for lane in sample.lanes).values())
        for lane in sample.lanes:
            unplaced = ~np.isfinite(lane.image).all(axis=1)
            folded += int(unplaced.sum())
            assert not lane.visible[unplaced].any()
    assert folded > 0  # some of these cameras' lenses fold beside the car


def test_the_preview_draws_a_folded_line_only_where_it_has_a_position():
    """A line whose near end has no image position (NaN) is drawn in pieces, not to a cast NaN: the
    preview showed a stray diagonal from the frame's top edge."""
    from seg_perception.data.cli import annotated

    sample = generate_scene("highway", 4, size=SIZE)
    assert any(not np.isfinite(lane.image).all() for lane in sample.lanes)
    colors = np.zeros((8, 3), np.uint8)  # a black mask panel
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN cast to int
        truth = annotated(sample, colors)[SIZE[0] :]
    horizon = int(np.ceil(camera_from_meta(sample.meta["camera_model"]).horizon_v))
    magenta = (truth[..., 0] > 0) & (truth[..., 1] == 0) & (truth[..., 2] > 0)
    assert magenta[horizon + 2 :].any()  # the lines are drawn, on the road
    assert not magenta[: max(horizon - 1, 0)].any()  # and nothing of them above the horizon


def test_ego_boundaries_are_numbered_from_the_car_out():
    for seed in range(6):
        sample = generate_scene("highway", seed, size=SIZE)
        x_at_car = {}
        for lane in sample.lanes:
            x_at_car.setdefault(lane.position, lane.ground[0, 0])
        lefts = sorted(p for p in x_at_car if p < 0)
        rights = sorted(p for p in x_at_car if p > 0)
        assert all(x_at_car[p] < 0 for p in lefts) and all(x_at_car[p] >= 0 for p in rights)
        assert all(x_at_car[a] < x_at_car[b] for a, b in itertools.pairwise(lefts))
        assert all(x_at_car[a] < x_at_car[b] for a, b in itertools.pairwise(rights))


def test_lights_and_cars_that_look_like_paint_are_background():
    roles = load_scenario("highway").roles
    lit = 0
    for seed in range(40):
        rng = np.random.default_rng([seed, 3])
        world = sample_front_world(rng, SIZE, urban=seed % 2 == 0, duration_s=0.0, speed=20.0)
        if world.conditions.time != "night":
            continue
        frame = render_front(world, roles, time_s=0.0, rng=np.random.default_rng(seed))
        lit += int(frame.lights.sum())
        assert not (frame.mask[frame.lights] > 0).any()
    assert lit > 50
    # a yellow car right ahead in the ego lane: its pixels are yellow and background
    world = sample_front_world(np.random.default_rng(5), SIZE, urban=False, duration_s=0.0, speed=20.0)
    yellow = (0, 200, 240)
    world.vehicles = [
        Vehicle(t=0.0, s0=9.0, speed=world.speed, width=1.9, height=1.6, length=4.5, color=yellow)
    ]
    world.hood = None
    frame = render_front(world, roles, time_s=0.0, rng=np.random.default_rng(0))
    x_c = float(world.centre_x(np.array([9.0]))[0])
    box = world.camera.project_output(
        np.array([x_c - 0.8, x_c + 0.8]), np.array([9.0, 9.0]), np.array([0.4, 0.8])
    )
    (u0, v1), (u1, v0) = np.round(box).astype(int)
    assert frame.mask[v0:v1, u0:u1].size > 10 and (frame.mask[v0:v1, u0:u1] == 0).all()


def test_a_slower_vehicle_in_the_ego_lane_is_followed_not_driven_through():
    """The ego car used to close on a slower vehicle in its lane and pass through it (the vehicle
    vanished between two frames of a drive); it now follows at the gap the vehicle started at, at
    most FOLLOW_GAP_M. A slower vehicle in the next lane is still overtaken."""
    speed = 25.0
    red = (0, 0, 200)

    def vehicle(t: float, s0: float) -> Vehicle:
        return Vehicle(t=t, s0=s0, speed=0.7 * speed, width=1.8, height=1.5, length=4.5, color=red)

    ahead, near, beside = vehicle(0.2, 40.0), vehicle(-0.3, 8.0), vehicle(3.6, 40.0)
    gaps = np.array([ahead.distance_ahead(t, speed) for t in np.arange(0.0, 20.0, 0.1)])
    assert gaps[0] == 40.0 and (np.diff(gaps) <= 0).all()
    assert gaps.min() == pytest.approx(FOLLOW_GAP_M)
    assert {near.distance_ahead(t, speed) for t in (0.0, 5.0, 20.0)} == {8.0}
    assert beside.distance_ahead(20.0, speed) < 0.0
    # drawn: after 10 s the vehicle ahead is still in the picture, the one beside is gone
    roles = load_scenario("highway").roles
    world = sample_front_world(np.random.default_rng(5), SIZE, urban=False, duration_s=20.0, speed=speed)
    world.hood = None

    def changed_pixels(vehicles: list[Vehicle]) -> int:
        world.vehicles = []
        empty = render_front(world, roles, time_s=10.0, rng=np.random.default_rng(0)).image
        world.vehicles = vehicles
        drawn = render_front(world, roles, time_s=10.0, rng=np.random.default_rng(0)).image
        return int((np.abs(drawn.astype(int) - empty.astype(int)).max(axis=2) > 30).sum())

    assert changed_pixels([ahead]) > 50
    assert changed_pixels([beside]) == 0


def test_a_drive_can_change_lanes_with_the_world_unchanged():
    """With lane_change_p the car moves into a next lane of its direction over 3-6 s, heading across
    the road as it goes; the world (road, lines, traffic, light) is the one the seed gives without
    it, and at 0 the drive is the one it was."""
    change = LaneChange(start_s=1.0, duration_s=4.0, offset_m=-3.5)
    assert change.lateral_m(0.5) == 0.0 and change.lateral_m(9.0) == -3.5
    assert change.lateral_m(3.0) == pytest.approx(-1.75)
    assert change.lateral_speed(3.0) == pytest.approx(-3.5 * np.pi / 8.0) and change.lateral_speed(6.0) == 0.0
    size, frames = (144, 256), 200  # 6.6 s: the longest change fits (a shorter drive holds part of one)
    plain = list(generate_drive("highway", 31, frames, size=size, lane_change_p=0.0))
    default = generate_drive("highway", 31, frames, size=size)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(plain, default, strict=True))
    changing = list(generate_drive("highway", 31, frames, size=size, lane_change_p=1.0))
    meta = changing[0].meta["lane_change"]
    assert "lane_change" not in plain[0].meta
    assert 3.0 <= meta["duration_s"] <= 6.0 and 3.3 <= abs(meta["offset_m"]) <= 3.8
    assert meta["start_s"] + meta["duration_s"] <= (frames - 1) / 30.0 + 1e-9
    assert meta["start_s"] > 0.0  # this seed's change starts after the first frame, which is as without it
    assert np.array_equal(changing[0].image, plain[0].image)
    # the lines' offsets at the car moved by the step, the other way
    first, last = (
        {lane.lane_id: lane.ground[0][0] for lane in sample.lanes} for sample in (changing[0], changing[-1])
    )
    common = sorted(set(first) & set(last))
    assert common
    weave = 0.25 * 2
    for lane_id in common:
        assert abs(last[lane_id] - first[lane_id] + meta["offset_m"]) < weave + 0.5


def test_barrier_edges_that_look_like_paint_are_background():
    """A concrete barrier's sunlit top is a bright strip above its darker face, drawn where the
    look puts it, and labelled background; every look comes up over a few worlds."""
    looks = [look for world in worlds(150) for look in world.barrier_looks]
    assert any(look.top_width > 0 for look in looks) and any(look.ridge_shade > 0 for look in looks)
    assert any(look.foot_height > 0 for look in looks) and any(look.offset > 0 for look in looks)
    roles = load_scenario("highway").roles
    world = next(
        w for w in worlds(60) if w.conditions.time == "day" and w.hood is None and w.road_left > -5.0
    )
    world.vehicles, world.trees, world.street_lights, world.snow_banks = [], [], [], []
    t = world.road_left - 0.6
    world.barriers = [(t, "concrete")]
    world.barrier_looks = [BarrierLook(height=1.0, offset=1.0, face_shade=0.6, top_width=0.4, top_shade=1.6)]
    frame = render_front(world, roles, time_s=0.0, rng=np.random.default_rng(0))

    def pixel(lateral: float, z: float) -> tuple[int, int]:
        s = np.array([12.0])
        u, v = np.round(world.camera.project_output(world.centre_x(s) + lateral, s, np.array([z])))[0]
        return int(v), int(u)

    top, face = pixel(t - 1.2, 1.0), pixel(t - 1.0, 0.5)  # 1 m further out than t, the top 0.4 m wide
    assert frame.mask[top] == 0 and frame.mask[face] == 0
    assert frame.image[top].mean() > frame.image[face].mean() + 30


def test_barrier_looks_leave_the_rest_of_a_seed_alone(monkeypatch):
    """The looks are drawn after everything else: with looks that draw nothing, every other part of
    a seed's world is the same."""
    from seg_perception.data.synthetic import front

    def summary(world):
        return (
            [(line.t, line.style, line.phase, line.fade) for line in world.lines],
            [(v.t, v.s0, v.color) for v in world.vehicles],
            world.camera.to_json(),
            world.conditions.describe(),
            world.trees,
            world.barriers,
            (world.curvature, world.yaw, world.ego_offset, world.joints, world.kerbs, world.grass_grain),
        )

    drawn = [list(worlds(12)), list(worlds(12, urban=True))]
    assert sum(len(world.barrier_looks) for world in drawn[0]) > 0
    monkeypatch.setattr(front, "sample_barrier_look", lambda rng, kind: BarrierLook())
    fixed = [list(worlds(12)), list(worlds(12, urban=True))]
    for ours, theirs in zip(drawn[0] + drawn[1], fixed[0] + fixed[1], strict=True):
        assert summary(ours) == summary(theirs)
        assert len(ours.barrier_looks) == len(ours.barriers)


def test_barrier_share_is_a_knob_that_leaves_the_default_alone():
    """At ``barrier_p`` 1 every highway has a barrier on both sides, at 0 none; the default draws
    some roads without."""

    def barriers(**kwargs):
        return [
            sample_front_world(
                np.random.default_rng([seed, 7]), SIZE, urban=False, duration_s=0.0, speed=20.0, **kwargs
            ).barriers
            for seed in range(30)
        ]

    assert all(len(b) == 2 for b in barriers(barrier_p=1.0))
    assert not any(barriers(barrier_p=0.0))
    assert barriers() != barriers(barrier_p=1.0)


def test_dark_share_is_a_knob_that_leaves_every_other_look_alone():
    """At ``dark_p`` 1 every drive is at dusk or night, at 0 none; the default, passed or not, keeps
    each seed's drive as it was."""

    def worlds(**kwargs):
        return [
            sample_front_world(
                np.random.default_rng([seed, 7]), SIZE, urban=False, duration_s=0.0, speed=20.0, **kwargs
            )
            for seed in range(40)
        ]

    default, dark, light = worlds(), worlds(dark_p=1.0), worlds(dark_p=0.0)
    assert all(world.conditions.dark for world in dark)
    assert not any(world.conditions.dark for world in light)
    assert any(world.conditions.dark for world in default) and not all(w.conditions.dark for w in default)
    for passed, plain in zip(worlds(dark_p=DARK_P), default, strict=True):
        assert passed.conditions == plain.conditions
        assert [line.t for line in passed.lines] == [line.t for line in plain.lines]


def test_urban_scenes_can_be_highways_and_stay_as_they_were_by_default():
    """``highway_p`` 1 turns every urban scene into a highway (no crosswalk, the road's classes); the
    default leaves every seed's urban scene exactly as before (no extra random draw)."""
    from seg_perception.config import load_scenario
    from seg_perception.data.synthetic import generate_scene

    crosswalk = load_scenario("road").classes.names.index("crosswalk")
    urban = [generate_scene("road", seed, size=(96, 192)) for seed in range(6)]
    highway = [generate_scene("road", seed, size=(96, 192), highway_p=1.0) for seed in range(6)]
    assert any((sample.mask == crosswalk).any() for sample in urban)
    assert not any((sample.mask == crosswalk).any() for sample in highway)
    # the draw itself shifts the random stream (a tiny share changes the scene although it stays urban),
    # so the default (0) must skip it to leave every seed as it was
    drawn = generate_scene("road", 3, size=(96, 192), highway_p=1e-9)
    assert not np.array_equal(drawn.image, urban[3].image)


def test_drive_keeps_lane_ids():
    frames = list(generate_drive("highway", 3, 5, size=SIZE))
    ids = [sorted({lane.lane_id for lane in f.lanes}) for f in frames]
    assert ids[0] and all(i == ids[0] for i in ids)


def test_scene_tusimple_label_and_cli(tmp_path, capsys):
    sample = generate_scene("highway", 4, size=SIZE)
    label = scene_tusimple_label(sample, "images/x.png")
    assert label.lanes and all(len(lane) == len(label.h_samples) for lane in label.lanes)
    assert label.h_samples[-1] <= SIZE[0] - 1 and label.h_samples == sorted(label.h_samples)
    out = tmp_path / "gen"
    code = main(["generate", "--scenario", "highway", "--count", "3", "--seed", "4", "--out", str(out),
                 "--size", f"{SIZE[0]}x{SIZE[1]}", "--tusimple", "--culane", "--no-preview"])  # fmt: skip
    assert code == 0
    labels = read_tusimple_labels(out / "tusimple.json")
    assert len(labels) == 3 and all((out / lab.raw_file).is_file() for lab in labels)
    assert labels[0].lanes == label.lanes
    assert len(list((out / "images").glob("*.lines.txt"))) == 3
    assert main(["generate", "--scenario", "parking", "--count", "1", "--out", str(out), "--tusimple"]) != 0
    assert "front-camera scenario" in capsys.readouterr().err


def test_generate_drive_at_a_given_frame_rate(tmp_path, capsys):
    """--fps sets the time between a drive's frames (TuSimple's clips: 20 a second)."""
    size = f"{SIZE[0]}x{SIZE[1]}"
    out = tmp_path / "clip"
    code = main(["generate", "--scenario", "highway", "--drive", "--count", "3", "--seed", "5",
                 "--size", size, "--fps", "20", "--no-preview", "--out", str(out)])  # fmt: skip
    assert code == 0
    times = [
        json.loads(path.read_text())["meta"]["time_s"] for path in sorted((out / "polygons").glob("*.json"))
    ]
    assert times == pytest.approx([0.0, 0.05, 0.1])
    assert (
        main(["generate", "--scenario", "highway", "--drive", "--fps", "0", "--out", str(tmp_path / "x")])
        != 0
    )
    assert "--fps" in capsys.readouterr().err


def test_generated_lane_labels_hold_the_lines_the_benchmarks_label(tmp_path):
    """TuSimple and CULane label the ego lane's lines and the next one out on each side; so do the
    generator's labels by default, and every line in sight with --lanes-per-side 0."""
    sample = generate_scene("highway", 1, size=SIZE)  # six lines in sight: positions -2 .. +4
    assert sorted(lane.position for lane in sample.lanes if lane.in_sight) == [-2, -1, 1, 2, 3, 4]
    every = scene_lane_polylines(sample)
    nearest = scene_lane_polylines(sample, lanes_per_side=2)
    assert len(every) == 6 and len(nearest) == 4
    assert all(any(np.array_equal(line, kept) for kept in every) for line in nearest)
    for options, lines in (([], 4), (["--lanes-per-side", "0"], 6)):
        out = tmp_path / f"gen{len(options)}"
        size = f"{SIZE[0]}x{SIZE[1]}"
        code = main(["generate", "--scenario", "highway", "--count", "1", "--seed", "1", "--out", str(out),
                     "--size", size, "--tusimple", "--culane", "--no-preview", *options])  # fmt: skip
        assert code == 0
        [label] = read_tusimple_labels(out / "tusimple.json")
        assert len(label.lanes) == lines
        assert len(read_culane_lines(next((out / "images").glob("*.lines.txt")))) == lines
    assert main(["generate", "--scenario", "highway", "--count", "1", "--out", str(tmp_path / "bad"),
                 "--tusimple", "--lanes-per-side", "-1"]) != 0  # fmt: skip


@pytest.mark.parametrize("size", [(144, 256), (540, 960)])
def test_lens_warp_and_point_projection_agree(size):
    """The image warp (output -> rendered pixels) inverts the point projection to a fraction of a pixel."""
    rng = np.random.default_rng(9)
    checked = 0
    for _ in range(25):
        camera = PinholeCamera.sample(rng, size, lens=True)
        if not camera.has_lens:
            continue
        map_x, map_y = camera.lens_maps()
        back = camera.to_output(np.stack([map_x.ravel(), map_y.ravel()], axis=1))
        grid_x, grid_y = np.meshgrid(np.arange(size[1]), np.arange(size[0]))
        error = np.hypot(back[:, 0] - grid_x.ravel(), back[:, 1] - grid_y.ravel())
        assert error.max() < 0.3, (camera, error.max())
        assert (map_x >= -0.5).all() and (map_x <= size[1] - 0.5).all()  # every output pixel has a source
        checked += 1
    assert checked >= 10


def test_botts_dots_share_is_a_knob_that_leaves_other_seeds_alone():
    """``botts_dots_p`` decides with the same random draw as before: at the default every seed is
    the scene it was, at 1 every highway has dots on its inner lines, at 0 none has."""
    styles = {}
    for share in (0.0, None, 1.0):
        kwargs = {} if share is None else {"botts_dots_p": share}
        styles[share] = [
            {line.style for line in sample_front_world(
                np.random.default_rng([seed, 7]), SIZE, urban=False, duration_s=0.0, speed=20.0, **kwargs
            ).lines}
            for seed in range(40)
        ]  # fmt: skip
    assert not any("dots" in s for s in styles[0.0])
    with_dots = sum("dots" in s for s in styles[1.0])
    assert with_dots >= 30  # inner lines are dots at 85 %: nearly every road shows some
    assert 0 < sum("dots" in s for s in styles[None]) < with_dots
    # the knob moves no random draw: a seed whose road has no dots draws the same scene at share 0,
    # and only seeds whose road has dots change
    from seg_perception.data.synthetic.scenes import DRIVE_SPEED

    dotted_seeds = []
    for seed in range(30):
        world = sample_front_world(
            np.random.default_rng([seed, *SIZE]),
            SIZE,
            urban=False,
            duration_s=0.0,
            speed=DRIVE_SPEED["highway"],
        )
        has_dots = any(line.style == "dots" for line in world.lines)
        plain = generate_scene("highway", seed, size=SIZE).image
        assert (
            np.array_equal(plain, generate_scene("highway", seed, size=SIZE, botts_dots_p=0.0).image)
            != has_dots
        )
        dotted_seeds += [seed] if has_dots else []
    assert 0 < len(dotted_seeds) < 30
    urban = generate_scene("road", 3, size=SIZE)  # city streets never get them
    assert np.array_equal(urban.image, generate_scene("road", 3, size=SIZE, botts_dots_p=1.0).image)
