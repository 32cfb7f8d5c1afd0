#!/usr/bin/env bash
# Compressed models against their dense original, in pare's runtime, side by side
# in one run (the Fashion-MNIST ResNet-20 teacher and its pruned and factorized
# versions checked in under models/, models/README.md):
#  - structured (channels removed, about half the MACs): whole-model latency of
#    both in pare and in ONNX Runtime (`pare check`, alternating runs: each a cold
#    call after a pause), the ratio dense/pruned in pare; and warm, back-to-back
#    runs (`pare bench`, the two models alternating); likewise the low-rank
#    factorized teacher (cold);
#  - the hybrid (the pruned teacher cut at stage3.block0 with an XGBoost head,
#    `make hybrid`) and its int8 version: their latency as a fraction of the
#    dense teacher's, alternating (`pare check`);
#  - the automated result (`pare auto`: channels removed, low rank and int8 chosen
#    per layer): warm and cold, in pare and in ONNX Runtime, against the dense;
#  - unstructured 90% sparse: the time of the pruned layers (the convolutions
#    that run on the sparse kernel), summed from `pare bench --profile`, dense
#    against sparse in alternation, and the whole model.
# Each figure is the median over ROUNDS rounds of REPEAT runs each, at batch 1 and
# at batch 16.
# usage: bench/compressed.sh PATH/TO/pare [ROUNDS=3] [REPEAT=20]
set -euo pipefail
pare=$1
rounds=${2:-3}
repeat=${3:-20}
dir=$(cd "$(dirname "$0")/.." && pwd)/models
dense=$dir/teacher_resnet20.onnx
structured=$dir/teacher_resnet20_channels.onnx
sparse=$dir/teacher_resnet20_sparse90.onnx
lowrank=$dir/teacher_resnet20_lowrank.onnx
hybrid=$dir/teacher_resnet20_hybrid.onnx
hybrid8=$dir/teacher_resnet20_hybrid_int8.onnx
auto=$dir/teacher_resnet20_auto.onnx
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# `pare check` prints "name nodes relL2 pare_ms ort_ms ratio ok".
check() { "$pare" check "$1" --input-shape "input=$2,1,28,28" --repeat "$repeat" | tail -n 1; }
# Median of back-to-back runs after warm-up.
warm() { "$pare" bench "$1" --input-shape "input=$2,1,28,28" --runs 200 | awk '/^latency/ {print $3}'; }
# Sum of the profiled times of the nodes that run on the sparse kernel in the
# sparse model (their names in $tmp/layers), and the whole model's median.
profile() {
  "$pare" bench "$1" --input-shape "input=$2,1,28,28" --runs "$repeat" --profile |
    awk -v names="$tmp/layers" 'BEGIN {while ((getline l < names) > 0) want[l] = 1}
      $1 ~ /^[0-9.]+$/ && ($NF in want) {s += $1}
      /^latency/ {m = $3} END {print s, m}'
}
"$pare" bench "$sparse" --input-shape input=1,1,28,28 --runs 1 --profile |
  awk '/f32_conv_sparse/ {print $NF}' > "$tmp/layers"

echo "pruned and factorized ResNet-20 (Fashion-MNIST teacher) in pare, $rounds rounds of $repeat runs, 1 thread"
for b in 1 16; do
  for r in $(seq "$rounds"); do
    read -r _ _ _ dp do _ < <(check "$dense" "$b")
    read -r _ _ _ sp so _ < <(check "$structured" "$b")
    echo "$dp $do $sp $so" >> "$tmp/s.$b"
    read -r wd < <(warm "$dense" "$b")
    read -r ws < <(warm "$structured" "$b")
    echo "$wd $ws" >> "$tmp/w.$b"
    read -r _ _ _ dp do _ < <(check "$dense" "$b")
    read -r _ _ _ lp lo _ < <(check "$lowrank" "$b")
    echo "$dp $do $lp $lo" >> "$tmp/l.$b"
    read -r _ _ _ dp do _ < <(check "$dense" "$b")
    read -r _ _ _ hp ho _ < <(check "$hybrid" "$b")
    read -r _ _ _ qp qo _ < <(check "$hybrid8" "$b")
    echo "$dp $do $hp $ho $qp $qo" >> "$tmp/h.$b"
    read -r _ _ _ dp do _ < <(check "$dense" "$b")
    read -r _ _ _ ap ao _ < <(check "$auto" "$b")
    read -r wd < <(warm "$dense" "$b")
    read -r wa < <(warm "$auto" "$b")
    echo "$dp $do $ap $ao $wd $wa" >> "$tmp/a.$b"
    read -r dl dm < <(profile "$dense" "$b")
    read -r sl sm < <(profile "$sparse" "$b")
    echo "$dl $dm $sl $sm" >> "$tmp/u.$b"
  done
  awk '{print $1}' "$tmp/s.$b" | median > "$tmp/a"; awk '{print $3}' "$tmp/s.$b" | median > "$tmp/c"
  awk '{print $2}' "$tmp/s.$b" | median > "$tmp/b"; awk '{print $4}' "$tmp/s.$b" | median > "$tmp/d"
  awk '{print $1 / $3}' "$tmp/s.$b" | median > "$tmp/r"
  printf "batch %-3s structured (channels removed): dense %7.3f ms, pruned %7.3f ms in pare: %.2fx faster (ONNX Runtime: dense %.3f, pruned %.3f ms)\n" \
    "$b" "$(cat "$tmp/a")" "$(cat "$tmp/c")" "$(cat "$tmp/r")" "$(cat "$tmp/b")" "$(cat "$tmp/d")"
  awk '{print $1}' "$tmp/w.$b" | median > "$tmp/a"; awk '{print $2}' "$tmp/w.$b" | median > "$tmp/c"
  awk '{print $1 / $2}' "$tmp/w.$b" | median > "$tmp/r"
  printf "batch %-3s structured, warm (200 runs back to back): dense %7.3f ms, pruned %7.3f ms in pare: %.2fx faster\n" \
    "$b" "$(cat "$tmp/a")" "$(cat "$tmp/c")" "$(cat "$tmp/r")"
  awk '{print $1}' "$tmp/l.$b" | median > "$tmp/a"; awk '{print $3}' "$tmp/l.$b" | median > "$tmp/c"
  awk '{print $2}' "$tmp/l.$b" | median > "$tmp/b"; awk '{print $4}' "$tmp/l.$b" | median > "$tmp/d"
  awk '{print $1 / $3}' "$tmp/l.$b" | median > "$tmp/r"
  printf "batch %-3s low-rank (Tucker-2/SVD, half the parameters): dense %7.3f ms, factorized %7.3f ms in pare: %.2fx faster (ONNX Runtime: dense %.3f, factorized %.3f ms)\n" \
    "$b" "$(cat "$tmp/a")" "$(cat "$tmp/c")" "$(cat "$tmp/r")" "$(cat "$tmp/b")" "$(cat "$tmp/d")"
  awk '{print $1}' "$tmp/h.$b" | median > "$tmp/a"; awk '{print $3}' "$tmp/h.$b" | median > "$tmp/c"
  awk '{print $5}' "$tmp/h.$b" | median > "$tmp/e"
  awk '{print $3 / $1}' "$tmp/h.$b" | median > "$tmp/r"; awk '{print $5 / $1}' "$tmp/h.$b" | median > "$tmp/r8"
  printf "batch %-3s hybrid (pruned, cut at stage3.block0, XGBoost head): dense %7.3f ms, hybrid %7.3f ms (%.2f of dense), int8 hybrid %7.3f ms (%.2f of dense) in pare\n" \
    "$b" "$(cat "$tmp/a")" "$(cat "$tmp/c")" "$(cat "$tmp/r")" "$(cat "$tmp/e")" "$(cat "$tmp/r8")"
  awk '{print $5}' "$tmp/a.$b" | median > "$tmp/a"; awk '{print $6}' "$tmp/a.$b" | median > "$tmp/c"
  awk '{print $5 / $6}' "$tmp/a.$b" | median > "$tmp/r"; awk '{print $1 / $3}' "$tmp/a.$b" | median > "$tmp/rc"
  awk '{print $2}' "$tmp/a.$b" | median > "$tmp/b"; awk '{print $4}' "$tmp/a.$b" | median > "$tmp/d"
  printf "batch %-3s automated (pare auto): warm, dense %7.3f ms, auto %7.3f ms in pare: %.2fx faster; cold %.2fx (ONNX Runtime: dense %.3f, auto %.3f ms)\n" \
    "$b" "$(cat "$tmp/a")" "$(cat "$tmp/c")" "$(cat "$tmp/r")" "$(cat "$tmp/rc")" "$(cat "$tmp/b")" "$(cat "$tmp/d")"
  awk '{print $1 / $3}' "$tmp/u.$b" | median > "$tmp/rl"
  awk '{print $2 / $4}' "$tmp/u.$b" | median > "$tmp/rm"
  awk '{print $1}' "$tmp/u.$b" | median > "$tmp/dl"; awk '{print $3}' "$tmp/u.$b" | median > "$tmp/sl"
  printf "batch %-3s 90%% unstructured: pruned layers dense %7.3f ms, sparse %7.3f ms: %.2fx faster; whole model %.2fx\n" \
    "$b" "$(cat "$tmp/dl")" "$(cat "$tmp/sl")" "$(cat "$tmp/rl")" "$(cat "$tmp/rm")"
done
