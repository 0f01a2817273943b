#!/usr/bin/env bash
# A ferry deploy to N hosts through one ProxyJump bastion against the same
# deploy straight to the hosts, on the same loopback fleet (N + 1 sshds: h1 is
# the bastion). Runs alternate direct / bastion; each prints its wall time and
# the bastion's logins for it.
#
#   bench/bastion.sh [N]     default N: 100
#
# Env: BENCH_RUNS (3), BENCH_PROFILE (release), BENCH_WORK (/dev/shm/ferry-bastion).
# Needs root (the fleet's per-host /srv), sshd, /usr/bin/time.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
N=${1:-100}
RUNS=${BENCH_RUNS:-3}
PROFILE=${BENCH_PROFILE:-release}
WORK=${BENCH_WORK:-/dev/shm/ferry-bastion}
log() { echo "[bastion $(date +%T)] $*" >&2; }

if [ "$PROFILE" = release ]; then
    (cd "$REPO" && cargo build --release --bin ferry --example fleet >&2)
else
    (cd "$REPO" && cargo build --bin ferry --example fleet >&2)
fi
FERRY="$REPO/target/$PROFILE/ferry"
FLEET_BIN="$REPO/target/$PROFILE/examples/fleet"

mkdir -p "$WORK/project/playbooks"
WORK=$(cd "$WORK" && pwd)
FLEET="$WORK/fleet"
ART="$WORK/app.tar.gz"
make_artifact "$ART"
cat >"$WORK/project/playbooks/deploy.yml" <<'YML'
keep_releases: 5
health:
  - name: blob present
    command: "test -f {{ deploy_to }}/current/blob.bin"
YML

cleanup() { "$FLEET_BIN" down --dir "$FLEET" >&2 || true; rm -rf "$FLEET"; }
trap cleanup EXIT
rm -rf "$FLEET"
INV=$("$FLEET_BIN" up --hosts $((N + 1)) --dir "$FLEET" --inventory "$FLEET/inv.yml")
BASTION=$(sed -n 's/^  h1: { address: \([0-9.]*\), port: \([0-9]*\),.*/\1:\2/p' "$INV")
[ -n "$BASTION" ] || { echo "bastion.sh: no h1 in $INV" >&2; exit 1; }
# The same N hosts (h2..) in both inventories; h1 only relays.
grep -v '^  h1: {' "$INV" >"$WORK/project/direct.yml"
sed "s#^  connect_timeout: .*#&\n  proxy_jump: \"root@$BASTION\"#" "$WORK/project/direct.yml" >"$WORK/project/bastion.yml"
grep -q proxy_jump "$WORK/project/bastion.yml"
BLOG="$FLEET/hosts/h1/sshd.log"

echo "| run | mode | wall s | bastion logins |"
echo "|---|---|---|---|"
for run in $(seq "$RUNS"); do
    for mode in direct bastion; do
        id="r$(date +%s%N)"
        before=$(grep -c 'Accepted publickey' "$BLOG" || true)
        /usr/bin/time -f '%e' -o "$WORK/time.out" \
            bash -c 'cd "$1" && exec "$2" deploy bench -i "$3" --artifact "$4" --release "$5" --keep 5 -f "$6"' _ \
            "$WORK/project" "$FERRY" "$WORK/project/$mode.yml" "$ART" "$id" "$N" >"$WORK/$mode-$run.log" 2>&1 \
            || { log "$mode run $run failed:"; tail -5 "$WORK/$mode-$run.log" >&2; exit 1; }
        grep -q "done $N " "$WORK/$mode-$run.log" || { log "$mode run $run: not done $N"; tail -5 "$WORK/$mode-$run.log" >&2; exit 1; }
        after=$(grep -c 'Accepted publickey' "$BLOG" || true)
        echo "| $run | $mode | $(tail -1 "$WORK/time.out") | $((after - before)) |"
    done
done
echo
echo "N=$N hosts, $(nproc) CPUs, ferry $PROFILE at git $(cd "$REPO" && git rev-parse --short HEAD)"
