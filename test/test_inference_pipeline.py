"""SegmentationPipeline with a hand-weighted ONNX model: red pixels → class 1, blue → class 2."""

import json

import cv2
import numpy as np
import pytest
from tiny_onnx import tiny_metadata, write_conv_model

from seg_perception.config import load_scenario
from seg_perception.errors import ConfigError, ModelFileError
from seg_perception.inference.engine import create_engine
from seg_perception.inference.pipeline import FrameResult, SegmentationPipeline
from seg_perception.postprocess import extract_polygons

RED, BLUE = (0, 0, 255), (255, 0, 0)  # BGR
# A 1x1 conv on RGB/255 (mean 0, std 1): background 0.5, class 1 = R-G-B, class 2 = B-R-G.
COLOUR_WEIGHT = np.array([[0, 0, 0], [1, -1, -1], [-1, -1, 1]], np.float32)
COLOUR_BIAS = np.array([0.5, 0, 0], np.float32)


def colour_model(directory, scenario, input_hw=(60, 80)):
    """The scenario's classes: red pixels → class 1, blue → class 2, others background."""
    metadata = tiny_metadata(
        scenario, input_size=input_hw, model="colour_classifier", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
    )
    return write_conv_model(directory / f"{scenario}.onnx", metadata, COLOUR_WEIGHT, COLOUR_BIAS)


@pytest.fixture(scope="module")
def road_model(tmp_path_factory):
    return colour_model(tmp_path_factory.mktemp("models"), "road")


@pytest.fixture(scope="module")
def parking_model(tmp_path_factory):
    return colour_model(tmp_path_factory.mktemp("models"), "parking")


def test_process_finds_polygons_of_the_right_classes(road_model):
    pipeline = SegmentationPipeline(create_engine(road_model), load_scenario("road"), "front")
    image = np.full((120, 160, 3), 40, np.uint8)
    image[20:60, 20:100] = RED  # 40 x 80 lane marking
    image[80:110, 100:150] = BLUE  # 30 x 50 crosswalk
    image[5:7, 150:152] = RED  # 4-pixel speck, below min_area_px
    result = pipeline.process(image)
    assert isinstance(result, FrameResult)
    assert result.mask.shape == (120, 160) and result.mask.dtype == np.uint8
    assert np.count_nonzero(result.mask == 1) >= 40 * 80 and np.count_nonzero(result.mask == 2) >= 30 * 50
    by_class = {polygon.class_name: polygon for polygon in result.polygons}
    assert len(result.polygons) == 2 and set(by_class) == {"lane_marking", "crosswalk"}
    points = by_class["lane_marking"].points
    bounds = [points[:, 0].min(), points[:, 0].max(), points[:, 1].min(), points[:, 1].max()]
    np.testing.assert_allclose(bounds, [20, 99, 20, 59], atol=1)
    assert result.slots == []
    assert {"inference", "postprocess", "total"} <= set(result.timings_ms)
    json.dumps(result.to_json())


def test_polygons_alone_are_those_postprocess_traces_and_skipping_them_leaves_the_rest(road_model):
    pipeline = SegmentationPipeline(create_engine(road_model), load_scenario("road"), "front")
    segmentation = pipeline.segment(shapes_image())
    with_polygons = pipeline.postprocess(segmentation)
    without = pipeline.postprocess(segmentation, polygons=False)
    assert len(with_polygons.polygons) == 3 and without.polygons == []
    traced = pipeline.trace_polygons(segmentation)
    assert [(p.class_id, p.instance_id) for p in traced] == [
        (p.class_id, p.instance_id) for p in with_polygons.polygons
    ]
    for mine, theirs in zip(traced, with_polygons.polygons, strict=True):
        np.testing.assert_array_equal(mine.points, theirs.points)
    np.testing.assert_array_equal(without.mask, with_polygons.mask)


def test_polygon_thresholds_come_from_the_scenario(road_model):
    scenario = load_scenario("road")
    pipeline = SegmentationPipeline(create_engine(road_model), scenario, "front")
    assert pipeline.min_area_px == scenario.params["polygon"]["min_area_px"]
    assert pipeline.epsilon_px == scenario.params["polygon"]["simplify_epsilon_px"]


def test_parking_pipeline_extracts_slots_with_entrance_first(parking_model):
    scenario = load_scenario("parking")
    pipeline = SegmentationPipeline(create_engine(parking_model), scenario, "avm")
    image = np.zeros((120, 160, 3), np.uint8)
    image[20:80, 40:80] = BLUE  # free slot, 40 wide x 60 deep
    image[14:20, 34:86] = RED  # back line (top)
    image[14:80, 34:40] = RED  # left line
    image[14:80, 80:86] = RED  # right line; the bottom (y = 80) is open
    result = pipeline.process(image)
    assert len(result.slots) == 1
    corners = result.slots[0].corners
    entrance = corners[:2]
    assert np.all(np.abs(entrance[:, 1] - 80) <= 2), corners  # both entrance corners on the bottom edge
    assert np.all(np.abs(corners[2:, 1] - 20) <= 2), corners


def test_class_map_mismatch_names_file_both_lists_and_fix(road_model):
    with pytest.raises(ModelFileError) as caught:
        SegmentationPipeline(create_engine(road_model), load_scenario("highway"), "front")
    message = str(caught.value)
    assert str(road_model) in message
    assert "['background', 'lane_marking', 'crosswalk']" in message
    assert "['background', 'lane_marking']" in message
    assert "model_file" in message


def test_unknown_camera_is_rejected(road_model):
    with pytest.raises(ConfigError, match="avm"):
        SegmentationPipeline(create_engine(road_model), load_scenario("road"), "avm")


def test_overlay_uses_the_scenario_colours_on_foreground_only(road_model):
    scenario = load_scenario("road")
    pipeline = SegmentationPipeline(create_engine(road_model), scenario, "front")
    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0], mask[1, 1] = 1, 2
    blended = pipeline.overlay(image, mask, alpha=1.0)
    np.testing.assert_array_equal(blended[0, 0], scenario.classes.colors_bgr[1])
    np.testing.assert_array_equal(blended[1, 1], scenario.classes.colors_bgr[2])
    np.testing.assert_array_equal(blended[2:], image[2:])


def outline_distance(points, polygon):
    contour = polygon.reshape(-1, 1, 2).astype(np.float32)
    return max(abs(cv2.pointPolygonTest(contour, (float(x), float(y)), True)) for x, y in points)


def shapes_image():
    image = np.full((120, 160, 3), 40, np.uint8)
    cv2.circle(image, (40, 40), 22, RED, -1)
    cv2.fillPoly(image, [np.array([[90, 20], [150, 35], [120, 100]])], RED)
    cv2.rectangle(image, (10, 80), (70, 110), BLUE, -1)
    image[100:104, 100:104] = RED  # 16 px: 4 model pixels, below min_area_px
    return image


def test_polygons_traced_at_model_resolution_match_those_of_the_frame_mask(road_model):
    scenario = load_scenario("road")
    pipeline = SegmentationPipeline(create_engine(road_model), scenario, "front")
    result = pipeline.process(shapes_image())  # 120x160 frame, 60x80 model: 2x2 blocks
    full = extract_polygons(
        result.mask, scenario.classes.names, min_area_px=pipeline.min_area_px, epsilon_px=pipeline.epsilon_px
    )
    assert [(p.class_id, p.instance_id) for p in result.polygons] == [
        (p.class_id, p.instance_id) for p in full
    ]
    assert len(full) == 3
    for coarse, fine in zip(result.polygons, full, strict=True):
        # same region: every vertex within the simplification tolerance plus half a block
        assert outline_distance(coarse.points, fine.points) <= pipeline.epsilon_px + 1.0
        assert outline_distance(fine.points, coarse.points) <= pipeline.epsilon_px + 1.0


class FrameSizeEngine:
    """An engine whose model-size mask is the frame's mask (as test doubles have)."""

    def __init__(self, engine):
        self.inner = engine
        self.metadata, self.model_file = engine.metadata, engine.model_file
        self.last_timings_ms, self.last_outputs = {}, {}

    def predict_masks(self, image):
        mask = self.inner.predict(image)
        return mask, mask


def test_engine_with_frame_size_masks_is_post_processed_at_frame_size(road_model):
    scenario = load_scenario("road")
    pipeline = SegmentationPipeline(FrameSizeEngine(create_engine(road_model)), scenario, "front")
    result = pipeline.process(shapes_image())
    full = extract_polygons(
        result.mask, scenario.classes.names, min_area_px=pipeline.min_area_px, epsilon_px=pipeline.epsilon_px
    )
    assert len(result.polygons) == len(full) == 3
    for traced, expected in zip(result.polygons, full, strict=True):
        np.testing.assert_array_equal(traced.points, expected.points)


def test_overlay_can_write_into_a_given_buffer(road_model):
    pipeline = SegmentationPipeline(create_engine(road_model), load_scenario("road"), "front")
    image = shapes_image()
    mask = pipeline.process(image).mask
    out = np.zeros_like(image)
    assert pipeline.overlay(image, mask, 0.4, out=out) is out
    np.testing.assert_array_equal(out, pipeline.overlay(image, mask, 0.4))
