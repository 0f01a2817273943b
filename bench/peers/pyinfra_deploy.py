"""The benchmark workload as a pyinfra deploy file.

Run by bench/run.sh as `pyinfra INVENTORY.py pyinfra_deploy.py --parallel N -y`
with BENCH_DEPLOY_DIR, BENCH_ARTIFACT, BENCH_RELEASE_ID and BENCH_KEEP set.
"""
import os
import shlex

from pyinfra.operations import files, server

D = os.environ["BENCH_DEPLOY_DIR"]
ART = os.environ["BENCH_ARTIFACT"]
RID = os.environ["BENCH_RELEASE_ID"]
KEEP = int(os.environ.get("BENCH_KEEP", "5"))
q = shlex.quote
REL = f"{D}/releases/{RID}"
UPLOAD = f"{D}/.upload-{RID}.tar.gz"

files.directory(name="release dir", path=REL)
files.put(name="upload the artifact", src=ART, dest=UPLOAD)
server.shell(
    name="extract, switch, health, prune",
    commands=[
        f"tar -xzf {q(UPLOAD)} -C {q(REL)} && rm -f {q(UPLOAD)}",
        f"cd {q(D)} && ln -sfn {q('releases/' + RID)} current.tmp && mv -T current.tmp current",
        f"test -f {q(D)}/current/blob.bin",
        f"cd {q(D)}/releases && ls -1t | tail -n +{KEEP + 1} | xargs -r rm -rf",
    ],
)
