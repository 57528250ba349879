"""The base class every segmentation model shares: output contract, loss weights, marking-point head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seg_perception.models.errors import ModelOptionError
from seg_perception.models.layers import ConvBNAct, resize_to

#: Channels of the marking-point output: heat (probability), then the unit direction (dx, dy).
MARKING_POINT_CHANNELS = 3
#: Extra channels of a head with sub-cell offsets: the point's (ox, oy) from the cell centre, in cells.
MARKING_POINT_OFFSET_CHANNELS = 2
#: The marking-point map is at 1/4 of the input resolution.
MARKING_POINT_STRIDE = 4


class MarkingPointHead(nn.Module):
    """Marking points (where slot lines meet the entrance line) from a 1/4-resolution feature.

    Raw outputs ``(N, 3, h, w)``: a heat logit and an unnormalised direction ``(dx, dy)``
    along the slot's separating line, pointing into the slot (image pixels, y down). With
    ``offsets`` two more channels ``(ox, oy)``: where the point lies relative to the cell's
    centre, in cells (DMPR-PS style sub-cell regression); they come from their own 1x1 conv
    (:attr:`offset`), so a checkpoint of a head without offsets loads into every other key.
    """

    def __init__(
        self, in_channels: int, *, hidden: int = 32, activation: str = "relu", offsets: bool = False
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(in_channels, hidden, 3, activation=activation),
            ConvBNAct(hidden, hidden, 3, activation=activation),
        )
        self.out = nn.Conv2d(hidden, MARKING_POINT_CHANNELS, 1)
        # Start the heat near the background rate (CenterNet's prior), so focal loss is stable.
        bias = self.out.bias
        assert bias is not None  # Conv2d's default bias=True
        with torch.no_grad():
            bias.fill_(0.0)
            bias[0] = -2.19
        self.offset: nn.Sequential | None = None
        if offsets:
            # Its own 3x3 layer: the offset can be trained alone on a frozen model (fine-tuning
            # a head without offsets) and still see the neighbourhood of the cell.
            last = nn.Conv2d(hidden, MARKING_POINT_OFFSET_CHANNELS, 1)
            # Start at "the point is at the cell centre", so a fine-tune from a head without
            # offsets begins near where that head was.
            nn.init.zeros_(last.weight)
            assert last.bias is not None
            nn.init.zeros_(last.bias)
            self.offset = nn.Sequential(ConvBNAct(hidden, hidden, 3, activation=activation), last)

    def forward(self, feature: Tensor) -> Tensor:
        hidden = self.body(feature)
        if self.offset is None:
            return self.out(hidden)
        return torch.cat([self.out(hidden), self.offset(hidden)], dim=1)


def marking_point_map(raw: Tensor) -> Tensor:
    """Raw head output → ``(N, 3, h, w)``: heat probability in 0..1 and a unit direction
    (``(N, 5, h, w)`` with the sub-cell offsets of a head that has them, passed through)."""
    heat = torch.sigmoid(raw[:, :1])
    direction = raw[:, 1:3]
    norm = torch.sqrt((direction * direction).sum(dim=1, keepdim=True) + 1e-12)
    return torch.cat([heat, direction / norm, raw[:, MARKING_POINT_CHANNELS:]], dim=1)


class SegmentationModel(nn.Module):
    """A model that maps ``(N, 3, H, W)`` images to class logits (and optionally marking points).

    Subclasses implement :meth:`forward_heads` (or just :meth:`forward_logits`), returning the
    logits list main-first at the model's native resolutions, and the raw marking-point map
    when the model was built with ``marking_points=True``. This class turns it into the
    package contract:

    - eval mode (and ONNX export): one ``(N, num_classes, H, W)`` tensor at input resolution;
      with marking points a tuple ``(logits, points)``, ``points`` being
      :func:`marking_point_map` at 1/4 resolution;
    - train mode: the list, one entry per element of :attr:`loss_weights`; with marking
      points a tuple ``(list, raw points)``.
    """

    loss_weights: tuple[float, ...] = (1.0,)
    #: True when ``forward_logits`` already returns the main logits at input resolution.
    main_logits_at_input_size: bool = False

    def __init__(
        self,
        *,
        num_classes: int,
        marking_points: bool = False,
        point_offsets: bool = False,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if point_offsets and not marking_points:
            raise ModelOptionError("point_offsets needs marking_points: true (they are part of its head)")
        self.num_classes = num_classes
        self.marking_points = bool(marking_points)
        #: The marking-point head also regresses sub-cell offsets (channels 3-4 of its map).
        self.point_offsets = bool(point_offsets)
        #: ``align_corners`` of every bilinear resize in the network and of resizing its logits
        #: (training losses, export metadata); official HRNet-OCR / ADE20K configs use True.
        self.align_corners = bool(align_corners)

    def build_point_head(self, in_channels: int, *, activation: str) -> MarkingPointHead | None:
        """The marking-point head this model was configured for (None without ``marking_points``)."""
        if not self.marking_points:
            return None
        return MarkingPointHead(in_channels, activation=activation, offsets=self.point_offsets)

    def forward_logits(self, x: Tensor) -> list[Tensor]:
        return self.forward_heads(x)[0]

    def forward_heads(self, x: Tensor) -> tuple[list[Tensor], Tensor | None]:
        """Logits list main-first, and the raw marking-point map (None without that head)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor | list[Tensor] | tuple[Tensor | list[Tensor], Tensor]:
        logits, points = self.forward_heads(x)
        if self.training:
            return logits if points is None else (logits, points)
        main = (
            logits[0]
            if self.main_logits_at_input_size
            else resize_to(logits[0], x.shape[-2:], align_corners=self.align_corners)
        )
        if points is None:
            return main
        return main, marking_point_map(points)
