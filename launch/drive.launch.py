"""The whole car in one node: ros2 launch seg_perception drive.launch.py [rviz:=true] [device:=cuda]

The front camera runs the lane model (front_scenario, default highway), the AVM the
parking model (avm_scenario, default parking); cameras running the same model share
one engine. Switch a camera's scenario while running:
`ros2 param set /segmentation_node front.scenario road` (loaded and warmed up beside the
running model, swapped between two frames; refused with the reason if it cannot be served).

Arguments: `ros2 launch seg_perception drive.launch.py --show-args`; the logic lives in
seg_perception.ros.launch_helper.
"""

from launch import LaunchDescription
from seg_perception.ros.launch_description import build_launch_description


def generate_launch_description() -> LaunchDescription:
    return build_launch_description(scenario="drive")
