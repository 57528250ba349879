"""Real-time lane and parking-slot segmentation for ROS 2."""

__version__ = "0.1.0"
