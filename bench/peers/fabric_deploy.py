"""The benchmark workload with Fabric's ThreadingGroup (all hosts at once).

usage: fabric_deploy.py HOSTS_TSV KEY KNOWN_HOSTS DEPLOY_DIR ARTIFACT RELEASE_ID KEEP
Host keys are checked against KNOWN_HOSTS (paramiko RejectPolicy).
"""
import shlex
import sys

from fabric import ThreadingGroup
from fabric.exceptions import GroupException
from paramiko import RejectPolicy


def connect(hosts_tsv, key, known_hosts):
    """A ThreadingGroup over every host in HOSTS_TSV, strict host-key checking."""
    hosts = [l.split() for l in open(hosts_tsv) if l.strip()]
    group = ThreadingGroup(
        *[f"root@{addr}:{port}" for _name, addr, port in hosts],
        connect_timeout=60,
        connect_kwargs={"key_filename": key, "look_for_keys": False, "allow_agent": False},
    )
    for c in group:
        c.client.set_missing_host_key_policy(RejectPolicy())
        c.client.load_host_keys(known_hosts)
    return group


def on_every_host(hosts_tsv, key, known_hosts, work):
    """work(group) over all hosts at once; any host's failure exits 1 naming it."""
    group = connect(hosts_tsv, key, known_hosts)
    try:
        work(group)
    except GroupException as e:
        for conn, res in e.result.items():
            if isinstance(res, Exception):
                print(f"{conn.host}: {res!r}", file=sys.stderr)
        sys.exit(1)
    finally:
        group.close()


def main():
    hosts_tsv, key, known_hosts, deploy, artifact, rid, keep = sys.argv[1:8]
    keep = int(keep)
    q = shlex.quote
    rel = f"{deploy}/releases/{rid}"
    upload = f"{deploy}/.upload-{rid}.tar.gz"

    def work(group):
        group.run(f"mkdir -p {q(rel)}", hide=True)
        group.put(artifact, upload)
        group.run(
            f"set -e; tar -xzf {q(upload)} -C {q(rel)}; rm -f {q(upload)}; cd {q(deploy)}; "
            f"ln -sfn {q('releases/' + rid)} current.tmp; mv -T current.tmp current; "
            f"test -f {q(deploy)}/current/blob.bin; "
            f"cd releases && ls -1t | tail -n +{keep + 1} | xargs -r rm -rf",
            hide=True,
        )

    on_every_host(hosts_tsv, key, known_hosts, work)


if __name__ == "__main__":
    main()
