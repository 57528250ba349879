"""Rosbag tools: write synthetic drives, process bags offline, evaluate against ground truth.

Everything here reads and writes ROS 2 bags (MCAP or sqlite3) with the pure-Python
``rosbags`` library, so no ROS installation or DDS graph is needed. Only the ``play``
command (``seg_perception.tools.bag_player``) talks to ROS.
"""
