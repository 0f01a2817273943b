#!/usr/bin/env bash
# The README demo: start a local fleet of real OpenSSH sshd hosts on
# 127.0.x.y, run a playbook with a command, an upload and a template on
# them with ferry, show the result, and stop the fleet.
#   demo/run.sh [HOSTS]     (default 8)
# Then it deploys two releases with `ferry deploy`, rolls back, promotes,
# and ends with what a deploy is on one host: its releases/, `current ->`
# and its history (`ferry history -l h1`).
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-8}
work=target/demo

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! need sshd || ! need ssh-keygen; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "demo: installing openssh-server" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
  else
    echo "demo: missing sshd/ssh-keygen: install the openssh-server package (apt-get install -y openssh-server)" >&2
    exit 1
  fi
fi
need cargo || { echo "demo: missing cargo (a Rust toolchain, https://rustup.rs)" >&2; exit 1; }

cargo build --release --quiet --bin ferry --example fleet
# Where cargo put them: `target/`, or $CARGO_TARGET_DIR when it is set.
bin=$(realpath "${CARGO_TARGET_DIR:-target}")/release
ferry=$bin/ferry
fleet=$bin/examples/fleet

"$fleet" down --dir "$work/fleet" >/dev/null 2>&1 || true
"$fleet" down --dir "$work/prod" >/dev/null 2>&1 || true
rm -rf "$work"
mkdir -p "$work"
trap '"$fleet" down --dir "$work/fleet" >/dev/null 2>&1 || true; "$fleet" down --dir "$work/prod" >/dev/null 2>&1 || true' EXIT
inventory=$("$fleet" up --hosts "$hosts" --dir "$work/fleet" --inventory "$work/demo.yml")
echo "demo: $hosts sshd hosts up; inventory $inventory" >&2

echo "== ferry check demo" >&2
"$ferry" check demo -i "$inventory" demo | head -6   # the plan of h1; the others alike
echo "== ferry run demo (playbooks/demo.yml)" >&2
"$ferry" run demo -i "$inventory" demo -e release=demo-2
echo "== ferry run --cmd (ad hoc)" >&2
"$ferry" run demo -i "$inventory" --cmd 'cat {{ deploy_to }}/shared/app.env | grep RELEASE' --limit 'h1,h2'

echo "== two releases: ferry deploy r1, ferry deploy r2" >&2
for r in 1 2; do
  mkdir -p "$work/app-$r"
  echo "<h1>shop release $r</h1>" > "$work/app-$r/index.html"
  echo ok > "$work/app-$r/health"
  tar -czf "$work/shop-$r.tar.gz" -C "$work/app-$r" .
done
"$ferry" deploy demo -i "$inventory" --artifact "$work/shop-1.tar.gz" --release r1
"$ferry" deploy demo -i "$inventory" --artifact "$work/shop-2.tar.gz" --release r2 --canary 1 --batch 25% --plan | grep -E '^(release|staging|batch)'   # the batches; --plan also prints every step
echo "== rolling deploy of r2: a canary, then batches of 25%, health checked between batches" >&2
"$ferry" deploy demo -i "$inventory" --artifact "$work/shop-2.tar.gz" --release r2 --canary 1 --batch 25% --report "$work/timeline.html"
echo "demo: the rollout's timeline (docs/timeline.png is this page for 20 hosts): $work/timeline.html" >&2
echo "== deploying r2 again converges: every host is skipped" >&2
"$ferry" deploy demo -i "$inventory" --artifact "$work/shop-2.tar.gz" --release r2
"$ferry" status demo -i "$inventory"
echo "== ferry rollback (emergency: every host back to its previous release)" >&2
"$ferry" rollback demo -i "$inventory"
"$ferry" status demo -i "$inventory"

echo "== a bad release (its health check fails): the canary fails, is rolled back, nothing else changes" >&2
mkdir -p "$work/app-bad" && echo "<h1>broken</h1>" > "$work/app-bad/index.html"
tar -czf "$work/shop-bad.tar.gz" -C "$work/app-bad" .
set +e
"$ferry" deploy demo -i "$inventory" --artifact "$work/shop-bad.tar.gz" --release bad --canary 1 --batch 25%
echo "demo: ferry deploy exited $? (1: the rollout failed and every host is back on its previous release)" >&2
set -e
"$ferry" status demo -i "$inventory"

echo "== ferry promote: what runs, uniform and healthy, in the local 'staging' fleet goes to a 4-host 'production' fleet" >&2
mkdir -p "$work/inventories"
cp "$inventory" "$work/inventories/staging.yml"
"$fleet" up --hosts 4 --dir "$work/prod" --inventory "$work/inventories/production.yml" >/dev/null
cp -r playbooks "$work/"
rm -f "$work/shop-"*.tar.gz   # a fresh controller: the artifact must come from a staging host
(cd "$work" && FERRY_CACHE="$PWD/cache" "$ferry" promote staging production --canary 1 --batch 50% --output json > events.jsonl)
echo "== the JSON event stream of that run (abridged): $work/events.jsonl" >&2
grep -E '"event":"(batch_started|host_result|run_finished)"' "$work/events.jsonl"
(cd "$work" && "$ferry" status production)

echo "== what a deploy is, on h1: one folder per release, \`current\` a symlink to one of them, and the host's own history" >&2
"$ferry" run demo -i "$inventory" -l h1 --cmd 'cd {{ deploy_to | quote }} && ls -1d releases/* && echo "current -> $(readlink current)"'
"$ferry" history demo -i "$inventory" -l h1
