#!/usr/bin/env bash
# Baseline: plain bash driving OpenSSH ssh/scp, one ControlMaster connection per
# host, all hosts at once under `xargs -P`.
#
#   openssh.sh deploy   HOSTS_TSV PAR KEY KNOWN_HOSTS DEPLOY_DIR ARTIFACT RELEASE_ID KEEP
#   openssh.sh rollback HOSTS_TSV PAR KEY KNOWN_HOSTS DEPLOY_DIR
#
# HOSTS_TSV: "name address port" per line. Host keys are checked against
# KNOWN_HOSTS (StrictHostKeyChecking=yes). The master runs in the foreground
# as a child of the per-host shell (not ControlPersist's daemon), so its CPU
# and memory are counted by the /usr/bin/time that wraps this script.
set -euo pipefail

one() { # one ACTION NAME ADDR PORT
    local action=$1 name=$2 addr=$3 port=$4
    local sock="$CP_DIR/$name"
    local opts=(-i "$KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KH"
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=30
        -o ControlPath="$sock" -o LogLevel=ERROR)
    ssh "${opts[@]}" -o ControlMaster=yes -p "$port" -N "root@$addr" &
    local master=$!
    local i=0
    while [ ! -S "$sock" ]; do
        if ! kill -0 "$master" 2>/dev/null; then echo "$name: ssh master failed" >&2; return 1; fi
        i=$((i + 1)); [ $i -gt 6000 ] && { echo "$name: master timeout" >&2; kill "$master"; return 1; }
        sleep 0.01
    done
    local rc=0
    local D=$DEPLOY_DIR
    if [ "$action" = deploy ]; then
        # Upload into the host's home (per host), then one ssh for the rest.
        local up="ferry-bench-upload-$RELEASE_ID.tar.gz"
        scp -q "${opts[@]}" -o ControlMaster=no -P "$port" "$ARTIFACT" "root@$addr:$up" || rc=1
        [ $rc = 0 ] && { ssh "${opts[@]}" -o ControlMaster=no -p "$port" "root@$addr" "set -e
mkdir -p '$D/releases/$RELEASE_ID'
tar -xzf ~/'$up' -C '$D/releases/$RELEASE_ID'
rm -f ~/'$up'
cd '$D'
ln -sfn 'releases/$RELEASE_ID' current.tmp
mv -T current.tmp current
test -f '$D/current/blob.bin'
cd releases && ls -1t | tail -n +$((KEEP + 1)) | xargs -r rm -rf" || rc=1; }
    else
        # Switch current back to the release before it (by mtime), then restart.
        ssh "${opts[@]}" -o ControlMaster=no -p "$port" "root@$addr" "set -e
cd '$D'
cur=\$(basename \"\$(readlink current)\")
prev=\$(ls -1t releases | grep -A1 -x -F \"\$cur\" | sed -n 2p)
test -n \"\$prev\"
ln -sfn \"releases/\$prev\" current.tmp
mv -T current.tmp current
date -u +%FT%TZ >> '$D/restarted'" || rc=1
    fi
    ssh -o ControlPath="$sock" -O exit "root@$addr" 2>/dev/null || true
    wait "$master" 2>/dev/null || true
    [ $rc = 0 ] || echo "$name: $action failed" >&2
    return $rc
}

if [ "${1:-}" = __one ]; then
    shift; one "$@"; exit $?
fi

ACTION=$1 HOSTS=$2 PAR=$3
export KEY=$4 KH=$5 DEPLOY_DIR=$6
if [ "$ACTION" = deploy ]; then
    export ARTIFACT=$7 RELEASE_ID=$8 KEEP=${9:-5}
fi
CP_DIR=$(mktemp -d /dev/shm/ferry-bench-cp.XXXXXX)
export CP_DIR
trap 'rm -rf "$CP_DIR"' EXIT
awk -v a="$ACTION" '{print a, $1, $2, $3}' "$HOSTS" |
    xargs -P "$PAR" -n 4 bash "$0" __one
