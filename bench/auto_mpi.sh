#!/usr/bin/env bash
# pare auto's throughput with 1 and with 2 MPI ranks (Debian's OpenMPI) on the
# Fashion-MNIST teacher: the same search settings and time budget, one run each;
# trials per minute of search (the sensitivity and latency table before it are
# the same work in both and left out), and their ratio.
# usage: bench/auto_mpi.sh PATH/TO/pare [BUDGET]
set -euo pipefail
pare=$1
budget=${2:-5m}
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=("$here/models/teacher_resnet20.onnx" --time-budget "$budget" --limit 500 --sensitivity-limit 500
      --finetune-images 2048 --threads 1 --test-limit 500)
rate() { grep -oP 'this run: \d+ trials in \d+ s of search on \d+ process(es)?: \K[0-9.]+' "$1"; }
"$pare" auto "${args[@]}" -o "$dir/one.onnx" > "$dir/one.log" 2>&1 || true
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 2 \
  "$pare" auto "${args[@]}" -o "$dir/two.onnx" > "$dir/two.log" 2>&1 || true
one=$(rate "$dir/one.log" || true) two=$(rate "$dir/two.log" || true)
if [[ -z "$one" || -z "$two" ]]; then tail -5 "$dir/one.log" "$dir/two.log"; exit 1; fi
grep -h "this run:" "$dir/one.log" "$dir/two.log"
awk -v a="$one" -v b="$two" 'BEGIN { printf "pare auto, trials per minute: 1 rank %.2f, 2 ranks %.2f: %.2fx\n", a, b, b / a }'
