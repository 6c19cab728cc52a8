#!/bin/sh
# After installing or upgrading the redkit package (deb and rpm): the redkit
# user the systemd units run as, and /var/backups/redkit, which they may
# write. Idempotent.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/redkit.conf
elif ! getent passwd redkit >/dev/null 2>&1; then
	nologin=$(command -v nologin || echo /bin/false)
	useradd --system --user-group --home-dir /var/lib/redkit --no-create-home --shell "$nologin" redkit
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/redkit.conf
else
	install -d -o redkit -g redkit -m 0750 /var/backups/redkit
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
