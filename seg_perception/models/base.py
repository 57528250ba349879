"""The base class every segmentation model shares: output contract and loss weights."""

from __future__ import annotations

from torch import Tensor, nn

from seg_perception.models.layers import resize_to


class SegmentationModel(nn.Module):
    """A model that maps ``(N, 3, H, W)`` images to class logits.

    Subclasses implement :meth:`forward_logits`, returning the logits list main-first at the
    model's native resolutions. This class turns it into the package contract:

    - eval mode (and ONNX export): one ``(N, num_classes, H, W)`` tensor at input resolution;
    - train mode: the list, one entry per element of :attr:`loss_weights`.
    """

    loss_weights: tuple[float, ...] = (1.0,)
    #: True when ``forward_logits`` already returns the main logits at input resolution.
    main_logits_at_input_size: bool = False

    def __init__(self, *, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward_logits(self, x: Tensor) -> list[Tensor]:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:
        logits = self.forward_logits(x)
        if self.training:
            return logits
        if self.main_logits_at_input_size:
            return logits[0]
        return resize_to(logits[0], x.shape[-2:])
