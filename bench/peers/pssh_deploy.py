"""The benchmark workload with parallel-ssh's ParallelSSHClient (libssh2,
gevent; all hosts at once): an SFTP upload (copy_file) into the host's home,
then one run_command for the rest.

usage: pssh_deploy.py HOSTS_TSV KEY KNOWN_HOSTS DEPLOY_DIR ARTIFACT RELEASE_ID KEEP

parallel-ssh has no host key checking of its own; here every session's key
is checked against KNOWN_HOSTS right after the handshake (libssh2's
knownhost API, `[addr]:port` entries), and a host not found or with another
key fails before authentication.
"""
import shlex
import sys

from gevent import joinall
from pssh.clients import ParallelSSHClient
from pssh.clients.native import single
from ssh2 import knownhost, session

KEY_TYPES = {
    session.LIBSSH2_HOSTKEY_TYPE_ED25519: knownhost.LIBSSH2_KNOWNHOST_KEY_ED25519,
    session.LIBSSH2_HOSTKEY_TYPE_RSA: knownhost.LIBSSH2_KNOWNHOST_KEY_SSHRSA,
    session.LIBSSH2_HOSTKEY_TYPE_ECDSA_256: knownhost.LIBSSH2_KNOWNHOST_KEY_ECDSA_256,
}


def strict_host_keys(known_hosts):
    """Check every new session's host key against KNOWN_HOSTS (raises)."""
    handshake = single.SSHClient._init_session

    def checked(self, retries=1):
        handshake(self, retries)
        key, kind = self.session.hostkey()
        kh = self.session.knownhost_init()
        kh.readfile(known_hosts)
        mask = (knownhost.LIBSSH2_KNOWNHOST_TYPE_PLAIN | knownhost.LIBSSH2_KNOWNHOST_KEYENC_RAW
                | KEY_TYPES.get(kind, knownhost.LIBSSH2_KNOWNHOST_KEY_UNKNOWN))
        kh.checkp(self.host.encode(), self.port, key, mask)  # raises unless it matches

    single.SSHClient._init_session = checked


def main():
    hosts_tsv, key, known_hosts, deploy, artifact, rid, keep = sys.argv[1:8]
    keep = int(keep)
    q = shlex.quote
    hosts = [l.split() for l in open(hosts_tsv) if l.strip()]
    ports = {int(p) for _n, _a, p in hosts}
    assert len(ports) == 1, "one port for every host"
    strict_host_keys(known_hosts)
    client = ParallelSSHClient(
        [addr for _n, addr, _p in hosts], user="root", port=ports.pop(), pkey=key,
        allow_agent=False, identity_auth=False, pool_size=len(hosts), timeout=60, num_retries=1,
    )
    upload = f"ferry-bench-upload-{rid}.tar.gz"
    joinall(client.copy_file(artifact, upload), raise_error=True)
    rel = f"{deploy}/releases/{rid}"
    output = client.run_command(
        f"set -e; mkdir -p {q(rel)}; tar -xzf ~/{q(upload)} -C {q(rel)}; rm -f ~/{q(upload)}; "
        f"cd {q(deploy)}; ln -sfn {q('releases/' + rid)} current.tmp; mv -T current.tmp current; "
        f"test -f {q(deploy)}/current/blob.bin; "
        f"cd releases && ls -1t | tail -n +{keep + 1} | xargs -r rm -rf",
        stop_on_errors=True,
    )
    client.join(output, consume_output=True)
    failed = [o for o in output if o.exit_code != 0 or o.exception]
    for o in failed:
        print(f"{o.host}: exit {o.exit_code} {o.exception!r}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
