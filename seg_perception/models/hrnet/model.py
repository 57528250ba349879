"""HRNetV2 for semantic segmentation, layer for layer as the official ``seg_hrnet.py``.

Architectures are rows of :data:`HRNET_SPECS` (blocks and widths per stage, like the official
YAML files); state-dict keys match the official checkpoints (``conv1``, ``bn1``, ``conv2``,
``bn2``, ``layer1``, ``transition1..3``, ``stage2..4``, ``last_layer.0/1/3``) unless ``csp=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from seg_perception.models.base import SegmentationModel
from seg_perception.models.errors import ModelOptionError
from seg_perception.models.hrnet.blocks import CSPStage, HRStage
from seg_perception.models.layers import ConvBNAct, check_activation, make_activation, resize_to
from seg_perception.models.registry import register_model
from seg_perception.models.resnet_blocks import BLOCKS, make_res_layer

if TYPE_CHECKING:
    from seg_perception.models.hrnet.official import LoadReport


@dataclass(frozen=True)
class StageSpec:
    """One stage of the official config: ``NUM_MODULES``, ``BLOCK``, ``NUM_BLOCKS``, ``NUM_CHANNELS``."""

    num_modules: int
    block: str
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]


@dataclass(frozen=True)
class HRNetSpec:
    """Stages 1..4 of an HRNetV2 variant."""

    stage1: StageSpec
    stage2: StageSpec
    stage3: StageSpec
    stage4: StageSpec


def _standard(width: int) -> HRNetSpec:
    """HRNetV2-W{width}: 4 bottlenecks, then 1/4/3 modules of 4 basic blocks per branch."""
    c = (width, 2 * width, 4 * width, 8 * width)
    return HRNetSpec(
        StageSpec(1, "bottleneck", (4,), (64,)),
        StageSpec(1, "basic", (4, 4), c[:2]),
        StageSpec(4, "basic", (4, 4, 4), c[:3]),
        StageSpec(3, "basic", (4, 4, 4, 4), c),
    )


HRNET_SPECS: dict[str, HRNetSpec] = {
    "hrnetv2_w18": _standard(18),
    "hrnetv2_w32": _standard(32),
    "hrnetv2_w48": _standard(48),
    # seg_hrnet_w18_small_v1_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml
    "hrnetv2_w18_small_v1": HRNetSpec(
        StageSpec(1, "bottleneck", (1,), (32,)),
        StageSpec(1, "basic", (2, 2), (16, 32)),
        StageSpec(1, "basic", (2, 2, 2), (16, 32, 64)),
        StageSpec(1, "basic", (2, 2, 2, 2), (16, 32, 64, 128)),
    ),
    # seg_hrnet_w18_small_v2_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml
    "hrnetv2_w18_small_v2": HRNetSpec(
        StageSpec(1, "bottleneck", (2,), (64,)),
        StageSpec(1, "basic", (2, 2), (18, 36)),
        StageSpec(3, "basic", (2, 2, 2), (18, 36, 72)),
        StageSpec(2, "basic", (2, 2, 2, 2), (18, 36, 72, 144)),
    ),
}


def _make_transition(pre: tuple[int, ...], cur: tuple[int, ...], activation: str) -> nn.ModuleList:
    """Official ``_make_transition_layer``: adapt kept branches, add new ones by a stride-2 conv."""
    layers: list[nn.Module | None] = []
    for i, channels in enumerate(cur):
        if i < len(pre):
            layers.append(None if pre[i] == channels else ConvBNAct(pre[i], channels, activation=activation))
        else:
            last = i - len(pre)
            steps = [
                ConvBNAct(pre[-1], channels if k == last else pre[-1], stride=2, activation=activation)
                for k in range(last + 1)
            ]
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)  # type: ignore[arg-type]  # None (no layer) as in the official layout


@register_model(HRNET_SPECS, family="hrnet")
class HRNetV2(SegmentationModel):
    """HRNetV2 backbone plus the V2 head (concatenate all branches at 1/4, 1×1, classes).

    Registered as every name of :data:`HRNET_SPECS`.
    """

    loss_weights = (1.0,)
    main_logits_at_input_size = True

    def __init__(
        self,
        spec: HRNetSpec,
        *,
        num_classes: int,
        activation: str = "relu",
        csp: bool = False,
        csp_ratio: float = 0.5,
        marking_points: bool = False,
        point_offsets: bool = False,
        align_corners: bool = False,
    ) -> None:
        """Build one variant.

        Args:
            spec: A row of :data:`HRNET_SPECS`.
            num_classes: Output classes.
            activation: ``relu`` (official) or ``mish``.
            csp: Cross-stage-partial stages (CSPNet): part of each branch skips the
                stage, ~20% less training memory; state-dict keys then differ from the official.
            csp_ratio: Share of the channels that skip a CSP stage, in (0, 1).
            marking_points: Add the marking-point head (parking-slot entrance corners).
            point_offsets: The marking-point head also regresses each point's sub-cell offset.
            align_corners: ``align_corners`` of every bilinear resize (fusion, head, logits):
                False as the official default, True for checkpoints of configs with
                ``ALIGN_CORNERS: True`` (HRNet-OCR branch, its ADE20K / COCO-Stuff configs).

        Raises:
            ModelOptionError: a bad activation or ``csp_ratio``.
        """
        super().__init__(
            num_classes=num_classes,
            marking_points=marking_points,
            point_offsets=point_offsets,
            align_corners=align_corners,
        )
        check_activation(activation)
        if csp and not 0.0 < csp_ratio < 1.0:
            raise ModelOptionError(f"csp_ratio must be in (0, 1), got {csp_ratio}")
        act = activation
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = make_activation(act)

        s1 = spec.stage1
        block1 = BLOCKS[s1.block]
        self.layer1 = make_res_layer(block1, 64, s1.num_channels[0], s1.num_blocks[0], activation=act)
        channels: tuple[int, ...] = (s1.num_channels[0] * block1.expansion,)

        transitions, stages = [], []
        for stage in (spec.stage2, spec.stage3, spec.stage4):
            block = BLOCKS[stage.block]
            wanted = tuple(c * block.expansion for c in stage.num_channels)
            transitions.append(_make_transition(channels, wanted, act))
            built: CSPStage | HRStage
            if csp:
                built = CSPStage(
                    stage.num_modules,
                    block,
                    stage.num_blocks,
                    wanted,
                    stage.num_channels,
                    ratio=csp_ratio,
                    activation=act,
                    align_corners=align_corners,
                )
            else:
                built = HRStage(
                    stage.num_modules,
                    block,
                    stage.num_blocks,
                    wanted,
                    stage.num_channels,
                    activation=act,
                    align_corners=align_corners,
                )
            stages.append(built)
            channels = built.out_channels
        self.transition1, self.transition2, self.transition3 = transitions
        self.stage2, self.stage3, self.stage4 = stages

        head_channels = sum(channels)
        self.out_channels = head_channels
        self.last_layer = nn.Sequential(
            nn.Conv2d(head_channels, head_channels, 1),
            nn.BatchNorm2d(head_channels),
            make_activation(act),
            nn.Conv2d(head_channels, num_classes, 1),
        )
        self.point_head = self.build_point_head(head_channels, activation=act)

    @staticmethod
    def _transit(transition: nn.ModuleList, feats: list[Tensor]) -> list[Tensor]:
        out = []
        for i, layer in enumerate(transition):
            # New branches grow from the lowest-resolution feature, as in the official forward.
            source = feats[i] if i < len(feats) else feats[-1]
            out.append(source if layer is None else layer(source))
        return out

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Backbone: the four branch features at 1/4, 1/8, 1/16 and 1/32."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        feats = [self.layer1(x)]
        feats = self.stage2(self._transit(self.transition1, feats))
        feats = self.stage3(self._transit(self.transition2, feats))
        return self.stage4(self._transit(self.transition3, feats))

    def forward_heads(self, x: Tensor) -> tuple[list[Tensor], Tensor | None]:
        feats = self.forward_features(x)
        size = feats[0].shape[-2:]
        corners = self.align_corners
        merged = torch.cat([feats[0], *(resize_to(f, size, align_corners=corners) for f in feats[1:])], dim=1)
        points = None if self.point_head is None else self.point_head(merged)
        return [resize_to(self.last_layer(merged), x.shape[-2:], align_corners=corners)], points

    def load_official_state_dict(
        self, state_dict_or_path: Mapping[str, Tensor] | str | Path, *, strict: bool = True
    ) -> LoadReport:
        """Shortcut for :func:`seg_perception.models.hrnet.official.load_official_hrnet_state_dict`."""
        from seg_perception.models.hrnet.official import load_official_hrnet_state_dict

        return load_official_hrnet_state_dict(self, state_dict_or_path, strict=strict)
