#!/bin/sh
# After removing or upgrading the redkit package: systemd forgets the unit
# files that are gone.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
