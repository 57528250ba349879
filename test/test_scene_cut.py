"""Frames that do not continue the last one restart the trackers: the detector and the pipeline's use."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.data.synthetic.scenes import generate_drive, generate_scene
from seg_perception.postprocess.scene_cut import SceneCutDetector, SceneCutSettings

ROOT = Path(__file__).resolve().parents[1]
REAL_FRONT = ROOT.parent / "shared" / "realdata" / "front"
STILLS_LABELS = ROOT / "labels" / "real_front" / "tusimple.json"


def _cuts(frames: list[np.ndarray], settings: SceneCutSettings | None = None) -> list[bool]:
    detector = SceneCutDetector(settings)
    return [detector.update(frame) for frame in frames]


@pytest.mark.parametrize(
    ("scenario", "size", "fps"),
    [("highway", (360, 640), 30.0), ("road", (360, 640), 10.0), ("parking", (320, 320), 10.0)],
)
def test_the_frames_of_one_drive_are_no_cut(scenario: str, size: tuple[int, int], fps: float) -> None:
    frames = [sample.image for sample in generate_drive(scenario, 994000, 12, size=size, fps=fps)]
    assert _cuts(frames) == [False] * len(frames)


@pytest.mark.parametrize(("scenario", "size"), [("highway", (360, 640)), ("parking", (320, 320))])
def test_unrelated_scenes_one_after_another_are_cuts(scenario: str, size: tuple[int, int]) -> None:
    scenes = [generate_scene(scenario, 994100 + k, size=size).image for k in range(6)]
    pairs = list(itertools.permutations(scenes, 2))
    alone = [SceneCutDetector().update(a) or SceneCutDetector().update(b) for a, b in pairs]
    assert not any(alone)  # a first frame is never a cut
    detector = SceneCutDetector()
    found = []
    for a, b in pairs:
        detector.reset()
        detector.update(a)
        found.append(detector.update(b))
    # some unrelated pairs share enough fine detail to pass for one stream; most do not
    assert sum(found) >= 0.6 * len(pairs), [detector.last_correlation]


def test_the_first_frame_a_reset_and_a_repeated_frame_are_no_cut_another_size_is() -> None:
    frame = generate_scene("highway", 994200, size=(360, 640)).image
    detector = SceneCutDetector()
    assert detector.update(frame) is False and detector.last_correlation is None
    assert detector.update(frame.copy()) is False and detector.last_correlation == pytest.approx(1.0)
    assert detector.update(cv2.resize(frame, (320, 180))) is True and detector.last_correlation is None
    detector.reset()
    assert detector.update(generate_scene("highway", 994201, size=(360, 640)).image) is False


def test_a_blank_frame_is_no_cut_and_the_next_picture_is_compared_with_the_last_one_before_it() -> None:
    """A covered lens or a frame filled black tells nothing of where the camera is: the trackers hold
    through it, and the picture after it continues the one before it or not."""
    size = (480, 640)
    black = np.zeros((*size, 3), np.uint8)
    drive = [sample.image for sample in generate_drive("road", 994300, 3, size=size, fps=10.0)]
    other = generate_scene("road", 994301, size=size).image
    noisy = np.random.default_rng(0).normal(40, 4, black.shape).clip(0, 255).astype(np.uint8)  # lens covered
    frames = [black, drive[0], black, drive[1], noisy, drive[2], black, other]
    assert _cuts(frames) == [False, False, False, False, False, False, False, True]


def test_a_switched_off_detector_never_cuts_and_looks_at_nothing() -> None:
    scenes = [generate_scene("highway", 994400 + k, size=(180, 320)).image for k in range(3)]
    detector = SceneCutDetector(SceneCutSettings(enabled=False))
    assert [detector.update(scene) for scene in scenes] == [False] * 3
    assert detector.last_correlation is None


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"min_correlation": 0.3}, "unknown scene_cut settings"),
        ({"min_detail_correlation": 1.5}, "in -1..1"),
        ({"thumbnail_px": 16}, "thumbnail_px must be at least"),
        ({"detail_sigma_px": 0}, "detail_sigma_px above 0"),
        ({"enabled": "perhaps"}, "enabled"),
    ],
)
def test_a_bad_scene_cut_block_is_an_error_naming_the_setting(block: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SceneCutSettings.from_mapping(block)


def test_every_shipped_scenario_reads_its_scene_cut_block() -> None:
    from seg_perception.config import load_scenario, scenario_names

    for name in scenario_names():
        scenario = load_scenario(name)
        settings = SceneCutSettings.from_mapping(scenario.params.get("scene_cut"))
        assert settings.enabled, name


def test_a_bad_scene_cut_block_is_a_start_up_error_of_the_pipeline() -> None:
    import dataclasses

    from seg_perception.config import load_scenario
    from seg_perception.errors import ConfigError
    from seg_perception.inference.pipeline import SegmentationPipeline

    scenario = load_scenario("parking")
    block = {"min_detail_correlation": 2}
    bad = dataclasses.replace(scenario, params={**scenario.params, "scene_cut": block})
    with pytest.raises(ConfigError, match=r"scene_cut\.min_detail_correlation"):
        SegmentationPipeline(_point_engine(), bad, "avm")  # type: ignore[arg-type]


def _point_engine():  # the slot tests' engine: a row of four marking points, whatever the frame
    from test_inference_slots_pipeline import PointEngine, row_in_model_pixels

    return PointEngine(row_in_model_pixels())


def test_the_slot_tracker_starts_afresh_on_an_unrelated_frame_and_not_within_a_drive() -> None:
    from test_inference_slots_pipeline import parking_scenario

    from seg_perception.inference.pipeline import SegmentationPipeline

    pipeline = SegmentationPipeline(_point_engine(), parking_scenario(0.02, (320, 320)), "avm")  # type: ignore[arg-type]
    drive = [sample.image for sample in generate_drive("parking", 994500, 4, size=(320, 320), fps=10.0)]
    results = [pipeline.process(frame) for frame in drive]
    assert [result.scene_cut for result in results] == [False] * 4
    ids = {slot.instance_id for slot in results[0].slots}
    assert ids and all({slot.instance_id for slot in result.slots} == ids for result in results)
    # the same points in an unrelated view: without the cut they would keep their ids (and be
    # blended with the last view's corners); with it they are new slots
    unrelated = pipeline.process(generate_scene("parking", 994600, size=(320, 320)).image)
    assert unrelated.scene_cut
    assert {slot.instance_id for slot in unrelated.slots}.isdisjoint(ids)


@pytest.mark.skipif(not REAL_FRONT.is_dir(), reason="needs ../shared/realdata/front")
def test_real_stills_fed_as_one_stream_score_close_to_each_alone() -> None:
    """A folder of unrelated stills published one after another (what a node sees from an image
    publisher or a bag of stills): before the cut test the trackers carried each still's boundaries into
    the next and waited a frame before showing new ones (TuSimple accuracy 0.690 on these 14, against
    0.969 each alone)."""
    from seg_perception.data.lanes import read_tusimple_labels
    from seg_perception.inference.pipeline import SegmentationPipeline
    from seg_perception.metrics.lanes import TuSimpleMetrics

    labels = read_tusimple_labels(STILLS_LABELS)
    images = [cv2.imread(str(REAL_FRONT / label.raw_file)) for label in labels]

    def accuracy(scene_cut: dict[str, object], *, alone: bool) -> tuple[float, int]:
        camera = {"scene_cut": scene_cut}
        pipeline = SegmentationPipeline.load("highway", camera_params=camera, intra_op_threads=1)
        metrics, cuts = TuSimpleMetrics(), 0
        for label, image in zip(labels, images, strict=True):
            if alone:
                pipeline.reset_tracking()
            result = pipeline.process(image)
            cuts += result.scene_cut
            assert result.lanes is not None
            boundaries = [boundary.image_points for boundary in result.lanes.boundaries]
            metrics.update(boundaries, label.polylines(), label.h_samples, image_width=image.shape[1])
        return float(metrics.summary()["accuracy"]), cuts

    alone, _ = accuracy({}, alone=True)
    streamed, cuts = accuracy({}, alone=False)
    uncut, none = accuracy({"enabled": False}, alone=False)
    assert none == 0 and cuts >= 4
    assert streamed >= alone - 0.05 and uncut < streamed - 0.15, (alone, streamed, uncut)


def test_stamps_that_go_back_or_pause_longer_than_the_gap_are_jumps() -> None:
    from seg_perception.postprocess.scene_cut import StampGap

    gap = StampGap(1.0)
    second = 10**9
    assert [gap.jump(t) for t in (5 * second, 5 * second + 33_000_000, 6 * second)] == [None, None, None]
    assert gap.jump(3 * second) == "went back"
    assert gap.jump(0) is None  # an unset stamp tells nothing
    assert gap.jump(9 * second) == "paused 6.0 s"
    gap.reset()
    assert gap.jump(2 * second) is None  # a new stream's first frame
    never = StampGap(0.0)
    assert [never.jump(t) for t in (9 * second, second, 100 * second)] == [None, None, None]
