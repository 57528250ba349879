"""road scenario: ros2 launch seg_perception road.launch.py [rviz:=true] [device:=cuda]

Arguments: `ros2 launch seg_perception road.launch.py --show-args`; the logic lives in
seg_perception.ros.launch_helper.

lifecycle:=true runs the managed node (starts unconfigured): drive it with
`ros2 lifecycle set /segmentation_node configure` then `... activate`, or add autostart:=true.
"""

from launch import LaunchDescription
from seg_perception.ros.launch_description import build_launch_description


def generate_launch_description() -> LaunchDescription:
    return build_launch_description(scenario="road")
