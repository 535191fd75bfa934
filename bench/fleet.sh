#!/usr/bin/env bash
# Fleet-size timings: a 1,000-namespace profile (~4,000 files, ~9 MB) through every verb,
# beside the peer tool doing the same job, on one local registry:
#   pack        bulwark digest --from TREE        vs  tar czf of TREE
#   build+pack  bulwark digest -f PROFILE         vs  tar czf of TREE (the profile is not a tree yet)
#   push        bulwark push --from TREE          vs  flux push artifact --path TREE (new repo each run)
#   pull        bulwark pull -o DIR               vs  flux pull artifact -o DIR (the same artifact)
#   verify      verify at 2,000 namespaces        vs  kubectl get of the same kinds (Go benchmark)
# plus the peak RSS of each command, and one correctness property: re-pushing an unchanged
# bundle uploads no blob and asks about each blob at most once (counted in the registry's
# access log). Each pair runs alternately RUNS times, so drift on a shared machine hits both
# sides alike; medians and their ratio (bulwark/peer) are printed. Exits 1 if the property
# is violated. Usage: bench/fleet.sh BULWARK_BIN FLUX_BIN REGISTRY_BIN
# The verify benchmark starts a real kube-apiserver: BULWARK_TOOLS_KUBE names its binaries
# (make bench sets it), or the test builds them. FLEET_VERIFY=0 leaves it out.
set -euo pipefail
bulwark=${1:?bulwark binary}; flux=${2:?flux binary}; registry=${3:?registry binary}
runs=${RUNS:-5}
go=${GO:-go}
# GNU time for peak RSS (%M, kilobytes); the shell's time keyword cannot report it.
gtime=/usr/bin/time
[ -x "$gtime" ] || { echo "fleet: $gtime (GNU time) is missing: apt-get install time" >&2; exit 2; }
# The trees go to memory (/dev/shm) when it is there, so that every tool is timed at its own
# work rather than at the disk's: on ext4, creating thousands of files within seconds of
# deleting thousands (a test's temporary tree, a previous run) makes each create scan for
# recently freed inodes, and a 0.25 s build timed 3.5 s. FLEET_TMP chooses another place.
tmproot=${FLEET_TMP:-}
if [ -z "$tmproot" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then tmproot=/dev/shm; fi
work=$(mktemp -d ${tmproot:+-p "$tmproot"})
regpid=
trap '[ -z "$regpid" ] || kill "$regpid" 2>/dev/null || true; rm -rf "$work"' EXIT

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
# measure NAME CMD...: one whole-process run under GNU time; appends its wall ms to
# NAME.ms and its peak RSS (KB) to NAME.kb. A failing command stops the bench with its
# output: a timing of an error is no timing.
measure() {
  local name=$1 s e
  shift
  s=$(now)
  if ! "$gtime" -f %M -o "$work/rss" "$@" >"$work/out" 2>&1; then
    echo "fleet: $name failed: $*" >&2
    cat "$work/out" >&2
    exit 1
  fi
  e=$(now)
  echo $(( (e - s) / 1000000 )) >>"$work/$name.ms"
  tail -n1 "$work/rss" >>"$work/$name.kb"
}
ms() { median <"$work/$1.ms"; }
mb() { median <"$work/$1.kb" | awk '{printf "%.0f", $1 / 1024}'; }

# The verify benchmark first, before the registry starts, so neither loads the other.
verify_line=
if [ "${FLEET_VERIFY:-1}" != 0 ]; then
  echo "fleet: go test -bench BenchmarkVerify2000Namespaces -benchtime=3x ./verify/ (starts a kube-apiserver)" >&2
  if ! "$go" test -count=1 -run '^$' -bench '^BenchmarkVerify2000Namespaces$' -benchtime=3x ./verify/ >"$work/verify.out" 2>&1; then
    cat "$work/verify.out" >&2
    exit 1
  fi
  verify_line=$(grep '^BenchmarkVerify2000Namespaces' "$work/verify.out" | tail -n1)
fi
# The value printed before a unit on the benchmark's line, e.g. unit ns/op.
bench_metric() { awk -v u="$1" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}' <<<"$verify_line"; }

# The 1,000-namespace profile, generated here rather than committed (the tree is ~9 MB).
{
  printf 'apiVersion: bulwark.dev/v1alpha1\nkind: Profile\nmetadata: {name: big}\nspec:\n  framework: soc2\n'
  printf '  mesh: {provider: istio}\n  network: {ingressNamespaces: [ingress-nginx]}\n  namespaces:\n    include:\n'
  for i in $(seq 0 999); do printf '      - team-%04d\n' "$i"; done
} >"$work/big.yaml"
"$bulwark" build -f "$work/big.yaml" -o "$work/tree" --version 1.0.0 >/dev/null 2>&1
files=$(find "$work/tree" -type f | wc -l)
# The files' own bytes (du would add a directory block per namespace).
bytes=$(find "$work/tree" -type f -printf '%s\n' | awk '{n += $1} END {print n}')

# One Distribution registry for the whole script, loopback only, with its access log (Combined
# Log Format on stdout) kept apart from its own log for the re-push count.
port=$(( 20000 + RANDOM % 40000 ))
cat >"$work/registry.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: 127.0.0.1:$port}
CFG
OTEL_TRACES_EXPORTER=none "$registry" serve "$work/registry.yml" >"$work/access.log" 2>"$work/registry.log" &
regpid=$!
up=
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { up=1; break; }; sleep 0.1; done
[ -n "$up" ] || { echo "fleet: registry did not start on 127.0.0.1:$port" >&2; cat "$work/registry.log" >&2; exit 1; }
reg=127.0.0.1:$port

# Nothing is deleted until the end, for the same reason, where the trees are on disk.
for i in $(seq "$runs"); do
  measure start "$bulwark" version
  measure build "$bulwark" build -f "$work/big.yaml" -o "$work/build-$i" --version 1.0.0
  measure pack_b "$bulwark" digest --from "$work/tree"
  measure pack_t tar czf "$work/tree.tgz" -C "$work/tree" .
  measure bpack_b "$bulwark" digest -f "$work/big.yaml" --version 1.0.0
  measure bpack_t tar czf "$work/tree.tgz" -C "$work/tree" .
  # A new repository each run, so every push uploads every blob.
  measure push_b "$bulwark" push -q --from "$work/tree" "$reg/bench/fleet-b-$i:1.0.0"
  measure push_f "$flux" push artifact "oci://$reg/bench/fleet-f-$i:1.0.0" --path "$work/tree" --source bench \
    --revision "1.0.0@sha1:0000000000000000000000000000000000000000" --reproducible --insecure-registry
  # Both pull the same artifact (bulwark's, which Flux consumes as is) into a fresh directory.
  measure pull_b "$bulwark" pull -q "oci://$reg/bench/fleet-b-1:1.0.0" -o "$work/pull-b-$i"
  mkdir "$work/pull-f-$i"
  measure pull_f "$flux" pull artifact "oci://$reg/bench/fleet-b-1:1.0.0" -o "$work/pull-f-$i" --insecure-registry
  # A pull timed is a pull that unpacked the whole tree.
  for d in "pull-b-$i" "pull-f-$i"; do
    got=$(find "$work/$d" -type f | wc -l)
    [ "$got" -eq "$files" ] || { echo "fleet: $d unpacked $got files, the tree has $files" >&2; exit 1; }
  done
done

# The pushed bundle's blobs (layer + config, linked in the repository) and compressed layer
# size, read from the registry's storage: the manifest is the one blob of media type JSON.
repo=$work/data/docker/registry/v2/repositories/bench/fleet-b-1
blobs=$(find "$repo/_layers" -name link | wc -l)
mdigest=$(cat "$repo/_manifests/tags/1.0.0/current/link")
mhex=${mdigest#sha256:}
layer=$(jq -r '.layers[0].size' "$work/data/docker/registry/v2/blobs/sha256/${mhex:0:2}/$mhex/data")

# Unchanged re-push: the access log lines it adds. A request is logged after its response is
# written, so a sentinel request, once logged, marks the end of the re-push's lines.
before=$(wc -l <"$work/access.log")
measure repush "$bulwark" push -q --from "$work/tree" "$reg/bench/fleet-b-1:1.0.0"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /v2/?fleet-sentinel HTTP/1.0\r\nHost: %s\r\n\r\n' "$reg" >&3
cat <&3 >/dev/null
exec 3<&-
for _ in $(seq 50); do grep -q 'fleet-sentinel' "$work/access.log" && break; sleep 0.1; done
tail -n +"$((before + 1))" "$work/access.log" | grep -v 'fleet-sentinel' >"$work/repush.log" || true
uploads=$(grep -c '"POST /v2/[^ ]*/blobs/uploads/' "$work/repush.log" || true)
heads=$(grep -c '"HEAD /v2/[^ ]*/blobs/' "$work/repush.log" || true)
mheads=$(grep -c '"HEAD /v2/[^ ]*/manifests/' "$work/repush.log" || true)
requests=$(wc -l <"$work/repush.log")
if [ "$uploads" -eq 0 ] && [ "$heads" -le "$blobs" ]; then property=OK; else property=VIOLATED; fi

echo "tree: 1,000-namespace profile (generated), $files files, $bytes bytes; compressed layer $layer bytes, $blobs blobs"
echo "median of $runs runs, whole processes, each pair alternately; RSS is peak resident set (GNU time %M)"
# row STEP COMMAND MS RSS_MB [PEER RATIO]: one line of the table; "-" where a value has no meaning.
row() {
  if [ "$4" = - ]; then printf '%-11s %-40s %6s ms %5s   ' "$1" "$2" "$3" -
  else printf '%-11s %-40s %6s ms %5s MB' "$1" "$2" "$3" "$4"; fi
  if [ $# -gt 4 ]; then printf '   ratio bulwark/%-8s %s' "$5" "$6"; fi
  echo
}
# What any command costs before its work: the process start and the binary's own pages.
row start "bulwark version (no work)" "$(ms start)" "$(mb start)"
row build "bulwark build -f PROFILE -o DIR" "$(ms build)" "$(mb build)"
row pack "bulwark digest --from TREE" "$(ms pack_b)" "$(mb pack_b)"
row "" "tar czf OUT.tgz -C TREE ." "$(ms pack_t)" "$(mb pack_t)" tar "$(ratio "$(ms pack_b)" "$(ms pack_t)")"
row build+pack "bulwark digest -f PROFILE" "$(ms bpack_b)" "$(mb bpack_b)"
row "" "tar czf OUT.tgz -C TREE ." "$(ms bpack_t)" "$(mb bpack_t)" tar "$(ratio "$(ms bpack_b)" "$(ms bpack_t)")"
row push "bulwark push --from TREE (new repo)" "$(ms push_b)" "$(mb push_b)"
row "" "flux push artifact --path TREE" "$(ms push_f)" "$(mb push_f)" flux "$(ratio "$(ms push_b)" "$(ms push_f)")"
row pull "bulwark pull -o DIR" "$(ms pull_b)" "$(mb pull_b)"
row "" "flux pull artifact -o DIR (same artifact)" "$(ms pull_f)" "$(mb pull_f)" flux "$(ratio "$(ms pull_b)" "$(ms pull_f)")"
if [ -n "$verify_line" ]; then
  # The benchmark's own numbers: mean of 3 verifies in one process, each beside one kubectl.
  row verify "verify, 2,000 namespaces (Go benchmark)" "$(bench_metric ns/op | awk '{printf "%.0f", $1 / 1e6}')" -
  row "" "kubectl get of the same kinds -A" "$(bench_metric kubectl-ms/op)" - kubectl \
    "$(bench_metric ratio-vs-kubectl | awk '{printf "%.2f", $1}')"
fi
row re-push "bulwark push, unchanged (1 run)" "$(ms repush)" "$(mb repush)"
echo "re-push of $blobs blobs (layer + config): $uploads blob upload sessions, $heads blob HEADs, $mheads manifest HEADs: $property"
echo "  its $requests requests, from the registry's access log:"
awk '{print "   ", $6, $7, $9}' "$work/repush.log" | tr -d '"'
[ "$property" = OK ] || { echo "fleet: an unchanged re-push must upload no blob and HEAD each blob at most once" >&2; exit 1; }
