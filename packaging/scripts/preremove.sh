#!/bin/sh
# Before removing the redkit package (not on upgrade): stop every running
# instance of its units. The redkit user, /var/lib/redkit and
# /var/backups/redkit stay: they hold backups.
set -e
case "$1" in
remove | purge | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl stop 'redkit-backup@*.timer' 'redkit-backup@*.service' 'redkit-continuous@*.service' 'redkit-sync@*.service' || true
fi
exit 0
