"""The benchmark rollback as a pyinfra deploy file.

Run by bench/run.sh as `pyinfra INVENTORY.py pyinfra_rollback.py --parallel N -y`
with BENCH_DEPLOY_DIR set. Switches `current` back to the release before it
(newest-first by mtime, like openssh.sh rollback), atomically, then restarts.
"""
import os
import shlex

from pyinfra.operations import server

D = os.environ["BENCH_DEPLOY_DIR"]
q = shlex.quote

server.shell(
    name="switch current back, restart",
    commands=[
        f"cd {q(D)} && prev=$(ls -1t releases | grep -A1 -x -F \"$(basename \"$(readlink current)\")\" | sed -n 2p)"
        " && test -n \"$prev\" && ln -sfn \"releases/$prev\" current.tmp && mv -T current.tmp current",
        f"date -u +%FT%TZ >> {q(D)}/restarted",
    ],
)
