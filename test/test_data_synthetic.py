"""Synthetic scenes: determinism, label/polygon consistency, slots, sizes and drives."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from seg_perception.config import load_scenario
from seg_perception.data.synthetic import generate_drive, generate_scene, rasterize_polygons
from seg_perception.errors import ConfigError

SIZES = {"highway": (96, 192), "road": (96, 192), "parking": (128, 128)}


@pytest.mark.parametrize("scenario", ["highway", "road", "parking"])
def test_same_seed_same_bytes_and_other_seed_differs(scenario):
    size = SIZES[scenario]
    first, again, other = (generate_scene(scenario, s, size=size) for s in (3, 3, 4))
    assert first.image.tobytes() == again.image.tobytes()
    assert first.mask.tobytes() == again.mask.tobytes()
    assert first.image.tobytes() != other.image.tobytes()
    assert first.image.shape == (*size, 3) and first.image.dtype == np.uint8
    assert first.mask.shape == size and first.mask.dtype == np.uint8


@pytest.mark.parametrize("scenario", ["highway", "road", "parking"])
def test_masks_hold_valid_ids_and_every_foreground_class_appears(scenario):
    classes = load_scenario(scenario).classes
    seen: set[int] = set()
    size = (128, 256) if scenario != "parking" else (128, 128)
    for seed in range(8):
        mask = generate_scene(scenario, seed, size=size).mask
        values = set(np.unique(mask).tolist())
        assert values <= set(range(classes.num_classes))
        seen |= values
    assert seen == set(range(classes.num_classes))


@pytest.mark.parametrize("scenario", ["highway", "road", "parking"])
def test_polygons_reproduce_the_mask(scenario):
    classes = load_scenario(scenario).classes
    for seed in range(3):
        sample = generate_scene(scenario, seed, size=SIZES[scenario])
        redrawn = rasterize_polygons(sample.polygons, sample.mask.shape)
        ids = [p.instance_id for p in sample.polygons]
        assert len(ids) == len(set(ids))
        for class_id in range(1, classes.num_classes):
            truth, drawn = sample.mask == class_id, redrawn == class_id
            if truth.sum() < 50:
                continue
            iou = (truth & drawn).sum() / (truth | drawn).sum()
            assert iou > 0.9, (scenario, seed, classes.names[class_id], iou)
        assert all(p.class_name == classes.names[p.class_id] for p in sample.polygons)


def test_parking_slots_sit_on_lines_and_free_slots_are_labelled():
    classes = load_scenario("parking").classes
    line_id, free_id = classes.index("slot_line"), classes.index("free_slot")
    on_line, corners_checked, free_checked, occupied_checked, hidden = 0, 0, 0, 0, 0
    for seed in range(8):
        sample = generate_scene("parking", seed, size=(256, 256))
        h, w = sample.mask.shape
        near_line = np.zeros_like(sample.mask, bool)
        lines = sample.mask == line_id
        for dy, dx in itertools.product((-1, 0, 1), repeat=2):
            near_line |= np.roll(lines, (dy, dx), axis=(0, 1))
        origin = np.array(sample.meta["origin_px"])
        marks = np.array([m.position for m in sample.marking_points]).reshape(-1, 2)
        for slot in sample.slots:
            assert slot.corners.shape == (4, 2)
            assert slot.extra["type"] in {"perpendicular", "parallel", "angled"}
            assert slot.extra["occupied"] is (not slot.free)
            entrance_mid = slot.corners[:2].mean(axis=0)
            back_mid = slot.corners[2:].mean(axis=0)
            # the entrance faces the aisle, where the ego car drives
            assert abs(entrance_mid[0] - origin[0]) < abs(back_mid[0] - origin[0]) + 1e-3
            for corner in slot.corners[:2]:
                # every entrance corner is a marking point; paint is there unless something hides it
                distances = np.linalg.norm(marks - corner, axis=1)
                assert distances.size and distances.min() < 0.5
                mark = sample.marking_points[int(distances.argmin())]
                if slot.extra["markings"] == "platform":
                    continue  # a stacked garage's slot corner is a platform corner, not paint
                if mark.occluded:
                    hidden += 1
                    assert sample.mask[round(float(corner[1])), round(float(corner[0]))] == 0
                    continue
                corners_checked += 1
                on_line += bool(near_line[round(float(corner[1])), round(float(corner[0]))])
            quad = rasterize_polygons([_poly(slot.corners)], (h, w)) > 0
            if quad.sum() < 50:
                continue
            free_share = (sample.mask[quad] == free_id).mean()
            if slot.free:
                free_checked += 1
                assert free_share > 0.3, free_share
            else:
                occupied_checked += 1
                assert free_share < 0.05, free_share
    assert corners_checked > 10 and free_checked > 3 and occupied_checked > 2
    assert on_line / corners_checked > 0.9


def test_marking_points_point_into_their_slots_and_have_a_shape():
    for seed in range(6):
        sample = generate_scene("parking", seed, size=(256, 256))
        h, w = sample.mask.shape
        for mark in sample.marking_points:
            assert mark.shape in {"T", "L", "I"}
            assert 0 <= mark.position[0] <= w - 1 and 0 <= mark.position[1] <= h - 1
        for slot in sample.slots:
            if slot.extra["type"] == "parallel":
                continue  # its separating lines run along the short side, not the slot axis
            if slot.extra["type"] == "angled" and sample.meta["avm_style"]["curve_radius_m"]:
                continue  # on a curved aisle a leaning line bends: its chord is not its start
            for corner, back in ((slot.corners[0], slot.corners[3]), (slot.corners[1], slot.corners[2])):
                axis = (back - corner) / np.linalg.norm(back - corner)  # its own separating line
                mark = min(sample.marking_points, key=lambda m: np.linalg.norm(m.position - corner))
                direction = np.array([np.cos(mark.direction), np.sin(mark.direction)])
                assert direction @ axis > 0.99


def _poly(points):
    from seg_perception.geometry import Polygon

    return Polygon(class_id=1, class_name="slot", points=np.asarray(points, np.float32))


def test_avm_meta_scales_with_size():
    small = generate_scene("parking", 0, size=(160, 160)).meta
    default = generate_scene("parking", 0, size=(640, 640)).meta
    assert default["metres_per_pixel"] == pytest.approx(0.02)
    assert small["metres_per_pixel"] == pytest.approx(0.08)
    assert small["origin_px"] == pytest.approx([80.0, 80.0 + 1.35 / 0.08])  # the car centred
    assert default["scenario"] == "parking" and default["camera"] == "avm" and default["seed"] == 0


@pytest.mark.parametrize("size", [(64, 96), (37, 53), (90, 90)])
@pytest.mark.parametrize("scenario", ["highway", "road", "parking"])
def test_odd_sizes(scenario, size):
    sample = generate_scene(scenario, 1, size=size)
    assert sample.image.shape == (*size, 3)
    assert sample.mask.shape == size


def test_default_size_comes_from_config():
    cfg = load_scenario("parking")
    assert generate_scene("parking", 0).mask.shape == cfg.image_size()


@pytest.mark.parametrize("scenario", ["highway", "road", "parking"])
def test_drive_frames_are_coherent(scenario):
    size = SIZES[scenario]
    frames = list(generate_drive(scenario, 5, 4, size=size))
    assert [f.meta["frame"] for f in frames] == [0, 1, 2, 3]
    other = generate_scene(scenario, 99, size=size)
    for a, b in itertools.pairwise(frames):
        step = np.abs(a.image.astype(int) - b.image.astype(int)).mean()
        jump = np.abs(a.image.astype(int) - other.image.astype(int)).mean()
        assert 0 < step < jump
    assert any(a.mask.tobytes() != b.mask.tobytes() for a, b in itertools.pairwise(frames))
    again = list(generate_drive(scenario, 5, 4, size=size))
    assert all(a.image.tobytes() == b.image.tobytes() for a, b in zip(frames, again, strict=True))


def test_class_ids_follow_the_config(tmp_path):
    text = (load_scenario("road").path).read_text()
    text = text.replace("[background, lane_marking, crosswalk]", "[background, crosswalk, lane_marking]")
    path = tmp_path / "swapped.yaml"
    path.write_text(text)
    swapped = load_scenario(str(path))
    original = load_scenario("road")
    for seed in range(4):
        a = generate_scene(original, seed, size=(96, 192)).mask
        b = generate_scene(swapped, seed, size=(96, 192)).mask
        assert np.array_equal(a == 1, b == 2) and np.array_equal(a == 2, b == 1)


def test_avm_metres_per_pixel_can_vary_per_seed():
    scenes = [
        generate_scene("parking", seed, size=(96, 96), metres_per_pixel=(0.01, 0.03)) for seed in range(12)
    ]
    scales = [s.meta["metres_per_pixel"] for s in scenes]
    assert all(0.01 <= v <= 0.03 for v in scales)
    assert max(scales) - min(scales) > 0.008
    again = generate_scene("parking", 3, size=(96, 96), metres_per_pixel=(0.01, 0.03))
    assert again.image.tobytes() == scenes[3].image.tobytes()
    fixed = generate_scene("parking", 3, size=(96, 96), metres_per_pixel=0.015)
    assert fixed.meta["metres_per_pixel"] == pytest.approx(0.015)
    assert fixed.meta["origin_px"] == pytest.approx([48.0, 48.0 + 1.35 / 0.015])  # the car centred
    with pytest.raises(ConfigError):
        generate_scene("parking", 3, size=(96, 96), metres_per_pixel=(0.03, 0.01))
    with pytest.raises(ConfigError):
        generate_scene("parking", 3, size=(96, 96), metres_per_pixel=0.0)


def test_avm_realism_features_all_switch_on():
    grounds, paints, line_styles, shapes, objects = set(), set(), set(), set(), set()
    indoor = set()
    occluded = 0
    for seed in range(60):
        sample = generate_scene("parking", seed, size=(160, 160), metres_per_pixel=(0.04, 0.06))
        style = sample.meta["avm_style"]
        indoor.add(style["indoor"])
        grounds.add(style["ground"])
        paints.add(style["paint"])
        line_styles |= {row["lines"] for row in style["rows"]}
        objects |= set(style["objects"])
        shapes |= {m.shape for m in sample.marking_points}
        occluded += sum(m.occluded for m in sample.marking_points)
    assert indoor == {True, False}
    assert {"asphalt", "concrete", "brick", "grass_pavers"} <= grounds and grounds & {"painted", "epoxy"}
    assert {"white", "yellow"} <= paints
    assert {"solid", "dashed", "double", "ticks", "platforms"} <= line_styles
    assert shapes == {"T", "L", "I"}
    assert {"car", "wheel", "pillar", "wall", "kerb", "person", "platform"} <= objects


def test_avm_objects_are_smeared_away_from_the_ego_car():
    """What stands above the ground covers more image than its footprint, outward, and hides labels."""
    from seg_perception.data.synthetic import avm_objects

    camera = np.array([0.0, 0.0])
    footprint = avm_objects.rectangle(np.array([3.0, 0.0]), np.array([0.0, 1.0]), 4.5, 1.8)
    bands = [avm_objects.Band(0.0, 0.5, (1, 1, 1)), avm_objects.Band(0.5, 1.5, (2, 2, 2))]
    polygons = avm_objects.project_bands(footprint, camera, 1.0, bands)
    outline = polygons[0][0]
    assert outline[:, 0].min() == pytest.approx(2.1)  # starts at the near face
    assert outline[:, 0].max() > 50.0  # the roof is above the camera: it runs out of any view
    lower = polygons[1][0]
    assert lower[:, 0].max() == pytest.approx(2 * 2.1)  # 0.5 m high seen from 1 m: twice as far


def test_avm_side_views_keep_a_strip_beside_the_car():
    sides = set()
    for seed in range(60):
        sample = generate_scene("parking", seed, size=(160, 160), side_view_p=0.5)
        view = sample.meta["avm_style"]["view"]
        if view == "full":
            continue
        sides.add(view)
        kept = np.flatnonzero(sample.image.any(axis=(0, 2)))
        lo, hi = kept.min(), kept.max()
        assert hi - lo < 120  # a strip, not the whole view
        assert not sample.image[:, :lo].any() and not sample.image[:, hi + 1 :].any()
        assert not sample.mask[:, :lo].any() and not sample.mask[:, hi + 1 :].any()
        origin_x = sample.meta["origin_px"][0]
        assert (lo > origin_x - 10) if view == "right" else (hi < origin_x + 10)
        for mark in sample.marking_points:
            assert lo <= mark.position[0] <= hi
        for slot in sample.slots:
            assert (slot.corners[:2, 0] >= lo).all() and (slot.corners[:2, 0] <= hi + 1).all()
    assert sides == {"left", "right"}
    full = [
        generate_scene("parking", s, size=(96, 96), side_view_p=0.0).meta["avm_style"]["view"]
        for s in range(20)
    ]
    assert set(full) == {"full"}


def _parking_world(seed, size=(160, 160), mpp=0.04):
    from seg_perception.data.synthetic.avm import sample_parking_world

    rng = np.random.default_rng(seed)
    return sample_parking_world(
        rng, size, metres_per_pixel=mpp, origin_px=(size[1] / 2, size[0] / 2), duration_s=0.0, speed=0.0
    )


def test_avm_paint_looks_vary_and_are_recorded():
    """Faint paint, soft edges and walkway bands each appear in some lots and not in others."""
    faint, soft, walkways, crossing, streaks = set(), set(), set(), set(), set()
    for seed in range(40):
        world = _parking_world(seed)
        look = world.style["paint_look"]
        faint.add(look["faint"])
        soft.add(look["soft_sigma_m"] > 0)
        walkways.add(bool(look["walkways"]))
        crossing.add(bool(look["crossing_lines"]))
        streaks.add(look["light_streaks"] > 0)
        # separating lines run on only across a band drawn on that side
        assert set(look["crossing_lines"]) <= {band["side"] for band in look["walkways"]}
        if look["light_streaks"]:
            assert world.reflections is not None
        assert (world.paint_soft_px > 0) == (look["soft_sigma_m"] > 0)
        if look["faint"]:  # faint paint never reaches full strength
            assert world.wear.max() <= 0.75 + 1e-6
            assert world.wear.min() >= 0.15 - 1e-6
    assert faint == soft == walkways == crossing == streaks == {True, False}


def test_avm_soft_paint_spreads_the_lines_but_not_their_labels():
    from seg_perception.data.synthetic.avm import render_parking

    config = load_scenario("parking")
    world = next(
        w
        for w in (_parking_world(seed) for seed in range(100))
        if w.style["paint_look"]["soft_sigma_m"] > 0 and not w.style["paint_look"]["faint"]
    )
    world.reflections = None
    soft_px = world.paint_soft_px
    renders = {}
    for name, sigma in (("hard", 0.0), ("soft", max(soft_px, 1.5))):
        world.paint_soft_px = sigma
        renders[name] = render_parking(world, config.roles, time_s=0.0, rng=np.random.default_rng(0))
    hard_image, hard_mask = renders["hard"][:2]
    soft_image, soft_mask = renders["soft"][:2]
    np.testing.assert_array_equal(hard_mask, soft_mask)  # labels are the painted polygons
    line = hard_mask == config.roles.require("slot_line")
    assert line.any()
    # a blurred line: the gradient across its edges is weaker than the hard-edged line's
    grad = lambda img: np.abs(np.diff(img.astype(np.float32).mean(axis=2), axis=1))  # noqa: E731
    edges = line[:, 1:] ^ line[:, :-1]
    assert grad(soft_image)[edges].mean() < 0.9 * grad(hard_image)[edges].mean()


def test_avm_rows_mostly_mark_their_entrance():
    """Most perpendicular and angled rows have an entrance line (T / L points), some have none (I)."""
    marked = []
    shapes = set()
    for seed in range(80):
        sample = generate_scene("parking", seed, size=(128, 128))
        shapes |= {m.shape for m in sample.marking_points}
        marked += [
            row["entrance_line"]
            for row in sample.meta["avm_style"]["rows"]
            if row["kind"] != "parallel" and row["lines"] != "platforms"
        ]
    assert len(marked) > 60
    assert 0.5 < np.mean(marked) < 0.8
    assert shapes == {"T", "L", "I"}


def test_avm_double_lines_and_platform_gaps_are_one_marking_point_in_the_middle():
    """A double separating line, and the gap between two garage platforms, is one junction: one
    marking point in its middle that the slots on both sides share (no twin points 0.15-0.5 m
    apart, one of which a detector would find by chance)."""
    seen = set()
    widened = 0
    for seed in range(150):
        world = _parking_world(seed)
        kinds = {row["lines"] for row in world.style["rows"]} & {"double", "platforms"}
        if not kinds:
            continue
        seen |= kinds
        band_corners = [c for slot in world.slots if slot.markings == "band" for c in slot.corners[:2]]
        marks = np.array(
            [m.position for m in world.marks if not any(np.allclose(m.position, c) for c in band_corners)]
        )
        gaps = np.linalg.norm(marks[:, None] - marks[None], axis=2) + np.eye(len(marks)) * 1e9
        assert gaps.min() > 0.6, (seed, gaps.min())
        for slot in world.slots:
            if slot.label_corners is None:
                continue
            painted_width = np.linalg.norm(slot.corners[1] - slot.corners[0])
            labelled_width = np.linalg.norm(slot.label_corners[1] - slot.label_corners[0])
            # half a gap on each side at most; none where a group of one slot has no shared line
            assert painted_width - 1e-9 <= labelled_width < painted_width + 1.0
            widened += labelled_width > painted_width + 0.1
            for corner in slot.label_corners[:2]:
                assert np.linalg.norm(marks - corner, axis=1).min() < 1e-9
    assert seen == {"double", "platforms"}
    assert widened > 20


def test_avm_gaps_between_groups_of_slots_are_narrower_than_any_slot():
    """Two neighbouring marking points of a row bound a labelled slot, or lie closer than the
    narrowest slot (a walkway between two groups, the two edges of a band): a slot-wide space between
    two separators that is not labelled would be a slot to anyone who looks."""
    narrowest_slot_m = 1.86  # a double-line row's inner width at its narrowest
    gaps_seen = bands_seen = 0
    for seed in range(60):
        world = _parking_world(seed, size=(320, 320), mpp=0.04)
        entrances = [
            (slot.corners[:2] if slot.label_corners is None else slot.label_corners[:2])
            for slot in world.slots
        ]
        bands_seen += any(slot.markings == "band" for slot in world.slots)
        for x in {round(float(m.position[0]), 3) for m in world.marks}:
            along = sorted(float(m.position[1]) for m in world.marks if abs(float(m.position[0]) - x) < 1e-3)
            for lo, hi in itertools.pairwise(along):
                is_slot = any(
                    {round(float(e[0][1]), 6), round(float(e[1][1]), 6)} == {round(lo, 6), round(hi, 6)}
                    and abs(float(e[0][0]) - x) < 1e-3
                    for e in entrances
                )
                if not is_slot:
                    gaps_seen += 1
                    assert hi - lo < narrowest_slot_m, (seed, x, lo, hi)
    assert gaps_seen > 10 and bands_seen > 3


def test_avm_band_rows_give_each_slot_its_own_corners_at_the_band_edges():
    """Slots between wide unpainted bands (concrete strips among pavers) keep their own corners:
    a marking point at each edge of a band, two per band between slots, each a slot's corner."""
    from seg_perception.data.synthetic.avm import BAND_WIDTH_M

    rows = 0
    for seed in range(60):
        world = _parking_world(seed)
        if not any(row["lines"] == "bands" for row in world.style["rows"]):
            continue
        rows += 1
        assert not world.style["indoor"]
        band_slots = [slot for slot in world.slots if slot.markings == "band"]
        assert band_slots and all(slot.label_corners is None for slot in band_slots)
        marks = np.array([m.position for m in world.marks])
        twins = 0
        for slot in band_slots:
            for corner in slot.corners[:2]:
                distances = np.linalg.norm(marks - corner, axis=1)
                assert distances.min() < 1e-9  # each entrance corner is a marking point
                # its twin across the band, where the slot beside it has its corner
                twins += int(
                    ((distances > BAND_WIDTH_M[0] - 1e-6) & (distances < BAND_WIDTH_M[1] / 0.5)).any()
                )
        assert twins > 0
        bands = [line for line in world.lines if line.band]
        assert len({line.colour for line in bands}) == 1  # one concrete grey per lot
        ground_grey = float(world.ground.image.mean())
        assert abs(float(np.mean(bands[0].colour)) - ground_grey) > 20  # stands off the ground
    assert rows >= 3


def test_avm_platform_tops_are_ridged_along_the_slot():
    from seg_perception.data.synthetic import avm_objects
    from seg_perception.data.synthetic.avm import render_parking

    config = load_scenario("parking")
    world = next(
        w
        for w in (_parking_world(seed, size=(240, 240), mpp=0.04) for seed in range(300))
        if any(s.kind == "platform" for s in w.solids)
    )
    world.reflections = None
    world.paint_soft_px = 0.0
    tops = {}
    for name in ("ridged", "flat"):
        if name == "flat":
            world.solids = [
                avm_objects.Solid(s.footprint, s.bands, s.kind, top=s.top) if s.kind == "platform" else s
                for s in world.solids
            ]
        image = render_parking(world, config.roles, time_s=0.0, rng=np.random.default_rng(0))[0]
        tops[name] = image.astype(np.float32).mean(axis=2)
    changed = np.abs(tops["ridged"] - tops["flat"]) > 3
    assert changed.sum() > 100  # ridges drawn on the platforms
    # rows run along the aisle (image y), the slots across it (x): ridges along x vary along y
    along_slot = np.abs(np.diff(tops["ridged"], axis=1))[changed[:, 1:]].mean()
    across_slot = np.abs(np.diff(tops["ridged"], axis=0))[changed[1:, :]].mean()
    assert across_slot > 1.5 * along_slot


def test_avm_a_platform_carries_its_slots_label_wherever_it_shows():
    """A garage platform is the slot's surface, raised: the cameras stretch its top and side faces
    away from the car, often off its footprint. On a free platform all of it is free space (a
    platform read as an obstacle would make every empty one look occupied); on an occupied one
    none of it is."""
    from dataclasses import replace

    from seg_perception.data.synthetic import avm_objects
    from seg_perception.data.synthetic.avm import render_parking

    roles = load_scenario("parking").roles
    free_id = roles.require("free_space")
    worlds = (_parking_world(seed, size=(240, 240), mpp=0.04) for seed in range(300))
    world = next(w for w in worlds if sum(s.kind == "platform" for s in w.solids) >= 3)
    world.reflections = None
    platforms = [s for s in world.solids if s.kind == "platform"]  # no parked cars
    marker = (255, 0, 255)
    marked = [
        avm_objects.Solid(s.footprint, [replace(b, colour=marker) for b in s.bands], s.kind, top=marker)
        for s in platforms
    ]
    for free in (True, False):
        world.slots = [
            replace(slot, free=free) if slot.markings == "platform" else slot for slot in world.slots
        ]
        renders = []
        for solids in (platforms, marked):
            world.solids = solids
            renders.append(render_parking(world, roles, time_s=0.0, rng=np.random.default_rng(0))[:2])
        (plain, mask), (painted, _) = renders
        shown = np.abs(painted.astype(np.int16) - plain.astype(np.int16)).max(axis=2) > 80
        shown = cv2.erode(shown.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # blur at the edges
        assert shown.sum() > 500
        share = float((mask[shown] == free_id).mean())
        if free:
            assert share > 0.97, share
        else:
            assert share < 0.03, share


def test_avm_some_still_views_show_a_curved_aisle_with_labels_that_follow_it():
    """A fifth of single views bend the lot around the car: rows curve, separating lines turn
    radial (neighbouring marking points disagree in direction), and every visible entrance
    corner stays a marking point on the painted lines; drives never curve."""
    classes = load_scenario("parking").classes
    line_id = classes.index("slot_line")
    curved, spreads, on_line, checked = 0, [], 0, 0
    for seed in range(60):
        sample = generate_scene("parking", seed, size=(200, 200), metres_per_pixel=0.04)
        if not sample.meta["avm_style"]["curve_radius_m"]:
            continue
        curved += 1
        visible = [m for m in sample.marking_points if not m.occluded]
        for side in (-1, 1):  # the marks of one row point the same way on a straight row
            row = [m.direction for m in visible if np.sign(np.cos(m.direction)) == side]
            if len(row) >= 3:
                spreads.append(np.ptp(np.unwrap(row)))
        lines = sample.mask == line_id
        near = np.zeros_like(lines)
        for dy, dx in itertools.product((-1, 0, 1), repeat=2):
            near |= np.roll(lines, (dy, dx), axis=(0, 1))
        for mark in visible:
            x, y = (round(float(v)) for v in mark.position)
            checked += 1
            on_line += bool(near[y, x])
    assert 6 <= curved <= 20
    assert spreads and min(spreads) > np.deg2rad(2)  # straight rows: 0
    assert checked > 10 and on_line / checked > 0.7
    for seed in range(15):  # a drive along a curve would need a curved path: drives stay straight
        frame = next(iter(generate_drive("parking", seed, 2, size=(64, 64))))
        assert frame.meta["avm_style"]["curve_radius_m"] == 0.0
