#!/bin/sh
# The load balancer: HAProxy in front of the app hosts, with its runtime API
# (`level admin`) on /run/haproxy/admin.sock for the `deploy` user, which
# ferry's haproxy drain provider drives through `via: lb` (socat).
# Arguments: NAME=ADDRESS of each app host (the Vagrantfile computes them).
# FERRY_LAB_CONFIG_ONLY=1 only writes and checks the configuration, to
# FERRY_LAB_HAPROXY_CFG, with the socket's group FERRY_LAB_SOCKET_GROUP (the
# static check in tests/integration/vagrant.rs).
set -eu
cfg=${FERRY_LAB_HAPROXY_CFG:-/etc/haproxy/haproxy.cfg}
socket_group=${FERRY_LAB_SOCKET_GROUP:-deploy}
if [ -z "${FERRY_LAB_CONFIG_ONLY:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq haproxy socat >/dev/null
fi

servers=""
for pair in "$@"; do
  servers="$servers
  server ${pair%%=*} ${pair#*=}:8080 check inter 1s fall 2 rise 1"
done

cat > "$cfg" <<CFG
global
  log /dev/log local0
  user haproxy
  group haproxy
  daemon
  stats socket /run/haproxy/admin.sock mode 660 level admin group $socket_group
  stats timeout 30s

defaults
  log global
  mode http
  option httplog
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend web
  bind *:80
  default_backend app

backend app
  option httpchk GET /health
  http-check expect string ok$servers
CFG
haproxy -c -f "$cfg"
[ -z "${FERRY_LAB_CONFIG_ONLY:-}" ] || exit 0
systemctl enable haproxy
systemctl restart haproxy
