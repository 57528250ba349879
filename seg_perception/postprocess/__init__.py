"""Mask post-processing with NumPy/OpenCV only: polygons, parking slots, colours, ground geometry."""

from seg_perception.postprocess.ground import apply_homography, pixels_to_vehicle_metres
from seg_perception.postprocess.polygons import extract_polygons, region_pixel_area
from seg_perception.postprocess.slots import extract_parking_slots
from seg_perception.postprocess.visualize import annotate, colorize, draw_geometry, draw_legend, overlay

__all__ = [
    "annotate",
    "apply_homography",
    "colorize",
    "draw_geometry",
    "draw_legend",
    "extract_parking_slots",
    "extract_polygons",
    "overlay",
    "pixels_to_vehicle_metres",
    "region_pixel_area",
]
