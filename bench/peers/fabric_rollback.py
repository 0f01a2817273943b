"""The benchmark rollback with Fabric's ThreadingGroup (all hosts at once).

usage: fabric_rollback.py HOSTS_TSV KEY KNOWN_HOSTS DEPLOY_DIR
One run per host: switch `current` back to the release before it
(newest-first by mtime, like openssh.sh rollback), atomically, then restart.
Host keys are checked against KNOWN_HOSTS (paramiko RejectPolicy).
"""
import shlex
import sys

from fabric_deploy import on_every_host


def main():
    hosts_tsv, key, known_hosts, deploy = sys.argv[1:5]
    q = shlex.quote
    on_every_host(
        hosts_tsv,
        key,
        known_hosts,
        lambda group: group.run(
            f"set -e; cd {q(deploy)}; "
            'cur=$(basename "$(readlink current)"); '
            'prev=$(ls -1t releases | grep -A1 -x -F "$cur" | sed -n 2p); '
            'test -n "$prev"; '
            'ln -sfn "releases/$prev" current.tmp; mv -T current.tmp current; '
            f"date -u +%FT%TZ >> {q(deploy)}/restarted",
            hide=True,
        ),
    )


if __name__ == "__main__":
    main()
