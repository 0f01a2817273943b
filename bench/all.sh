#!/usr/bin/env bash
# The whole benchmark behind BENCHMARKS.md, in one run on one build:
#   1. bench/run.sh 10 50 100 200   every tool (ferry, raw OpenSSH, Ansible, Fabric,
#                                   pyinfra, parallel-ssh, the bare stream), 3 runs,
#                                   plus the rollback / rolling table at N = 100
#   2. BENCH_DELAY_MS=25 bench/run.sh 10 50   the same deploy at RTT 50 ms
#                                   (ferry, OpenSSH, Fabric, parallel-ssh, bare)
#   3. bench/scale.sh 1000 2000     run, deploy, rollback at fleet scale
#
#   bench/all.sh            (about an hour on 2 CPUs; run it on a quiet machine)
#   ALL_PARTS="1 3" bench/all.sh    only some parts
#
# Each part writes its own bench/results/<timestamp>*.md; this one writes
# bench/results/<timestamp>-all.md naming them, with the load average before
# each part (the figures mean little if something else ran).
# Needs root, as the parts do.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PARTS=${ALL_PARTS:-"1 2 3"}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$HERE/results/$STAMP-all.md"
mkdir -p "$HERE/results"
log() { echo "[all $(date +%T)] $*" >&2; }

(cd "$REPO" && cargo build --release --bin ferry --example fleet >&2)
{
    echo "# ferry benchmark, all parts: $STAMP"
    echo
    echo "git $(cd "$REPO" && git rev-parse --short HEAD)$(cd "$REPO" && git diff --quiet HEAD || echo ', dirty tree'); parts: $PARTS"
    echo
} >"$OUT"

# part NAME CMD...: run one part, note its load before and its report.
part() {
    local name=$1 before newest
    shift
    before=$(cut -d' ' -f1-3 /proc/loadavg)
    log "part $name (load $before): $*"
    local t0=$SECONDS
    "$@" >/dev/null
    newest=$(ls -t "$HERE/results"/*.md | grep -v -- '-all\.md$' | head -1)
    echo "- $name: \`$*\`, load before $before, $((SECONDS - t0)) s: results/$(basename "$newest")" >>"$OUT"
}

for p in $PARTS; do
    case $p in
        1) part "all tools" env BENCH_RUNS=3 "$HERE/run.sh" 10 50 100 200 ;;
        2) part "RTT 50 ms" env BENCH_DELAY_MS=25 BENCH_EXTRA_N=0 \
            BENCH_TOOLS="ferry openssh fabric pssh bare" "$HERE/run.sh" 10 50 ;;
        3) part "scale" "$HERE/scale.sh" 1000 2000 ;;
        *) echo "all.sh: no part $p (1, 2 or 3)" >&2; exit 2 ;;
    esac
done
log "done: $OUT"
cat "$OUT"
