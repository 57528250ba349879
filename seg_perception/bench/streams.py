"""Camera streams of the node benchmarks (``bench-stages``, the soak): scenario, camera, frame size."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from seg_perception.cli_args import parse_size


@dataclass(frozen=True)
class Stream:
    """One camera stream: the node's scenario, its camera name and the frame size ``(H, W)``."""

    scenario: str
    camera: str
    size: tuple[int, int]

    @classmethod
    def parse(cls, text: str) -> Stream:
        """``SCENARIO:CAMERA:HxW`` (a command-line argument type)."""
        try:
            scenario, camera, size = text.split(":")
            return cls(scenario, camera, parse_size(size))
        except (ValueError, argparse.ArgumentTypeError) as err:
            raise argparse.ArgumentTypeError(
                f"stream must be SCENARIO:CAMERA:HxW, e.g. parking:avm:640x640, got {text!r}"
            ) from err


#: The whole car: the front camera with the lane model, the AVM with the parking model.
DEFAULT_STREAMS = (Stream("highway", "front", (540, 960)), Stream("parking", "avm", (640, 640)))
