"""CameraInfo read as ROS defines it: the distortion model, rectified frames, uncalibrated drivers.

A front camera calibrated by a ``sensor_msgs/CameraInfo`` (file or topic) plus its mounting gives
lane boundaries, markers and the polygon cloud in metres; these tests hold the lens models to
formulas written out here, not to the code under test.
"""

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from seg_perception.cli import main
from seg_perception.errors import ConfigError
from seg_perception.postprocess.camera_model import (
    CameraModel,
    GroundMapper,
    Mounting,
    ground_mapper_from_config,
    mounting_from_correspondences,
    mounting_from_straight_lane,
)
from seg_perception.ros.errors import NodeParameterError
from seg_perception.ros.projection import GroundProjection, mounting_list

WIDTH, HEIGHT = 640, 360
K = [300.0, 0.0, 322.0, 0.0, 300.0, 178.0, 0.0, 0.0, 1.0]
MOUNTING = Mounting(height_m=1.4, pitch_rad=np.deg2rad(3.0))
# ground points seen by every lens below: 4-30 m ahead, up to 4 m aside
GROUND = np.array([[4.0, 0.0], [4.0, 3.0], [6.0, -4.0], [10.0, 2.5], [30.0, -1.0], [5.0, 4.0]])
LENSES = {
    "plumb_bob": [-0.28, 0.07, 0.001, -0.0005, 0.0],
    "rational_polynomial": [-0.2, 0.05, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0],
    "equidistant": [0.05, -0.01, 0.002, 0.0],
}


def assert_within_one_percent(ground: np.ndarray) -> None:
    """``ground`` within 1 % of each point's distance ahead of GROUND (a lens's points, undone)."""
    error = np.abs(np.asarray(ground)[:, :2] - GROUND)
    assert (error <= 0.01 * GROUND[:, :1]).all(), error


def info(model: str = "plumb_bob", d: list[float] | None = None, **extra: object) -> dict[str, object]:
    return {"width": WIDTH, "height": HEIGHT, "k": K, "distortion_model": model, "d": d or [], **extra}


def pinhole_rays(ground: np.ndarray) -> np.ndarray:
    """(K, 2) normalised image coordinates (x/z, y/z) of ground points, without any lens."""
    pinhole = GroundMapper.from_camera(CameraModel(WIDTH, HEIGHT, 300.0, 300.0, 322.0, 178.0, MOUNTING))
    uv = pinhole.to_image(ground)
    return np.column_stack([(uv[:, 0] - 322.0) / 300.0, (uv[:, 1] - 178.0) / 300.0])


def through_lens(model: str, d: list[float], rays: np.ndarray) -> np.ndarray:
    """Pixels of normalised rays through the lens, by the models' textbook formulas."""
    a, b = rays[:, 0], rays[:, 1]
    r2 = a * a + b * b
    if model == "equidistant":
        r = np.sqrt(r2)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1 + d[0] * t2 + d[1] * t2**2 + d[2] * t2**3 + d[3] * t2**4)
        xd, yd = a * theta_d / r, b * theta_d / r
    else:
        k = [*d, 0.0, 0.0, 0.0][:8]
        k1, k2, p1, p2, k3, k4, k5, k6 = k
        radial = (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3) / (1 + k4 * r2 + k5 * r2**2 + k6 * r2**3)
        xd = a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
        yd = b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
    return np.column_stack([300.0 * xd + 322.0, 300.0 * yd + 178.0])


@pytest.mark.parametrize("model", sorted(LENSES))
def test_each_distortion_model_maps_its_pixels_to_the_ground_they_show(model: str) -> None:
    d = LENSES[model]
    camera = CameraModel.from_camera_info(info(model, d), MOUNTING)
    mapper = GroundMapper.from_camera(camera)
    seen = through_lens(model, d, pinhole_rays(GROUND))
    assert np.abs(seen - (pinhole_rays(GROUND) * 300.0 + [322.0, 178.0])).max() > 5.0  # a real lens
    np.testing.assert_allclose(mapper.to_image(GROUND), seen, atol=0.05)
    ground, valid = mapper.to_ground(seen)
    assert valid.all()
    assert_within_one_percent(ground)


def test_a_fisheye_calibration_is_not_read_as_plumb_bob() -> None:
    """The same four numbers as plumb_bob (k1 k2 p1 p2) would put the ground metres off."""
    d = LENSES["equidistant"]
    seen = through_lens("equidistant", d, pinhole_rays(GROUND))
    as_plumb_bob, _ = GroundMapper.from_camera(
        CameraModel.from_camera_info(info("plumb_bob", d), MOUNTING)
    ).to_ground(seen)
    assert np.abs(as_plumb_bob - GROUND).max() > 0.5


def test_unknown_models_wrong_coefficient_counts_and_uncalibrated_drivers_are_clear_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        ConfigError, match=r"'double_sphere' is not supported \(plumb_bob, rational_polynomial, "
    ):
        CameraModel.from_camera_info(info("double_sphere", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), MOUNTING)
    with pytest.raises(ConfigError, match="'equidistant' takes 4 coefficients, got 5"):
        CameraModel.from_camera_info(info("equidistant", [0.1, 0.0, 0.0, 0.0, 0.2]), MOUNTING)
    # drivers that pad D with zeros: the model's own coefficients
    padded = CameraModel.from_camera_info(info("plumb_bob", [*LENSES["plumb_bob"], 0.0, 0.0, 0.0]), MOUNTING)
    assert padded.distortion == tuple(LENSES["plumb_bob"])
    # a camera driver without a calibration publishes a zero K: an error naming the cause, not a
    # singular homography
    with pytest.raises(ConfigError, match="not calibrated"):
        CameraModel.from_camera_info({**info(), "k": [0.0] * 9}, MOUNTING)
    # zero coefficients are a pinhole, but a fisheye's are its ideal lens (theta_d = theta)
    assert CameraModel.from_camera_info(info("plumb_bob", [0.0] * 5), MOUNTING).distortion == ()
    ideal = GroundMapper.from_camera(CameraModel.from_camera_info(info("equidistant", [0.0] * 4), MOUNTING))
    np.testing.assert_allclose(
        ideal.to_image(GROUND), through_lens("equidistant", [0.0] * 4, pinhole_rays(GROUND)), atol=0.05
    )
    file = tmp_path / "zero.yaml"
    file.write_text(
        yaml.safe_dump({"image_width": WIDTH, "image_height": HEIGHT, "camera_matrix": {"data": [0] * 9}})
    )
    with pytest.raises(
        NodeParameterError, match=r"'front.camera_info_file': camera info file .*zero.yaml.*not calibrated"
    ):
        GroundProjection.from_parameters(camera="front", camera_info_file=str(file), mounting=[1.4, 3.0])


def test_a_camera_info_message_of_an_uncalibrated_driver_is_refused_with_the_cause() -> None:
    """The node's CameraInfo callback warns about a ConfigError and goes on; a zero K raised
    numpy's LinAlgError there before."""
    pytest.importorskip("sensor_msgs")
    from sensor_msgs.msg import CameraInfo

    from seg_perception.ros.projection import camera_info_projection

    with pytest.raises(ConfigError, match="not calibrated"):
        camera_info_projection(CameraInfo(width=WIDTH, height=HEIGHT), [1.4, 3.0], GroundProjection())
    d = LENSES["equidistant"]
    message = CameraInfo(width=WIDTH, height=HEIGHT, k=K, d=d, distortion_model="equidistant")
    projection = camera_info_projection(message, [1.4, 3.0], GroundProjection())
    assert projection.camera_model is not None and projection.camera_model.distortion_model == "equidistant"
    seen = through_lens("equidistant", d, pinhole_rays(GROUND))
    assert_within_one_percent(projection.metric_points(seen, (HEIGHT, WIDTH)))


def test_rectified_frames_are_projected_with_p_and_no_distortion() -> None:
    """image_proc's image_rect has the camera P describes (here a new focal and centre), no lens."""
    p = [250.0, 0.0, 330.0, 0.0, 0.0, 250.0, 170.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    camera = CameraModel.from_camera_info(
        info("plumb_bob", LENSES["plumb_bob"], p=p), MOUNTING, rectified=True
    )
    assert (camera.fx, camera.fy, camera.cx, camera.cy, camera.distortion) == (250.0, 250.0, 330.0, 170.0, ())
    rectified_pixels = pinhole_rays(GROUND) * 250.0 + [330.0, 170.0]
    ground, _ = GroundMapper.from_camera(camera).to_ground(rectified_pixels)
    np.testing.assert_allclose(ground, GROUND, atol=1e-6)
    with pytest.raises(ConfigError, match="projection matrix"):
        CameraModel.from_camera_info(info(), MOUNTING, rectified=True)


def test_markers_and_the_polygon_cloud_take_the_lens_and_the_frame_size_into_account(tmp_path: Path) -> None:
    """Polygon markers, slots and the polygon cloud went through the homography alone: metres off
    wherever the lens bends the image, and wrong on frames of another size than the calibration."""
    d = LENSES["plumb_bob"]
    file = tmp_path / "front.yaml"
    camera = CameraModel.from_camera_info(info("plumb_bob", d), MOUNTING)
    file.write_text(yaml.safe_dump(camera.camera_info()))
    projection = GroundProjection.from_parameters(
        camera="front", camera_info_file=str(file), mounting=[1.4, 3.0]
    )
    seen = through_lens("plumb_bob", d, pinhole_rays(GROUND))
    metres = projection.metric_points(seen, (HEIGHT, WIDTH))
    assert_within_one_percent(metres)
    assert (metres[:, 2] == 0).all()
    # the homography alone, as before: metres off near the frame's bottom corners
    homography_only = GroundProjection.from_parameters(
        ground_homography=camera.image_to_ground_homography().ravel().tolist()
    )
    assert np.abs(homography_only.metric_points(seen, (HEIGHT, WIDTH))[:, :2] - GROUND).max() > 0.3
    # frames streamed at half the calibration's size
    half = projection.metric_points(seen / 2.0, (HEIGHT // 2, WIDTH // 2))
    assert_within_one_percent(half[:, :2])


def test_calibrate_writes_a_camera_info_block_for_a_lens_and_the_synthetic_camera_file(
    tmp_path: Path, capsys
) -> None:
    """A ground_homography wins over a camera info file in the node, and holds no distortion: the
    block calibrate writes for a camera info is the file and the mounting."""
    d = LENSES["equidistant"]
    file = tmp_path / "fisheye.yaml"
    file.write_text(
        yaml.safe_dump(CameraModel.from_camera_info(info("equidistant", d), MOUNTING).camera_info())
    )
    out = tmp_path / "front.yaml"
    assert (
        main(["calibrate", "--camera-info", str(file), "--height", "1.4", "--pitch", "3", "--yaml", str(out)])
        == 0
    )
    assert "equidistant distortion" in capsys.readouterr().out
    block = yaml.safe_load(out.read_text())["front"]
    assert "ground_homography" not in block and block["camera_info_file"] == str(file)
    mapper = ground_mapper_from_config(block)
    assert mapper is not None
    seen = through_lens("equidistant", d, pinhole_rays(GROUND))
    assert_within_one_percent(mapper.to_ground(seen)[0])
    # rectified frames of the same camera: its P (here K), no distortion, and the block says so
    assert (
        main(
            [
                "calibrate",
                "--camera-info",
                str(file),
                "--height",
                "1.4",
                "--pitch",
                "3",
                "--rectified",
                "--yaml",
                str(out),
            ]
        )
        == 0
    )
    assert "rectified frames" in capsys.readouterr().out
    block = yaml.safe_load(out.read_text())["front"]
    assert block["rectified"] is True
    pinhole_pixels = pinhole_rays(GROUND) * 300.0 + [322.0, 178.0]
    np.testing.assert_allclose(
        ground_mapper_from_config(block).to_ground(pinhole_pixels)[0], GROUND, atol=1e-6
    )

    # the generator's drives have barrel lenses: the block names a camera info file written beside it
    for seed in range(200000, 200040):
        from seg_perception.data.synthetic import generate_drive

        meta = next(generate_drive("highway", seed, 1, size=(270, 480))).meta["camera_model"]
        true = CameraModel.from_generator_meta(meta, (270, 480))
        if true.distortion:
            break
    else:
        pytest.fail("no drive with a distorting lens among 40 seeds")
    synthetic = tmp_path / "synthetic.yaml"
    assert (
        main(
            [
                "calibrate",
                "--synthetic",
                "highway",
                "--seed",
                str(seed),
                "--size",
                "270x480",
                "--yaml",
                str(synthetic),
            ]
        )
        == 0
    )
    block = yaml.safe_load(synthetic.read_text())["front"]
    assert Path(block["camera_info_file"]).is_file() and "ground_homography" not in block
    pixels = np.array([[5.0, 265.0], [475.0, 265.0], [240.0, 200.0]])  # bottom corners, a far centre
    np.testing.assert_allclose(
        ground_mapper_from_config(block).to_ground(pixels)[0],
        GroundMapper.from_camera(true).to_ground(pixels)[0],
        atol=1e-3,
    )


def test_pairs_measured_on_the_ground_give_a_known_lens_its_mounting(tmp_path: Path, capsys) -> None:
    """Intrinsics from camera_calibration, a few ground points measured with a tape: calibrate finds
    the height, the angles and where the camera sits from the vehicle origin (a base_link on the rear
    axle), and the node's parameters carry all six (it took four before, the camera at the origin)."""
    d = LENSES["plumb_bob"]
    true = Mounting(1.45, np.deg2rad(2.5), np.deg2rad(-1.2), np.deg2rad(0.8), x_m=1.7, y_m=-0.3)
    camera = CameraModel.from_camera_info(info("plumb_bob", d), true)
    ground = np.array([[6.0, 2.0], [6.0, -2.0], [10.0, 3.0], [12.0, -3.0], [25.0, 1.8], [20.0, -1.8]])
    seen = GroundMapper.from_camera(camera).to_image(ground)

    found, rms = mounting_from_correspondences(camera, seen, ground)
    assert rms < 0.05
    angles = np.rad2deg([found.pitch_rad, found.roll_rad, found.yaw_rad])
    np.testing.assert_allclose(angles, [2.5, -1.2, 0.8], atol=0.01)
    np.testing.assert_allclose([found.height_m, found.x_m, found.y_m], [1.45, 1.7, -0.3], atol=0.005)
    noisy, rms = mounting_from_correspondences(
        camera, seen + np.random.default_rng(0).normal(0, 0.5, seen.shape), ground
    )
    assert (
        0.1 < rms < 1.0 and abs(np.rad2deg(noisy.pitch_rad) - 2.5) < 0.1 and abs(noisy.height_m - 1.45) < 0.03
    )
    with pytest.raises(ConfigError, match="one line"):
        mounting_from_correspondences(camera, seen[:4], np.column_stack([np.arange(4.0) + 5, np.zeros(4)]))

    file = tmp_path / "front_camera.yaml"
    file.write_text(yaml.safe_dump(camera.camera_info()))
    pairs = tmp_path / "tape.txt"
    pairs.write_text("".join(f"{u} {v} {x} {y}\n" for (u, v), (x, y) in zip(seen, ground, strict=True)))
    out = tmp_path / "front.yaml"
    assert main(["calibrate", "--camera-info", str(file), "--pairs", str(pairs), "--yaml", str(out)]) == 0
    assert "mounting from 6 pairs: height 1.450 m, pitch 2.50 deg" in capsys.readouterr().out
    block = yaml.safe_load(out.read_text())["front"]
    assert set(block["mounting"]) == {"height_m", "pitch_deg", "roll_deg", "yaw_deg", "x_m", "y_m"}
    # the node's parameters (a list, as the block's mapping becomes) put the pixels where they were measured
    projection = GroundProjection.from_parameters(
        camera="front", camera_info_file=block["camera_info_file"], mounting=mounting_list(block["mounting"])
    )
    np.testing.assert_allclose(projection.metric_points(seen, (HEIGHT, WIDTH))[:, :2], ground, atol=0.01)
    assert main(["calibrate", "--camera-info", str(file), "--pairs", str(pairs), "--height", "1.4"]) == 1
    assert "measures the mounting" in capsys.readouterr().err


def test_frames_of_another_aspect_ratio_than_the_calibration_get_a_note(tiny_onnx_model) -> None:
    """A calibration is scaled to frames of another size (a binned or resized stream), which a crop or
    another sensor mode breaks: the node says so once per frame size instead of publishing off metres."""
    from seg_perception.config import load_scenario
    from seg_perception.inference.engine import create_engine
    from seg_perception.inference.pipeline import SegmentationPipeline

    model = tiny_onnx_model("highway", input_size=(32, 64))
    pipeline = SegmentationPipeline(create_engine(model), load_scenario("highway"), "front")
    assert pipeline.new_ground_geometry_note((HEIGHT, WIDTH)) is None  # not calibrated yet
    pipeline.set_ground(GroundMapper.from_camera(CameraModel.from_camera_info(info(), MOUNTING)))
    assert pipeline.new_ground_geometry_note((HEIGHT // 2, WIDTH // 2)) is None  # binned: scaled, right
    note = pipeline.new_ground_geometry_note((480, 640))
    assert note is not None and "640x480" in note and f"{WIDTH}x{HEIGHT}" in note and "aspect ratio" in note
    assert pipeline.new_ground_geometry_note((480, 640)) is None  # once per size
    assert pipeline.new_ground_geometry_note((HEIGHT, WIDTH)) is None


def _drive_camera(seed: int, size: tuple[int, int]) -> tuple[list[np.ndarray], CameraModel]:
    """Frames of a generated highway drive and its true camera (lens included)."""
    from seg_perception.data.synthetic.scenes import generate_drive

    samples = list(generate_drive("highway", seed, 3, size=size, fps=10.0))
    return [s.image for s in samples], CameraModel.from_generator_meta(samples[0].meta["camera_model"], size)


def _mounting_text(camera: CameraModel) -> str:
    m = camera.mounting
    return ",".join(f"{v:.6f}" for v in (m.height_m, *np.rad2deg([m.pitch_rad, m.roll_rad, m.yaw_rad])))


def test_predict_and_process_take_a_camera_info_and_a_mounting(
    tmp_path: Path, tiny_onnx_model, capsys
) -> None:
    """Frames of a real camera give lanes in metres without a scenario file: predict from a CameraInfo
    file, process from the CameraInfo topic recorded in the bag (written out and copied along)."""
    from seg_perception.bags import messages
    from seg_perception.bags.storage import BagReader, BagWriter
    from seg_perception.bags.topics import image_topic

    size = (180, 320)
    frames, camera = _drive_camera(994910, size)
    model = tiny_onnx_model("highway")
    info_file = tmp_path / "front_camera.yaml"
    info_file.write_text(yaml.safe_dump(camera.camera_info()))
    still = tmp_path / "stills" / "frame.png"
    still.parent.mkdir()
    cv2.imwrite(str(still), frames[0])
    base = ["predict", str(still), "--model-file", str(model), "--scenario", "highway"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert json.loads((tmp_path / "plain" / "json" / "frame.json").read_text())["lanes"]["metric"] is False
    out = tmp_path / "calibrated"
    argv = [*base, "--camera-info", str(info_file), "--mounting", _mounting_text(camera), "--out", str(out)]
    assert main(argv) == 0
    assert json.loads((out / "json" / "frame.json").read_text())["lanes"]["metric"] is True
    assert main([*base, "--camera-info", str(info_file), "--out", str(out)]) == 1
    assert "--mounting" in capsys.readouterr().err

    bag, topic, info_topic = tmp_path / "drive", image_topic("front"), "/camera/front/camera_info"
    info_msg = messages.camera_info_msg(camera.camera_info(), stamp=1_000_000_000, frame_id="camera")
    with BagWriter(bag) as writer:
        for index, image in enumerate(frames):
            stamp = 1_000_000_000 + index * 100_000_000
            writer.write(info_topic, stamp, info_msg)
            writer.write(topic, stamp, messages.image_msg(image, stamp=stamp, frame_id="camera"))
    processed = tmp_path / "processed"
    argv = [
        "process",
        str(bag),
        "--scenario",
        "highway",
        "--model",
        str(model),
        "--video",
        "none",
        "--out",
        str(processed),
    ]
    assert main([*argv, "--camera-info-topic", info_topic, "--mounting", _mounting_text(camera)]) == 0
    written = CameraModel.from_camera_info_file(processed / "camera_info.yaml", camera.mounting)
    assert (written.fx, written.cx, written.distortion) == (camera.fx, camera.cx, camera.distortion)
    with BagReader(processed / "bag") as reader:
        assert reader.message_counts[info_topic] == 3  # copied along
        lanes = [m.decode() for m in reader.messages(["/front/lanes"])]
    assert len(lanes) == 3 and all(array.metric for array in lanes)
    assert main([*argv, "--overwrite", "--camera-info-topic", "/nowhere", "--mounting", "1.4,2"]) == 1
    assert "/nowhere" in capsys.readouterr().err


def test_a_straight_lane_of_known_width_gives_pitch_yaw_and_height() -> None:
    """Its lines' vanishing point is the road's direction (pitch, yaw), its width the scale (height)."""
    true = Mounting(1.45, np.deg2rad(2.5), 0.0, np.deg2rad(1.5))
    camera = replace(
        CameraModel.from_camera_info(info("plumb_bob", LENSES["plumb_bob"]), MOUNTING), mounting=true
    )
    mapper = GroundMapper.from_camera(camera)
    ahead = np.linspace(6.0, 30.0, 10)
    left, right = (mapper.to_image(np.column_stack([ahead, np.full(10, y)])) for y in (1.55, -2.11))
    measured = mounting_from_straight_lane(camera, left, right, 3.66)
    assert abs(measured.mounting.height_m - 1.45) < 0.005 and abs(measured.lateral_offset_m - 0.28) < 0.005
    angles = np.rad2deg([measured.mounting.pitch_rad, measured.mounting.yaw_rad])
    np.testing.assert_allclose(angles, [2.5, 1.5], atol=0.01)
    with pytest.raises(ConfigError, match="swap"):
        mounting_from_straight_lane(camera, right, left, 3.66)


# The Udacity CarND camera of the MIT-licensed stills in ../shared/realdata/front/highway_1280x720:
# cv2.calibrateCamera on that project's chessboard images (as its public write-ups print it)
UDACITY_CAMERA_INFO = {
    "image_width": 1280,
    "image_height": 720,
    "camera_matrix": {"data": [1157.77818, 0.0, 667.113857, 0.0, 1152.82217, 386.124583, 0.0, 0.0, 1.0]},
    "distortion_model": "plumb_bob",
    "distortion_coefficients": {"data": [-0.24688507, -0.02373155, -0.00109831, 0.00035107, -0.00259868]},
}
REAL_STILLS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "front" / "highway_1280x720"


@pytest.mark.skipif(not REAL_STILLS.is_dir(), reason="shared/realdata is not beside this checkout")
def test_real_frames_come_out_in_metres_from_one_straight_frame_and_a_lane_width(
    tmp_path: Path, capsys
) -> None:
    """A real camera end to end: its calibration, one frame of a straight lane and the lane's width
    (US highways: 3.66 m) give the mounting; the other real stills then have ego lanes of that width."""
    file = tmp_path / "udacity.yaml"
    file.write_text(yaml.safe_dump(UDACITY_CAMERA_INFO))
    out = tmp_path / "front.yaml"
    argv = ["calibrate", "--camera-info", str(file), "--image", str(REAL_STILLS / "straight_lines1.jpg")]
    assert main([*argv, "--lane-width", "3.66", "--yaml", str(out)]) == 0
    mounting = yaml.safe_load(out.read_text())["front"]["mounting"]
    assert (
        1.1 < mounting["height_m"] < 1.4 and abs(mounting["pitch_deg"]) < 3 and abs(mounting["yaw_deg"]) < 3
    )
    values = ",".join(str(mounting[key]) for key in ("height_m", "pitch_deg", "roll_deg", "yaw_deg"))
    predicted = tmp_path / "predicted"
    argv = [
        "predict",
        str(REAL_STILLS),
        "--camera-info",
        str(file),
        "--mounting",
        values,
        "--out",
        str(predicted),
    ]
    assert main(argv) == 0
    widths = [
        json.loads(path.read_text())["lanes"]["ego_lane"]["width"]
        for path in sorted((predicted / "json").glob("*.json"))
    ]
    assert (
        len(widths) == 8
        and abs(float(np.mean(widths)) - 3.66) < 0.1
        and max(abs(w - 3.66) for w in widths) < 0.4
    )


def test_a_drivers_region_of_interest_and_binning_take_the_calibration_to_its_frames() -> None:
    """K describes the full sensor; a driver streaming a window of it (roi), binned, says so in the
    message: the frames' pixels are (full - offset) / binning."""
    full = CameraModel.from_camera_info(info("plumb_bob", LENSES["plumb_bob"]), MOUNTING)
    roi = {"x_offset": 64, "y_offset": 40, "width": 512, "height": 280}
    window = CameraModel.from_camera_info(
        info("plumb_bob", LENSES["plumb_bob"], roi=roi, binning_x=2, binning_y=2), MOUNTING
    )
    assert (window.width, window.height) == (256, 140)
    seen_full = GroundMapper.from_camera(full).to_image(GROUND)
    seen = GroundMapper.from_camera(window).to_image(GROUND)
    np.testing.assert_allclose(seen, (seen_full - [64, 40]) / 2, atol=1e-6)
    assert_within_one_percent(GroundMapper.from_camera(window).to_ground(seen)[0])
