#!/usr/bin/env bash
# Side-by-side timings against peer tools on the same tree and the same registry:
#   pack: bulwark digest --from DIR   vs  tar czf of DIR
#   push: bulwark push --from DIR     vs  flux push artifact --path DIR
# Each pair runs alternately RUNS times; the medians and their ratio are printed.
# Usage: bench/compare.sh BULWARK_BIN FLUX_BIN REGISTRY_BIN
set -euo pipefail
bulwark=${1:?bulwark binary}; flux=${2:?flux binary}; registry=${3:?registry binary}
runs=${RUNS:-7}
work=$(mktemp -d)
trap 'kill $regpid 2>/dev/null || true; rm -rf "$work"' EXIT

"$bulwark" build -f examples/payments.yaml -o "$work/tree" --version 1.0.0 >/dev/null 2>&1
files=$(find "$work/tree" -type f | wc -l)
bytes=$(du -sb "$work/tree" | cut -f1)

port=$(( 20000 + RANDOM % 40000 ))
cat > "$work/registry.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: 127.0.0.1:$port}
CFG
OTEL_TRACES_EXPORTER=none "$registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
regpid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ms() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo $(( (e - s) / 1000000 )); }

declare -a pack_b pack_t push_b push_f
for i in $(seq "$runs"); do
  pack_b+=("$(time_ms "$bulwark" digest --from "$work/tree")")
  pack_t+=("$(time_ms tar czf "$work/tree.tgz" -C "$work/tree" .)")
  push_b+=("$(time_ms "$bulwark" push -q --from "$work/tree" "127.0.0.1:$port/bench/bulwark-$i:1.0.0")")
  push_f+=("$(time_ms "$flux" push artifact "oci://127.0.0.1:$port/bench/flux-$i:1.0.0" --path "$work/tree" --source bench --revision "1.0.0@sha1:0000000000000000000000000000000000000000" --insecure-registry)")
done
mb=$(printf '%s\n' "${pack_b[@]}" | median); mt=$(printf '%s\n' "${pack_t[@]}" | median)
pb=$(printf '%s\n' "${push_b[@]}" | median); pf=$(printf '%s\n' "${push_f[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
echo "tree: examples/payments.yaml, $files files, $bytes bytes; median of $runs runs, whole processes"
printf '%-44s %6s ms\n' "pack   bulwark digest --from DIR" "$mb"
printf '%-44s %6s ms   ratio bulwark/tar  %s\n' "       tar czf DIR" "$mt" "$(ratio "$mb" "$mt")"
printf '%-44s %6s ms\n' "push   bulwark push --from DIR" "$pb"
printf '%-44s %6s ms   ratio bulwark/flux %s\n' "       flux push artifact --path DIR" "$pf" "$(ratio "$pb" "$pf")"
