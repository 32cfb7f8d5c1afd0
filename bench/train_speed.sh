#!/usr/bin/env bash
# Training speed, pare against PyTorch, side by side in one run: the same
# architecture (CIFAR-style ResNet-20 and LeNet-5 on 28x28 inputs), batch size,
# optimizer and thread count; each side trains STEPS steps, alternating A B A B,
# RUNS times; prints every run's images/s and the median ratio pare/PyTorch.
# usage: bench/train_speed.sh PATH/TO/pare [THREADS] [RUNS]
set -euo pipefail
pare=$1
threads=${2:-1}
runs=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
export OPENBLAS_NUM_THREADS=1
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for arch in lenet5 resnet20; do
  case $arch in
    lenet5) steps=300; pare_arch="--arch lenet5" ;;
    resnet20) steps=40; pare_arch="--arch resnet --layers 20" ;;
  esac
  : > /tmp/pare-bench-ratios
  for r in $(seq "$runs"); do
    p=$("$pare" train $pare_arch --data fashion-mnist --batch 64 --lr 0.05 --weight-decay 5e-4 \
          --threads "$threads" --max-steps "$steps" --epochs 1 --val-fraction 0.01 --no-test \
          -o /tmp/pare-bench-$arch.onnx 2>/dev/null | sed -n 's/.* \([0-9]*\) images\/s.*/\1/p')
    t=$(/usr/bin/python3 "$here/train_pytorch.py" "$arch" "$threads" "$steps" 64 | sed -n 's/.*: \([0-9]*\) images\/s/\1/p')
    echo "$arch run $r: pare $p images/s, pytorch $t images/s"
    awk -v a="$p" -v b="$t" 'BEGIN {printf "%.3f\n", a / b}' >> /tmp/pare-bench-ratios
  done
  echo "$arch threads $threads: median ratio pare/pytorch $(median < /tmp/pare-bench-ratios) over $runs runs"
done
