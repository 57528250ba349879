"""Declaration and validation of the segmentation node's parameters.

Defaults come from the scenario's YAML (``config/<scenario>.yaml``, read with
:func:`seg_perception.config.load_scenario`), so ``-p scenario:=parking`` alone gives a
working node; a parameter file passed by the launch file overrides them. Every
invalid value raises :class:`NodeParameterError` with one line naming the parameter,
the value and what is allowed.
"""

from __future__ import annotations

import array
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    InvalidTopicNameException,
    ParameterUninitializedException,
)
from rclpy.expand_topic_name import expand_topic_name
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.validate_topic_name import validate_topic_name

from seg_perception.config import (
    CPU_MODEL_KEY,
    CUDA_MODEL_KEY,
    ClassMap,
    ScenarioConfig,
    camera_image_size,
    device_model_key,
    load_scenario,
    scenario_model_path,
)
from seg_perception.errors import ConfigError
from seg_perception.inference.engine import ENGINES
from seg_perception.inference.options import PRECISION_CHOICES, EngineOptions, threads_per_engine
from seg_perception.inference.providers import CUDA_POLICIES, check_cuda_policy
from seg_perception.postprocess.scene_cut import DEFAULT_TRACKING_GAP_S
from seg_perception.ros.errors import NodeParameterError
from seg_perception.ros.image_conversion import DEFAULT_MAX_PIXELS
from seg_perception.ros.projection import (
    GroundProjection,
    camera_block,
    camera_geometry,
    geometry_parameters,
    names_scenario,
)
from seg_perception.ros.qos import INPUT_RELIABILITIES
from seg_perception.ros.stats import FPS_WINDOW_S, MIN_FRAMES_FOR_DROPPED_SHARE

DEVICES = ("cpu", "cuda")
CAMERA_ENGINES = ("shared", "per_camera")
TRANSPORTS = ("raw", "compressed")
#: Per-device model keys (node-wide and per camera) and where each applies
DEVICE_MODEL_KEYS = ((CUDA_MODEL_KEY, "on device cuda"), (CPU_MODEL_KEY, "on every other device"))
_BIG = 2**31 - 1
DEFAULT_VISUALIZATION_RATE_HZ = 10.0  # overlay and markers: enough for a person watching RViz
# A quarter of the frames dropped for seconds is a model that cannot keep up, not a hiccup: a scenario
# switch's model load (about half a second) drops about a tenth of a 5-s window.
DEFAULT_DROPPED_SHARE_WARN = 0.25


@dataclass(frozen=True)
class CameraModel:
    """What one camera runs: its scenario (class map, colours, post-processing) and model file."""

    scenario: ScenarioConfig
    model_file: Path

    @property
    def label(self) -> str:
        """``<scenario> (<model file name>)``, as logs and diagnostics show it."""
        return f"{self.scenario.name} ({self.model_file.name})"


@dataclass(frozen=True)
class CameraSettings:
    """Parameters of one camera (``<camera>.*``); ``model`` changes at run time (see the core)."""

    name: str
    enabled: bool
    topic: str
    transport: str
    frame_id: str
    projection: GroundProjection
    model: CameraModel
    camera_info_topic: str = ""
    mounting: tuple[float, ...] = ()
    #: ``<camera>.rectified``: the images are rectified (CameraInfo's P, no distortion)
    rectified: bool = False
    #: ``<camera>.cpu_model_file`` / ``.cuda_model_file`` (set ones only), and the scenario they apply
    #: to: the camera's scenario at start
    device_models: tuple[tuple[str, str], ...] = ()
    device_models_scenario: str = ""
    #: ``<camera>.image_size``: the (height, width) its bird's-eye geometry is for; None: any size
    image_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class NodeSettings:
    """Every validated node parameter."""

    scenario: ScenarioConfig
    cameras: tuple[CameraSettings, ...]
    model_file: Path
    engine: str
    device: str
    providers: tuple[str, ...]
    fp16: bool
    cuda_policy: str
    precision: str
    fused_graph: bool
    cuda_graphs: bool
    camera_engines: str
    overlay_alpha: float
    qos_reliability: str
    qos_depth: int
    marker_scale: float
    publish_polygon_cloud: bool
    max_image_pixels: int
    stale_timeout_s: float
    diagnostics_period_s: float
    ego_lane_lost_s: float = 0.0
    dropped_share_warn: float = 0.0
    stamp_window_s: float = 5.0
    tracking_gap_s: float = DEFAULT_TRACKING_GAP_S
    visualization_rate_hz: float = DEFAULT_VISUALIZATION_RATE_HZ
    inference_threads: int = 0

    @property
    def concurrent_engines(self) -> int:
        """Engines that may infer at the same time: one per enabled camera (``per_camera``), else one
        per distinct model among them (a shared engine runs one call at a time)."""
        cameras = self.enabled_cameras
        if self.camera_engines == "per_camera":
            return max(1, len(cameras))
        return max(1, len({camera.model.model_file.resolve() for camera in cameras}))

    @property
    def cpu_threads_per_engine(self) -> int:
        """``inference_threads``, or with 0 the available cores split between the engines that may
        infer at the same time (:attr:`concurrent_engines`)."""
        if self.inference_threads > 0:
            return self.inference_threads
        return threads_per_engine(self.concurrent_engines)

    @property
    def enabled_cameras(self) -> tuple[CameraSettings, ...]:
        return tuple(camera for camera in self.cameras if camera.enabled)

    def engine_options(self) -> EngineOptions:
        """The engine parameters as :class:`EngineOptions` (``precision: auto`` lets the engine
        choose; ``fused_graph: false`` never fuses, ``true`` fuses on GPU providers)."""
        return EngineOptions(
            engine=self.engine,
            device=self.device,
            providers=self.providers or None,
            fp16=self.fp16,
            cuda_policy=check_cuda_policy(self.cuda_policy),
            precision=None if self.precision == "auto" else self.precision,
            fused=None if self.fused_graph else False,
            cuda_graphs=self.cuda_graphs,
            intra_op_threads=self.cpu_threads_per_engine,
        )


def _descriptor(
    description: str,
    *,
    read_only: bool = False,
    int_range: tuple[int, int] | None = None,
    float_range: tuple[float, float] | None = None,
    choices: Sequence[str] = (),
) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        descriptor.additional_constraints = f"one of: {', '.join(choices)}"
    if int_range is not None:
        descriptor.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1], step=1)]
    if float_range is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float_range[0], to_value=float_range[1], step=0.0)
        ]
    return descriptor


class _Declarer:
    """Declares parameters on a node, turning rclpy's exceptions into one-line errors."""

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def node(self) -> Node:
        return self._node

    def __call__(
        self,
        name: str,
        default: Any,
        description: str,
        *,
        array_type: Parameter.Type | None = None,
        choices: Sequence[str] = (),
        int_range: tuple[int, int] | None = None,
        float_range: tuple[float, float] | None = None,
        read_only: bool = True,
    ) -> Any:
        descriptor = _descriptor(
            description, read_only=read_only, int_range=int_range, float_range=float_range, choices=choices
        )
        empty_array = array_type is not None and len(default) == 0
        try:
            if self._node.has_parameter(name):  # a lifecycle node configured again: re-validate
                pass
            elif empty_array:  # an empty list has no type of its own: declare the type, read [] if unset
                self._node.declare_parameter(name, array_type, descriptor)
            else:
                self._node.declare_parameter(name, default, descriptor)
            value = self._node.get_parameter(name).value
        except ParameterUninitializedException:
            value = []
        except InvalidParameterTypeException as err:
            raise NodeParameterError(f"parameter '{name}': {err.args[0] if err.args else err}") from err
        except InvalidParameterValueException as err:  # a descriptor range rejected the override
            bounds = int_range or float_range
            allowed = f"allowed range is [{bounds[0]}, {bounds[1]}]" if bounds else "value not allowed"
            raise NodeParameterError(f"parameter '{name}': {err.args[0]}; {allowed}") from err
        except Exception as err:
            raise NodeParameterError(f"parameter '{name}': {err}") from err
        if choices and value not in choices:
            raise NodeParameterError(
                f"parameter '{name}' = {value!r}: allowed values are {', '.join(choices)}"
            )
        _check_range(name, value, int_range or float_range)
        return list(value) if isinstance(value, (list, tuple)) else value


def _check_range(name: str, value: Any, bounds: tuple[float, float] | None) -> None:
    # rclpy enforces ranges on set_parameters but not on overrides given at start.
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise NodeParameterError(
            f"parameter '{name}' = {value!r}: allowed range is [{bounds[0]}, {bounds[1]}]"
        )


def _declare_camera(
    declare: _Declarer, scenario: ScenarioConfig, name: str, default_model: Path, device: str
) -> CameraSettings:
    block = camera_block(scenario, name)
    prefix = f"{name}."
    camera_scenario = declare(
        prefix + "scenario",
        str(block.get("scenario", "")),
        f"scenario of '{name}' (highway, road, parking or a scenario YAML): its class map, model and "
        "post-processing; empty = the node's 'scenario'. Changeable at run time: the new model is loaded "
        "and warmed up beside the running one, then swapped between two frames",
        read_only=False,
    )
    camera_model_file = declare(
        prefix + "model_file",
        str(block.get("model_file", "")),
        f"model of '{name}'; empty = the camera scenario's model (for the node's scenario: 'model_file'). "
        "Changeable at run time like '<camera>.scenario'",
        read_only=False,
    )
    device_models = tuple(
        (key, str(value))
        for key, where in DEVICE_MODEL_KEYS
        if (
            value := declare(
                prefix + key,
                str(block.get(key, "")),
                f"model of '{name}' {where} when '{prefix}model_file' is empty (over the node's and the "
                "scenario's; a bare file name is looked up in <share>/weights); only for the scenario "
                f"'{prefix}scenario' names at start (a scenario switched to at run time brings its own); "
                "empty = the scenario's",
            )
        )
    )
    block = camera_block(scenario, name, camera_scenario)
    geometry_defaults = geometry_parameters(block)
    enabled = declare(prefix + "enabled", bool(block.get("enabled", True)), f"process the '{name}' camera")
    topic = declare(
        prefix + "topic",
        str(block.get("topic", f"/camera/{name}/image_raw")),
        f"input image topic of '{name}' (for transport 'compressed' the CompressedImage topic itself)",
    )
    transport = declare(
        prefix + "transport",
        str(block.get("transport", "raw")),
        "raw: sensor_msgs/Image; compressed: sensor_msgs/CompressedImage",
        choices=TRANSPORTS,
    )
    frame_id = declare(
        prefix + "frame_id",
        geometry_defaults["frame_id"],
        "frame_id of every output; empty keeps the input header's frame_id. Metric markers are in the "
        "vehicle frame, so set the vehicle frame (e.g. base_link) when the input's frame is the camera's",
    )
    metres_per_pixel = declare(
        prefix + "metres_per_pixel",
        geometry_defaults["metres_per_pixel"],
        "bird's-eye scale for metric markers (AVM); 0 = not a metric top view",
        float_range=(0.0, 10.0),
    )
    origin_px = declare(
        prefix + "origin_px",
        geometry_defaults["origin_px"],
        "pixel [u, v] of the vehicle-frame origin in a bird's-eye image",
        array_type=Parameter.Type.DOUBLE_ARRAY,
    )
    image_size = declare(
        prefix + "image_size",
        list(camera_image_size(block) or (0, 0)),  # [0, 0]: any size
        "frame size [height, width] that 'metres_per_pixel' and 'origin_px' describe; frames of another "
        "size are read with them all the same, with a warning; [0, 0] = any size, no warning",
        array_type=Parameter.Type.INTEGER_ARRAY,
    )
    if len(image_size) != 2 or min(image_size) < 0 or (0 in image_size and max(image_size) > 0):
        raise NodeParameterError(
            f"parameter '{prefix}image_size' = {image_size}: give [height, width] or [0, 0] (any size)"
        )
    homography = declare(
        prefix + "ground_homography",
        geometry_defaults["ground_homography"],
        "row-major 3x3 homography from image pixels to ground-plane metres (x forward, y left); "
        "empty = uncalibrated (markers on a pixel-scaled plane, polygon x/y/z NaN)",
        array_type=Parameter.Type.DOUBLE_ARRAY,
    )
    camera_info_file = declare(
        prefix + "camera_info_file",
        geometry_defaults["camera_info_file"],
        "sensor_msgs/CameraInfo YAML (camera_calibration format); with 'mounting', gives the ground "
        "homography when 'ground_homography' is empty",
    )
    mounting = declare(
        prefix + "mounting",
        geometry_defaults["mounting"],
        "camera mounting [height_m, pitch_deg, roll_deg, yaw_deg, x_m, y_m]: height above the ground, "
        "angles (pitch positive looking down), and where it sits ahead of / left of the vehicle-frame "
        "origin (trailing values may be left out: 0), used with 'camera_info_file' / 'camera_info_topic'",
        array_type=Parameter.Type.DOUBLE_ARRAY,
    )
    camera_info_topic = declare(
        prefix + "camera_info_topic",
        str(block.get("camera_info_topic", "")),
        "sensor_msgs/CameraInfo topic; with 'mounting', its first message gives the ground homography "
        "when neither 'ground_homography' nor 'camera_info_file' is set",
    )
    rectified = declare(
        prefix + "rectified",
        geometry_defaults["rectified"],
        "the input images are rectified (image_proc's image_rect): the camera info's projection matrix P "
        "projects them, without its distortion; false: raw images, K and the lens distortion D",
    )
    plane_scale = declare(
        prefix + "pixel_plane_scale",
        geometry_defaults["pixel_plane_scale"],
        "display units per pixel of uncalibrated cameras' markers",
        float_range=(1e-6, 10.0),
    )
    geometry = camera_geometry(
        {
            "frame_id": frame_id,
            "ground_homography": homography,
            "metres_per_pixel": metres_per_pixel,
            "origin_px": origin_px,
            "pixel_plane_scale": plane_scale,
            "camera_info_file": camera_info_file,
            "mounting": mounting,
            "rectified": rectified,
        },
        name,
    )
    if not topic:
        raise NodeParameterError(f"parameter '{prefix}topic' is empty: give the input image topic")
    check_topic_name(declare.node, prefix + "topic", topic)
    if camera_info_topic:
        check_topic_name(declare.node, prefix + "camera_info_topic", str(camera_info_topic))
    unresolved = CameraModel(scenario, default_model)
    camera = CameraSettings(
        name,
        bool(enabled),
        topic,
        transport,
        geometry.frame_id,
        geometry.projection,
        unresolved,
        camera_info_topic=str(camera_info_topic),
        mounting=tuple(mounting),
        rectified=bool(rectified),
        device_models=device_models,
        device_models_scenario=str(camera_scenario),
        image_size=(int(image_size[0]), int(image_size[1])) if min(image_size) > 0 else None,
    )
    model = resolve_camera_model(
        scenario,
        default_model,
        camera,
        scenario_text=camera_scenario,
        model_text=camera_model_file,
        device=device,
    )
    return dataclasses.replace(camera, model=model)


def resolve_camera_model(
    node_scenario: ScenarioConfig,
    node_model_file: Path,
    camera: CameraSettings,
    *,
    scenario_text: str,
    model_text: str,
    device: str,
) -> CameraModel:
    """The scenario and model file a camera runs, from its ``<camera>.scenario`` and ``.model_file``.

    An empty scenario, or the node's own, means the node's scenario with its class map and
    polygon overrides and the node's ``model_file``; another scenario brings its own class map,
    post-processing and model for ``device`` (:func:`~seg_perception.config.scenario_model_path`).
    The camera's own ``cpu_model_file`` / ``cuda_model_file`` (``camera.device_models``) win over
    both while it runs the scenario it started with. The camera's input and geometry parameters are
    written into the scenario's camera block.

    Raises:
        NodeParameterError: the scenario cannot be loaded (unknown name, unreadable YAML).
    """
    prefix = f"{camera.name}."
    if not scenario_text or names_scenario(node_scenario, scenario_text):
        scenario = node_scenario
        default_model = node_model_file
    else:
        try:
            scenario = load_scenario(scenario_text)
        except ConfigError as err:
            raise NodeParameterError(f"parameter '{prefix}scenario' = {scenario_text!r}: {err}") from err
        default_model = scenario_model_path(scenario, device)
    own_key = device_model_key(device)
    own_model = dict(camera.device_models).get(own_key, "")
    if own_model and names_scenario(scenario, camera.device_models_scenario or node_scenario.name):
        default_model = scenario_model_path(
            dataclasses.replace(scenario, params={**scenario.params, "model_file": "", own_key: own_model}),
            device,
        )
    if camera.name not in scenario.cameras:
        scenario = dataclasses.replace(scenario, cameras=(*scenario.cameras, camera.name))
    scenario = _with_camera_blocks(scenario, [camera])
    return CameraModel(scenario=scenario, model_file=Path(model_text) if model_text else default_model)


def check_topic_name(node: Node, parameter: str, topic: str) -> str:
    """The topic as the node resolves it (namespace, ``~``); one-line error for an invalid name.

    Raises:
        NodeParameterError: ``topic`` is not a valid ROS topic name.
    """
    try:
        validate_topic_name(topic)
        resolved = expand_topic_name(topic, node.get_name(), node.get_namespace())
        validate_full_topic_name(resolved)
    except (InvalidTopicNameException, ValueError) as err:
        reason = " ".join(" ".join(str(err).splitlines()[:1]).split()).rstrip(":")
        raise NodeParameterError(
            f"parameter '{parameter}' = {topic!r} is not a valid topic name ({reason}); use letters, "
            "digits, '_' and '/' separators, e.g. /camera/front/image_raw"
        ) from err
    return resolved


def _scenario_with_overrides(scenario: ScenarioConfig, declare: _Declarer) -> ScenarioConfig:
    """Class map, cameras and polygon settings, with the node's parameters applied."""
    names = declare(
        "class_names",
        list(scenario.classes.names),
        "class names, index = class id",
        array_type=Parameter.Type.STRING_ARRAY,
    )
    colors = declare(
        "class_colors",
        list(scenario.classes.colors_hex),
        "#RRGGBB per class",
        array_type=Parameter.Type.STRING_ARRAY,
    )
    cameras = declare(
        "cameras",
        list(scenario.cameras),
        "camera names; each has a '<camera>.*' block",
        array_type=Parameter.Type.STRING_ARRAY,
    )
    polygon = dict(scenario.params.get("polygon") or {})
    polygon["min_area_px"] = declare(
        "polygon.min_area_px",
        float(polygon.get("min_area_px", 60.0)),
        "smallest polygon / slot area kept, pixels",
        float_range=(0.0, 1e9),
    )
    polygon["simplify_epsilon_px"] = declare(
        "polygon.simplify_epsilon_px",
        float(polygon.get("simplify_epsilon_px", 2.0)),
        "Douglas-Peucker tolerance of polygon simplification, pixels",
        float_range=(0.0, 1e4),
    )
    if not cameras:
        raise NodeParameterError("parameter 'cameras' is empty: name at least one camera (e.g. [front])")
    try:
        classes = ClassMap(tuple(names), tuple(colors))
    except ConfigError as err:
        raise NodeParameterError(f"parameters 'class_names'/'class_colors': {err}") from err
    params = {
        **scenario.params,
        "class_names": names,
        "class_colors": colors,
        "cameras": cameras,
        "polygon": polygon,
    }
    return dataclasses.replace(scenario, classes=classes, cameras=tuple(cameras), params=params)


def _with_camera_blocks(scenario: ScenarioConfig, cameras: Sequence[CameraSettings]) -> ScenarioConfig:
    """Write the effective camera parameters back into the scenario the pipeline reads."""
    params = dict(scenario.params)
    for camera in cameras:
        block = dict(params.get(camera.name) or {})
        block.update(enabled=camera.enabled, topic=camera.topic, transport=camera.transport)
        block.pop("origin_px", None)
        block.pop("image_size", None)
        if camera.image_size is not None:
            block["image_size"] = list(camera.image_size)
        if camera.projection.metres_per_pixel > 0:
            block["metres_per_pixel"] = camera.projection.metres_per_pixel
            block["origin_px"] = list(camera.projection.origin_px)
        params[camera.name] = block
    return dataclasses.replace(scenario, params=params)


def unused_parameter_overrides(node: Node, scenario_params: Mapping[str, Any]) -> list[str]:
    """Names given to the node (``-p``, a parameter file) that it ignores.

    rclpy keeps overrides that name no declared parameter without a word. Those that repeat the
    scenario YAML's own value (a launch file passes ``config/<scenario>.yaml`` as the parameter
    file) are used through the scenario; any other, a typo or a scenario key set to a new value
    (``slots.test_time_flips``: read from the scenario YAML, not from parameters), would be
    ignored silently. Call it once everything is declared (publishers and subscriptions included).
    """
    overrides = getattr(node, "_parameter_overrides", {})  # rclpy offers no public accessor
    scenario_values = dict(_flattened(scenario_params))
    return sorted(
        name
        for name, parameter in overrides.items()
        if not node.has_parameter(name)
        and not (name in scenario_values and _same_value(parameter.value, scenario_values[name]))
    )


def _flattened(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested scenario keys as ROS parameter names (``slots.tracker.enabled``)."""
    for key, value in params.items():
        if isinstance(value, Mapping):
            yield from _flattened(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _same_value(given: Any, configured: Any) -> bool:
    if isinstance(given, (list, tuple, array.array)) and isinstance(configured, (list, tuple)):
        return len(given) == len(configured) and all(map(_same_value, given, configured))
    numbers = (int, float)
    if isinstance(given, numbers) and isinstance(configured, numbers):
        return isinstance(given, bool) == isinstance(configured, bool) and float(given) == float(configured)
    return bool(given == configured)


def declare_node_parameters(node: Node) -> NodeSettings:
    """Declare every parameter on ``node`` and return the validated settings.

    Parameters already declared (a lifecycle node configured a second time) keep
    their values and are validated again.

    Raises:
        NodeParameterError: a parameter is invalid (message names it, its value and what is allowed).
        ConfigError: the scenario cannot be loaded.
    """
    declare = _Declarer(node)
    scenario_name = declare(
        "scenario",
        "highway",
        "scenario name (highway, road, parking) or path of a scenario YAML; "
        "supplies the defaults of every other parameter",
    )
    try:
        scenario = load_scenario(scenario_name)
    except ConfigError as err:
        raise NodeParameterError(f"parameter 'scenario' = {scenario_name!r}: {err}") from err
    scenario = _scenario_with_overrides(scenario, declare)
    device = _check_device(declare("device", "cpu", "cpu, cuda or cuda:N (default cpu: runs anywhere)"))
    model_file = declare(
        "model_file",
        str(scenario.params.get("model_file") or ""),
        "ONNX model (engine onnxruntime) or .pt checkpoint (engine torch); empty = the scenario's "
        "model for the device: on cuda its 'cuda_model_file', elsewhere its 'cpu_model_file' if set, "
        "else <share>/weights/<scenario>.onnx",
    )
    # the scenario's per-device models, overridable like any other default (drive.yaml keeps the
    # front camera on the CPU model of a lighter engine than the highway scenario's own)
    per_device = {
        key: declare(
            key,
            str(scenario.params.get(key) or ""),
            f"model when 'model_file' is empty {where} (a bare file name is looked up in "
            "<share>/weights); empty = <share>/weights/<scenario>.onnx",
        )
        for key, where in DEVICE_MODEL_KEYS
    }
    scenario = dataclasses.replace(scenario, params={**scenario.params, **per_device})
    node_model_file = Path(model_file) if model_file else scenario_model_path(scenario, device)
    cameras = tuple(
        _declare_camera(declare, scenario, name, node_model_file, device) for name in scenario.cameras
    )
    if not any(camera.enabled for camera in cameras):
        raise NodeParameterError(
            f"no camera is enabled among {list(scenario.cameras)}: set '<camera>.enabled'"
        )
    scenario = _with_camera_blocks(scenario, cameras)
    return NodeSettings(
        scenario=scenario,
        cameras=cameras,
        model_file=node_model_file,
        engine=declare("engine", "onnxruntime", "inference engine", choices=tuple(ENGINES)),
        device=device,
        providers=tuple(
            declare(
                "providers",
                [],
                "explicit ONNX Runtime execution providers in order of preference; "
                "empty = derived from device",
                array_type=Parameter.Type.STRING_ARRAY,
            )
        ),
        fp16=bool(declare("fp16", False, "FP16 inference (TensorRT FP16 engines / torch autocast on CUDA)")),
        cuda_policy=declare(
            "cuda_policy",
            "fallback_to_cpu",
            "what to do when CUDA is requested but unavailable",
            choices=CUDA_POLICIES,
        ),
        precision=declare(
            "precision",
            "auto",
            "engine torch on CUDA: fp32, fp16 or bf16 weights; auto = follow fp16",
            choices=PRECISION_CHOICES,
        ),
        fused_graph=bool(
            declare(
                "fused_graph",
                True,
                "ONNX Runtime on a GPU provider: run resize, normalisation and arg-max inside the graph "
                "(uint8 frame up, uint8 mask down); false = on the host, as on the CPU",
            )
        ),
        inference_threads=declare(
            "inference_threads",
            0,
            "ONNX Runtime CPU threads per engine; 0 = the available cores split between the engines "
            "that infer side by side (one per distinct model, or per camera with camera_engines "
            "per_camera), so they do not oversubscribe the CPU",
            int_range=(0, 1024),
        ),
        camera_engines=declare(
            "camera_engines",
            "shared",
            "shared: one engine serves every camera, one call at a time; per_camera: an engine "
            "(ONNX Runtime session / CUDA stream) per camera, so GPU inferences do not wait for each other",
            choices=CAMERA_ENGINES,
        ),
        cuda_graphs=bool(
            declare(
                "cuda_graphs",
                True,
                "on CUDA, record and replay CUDA graphs per frame size (falls back with a warning)",
            )
        ),
        overlay_alpha=declare(
            "overlay_alpha",
            0.5,
            "weight of the class colours in the overlay",
            float_range=(0.0, 1.0),
            read_only=False,
        ),
        qos_reliability=declare(
            "qos.reliability",
            "best_effort",
            "input subscription reliability (default: sensor-data QoS)",
            choices=INPUT_RELIABILITIES,
        ),
        qos_depth=declare("qos.depth", 5, "history depth of inputs and outputs", int_range=(1, 1000)),
        marker_scale=declare(
            "marker_scale",
            0.05,
            "line width of the markers (output-frame units)",
            float_range=(1e-6, 100.0),
            read_only=False,
        ),
        visualization_rate_hz=declare(
            "visualization_rate_hz",
            DEFAULT_VISUALIZATION_RATE_HZ,
            "most overlay and marker messages per second and camera (pictures for people: the mask, "
            "lanes and slots go out every frame); 0 = every frame",
            float_range=(0.0, 1000.0),
            read_only=False,
        ),
        publish_polygon_cloud=bool(
            declare(
                "publish_polygon_cloud",
                False,
                "also publish every region polygon (all classes) as a sensor_msgs/PointCloud2 on "
                "<camera>/polygons; planners use the typed <camera>/lanes and <camera>/slots instead",
            )
        ),
        max_image_pixels=declare(
            "max_image_pixels", DEFAULT_MAX_PIXELS, "larger input images are rejected", int_range=(1, _BIG)
        ),
        stale_timeout_s=declare(
            "stale_timeout_s",
            2.0,
            "no frame for this long turns the camera's diagnostics to WARN",
            float_range=(0.01, 3600.0),
        ),
        diagnostics_period_s=declare(
            "diagnostics_period_s", 1.0, "period of /diagnostics", float_range=(0.01, 3600.0)
        ),
        ego_lane_lost_s=declare(
            "ego_lane_lost_s",
            0.0,
            "front cameras: frames without both ego boundaries for this long turn the camera's "
            "diagnostics to WARN (0: never; a junction or a car park has none for a while)",
            float_range=(0.0, 3600.0),
        ),
        dropped_share_warn=declare(
            "dropped_share_warn",
            DEFAULT_DROPPED_SHARE_WARN,
            "dropping a larger share of a camera's frames (the model slower than the camera; over the "
            f"last {FPS_WINDOW_S:g} s, from {MIN_FRAMES_FOR_DROPPED_SHARE} frames on) turns its "
            "diagnostics to WARN (0: never)",
            float_range=(0.0, 1.0),
        ),
        stamp_window_s=declare(
            "stamp_window_s",
            5.0,
            "input stamps further than this from the node clock (or unset) count as clock_mismatch "
            "and stay out of the latency statistics",
            float_range=(0.001, 1e9),
        ),
        tracking_gap_s=declare(
            "tracking_gap_s",
            DEFAULT_TRACKING_GAP_S,
            "input stamps that go back (a bag played again) or pause longer than this start lane and "
            "slot tracking afresh (0: only an activation does)",
            float_range=(0.0, 1e9),
        ),
    )


def _check_device(device: str) -> str:
    kind, _, index = device.partition(":")
    if kind not in DEVICES or (index and not index.isdigit()) or (index and kind == "cpu"):
        raise NodeParameterError(f"parameter 'device' = {device!r}: allowed values are cpu, cuda, cuda:N")
    return device
