#!/usr/bin/env bash
# The main job (`make demo`): the checked-in Fashion-MNIST teacher compressed by
# each technique alone (int8, channel removal, low rank, unstructured sparsity;
# each fine-tuned one epoch), then by `pare auto` within a time budget, with
# those single-technique models as its baselines: one table (accuracy, size,
# latency in pare and ONNX Runtime) and the HTML report.
# usage: tools/demo.sh PATH/TO/pare OUT_DIR [AUTO_BUDGET] [THREADS]
set -euo pipefail
pare=$1
out=$2
budget=${3:-8m}
threads=${4:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
teacher=$here/models/teacher_resnet20.onnx
mkdir -p "$out"
step() { echo; echo "== $(date +%H:%M:%S) $*"; }
# One epoch of fine-tuning on 16,384 training images for the techniques that
# change the weights.
tune=(--finetune --data fashion-mnist --epochs 1 --limit 16384 --lr 0.02 --threads "$threads"
      --test-limit 2000)

step "1/5 int8 (pare quantize, min-max calibration on 512 images)"
"$pare" quantize "$teacher" --calib fashion-mnist:512 --test-limit 2000 \
  -o "$out/int8.onnx"
step "2/5 channel removal (pare prune --method l2, half the channels, one global ranking)"
"$pare" prune "$teacher" --method l2 --global --sparsity 0.5 --round-to 8 "${tune[@]}" \
  -o "$out/channels.onnx"
step "3/5 low rank (pare factorize --reduction 2)"
"$pare" factorize "$teacher" --reduction 2 "${tune[@]}" -o "$out/lowrank.onnx"
step "4/5 unstructured sparsity (pare prune --method magnitude --sparsity 0.8)"
"$pare" prune "$teacher" --method magnitude --sparsity 0.8 "${tune[@]}" -o "$out/sparse80.onnx"
step "5/5 pare auto (budget $budget; the four above as baselines)"
rm -f "$out/auto.onnx.state.json"
status=0
"$pare" auto "$teacher" --data fashion-mnist --time-budget "$budget" --max-drop 1.0 \
  --objective latency --final-epochs 1 --threads "$threads" \
  --baselines "int8=$out/int8.onnx,channels=$out/channels.onnx,lowrank=$out/lowrank.onnx,sparse80=$out/sparse80.onnx" \
  --report "$out/report.html" -o "$out/auto.onnx" || status=$?
step "done: $out/report.html"
exit $status
