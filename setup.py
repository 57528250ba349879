"""Build for both colcon (ament_python) and pip.

ROS tools look for executables in ``<prefix>/lib/seg_perception/``. colcon honours
``setup.cfg``'s script_dir, pip does not, so the ROS executables are shipped as
small launcher scripts in ``data_files`` under ``lib/seg_perception`` and reach the
same place either way. ``seg-perception`` is an ordinary console script.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "seg_perception"
ROS_EXECUTABLES = sorted(glob("scripts/ros/*"))

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-time lane and parking-slot segmentation for ROS 2 (ICNet, HRNetV2).",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/config/training", glob("config/training/*.yaml")),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/weights", glob("weights/*.onnx") + glob("weights/*.md")),
        (f"lib/{PACKAGE}", ROS_EXECUTABLES),
    ],
    install_requires=["numpy", "PyYAML", "opencv-python-headless"],
    # CUDA 13 builds, matching the CPU onnxruntime pin. Unverified pairing (no GPU here yet): check
    # ONNX Runtime's TensorRT requirements table before bumping either.
    extras_require={"gpu": ["onnxruntime-gpu[cuda,cudnn]==1.31.1", "tensorrt-cu13==10.16.1.11"]},
    zip_safe=False,
    entry_points={"console_scripts": ["seg-perception = seg_perception.cli:main"]},
)
