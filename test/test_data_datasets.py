"""Dataset readers on small fixtures built in tmp_path, and their error messages."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from seg_perception.data.datasets import (
    CityscapesDataset,
    CocoPolygonDataset,
    ImageMaskFolderDataset,
    SyntheticDataset,
)
from seg_perception.data.errors import DatasetError


def _image(h=24, w=32, value=90):
    image = np.full((h, w, 3), value, np.uint8)
    image[:, :, 2] = 200
    return image


def _folder(tmp_path, stems=("a", "b")):
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    for i, stem in enumerate(stems):
        cv2.imwrite(str(tmp_path / "images" / f"{stem}.jpg"), _image(value=10 * i))
        mask = np.zeros((24, 32), np.uint8)
        mask[5:10, 3 + i : 20] = i + 1
        cv2.imwrite(str(tmp_path / "masks" / f"{stem}.png"), mask)
    return tmp_path


def test_image_mask_folder_pairs_by_stem_and_applies_transform(tmp_path):
    root = _folder(tmp_path)
    dataset = ImageMaskFolderDataset(root)
    assert len(dataset) == 2
    image, mask = dataset[1]
    assert image.shape == (24, 32, 3) and mask.shape == (24, 32)
    assert set(np.unique(mask)) == {0, 2}
    flipped = ImageMaskFolderDataset(root, transform=lambda im, m: (im.shape, m[:, ::-1]))
    shape, mask_flipped = flipped[1]
    assert shape == (24, 32, 3) and np.array_equal(mask_flipped, mask[:, ::-1])


def test_image_mask_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        ImageMaskFolderDataset(tmp_path / "nothing")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "masks").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        ImageMaskFolderDataset(tmp_path / "empty")
    root = _folder(tmp_path / "unpaired")
    (root / "masks" / "b.png").unlink()
    with pytest.raises(DatasetError, match="no partner: b"):
        ImageMaskFolderDataset(root)
    root = _folder(tmp_path / "broken")
    (root / "images" / "a.jpg").write_bytes(b"not a jpeg at all")
    dataset = ImageMaskFolderDataset(root)
    with pytest.raises(DatasetError, match=r"cannot read image .*a\.jpg"):
        dataset[0]


def test_cityscapes_remaps_and_ignores(tmp_path):
    city = "aachen"
    image_dir = tmp_path / "leftImg8bit" / "train" / city
    label_dir = tmp_path / "gtFine" / "train" / city
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    labels = np.zeros((16, 20), np.uint8)
    labels[:4] = 7
    labels[4:8] = 24
    labels[8:] = 26
    cv2.imwrite(str(image_dir / f"{city}_000000_000019_leftImg8bit.png"), _image(16, 20))
    cv2.imwrite(str(label_dir / f"{city}_000000_000019_gtFine_labelIds.png"), labels)
    dataset = CityscapesDataset(tmp_path, split="train", remap={7: 0, 24: 1}, ignore_index=255)
    assert len(dataset) == 1
    image, mask = dataset[0]
    assert image.shape == (16, 20, 3)
    assert (mask[:4] == 0).all() and (mask[4:8] == 1).all() and (mask[8:] == 255).all()
    with pytest.raises(DatasetError, match="does not exist"):
        CityscapesDataset(tmp_path, split="val", remap={})
    (label_dir / f"{city}_000000_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetError, match="has no label file"):
        CityscapesDataset(tmp_path, split="train", remap={7: 0})


def _coco(tmp_path, segmentation):
    cv2.imwrite(str(tmp_path / "frame.png"), _image(40, 50))
    document = {
        "images": [{"id": 1, "file_name": "frame.png", "height": 40, "width": 50}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 5, "segmentation": segmentation},
            {"id": 2, "image_id": 1, "category_id": 9, "segmentation": [[0, 0, 49, 0, 49, 3, 0, 3]]},
        ],
        "categories": [{"id": 5, "name": "lane"}, {"id": 9, "name": "other"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(document))
    return path


def test_coco_polygons_rasterise_into_class_mask(tmp_path):
    square = [[10, 10, 30, 10, 30, 20, 10, 20]]
    triangle = [35, 30, 45, 30, 40, 38]
    path = _coco(tmp_path, [*square, triangle])
    dataset = CocoPolygonDataset(path, tmp_path, category_map={5: 2})
    image, mask = dataset[0]
    assert image.shape == (40, 50, 3)
    assert (mask[11:20, 11:30] == 2).all()
    assert mask[33, 40] == 2 and mask[25, 5] == 0
    assert (mask[:3] == 0).all()  # category 9 is not mapped
    assert 200 <= (mask == 2).sum() <= 21 * 11 + 60


def test_coco_errors(tmp_path):
    rle = {"counts": [0, 5], "size": [40, 50]}
    with pytest.raises(DatasetError, match="RLE"):
        CocoPolygonDataset(_coco(tmp_path, rle), tmp_path, category_map={5: 1})[0]
    with pytest.raises(DatasetError, match="does not exist"):
        CocoPolygonDataset(tmp_path / "missing.json", tmp_path, category_map={})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        CocoPolygonDataset(bad, tmp_path, category_map={})
    path = _coco(tmp_path, [[1, 1, 5, 1, 5, 5]])
    (tmp_path / "frame.png").unlink()
    with pytest.raises(DatasetError, match=r"frame\.png"):
        CocoPolygonDataset(path, tmp_path, category_map={5: 1})[0]


def test_synthetic_dataset_is_indexed_by_seed():
    dataset = SyntheticDataset("highway", seeds=range(10, 13), size=(48, 96))
    assert len(dataset) == 3
    image, mask = dataset[1]
    again, _ = SyntheticDataset("highway", seeds=[11], size=(48, 96))[0]
    assert image.shape == (48, 96, 3) and mask.shape == (48, 96)
    assert np.array_equal(image, again)
    with pytest.raises(DatasetError):
        SyntheticDataset("highway", seeds=[], size=(48, 96))
