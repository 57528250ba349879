"""ROS 2 layer: the segmentation node, image conversion, markers, diagnostics and launch helpers.

Only this subpackage imports rclpy; ``launch_helper`` stays pure Python so launch
logic can be tested without ROS.
"""
