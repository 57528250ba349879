"""ICNet (Zhao et al., 2018): image cascade at 1, 1/2 and 1/4 resolution with cascade feature fusion.

- full resolution: three light stride-2 convolutions → 1/8;
- 1/2 resolution: the ResNet stem, ``layer1`` and the first block of ``layer2`` → 1/16;
- 1/4 resolution: that 1/16 feature downsampled ×2 (the weights of the first stages are shared
  with the 1/2 branch, as in the paper), the rest of the dilated ResNet and pyramid pooling → 1/32;
- CFF(1/32, 1/16) → CFF(1/16, 1/8) → ×2 → classifier at 1/4.

Train mode returns ``[main@1/4, aux@1/8, aux@1/16]`` with weights ``(1.0, 0.4, 0.4)``. With
``marking_points=True`` a marking-point head reads the same 1/4 feature as the classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from seg_perception.models.base import SegmentationModel
from seg_perception.models.icnet.blocks import CascadeFeatureFusion, PyramidPooling
from seg_perception.models.layers import ConvBNAct, check_activation
from seg_perception.models.registry import register_model
from seg_perception.models.resnet_blocks import BLOCKS, make_res_layer


@dataclass(frozen=True)
class ICNetSpec:
    """Widths and depths of one ICNet variant.

    Attributes:
        block: ``basic`` or ``bottleneck`` residual block.
        layers: Blocks per ResNet stage (layer1..layer4).
        widths: Planes per ResNet stage (output = planes × block expansion).
        stem: Channels of the three 3×3 stem convolutions of the 1/2 branch.
        sub1: Channels of the three stride-2 convolutions of the full-resolution branch.
        psp_channels: Output channels of pyramid pooling (1/32 feature).
        cff_channels: Output channels of both CFF units.
    """

    block: str
    layers: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]
    stem: tuple[int, int, int]
    sub1: tuple[int, int, int]
    psp_channels: int
    cff_channels: int


ICNET_SPECS: dict[str, ICNetSpec] = {
    # The paper's network: dilated ResNet-50 (PSPNet50 backbone), 256-channel PSP, 128-channel CFF.
    "icnet_r50": ICNetSpec(
        "bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), (32, 32, 64), (32, 32, 64), 256, 128
    ),
    "icnet_r18": ICNetSpec("basic", (2, 2, 2, 2), (64, 128, 256, 512), (32, 32, 64), (32, 32, 64), 256, 128),
    # CPU demo model: ResNet widths 16..128, one block per stage but two at 1/32.
    "icnet_lite": ICNetSpec("basic", (1, 1, 2, 1), (16, 32, 64, 128), (16, 16, 32), (16, 16, 32), 64, 64),
}


@register_model(ICNET_SPECS, family="icnet")
class ICNet(SegmentationModel):
    """ICNet with a dilated ResNet on the 1/4 branch; see the module docstring for the layout.

    Registered as every name of :data:`ICNET_SPECS`.
    """

    loss_weights = (1.0, 0.4, 0.4)

    def __init__(
        self,
        spec: ICNetSpec,
        *,
        num_classes: int,
        activation: str = "relu",
        marking_points: bool = False,
        point_offsets: bool = False,
        align_corners: bool = False,
    ) -> None:
        """Build one variant.

        Args:
            spec: A row of :data:`ICNET_SPECS`.
            num_classes: Output classes.
            activation: ``relu`` or ``mish``.
            marking_points: Add the marking-point head (parking-slot entrance corners).
            point_offsets: The marking-point head also regresses each point's sub-cell offset.
            align_corners: ``align_corners`` of every bilinear resize (cascade inputs, pyramid
                pooling, fusion, logits); True for weights trained that way elsewhere.

        Raises:
            ModelOptionError: a bad activation.
        """
        super().__init__(
            num_classes=num_classes,
            marking_points=marking_points,
            point_offsets=point_offsets,
            align_corners=align_corners,
        )
        check_activation(activation)
        block = BLOCKS[spec.block]
        act = activation

        self.sub1 = nn.Sequential(
            ConvBNAct(3, spec.sub1[0], stride=2, activation=act),
            ConvBNAct(spec.sub1[0], spec.sub1[1], stride=2, activation=act),
            ConvBNAct(spec.sub1[1], spec.sub1[2], stride=2, activation=act),
        )
        self.stem = nn.Sequential(
            ConvBNAct(3, spec.stem[0], stride=2, activation=act),
            ConvBNAct(spec.stem[0], spec.stem[1], activation=act),
            ConvBNAct(spec.stem[1], spec.stem[2], activation=act),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        widths, depths = spec.widths, spec.layers
        self.layer1 = make_res_layer(block, spec.stem[2], widths[0], depths[0], activation=act)
        c1 = widths[0] * block.expansion
        self.layer2 = make_res_layer(block, c1, widths[1], depths[1], stride=2, activation=act)
        c2 = widths[1] * block.expansion
        # Dilation instead of striding keeps the 1/4 branch at 1/32 of the input (PSPNet style).
        self.layer3 = make_res_layer(block, c2, widths[2], depths[2], dilation=2, activation=act)
        c3 = widths[2] * block.expansion
        self.layer4 = make_res_layer(block, c3, widths[3], depths[3], dilation=4, activation=act)
        c4 = widths[3] * block.expansion
        corners = align_corners
        self.psp = PyramidPooling(c4, spec.psp_channels, activation=act, align_corners=corners)
        self.cff_sub24 = CascadeFeatureFusion(
            spec.psp_channels,
            c2,
            spec.cff_channels,
            num_classes=num_classes,
            activation=act,
            align_corners=corners,
        )
        self.cff_sub12 = CascadeFeatureFusion(
            spec.cff_channels,
            spec.sub1[2],
            spec.cff_channels,
            num_classes=num_classes,
            activation=act,
            align_corners=corners,
        )
        self.classifier = nn.Conv2d(spec.cff_channels, num_classes, 1)
        self.point_head = self.build_point_head(spec.cff_channels, activation=act)

    def forward_heads(self, x: Tensor) -> tuple[list[Tensor], Tensor | None]:
        feat_sub1 = self.sub1(x)  # 1/8

        corners = self.align_corners
        half = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=corners)
        shared = self.layer1(self.stem(half))  # 1/8
        feat_sub2 = self.layer2[0](shared)  # 1/16: the paper's conv3_1, shared with the 1/4 branch

        quarter = F.interpolate(feat_sub2, scale_factor=0.5, mode="bilinear", align_corners=corners)
        deep = self.layer4(self.layer3(self.layer2[1:](quarter)))  # 1/32
        feat_sub4 = self.psp(deep)

        fused_16, aux_16 = self.cff_sub24(feat_sub4, feat_sub2)
        fused_8, aux_8 = self.cff_sub12(fused_16, feat_sub1)
        up_4 = F.interpolate(fused_8, scale_factor=2.0, mode="bilinear", align_corners=corners)
        points = None if self.point_head is None else self.point_head(up_4)
        return [self.classifier(up_4), aux_8, aux_16], points
