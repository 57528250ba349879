"""Launch logic as plain Python, so it is tested without the ``launch`` packages.

The launch files (``launch/*.launch.py``) only declare the arguments listed in
:func:`launch_arguments` (plain string defaults, no substitutions, so they load on every
launch API, Jazzy's included), resolve them, and turn the :class:`NodePlan` objects of
:func:`plan_launch` into ``launch_ros.actions.Node`` actions. Everything computed
(the parameter file of a scenario, rviz2's presence) is decided here, before any
process starts.

Two kinds of launch: a scenario launch (``highway``, ``road``, ``parking``,
``segmentation`` with ``scenario:=``) runs the scenario's cameras with its model; the
``drive`` launch runs the whole car in one node, each camera with its own scenario
(``front_scenario``, ``avm_scenario``), changeable at run time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seg_perception.config import PACKAGE_NAME, config_path, scenario_names, share_dir
from seg_perception.errors import ConfigError
from seg_perception.inference.engine import ENGINES
from seg_perception.postprocess.camera_model import parse_mounting
from seg_perception.ros.input_checks import COMPRESSED_SUFFIX

NODE_EXECUTABLE = "segmentation_node"
LIFECYCLE_EXECUTABLE = "lifecycle_segmentation_node"
RVIZ_CONFIG = "seg_perception.rviz"
RVIZ_PACKAGE = "rviz2"
DRIVE = "drive"
DRIVE_CAMERAS = ("front", "avm")
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class LaunchArgument:
    """One ``DeclareLaunchArgument``: name, default (None: computed in the launch file) and description."""

    name: str
    default: str | None
    description: str


_SCENARIO_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument(
        "scenario",
        "highway",
        f"scenario: {', '.join(scenario_names())} (the YAML files of <share>/config) or the path of "
        "a scenario YAML (selects config and model)",
    ),
    LaunchArgument(
        "params_file",
        "",
        "ROS 2 parameter file; empty: <share>/config/<scenario>.yaml (a scenario YAML is its own)",
    ),
    LaunchArgument(
        "model_file",
        "",
        "ONNX model or .pt checkpoint; empty: the file's model_file or the "
        "shipped <share>/weights/<scenario>.onnx",
    ),
)
_DRIVE_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument(
        "params_file", "", f"ROS 2 parameter file; empty: <share>/config/{DRIVE}.yaml (front + AVM)"
    ),
    *(
        LaunchArgument(
            f"{camera}_scenario",
            default,
            f"scenario of the {camera} camera ({', '.join(scenario_names())} or a scenario YAML); changeable "
            f"at run time: ros2 param set /segmentation_node {camera}.scenario <scenario>",
        )
        for camera, default in (("front", "highway"), ("avm", "parking"))
    ),
    *(
        LaunchArgument(
            f"{camera}_model_file", "", f"model of the {camera} camera; empty: its scenario's model"
        )
        for camera in DRIVE_CAMERAS
    ),
)
_COMMON_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument(
        "device",
        "",
        "cpu, cuda or cuda:N (each picks the scenario's cuda_model_file / cpu_model_file if set); "
        "empty: the node default (cpu)",
    ),
    LaunchArgument("engine", "", f"inference engine: {', '.join(ENGINES)}; empty: the node default"),
    LaunchArgument(
        "fp16", "false", "half precision on GPU engines (TensorRT FP16 / torch float16); no effect on the CPU"
    ),
    LaunchArgument(
        "front_topic",
        "",
        "front camera image topic; empty: the parameter file's front.topic. A topic ending in "
        "/compressed (image_transport's CompressedImage topic) is read compressed",
    ),
    LaunchArgument(
        "avm_topic",
        "",
        "AVM camera image topic; empty: the parameter file's avm.topic. A topic ending in /compressed "
        "is read compressed",
    ),
    LaunchArgument(
        "avm_metres_per_pixel",
        "",
        "ground size in metres of a pixel of the AVM frames as they arrive, for an AVM other than the "
        "parameter file's (ps2.0's 600x600 views: 0.0167); the parking model reads the ground at its own "
        "scale, so a wrong value costs slots; empty: the file's avm.metres_per_pixel, for its avm.image_size",
    ),
    LaunchArgument(
        "avm_origin_px",
        "",
        "U,V: the pixel of the vehicle origin (rear-axle centre) in those frames, for slot corners in metres "
        "(ps2.0's views: 300,300, their centre); empty: the file's avm.origin_px",
    ),
    LaunchArgument(
        "front_camera_info_topic",
        "",
        "sensor_msgs/CameraInfo topic of the front camera (its driver's, e.g. /camera/front/camera_info): "
        "with front_mounting, lane boundaries and markers in metres; empty: the file's "
        "front.camera_info_topic",
    ),
    LaunchArgument(
        "front_camera_info_file",
        "",
        "camera_calibration YAML of the front camera, instead of a topic (with front_mounting); empty: the "
        "file's front.camera_info_file",
    ),
    LaunchArgument(
        "front_mounting",
        "",
        "HEIGHT_M,PITCH_DEG[,ROLL_DEG,YAW_DEG,X_M,Y_M]: the front camera's height above the ground, its "
        "angles (pitch positive looking down) and where it sits ahead of / left of the vehicle origin, for "
        "front_camera_info_*; empty: the file's front.mounting",
    ),
    LaunchArgument(
        "front_rectified",
        "",
        "true: front_topic carries rectified frames (image_proc's image_rect), projected with the "
        "CameraInfo's P and no distortion; false: raw frames (K and the lens distortion); empty: the file's "
        "front.rectified",
    ),
    LaunchArgument("use_sim_time", "false", "use /clock (true when replaying rosbags with --clock)"),
    LaunchArgument("rviz", "false", f"also start rviz2 with config/{RVIZ_CONFIG}"),
    LaunchArgument("log_level", "info", f"node log level: {', '.join(LOG_LEVELS)}"),
    LaunchArgument("namespace", "", "namespace of the node and its relative output topics"),
    LaunchArgument(
        "lifecycle",
        "false",
        "run the managed (lifecycle) node; it starts unconfigured: "
        "'ros2 lifecycle set /segmentation_node configure' then 'activate', or use autostart:=true",
    ),
    LaunchArgument("autostart", "false", "lifecycle node only: configure and activate at start"),
)
LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = _SCENARIO_ARGUMENTS + _COMMON_ARGUMENTS
DRIVE_LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = _DRIVE_ARGUMENTS + _COMMON_ARGUMENTS


def launch_arguments(setup: str) -> tuple[LaunchArgument, ...]:
    """The arguments of a launch file: ``drive`` or a scenario launch (any other name)."""
    return DRIVE_LAUNCH_ARGUMENTS if setup == DRIVE else LAUNCH_ARGUMENTS


@dataclass(frozen=True)
class NodePlan:
    """Keyword arguments of one ``launch_ros.actions.Node``."""

    package: str
    executable: str
    name: str
    namespace: str = ""
    parameters: list[Any] = field(default_factory=list)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    ros_arguments: list[str] = field(default_factory=list)
    output: str = "screen"

    def as_kwargs(self) -> dict[str, Any]:
        """The plan as ``Node(**kwargs)`` arguments."""
        return {
            "package": self.package,
            "executable": self.executable,
            "name": self.name,
            "namespace": self.namespace,
            "parameters": list(self.parameters),
            "remappings": list(self.remappings),
            "arguments": list(self.arguments),
            "ros_arguments": list(self.ros_arguments),
            "output": self.output,
        }


def parse_bool(name: str, text: str) -> bool:
    """Parse a launch argument as a boolean.

    Raises:
        ConfigError: not one of true/false/1/0/yes/no/on/off.
    """
    value = str(text).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"launch argument {name}:={text!r} is not a boolean (use true or false)")


def _positive_number(name: str, text: str) -> float | None:
    """A launch argument that is empty (None) or a number above 0.

    Raises:
        ConfigError: anything else, named by the argument.
    """
    if not str(text).strip():
        return None
    try:
        value = float(text)
    except ValueError as err:
        raise ConfigError(f"launch argument {name}:={text!r} is not a number") from err
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"launch argument {name}:={text!r} must be a number above 0")
    return value


def _pixel(name: str, text: str) -> tuple[float, float] | None:
    """A launch argument that is empty (None) or ``U,V``: two numbers.

    Raises:
        ConfigError: anything else, named by the argument.
    """
    if not str(text).strip():
        return None
    parts = [part.strip() for part in str(text).strip("[]() ").split(",")]
    try:
        u, v = (float(part) for part in parts)
    except ValueError as err:
        raise ConfigError(f"launch argument {name}:={text!r}: give the pixel as U,V (e.g. 300,300)") from err
    return u, v


def _mounting(name: str, text: str) -> list[float] | None:
    """A launch argument that is empty (None) or ``HEIGHT_M,PITCH_DEG[,ROLL_DEG,YAW_DEG,X_M,Y_M]``.

    Raises:
        ConfigError: anything else, or a height not above 0, named by the argument.
    """
    if not str(text).strip():
        return None
    try:
        return parse_mounting(text)
    except ValueError as err:
        raise ConfigError(f"launch argument {name}:={text!r}: {err}") from err


def check_scenario(scenario: str, *, argument: str = "scenario") -> str:
    """Return ``scenario`` if it names a scenario of ``<share>/config`` or an existing YAML file.

    Raises:
        ConfigError: unknown scenario name, or a YAML path that does not exist.
    """
    names = scenario_names()
    if scenario in names:
        return scenario
    if scenario.endswith((".yaml", ".yml")):
        if not Path(scenario).is_file():
            raise ConfigError(f"launch argument {argument}:={scenario!r}: no such file")
        return scenario
    hint = f" (the whole car: ros2 launch {PACKAGE_NAME} {DRIVE}.launch.py)" if scenario == DRIVE else ""
    raise ConfigError(
        f"launch argument {argument}:={scenario!r}: choose one of {', '.join(names)} "
        f"or the path of a scenario YAML{hint}"
    )


def default_params_file(scenario: str) -> Path:
    """The shipped parameter file of ``scenario`` (a YAML path is its own parameter file)."""
    check_scenario(scenario)
    return Path(scenario) if scenario.endswith((".yaml", ".yml")) else config_path(scenario)


def find_rviz2() -> Path | None:
    """rviz2's executable as ``launch_ros`` finds it (``<prefix>/lib/rviz2/rviz2``), or None."""
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidate = Path(prefix) / "lib" / RVIZ_PACKAGE / RVIZ_PACKAGE
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def rviz_config_path() -> Path:
    """``<share>/config/seg_perception.rviz``."""
    return share_dir() / "config" / RVIZ_CONFIG


def node_parameter_overrides(
    *,
    scenario: str = "",
    model_file: str = "",
    device: str = "",
    engine: str = "",
    fp16: bool = False,
    front_topic: str = "",
    avm_topic: str = "",
    use_sim_time: bool = False,
    camera_scenarios: dict[str, str] | None = None,
    camera_model_files: dict[str, str] | None = None,
    avm_metres_per_pixel: float | None = None,
    avm_origin_px: tuple[float, float] | None = None,
    front_camera_info_topic: str = "",
    front_camera_info_file: str = "",
    front_mounting: list[float] | None = None,
    front_rectified: bool | None = None,
) -> dict[str, Any]:
    """Parameters set on top of the parameter file; empty arguments leave the file's values.

    An AVM scale given here describes the frames as they arrive, whatever their size: the camera's
    ``image_size`` becomes ``[0, 0]`` (any size), so frames of another size than the file's are not
    reported as such.
    """
    overrides: dict[str, Any] = {"scenario": check_scenario(scenario)} if scenario else {}
    if avm_metres_per_pixel is not None:
        overrides["avm.metres_per_pixel"] = avm_metres_per_pixel
        overrides["avm.image_size"] = [0, 0]
    if avm_origin_px is not None:
        overrides["avm.origin_px"] = [float(avm_origin_px[0]), float(avm_origin_px[1])]
    if front_mounting is not None:
        overrides["front.mounting"] = [float(v) for v in front_mounting]
    if front_rectified is not None:
        overrides["front.rectified"] = front_rectified
    for camera, topic in (("front", front_topic), ("avm", avm_topic)):
        if topic.endswith(COMPRESSED_SUFFIX):  # image_transport's CompressedImage topic
            overrides[f"{camera}.transport"] = "compressed"
    overrides["use_sim_time"] = use_sim_time
    if fp16:
        overrides["fp16"] = True
    for key, value in (
        ("model_file", model_file),
        ("device", device),
        ("engine", engine),
        ("front.topic", front_topic),
        ("avm.topic", avm_topic),
        ("front.camera_info_topic", front_camera_info_topic),
        ("front.camera_info_file", front_camera_info_file),
        *((f"{camera}.scenario", text) for camera, text in (camera_scenarios or {}).items()),
        *((f"{camera}.model_file", text) for camera, text in (camera_model_files or {}).items()),
    ):
        if value:
            overrides[key] = value
    return overrides


def plan_launch(arguments: dict[str, str], *, setup: str = "") -> list[NodePlan]:
    """Node list for resolved launch arguments (names of :func:`launch_arguments` of ``setup``).

    Camera topics are applied as the ``<camera>.topic`` parameters rather than
    remappings, so they also work for ``compressed`` transport; outputs are relative
    names under ``<camera>/`` and follow ``namespace``. ``lifecycle:=true`` runs the
    managed node under the same name (``/segmentation_node``), with the ``autostart``
    parameter from the ``autostart`` argument. ``rviz:=true`` without rviz2 installed
    fails here, before anything starts.

    Raises:
        ConfigError: unknown scenario, engine or log level, a non-boolean flag, a missing
            parameter file, or rviz asked for but not installed.
    """
    declared = launch_arguments(setup)
    values = {argument.name: argument.default or "" for argument in declared} | dict(arguments)
    drive = setup == DRIVE
    scenario = "" if drive else check_scenario(values["scenario"])
    camera_scenarios = (
        {c: check_scenario(values[f"{c}_scenario"], argument=f"{c}_scenario") for c in DRIVE_CAMERAS}
        if drive
        else {}
    )
    camera_model_files = {c: values[f"{c}_model_file"] for c in DRIVE_CAMERAS} if drive else {}
    engine = values["engine"]
    if engine and engine not in ENGINES:
        raise ConfigError(f"launch argument engine:={engine!r}: choose one of {', '.join(ENGINES)}")
    log_level = values["log_level"].lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"launch argument log_level:={values['log_level']!r}: choose one of {', '.join(LOG_LEVELS)}"
        )
    use_sim_time = parse_bool("use_sim_time", values["use_sim_time"])
    lifecycle = parse_bool("lifecycle", values["lifecycle"])
    autostart = parse_bool("autostart", values["autostart"])
    fp16 = parse_bool("fp16", values["fp16"])
    rviz = parse_bool("rviz", values["rviz"])
    params_file = values["params_file"] or str(config_path(DRIVE) if drive else default_params_file(scenario))
    if not Path(params_file).is_file():
        raise ConfigError(f"launch argument params_file:={params_file!r}: no such file")
    if rviz and find_rviz2() is None:
        raise ConfigError(
            f"rviz:=true but {RVIZ_PACKAGE} is not installed (no lib/{RVIZ_PACKAGE}/{RVIZ_PACKAGE} under "
            f"AMENT_PREFIX_PATH): install ros-$ROS_DISTRO-rviz2 or drop rviz:=true; nothing was started"
        )
    avm_metres_per_pixel = _positive_number("avm_metres_per_pixel", values["avm_metres_per_pixel"])
    avm_origin_px = _pixel("avm_origin_px", values["avm_origin_px"])
    front_mounting = _mounting("front_mounting", values["front_mounting"])
    front_rectified = (
        parse_bool("front_rectified", values["front_rectified"]) if values["front_rectified"] else None
    )
    camera_info = values["front_camera_info_topic"] or values["front_camera_info_file"]
    if camera_info and front_mounting is None:
        raise ConfigError(
            "launch arguments front_camera_info_topic / front_camera_info_file need front_mounting:="
            "HEIGHT_M,PITCH_DEG (the camera's height above the ground and its pitch): a CameraInfo alone "
            "does not say where the ground is"
        )
    overrides = node_parameter_overrides(
        scenario=scenario,
        model_file=values.get("model_file", ""),
        device=values["device"],
        engine=engine,
        fp16=fp16,
        front_topic=values["front_topic"],
        avm_topic=values["avm_topic"],
        use_sim_time=use_sim_time,
        camera_scenarios=camera_scenarios,
        camera_model_files=camera_model_files,
        avm_metres_per_pixel=avm_metres_per_pixel,
        avm_origin_px=avm_origin_px,
        front_camera_info_topic=values["front_camera_info_topic"],
        front_camera_info_file=values["front_camera_info_file"],
        front_mounting=front_mounting,
        front_rectified=front_rectified,
    )
    if lifecycle:
        overrides["autostart"] = autostart
    plans = [
        NodePlan(
            package=PACKAGE_NAME,
            executable=LIFECYCLE_EXECUTABLE if lifecycle else NODE_EXECUTABLE,
            name=NODE_EXECUTABLE,
            namespace=values["namespace"],
            parameters=[params_file, overrides],
            ros_arguments=["--log-level", log_level],
        )
    ]
    if rviz:
        plans.append(
            NodePlan(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                arguments=["-d", str(rviz_config_path())],
                parameters=[{"use_sim_time": use_sim_time}],
            )
        )
    return plans
