"""ROS-free reporting helpers: statistics, Markdown tables, GIFs and contact sheets.

Used by ``seg-perception demo`` and reusable by the offline bag tools; nothing here
imports rclpy.
"""

from seg_perception.reporting.errors import ReportingError
from seg_perception.reporting.images import contact_sheet, fit_width, write_gif, write_png
from seg_perception.reporting.stats import latency_summary, rate_hz
from seg_perception.reporting.tables import format_number, render_markdown_table

__all__ = [
    "ReportingError",
    "contact_sheet",
    "fit_width",
    "format_number",
    "latency_summary",
    "rate_hz",
    "render_markdown_table",
    "write_gif",
    "write_png",
]
