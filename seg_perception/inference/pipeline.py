"""The single per-frame code path: frame → mask → polygons / parking slots (no ROS here).

The ROS node and the offline bag tools both call :class:`SegmentationPipeline`, so
live and offline results are identical.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seg_perception.config import (
    DEFAULT_SCENARIO,
    ClassMap,
    ClassRoles,
    ScenarioConfig,
    camera_image_size,
    is_cuda_device,
    load_scenario,
    scenario_model_path,
    scenario_names,
)
from seg_perception.errors import ConfigError
from seg_perception.geometry import ParkingSlot, Polygon
from seg_perception.inference.avm_scale import AvmScaler, check_metres_per_pixel
from seg_perception.inference.base import SegmentationEngine
from seg_perception.inference.errors import ModelFileError
from seg_perception.inference.exposure import exposure_settings, normalise_exposure
from seg_perception.inference.metadata import MARKING_POINTS_NAME
from seg_perception.inference.options import EngineOptions
from seg_perception.inference.preprocess import check_image
from seg_perception.postprocess import extract_parking_slots, extract_polygons
from seg_perception.postprocess import overlay as blend_overlay
from seg_perception.postprocess.camera_model import GroundMapper, ground_mapper_from_config
from seg_perception.postprocess.ground import pixels_to_vehicle_metres
from seg_perception.postprocess.lane_tracking import LaneTracker, TrackerSettings
from seg_perception.postprocess.lanes import LaneExtractor, LaneResult, LaneSettings
from seg_perception.postprocess.marking_points import (
    TEST_TIME_FLIPS,
    decode_marking_points,
    drop_weak_edge_points,
    flip_frame,
    merge_flipped_maps,
    scale_points,
)
from seg_perception.postprocess.scene_cut import SceneCutDetector, SceneCutSettings
from seg_perception.postprocess.settings import switch_value
from seg_perception.postprocess.slot_assembly import SlotPriors, assemble_slots
from seg_perception.postprocess.slot_tracker import SlotTracker, TrackerConfig
from seg_perception.postprocess.visualize import annotate, color_table, draw_lanes

DEFAULT_MIN_AREA_PX = 60.0
DEFAULT_EPSILON_PX = 2.0
SLOT_METHODS = ("auto", "marking_points", "free_space")
#: frames whose aspect ratio differs from their calibration's by more than this share are noted (a
#: resized or binned stream keeps the aspect ratio; a crop or another sensor mode does not)
CALIBRATION_ASPECT_TOLERANCE = 0.01
# Fallbacks for a ``slots`` block that leaves these out: the shipped config/parking.yaml values.
DEFAULT_POINT_THRESHOLD = 0.2
DEFAULT_NMS_RADIUS_M = 0.3
DEFAULT_EDGE_MARGIN_M = 0.8
DEFAULT_EDGE_POINT_THRESHOLD = 0.3


@dataclass
class FrameResult:
    """Everything one frame produced.

    Attributes:
        mask: (H, W) uint8 class ids at the frame's size.
        polygons: One polygon per connected region of each non-background class.
        slots: Parking slots (scenarios with ``postprocess: parking_slots``).
        lanes: Tracked lane boundaries, ego lane, stop lines and crosswalks (scenarios with
            ``postprocess: lanes`` and lanes enabled), else None.
        marking_points: ``(K, 5)`` rows ``(x, y, dx, dy, score)`` in frame pixels (models
            with a marking-point head; empty otherwise).
        timings_ms: ``preprocess``, ``inference``, ``mask`` (engine), ``postprocess``
            and ``total`` in milliseconds.
        scene_cut: The frame does not continue the one before it (``scene_cut`` block,
            :mod:`seg_perception.postprocess.scene_cut`): the trackers started afresh on it.
    """

    mask: np.ndarray
    polygons: list[Polygon] = field(default_factory=list)
    slots: list[ParkingSlot] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    lanes: LaneResult | None = None
    marking_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    scene_cut: bool = False

    def to_json(self) -> dict[str, Any]:
        """Polygons, slots, marking points and lanes in the contest's JSON spirit (class, id, vertices)."""
        record: dict[str, Any] = {
            "polygons": [polygon.to_json() for polygon in self.polygons],
            "slots": [slot.to_json() for slot in self.slots],
        }
        if len(self.marking_points):
            record["marking_points"] = [
                {
                    "x": round(float(x), 2),
                    "y": round(float(y), 2),
                    "dx": round(float(dx), 3),
                    "dy": round(float(dy), 3),
                    "score": round(float(score), 3),
                }
                for x, y, dx, dy, score in self.marking_points
            ]
        if self.lanes is not None:
            record["lanes"] = self.lanes.to_json()
        return record


@dataclass
class Segmentation:
    """The engine's result for one frame (:meth:`SegmentationPipeline.segment`), before post-processing.

    Attributes:
        image: The frame (checked), for the paint colour of lane boundaries.
        mask: (H, W) uint8 class ids at the frame's size.
        coarse_mask: The model-resolution mask ``mask`` is the nearest upscale of (regions are
            traced on it), or None.
        frame_from_model: 2x3 affine, model pixels -> frame pixels.
        outputs: The engine's extra outputs (e.g. marking points).
        timings_ms: The engine's ``preprocess``, ``inference`` and ``mask`` times.
        start: ``time.perf_counter()`` when segmentation started.
    """

    image: np.ndarray
    mask: np.ndarray
    coarse_mask: np.ndarray | None
    frame_from_model: np.ndarray
    outputs: dict[str, np.ndarray]
    timings_ms: dict[str, float]
    start: float


def _test_time_flips(block: dict[str, Any], engine: SegmentationEngine) -> int:
    """How many mirror copies of a frame the marking points average (pops the keys from ``block``).

    ``slots.test_time_flips``; on an engine that runs on CUDA, ``slots.cuda_test_time_flips`` when
    set: there the copies go through the model as one cheap batch, on a CPU each costs a frame.

    Raises:
        ConfigError: a value is not one of :data:`TEST_TIME_FLIPS`.
    """
    values = {key: block.pop(key, None) for key in ("test_time_flips", "cuda_test_time_flips")}
    for key, value in values.items():
        if value is not None and (value not in TEST_TIME_FLIPS or isinstance(value, bool)):
            raise ConfigError(f"slots.{key} must be one of {sorted(TEST_TIME_FLIPS)}, got {value!r}")
    on_cuda = values["cuda_test_time_flips"]
    if on_cuda is not None and is_cuda_device(engine.device):
        return int(on_cuda)
    return int(values["test_time_flips"] or 1)


class SegmentationPipeline:
    """An engine plus a scenario's post-processing for one camera.

    Polygon thresholds come from the scenario's ``polygon`` block (``min_area_px``,
    ``simplify_epsilon_px``), overridable per camera with a ``polygon`` block inside
    the camera's parameters. What else is extracted is the scenario's ``postprocess``, with
    the classes its ``roles`` name (:mod:`seg_perception.config`): parking slots
    (``parking_slots``: ``slot_line`` and ``free_space`` classes; the ego point for the slot
    entrance rule is the camera's ``origin_px`` when configured) or lane boundaries (``lanes``).

    Regions are traced on the engine's model-resolution mask (``Engine.predict_masks``)
    when the frame is larger: the frame's mask is its nearest upscale, so the regions
    and area thresholds are the same while contour tracing visits up to 4x fewer pixels;
    vertices are mapped to frame pixels (see :mod:`seg_perception.postprocess.coarse`).
    An engine whose two masks are the frame's size is post-processed at frame size.

    Lane boundaries (:mod:`seg_perception.postprocess.lanes`) are extracted and tracked from the
    ``lane_paint`` class (and ``crosswalk``, ``stop_line`` when the scenario has them) unless the
    scenario's ``lanes`` block sets ``enabled: false``; the rest of that block (overridable per camera) holds
    :class:`LaneSettings` and a ``tracking`` block of :class:`TrackerSettings`. They are in
    ground metres when the camera is calibrated (``ground``, or the camera block's
    ``ground_homography`` / ``camera_info_file`` + ``mounting``), in image space otherwise.
    The tracker keeps state: one pipeline per camera stream, :meth:`reset_tracking` between streams.
    Within a stream, a frame that does not continue the one before (unrelated pictures fed one after
    another) restarts the trackers on its own: the scenario's ``scene_cut`` block (overridable per
    camera) holds :class:`~seg_perception.postprocess.scene_cut.SceneCutSettings`. A frame exposed or
    white-balanced outside what the models were trained on is brought into that range first (the
    ``exposure`` block: :mod:`seg_perception.inference.exposure`; off unless the scenario turns it on).
    """

    def __init__(
        self,
        engine: SegmentationEngine,
        scenario: ScenarioConfig,
        camera: str,
        *,
        overlay_alpha: float = 0.5,
        ground: GroundMapper | None = None,
    ) -> None:
        """Bind an engine to a scenario's camera.

        Args:
            engine: The segmentation engine.
            scenario: Class map and post-processing settings.
            camera: The camera's name in the scenario.
            overlay_alpha: Weight of the class colours in overlays.
            ground: Pixel <-> ground mapping of the camera; None reads the camera's config block.

        Raises:
            ModelFileError: the model's classes differ from the scenario's.
            ConfigError: the scenario has no such camera.
        """
        if camera not in scenario.cameras:
            raise ConfigError(
                f"scenario {scenario.name!r} has no camera {camera!r}; cameras are {list(scenario.cameras)}"
            )
        model_classes = list(engine.metadata.classes)
        scenario_classes = list(scenario.classes.names)
        if model_classes != scenario_classes:
            raise ModelFileError(
                f"model {engine.model_file} was trained for classes {model_classes} "
                f"(scenario {engine.metadata.scenario!r}) but scenario {scenario.name!r} "
                f"expects {scenario_classes}; set model_file to the {scenario.name} model "
                f"or export one trained on this class map"
            )
        self.engine = engine
        self.scenario = scenario
        self.camera = camera
        self.overlay_alpha = overlay_alpha
        self._colors = color_table(scenario.classes.colors_bgr)
        self._class_names = scenario.classes.names
        camera_params = scenario.camera(camera)
        polygon_params = {**scenario.params.get("polygon", {}), **camera_params.get("polygon", {})}
        self.min_area_px = float(polygon_params.get("min_area_px", DEFAULT_MIN_AREA_PX))
        self.epsilon_px = float(polygon_params.get("simplify_epsilon_px", DEFAULT_EPSILON_PX))
        names = scenario.classes.names
        roles = scenario.roles
        self._background = roles.all("background")
        self._slot_ids = _slot_class_ids(scenario, roles)
        origin = camera_params.get("origin_px")
        self._ego_px = (float(origin[0]), float(origin[1])) if origin is not None else None
        self._lanes: LaneExtractor | None = None
        self._tracker = LaneTracker()
        self._lane_lock = threading.Lock()
        # Stop lines with a class of their own join the lane paint (the extractor finds them as
        # its transverse bars): (class id, lane paint id) to relabel, else None.
        self._stop_as_paint: tuple[int, int] | None = None
        lane_block = {**scenario.params.get("lanes", {}), **camera_params.get("lanes", {})}
        lane_paint = roles.get("lane_paint") if scenario.postprocess == "lanes" else None
        if lane_paint is not None and lane_block.get("enabled", True):
            stop_line = roles.get("stop_line")
            if stop_line is not None:
                self._stop_as_paint = (stop_line, lane_paint)
            settings, tracking = lane_settings_and_tracking(scenario, lane_block)
            mapper = ground if ground is not None else ground_mapper_from_config(camera_params)
            self._lanes = LaneExtractor(names, settings, mapper=mapper)
            self._tracker = LaneTracker(tracking)
        self._configure_slots(engine, scenario, camera_params)
        cut_block = {**(scenario.params.get("scene_cut") or {}), **(camera_params.get("scene_cut") or {})}
        try:
            cut_settings = SceneCutSettings.from_mapping(cut_block)
            #: frames brought into the trained exposure and colour range before the model and the lanes
            self.exposure = exposure_settings(scenario.params, camera_params)
        except ValueError as err:
            raise ConfigError(f"scenario {scenario.name!r}, camera {camera!r}: {err}") from err
        # only a pipeline that tracks something has anything to restart
        tracks = self._lanes is not None or self._slot_tracker is not None
        self._scene_cut = SceneCutDetector(cut_settings) if tracks else None
        #: (height, width) the camera's ground geometry (``metres_per_pixel``, ``origin_px``) was set for
        self.configured_size = camera_image_size(camera_params)
        self._sizes_checked: set[tuple[int, int]] = set()  # frame sizes new_ground_geometry_note has seen

    def ground_geometry_note(self, frame_size: tuple[int, int]) -> str | None:
        """Why this frame size may not fit the camera's ground geometry, or None when it does.

        ``metres_per_pixel`` and ``origin_px`` describe frames of the camera's ``image_size``. A frame
        of another size (another AVM, a resized stream) is still read with them: the model then sees
        the ground at a wrong scale, which costs slots (``docs/parking_slots.md``, "Scale"), and the
        metric corners shift. A front camera's calibration (a CameraInfo) is scaled to frames of
        another size, which is right for a resized or binned stream but not for another aspect ratio
        (a crop, another sensor mode). Nothing is guessed; the caller says so once per size.

        Args:
            frame_size: (height, width) of a frame about to be processed.
        """
        ground = self.ground
        if ground is not None and ground.camera is not None:
            camera = ground.camera
            calibrated = camera.width / camera.height
            if abs(frame_size[1] / frame_size[0] - calibrated) > CALIBRATION_ASPECT_TOLERANCE * calibrated:
                return (
                    f"camera '{self.camera}': frames are {frame_size[1]}x{frame_size[0]} but its "
                    f"calibration (camera info) is for {camera.width}x{camera.height}, another aspect ratio "
                    "(a crop or another sensor mode): it is scaled to the frames all the same, so the metres "
                    "are off. Calibrate the camera at the resolution it streams"
                )
            return None
        expected = self.configured_size
        if self.metres_per_pixel is None or expected is None or tuple(frame_size) == expected:
            return None
        origin = f", origin_px {list(self._ego_px)}" if self._ego_px is not None else ""
        return (
            f"camera '{self.camera}': frames are {frame_size[1]}x{frame_size[0]} but its ground geometry "
            f"(metres_per_pixel {self.metres_per_pixel:g}{origin}) is set for image_size "
            f"{expected[1]}x{expected[0]}; it is used as set. If these frames cover the ground at "
            "another scale, set the camera's metres_per_pixel, origin_px and image_size for them "
            "(a wrong scale costs slots: docs/parking_slots.md, Scale)"
        )

    def new_ground_geometry_note(self, frame_size: tuple[int, int]) -> str | None:
        """:meth:`ground_geometry_note` for the first frame of each size this pipeline is given, else None:
        what the node, ``predict`` and ``process`` say once per frame size."""
        size = (int(frame_size[0]), int(frame_size[1]))
        if size in self._sizes_checked:
            return None
        self._sizes_checked.add(size)
        return self.ground_geometry_note(size)

    def set_ground(self, ground: GroundMapper | None) -> None:
        """Use a new pixel <-> ground mapping for the lane boundaries (e.g. from a CameraInfo topic).

        Tracks restart (their curves were in the old plane). Safe while another thread processes.
        """
        if self._lanes is None:
            return
        with self._lane_lock:
            self._lanes = LaneExtractor(self._class_names, self._lanes.settings, mapper=ground)
            self._tracker = LaneTracker(self._tracker.settings)
        self._sizes_checked.clear()  # frame sizes are checked against the new calibration

    @property
    def ground(self) -> GroundMapper | None:
        """The lane extraction's pixel <-> ground mapping (None: image space or no lanes)."""
        return self._lanes.mapper if self._lanes is not None else None

    def reset_tracking(self) -> None:
        """Forget tracked lane boundaries and parking slots (a new stream starts)."""
        self._restart_trackers()
        if self._scene_cut is not None:
            self._scene_cut.reset()

    def _restart_trackers(self) -> None:
        self._tracker.reset()
        if self._slot_tracker is not None:
            self._slot_tracker.reset()

    @property
    def scene_cut_settings(self) -> SceneCutSettings | None:
        """How frames that do not continue the last are told (None: nothing is tracked)."""
        return self._scene_cut.settings if self._scene_cut is not None else None

    def _configure_slots(
        self, engine: SegmentationEngine, scenario: ScenarioConfig, camera_params: dict[str, Any]
    ) -> None:
        """Slot method, ground scale and tracker from the scenario's ``slots`` block and the model.

        Raises:
            ConfigError: a bad ``slots`` block, or a model trained at a ground resolution with a
                camera whose ``metres_per_pixel`` is missing or implausible.
        """
        metadata = engine.metadata
        block = dict(scenario.params.get("slots") or {})
        block.update(camera_params.get("slots") or {})
        method = str(block.pop("method", "auto"))
        if method not in SLOT_METHODS:
            raise ConfigError(f"slots.method must be one of {SLOT_METHODS}, got {method!r}")
        if method == "auto":
            method = "marking_points" if metadata.has_marking_points else "free_space"
        if method == "marking_points" and not metadata.has_marking_points:
            raise ModelFileError(
                f"slots.method is marking_points but model {engine.model_file} has no marking-point "
                "output; export a model trained with model.options.marking_points, or use free_space"
            )
        self.slot_method = method if self._slot_ids is not None else "none"
        # the scenario's threshold, else the one the model file was judged at, else the default
        model_threshold = metadata.marking_point_threshold
        self.point_threshold = float(
            block.pop(
                "point_threshold", DEFAULT_POINT_THRESHOLD if model_threshold is None else model_threshold
            )
        )
        self.nms_radius_m = float(block.pop("nms_radius_m", DEFAULT_NMS_RADIUS_M))
        self.edge_margin_m = float(block.pop("edge_margin_m", DEFAULT_EDGE_MARGIN_M))
        self.edge_point_threshold = float(block.pop("edge_point_threshold", DEFAULT_EDGE_POINT_THRESHOLD))
        flips = _test_time_flips(block, engine)
        #: (horizontal, vertical) flips of the frame whose marking points are averaged.
        self.point_flips = (
            TEST_TIME_FLIPS[int(flips)] if self.slot_method == "marking_points" else TEST_TIME_FLIPS[1]
        )
        tracker_block = dict(block.pop("tracker", None) or {})
        try:
            track = switch_value(tracker_block.pop("enabled", True), "slots.tracker.enabled")
            self.slot_priors = SlotPriors.from_config(block)
            tracker_config = TrackerConfig.from_config(tracker_block)
        except (ValueError, TypeError, IndexError) as err:
            raise ConfigError(f"scenario {scenario.name!r}: bad slots block ({err})") from err
        camera_mpp = camera_params.get("metres_per_pixel")
        self.metres_per_pixel: float | None = None
        self._scaler: AvmScaler | None = None
        what = f"camera {self.camera!r} metres_per_pixel (scenario {scenario.name!r})"
        if metadata.metres_per_pixel is not None:
            # A model trained at a ground resolution: every frame is brought to it.
            self.metres_per_pixel = check_metres_per_pixel(camera_mpp, what=what)
            model_mpp = check_metres_per_pixel(
                metadata.metres_per_pixel, what=f"model {engine.model_file} metadata metres_per_pixel"
            )
            self._scaler = AvmScaler(self.metres_per_pixel, model_mpp, metadata.input_size)
        elif camera_mpp is not None or self.slot_method == "marking_points":
            self.metres_per_pixel = check_metres_per_pixel(camera_mpp, what=what)
        self._slot_tracker = (
            SlotTracker(tracker_config)
            if track and self.slot_method == "marking_points" and self.metres_per_pixel is not None
            else None
        )

    @classmethod
    def load(
        cls,
        scenario: str | os.PathLike[str] | None = None,
        *,
        model_file: str | os.PathLike[str] | None = None,
        device: str | None = None,
        engine: str | None = None,
        camera: str | None = None,
        camera_params: Mapping[str, Any] | None = None,
        overlay_alpha: float = 0.5,
        options: EngineOptions | None = None,
        **engine_options: Any,
    ) -> SegmentationPipeline:
        """Load a model and its scenario in one call: the package's Python entry point.

        Example::

            from seg_perception import SegmentationPipeline
            pipeline = SegmentationPipeline.load("highway")       # shipped model, CPU
            result = pipeline.process(cv2.imread("frame.jpg"))    # .mask, .polygons, .slots
            cv2.imwrite("annotated.png", pipeline.draw(frame, result))

        Args:
            scenario: A scenario name (``config/<name>.yaml``) or a scenario YAML path. None with a
                ``model_file``: the scenario named in the model's metadata, or, for a model of
                another class map (e.g. one given metadata by ``seg-perception add-metadata``),
                a single-camera scenario built from the metadata's classes and colours.
            model_file: ONNX model or ``.pt`` checkpoint; default: the scenario's model for the
                device (:func:`~seg_perception.config.scenario_model_path`).
            device: ``cpu``, ``cuda`` or ``cuda:N`` (default: ``options``', else ``cpu``).
            engine: ``onnxruntime`` or ``torch`` (default: ``options``', else ``onnxruntime``).
            camera: Camera of the scenario (default: its first).
            camera_params: Fields of the camera's parameter block replaced (None: removed), e.g.
                ``{"metres_per_pixel": 0.0167}`` for bird's-eye frames at another ground scale.
            options: Engine options (:class:`~seg_perception.inference.options.EngineOptions`).
            engine_options: Fields of ``options`` replaced (``fp16``, ``intra_op_threads``, ...).

        Raises:
            ConfigError: unknown scenario or camera.
            ModelFileError: missing or corrupt model, or classes that differ from the scenario's.
            EngineError: unknown engine or device.
        """
        from seg_perception.inference.engine import create_engine

        if scenario is None and model_file is None:
            scenario = DEFAULT_SCENARIO
        config = load_scenario(scenario) if scenario is not None else None
        if model_file is not None:
            model: str | os.PathLike[str] = model_file
        else:  # scenario is set when model_file is not: the scenario's model for the device
            assert config is not None
            model = scenario_model_path(config, device or (options.device if options else None))
        overrides = {"engine": engine, "device": device}
        engine_options.update({name: value for name, value in overrides.items() if value is not None})
        loaded = create_engine(model, options, **engine_options)
        try:
            if config is None:
                config = scenario_from_metadata(loaded.metadata)
            camera = camera or config.primary_camera
            if camera_params:
                config = config.with_camera_params(camera, camera_params)
            return cls(loaded, config, camera, overlay_alpha=overlay_alpha)
        except Exception:
            loaded.close()
            raise

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._class_names

    @property
    def colors_bgr(self) -> np.ndarray:
        """(num_classes, 3) uint8 BGR colour per class, from the scenario configuration."""
        return self.scenario.classes.colors_bgr

    def __call__(self, image_bgr: np.ndarray) -> FrameResult:
        return self.process(image_bgr)

    def draw(
        self, image_bgr: np.ndarray, result: FrameResult, *, alpha: float | None = None, legend: bool = True
    ) -> np.ndarray:
        """A new picture of ``result``: class colours, polygons / slots with their ids, a legend and
        the lane boundaries (with ids, positions and types) when the result has them."""
        picture = annotate(
            image_bgr,
            result.mask,
            class_names=self._class_names,
            colors_bgr=self.scenario.classes.colors_bgr,
            polygons=result.polygons,
            slots=result.slots,
            alpha=self.overlay_alpha if alpha is None else alpha,
            legend=legend,
        )
        if result.lanes is not None:
            draw_lanes(picture, result.lanes)
        return picture

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()

    def __enter__(self) -> SegmentationPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def process(self, image_bgr: np.ndarray) -> FrameResult:
        """Segment one frame and extract its polygons (and slots): :meth:`segment` then :meth:`postprocess`.

        Raises:
            InvalidImageError: the frame is not a (H, W, 3) uint8 image.
        """
        return self.postprocess(self.segment(image_bgr))

    def segment(self, image_bgr: np.ndarray) -> Segmentation:
        """The engine's part of :meth:`process`: the class mask at the frame's size (and at the model's).

        The node publishes the mask as soon as this returns, before the post-processing.

        Raises:
            InvalidImageError: the frame is not a (H, W, 3) uint8 image.
        """
        start = time.perf_counter()
        fit = None
        if self.exposure.enabled or self._scaler is not None:
            image_bgr = check_image(image_bgr)
        # what the model and the lane stage see; the overlay keeps the camera's frame
        if self.exposure.enabled:
            image_bgr = normalise_exposure(image_bgr, self.exposure)
        if self._scaler is not None:
            frame_size = (int(image_bgr.shape[0]), int(image_bgr.shape[1]))
            fit = self._scaler.fit(frame_size)
        if fit is not None and not fit.direct and self._scaler is not None:  # pad / crop to the model's scale
            canvas = self._scaler.to_canvas(image_bgr, fit)
            _, model_mask, outputs = self._predict(canvas)
            mask = self._scaler.mask_to_frame(model_mask, fit, frame_size)
            frame_from_model = fit.frame_from_canvas()
        else:
            mask, model_mask, outputs = self._predict(image_bgr)
            frame_from_model = _resize_affine(model_mask.shape, mask.shape)
        coarse = model_mask if fit is None or fit.direct else None
        if coarse is not None and not _is_upscale(model_mask.shape, mask.shape):
            coarse = None
        return Segmentation(
            image=image_bgr,
            mask=mask,
            coarse_mask=coarse,
            frame_from_model=frame_from_model,
            outputs=outputs,
            timings_ms=dict(self.engine.last_timings_ms),
            start=start,
        )

    def _predict(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """The engine's masks of one frame and its other outputs; with test-time flips, the
        flipped copies go through the engine in the same batch and their marking points are merged."""
        if len(self.point_flips) == 1:
            mask, model_mask = self.engine.predict_masks(image_bgr)
            return mask, model_mask, dict(self.engine.last_outputs)
        copies = [flip_frame(image_bgr, flip) for flip in self.point_flips]
        (mask, model_mask), *_ = self.engine.predict_masks_batch(copies)
        outputs = dict(self.engine.last_outputs)
        if MARKING_POINTS_NAME in outputs:
            outputs[MARKING_POINTS_NAME] = merge_flipped_maps(outputs[MARKING_POINTS_NAME], self.point_flips)[
                None
            ]
        return mask, model_mask, outputs

    def trace_polygons(self, segmentation: Segmentation) -> list[Polygon]:
        """The region polygons of a :meth:`segment` result, in frame pixels (no tracker involved).

        Regions are traced on the model-resolution mask (the frame's mask is its nearest
        upscale: same regions, up to ~4x fewer pixels) and vertices scaled to the frame.
        """
        return extract_polygons(
            segmentation.mask,
            self._class_names,
            min_area_px=self.min_area_px,
            epsilon_px=self.epsilon_px,
            background=self._background,
            coarse_mask=segmentation.coarse_mask,
        )

    def postprocess(self, segmentation: Segmentation, *, polygons: bool = True) -> FrameResult:
        """Polygons, parking slots and lane boundaries of a :meth:`segment` result (updates the trackers).

        Args:
            polygons: Trace the region polygons; False leaves ``FrameResult.polygons`` empty (the
                node skips them on frames where no output draws them). Slots and lanes do not
                depend on them.
        """
        image_bgr, mask, coarse = segmentation.image, segmentation.mask, segmentation.coarse_mask
        frame_from_model, outputs = segmentation.frame_from_model, segmentation.outputs
        after_engine = time.perf_counter()
        scene_cut = self._scene_cut is not None and self._scene_cut.update(image_bgr)
        if scene_cut:  # what was tracked belongs to another picture
            with self._lane_lock:
                self._restart_trackers()
        regions = self.trace_polygons(segmentation) if polygons else []
        slots: list[ParkingSlot] = []
        points = np.zeros((0, 5))
        if self.slot_method == "marking_points" and self._slot_ids is not None:
            slots, points = self._slots_from_points(outputs, mask, frame_from_model)
        elif self._slot_ids is not None:
            slot_line_id, free_slot_id = self._slot_ids
            slots = extract_parking_slots(
                mask,
                slot_line_id=slot_line_id,
                free_slot_id=free_slot_id,
                min_area_px=self.min_area_px,
                ego_px=self._ego_px,
                coarse_mask=coarse,
            )
        lanes = None
        if self._lanes is not None:
            lane_mask = coarse if coarse is not None else mask
            if self._stop_as_paint is not None:
                stop_line, lane_paint = self._stop_as_paint
                lane_mask = np.where(lane_mask == stop_line, np.uint8(lane_paint), lane_mask)
            with self._lane_lock:
                frame_size = (int(mask.shape[0]), int(mask.shape[1]))
                detections = self._tracker.detect(self._lanes, lane_mask, image_bgr, frame_size)
                lanes = self._tracker.update(detections)
        end = time.perf_counter()
        timings = dict(segmentation.timings_ms)
        timings["postprocess"] = (end - after_engine) * 1e3
        timings["total"] = (end - segmentation.start) * 1e3
        return FrameResult(
            mask=mask,
            polygons=regions,
            slots=slots,
            timings_ms=timings,
            lanes=lanes,
            marking_points=points,
            scene_cut=scene_cut,
        )

    def _slots_from_points(
        self, outputs: dict[str, np.ndarray], mask: np.ndarray, frame_from_model: np.ndarray
    ) -> tuple[list[ParkingSlot], np.ndarray]:
        """Marking points → slots in frame pixels and metres, tracked (see ``postprocess.slot_assembly``)."""
        points_map = outputs.get(MARKING_POINTS_NAME)
        if points_map is None or self.metres_per_pixel is None or self._slot_ids is None:
            return [], np.zeros((0, 5))
        stride = self.engine.metadata.marking_point_stride
        model_mpp = self.engine.metadata.metres_per_pixel or self.metres_per_pixel * abs(
            frame_from_model[0, 0]
        )
        points = decode_marking_points(
            points_map[0],
            stride=stride,
            threshold=self.point_threshold,
            nms_radius_px=self.nms_radius_m / model_mpp,
            offsets=self.engine.metadata.marking_point_offsets,
        )
        points = scale_points(points, frame_from_model)
        points = drop_weak_edge_points(
            points,
            mask.shape[:2],
            margin_px=self.edge_margin_m / self.metres_per_pixel,
            threshold=self.edge_point_threshold,
        )
        return self.slots_from_marking_points(points, mask), points

    def slots_from_marking_points(self, points: np.ndarray, mask: np.ndarray) -> list[ParkingSlot]:
        """Slots of decoded marking points in frame pixels, with metric corners, tracked (with the
        tracker's held slots after the detected ones, see ``postprocess.slot_tracker``).

        The assembly step of :meth:`postprocess` on its own, so marking points from elsewhere
        (the true ones of a synthetic scene: ``eval --avm --oracle``) go through the same priors,
        paint and free-space checks and tracker as the model's.

        Args:
            points: ``(K, 5)`` rows ``(x, y, dx, dy, score)`` in frame pixels.
            mask: ``(H, W)`` class ids of the frame (slot-line paint and free space).
        """
        if self.metres_per_pixel is None or self._slot_ids is None:
            return []
        slot_line_id, free_slot_id = self._slot_ids
        slots = assemble_slots(
            points,
            metres_per_pixel=self.metres_per_pixel,
            priors=self.slot_priors,
            line_mask=mask == slot_line_id,
            free_mask=mask == free_slot_id,
        )
        height, width = mask.shape
        origin = self._ego_px if self._ego_px is not None else (width / 2.0, height / 2.0)
        for slot in slots:
            slot.corners_m = pixels_to_vehicle_metres(slot.corners, self.metres_per_pixel, origin).astype(
                np.float32
            )
        if self._slot_tracker is not None:
            slots = self._slot_tracker.update(slots, (height, width))
        return slots

    def overlay(
        self,
        image_bgr: np.ndarray,
        mask: np.ndarray,
        alpha: float | None = None,
        *,
        out: np.ndarray | None = None,
        lanes: LaneResult | None = None,
    ) -> np.ndarray:
        """Class colours (from the scenario config) blended over the frame's foreground pixels.

        ``out`` (a C-contiguous (H, W, 3) uint8 array, e.g. a message buffer) receives the
        result instead of a new array. ``lanes`` (a frame's :attr:`FrameResult.lanes`) are
        drawn on top: boundaries, ego lane, stop lines and crosswalks.
        """
        alpha = self.overlay_alpha if alpha is None else alpha
        result = blend_overlay(image_bgr, mask, self._colors, alpha, out=out)
        if lanes is not None:
            draw_lanes(result, lanes)
        return result


def mask_geometry(
    mask: np.ndarray, scenario: ScenarioConfig, camera: str
) -> tuple[list[Polygon], list[ParkingSlot]]:
    """Polygons and parking slots of a class-id mask with the scenario camera's thresholds.

    For masks that come from elsewhere (a recorded node output): what
    :meth:`SegmentationPipeline.process` extracts from its own mask, without an engine.
    """
    camera_params = scenario.camera(camera)
    polygon_params = {**scenario.params.get("polygon", {}), **camera_params.get("polygon", {})}
    min_area = float(polygon_params.get("min_area_px", DEFAULT_MIN_AREA_PX))
    epsilon = float(polygon_params.get("simplify_epsilon_px", DEFAULT_EPSILON_PX))
    names = scenario.classes.names
    roles = scenario.roles
    polygons = extract_polygons(
        mask, names, min_area_px=min_area, epsilon_px=epsilon, background=roles.all("background")
    )
    slots: list[ParkingSlot] = []
    slot_ids = _slot_class_ids(scenario, roles)
    if slot_ids is not None:
        origin = camera_params.get("origin_px")
        slots = extract_parking_slots(
            mask,
            slot_line_id=slot_ids[0],
            free_slot_id=slot_ids[1],
            min_area_px=min_area,
            ego_px=(float(origin[0]), float(origin[1])) if origin is not None else None,
        )
    return polygons, slots


def scenario_from_metadata(metadata: Any) -> ScenarioConfig:
    """The scenario a model file names, or a one-camera scenario made of its class map.

    A model trained for one of the scenarios in ``config/`` gets that scenario's configuration
    (cameras, calibration, polygon thresholds, post-processing); any other model gets its own
    classes and colours, one camera called ``camera``, default polygon thresholds and
    ``regions`` post-processing.
    """
    if metadata.scenario in scenario_names():
        shipped = load_scenario(metadata.scenario)
        if tuple(shipped.classes.names) == tuple(metadata.classes):
            return shipped
    classes = ClassMap(tuple(metadata.classes), tuple(metadata.colors))
    params: dict[str, Any] = {
        "scenario": metadata.scenario,
        "class_names": list(classes.names),
        "class_colors": list(classes.colors_hex),
        "cameras": ["camera"],
        "camera": {"enabled": True},
    }
    return ScenarioConfig(name=str(metadata.scenario), classes=classes, cameras=("camera",), params=params)


def lane_settings_from_scenario(
    scenario: ScenarioConfig, block: Mapping[str, Any] | None = None
) -> LaneSettings:
    """:class:`LaneSettings` from a ``lanes`` block, with the classes of the scenario's roles.

    The lane class is the ``lane_paint`` role's, the crosswalk class the ``crosswalk`` role's
    (none without that role).

    Raises:
        ValueError: an unknown or malformed key in ``block``.
        ConfigError: the scenario has no ``lane_paint`` class.
    """
    roles, names = scenario.roles, scenario.classes.names
    crosswalk = roles.get("crosswalk")
    return LaneSettings.from_mapping(
        {
            **(block or {}),
            "lane_class": names[roles.require("lane_paint")],
            # No crosswalk role: a name that is no class, so the extractor finds no crosswalks.
            "crosswalk_class": names[crosswalk] if crosswalk is not None else "",
        }
    )


def lane_settings_and_tracking(
    scenario: ScenarioConfig, block: Mapping[str, Any], extraction: Mapping[str, Any] | None = None
) -> tuple[LaneSettings, TrackerSettings]:
    """The extraction settings and tracking of a ``lanes`` block (``enabled`` is the caller's).

    ``extraction``, when given, replaces the block's extraction keys (the ``tracking`` block stays).

    Raises:
        ConfigError: an unknown key or a bad value in the block, in one line naming the scenario.
    """
    if extraction is None:
        extraction = {k: v for k, v in block.items() if k not in ("enabled", "tracking")}
    try:
        return (
            lane_settings_from_scenario(scenario, extraction),
            TrackerSettings.from_mapping(block.get("tracking")),
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"scenario {scenario.name!r}: bad 'lanes' block: {err}") from err


def _slot_class_ids(scenario: ScenarioConfig, roles: ClassRoles) -> tuple[int, int] | None:
    """(slot line, free space) class ids of a ``parking_slots`` scenario whose map has both, else None."""
    if scenario.postprocess != "parking_slots":
        return None
    slot_line, free_space = roles.get("slot_line"), roles.get("free_space")
    return None if slot_line is None or free_space is None else (slot_line, free_space)


def _resize_affine(model_hw: tuple[int, ...], frame_hw: tuple[int, ...]) -> np.ndarray:
    """2x3 affine of model pixel coordinates → frame pixel coordinates for a plain resize (pixel centres)."""
    sx = frame_hw[1] / model_hw[1]
    sy = frame_hw[0] / model_hw[0]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def _is_upscale(small: tuple[int, ...], large: tuple[int, ...]) -> bool:
    """True when ``small`` is strictly smaller than ``large`` in one dimension and not larger in any."""
    return small != large and small[0] <= large[0] and small[1] <= large[1]
