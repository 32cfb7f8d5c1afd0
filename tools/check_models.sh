#!/usr/bin/env bash
# Runs every model of tools/models.txt in pare and in ONNX Runtime and prints the
# comparison table (worst relative L2 error per model, median run times).
# usage: tools/check_models.sh PATH/TO/pare [--repeat N]
set -euo pipefail
pare=$1
shift
cache=${PARE_CACHE:-$HOME/.cache/pare}
here=$(cd "$(dirname "$0")" && pwd)
status=0
first=1
while read -r model shape extra; do
  [[ -z "$model" || "$model" == \#* ]] && continue
  args=()
  [[ -n "$shape" ]] && args+=(--input-shape "$shape")
  [[ -n "$extra" ]] && read -r -a more <<< "$extra" && args+=("${more[@]}")
  out=$("$pare" check "$cache/models/$model" "${args[@]}" "$@") || status=1
  if [[ $first == 1 ]]; then echo "$out"; first=0; else echo "$out" | tail -n +2; fi
done < "$here/models.txt"
exit $status
