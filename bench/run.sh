#!/usr/bin/env bash
# ferry vs raw OpenSSH, Ansible, Fabric and pyinfra on one loopback fleet.
#
#   bench/run.sh [--quick] [N ...]       default N: $BENCH_SIZES or "10 50 100 200"
#   BENCH_SMOKE=1 bench/run.sh           same as --quick: N=3, one run, ferry + OpenSSH, no pip
#
# Env: BENCH_RUNS (3), BENCH_TOOLS ("ferry openssh ansible fabric pyinfra pssh bare"), BENCH_PROFILE (release),
#      BENCH_EXTRA_N (100; size of the rollback / rolling table, 0 = skip),
#      BENCH_WORK (/dev/shm/ferry-bench; fleet, venv, artifacts: keep it on tmpfs),
#      BENCH_DELAY_MS (0; delay mode: every tool reaches every host through bench/delay.py,
#      a loopback proxy adding this many ms each way, so RTT = 2x; e.g. 25 for RTT 50 ms),
#      BENCH_FERRY + BENCH_FLEET (binaries to use instead of building: an older ferry).
# Needs root (the fleet's per-host /srv), sshd, ssh/scp, python3, /usr/bin/time.
# Writes bench/results/<timestamp>.md and prints it.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
QUICK=${BENCH_SMOKE:-0}
SIZES=()
for a in "$@"; do
    case $a in
        --quick | --smoke) QUICK=1 ;;
        -h | --help) sed -n 2,12p "$0"; exit 0 ;;
        *[!0-9]*) echo "run.sh: bad argument $a" >&2; exit 2 ;;
        *) SIZES+=("$a") ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    [ ${#SIZES[@]} -gt 0 ] || SIZES=(3)
    RUNS=${BENCH_RUNS:-1}
    TOOLS=${BENCH_TOOLS:-"ferry openssh"}
    EXTRA_N=${BENCH_EXTRA_N:-3}
else
    [ ${#SIZES[@]} -gt 0 ] || read -r -a SIZES <<<"${BENCH_SIZES:-10 50 100 200}"
    RUNS=${BENCH_RUNS:-3}
    TOOLS=${BENCH_TOOLS:-"ferry openssh ansible fabric pyinfra pssh bare"}
    EXTRA_N=${BENCH_EXTRA_N:-100}
fi
WORK=${BENCH_WORK:-/dev/shm/ferry-bench}
# Pinned peers (latest on PyPI for this Python when written).
ANSIBLE_CORE_VERSION=2.19.14
FABRIC_VERSION=3.2.3
PYINFRA_VERSION=3.10.0
PSSH_VERSION=2.16.0.post1

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
if [ "$QUICK" = 1 ]; then STAMP="$STAMP-smoke"; fi # (git-ignored)
OUT_DIR="$HERE/results"
OUT="$OUT_DIR/$STAMP.md"
mkdir -p "$OUT_DIR" "$WORK"
WORK=$(cd "$WORK" && pwd)
RESULTS="$WORK/results-$STAMP.tsv"
: >"$RESULTS"
log() { echo "[bench $(date +%T)] $*" >&2; }

needs_peer() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- build ---------------------------------------------------------------
# BENCH_PROFILE=debug reuses the test build (the CI smoke); figures come from release.
PROFILE=${BENCH_PROFILE:-release}
log "building ferry ($PROFILE)"
if [ -n "${BENCH_FERRY:-}" ] && [ -n "${BENCH_FLEET:-}" ]; then
    log "using $BENCH_FERRY and $BENCH_FLEET (not built)"
elif [ "$PROFILE" = release ]; then
    (cd "$REPO" && cargo build --release --bin ferry --example fleet >&2)
else
    (cd "$REPO" && cargo build --bin ferry --example fleet >&2)
fi
# The tree as built (read now: it may change while the benchmark runs).
GIT_AT_BUILD="$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$REPO" && git diff --quiet HEAD 2>/dev/null || echo ', dirty tree')"
[ -z "${BENCH_FERRY:-}" ] || GIT_AT_BUILD="not built here: $BENCH_FERRY"
FERRY=${BENCH_FERRY:-"$REPO/target/$PROFILE/ferry"}
FLEET_BIN=${BENCH_FLEET:-"$REPO/target/$PROFILE/examples/fleet"}
DELAY_MS=${BENCH_DELAY_MS:-0}

# --- peers ---------------------------------------------------------------
VENV="$WORK/venv"
if needs_peer ansible || needs_peer fabric || needs_peer pyinfra || needs_peer pssh; then
    want="ansible-core==$ANSIBLE_CORE_VERSION fabric==$FABRIC_VERSION pyinfra==$PYINFRA_VERSION parallel-ssh==$PSSH_VERSION"
    if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$want" ]; then
        log "installing peers into a throwaway venv $VENV: $want"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check $want >&2
        echo "$want" >"$VENV/.pins"
    fi
fi

# --- workload files ------------------------------------------------------
ART="$WORK/app.tar.gz"
make_artifact "$ART"
FW="$WORK/ferry-work" # ferry's cwd: playbooks/deploy.yml
write_deploy_playbook "$FW"
cat >"$FW/playbooks/rollback.yml" <<'YML'
keep_releases: 5
after_switch:
  - name: restart
    run: "date -u +%FT%TZ >> {{ deploy_to }}/restarted"
YML

# --- fleet ---------------------------------------------------------------
FLEET_DIR=""
PROXY_PID=""
fleet_down() {
    if [ -n "$PROXY_PID" ]; then
        kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; PROXY_PID=""
        mkdir -p "$WORK/logs" && cp "$FLEET_DIR/proxy.log" "$WORK/logs/proxy-$(basename "$FLEET_DIR").log" 2>/dev/null || true
    fi
    if [ -n "$FLEET_DIR" ] && [ -s "$FLEET_DIR/pids" ]; then
        "$FLEET_BIN" down --dir "$FLEET_DIR" >&2 || true
    fi
    [ -n "$FLEET_DIR" ] && rm -rf "$FLEET_DIR"
    FLEET_DIR=""
}
trap fleet_down EXIT

fleet_up() { # N
    local n=$1
    FLEET_DIR="$WORK/fleet-$n"
    rm -rf "$FLEET_DIR"
    INV=$("$FLEET_BIN" up --hosts "$n" --dir "$FLEET_DIR" --inventory "$FLEET_DIR/inv.yml" 2>"$WORK/fleet.log") || {
        cat "$WORK/fleet.log" >&2; exit 1; }
    cat "$WORK/fleet.log" >&2
    grep -q 'isolated: /srv is per host' "$WORK/fleet.log" || {
        echo "run.sh: the fleet is not isolated (needs root + unshare); the peers assume /srv per host" >&2; exit 1; }
    KEY="$FLEET_DIR/id_ed25519"
    KH="$FLEET_DIR/known_hosts"
    HOSTS="$FLEET_DIR/hosts.tsv" # name address port
    sed -n 's/^  \(h[0-9]*\): { address: \([0-9.]*\), port: \([0-9]*\),.*/\1 \2 \3/p' "$INV" >"$HOSTS"
    [ "$(wc -l <"$HOSTS")" = "$n" ] || { echo "run.sh: could not read $n hosts from $INV" >&2; exit 1; }
    # One deploy dir per tool so their releases and pruning never mix.
    sed 's#deploy_to: "/srv/app"#deploy_to: "/srv/bench-ferry"#' "$INV" >"$FLEET_DIR/inv-ferry.yml"
    grep -q bench-ferry "$FLEET_DIR/inv-ferry.yml"
    # Ansible inventory + config
    {
        echo "[fleet]"
        awk '{print $1, "ansible_host=" $2, "ansible_port=" $3}' "$HOSTS"
        echo "[fleet:vars]"
        echo "ansible_user=root"
        echo "ansible_ssh_private_key_file=$KEY"
        echo "ansible_ssh_common_args='-o UserKnownHostsFile=$KH -o StrictHostKeyChecking=yes'"
    } >"$FLEET_DIR/ansible-hosts.ini"
    # pyinfra inventory
    {
        echo "fleet = ["
        awk -v k="$KEY" -v kh="$KH" '{printf "    (\"%s\", {\"ssh_hostname\": \"%s\", \"ssh_port\": %s, \"ssh_user\": \"root\", \"ssh_key\": \"%s\", \"ssh_known_hosts_file\": \"%s\", \"ssh_strict_host_key_checking\": \"yes\"}),\n", $1, $2, $3, k, kh}' "$HOSTS"
        echo "]"
    } >"$FLEET_DIR/pyinfra_inventory.py"
    if [ "$DELAY_MS" != 0 ]; then delay_up; fi # (the Python peers' files keep the direct ports)
}

# Delay mode: every host is reached through bench/delay.py on its own
# address, port + 1000, DELAY_MS each way; the inventory, known_hosts and
# hosts.tsv the tools read are rewritten to that port.
delay_up() {
    local ready="$FLEET_DIR/proxy.ready"
    python3 "$HERE/delay.py" --delay-ms "$DELAY_MS" --hosts "$HOSTS" --port-offset 1000 \
        --log "$FLEET_DIR/proxy.log" >"$ready" 2>"$FLEET_DIR/proxy.err" &
    PROXY_PID=$!
    for _ in $(seq 100); do grep -q ready "$ready" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$ready" || { cat "$FLEET_DIR/proxy.err" >&2; echo "run.sh: the delay proxy did not start" >&2; exit 1; }
    awk '{print $1, $2, $3 + 1000}' "$HOSTS" >"$HOSTS.wan" && mv "$HOSTS.wan" "$HOSTS"
    awk '{ i = index($1, "]:"); if (i) $1 = substr($1, 1, i + 1) (substr($1, i + 2) + 1000); print }' "$KH" >"$KH.wan" && mv "$KH.wan" "$KH"
    awk '/address:/ && match($0, /port: [0-9]+/) { $0 = substr($0, 1, RSTART + 5) (substr($0, RSTART + 6, RLENGTH - 6) + 1000) substr($0, RSTART + RLENGTH) } { print }' \
        "$FLEET_DIR/inv-ferry.yml" >"$FLEET_DIR/inv-ferry.wan" && mv "$FLEET_DIR/inv-ferry.wan" "$FLEET_DIR/inv-ferry.yml"
    log "delay mode: $DELAY_MS ms each way (RTT $((DELAY_MS * 2)) ms) through bench/delay.py"
}

# Controller-side path of /srv/<sub> on host NAME (root mode: hosts/NAME/root).
host_path() { echo "$FLEET_DIR/hosts/$1/root/$2"; }

verify() { # SUB EXPECTED_ID -> 0 when every host has current -> releases/ID, blob, <= 5 releases
    local sub=$1 want=$2 bad=0 name _a _p dir target n
    while read -r name _a _p; do
        dir=$(host_path "$name" "$sub")
        if [ "$sub" = bench-bare ]; then # the floor: only the unpacked artifact
            [ -f "$dir/$want/blob.bin" ] || { [ $bad -lt 3 ] && log "verify: $name: no $want/blob.bin"; bad=$((bad + 1)); }
            continue
        fi
        target=$(readlink "$dir/current" 2>/dev/null || true)
        n=$(find "$dir/releases" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
        if [ "$(basename "${target:-none}")" != "$want" ] || [ ! -f "$dir/current/blob.bin" ] || [ "$n" -gt 5 ]; then
            [ $bad -lt 3 ] && log "verify: $name: current -> '${target:-missing}', want $want ($n releases)"
            bad=$((bad + 1))
        fi
    done <"$HOSTS"
    [ $bad = 0 ] || log "verify: $bad hosts wrong"
    [ $bad = 0 ]
}

trim_tool() { # SUB: keep only the current release (untimed, between runs): the fleet
    # lives in RAM, and at N = 200 five tools x 3 runs x 5 MiB x 2 (ferry keeps
    # each release's artifact for promote) would not fit. Every run still finds
    # a previous release to switch from and prune work to do.
    local name _a _p dir cur
    while read -r name _a _p; do
        dir=$(host_path "$name" "$1")
        [ "$1" != bench-bare ] || { rm -rf "${dir:?}"/*; continue; }
        cur=$(basename "$(readlink "$dir/current" 2>/dev/null)" 2>/dev/null || true)
        [ -n "$cur" ] || continue
        find "$dir/releases" -mindepth 1 -maxdepth 1 ! -name "$cur" -exec rm -rf {} + 2>/dev/null || true
        find "$dir/.ferry/artifacts" -mindepth 1 -maxdepth 1 ! -name "$cur.artifact" -exec rm -f {} + 2>/dev/null || true
        rm -f "$dir"/.upload-*.tar.gz
    done <"$HOSTS"
}

clean_tool() { # SUB: remove the tool's deploy dir on every host (keeps tmpfs small)
    local name _a _p
    while read -r name _a _p; do rm -rf "$(host_path "$name" "$1")"; done <"$HOSTS"
}

# CPU the hosts spent (clock ticks): every sshd session is a child of its
# host's sshd, which reaps it, so the sessions' CPU and that of everything
# they ran (shells, tar, gzip, sha256) lands in the masters' cutime + cstime.
host_cpu_ticks() {
    local t=0 p f
    while read -r p; do
        read -r -a f <"/proc/$p/stat" 2>/dev/null || continue
        t=$((t + f[15] + f[16]))
    done <"$FLEET_DIR/pids"
    echo "$t"
}

# Wait (at most 10 s) until no sshd session is left on the fleet, so the
# host CPU of a run is reaped before it is read (Ansible's ControlPersist
# masters are closed first by the caller).
settle_sessions() {
    local i
    for i in $(seq 100); do
        ps -e -o ppid= | tr -d ' ' | grep -qxFf "$FLEET_DIR/pids" || return 0
        sleep 0.1
    done
    log "settle: sshd sessions still open after 10 s"
}

# measure TABLE N TOOL RUN SUB EXPECTED_ID -- CMD...: time it, verify, append a row
measure() {
    local table=$1 n=$2 tool=$3 run=$4 sub=$5 want=$6
    shift 7
    local tf="$WORK/time.out" lf="$WORK/logs/$table-$n-$tool-$run.log" rc=0 valid=1 h0 h1
    mkdir -p "$WORK/logs"
    settle_sessions
    h0=$(host_cpu_ticks)
    local p0=0
    [ -z "$PROXY_PID" ] || p0=$(wc -l <"$FLEET_DIR/proxy.log" 2>/dev/null || echo 0)
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$lf" 2>&1 || rc=$?
    case $tool in ansible | ansible-rollback) ansible_cp_close ;; esac
    settle_sessions
    h1=$(host_cpu_ticks)
    if [ -n "$PROXY_PID" ]; then # the run's connections through the proxy: answers waited for (median)
        sed -n "$((p0 + 1)),\$p" "$FLEET_DIR/proxy.log" | sed -n 's/.* turns=\([0-9]*\) .*/\1/p' | sort -n |
            awk -v t="$table" -v n="$n" -v tool="$tool" -v r="$run" '{ a[NR] = $1 } END { if (NR) printf "%s\t%s\t%s\t%s\tturns median %s (min %s, max %s) over %d connections\n", t, n, tool, r, a[int((NR + 1) / 2)], a[1], a[NR], NR }' >>"$WORK/turns-$STAMP.tsv"
    fi
    local hostcpu
    hostcpu=$(awk -v a="$h0" -v b="$h1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
    [ $rc = 0 ] || { valid=0; log "$tool exit $rc (log: $lf)"; tail -5 "$lf" >&2; }
    verify "$sub" "$want" || valid=0
    local wall=0 user=0 sys=0 rss=0
    # (a failing command adds a "Command exited with non-zero status" line first)
    read -r wall user sys rss < <(tail -1 "$tf") || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$table" "$n" "$tool" "$run" "$wall" "$user" "$sys" "$rss" "$valid" "$hostcpu" >>"$RESULTS"
    log "$table N=$n $tool run $run: ${wall}s wall, ${user}+${sys}s CPU, ${rss} KB peak RSS, hosts ${hostcpu}s CPU, valid=$valid"
}

rid() { echo "r$(date +%s%N)"; }

ansible_cp_close() { # close the ControlPersist masters so the next run connects again
    local s
    for s in "$WORK/ansible-cp"/*; do
        [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x >/dev/null 2>&1 || true
    done
    rm -rf "$WORK/ansible-cp"
}

# peer_cmd ACTION TOOL N [ID]: set CMD to the Python peer's command line for
# ACTION: "deploy" (release ID) or "rollback" (switch current back + restart).
# Ansible's config is (re)written for N forks.
peer_cmd() {
    local action=$1 tool=$2 n=$3 id=${4:-} d=/srv/bench-$2
    case $tool in
        ansible)
            mkdir -p "$WORK/ansible-cp"
            sed -e "s#@FORKS@#$n#" -e "s#@CP_DIR@#$WORK/ansible-cp#" "$HERE/peers/ansible/ansible.cfg.in" >"$WORK/ansible.cfg"
            CMD=(env ANSIBLE_CONFIG="$WORK/ansible.cfg" ANSIBLE_LOCAL_TEMP="$WORK/ansible-tmp"
                "$VENV/bin/ansible-playbook" -i "$FLEET_DIR/ansible-hosts.ini" "$HERE/peers/ansible/$action.yml")
            if [ "$action" = deploy ]; then
                CMD+=(-e "deploy_dir=$d artifact=$ART release_id=$id keep=5")
            else
                CMD+=(-e "deploy_dir=$d")
            fi ;;
        fabric)
            if [ "$action" = deploy ]; then
                CMD=("$VENV/bin/python" "$HERE/peers/fabric_deploy.py" "$HOSTS" "$KEY" "$KH" "$d" "$ART" "$id" 5)
            else
                CMD=("$VENV/bin/python" "$HERE/peers/fabric_rollback.py" "$HOSTS" "$KEY" "$KH" "$d")
            fi ;;
        pssh)
            CMD=("$VENV/bin/python" "$HERE/peers/pssh_deploy.py" "$HOSTS" "$KEY" "$KH" "$d" "$ART" "$id" 5) ;;
        pyinfra)
            CMD=(env BENCH_DEPLOY_DIR="$d")
            [ "$action" != deploy ] || CMD+=(BENCH_ARTIFACT="$ART" BENCH_RELEASE_ID="$id" BENCH_KEEP=5)
            CMD+=("$VENV/bin/pyinfra" "$FLEET_DIR/pyinfra_inventory.py" "$HERE/peers/pyinfra_$action.py"
                --parallel "$n" -y) ;;
        *) echo "run.sh: no $action command for $tool" >&2; exit 2 ;;
    esac
}

peer_setup_deploy() { # TOOL N ID: an untimed deploy into the tool's dir (setup for a timed rollback)
    # Made by the OpenSSH baseline: the layout (releases/<id>, current, mtimes)
    # is the same whichever tool wrote it, only the rollback is measured, and
    # it saves Ansible's minutes of setup per run at N = 100.
    local log="$WORK/logs/extra-$2-$1-setup-$3.log"
    mkdir -p "$WORK/logs"
    "$HERE/peers/openssh.sh" deploy "$HOSTS" "$2" "$KEY" "$KH" "/srv/bench-$1" "$ART" "$3" 5 >"$log" 2>&1 ||
        log "$1: untimed setup deploy $3 failed (log: $log)"
}

deploy_with() { # TABLE N TOOL RUN
    local table=$1 n=$2 tool=$3 run=$4 id name _a _p
    id=$(rid)
    case $tool in
        ferry)
            measure "$table" "$n" ferry "$run" bench-ferry "$id" -- \
                bash -c 'cd "$1" && exec "$2" deploy bench -i "$3" --artifact "$4" --release "$5" --keep 5 -f "$6"' _ \
                "$FW" "$FERRY" "$FLEET_DIR/inv-ferry.yml" "$ART" "$id" "$n" ;;
        openssh)
            measure "$table" "$n" openssh "$run" bench-openssh "$id" -- \
                "$HERE/peers/openssh.sh" deploy "$HOSTS" "$n" "$KEY" "$KH" /srv/bench-openssh "$ART" "$id" 5 ;;
        bare) # the floor: the directory is made untimed, then only the stream
            while read -r name _a _p; do mkdir -p "$(host_path "$name" bench-bare)/$id"; done <"$HOSTS"
            measure "$table" "$n" bare "$run" bench-bare "$id" -- \
                "$HERE/peers/bare_stream.sh" "$HOSTS" "$n" "$KEY" "$KH" "/srv/bench-bare/$id" "$ART" ;;
        ansible | fabric | pyinfra | pssh)
            peer_cmd deploy "$tool" "$n" "$id"
            measure "$table" "$n" "$tool" "$run" "bench-$tool" "$id" -- "${CMD[@]}" ;;
    esac
}

# --- table 1: deploy, all hosts at once -----------------------------------
for n in "${SIZES[@]}"; do
    log "=== deploy, N=$n, $RUNS run(s): $TOOLS"
    fleet_up "$n"
    for run in $(seq 1 "$RUNS"); do
        for tool in $TOOLS; do
            deploy_with deploy "$n" "$tool" "$run"
            trim_tool "bench-$tool"
        done
    done
    for tool in $TOOLS; do clean_tool "bench-$tool"; done
    fleet_down
done

# --- table 2: rollback and rolling deploy ---------------------------------
if [ "$EXTRA_N" != 0 ]; then
    n=$EXTRA_N
    log "=== rollback + rolling deploy, N=$n, $RUNS run(s)"
    fleet_up "$n"
    for run in $(seq 1 "$RUNS"); do
        # ferry: all-at-once deploy A, rolling deploy B, rollback (to A)
        a=$(rid)
        measure extra "$n" ferry-deploy-all "$run" bench-ferry "$a" -- \
            bash -c 'cd "$1" && exec "$2" deploy bench -i "$3" --artifact "$4" --release "$5" --keep 5 -f "$6"' _ \
            "$FW" "$FERRY" "$FLEET_DIR/inv-ferry.yml" "$ART" "$a" "$n"
        b=$(rid)
        measure extra "$n" ferry-deploy-rolling "$run" bench-ferry "$b" -- \
            bash -c 'cd "$1" && exec "$2" deploy bench -i "$3" --artifact "$4" --release "$5" --keep 5 -f "$6" --canary 1 --batch 25%' _ \
            "$FW" "$FERRY" "$FLEET_DIR/inv-ferry.yml" "$ART" "$b" "$n"
        measure extra "$n" ferry-rollback "$run" bench-ferry "$a" -- \
            bash -c 'cd "$1" && exec "$2" rollback bench -i "$3" playbooks/rollback.yml -f "$4"' _ \
            "$FW" "$FERRY" "$FLEET_DIR/inv-ferry.yml" "$n"
        # OpenSSH baseline: deploy A, deploy B (not timed), rollback (to A)
        a=$(rid)
        "$HERE/peers/openssh.sh" deploy "$HOSTS" "$n" "$KEY" "$KH" /srv/bench-openssh "$ART" "$a" 5 >&2
        sleep 1 # distinct mtimes for `ls -t`
        b=$(rid)
        "$HERE/peers/openssh.sh" deploy "$HOSTS" "$n" "$KEY" "$KH" /srv/bench-openssh "$ART" "$b" 5 >&2
        measure extra "$n" openssh-rollback "$run" bench-openssh "$a" -- \
            "$HERE/peers/openssh.sh" rollback "$HOSTS" "$n" "$KEY" "$KH" /srv/bench-openssh
        # The other peers the same way: deploy A, deploy B (not timed), rollback (to A)
        for tool in $TOOLS; do
            case $tool in ansible | fabric | pyinfra) ;; *) continue ;; esac
            a=$(rid)
            peer_setup_deploy "$tool" "$n" "$a"
            sleep 1 # distinct mtimes for `ls -t`
            b=$(rid)
            peer_setup_deploy "$tool" "$n" "$b"
            peer_cmd rollback "$tool" "$n"
            measure extra "$n" "$tool-rollback" "$run" "bench-$tool" "$a" -- "${CMD[@]}"
        done
    done
    clean_tool bench-ferry
    clean_tool bench-openssh
    for tool in $TOOLS; do
        case $tool in ansible | fabric | pyinfra) clean_tool "bench-$tool" ;; esac
    done
    fleet_down
fi

# --- report --------------------------------------------------------------
versions() {
    echo "- ferry: $("$FERRY" --version 2>/dev/null || echo '?') (git $GIT_AT_BUILD)"
    echo "- OpenSSH: $(ssh -V 2>&1)"
    if [ -x "$VENV/bin/python" ] && { needs_peer ansible || needs_peer fabric || needs_peer pyinfra || needs_peer pssh; }; then
        echo "- Python (peers): $("$VENV/bin/python" --version 2>&1)"
        echo "- peers: $("$VENV/bin/pip" freeze 2>/dev/null | grep -i -E '^(ansible-core|fabric|pyinfra|paramiko|invoke|gevent|parallel-ssh|ssh2-python)==' | tr '\n' ' ')"
    fi
    echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r)"
}
{
    echo "# ferry benchmark $STAMP"
    echo
    echo "Command: \`bench/run.sh $([ "$QUICK" = 1 ] && echo '--quick ')${SIZES[*]}\` (runs per cell: $RUNS; tools: $TOOLS)"
    [ "$DELAY_MS" = 0 ] || { echo; echo "Delay mode: every connection through bench/delay.py, $DELAY_MS ms each way (RTT $((DELAY_MS * 2)) ms)."; }
    echo
    versions
    echo
    python3 "$HERE/report.py" "$RESULTS"
    if [ -s "$WORK/turns-$STAMP.tsv" ]; then
        echo
        echo 'Through the delay proxy: per run, the answers each connection waited for (`turns`: the server spoke after the client; window adjusts during the upload count too):'
        echo
        sed 's/^/    /' "$WORK/turns-$STAMP.tsv"
    fi
} >"$OUT"
cp "$RESULTS" "$OUT_DIR/$STAMP.tsv"
cat "$OUT"
log "wrote $OUT"
