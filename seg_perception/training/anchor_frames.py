"""Unlabelled real frames that hold a fine-tune to its teacher ("learning without forgetting").

A fine-tune on generated scenes moves the model everywhere, also on real roads it never sees in
training. With anchor frames (the recipe's ``distill.anchor_frames``) every step also asks the
student to give the teacher's answer on a few real frames, which need no labels: the student is
free to change on the generator's scenes and held where the real frames are. The frames are read
once, brought to the model's input size as the engines bring a camera frame
(:func:`~seg_perception.inference.preprocess.preprocess`), and the teacher's logits on them are
computed once, on each frame and on its mirror image (:class:`AnchorSet`); a batch mirrors each frame
left-right by chance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from seg_perception.inference.preprocess import Normalization, preprocess
from seg_perception.media_files import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from seg_perception.training.errors import RecipeError


def _frames_of(path: Path) -> Iterator[np.ndarray]:
    """BGR frames of an image folder (sorted by name) or a video file."""
    if path.is_dir():
        for file in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise RecipeError(f"distill.anchor_frames: cannot read the image {file}")
            yield image
        return
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise RecipeError(
            f"distill.anchor_frames {path} is neither a folder of images nor a video file ({VIDEO_SUFFIXES})"
        )
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield image
    finally:
        capture.release()


def load_anchor_frames(
    path: str | Path,
    input_size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    every: int = 1,
) -> torch.Tensor:
    """Every ``every``-th frame of ``path`` as the model's normalised ``(N, 3, h, w)`` float32 input.

    Raises:
        RecipeError: the path is missing, holds no frame, or a frame cannot be read.
    """
    source = Path(path)
    if not source.exists():
        raise RecipeError(f"distill.anchor_frames {source} does not exist")
    if every < 1:
        raise RecipeError(f"distill.anchor_every must be at least 1, got {every}")
    norm = Normalization.from_mean_std(mean, std)
    inputs = [
        preprocess(frame, input_size, norm)[0]
        for index, frame in enumerate(_frames_of(source))
        if index % every == 0
    ]
    if not inputs:
        raise RecipeError(f"distill.anchor_frames {source} holds no frame")
    return torch.from_numpy(np.stack(inputs))


@dataclass
class AnchorSet:
    """Anchor frames and the teacher's logits on them and on their mirror images.

    A teacher is not exactly mirror-symmetric, so the target for a mirrored frame is the teacher's
    answer on that mirrored frame, not its answer on the frame mirrored afterwards.

    Attributes:
        images: ``(N, 3, h, w)`` normalised model inputs.
        teacher_logits: ``(N, C, h', w')`` the teacher's main logits on ``images``.
        mirrored_logits: ``(N, C, h', w')`` its main logits on ``images`` mirrored left-right.
    """

    images: torch.Tensor
    teacher_logits: torch.Tensor
    mirrored_logits: torch.Tensor

    @classmethod
    def from_teacher(cls, images: torch.Tensor, teacher: torch.nn.Module, *, chunk: int = 8) -> AnchorSet:
        """The teacher's logits on ``images`` and on their mirrors (eval mode, no gradient)."""
        teacher.eval()

        def logits(batch: torch.Tensor) -> torch.Tensor:
            outputs = []
            with torch.no_grad():
                for start in range(0, len(batch), chunk):
                    output = teacher(batch[start : start + chunk])
                    outputs.append((output[0] if isinstance(output, (list, tuple)) else output).float())
            return torch.cat(outputs)

        return cls(images=images, teacher_logits=logits(images), mirrored_logits=logits(images.flip(-1)))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batch(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` frames drawn without replacement (all of them when fewer), each mirrored left-right
        with probability one half, and the teacher's logits on each as drawn."""
        picks = torch.randperm(len(self), generator=generator)[: min(size, len(self))]
        mirror = torch.rand(len(picks), generator=generator) < 0.5
        images = self.images[picks].clone()
        images[mirror] = images[mirror].flip(-1)
        logits = torch.where(
            mirror[:, None, None, None], self.mirrored_logits[picks], self.teacher_logits[picks]
        )
        return images, logits
