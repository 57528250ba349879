"""Preprocessed synthetic scenes of a model's own scenario, for tools that calibrate a model.

``recover`` sets batch-norm statistics from them and ``quantize`` activation ranges. The scenes
come from the training seed range (training 0..99999, validation 100000.., evaluation 200000..),
drawn at the model's input size and, for a bird's-eye model, at its ground resolution, and go
through the engines' own pre-processing.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from seg_perception.inference.metadata import ModelMetadata

#: Calibration scenes start here (inside the training range).
CALIBRATION_SEED = 90000
BATCH = 8


def synthetic_batches(
    metadata: ModelMetadata, scenes: int, *, first_seed: int = CALIBRATION_SEED, batch: int = BATCH
) -> Iterator[np.ndarray]:
    """``scenes`` preprocessed scenes of seeds ``first_seed..``, as ``(N, 3, h, w)`` float32 batches."""
    from seg_perception.data.synthetic import generate_scene
    from seg_perception.inference.preprocess import Normalization, preprocess

    norm = Normalization.from_mean_std(metadata.mean, metadata.std)
    frames: list[np.ndarray] = []
    for seed in range(first_seed, first_seed + scenes):
        scene = generate_scene(
            metadata.scenario,
            seed,
            size=metadata.input_size,
            metres_per_pixel=metadata.metres_per_pixel or None,
        )
        frames.append(preprocess(scene.image, metadata.input_size, norm)[0])
        if len(frames) == batch:
            yield np.stack(frames)
            frames = []
    if frames:
        yield np.stack(frames)
