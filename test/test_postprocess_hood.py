"""The car's hood at a frame's bottom: found below and beside the lane lines; boundaries, truth above it."""

import json

import numpy as np
import pytest
from test_postprocess_lanes import CLASSES, LANE, SIZE, THREE_LANES, WHITE, draw_road

from seg_perception.data.synthetic.scenes import generate_scene
from seg_perception.postprocess import hood
from seg_perception.postprocess.hood import find_hood, hood_rows, paint_below
from seg_perception.postprocess.lane_tracking import LaneTracker, TrackerSettings
from seg_perception.postprocess.lanes import LaneExtractor, LaneSettings
from seg_perception.training.lane_eval import lanes_of_sample

HOOD_BGR = (40, 60, 150)


def textured(image, seed=0):
    """``image`` with asphalt grain, so that the only long edge is the one drawn."""
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(np.float64) + rng.normal(0.0, 4.0, image.shape), 0, 255).astype(np.uint8)


def hood_edge(size, top=0.86, bend=0.05):
    """Rows of a hood edge highest at the centre, lower towards the sides (as a bonnet seen from inside)."""
    height, width = size
    u = np.arange(width, dtype=np.float64)
    return height * top + bend * height * ((u - width / 2.0) / (width / 2.0)) ** 2


def with_hood(mask, image, edge):
    """The frame with the hood drawn over everything below ``edge`` (the mask has no paint there)."""
    rows = np.arange(mask.shape[0])[:, None]
    under = rows > edge[None, :]
    mask, image = mask.copy(), image.copy()
    mask[under] = 0
    image[under] = HOOD_BGR
    return mask, image


def road_with_hood(size=SIZE):
    mask, image = draw_road(THREE_LANES[1:3], near=0.5)
    edge = hood_edge(size)
    mask, image = with_hood(mask, textured(image), edge)
    return mask, image, edge


def test_the_hood_edge_is_found_where_the_lane_lines_end():
    mask, image, edge = road_with_hood()
    found = find_hood(image, mask == LANE, max_share=0.2)
    assert found is not None and found.shape == (SIZE[1],)
    assert np.percentile(np.abs(found - edge), 95) <= 3.0
    # a smaller mask (the model's resolution) gives the same edge in frame rows
    small = mask[::2, ::2]
    assert np.percentile(np.abs(find_hood(image, small == LANE, max_share=0.2) - edge), 95) <= 3.0
    assert find_hood(image, mask == LANE, max_share=0.0) is None  # not looked for
    assert find_hood(image, mask == LANE, max_share=0.05) is None  # covers more than allowed


def test_a_bonnet_curving_down_out_of_the_frame_is_found_beside_the_line():
    # a shallow bonnet leaves the bottom row near the frame's left side; the left line runs on to the
    # bottom row beside it, so the frame has no paint-free band at its bottom
    lines = [(2.1, "dashed", WHITE, 2.0), (-1.75, "dashed", WHITE, 5.0)]
    mask, image = draw_road(lines, near=0.5)
    edge = hood_edge(SIZE, top=0.93, bend=0.08)
    mask, image = with_hood(mask, textured(image), edge)
    beside = (mask == LANE)[-1]
    assert beside.any() and (edge[beside] >= SIZE[0] - 1).all()
    found = find_hood(image, mask == LANE, max_share=0.2)
    assert found is not None
    seen = edge < SIZE[0] - 1  # where the hood is in the frame, the edge found is the hood's
    assert np.percentile(np.abs(found[seen] - edge[seen]), 95) <= 5.0
    assert (found[beside] >= SIZE[0] - 1).all()  # the line beside it keeps its rows to the bottom


def test_the_hood_is_found_below_lines_that_end_well_above_it():
    # dashes that begin 6 m ahead, more than a hood's largest share above the bottom row
    mask, image = draw_road(THREE_LANES[1:3], near=6.0)
    lowest = np.flatnonzero((mask == LANE).any(axis=1))[-1]
    assert SIZE[0] - 1 - lowest > 0.2 * SIZE[0]
    edge = hood_edge(SIZE)
    mask, image = with_hood(mask, textured(image), edge)
    found = find_hood(image, mask == LANE, max_share=0.2)
    assert found is not None and np.percentile(np.abs(found - edge), 95) <= 3.0


def test_a_deep_bonnet_is_found_where_lines_reach_its_low_sides(monkeypatch):
    # a bonnet rising high in the middle, two lines meeting it low at its sides: its centre lies more
    # than HOOD_RISE above the lowest paint, where the first search does not look
    mask, image = draw_road([(2.5, "solid", WHITE, 0.0), (-2.5, "solid", WHITE, 0.0)], near=0.5)
    edge = hood_edge(SIZE, top=0.82, bend=0.10)
    mask, image = with_hood(mask, textured(image), edge)
    lowest = np.flatnonzero((mask == LANE).any(axis=1))[-1]
    assert lowest - edge.min() > hood.HOOD_RISE * SIZE[0]
    found = find_hood(image, mask == LANE, max_share=0.2)
    middle = slice(SIZE[1] // 4, 3 * SIZE[1] // 4)
    assert found is not None and np.percentile(np.abs(found - edge)[middle], 95) <= 3.0
    monkeypatch.setattr(hood, "HOOD_SEARCHES", hood.HOOD_SEARCHES[:1])
    assert find_hood(image, mask == LANE, max_share=0.2) is None


def test_a_hood_below_marks_with_strong_edges_is_found_by_its_strongest_edge(monkeypatch):
    # dark tyre marks just above the hood across most of the width: in those columns the topmost strong
    # edge is a mark's, at a different height in each, so only the strongest edge lies on one curve
    mask, image = draw_road(THREE_LANES[1:3], near=0.5)
    edge = hood_edge(SIZE)
    rng = np.random.default_rng(1)
    step = 8
    for u in range(int(0.05 * SIZE[1]), int(0.95 * SIZE[1]), step):
        v = int(edge[u] - rng.uniform(6.0, 16.0))
        image[v : v + 4, u : u + step] = 45  # 45 levels darker than the road, the hood differs by 60
    mask, image = with_hood(mask, textured(image), edge)
    found = find_hood(image, mask == LANE, max_share=0.2)
    assert found is not None and np.percentile(np.abs(found - edge), 95) <= 3.0
    topmost = tuple(search for search in hood.HOOD_SEARCHES if search[1] < 1.0)
    monkeypatch.setattr(hood, "HOOD_SEARCHES", topmost)
    assert find_hood(image, mask == LANE, max_share=0.2) is None


def test_a_seam_across_the_road_with_a_line_running_on_below_it_is_no_hood(monkeypatch):
    # a lighter slab of concrete from 82 % of the height down, below dashes that end well above it; the
    # road's edge line beside a narrow shoulder runs on below the seam to the frame's side, so the first
    # search (just above the lowest paint) does not reach the seam and the wider ones find its edge
    mask, image = draw_road([(1.75, "dashed", WHITE, 0.0), (-1.75, "dashed", WHITE, 0.0)], near=6.0)
    edge_mask, edge_image = draw_road([(-2.5, "solid", WHITE, 0.0)], near=0.5)
    edge_line = edge_mask == LANE
    mask[edge_line], image[edge_line] = LANE, edge_image[edge_line]
    seam = int(0.82 * SIZE[0])
    slab = image.astype(np.int16)
    slab[seam:][mask[seam:] != LANE] += 40
    image = textured(np.clip(slab, 0, 255).astype(np.uint8))
    assert find_hood(image, mask == LANE, max_share=0.2) is None
    # without a bonnet's shape the wider searches take the seam for the hood's edge
    monkeypatch.setattr(hood, "_bonnet_bend", lambda *args: 0.0)
    found = find_hood(image, mask == LANE, max_share=0.2)
    assert found is not None and abs(float(np.median(found)) - seam) <= 3.0


def test_a_bonnet_whose_trim_is_taken_for_paint_is_a_hood_and_a_stop_line_is_not(monkeypatch):
    # a light trim along a bent bonnet's edge, marked as paint over a third of the width: paint ending on
    # the edge there reads as a stop line's to the first search, but the edge is clearly bent
    mask, image = draw_road(THREE_LANES[1:3], near=6.0)
    edge = hood_edge(SIZE, top=0.84, bend=0.08)
    mask, image = with_hood(mask, textured(image), edge)
    rows = np.arange(SIZE[0])[:, None]
    trim = (rows <= edge[None, :]) & (rows > edge[None, :] - 5) & (np.arange(SIZE[1]) < SIZE[1] // 3)
    mask[trim], image[trim] = LANE, (200, 210, 220)
    found = find_hood(image, mask == LANE, max_share=0.2)
    seen = edge < SIZE[0] - 1
    assert found is not None and np.percentile(np.abs(found - edge)[seen], 95) <= 3.0
    # without the trim's bend, paint ending on the edge over a third of the width is a stop line's
    monkeypatch.setattr(hood, "HOOD_TRIM_BEND", np.inf)
    assert find_hood(image, mask == LANE, max_share=0.2) is None
    monkeypatch.undo()
    # a real stop line near the car, straight across the road, is no hood
    for distance in (3.0, 4.0, 5.0):
        lines, image = draw_road(THREE_LANES[1:3], near=6.0)
        mask, _ = draw_road(THREE_LANES[1:3], near=6.0, transverse=distance)
        image[(mask == LANE) & (lines != LANE)] = WHITE
        assert find_hood(textured(image), mask == LANE, max_share=0.2) is None


@pytest.mark.parametrize("width", [1, 2, 5, 63, 64, 97])
@pytest.mark.parametrize("height", [1, 4, 9, 40])
def test_frames_of_any_size_give_an_edge_or_none(height, width):
    # a node camera may send any size (a fuzzed 1-pixel-wide frame once failed the blur's border)
    rng = np.random.default_rng(height * 1000 + width)
    image = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    for lowest in range(height):  # paint down to every row in turn, so every band is tried
        paint = np.zeros((height, width), np.uint8)
        paint[: lowest + 1] = LANE
        edge = find_hood(image, paint, max_share=0.2)
        assert edge is None or edge.shape == (width,)
    if width < hood.HOOD_COLUMNS:
        assert find_hood(image, np.ones((height, width), np.uint8), max_share=0.2) is None


def test_a_line_running_through_the_edge_makes_it_no_hood():
    # a hood-like edge across the frame below dashes that end well above it, but a solid line straight
    # ahead runs on through it to the bottom row: that is paint on the road, not under a hood
    mask, image = draw_road(THREE_LANES[1:3], near=6.0)
    line_mask, line_image = draw_road([(0.05, "solid", WHITE, 0.0)], near=0.5)
    on_line = line_mask == LANE
    mask[on_line], image[on_line] = LANE, line_image[on_line]
    edge = hood_edge(SIZE)
    under = np.arange(SIZE[0])[:, None] > edge[None, :]
    hooded = textured(image)
    hooded[under & (mask != LANE)] = HOOD_BGR
    assert ((mask == LANE) & under).any()
    assert find_hood(hooded, mask == LANE, max_share=0.2) is None
    # without that line, the same frame shows a hood
    mask, image = draw_road(THREE_LANES[1:3], near=6.0)
    mask, image = with_hood(mask, textured(image), edge)
    assert find_hood(image, mask == LANE, max_share=0.2) is not None


def test_a_dash_gap_or_a_shadow_at_the_bottom_is_no_hood():
    # dashed lines whose paint begins 6 m ahead: bare asphalt below, no edge across it
    mask, image = draw_road(THREE_LANES[1:3], near=6.0)
    assert (mask == LANE)[-40:].sum() == 0
    assert find_hood(textured(image), mask == LANE, max_share=0.5) is None
    # a shadow across the road near the bottom: an edge across the frame, but paint below it
    mask, image = draw_road(THREE_LANES[1:3], near=0.5)
    shaded = image.copy()
    shaded[int(0.86 * SIZE[0]) :] = (shaded[int(0.86 * SIZE[0]) :] * 0.5).astype(np.uint8)
    assert find_hood(textured(shaded), mask == LANE, max_share=0.2) is None


def test_boundaries_and_their_tracks_start_on_the_hood_edge():
    mask, image, edge = road_with_hood()
    for share in (0.0, 0.2):
        settings = LaneSettings(start_at_frame_edge=True, hood_max_share=share)
        extractor = LaneExtractor(CLASSES, settings, mapper=None)
        tracker = LaneTracker()
        for _ in range(3):  # confirmed tracks are drawn by the tracker
            tracked = tracker.update(extractor.extract(mask, image))
        for result in (extractor.extract(mask, image), tracked):
            assert len(result.boundaries) == 2
            for boundary in result.boundaries:
                lowest = boundary.image_points[np.argmax(boundary.image_points[:, 1])]
                if share:  # on the hood's edge, not over the car
                    assert lowest[1] == pytest.approx(float(hood_rows(edge, lowest[:1])[0]), abs=2.0)
                else:
                    assert lowest[1] == pytest.approx(SIZE[0] - 1, abs=1e-3)


def test_paint_below_a_hood_edge_means_the_road_shows_there():
    mask, _, edge = road_with_hood()
    assert not paint_below(edge, mask == LANE, SIZE[0])  # the lines end on the hood
    bare, _ = draw_road(THREE_LANES[1:3], near=0.5)  # the same road, seen to the bottom row
    assert paint_below(edge, bare == LANE, SIZE[0])
    # a speck just under the edge is no road
    specked = (mask == LANE).copy()
    column = SIZE[1] // 2
    specked[int(edge[column]) + 1, column - 1 : column + 2] = True
    assert not paint_below(edge, specked, SIZE[0])


def _missed_hood(image, edge):
    """The frame with its hood painted like the road just above it: no edge for the detector."""
    missed = image.copy()
    rows = np.arange(image.shape[0])[:, None]
    under = rows > edge[None, :]
    road = np.median(image[int(edge.min()) - 12 : int(edge.min()) - 4], axis=(0, 1))
    missed[under] = road.astype(np.uint8)
    return textured(missed, seed=1)


def test_a_hood_seen_in_a_few_frames_is_held_through_frames_that_miss_it():
    mask, image, edge = road_with_hood()
    missed = _missed_hood(image, edge)
    settings = LaneSettings(start_at_frame_edge=True, hood_max_share=0.2)
    extractor = LaneExtractor(CLASSES, settings, mapper=None)
    assert find_hood(missed, mask == LANE, 0.2) is None
    for hold, expect_held in ((0, False), (3, True)):
        tracker = LaneTracker(TrackerSettings(hood_hold_frames=hold))
        for _ in range(3):
            tracker.update(extractor.extract(mask, image, hood_hint=tracker.hood))
        tracked = tracker.update(extractor.extract(mask, missed, hood_hint=tracker.hood))
        assert tracked.hood_held is expect_held
        assert (tracked.hood_edge is not None) is expect_held
        for boundary in tracked.boundaries:
            lowest = boundary.image_points[np.argmax(boundary.image_points[:, 1])]
            bottom = float(hood_rows(edge, lowest[:1])[0]) if expect_held else SIZE[0] - 1
            assert lowest[1] == pytest.approx(bottom, abs=2.0)
    # held, but the road shows below its edge: there is no hood there any more
    bare, bare_image = draw_road(THREE_LANES[1:3], near=0.5)
    released = tracker.update(extractor.extract(bare, textured(bare_image), hood_hint=tracker.hood))
    assert released.hood_edge is None and tracker.hood is None


def test_a_hood_found_once_is_not_held():
    mask, image, edge = road_with_hood()
    settings = LaneSettings(start_at_frame_edge=True, hood_max_share=0.2)
    extractor = LaneExtractor(CLASSES, settings, mapper=None)
    tracker = LaneTracker(TrackerSettings(hood_hold_frames=3))
    tracker.update(extractor.extract(mask, image, hood_hint=tracker.hood))
    assert tracker.hood is None
    missed = tracker.update(extractor.extract(mask, _missed_hood(image, edge), hood_hint=tracker.hood))
    assert missed.hood_edge is None


def test_the_frame_json_gives_the_hood_edge_where_there_is_one():
    mask, image, edge = road_with_hood()
    for share in (0.0, 0.2):
        extractor = LaneExtractor(CLASSES, LaneSettings(hood_max_share=share), mapper=None)
        detections = extractor.extract(mask, image)
        for result in (detections, LaneTracker().update(detections)):
            record = json.loads(json.dumps(result.to_json()))
            if not share:
                assert record["hood_edge"] is None
                continue
            points = np.asarray(record["hood_edge"])
            assert points.shape == (17, 2) and points[0, 0] == 0.0 and points[-1, 0] == SIZE[1] - 1
            assert np.abs(points[:, 1] - hood_rows(edge, points[:, 0])).max() <= 3.0


def test_the_drives_truth_starts_at_the_hood_edge_as_the_labels_do():
    size = (270, 480)
    sample = next(
        s
        for s in (generate_scene("highway", seed, size=size) for seed in range(200, 240))
        if "hood_edge_px" in s.meta
    )
    hood = np.asarray(sample.meta["hood_edge_px"])
    assert hood.shape[1] == 2 and np.all(np.diff(hood[:, 0]) > 0)
    # the hood hides the mask's paint: no lane pixel below its edge
    rows, cols = np.nonzero(sample.mask)
    assert np.all(rows <= np.interp(cols, hood[:, 0], hood[:, 1]) + 1.5)
    plain, cut = lanes_of_sample(sample.lanes, size), lanes_of_sample(sample.lanes, size, hood)
    assert [lane.index for lane in plain] == [lane.index for lane in cut]
    entered = 0
    for before, after in zip(plain, cut, strict=True):
        edge = np.interp(after.image[:, 0], hood[:, 0], hood[:, 1])
        assert np.all(after.image[:, 1] <= edge + 1e-6)
        lowest = int(np.argmax(after.image[:, 1]))
        if before.image[:, 1].max() > edge[lowest] + 1.0:  # the line came from under the hood
            entered += 1
            assert after.image[lowest, 1] == pytest.approx(edge[lowest], abs=0.5)
    assert entered >= 1
