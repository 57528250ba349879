"""ICNet building blocks: exportable pyramid pooling and cascade feature fusion."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seg_perception.models.layers import ConvBNAct, make_activation, resize_to


def _adaptive_pool_matrix(positions: Tensor, bins: int) -> Tensor:
    """Row-normalised ``(bins, L)`` matrix whose product with a length-L axis is adaptive average pooling.

    Bin ``i`` covers ``[floor(i*L/bins), ceil((i+1)*L/bins))``, exactly as
    ``torch.nn.functional.adaptive_avg_pool2d``. ``L`` comes from ``positions`` (0..L-1 built from
    the tensor itself) so the ONNX graph keeps it dynamic instead of baking in the traced size.
    """
    length = positions[-1:] + 1.0
    index = torch.arange(bins, dtype=positions.dtype, device=positions.device)
    start = torch.floor(index * length / bins)
    end = torch.ceil((index + 1.0) * length / bins)
    inside = (positions[None, :] >= start[:, None]) & (positions[None, :] < end[:, None])
    weights = inside.to(positions.dtype)
    return weights / weights.sum(dim=1, keepdim=True)


def adaptive_avg_pool2d_exportable(x: Tensor, bins: int) -> Tensor:
    """``adaptive_avg_pool2d(x, bins)`` as two matrix products; exports to ONNX for any H, W.

    The ONNX exporters turn ``adaptive_avg_pool2d`` into a fixed-kernel AveragePool that is wrong
    (or refused) when H or W is not a multiple of ``bins``; MatMul has no such limit.
    """
    if bins == 1:
        return x.mean(dim=(2, 3), keepdim=True)
    rows = torch.cumsum(torch.ones_like(x[0, 0, :, 0]), dim=0) - 1.0
    cols = torch.cumsum(torch.ones_like(x[0, 0, 0, :]), dim=0) - 1.0
    pool_rows = _adaptive_pool_matrix(rows, bins)
    pool_cols = _adaptive_pool_matrix(cols, bins)
    return torch.matmul(torch.matmul(pool_rows, x), pool_cols.transpose(0, 1))


class PyramidPooling(nn.Module):
    """ICNet's pyramid pooling: the feature plus its bin-pooled, upsampled copies, summed, then 1×1.

    ICNet sums the pooled maps (PSPNet concatenates them after per-bin convolutions), which keeps
    the module cheap; the 1×1 ConvBNAct reduces to ``out_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bins: tuple[int, ...] = (1, 2, 3, 6),
        activation: str = "relu",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.bins = bins
        self.align_corners = align_corners
        self.project = ConvBNAct(in_channels, out_channels, 1, activation=activation)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        total = x
        for bins in self.bins:
            pooled = adaptive_avg_pool2d_exportable(x, bins)
            total = total + resize_to(pooled, size, align_corners=self.align_corners)
        return self.project(total)


class CascadeFeatureFusion(nn.Module):
    """CFF unit: fuse a low-resolution feature into a higher-resolution one.

    low → bilinear ×2 (to the high feature's exact size) → 3×3 conv, dilation 2 + BN;
    high → 1×1 conv + BN; sum; activation. A 1×1 classifier on the upsampled low feature gives
    the auxiliary logits of the cascade label guidance.
    """

    def __init__(
        self,
        low_channels: int,
        high_channels: int,
        out_channels: int,
        *,
        num_classes: int,
        activation: str = "relu",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.low = ConvBNAct(low_channels, out_channels, 3, dilation=2, activation=None)
        self.high = ConvBNAct(high_channels, out_channels, 1, activation=None)
        self.act = make_activation(activation)
        self.aux_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.out_channels = out_channels

    def forward(self, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
        low_up = resize_to(low, high.shape[-2:], align_corners=self.align_corners)
        fused = self.act(self.low(low_up) + self.high(high))
        return fused, self.aux_classifier(low_up)
