#!/bin/sh
# An app host: the sample app (the same as the test fleet's: static files
# served from the current release, `health` answering `ok`) as the systemd
# unit `shop`, serving /srv/shop/current on port 8080. ferry deploys into
# /srv/shop (releases/, current, shared/).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq python3 >/dev/null
install -d -m 755 -o deploy -g deploy /srv/shop

cat > /etc/systemd/system/shop.service <<'UNIT'
[Unit]
Description=shop: the sample app ferry deploys (serves /srv/shop/current)
After=network.target

[Service]
User=deploy
# http.server resolves `current` on every request: a switch shows at once.
ExecStart=/usr/bin/python3 -m http.server 8080 --bind 0.0.0.0 --directory /srv/shop/current
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now shop
