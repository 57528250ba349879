"""``seg-perception generate`` writes images, masks, polygons and previews."""

from __future__ import annotations

import json

import cv2
import numpy as np

from seg_perception.cli import main


def test_generate_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "scenes"
    code = main(["generate", "--scenario", "parking", "--count", "2", "--seed", "7", "--out", str(out),
                 "--size", "96x112"])  # fmt: skip
    assert code == 0
    images = sorted((out / "images").glob("*.png"))
    masks = sorted((out / "masks").glob("*.png"))
    polygons = sorted((out / "polygons").glob("*.json"))
    assert len(images) == len(masks) == len(polygons) == 2
    assert len(list((out / "preview").glob("*.jpg"))) == 2
    assert [p.stem for p in images] == [p.stem for p in masks] == [p.stem for p in polygons]
    mask = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (96, 112) and set(np.unique(mask)) <= {0, 1, 2}
    document = json.loads(polygons[0].read_text())
    assert document["image_size"] == [96, 112]
    assert {"class", "id", "vertices"} <= set(document["polygons"][0])
    assert document["meta"]["seed"] == 7 and "metres_per_pixel" in document["meta"]
    assert isinstance(document["slots"], list)


def test_generate_rejects_a_bad_size(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["generate", "--scenario", "road", "--out", str(tmp_path), "--size", "big"])
    assert "HEIGHTxWIDTH" in capsys.readouterr().err
