#!/usr/bin/env bash
# The floor: the artifact streamed to every host and unpacked there, nothing
# else. Per host one plain `ssh host 'tar -xzf - -C DIR' < artifact` (no
# ControlMaster, no upload file, no switch), all hosts at once under
# `xargs -P`; OpenSSH's default cipher.
#
#   bare_stream.sh HOSTS_TSV PAR KEY KNOWN_HOSTS DIR ARTIFACT
#
# HOSTS_TSV: "name address port" per line. DIR must exist on every host (the
# bench makes it, untimed). Host keys are checked against KNOWN_HOSTS
# (StrictHostKeyChecking=yes).
set -euo pipefail

if [ "${1:-}" = __one ]; then
    name=$2 addr=$3 port=$4
    ssh -i "$KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$KH" \
        -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=30 \
        -o LogLevel=ERROR -p "$port" "root@$addr" "tar -xzf - -C '$DIR'" <"$ARTIFACT" ||
        { echo "$name: stream failed" >&2; exit 1; }
    exit 0
fi

HOSTS=$1 PAR=$2
export KEY=$3 KH=$4 DIR=$5 ARTIFACT=$6
awk '{print $1, $2, $3}' "$HOSTS" | xargs -P "$PAR" -n 3 bash "$0" __one
