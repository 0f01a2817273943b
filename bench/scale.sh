#!/usr/bin/env bash
# ferry at fleet scale: one controller, N sshd hosts on loopback (more than
# one /24: 127.A.B.x, 127.A.B+1.x, ...), ferry alone.
#
#   bench/scale.sh [N ...]       default N: $SCALE_SIZES or "1000 2000"
#
# Per N, timed one after the other on the same fleet:
#   run       ferry run --cmd true
#   deploy-1  the first deploy of a small artifact (every host is new)
#   deploy-2  a second deploy (a release to switch from, and to prune)
#   rollback  ferry rollback (back to deploy-1's release)
# Each reports wall time, controller CPU (user+sys), peak RSS (and per
# host), the hosts' CPU and the CPU floor, as bench/run.sh does.
# Env: SCALE_ARTIFACT_KB (64: random bytes, gzip), BENCH_PROFILE (release),
#      BENCH_WORK (/dev/shm/ferry-scale). Needs root (the fleet's per-host /srv).
# The inventory is the fleet's with connect_timeout 30s (see below).
# Writes bench/results/<timestamp>-scale.md (+ .tsv) and prints it.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
REPO=$(cd "$HERE/.." && pwd)
SIZES=()
for a in "$@"; do
    case $a in
        -h | --help) sed -n 2,17p "$0"; exit 0 ;;
        *[!0-9]* | "") echo "scale.sh: bad argument $a" >&2; exit 2 ;;
        *) SIZES+=("$a") ;;
    esac
done
[ ${#SIZES[@]} -gt 0 ] || read -r -a SIZES <<<"${SCALE_SIZES:-1000 2000}"
WORK=${BENCH_WORK:-/dev/shm/ferry-scale}
ART_KB=${SCALE_ARTIFACT_KB:-64}
PROFILE=${BENCH_PROFILE:-release}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)-scale
OUT_DIR="$HERE/results"
mkdir -p "$OUT_DIR" "$WORK"
WORK=$(cd "$WORK" && pwd)
RESULTS="$WORK/results-$STAMP.tsv"
: >"$RESULTS"
log() { echo "[scale $(date +%T)] $*" >&2; }

log "building ferry ($PROFILE)"
if [ "$PROFILE" = release ]; then
    (cd "$REPO" && cargo build --release --bin ferry --example fleet >&2)
else
    (cd "$REPO" && cargo build --bin ferry --example fleet >&2)
fi
GIT_AT_BUILD="$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO" && git diff --quiet HEAD 2>/dev/null || echo ', dirty tree')"
FERRY="$REPO/target/$PROFILE/ferry"
FLEET_BIN="$REPO/target/$PROFILE/examples/fleet"

# --- workload ------------------------------------------------------------
ART="$WORK/small-$ART_KB.tar.gz"
make_artifact "$ART" "$ART_KB"
FW="$WORK/ferry-work"
write_deploy_playbook "$FW"
cat >"$FW/playbooks/rollback.yml" <<'YML'
keep_releases: 5
YML

# --- fleet ---------------------------------------------------------------
FLEET_DIR=""
fleet_down() {
    if [ -n "$FLEET_DIR" ] && [ -s "$FLEET_DIR/pids" ]; then
        "$FLEET_BIN" down --dir "$FLEET_DIR" >&2 || true
    fi
    [ -n "$FLEET_DIR" ] && rm -rf "$FLEET_DIR"
    FLEET_DIR=""
}
trap fleet_down EXIT

fleet_up() { # N
    local n=$1 t0
    FLEET_DIR="$WORK/fleet-$n"
    rm -rf "$FLEET_DIR"
    t0=$(date +%s.%N)
    "$FLEET_BIN" up --hosts "$n" --dir "$FLEET_DIR" --inventory "$FLEET_DIR/inv.yml" >/dev/null 2>"$WORK/fleet.log" || {
        cat "$WORK/fleet.log" >&2; exit 1; }
    FLEET_UP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    cat "$WORK/fleet.log" >&2
    grep -q 'isolated: /srv is per host' "$WORK/fleet.log" || {
        echo "scale.sh: the fleet is not isolated (needs root + unshare)" >&2; exit 1; }
    HOSTS="$FLEET_DIR/hosts.tsv"
    sed -n 's/^  \(h[0-9]*\): { address: \([0-9.]*\), port: \([0-9]*\),.*/\1 \2 \3/p' "$FLEET_DIR/inv.yml" >"$HOSTS"
    [ "$(wc -l <"$HOSTS")" = "$n" ] || { echo "scale.sh: could not read $n hosts" >&2; exit 1; }
    RANGES=$(awk '{ split($2, o, "."); print o[3] }' "$HOSTS" | sort -u | wc -l)
}

# sshd masters' cutime + cstime (clock ticks): every session, and all it ran.
host_cpu_ticks() {
    local t=0 p f
    while read -r p; do
        read -r -a f <"/proc/$p/stat" 2>/dev/null || continue
        t=$((t + f[15] + f[16]))
    done <"$FLEET_DIR/pids"
    echo "$t"
}

settle_sessions() { # until no sshd session is left (at most 30 s)
    local i
    for i in $(seq 300); do
        ps -e -o ppid= | tr -d ' ' | grep -qxFf "$FLEET_DIR/pids" || return 0
        sleep 0.1
    done
    log "settle: sshd sessions still open after 30 s"
}

verify() { # EXPECTED_ID: every host's current -> releases/ID with blob.bin
    local want=$1 bad=0 name _a _p dir target
    while read -r name _a _p; do
        dir="$FLEET_DIR/hosts/$name/root/app"
        target=$(readlink "$dir/current" 2>/dev/null || true)
        if [ "$(basename "${target:-none}")" != "$want" ] || [ ! -f "$dir/current/blob.bin" ]; then
            [ $bad -lt 3 ] && log "verify: $name: current -> '${target:-missing}', want $want"
            bad=$((bad + 1))
        fi
    done <"$HOSTS"
    [ $bad = 0 ] || log "verify: $bad hosts wrong"
    [ $bad = 0 ]
}

# measure N WHAT EXPECTED_ID|- -- CMD...
measure() {
    local n=$1 what=$2 want=$3
    shift 4
    local tf="$WORK/time.out" lf="$WORK/logs/$n-$what.log" rc=0 valid=1 h0 h1 load
    mkdir -p "$WORK/logs"
    settle_sessions
    load=$(cut -d' ' -f1 /proc/loadavg)
    h0=$(host_cpu_ticks)
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$lf" 2>&1 || rc=$?
    settle_sessions
    h1=$(host_cpu_ticks)
    local hostcpu
    hostcpu=$(awk -v a="$h0" -v b="$h1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
    [ $rc = 0 ] || { valid=0; log "$what exit $rc (log: $lf)"; tail -5 "$lf" >&2; }
    if [ "$want" != - ]; then verify "$want" || valid=0; fi
    local wall=0 user=0 sys=0 rss=0
    read -r wall user sys rss < <(tail -1 "$tf") || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$what" "$wall" "$user" "$sys" "$rss" "$valid" "$hostcpu" "$load" >>"$RESULTS"
    log "N=$n $what: ${wall}s wall, ${user}+${sys}s CPU, ${rss} KB peak RSS, hosts ${hostcpu}s CPU, load before ${load}, valid=$valid"
}

ferry_in() { (cd "$FW" && exec "$FERRY" "$@"); }

UPTIME_START=$(uptime)
FLEET_NOTES=()
for n in "${SIZES[@]}"; do
    log "=== N=$n"
    fleet_up "$n"
    FLEET_NOTES+=("N = $n: fleet up in ${FLEET_UP_S} s over $RANGES /24s")
    # The fleet's 5 s connect timeout is for tests: here 256 handshakes are
    # in flight at once (src/executor/connect.rs) and every host's sshd
    # shares the controller's CPUs, so a busy moment must not fail a host.
    inv="$FLEET_DIR/inv-scale.yml"
    sed 's/^  connect_timeout: 5s$/  connect_timeout: 30s/' "$FLEET_DIR/inv.yml" >"$inv"
    grep -q 'connect_timeout: 30s' "$inv"
    export -f ferry_in
    export FW FERRY
    measure "$n" run - -- bash -c 'ferry_in run bench -i "$1" --cmd true -f "$2"' _ "$inv" "$n"
    a="r$(date +%s%N)"
    measure "$n" deploy-1 "$a" -- bash -c 'ferry_in deploy bench -i "$1" --artifact "$2" --release "$3" --keep 5 -f "$4"' _ "$inv" "$ART" "$a" "$n"
    sleep 1
    b="r$(date +%s%N)"
    measure "$n" deploy-2 "$b" -- bash -c 'ferry_in deploy bench -i "$1" --artifact "$2" --release "$3" --keep 5 -f "$4"' _ "$inv" "$ART" "$b" "$n"
    measure "$n" rollback "$a" -- bash -c 'ferry_in rollback bench -i "$1" playbooks/rollback.yml -f "$2"' _ "$inv" "$n"
    fleet_down
done
UPTIME_END=$(uptime)

OUT="$OUT_DIR/$STAMP.md"
{
    echo "# ferry scale run $STAMP"
    echo
    echo "Command: \`bench/scale.sh ${SIZES[*]}\` (artifact: ${ART_KB} KiB of random bytes, gzip; one run per cell)"
    echo
    echo "- ferry: $("$FERRY" --version 2>/dev/null || echo '?') (git $GIT_AT_BUILD, $PROFILE build)"
    echo "- OpenSSH: $(ssh -V 2>&1)"
    echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r)"
    echo "- load: at start \`$UPTIME_START\`; at end \`$UPTIME_END\`"
    for note in "${FLEET_NOTES[@]}"; do echo "- $note"; done
    echo
    python3 - "$RESULTS" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| N | what | wall s | CPU s (user+sys) | CPU ms/host | peak RSS MB | RSS KB/host | host CPU s | CPU floor s | wall / floor | load before | valid |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for n, what, wall, user, sys_, rss, valid, hostcpu, load in rows:
    n = int(n); wall = float(wall); cpu = float(user) + float(sys_); rss = int(rss); host = float(hostcpu)
    floor = (cpu + host) / 2
    ratio = f"{wall / floor:.2f}x" if floor > 0 else "-"
    print(f"| {n} | {what} | {wall:.2f} | {cpu:.2f} | {1000 * cpu / n:.2f} | {rss / 1024:.1f} | {rss / n:.1f} | {host:.2f} | {floor:.2f} | {ratio} | {load} | {'yes' if valid == '1' else 'NO'} |")
PY
} >"$OUT"
cp "$RESULTS" "$OUT_DIR/$STAMP.tsv"
cat "$OUT"
log "wrote $OUT"
