"""8-bit ROS image encodings the package decodes without ``cv_bridge`` (ROS-free)."""

from __future__ import annotations

import cv2

# encoding -> (channels, cv2 conversion to BGR, or None when the data already is BGR)
ENCODINGS: dict[str, tuple[int, int | None]] = {
    "bgr8": (3, None),
    "rgb8": (3, cv2.COLOR_RGB2BGR),
    "bgra8": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
    "mono8": (1, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, cv2.COLOR_GRAY2BGR),
    "8UC3": (3, None),
}
SUPPORTED_ENCODINGS = tuple(ENCODINGS)
