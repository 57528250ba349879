#!/usr/bin/env bash
# One training recipe on a GPU machine (a leased one: bare, no network, its own python3 with a CUDA torch).
# Installs the Python packages that python lacks from wheels in $SEG_TRAIN_WHEELS (for the recipes here:
# albumentations 2.x with albucore, pydantic, pydantic-core, annotated-types, typing-inspection,
# typing-extensions, simsimd and stringzilla), trains from INIT on CUDA with the synthetic scene pools
# drawn on every core, stops the training after $SEG_TRAIN_MINUTES (default 8; the last checkpoint is
# kept) and exports the ONNX file with its parity check.
# Writes $OUT (default out/gpu-train): log.txt, RECIPE.onnx, metrics.csv, metrics.json, curves.png.
#
# Measured on an H200 with 16 cores (2026-12-04): HRNetV2-W18-small at 320x320, batch 32, about 15 steps/s
# alone and about 9 each with three runs sharing the GPU (small kernels, not the loaders, are the limit);
# a pool of 8192 parking scenes took 27 s on 16 processes (74 s on 5, three runs at once). Size steps and
# SEG_TRAIN_MINUTES to that.
#
# Usage: [SEG_TRAIN_WHEELS=<folder>] scripts/gpu_train.sh RECIPE INIT [seg-perception train options...]
#   RECIPE: a name under config/training/ (without .yaml); INIT: a checkpoint (seg-perception recover).
set -uo pipefail

recipe=${1:?recipe name}
init=${2:?init checkpoint}
shift 2
out=${OUT:-out/gpu-train}
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
step() { echo; echo "=== $(date +%T) $*"; }

if [[ -n ${SEG_TRAIN_WHEELS:-} ]]; then
    step "install the wheels in $SEG_TRAIN_WHEELS"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/seg-train-site "$SEG_TRAIN_WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/seg-train-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # the checkout's package, not an installed one
python3 -c 'import torch, albumentations
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "-", "albumentations", albumentations.__version__)'
cores=$(nproc)
run=$(mktemp -d)/$recipe

step "train $recipe from $init ($cores cores)"
timeout "${SEG_TRAIN_MINUTES:-8}m" python3 -m seg_perception.cli train --config "config/training/$recipe.yaml" \
    --init "$init" --out "$run" --device cuda --workers $((cores > 4 ? cores - 4 : 1)) --pool-workers "$cores" \
    --no-progress "$@" | while IFS= read -r line; do echo "$(date +%T) $line"; done
echo "train exit status ${PIPESTATUS[0]}"

step "export $run/last.pt"
python3 -m seg_perception.cli export "$run/last.pt" --out "$out/$recipe.onnx" || exit 1
cp "$run"/metrics.csv "$run"/metrics.json "$run"/curves.png "$out"/ 2>/dev/null
step done
