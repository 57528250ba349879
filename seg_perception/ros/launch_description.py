"""The shared ``LaunchDescription`` of ``launch/*.launch.py`` (needs ROS 2's ``launch`` and ``launch_ros``).

All decisions live in :mod:`seg_perception.ros.launch_helper`; this module only
turns them into launch actions.
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription
from seg_perception.config import PACKAGE_NAME
from seg_perception.ros.launch_helper import LAUNCH_ARGUMENTS, plan_launch


def _nodes(context: LaunchContext) -> list[Node]:
    arguments = {
        argument.name: LaunchConfiguration(argument.name).perform(context) for argument in LAUNCH_ARGUMENTS
    }
    return [Node(**plan.as_kwargs()) for plan in plan_launch(arguments)]


def build_launch_description(*, scenario: str = "highway") -> LaunchDescription:
    """Declare :data:`LAUNCH_ARGUMENTS` (``scenario`` defaulting to ``scenario``) and add the nodes."""
    actions: list = []
    for argument in LAUNCH_ARGUMENTS:
        if argument.name == "scenario":
            default: object = scenario
        elif argument.name == "params_file":
            default = PathJoinSubstitution(
                [FindPackageShare(PACKAGE_NAME), "config", [LaunchConfiguration("scenario"), ".yaml"]]
            )
        else:
            default = argument.default
        actions.append(
            DeclareLaunchArgument(argument.name, default_value=default, description=argument.description)
        )
    actions.append(OpaqueFunction(function=_nodes))
    return LaunchDescription(actions)
