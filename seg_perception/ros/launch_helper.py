"""Launch logic as plain Python, so it is tested without the ``launch`` packages.

The launch files (``launch/*.launch.py``) only declare the arguments listed in
:data:`LAUNCH_ARGUMENTS`, resolve them, and turn the :class:`NodePlan` objects of
:func:`plan_launch` into ``launch_ros.actions.Node`` actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seg_perception.config import PACKAGE_NAME, SCENARIOS, config_path, share_dir
from seg_perception.errors import ConfigError

NODE_EXECUTABLE = "segmentation_node"
LIFECYCLE_EXECUTABLE = "lifecycle_segmentation_node"
RVIZ_CONFIG = "seg_perception.rviz"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class LaunchArgument:
    """One ``DeclareLaunchArgument``: name, default (None: computed in the launch file) and description."""

    name: str
    default: str | None
    description: str


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("scenario", "highway", f"scenario: {', '.join(SCENARIOS)} (selects config and model)"),
    LaunchArgument("params_file", None, "ROS 2 parameter file; default <share>/config/<scenario>.yaml"),
    LaunchArgument(
        "model_file",
        "",
        "ONNX model or .pt checkpoint; empty: the file's model_file or the "
        "shipped <share>/weights/<scenario>.onnx",
    ),
    LaunchArgument("device", "", "cpu, cuda or cuda:N; empty: the node default (cpu)"),
    LaunchArgument("front_topic", "", "front camera image topic; empty: the parameter file's front.topic"),
    LaunchArgument("avm_topic", "", "AVM camera image topic; empty: the parameter file's avm.topic"),
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


def check_scenario(scenario: str) -> str:
    """Return ``scenario`` if it names a shipped scenario or a YAML file.

    Raises:
        ConfigError: unknown scenario name.
    """
    if scenario in SCENARIOS or scenario.endswith((".yaml", ".yml")):
        return scenario
    raise ConfigError(f"launch argument scenario:={scenario!r}: choose one of {', '.join(SCENARIOS)}")


def default_params_file(scenario: str) -> Path:
    """The shipped parameter file of ``scenario`` (a YAML path is its own parameter file)."""
    check_scenario(scenario)
    return Path(scenario) if scenario.endswith((".yaml", ".yml")) else config_path(scenario)


def rviz_config_path() -> Path:
    """``<share>/config/seg_perception.rviz``."""
    return share_dir() / "config" / RVIZ_CONFIG


def node_parameter_overrides(
    *,
    scenario: str,
    model_file: str = "",
    device: str = "",
    front_topic: str = "",
    avm_topic: str = "",
    use_sim_time: bool = False,
) -> dict[str, Any]:
    """Parameters set on top of the parameter file; empty arguments leave the file's values."""
    overrides: dict[str, Any] = {"scenario": check_scenario(scenario), "use_sim_time": use_sim_time}
    for key, value in (
        ("model_file", model_file),
        ("device", device),
        ("front.topic", front_topic),
        ("avm.topic", avm_topic),
    ):
        if value:
            overrides[key] = value
    return overrides


def plan_launch(arguments: dict[str, str]) -> list[NodePlan]:
    """Node list for resolved launch arguments (names of :data:`LAUNCH_ARGUMENTS`).

    Camera topics are applied as the ``<camera>.topic`` parameters rather than
    remappings, so they also work for ``compressed`` transport; outputs are relative
    names under ``<camera>/`` and follow ``namespace``. ``lifecycle:=true`` runs the
    managed node under the same name (``/segmentation_node``), with the ``autostart``
    parameter from the ``autostart`` argument.

    Raises:
        ConfigError: unknown scenario or log level, or a non-boolean flag.
    """
    values = {argument.name: argument.default or "" for argument in LAUNCH_ARGUMENTS} | dict(arguments)
    scenario = check_scenario(values["scenario"])
    log_level = values["log_level"].lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"launch argument log_level:={values['log_level']!r}: choose one of {', '.join(LOG_LEVELS)}"
        )
    use_sim_time = parse_bool("use_sim_time", values["use_sim_time"])
    lifecycle = parse_bool("lifecycle", values["lifecycle"])
    autostart = parse_bool("autostart", values["autostart"])
    params_file = values["params_file"] or str(default_params_file(scenario))
    overrides = node_parameter_overrides(
        scenario=scenario,
        model_file=values["model_file"],
        device=values["device"],
        front_topic=values["front_topic"],
        avm_topic=values["avm_topic"],
        use_sim_time=use_sim_time,
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
    if parse_bool("rviz", values["rviz"]):
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
