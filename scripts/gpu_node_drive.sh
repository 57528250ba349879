#!/usr/bin/env bash
# The node on a GPU machine without ROS: the drive demo (front + AVM in one node, 30 Hz each) on the
# CPU engines and with torch on CUDA, from a source checkout and the machine's own python3 (a CUDA
# build of torch). ROS comes as wheels for that python in $SEG_ROS_WHEELS (the ros-* packages of
# requirements.txt with their ros-* dependencies, catkin-pkg, docutils, lark-parser, and empy's sdist;
# rosbags and albumentations are not needed). The package is installed into that python's environment
# (it builds its message interfaces with cmake and g++), so use a throwaway machine.
# Writes $OUT (default out/gpu-node): log.txt and demos.tar.gz (reports and node logs, no images).
#
# Usage: SEG_ROS_WHEELS=<folder> scripts/gpu_node_drive.sh [seconds]
set -uo pipefail

seconds=${1:-8}
out=${OUT:-out/gpu-node}
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1 RMW_IMPLEMENTATION=rmw_fastrtps_cpp
prefix=$(python3 -c 'import sys; print(sys.prefix)')
export AMENT_PREFIX_PATH=$prefix PATH=$prefix/bin:$PATH
step() { echo; echo "=== $(date +%T) $*"; }

step "install (ROS wheels from ${SEG_ROS_WHEELS:?set SEG_ROS_WHEELS}, then the package)"
python3 -m pip install -q --no-index --no-deps --no-compile --no-build-isolation \
    "$SEG_ROS_WHEELS"/*.whl "$SEG_ROS_WHEELS"/*.tar.gz || exit 1
python3 -m pip install -q --no-deps --no-build-isolation . || exit 1
rm -rf build

models=$(mktemp -d)
for name in highway_hrnetv2_w18_small_v1 parking; do  # the torch engine runs checkpoints
    seg-perception recover "weights/$name.onnx" --out "$models/$name.pt" | tail -n 1
done

demo() {
    local name=$1
    shift
    step "drive demo: $name"
    seg-perception demo --model-dir weights --scenarios drive --seconds "$seconds" --out "/tmp/drive_$name" "$@" \
        | grep -A2 "fps,"
}
demo cpu
demo cuda --device cuda --node-param engine:=torch --node-param cuda_policy:=fail --node-param precision:=fp16 \
    --node-param "front.model_file:=$models/highway_hrnetv2_w18_small_v1.pt" \
    --node-param "avm.model_file:=$models/parking.pt"
demo cpu_switch --switch front=road
tar -czf "$out/demos.tar.gz" --exclude='*.png' --exclude='*.gif' --exclude='*.mp4' --exclude='*.jpg' \
    -C /tmp drive_cpu drive_cuda drive_cpu_switch
