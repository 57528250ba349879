"""Applications without ROS: ``predict`` (images, folders, videos, cameras)."""
