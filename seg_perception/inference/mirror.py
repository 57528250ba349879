"""Test-time mirroring inside the model file: the logits of a frame and of its left-right mirror.

A road seen in a mirror is still a plausible road (left- and right-hand traffic), so a
segmentation model's logits of the mirrored frame, flipped back, are a second opinion on the
same pixels; their mean is less noisy than either. :class:`MirrorAveraged` runs both in one
batch of twice the size, so every engine (ONNX Runtime, its fused graphs, TensorRT) gets the
average from the exported graph alone, at about twice the model's cost. Models with a
marking-point head are not mirrored here: their points take ``slots.test_time_flips``, which
also mirrors the points' directions.
"""

from __future__ import annotations

import torch
from torch import nn

from seg_perception.errors import ModelFileError

#: The axis of a ``(N, C, H, W)`` tensor that a left-right mirror reverses.
WIDTH_AXIS = -1


class MirrorAveraged(nn.Module):
    """``model``'s logits averaged over the input and its left-right mirror (flipped back).

    The result is mirror-equivariant: the logits of a mirrored frame are the mirrored logits.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if getattr(model, "marking_points", False):
            raise ModelFileError(
                "mirror averaging is for segmentation-only models: a model with a marking-point "
                "head mirrors its points at run time (slots.test_time_flips)"
            )
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        count = image.shape[0]
        logits = self.model(torch.cat([image, image.flip(WIDTH_AXIS)]))
        return (logits[:count] + logits[count:].flip(WIDTH_AXIS)) / 2
