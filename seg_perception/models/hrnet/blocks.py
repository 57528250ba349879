"""HRNet building blocks with the official ``seg_hrnet.py`` key layout.

``HighResolutionModule``: ``branches.{i}.{block}`` and ``fuse_layers.{i}.{j}`` where the entry is
``None`` for ``i == j``, ``Sequential(conv1x1, BN)`` for ``j > i`` (then bilinear upsampling) and
``Sequential(Sequential(conv3x3 s2, BN[, act]), ...)`` for ``j < i``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seg_perception.models.layers import ConvBNAct, make_activation, resize_to
from seg_perception.models.resnet_blocks import BasicBlock, Bottleneck, make_res_layer


class HighResolutionModule(nn.Module):
    """Parallel residual branches followed by multi-resolution fusion (sum, then activation)."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, ...],
        in_channels: tuple[int, ...],
        num_channels: tuple[int, ...],
        *,
        activation: str = "relu",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.num_branches = len(num_channels)
        self.branches = nn.ModuleList(
            make_res_layer(block, in_channels[i], num_channels[i], num_blocks[i], activation=activation)
            for i in range(self.num_branches)
        )
        self.out_channels = tuple(c * block.expansion for c in num_channels)
        self.fuse_layers = self._make_fuse_layers(activation) if self.num_branches > 1 else None
        self.relu = make_activation(activation)

    def _make_fuse_layers(self, activation: str) -> nn.ModuleList:
        channels = self.out_channels
        fuse_layers = []
        for i in range(self.num_branches):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    # Convolve at the low resolution, then upsample: cheaper than the reverse.
                    row.append(
                        nn.Sequential(
                            nn.Conv2d(channels[j], channels[i], 1, bias=False), nn.BatchNorm2d(channels[i])
                        )
                    )
                elif j == i:
                    row.append(None)
                else:
                    steps = i - j
                    convs = [
                        ConvBNAct(channels[j], channels[j], stride=2, activation=activation)
                        for _ in range(steps - 1)
                    ]
                    convs.append(ConvBNAct(channels[j], channels[i], stride=2, activation=None))
                    row.append(nn.Sequential(*convs))
            # None where the official layout has None (same branch): no keys, as in its checkpoints.
            fuse_layers.append(nn.ModuleList(row))  # type: ignore[arg-type]  # ModuleList keeps None entries
        return nn.ModuleList(fuse_layers)

    def forward(self, inputs: list[Tensor]) -> list[Tensor]:
        feats = [branch(x) for branch, x in zip(self.branches, inputs, strict=True)]
        if self.fuse_layers is None:
            return feats
        fused = []
        for i, row in enumerate(self.fuse_layers):
            total = feats[i]
            layers: list[nn.Module | None] = list(row)  # type: ignore[call-overload]  # a ModuleList
            for j, layer in enumerate(layers):
                if layer is None:  # j == i: the branch itself
                    continue
                if j > i:
                    total = total + resize_to(
                        layer(feats[j]), feats[i].shape[-2:], align_corners=self.align_corners
                    )
                else:
                    total = total + layer(feats[j])
            fused.append(self.relu(total))
        return fused


class HRStage(nn.Sequential):
    """A stage: ``num_modules`` HighResolutionModules in sequence (keys ``stage{n}.{m}....``)."""

    def __init__(
        self,
        num_modules: int,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, ...],
        in_channels: tuple[int, ...],
        num_channels: tuple[int, ...],
        *,
        activation: str = "relu",
        align_corners: bool = False,
    ) -> None:
        modules = []
        for _ in range(num_modules):
            module = HighResolutionModule(
                block,
                num_blocks,
                in_channels,
                num_channels,
                activation=activation,
                align_corners=align_corners,
            )
            in_channels = module.out_channels
            modules.append(module)
        super().__init__(*modules)
        self.out_channels = in_channels


class CSPStage(nn.Module):
    """Cross-stage-partial stage (CSPNet): part of each branch bypasses the modules.

    Per branch, the first ``C - bypass`` channels run through the HighResolutionModules, the last
    ``bypass = round(C * ratio)`` skip them; both are concatenated and mixed by a 1×1 ConvBNAct.
    Fewer channels inside the modules means fewer kept activations and weights.
    """

    def __init__(
        self,
        num_modules: int,
        block: type[BasicBlock] | type[Bottleneck],
        num_blocks: tuple[int, ...],
        in_channels: tuple[int, ...],
        num_channels: tuple[int, ...],
        *,
        ratio: float,
        activation: str = "relu",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.bypass = tuple(max(1, round(c * ratio)) for c in in_channels)
        inner_in = tuple(c - b for c, b in zip(in_channels, self.bypass, strict=True))
        self.inner_in = inner_in
        inner_channels = tuple(max(1, round(c * (1.0 - ratio))) for c in num_channels)
        self.stage = HRStage(
            num_modules,
            block,
            num_blocks,
            inner_in,
            inner_channels,
            activation=activation,
            align_corners=align_corners,
        )
        self.out_channels = tuple(c * block.expansion for c in num_channels)
        self.transitions = nn.ModuleList(
            ConvBNAct(inner + bypass, out, 1, activation=activation)
            for inner, bypass, out in zip(
                self.stage.out_channels, self.bypass, self.out_channels, strict=True
            )
        )

    def forward(self, inputs: list[Tensor]) -> list[Tensor]:
        kept = [x[:, :inner] for x, inner in zip(inputs, self.inner_in, strict=True)]
        skipped = [x[:, inner:] for x, inner in zip(inputs, self.inner_in, strict=True)]
        processed = self.stage(kept)
        return [
            transition(torch.cat([p, s], dim=1))
            for transition, p, s in zip(self.transitions, processed, skipped, strict=True)
        ]
