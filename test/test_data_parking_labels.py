"""Readers of real AVM labels: DMPR-PS JSON, LabelMe XML and JSON; label lookup; frame scaling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from seg_perception.data.errors import DatasetError
from seg_perception.data.parking_labels import (
    find_label,
    parse_dmpr_json,
    parse_labelme_xml,
    read_parking_label,
)

LABELME_XML = """<annotation><filename>000001.jpg</filename>
<object><name>01 key_point</name><deleted>0</deleted><polygon><pt><x>86</x><y>121</y></pt></polygon></object>
<object><name>02_key_point</name><deleted>1</deleted><polygon><pt><x>1</x><y>1</y></pt></polygon></object>
<object><name>02_key_point</name><deleted>0</deleted><polygon><pt><x>88.5</x><y>242</y></pt></polygon></object>
<imagesize><nrows>600</nrows><ncols>192</ncols></imagesize></annotation>"""


def test_dmpr_json_marks_slots_and_directions(tmp_path):
    label = {
        "marks": [[100, 200, 100, 260, 0], [200, 200, 200, 260, 1], [300.5, 201, 240, 201, 0]],
        "slots": [[1, 2, 1, 90], [2, 3, 1, 90]],
    }
    path = tmp_path / "p2_001.json"
    path.write_text(json.dumps(label))
    parsed = read_parking_label(path)
    assert parsed.label_size == (600, 600)
    # counted from 1 in the file (MATLAB's pixels, as ps2.0's), from 0 in the package
    np.testing.assert_allclose(parsed.points, [[99, 199], [199, 199], [299.5, 200]])
    assert parsed.slots == [(0, 1), (1, 2)]
    np.testing.assert_allclose(parsed.directions, [np.pi / 2, np.pi / 2, np.pi])
    assert parsed.shapes == ["0", "1", "0"]
    entrances = parsed.entrances()
    assert entrances.shape == (2, 2, 2)
    np.testing.assert_allclose(entrances[1], [[199, 199], [299.5, 200]])


def test_dmpr_json_single_mark_flat_and_plain_xy():
    parsed = parse_dmpr_json({"marks": [10, 20], "slots": []})
    np.testing.assert_allclose(parsed.points, [[9, 19]])
    assert parsed.slots == [] and np.isnan(parsed.directions).all()
    assert parsed.entrances().shape == (0, 2, 2)


@pytest.mark.parametrize(
    "label",
    [{"slots": []}, {"marks": [[1]]}, {"marks": [[1, 2], [3, 4]], "slots": [[1, 3]]}, {"marks": "x"}],
)
def test_dmpr_json_rejects_malformed_labels(label):
    with pytest.raises(DatasetError):
        parse_dmpr_json(label, source="bad.json")


def test_ps2_matlab_labels_read_like_their_dmpr_json(tmp_path):
    """ps2.0's own ``.mat`` files: ``marks`` rows x, y (no direction), ``slots`` 1-based, type, angle."""
    path = tmp_path / "img1.mat"
    scipy.io.savemat(path, {"marks": np.array([[100.0, 200.0], [200.0, 200.0], [300.5, 201.0]]),
                            "slots": np.array([[1, 2, 1, 90], [2, 3, 1, 90]])})  # fmt: skip
    parsed = read_parking_label(path)
    assert parsed.label_size == (600, 600) and parsed.source == str(path)
    np.testing.assert_allclose(parsed.points, [[99, 199], [199, 199], [299.5, 200]])  # MATLAB counts from 1
    assert parsed.slots == [(0, 1), (1, 2)]
    assert np.isnan(parsed.directions).all()
    # the labelling tool's directional version saves the second point as DMPR-PS's JSON does
    directional = tmp_path / "img2.mat"
    scipy.io.savemat(
        directional, {"marks": np.array([[10.0, 20.0, 10.0, 80.0, 1.0]]), "slots": np.zeros((0, 4))}
    )
    parsed = read_parking_label(directional)
    np.testing.assert_allclose(parsed.directions, [np.pi / 2])
    assert parsed.slots == [] and parsed.shapes == ["1"]
    assert read_parking_label(directional, label_size=(480, 640)).label_size == (480, 640)


def test_ps2_matlab_labels_that_cannot_be_read_are_named(tmp_path):
    no_marks = tmp_path / "a.mat"
    scipy.io.savemat(no_marks, {"slots": np.array([[1, 2, 1, 90]])})
    with pytest.raises(DatasetError, match=r"a\.mat: a ps2\.0 MATLAB label needs a 'marks' array"):
        read_parking_label(no_marks)
    not_matlab = tmp_path / "b.mat"
    not_matlab.write_text("marks = [1 2]")
    with pytest.raises(DatasetError, match=r"cannot read .*b\.mat as a MATLAB file"):
        read_parking_label(not_matlab)
    bad_slot = tmp_path / "c.mat"
    scipy.io.savemat(bad_slot, {"marks": np.array([[1.0, 2.0]]), "slots": np.array([[1, 2, 1, 90]])})
    with pytest.raises(DatasetError, match=r"c\.mat: slot \[1\.0, 2\.0\] names marks outside 1\.\.1"):
        read_parking_label(bad_slot)


def test_labelme_xml_points_skip_deleted_and_scale_to_the_image():
    parsed = parse_labelme_xml(LABELME_XML, source="a.xml")
    np.testing.assert_allclose(parsed.points, [[86, 121], [88.5, 242]])
    assert parsed.names == ["01 key_point", "02_key_point"]
    assert parsed.slots is None and parsed.entrances() is None
    assert parsed.label_size == (600, 192)
    half = parsed.scaled_to((300, 96))  # strips stored at half the label frame
    np.testing.assert_allclose(half.points, [[43, 60.5], [44.25, 121]])
    assert parsed.scaled_to((600, 192)) is parsed


def test_labelme_json_points(tmp_path):
    data = {
        "shapes": [
            {"label": "corner", "points": [[5, 6]], "shape_type": "point"},
            {"label": "slot", "points": [[1, 2], [3, 4]], "shape_type": "line"},
        ],
        "imageHeight": 100,
        "imageWidth": 50,
    }
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data))
    parsed = read_parking_label(path)
    np.testing.assert_allclose(parsed.points, [[5, 6], [1, 2], [3, 4]])
    assert parsed.label_size == (100, 50) and parsed.slots is None


def test_readers_name_the_bad_file(tmp_path):
    bad_xml = tmp_path / "b.xml"
    bad_xml.write_text("<annotation><object><name>x</name><polygon><pt><x>a</x><y>1</y></pt>")
    with pytest.raises(DatasetError, match=r"b\.xml"):
        read_parking_label(bad_xml)
    other = tmp_path / "c.json"
    other.write_text(json.dumps({"foo": 1}))
    with pytest.raises(DatasetError, match=r"c\.json"):
        read_parking_label(other)
    with pytest.raises(DatasetError, match="does not exist"):
        read_parking_label(tmp_path / "missing.xml")


def test_find_label_beside_or_in_sibling_folders(tmp_path):
    beside = tmp_path / "Brick" / "run_R"
    beside.mkdir(parents=True)
    (beside / "1.jpg").write_bytes(b"")
    (beside / "1.xml").write_text(LABELME_XML)
    assert find_label(beside / "1.jpg") == beside / "1.xml"
    images = tmp_path / "run_L_images"
    labels = tmp_path / "run_L_xml"
    images.mkdir()
    labels.mkdir()
    (labels / "2.xml").write_text(LABELME_XML)
    assert find_label(images / "2.jpg") == labels / "2.xml"
    stereo_img, stereo_xml = tmp_path / "garage_img", tmp_path / "garage_xml_ori"
    stereo_img.mkdir()
    stereo_xml.mkdir()
    (stereo_xml / "3.xml").write_text(LABELME_XML)
    assert find_label(stereo_img / "3.jpg") == stereo_xml / "3.xml"
    assert find_label(images / "9.jpg") is None


def test_find_label_in_dmpr_ps_own_label_tree(tmp_path):
    """DMPR-PS keeps ps2.0's labels in ``ps_json_label/<split>/`` beside the images' ``<split>/``."""
    for split in ("training", "testing/all"):
        images, labels = tmp_path / split, tmp_path / "ps_json_label" / split
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        (images / "img1.jpg").write_bytes(b"")
        (labels / "img1.json").write_text(json.dumps({"marks": [[1, 2, 3, 4, 0]], "slots": []}))
        assert find_label(images / "img1.jpg") == labels / "img1.json"
    assert find_label(tmp_path / "testing" / "all" / "img2.jpg") is None


def test_find_label_takes_ps2_matlab_files_beside_the_images_after_any_json(tmp_path):
    """ps2.0 as released keeps ``<stem>.mat`` beside each image; DMPR-PS's JSON of it, when there, wins
    (it carries directions)."""
    images = tmp_path / "testing" / "all"
    images.mkdir(parents=True)
    (images / "img1.jpg").write_bytes(b"")
    scipy.io.savemat(images / "img1.mat", {"marks": np.array([[1.0, 2.0]]), "slots": np.zeros((0, 4))})
    assert find_label(images / "img1.jpg") == images / "img1.mat"
    labels = tmp_path / "ps_json_label" / "testing" / "all"
    labels.mkdir(parents=True)
    (labels / "img1.json").write_text(json.dumps({"marks": [[1, 2, 3, 4, 0]], "slots": []}))
    assert find_label(images / "img1.jpg") == labels / "img1.json"


def test_synthetic_truth_round_trips_through_the_dmpr_form():
    from seg_perception.data.parking_labels import to_dmpr_json
    from seg_perception.data.synthetic import generate_scene

    checked = 0
    for seed in range(4):
        sample = generate_scene("parking", seed, size=(200, 200), metres_per_pixel=0.04)
        data = to_dmpr_json(sample.marking_points, sample.slots, include_occluded=True)
        data["image_size"] = list(sample.mask.shape)
        data["metres_per_pixel"] = 0.04
        label = parse_dmpr_json(json.loads(json.dumps(data)))
        assert label.label_size == (200, 200) and label.metres_per_pixel == 0.04
        np.testing.assert_allclose(label.points, [m.position for m in sample.marking_points], atol=0.01)
        directions = np.array([m.direction for m in sample.marking_points])
        np.testing.assert_allclose(np.cos(label.directions - directions), 1.0, atol=1e-3)
        assert len(label.slots) == len(sample.slots)  # every slot's entrance corners are marks
        for (a, b), slot in zip(label.slots, sample.slots, strict=True):
            np.testing.assert_allclose(label.points[[a, b]], slot.corners[:2], atol=0.01)
        checked += len(label.slots)
    assert checked > 5


def test_synthetic_labels_leave_out_the_marks_an_object_hides():
    """A labeller marks what the image shows: a mark under a parked car's smear, and the slot whose
    entrance it is, are not in the label ``generate`` writes, as the training target leaves them out."""
    from seg_perception.data.marking_points import marking_point_rows
    from seg_perception.data.parking_labels import to_dmpr_json
    from seg_perception.geometry import MarkingPoint, ParkingSlot

    def mark(x: float, occluded: bool) -> MarkingPoint:
        return MarkingPoint(position=np.array([x, 50.0]), direction=np.pi / 2, shape="T", occluded=occluded)

    marks = [mark(20.0, False), mark(80.0, False), mark(140.0, True)]
    slots = [
        ParkingSlot(corners=np.array([[x0, 50.0], [x1, 50.0], [x1, 150.0], [x0, 150.0]]), instance_id=i)
        for i, (x0, x1) in enumerate([(20.0, 80.0), (80.0, 140.0)])
    ]
    label = parse_dmpr_json(to_dmpr_json(marks, slots))
    np.testing.assert_allclose(label.points, [[20.0, 50.0], [80.0, 50.0]])
    assert label.slots == [(0, 1)]  # the slot with a hidden entrance corner is left out
    assert len(marking_point_rows(marks)) == len(label.points)  # as the model is taught
    everything = parse_dmpr_json(to_dmpr_json(marks, slots, include_occluded=True))
    assert len(everything.points) == 3 and everything.slots == [(0, 1), (1, 2)]


def test_an_images_ground_resolution_is_the_given_scale_else_the_labels_own_scaled_to_the_image():
    from seg_perception.data.parking_labels import parse_dmpr_json

    own = parse_dmpr_json({"marks": [[1, 2]], "image_size": [600, 600], "metres_per_pixel": 0.02})
    assert own.image_metres_per_pixel(300) == pytest.approx(0.04)  # the image is half the label frame
    assert own.image_metres_per_pixel(300, given=0.01) == pytest.approx(0.02)  # a given scale wins
    assert parse_dmpr_json({"marks": [[1, 2]]}).image_metres_per_pixel(600) is None
