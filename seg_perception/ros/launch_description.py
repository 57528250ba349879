"""The shared ``LaunchDescription`` of ``launch/*.launch.py`` (needs ROS 2's ``launch`` and ``launch_ros``).

All decisions live in :mod:`seg_perception.ros.launch_helper`; this module only
turns them into launch actions. Argument defaults are plain strings and every
computed value (the scenario's parameter file, ...) is resolved in an
``OpaqueFunction``, so the launch files load on launch APIs without
ros2/launch#838 (Jazzy's) as on newer ones.
"""

from __future__ import annotations

from typing import Any

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchContext, LaunchDescription
from seg_perception.ros.launch_helper import launch_arguments, plan_launch


def _nodes(context: LaunchContext, setup: str) -> list[Node]:
    arguments = {
        argument.name: LaunchConfiguration(argument.name).perform(context)
        for argument in launch_arguments(setup)
    }
    return [Node(**plan.as_kwargs()) for plan in plan_launch(arguments, setup=setup)]


def build_launch_description(*, scenario: str = "highway") -> LaunchDescription:
    """Declare the arguments of ``scenario``'s launch (``drive``: the whole car) and add the nodes.

    For a scenario launch the ``scenario`` argument defaults to ``scenario``.
    """
    actions: list[Any] = []
    for argument in launch_arguments(scenario):
        default = scenario if argument.name == "scenario" else argument.default or ""
        actions.append(
            DeclareLaunchArgument(argument.name, default_value=default, description=argument.description)
        )
    actions.append(OpaqueFunction(function=_nodes, args=[scenario]))
    return LaunchDescription(actions)
