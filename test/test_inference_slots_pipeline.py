"""The pipeline's slot path: ground-resolution matching, marking points → slots in pixels and metres, ids."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.config import load_scenario
from seg_perception.data.marking_points import marking_point_target
from seg_perception.errors import ConfigError, ModelFileError
from seg_perception.inference.avm_scale import AvmScaler, check_metres_per_pixel, resize_frame
from seg_perception.inference.metadata import MARKING_POINTS_NAME, ModelMetadata

MODEL_MPP = 0.04
INPUT = (320, 320)


class PointEngine:
    """A duck-typed engine whose marking points are a perpendicular row drawn in model pixels."""

    def __init__(
        self, model_points: np.ndarray, *, metres_per_pixel: float | None = MODEL_MPP, offsets: bool = False
    ) -> None:
        self.offsets = offsets
        self.metadata = ModelMetadata(
            model="fake",
            scenario="parking",
            classes=("background", "slot_line", "free_slot"),
            colors=("#000000", "#FFFFFF", "#30E060"),
            input_size=INPUT,
            marking_point_stride=4,
            marking_point_offsets=offsets,
            metres_per_pixel=metres_per_pixel,
        )
        self.model_file = Path("fake.onnx")
        self.device = "cpu"
        self.last_timings_ms: dict[str, float] = {}
        self.last_outputs: dict[str, np.ndarray] = {}
        self.model_points = model_points
        self.inputs: list[tuple[int, int]] = []

    def predict_masks(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.inputs.append(image_bgr.shape[:2])
        model_mask = np.full(INPUT, 2, np.uint8)  # all free space
        self.last_outputs = {
            MARKING_POINTS_NAME: marking_point_target(
                self.model_points, INPUT, stride=4, sigma_px=4.0, offsets=self.offsets
            )[None]
        }
        import cv2

        mask = cv2.resize(model_mask, image_bgr.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        return mask, model_mask


def row_in_model_pixels(shift_px: float = 0.0) -> np.ndarray:
    """Four points of a perpendicular row, 2.5 m apart, 1.5 m right of the centre, lines pointing right."""
    pitch = 2.5 / MODEL_MPP
    return np.array(
        [[160 + 1.5 / MODEL_MPP, 60 + k * pitch + shift_px, 1.0, 0.0] for k in range(4)], np.float32
    )


def parking_scenario(mpp: float | None, size=(600, 600), *, flips: int | None = 1):
    """The shipped parking scenario with the AVM sized ``size`` at ``mpp``; ``flips`` mirrored copies
    (1: the fakes here answer every copy alike; None: the shipped ``test_time_flips``)."""
    scenario = load_scenario("parking")
    slots = dict(scenario.params["slots"])
    if flips is not None:
        slots["test_time_flips"] = flips
    block = dict(scenario.params["avm"])
    block["image_size"] = list(size)
    block["origin_px"] = [size[1] / 2, size[0] / 2]
    if mpp is None:
        block.pop("metres_per_pixel", None)
    else:
        block["metres_per_pixel"] = mpp
    return dataclasses.replace(scenario, params={**scenario.params, "avm": block, "slots": slots})


@pytest.mark.parametrize("offsets", [False, True], ids=["heat", "heat_offsets"])
def test_frames_are_brought_to_the_models_ground_resolution_and_slots_come_back_in_frame_units(offsets):
    from seg_perception.inference.pipeline import SegmentationPipeline

    engine = PointEngine(row_in_model_pixels(), offsets=offsets)
    camera_mpp = 0.017  # a ps2.0-like 600x600 view: 10.2 m, smaller than the model's 12.8 m
    pipeline = SegmentationPipeline(engine, parking_scenario(camera_mpp), "avm")  # type: ignore[arg-type]
    result = pipeline.process(np.zeros((600, 600, 3), np.uint8))
    assert engine.inputs == [INPUT]  # a canvas of the model's size went to the engine
    assert result.mask.shape == (600, 600)
    assert len(result.marking_points) == 4
    assert [slot.slot_type.name.lower() for slot in result.slots] == ["perpendicular"] * 3
    for slot in result.slots:
        width_m = np.hypot(*(slot.corners[1] - slot.corners[0])) * camera_mpp
        assert width_m == pytest.approx(2.5, abs=0.05)
        # metres in the vehicle frame: 1.5 m to the right (y = -1.5), entrance first
        assert slot.corners_m[:2, 1] == pytest.approx([-1.5, -1.5], abs=0.05)
        assert slot.free
    # The frame's pixel of a point: model (x, y) → frame ((x - offset) / scale).
    fit = pipeline._scaler.fit((600, 600))
    expected_x = (row_in_model_pixels()[0, 0] + 0.5 - fit.offset[0]) / fit.scale[0] - 0.5
    assert result.marking_points[:, 0] == pytest.approx(np.full(4, expected_x), abs=1.0)
    if offsets:  # the map's sub-cell offsets place the points exactly (the heat centroid only nearly)
        assert result.marking_points[:, 0] == pytest.approx(np.full(4, expected_x), abs=0.01)
    payload = result.to_json()
    assert payload["slots"][0]["type"] == "perpendicular" and "vertices_m" in payload["slots"][0]
    assert len(payload["marking_points"]) == 4


class FlipAwarePointEngine(PointEngine):
    """Draws its row on the frame it is given: a flipped frame gets the flipped row (and directions)."""

    def __init__(self, model_points: np.ndarray) -> None:
        super().__init__(model_points)
        self.batches: list[int] = []
        self.reference = np.zeros((*INPUT, 3), np.uint8)

    def predict_masks_batch(self, frames):
        self.batches.append(len(frames))
        maps, masks = [], []
        for frame in frames:
            points = self.model_points.copy()
            probe = frame[0, 0, 0], frame[0, -1, 0], frame[-1, 0, 0]  # which corner the marker is in
            if probe[1] == 255 or (probe[0] != 255 and probe[2] != 255):  # mirrored left-right
                points[:, 0], points[:, 2] = INPUT[1] - 1 - points[:, 0], -points[:, 2]
            if probe[2] == 255 or (probe[0] != 255 and probe[1] != 255):  # mirrored upside down
                points[:, 1], points[:, 3] = INPUT[0] - 1 - points[:, 1], -points[:, 3]
            maps.append(marking_point_target(points, INPUT, stride=4, sigma_px=4.0))
            masks.append((np.full(frame.shape[:2], 2, np.uint8), np.full(INPUT, 2, np.uint8)))
        self.last_outputs = {MARKING_POINTS_NAME: np.stack(maps)}
        return masks


@pytest.mark.parametrize("flips", [2, 4])
def test_test_time_flips_batch_the_mirrored_frames_and_keep_the_points(flips):
    from seg_perception.inference.pipeline import SegmentationPipeline

    engine = FlipAwarePointEngine(row_in_model_pixels())
    scenario = parking_scenario(MODEL_MPP, INPUT)
    scenario = dataclasses.replace(
        scenario, params={**scenario.params, "slots": {**scenario.params["slots"], "test_time_flips": flips}}
    )
    pipeline = SegmentationPipeline(engine, scenario, "avm")  # type: ignore[arg-type]
    frame = np.zeros((*INPUT, 3), np.uint8)
    frame[0, 0] = 255  # a marker in the top-left corner tells the fake engine how a copy is mirrored
    result = pipeline.process(frame)
    assert engine.batches == [flips]
    assert len(result.slots) == 3 and len(result.marking_points) == 4
    expected = row_in_model_pixels()
    order = np.argsort(result.marking_points[:, 1])
    np.testing.assert_allclose(result.marking_points[order, :2], expected[:, :2], atol=1.0)
    np.testing.assert_allclose(result.marking_points[order, 2:4], expected[:, 2:], atol=1e-3)


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1"])
def test_an_engine_on_cuda_averages_the_scenarios_cuda_flips(device):
    """cuda_test_time_flips on an engine that runs on CUDA, test_time_flips elsewhere."""
    from seg_perception.inference.pipeline import SegmentationPipeline

    engine = FlipAwarePointEngine(row_in_model_pixels())
    engine.device = device
    shipped = parking_scenario(MODEL_MPP, INPUT)
    slots = {**shipped.params["slots"], "test_time_flips": 2, "cuda_test_time_flips": 4}
    scenario = dataclasses.replace(shipped, params={**shipped.params, "slots": slots})
    pipeline = SegmentationPipeline(engine, scenario, "avm")  # type: ignore[arg-type]
    frame = np.zeros((*INPUT, 3), np.uint8)
    frame[0, 0] = 255
    result = pipeline.process(frame)
    assert engine.batches == ([4] if device.startswith("cuda") else [2])
    assert len(result.marking_points) == 4


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_shipped_parking_scenario_flips_four_times_on_cuda_only(device):
    """What weights/README.md measured and chose: 4 copies on CUDA (a cheap batch); one on a CPU,
    where 4 cost the node a third of its rate and, with both cameras in one node, half the AVM's."""
    from seg_perception.inference.pipeline import SegmentationPipeline

    engine = FlipAwarePointEngine(row_in_model_pixels())
    engine.device = device
    scenario = parking_scenario(MODEL_MPP, INPUT, flips=None)
    slots = scenario.params["slots"]
    assert (slots["test_time_flips"], slots["cuda_test_time_flips"]) == (1, 4)
    pipeline = SegmentationPipeline(engine, scenario, "avm")  # type: ignore[arg-type]
    pipeline.process(np.zeros((*INPUT, 3), np.uint8))
    assert engine.batches == ([4] if device == "cuda" else [])  # one frame, no batch on the CPU


@pytest.mark.parametrize("key", ["test_time_flips", "cuda_test_time_flips"])
def test_test_time_flips_must_be_one_two_or_four(key):
    from seg_perception.inference.pipeline import SegmentationPipeline

    scenario = parking_scenario(MODEL_MPP, INPUT)
    scenario = dataclasses.replace(
        scenario, params={**scenario.params, "slots": {**scenario.params["slots"], key: 3}}
    )
    with pytest.raises(ConfigError, match=key):
        SegmentationPipeline(PointEngine(row_in_model_pixels()), scenario, "avm")  # type: ignore[arg-type]


def test_a_slots_block_without_point_settings_decodes_like_the_shipped_config():
    """The code's fallbacks are the shipped parking config's values (a user's own scenario file
    that leaves them out gets the tuned point threshold and NMS radius, not older ones)."""
    from seg_perception.inference.pipeline import SegmentationPipeline

    shipped = parking_scenario(MODEL_MPP, INPUT)
    bare_slots = {
        k: v
        for k, v in shipped.params["slots"].items()
        if k not in ("point_threshold", "nms_radius_m", "edge_margin_m", "edge_point_threshold")
    }
    bare = dataclasses.replace(shipped, params={**shipped.params, "slots": bare_slots})
    pipelines = [
        SegmentationPipeline(PointEngine(row_in_model_pixels()), scenario, "avm")  # type: ignore[arg-type]
        for scenario in (shipped, bare)
    ]
    assert pipelines[1].point_threshold == pipelines[0].point_threshold
    assert pipelines[1].nms_radius_m == pipelines[0].nms_radius_m
    assert pipelines[1].edge_margin_m == pipelines[0].edge_margin_m
    assert pipelines[1].edge_point_threshold == pipelines[0].edge_point_threshold


@pytest.mark.parametrize(
    ("enabled", "tracked"), [(True, True), ("true", True), (False, False), ("false", False)]
)
def test_the_slot_tracker_switch_takes_true_or_false_also_as_strings(enabled, tracked):
    from seg_perception.inference.pipeline import SegmentationPipeline

    scenario = parking_scenario(0.02, (640, 640))
    slots = {
        **scenario.params["slots"],
        "tracker": {**scenario.params["slots"].get("tracker", {}), "enabled": enabled},
    }
    scenario = dataclasses.replace(scenario, params={**scenario.params, "slots": slots})
    pipeline = SegmentationPipeline(PointEngine(row_in_model_pixels()), scenario, "avm")  # type: ignore[arg-type]
    assert (pipeline._slot_tracker is not None) is tracked


def test_a_slot_tracker_switch_that_is_neither_true_nor_false_is_a_start_up_error():
    from seg_perception.inference.pipeline import SegmentationPipeline

    scenario = parking_scenario(0.02, (640, 640))
    slots = {**scenario.params["slots"], "tracker": {"enabled": "off"}}
    scenario = dataclasses.replace(scenario, params={**scenario.params, "slots": slots})
    with pytest.raises(ConfigError, match=r"slots\.tracker\.enabled must be true or false, got 'off'"):
        SegmentationPipeline(PointEngine(row_in_model_pixels()), scenario, "avm")  # type: ignore[arg-type]


def test_slot_ids_follow_the_slots_while_the_car_moves():
    from seg_perception.inference.pipeline import SegmentationPipeline

    engine = PointEngine(row_in_model_pixels())
    pipeline = SegmentationPipeline(engine, parking_scenario(0.02, (640, 640)), "avm")  # type: ignore[arg-type]
    ids = []
    for step in range(6):
        engine.model_points = row_in_model_pixels(shift_px=step * 2.0)  # 8 cm a frame
        ids.append([slot.instance_id for slot in pipeline.process(np.zeros((640, 640, 3), np.uint8)).slots])
    assert all(sorted(frame_ids) == sorted(ids[0]) for frame_ids in ids)
    assert engine.inputs[0] == (640, 640)  # 640 px at 2 cm = 320 px at 4 cm: the engine's resize does it


@pytest.mark.parametrize("value", [None, 0, -0.02, 2.0, "two", 0.0001])
def test_a_missing_or_implausible_camera_scale_is_a_start_up_error(value):
    from seg_perception.inference.pipeline import SegmentationPipeline

    scenario = parking_scenario(0.02)
    block = dict(scenario.params["avm"])
    if value is None:
        block.pop("metres_per_pixel")
    else:
        block["metres_per_pixel"] = value
    scenario = dataclasses.replace(scenario, params={**scenario.params, "avm": block})
    with pytest.raises(ConfigError, match="metres_per_pixel"):
        SegmentationPipeline(PointEngine(row_in_model_pixels()), scenario, "avm")  # type: ignore[arg-type]


def test_marking_points_method_needs_a_model_with_that_output():
    from seg_perception.inference.pipeline import SegmentationPipeline

    scenario = parking_scenario(0.02)
    scenario = dataclasses.replace(
        scenario, params={**scenario.params, "slots": {"method": "marking_points"}}
    )
    engine = PointEngine(row_in_model_pixels())
    engine.metadata = dataclasses.replace(engine.metadata, marking_point_stride=0)
    with pytest.raises(ModelFileError, match="marking-point"):
        SegmentationPipeline(engine, scenario, "avm")  # type: ignore[arg-type]


def test_check_metres_per_pixel_names_the_setting():
    assert check_metres_per_pixel("0.02", what="x") == pytest.approx(0.02)
    with pytest.raises(ConfigError, match="camera avm"):
        check_metres_per_pixel(20, what="camera avm")


def test_scaler_pads_small_views_and_crops_large_ones():
    scaler = AvmScaler(0.02, 0.04, INPUT)
    small = scaler.fit((400, 400))  # 8 m → 200 px, padded
    assert small.resized == (200, 200) and small.offset == (60, 60) and not small.direct
    canvas = scaler.to_canvas(np.full((400, 400, 3), 255, np.uint8), small)
    assert canvas[:60].max() == 0 and canvas[60:260, 60:260].min() == 255
    large = scaler.fit((1000, 800))  # 20 x 16 m → 500 x 400 px, centre kept
    assert large.offset == (-40, -90)
    mask = np.ones(INPUT, np.uint8)
    back = scaler.mask_to_frame(mask, large, (1000, 800))
    assert back[500, 400] == 1 and back[0, 0] == 0  # the cropped border has no label
    assert scaler.fit((640, 640)).direct


@pytest.mark.parametrize(
    ("frame", "size"), [((640, 640), (321, 321)), ((640, 480), (250, 188)), ((600, 600), (301, 301))]
)
def test_resize_frame_matches_an_area_resize_and_keeps_the_geometry(frame, size):
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (*frame, 3), dtype=np.uint8), (0, 0), 3)
    column = frame[1] * 3 // 4
    image[:, column - 2 : column + 2] = 255  # a vertical line 3/4 across
    resized = resize_frame(image, size)
    reference = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    assert resized.shape == reference.shape
    assert np.abs(resized.astype(int) - reference.astype(int)).mean() < 2.0
    profile = resized[size[0] // 2, :, 0].astype(float)
    expected_x = (column + 0.5) * size[1] / frame[1] - 0.5  # the line's centre, pixel-centre convention
    assert abs(float(np.argmax(profile)) - expected_x) <= 1.0


def test_resize_frame_enlarges_bilinearly():
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, 50:] = 200
    resized = resize_frame(image, (250, 250))
    assert resized.shape == (250, 250, 3) and 0 < resized[0, 124, 0] < 200  # interpolated edge


def test_the_point_threshold_is_the_scenarios_else_the_model_files_else_the_default():
    """A model file judged at its own threshold (metadata ``marking_point_threshold``) runs at it
    unless the scenario sets ``slots.point_threshold``; the shipped parking config leaves it to the
    model."""
    from seg_perception.inference.pipeline import DEFAULT_POINT_THRESHOLD, SegmentationPipeline

    shipped = parking_scenario(MODEL_MPP, INPUT)
    assert "point_threshold" not in shipped.params["slots"]
    plain = PointEngine(row_in_model_pixels())
    judged = PointEngine(row_in_model_pixels())
    judged.metadata = dataclasses.replace(judged.metadata, marking_point_threshold=0.4)
    explicit = dataclasses.replace(
        shipped, params={**shipped.params, "slots": {**shipped.params["slots"], "point_threshold": 0.3}}
    )
    thresholds = [
        SegmentationPipeline(engine, scenario, "avm").point_threshold  # type: ignore[arg-type]
        for engine, scenario in ((plain, shipped), (judged, shipped), (judged, explicit))
    ]
    assert thresholds == [DEFAULT_POINT_THRESHOLD, 0.4, 0.3]
    # props written by older versions (no such key) read back as "not set"
    props = plain.metadata.to_props()
    assert ModelMetadata.from_props(props).marking_point_threshold is None
    assert ModelMetadata.from_props(judged.metadata.to_props()).marking_point_threshold == 0.4
    props.pop("seg_perception.marking_point_threshold")
    assert ModelMetadata.from_props(props) == plain.metadata


def test_frames_of_another_size_than_the_cameras_geometry_get_a_note_naming_what_is_used():
    from seg_perception.inference.pipeline import SegmentationPipeline

    pipeline = SegmentationPipeline(
        PointEngine(row_in_model_pixels()),  # type: ignore[arg-type]
        parking_scenario(0.02, (640, 640)),
        "avm",
    )
    assert pipeline.ground_geometry_note((640, 640)) is None
    note = pipeline.ground_geometry_note((600, 600))
    assert note is not None
    for part in ("'avm'", "600x600", "640x640", "metres_per_pixel 0.02", "origin_px [320.0, 320.0]"):
        assert part in note
    # the scale is still the configured one: nothing is guessed from the frame's size
    assert pipeline.metres_per_pixel == pytest.approx(0.02)
    # said once per size: the first 600x600 frame gets the note, the next ones none
    assert pipeline.new_ground_geometry_note((600, 600)) == note
    assert pipeline.new_ground_geometry_note((600, 600)) is None
    assert pipeline.new_ground_geometry_note((640, 640)) is None


def test_a_camera_without_a_configured_size_or_ground_scale_gets_no_note():
    from seg_perception.inference.pipeline import SegmentationPipeline

    scenario = parking_scenario(0.02)
    unsized = scenario.with_camera_params("avm", {"image_size": None})
    assert "image_size" not in unsized.camera("avm")
    assert "image_size" in scenario.camera("avm")  # the copy leaves the original alone
    pipeline = SegmentationPipeline(PointEngine(row_in_model_pixels()), unsized, "avm")  # type: ignore[arg-type]
    assert pipeline.ground_geometry_note((600, 600)) is None


def test_load_replaces_the_cameras_fields():
    from seg_perception.inference.pipeline import SegmentationPipeline

    pipeline = SegmentationPipeline.load(
        "parking", camera_params={"metres_per_pixel": 0.0167, "image_size": None}
    )
    try:
        assert pipeline.metres_per_pixel == pytest.approx(0.0167)
        assert pipeline.configured_size is None
        assert pipeline.ground_geometry_note((600, 600)) is None
    finally:
        pipeline.close()
