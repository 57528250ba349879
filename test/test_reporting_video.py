"""Overlay videos: MP4 that plays back every frame, strided GIF, GIF fallback without an MP4 encoder."""

import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from seg_perception.reporting import (
    ReportingError,
    StreamRecording,
    VideoSink,
    count_video_frames,
    write_stream_visuals,
    write_video,
)
from seg_perception.reporting import video as video_module


def _frames(count, height=49, width=67):
    """Frames of odd size whose brightness encodes their index (readable back through a lossy codec)."""
    return [np.full((height, width, 3), 20 + 20 * index, np.uint8) for index in range(count)]


def test_mp4_plays_back_every_frame_in_order_at_an_even_size(tmp_path):
    path = write_video(_frames(8), tmp_path / "sub" / "overlay.mp4", fps=30.0)
    assert path == tmp_path / "sub" / "overlay.mp4"
    assert count_video_frames(path) == 8
    capture = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    assert decoded[0].shape == (48, 66, 3)  # odd sizes rounded down to even ones
    assert fps == pytest.approx(30.0)
    brightness = [float(frame.mean()) for frame in decoded]
    np.testing.assert_allclose(brightness, [20 + 20 * i for i in range(8)], atol=6)


def test_mp4_scales_wide_frames_down_and_mixed_sizes_to_the_first(tmp_path):
    with VideoSink(tmp_path / "v.mp4", fps=10.0, max_width=100) as sink:
        sink.add(np.zeros((100, 400, 3), np.uint8))
        sink.add(np.zeros((30, 30), np.uint8))  # grey and another size: resized to the first
    assert sink.frames_written == 2 and not sink.fell_back
    capture = cv2.VideoCapture(str(sink.path))
    ok, frame = capture.read()
    capture.release()
    assert ok and frame.shape == (24, 100, 3)
    assert count_video_frames(sink.path) == 2


def test_gif_keeps_every_stride_th_frame_at_the_stream_rate(tmp_path):
    with VideoSink(tmp_path / "v.gif", fps=30.0, gif_stride=3, gif_max_width=32) as sink:
        for frame in _frames(7):
            sink.add(frame)
    assert sink.frames_written == 3  # frames 0, 3, 6
    with Image.open(sink.path) as gif:
        assert gif.n_frames == 3 and gif.size[0] == 32
        assert gif.info["duration"] == 100  # 3 frames of a 30 Hz stream


def test_falls_back_to_gif_with_a_log_line_when_mp4_cannot_be_written(tmp_path, monkeypatch, caplog):
    class NoEncoder:
        def __init__(self, *args):
            pass

        def isOpened(self):  # OpenCV's name
            return False

        def release(self):
            pass

    monkeypatch.setattr(video_module.cv2, "VideoWriter", NoEncoder)
    with caplog.at_level(logging.WARNING, logger=video_module.__name__):
        path = write_video(_frames(4), tmp_path / "overlay.mp4", fps=10.0)
    assert path == tmp_path / "overlay.gif" and not (tmp_path / "overlay.mp4").exists()
    with Image.open(path) as gif:
        assert gif.n_frames == 4
    assert "cannot write MP4" in caplog.text and "overlay.gif" in caplog.text


def test_bad_names_rates_and_empty_videos(tmp_path):
    with pytest.raises(ReportingError, match=r"\.mp4 or \.gif"):
        VideoSink(tmp_path / "v.avi", fps=10.0)
    with pytest.raises(ReportingError, match="fps"):
        VideoSink(tmp_path / "v.mp4", fps=0)
    with pytest.raises(ReportingError, match="no frames"):
        write_video([], tmp_path / "v.mp4", fps=10.0)
    sink = VideoSink(tmp_path / "v.mp4", fps=10.0)
    assert sink.close() is None and not sink.path.exists()
    with pytest.raises(ReportingError, match="after close"):
        sink.add(_frames(1)[0])
    assert count_video_frames(tmp_path / "missing.mp4") == 0


def test_stream_visuals_add_an_mp4_of_the_gif_frames_on_request(tmp_path):
    recording = StreamRecording()
    for index, frame in enumerate(_frames(5, 40, 64)):
        recording.add_overlay(index * 100_000_000, frame)
    colors = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    without = write_stream_visuals(recording, tmp_path / "a", name="road", colors_bgr=colors)
    assert without["video"] is None and without["animation"] == tmp_path / "a" / "road.gif"
    files = write_stream_visuals(recording, tmp_path / "b", name="road", colors_bgr=colors, video=True)
    assert files["video"] == tmp_path / "b" / "road.mp4"
    assert count_video_frames(files["video"]) == 5
