"""ROS 2 layer: the segmentation node and what it needs (core, camera worker, image conversion,
outputs, QoS, parameters, lifecycle, runner, launch description, markers, typed messages).

Applications that talk to the node (demo, synthetic camera, recorder, players) live in
:mod:`seg_perception.tools`, its benchmark in :mod:`seg_perception.bench`; this package never
imports them. Only the ROS layer and those applications import rclpy; ``launch_helper`` stays
pure Python so launch logic can be tested without ROS.
"""
