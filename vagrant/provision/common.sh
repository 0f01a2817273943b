#!/bin/sh
# Every machine: the `deploy` user ferry logs in as (the key keys.sh made,
# passwordless sudo: a throwaway lab), and the host key keys.sh made, so
# that the controller's vagrant/.ferry/known_hosts is right from the start.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq curl sudo >/dev/null

id deploy >/dev/null 2>&1 || useradd --create-home --shell /bin/bash deploy
install -d -m 700 -o deploy -g deploy /home/deploy/.ssh
install -m 600 -o deploy -g deploy /tmp/ferry/deploy_ed25519.pub /home/deploy/.ssh/authorized_keys
echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deploy
chmod 440 /etc/sudoers.d/deploy

install -m 600 -o root -g root /tmp/ferry/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
install -m 644 -o root -g root /tmp/ferry/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
# Offer only this key, the one known_hosts lists.
echo 'HostKey /etc/ssh/ssh_host_ed25519_key' > /etc/ssh/sshd_config.d/ferry.conf
rm -rf /tmp/ferry
systemctl restart ssh
