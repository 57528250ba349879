"""Torch datasets: synthetic scenes on the fly, image/mask folders, Cityscapes, COCO polygons.

Every dataset returns ``transform(image_bgr, mask)`` (or the raw pair when no
transform is given): ``image_bgr`` (H, W, 3) uint8 and ``mask`` (H, W) uint8 class ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from seg_perception.data.errors import DatasetError
from seg_perception.data.synthetic import generate_scene

Transform = Callable[[np.ndarray, np.ndarray], Any]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def read_image(path: Path) -> np.ndarray:
    """Read a BGR uint8 image, or raise :class:`DatasetError` naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path} (missing, truncated or not an image)")
    return image


def read_mask(path: Path) -> np.ndarray:
    """Read a single-channel uint8 label image (pixel = class/label id)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DatasetError(f"cannot read mask {path} (missing, truncated or not an image)")
    if mask.ndim == 3:
        raise DatasetError(
            f"mask {path} has {mask.shape[2]} channels; expected a single-channel PNG of class ids"
        )
    return mask.astype(np.uint8) if mask.dtype != np.uint8 else mask


def _check_pair(image: np.ndarray, mask: np.ndarray, image_path: Path, mask_path: Path | str) -> None:
    if image.shape[:2] != mask.shape[:2]:
        raise DatasetError(f"{image_path} is {image.shape[1]}x{image.shape[0]} but its mask {mask_path} is "
                           f"{mask.shape[1]}x{mask.shape[0]}")  # fmt: skip


def _apply(transform: Transform | None, image: np.ndarray, mask: np.ndarray) -> Any:
    return (image, mask) if transform is None else transform(image, mask)


class SyntheticDataset(Dataset[Any]):
    """Procedural scenes generated on the fly; item ``i`` is the scene of seed ``seeds[i]``."""

    def __init__(
        self,
        scenario: str,
        *,
        seeds: Sequence[int],
        size: tuple[int, int],
        transform: Transform | None = None,
    ):
        if len(seeds) == 0:
            raise DatasetError("SyntheticDataset needs at least one seed")
        self.scenario = scenario
        self.seeds = seeds
        self.size = (int(size[0]), int(size[1]))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: int) -> Any:
        sample = generate_scene(self.scenario, int(self.seeds[index]), size=self.size)
        return _apply(self.transform, sample.image, sample.mask)


class ImageMaskFolderDataset(Dataset[Any]):
    """``root/images/<stem>.<ext>`` paired with ``root/masks/<stem>.png`` (pixel = class id)."""

    def __init__(
        self,
        root: str | Path,
        *,
        images: str = "images",
        masks: str = "masks",
        transform: Transform | None = None,
    ):
        self.root = Path(root)
        image_dir, mask_dir = self.root / images, self.root / masks
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise DatasetError(f"dataset folder {folder} does not exist")
        image_files = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        mask_files = {p.stem: p for p in sorted(mask_dir.iterdir()) if p.suffix.lower() == ".png"}
        if not image_files:
            raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
        unpaired = sorted(set(image_files) ^ set(mask_files))
        if unpaired:
            shown = ", ".join(unpaired[:5]) + (" ..." if len(unpaired) > 5 else "")
            raise DatasetError(f"{len(unpaired)} files in {image_dir} / {mask_dir} have no partner: {shown}")
        self.pairs = [(image_files[k], mask_files[k]) for k in sorted(image_files)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Any:
        image_path, mask_path = self.pairs[index]
        image, mask = read_image(image_path), read_mask(mask_path)
        _check_pair(image, mask, image_path, mask_path)
        return _apply(self.transform, image, mask)


class CityscapesDataset(Dataset[Any]):
    """Cityscapes layout: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with
    ``gtFine/<split>/<city>/*_gtFine_labelIds.png``.

    Label ids are mapped through ``remap``; ids not in it become ``ignore_index``.
    """

    IMAGE_SUFFIX = "_leftImg8bit.png"
    LABEL_SUFFIX = "_gtFine_labelIds.png"

    def __init__(self, root: str | Path, *, split: str, remap: dict[int, int], ignore_index: int = 255,
                 transform: Transform | None = None):  # fmt: skip
        self.root = Path(root)
        image_root = self.root / "leftImg8bit" / split
        label_root = self.root / "gtFine" / split
        if not image_root.is_dir():
            raise DatasetError(f"Cityscapes split folder {image_root} does not exist")
        images = sorted(image_root.glob(f"*/*{self.IMAGE_SUFFIX}"))
        if not images:
            raise DatasetError(f"no *{self.IMAGE_SUFFIX} files under {image_root}/<city>/")
        self.pairs = []
        for image_path in images:
            stem = image_path.name[: -len(self.IMAGE_SUFFIX)]
            label_path = label_root / image_path.parent.name / f"{stem}{self.LABEL_SUFFIX}"
            if not label_path.is_file():
                raise DatasetError(f"{image_path} has no label file {label_path}")
            self.pairs.append((image_path, label_path))
        lut = np.full(256, ignore_index, np.uint8)
        for source, target in remap.items():
            if not (0 <= int(source) < 256 and 0 <= int(target) < 256):
                raise DatasetError(f"remap entry {source} -> {target} is outside 0..255")
            lut[int(source)] = int(target)
        self.lut = lut
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Any:
        image_path, label_path = self.pairs[index]
        image, labels = read_image(image_path), read_mask(label_path)
        _check_pair(image, labels, image_path, label_path)
        return _apply(self.transform, image, self.lut[labels])


class CocoPolygonDataset(Dataset[Any]):
    """COCO-style polygons (the contest format) rasterised into class masks.

    ``category_map`` maps COCO ``category_id`` -> class id; other categories are skipped.
    Later annotations are drawn over earlier ones.
    """

    def __init__(self, annotation_json: str | Path, image_dir: str | Path, *, category_map: dict[int, int],
                 transform: Transform | None = None):  # fmt: skip
        self.annotation_json = Path(annotation_json)
        self.image_dir = Path(image_dir)
        try:
            document = json.loads(self.annotation_json.read_text())
        except FileNotFoundError as err:
            raise DatasetError(f"annotation file {self.annotation_json} does not exist") from err
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"annotation file {self.annotation_json} is not valid JSON: {err}") from err
        if not isinstance(document, dict) or "images" not in document or "annotations" not in document:
            raise DatasetError(f"{self.annotation_json} lacks the COCO keys 'images' and 'annotations'")
        if not document["images"]:
            raise DatasetError(f"{self.annotation_json} lists no images")
        self.images = sorted(document["images"], key=lambda item: item["id"])
        self.annotations: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in self.images}
        for ann in document["annotations"]:
            if ann.get("image_id") not in self.annotations:
                raise DatasetError(f"{self.annotation_json}: annotation {ann.get('id')} refers to unknown "
                                   f"image_id {ann.get('image_id')}")  # fmt: skip
            self.annotations[ann["image_id"]].append(ann)
        self.category_map = {int(k): int(v) for k, v in category_map.items()}
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def rasterize(self, image_info: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        """Class mask of one image from its polygon annotations."""
        mask = np.zeros(shape, np.uint8)
        for ann in self.annotations[image_info["id"]]:
            class_id = self.category_map.get(int(ann["category_id"]))
            if class_id is None:
                continue
            segmentation = ann.get("segmentation")
            if not isinstance(segmentation, list):
                raise DatasetError(
                    f"{self.annotation_json}: annotation {ann.get('id')} uses RLE segmentation; "
                    "only polygon lists [[x1, y1, x2, y2, ...], ...] are supported"
                )
            polygons = [
                np.asarray(poly, np.float64).reshape(-1, 2) for poly in segmentation if len(poly) >= 6
            ]
            if polygons:
                cv2.fillPoly(
                    mask, [np.round(p * 16).astype(np.int32) for p in polygons], class_id, cv2.LINE_8, 4
                )
        return mask

    def __getitem__(self, index: int) -> Any:
        info = self.images[index]
        image_path = self.image_dir / info["file_name"]
        image = read_image(image_path)
        expected = (info.get("height", image.shape[0]), info.get("width", image.shape[1]))
        if tuple(expected) != image.shape[:2]:
            raise DatasetError(f"{image_path} is {image.shape[1]}x{image.shape[0]}, the annotation says "
                               f"{expected[1]}x{expected[0]}")  # fmt: skip
        return _apply(self.transform, image, self.rasterize(info, image.shape[:2]))
