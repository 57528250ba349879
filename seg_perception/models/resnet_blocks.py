"""ResNet residual blocks with the torchvision / official-HRNet key names.

``conv1``, ``bn1``, ``conv2``, ``bn2`` (``conv3``, ``bn3`` for the bottleneck) and
``downsample`` (a ``Sequential(conv1x1, BN)``), so HRNet checkpoints load by name.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from seg_perception.models.layers import make_activation


def _conv3x3(in_channels: int, out_channels: int, *, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
    )


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with an identity (or projected) skip."""

    expansion: ClassVar[int] = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, planes, stride=stride, dilation=dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act1 = make_activation(activation)
        self.act2 = make_activation(activation)
        self.downsample = downsample
        self.out_channels = planes * self.expansion

    def forward(self, x: Tensor) -> Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + skip)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 → 1×1 expand (×4), with an identity (or projected) skip."""

    expansion: ClassVar[int] = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride=stride, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.act1 = make_activation(activation)
        self.act2 = make_activation(activation)
        self.act3 = make_activation(activation)
        self.downsample = downsample
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.act3(out + skip)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def make_res_layer(
    block: type[BasicBlock] | type[Bottleneck],
    in_channels: int,
    planes: int,
    num_blocks: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    activation: str = "relu",
) -> nn.Sequential:
    """A ResNet stage: the first block may stride and project, the rest keep the shape."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    layers = [
        block(
            in_channels,
            planes,
            stride=stride,
            dilation=dilation,
            downsample=downsample,
            activation=activation,
        )
    ]
    layers += [
        block(out_channels, planes, dilation=dilation, activation=activation) for _ in range(1, num_blocks)
    ]
    return nn.Sequential(*layers)
