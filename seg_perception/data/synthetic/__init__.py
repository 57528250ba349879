"""Procedural scenes with exact labels: front-camera roads and AVM parking lots.

``generate_scene(scenario, seed, size=...)`` gives one :class:`SceneSample`;
``generate_drive(...)`` yields temporally coherent frames for demo streams.
"""

from seg_perception.data.synthetic.sample import SceneSample, mask_to_polygons, rasterize_polygons
from seg_perception.data.synthetic.scenes import generate_drive, generate_scene

__all__ = ["SceneSample", "generate_drive", "generate_scene", "mask_to_polygons", "rasterize_polygons"]
