"""Pre-processing maths against a straightforward reference, and the torch device path on CPU."""

import cv2
import numpy as np
import pytest
import torch

from seg_perception.inference.errors import InvalidImageError
from seg_perception.inference.preprocess import (
    Normalization,
    argmax_mask,
    check_image,
    mask_from_logits_torch,
    preprocess,
    preprocess_torch,
    resize_mask,
)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def reference_preprocess(image_bgr, size_hw, mean, std):
    """The textbook version: resize, BGR→RGB, /255, (x - mean) / std, HWC→NCHW."""
    resized = cv2.resize(image_bgr, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    normalised = (rgb - np.array(mean, np.float32)) / np.array(std, np.float32)
    return normalised.transpose(2, 0, 1)[None]


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)


@pytest.mark.parametrize("size_hw", [(24, 40), (37, 53), (64, 96)])
def test_preprocess_matches_reference(image, size_hw):
    norm = Normalization.from_mean_std(MEAN, STD)
    result = preprocess(image, size_hw, norm)
    expected = reference_preprocess(image, size_hw, MEAN, STD)
    assert result.shape == (1, 3, *size_hw) and result.dtype == np.float32
    assert result.flags.c_contiguous
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_preprocess_reuses_the_output_buffer(image):
    norm = Normalization.from_mean_std(MEAN, STD)
    buffer = np.zeros((1, 3, 24, 40), np.float32)
    assert preprocess(image, (24, 40), norm, out=buffer) is buffer
    np.testing.assert_allclose(buffer, reference_preprocess(image, (24, 40), MEAN, STD), atol=1e-5)
    with pytest.raises(ValueError, match="out must be"):
        preprocess(image, (24, 40), norm, out=np.zeros((1, 3, 24, 41), np.float32))


def test_preprocess_handles_non_contiguous_views(image):
    norm = Normalization.from_mean_std(MEAN, STD)
    view = image[:, ::2]  # strided view, as a cropped ROS buffer could be
    expected = reference_preprocess(np.ascontiguousarray(view), (20, 30), MEAN, STD)
    np.testing.assert_allclose(preprocess(view, (20, 30), norm), expected, atol=1e-5)


def test_normalization_folds_mean_and_std():
    norm = Normalization.from_mean_std((0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    pixels = np.array([0.0, 128.0, 255.0])
    for channel, (mean, std) in enumerate([(0.5, 0.5), (0.25, 0.25), (0.0, 1.0)]):
        folded = pixels * norm.scale[channel] + norm.offset[channel]
        np.testing.assert_allclose(folded, (pixels / 255 - mean) / std, atol=1e-12)
    with pytest.raises(ValueError):
        Normalization.from_mean_std((0.5, 0.5), (0.2, 0.2))
    with pytest.raises(ValueError):
        Normalization.from_mean_std(MEAN, (0.2, 0.0, 0.2))


def test_check_image_rejects_bad_frames_and_expands_grey():
    assert check_image(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    bad_frames = (
        np.zeros((4, 5, 3), np.float32),
        np.zeros((4, 5, 4), np.uint8),
        np.zeros((0, 5, 3), np.uint8),
    )
    for bad in bad_frames:
        with pytest.raises(InvalidImageError):
            check_image(bad)
    with pytest.raises(InvalidImageError):
        check_image([[1, 2, 3]])


def test_argmax_and_nearest_resize():
    logits = np.random.default_rng(1).normal(size=(1, 3, 6, 8)).astype(np.float32)
    mask = argmax_mask(logits)
    assert mask.dtype == np.uint8 and mask.shape == (6, 8)
    np.testing.assert_array_equal(mask, np.argmax(logits[0], axis=0))
    ties = np.zeros((1, 3, 2, 2), np.float32)
    np.testing.assert_array_equal(argmax_mask(ties), np.zeros((2, 2)))  # all tied: lowest id
    ties[0, 1:] = 1.0  # classes 1 and 2 tie above class 0
    np.testing.assert_array_equal(argmax_mask(ties), np.ones((2, 2)))
    big = resize_mask(mask, (12, 16))
    np.testing.assert_array_equal(big[::2, ::2], mask)  # exact 2x nearest upsampling
    assert resize_mask(mask, (6, 8)) is mask


def test_torch_preprocess_matches_numpy_on_cpu(image):
    norm = Normalization.from_mean_std(MEAN, STD)
    for size_hw in [(37, 53), (74, 106)]:  # identity and exact 2x upsampling
        expected = preprocess(image, size_hw, norm)
        result = preprocess_torch(torch.from_numpy(image), size_hw, norm).numpy()
        # OpenCV resizes uint8 in fixed point and rounds: within one grey level.
        np.testing.assert_allclose(result, expected, atol=max(norm.scale) + 1e-5)


def test_torch_mask_matches_numpy_mask_on_cpu():
    logits = np.random.default_rng(2).normal(size=(1, 3, 10, 14)).astype(np.float32)
    for size_hw in [(10, 14), (23, 31), (7, 9), (40, 56)]:
        expected = resize_mask(argmax_mask(logits), size_hw)
        result = mask_from_logits_torch(torch.from_numpy(logits), size_hw)
        assert result.dtype == torch.uint8
        np.testing.assert_array_equal(result.numpy(), expected)
