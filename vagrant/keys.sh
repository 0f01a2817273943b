#!/bin/sh
# Make, on this machine, what the lab trusts before any machine boots:
#   .ferry/deploy_ed25519        the key ferry logs in with as `deploy`
#   .ferry/hostkeys/NAME         each machine's sshd host key (installed by provisioning)
#   .ferry/known_hosts           `[127.0.0.1]:PORT KEY` for each machine's forwarded port
# Existing keys are kept; known_hosts is rewritten. Run it in vagrant/.
set -eu
cd "$(dirname "$0")"
mkdir -p .ferry/hostkeys
chmod 700 .ferry
[ -f .ferry/deploy_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C ferry-vagrant-deploy -f .ferry/deploy_ed25519
: > .ferry/known_hosts.tmp
grep -v '^#' machines | while read -r name _octet port; do
  [ -n "$name" ] || continue
  [ -f ".ferry/hostkeys/$name" ] || ssh-keygen -q -t ed25519 -N '' -C "$name" -f ".ferry/hostkeys/$name"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 ".ferry/hostkeys/$name.pub")" >> .ferry/known_hosts.tmp
done
mv .ferry/known_hosts.tmp .ferry/known_hosts
echo "keys.sh: wrote .ferry/deploy_ed25519, .ferry/hostkeys/ and .ferry/known_hosts" >&2
