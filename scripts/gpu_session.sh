#!/usr/bin/env bash
# The GPU checks and benchmarks of docs/benchmarks.md ("Measuring on a GPU"), in one command.
#
# Runs from a source checkout with the machine's own python3 (a CUDA build of torch, plus
# numpy, onnx, opencv, PyYAML); nothing is installed unless wheels are given in
# $SEG_WHEELS (a folder of .whl files, e.g. onnxruntime-gpu), which go to a private
# target folder first on the path. Writes everything under $OUT (default out/gpu):
# nvidia-smi.txt, versions.txt, gpu-tests.txt, bench/ (bench.json, bench.md).
#
# Usage: scripts/gpu_session.sh [quick|full]
#   quick: GPU tests + torch-cuda and ONNX Runtime GPU engines on the shipped models, the HRNet
#          highway model that device cuda picks included (minutes)
#   full:  quick + the 1024x2048 targets (icnet_r50, hrnetv2_w48, hrnetv2_w18_small_v2)
set -euo pipefail

mode=${1:-full}
out=${OUT:-out/gpu}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1

if [[ -n "${SEG_WHEELS:-}" ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/seg_site "$SEG_WHEELS"/*.whl
    export PYTHONPATH="/tmp/seg_site:$PYTHONPATH"
fi

(nvidia-smi || echo "nvidia-smi: not found") | tee "$out/nvidia-smi.txt"
python3 - <<'EOF' | tee "$out/versions.txt"
import platform, numpy, torch
print("python", platform.python_version(), "numpy", numpy.__version__)
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(),
      "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
try:
    import onnxruntime
    print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
except ImportError as err:
    print("onnxruntime missing:", err)
EOF

# The GPU tests first: they say whether the CUDA code paths are right before timing them.
python3 -m pytest -q -m gpu -p no:cacheprovider \
    test/test_inference_torch_cuda.py test/test_inference_engine.py test/test_inference_fused.py \
    2>&1 | tee "$out/gpu-tests.txt" || true

engines=(torch-cuda onnxruntime-cuda onnxruntime-tensorrt)
python3 -m seg_perception.cli bench --engines "${engines[@]}" \
    --model-file weights/highway.onnx weights/highway_hrnetv2_w18_small_v1.onnx \
    weights/highway_hrnetv2_w18_small_v1_mirror.onnx weights/road.onnx weights/parking.onnx \
    --frame-size 540x960 --two-cameras --out "$out/bench-shipped"
if [[ "$mode" == full ]]; then
    python3 -m seg_perception.cli bench --engines "${engines[@]}" --sizes 1024x2048 \
        --models icnet_r50 hrnetv2_w48 hrnetv2_w18_small_v2 --two-cameras --out "$out/bench"
fi
