"""ROS-free reporting helpers: Markdown tables, GIFs, MP4s, contact sheets, stream scoring.

Used by ``seg-perception demo`` and reusable by the offline bag tools; nothing here
imports rclpy.
"""

from seg_perception.reporting.demo_report import json_safe, write_report
from seg_perception.reporting.errors import ReportingError
from seg_perception.reporting.images import as_bgr, contact_sheet, fit_width, write_gif, write_png
from seg_perception.reporting.profile import profile_summary
from seg_perception.reporting.stream import StreamRecording
from seg_perception.reporting.tables import format_number, render_markdown_table
from seg_perception.reporting.video import VideoSink, close_video_or_warn, count_video_frames, write_video
from seg_perception.reporting.visuals import evenly_spaced, write_stream_visuals

__all__ = [
    "ReportingError",
    "StreamRecording",
    "VideoSink",
    "as_bgr",
    "close_video_or_warn",
    "contact_sheet",
    "count_video_frames",
    "evenly_spaced",
    "fit_width",
    "format_number",
    "json_safe",
    "profile_summary",
    "render_markdown_table",
    "write_gif",
    "write_png",
    "write_report",
    "write_stream_visuals",
    "write_video",
]
