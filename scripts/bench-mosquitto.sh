#!/bin/sh
# Makes sure Debian's mosquitto broker is installed for `make bench-broker`.
# Installing the package enables a mosquitto service on port 1883, the
# port `make run` gives hearthd: when this script installs it, it stops
# and disables that service (the bench starts its own mosquitto).
set -eu
if dpkg-query -W -f='${Status}' mosquitto 2>/dev/null | grep -q "install ok installed"; then
	exit 0
fi
sh "$(dirname "$0")/deps.sh" mosquitto
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	echo "stopping and disabling the mosquitto service: port 1883 is hearthd's under make run"
	systemctl disable --now mosquitto.service
elif [ -x /etc/init.d/mosquitto ]; then
	echo "stopping and disabling the mosquitto service: port 1883 is hearthd's under make run"
	/etc/init.d/mosquitto stop || true
	update-rc.d mosquitto disable >/dev/null 2>&1 || true
fi
