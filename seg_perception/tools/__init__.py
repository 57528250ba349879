"""Applications around the node: ``predict`` (images, folders, videos, cameras, no ROS), and the
ROS tools that stand in for what a car provides or consumes: the demo, the synthetic and flooding
cameras, the output recorder and the bag player. The node itself lives in :mod:`seg_perception.ros`.
"""
