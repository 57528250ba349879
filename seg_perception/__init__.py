"""Real-time lane and parking-slot segmentation for ROS 2.

The Python API in three lines (no ROS needed)::

    from seg_perception import SegmentationPipeline
    pipeline = SegmentationPipeline.load("highway")     # or model_file="my.onnx", device="cuda"
    result = pipeline.process(image_bgr)                # .mask, .polygons, .slots, .timings_ms

Names are imported on first use, so ``import seg_perception`` stays light.
"""

from __future__ import annotations

import importlib
from pkgutil import extend_path
from typing import Any

# The generated message modules (seg_perception.msg and its C extensions) exist only in the
# installed package (colcon or `make install`). Running from a source checkout (tests, `python -m`)
# imports this folder first; the installed package's folder is appended so they are found there.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"

# public name -> module defining it
_PUBLIC = {
    "SegmentationPipeline": "seg_perception.inference.pipeline",
    "FrameResult": "seg_perception.inference.pipeline",
    "create_engine": "seg_perception.inference.engine",
    "EngineOptions": "seg_perception.inference.options",
    "load_scenario": "seg_perception.config",
    "ModelMetadata": "seg_perception.inference.metadata",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'seg_perception' has no attribute {name!r}")
