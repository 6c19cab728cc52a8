#!/usr/bin/env bash
# Builds the deb and rpm packages with goreleaser (a snapshot: nothing is
# published), installs the .deb, checks what it put where, verifies the
# systemd units, runs the backup unit's command lines by hand (as the
# redkit user, with an env file pointing at a redis-server this script
# starts on a free port and a file:// storage in a temporary directory),
# then removes the package. Not part of scripts/test.sh: it needs root,
# dpkg, redis-server and goreleaser, and takes a few minutes.
#
#   GOBIN=$PWD/.tools/bin go install github.com/goreleaser/goreleaser/v2@v2.15.1
#   sudo scripts/package-test.sh
#
# GORELEASER names another goreleaser; PACKAGE_TEST_SKIP_BUILD=1 reuses
# the packages already in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
	echo "package-test.sh installs the .deb with dpkg -i and runs as the redkit user: it needs root." >&2
	echo "Run it as root on a machine or container you can throw away (sudo scripts/package-test.sh)." >&2
	exit 2
fi
for tool in dpkg dpkg-deb redis-server redis-cli setpriv; do
	command -v "$tool" >/dev/null || { echo "package-test.sh: $tool not found" >&2; exit 2; }
done
GORELEASER=${GORELEASER:-$PWD/.tools/bin/goreleaser}
if [[ ! -x $GORELEASER ]]; then
	echo "package-test.sh: no goreleaser at $GORELEASER; install it:" >&2
	echo "  GOBIN=\$PWD/.tools/bin go install github.com/goreleaser/goreleaser/v2@v2.15.1" >&2
	exit 2
fi

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/redkit-package-test.XXXXXX)
chmod 0755 "$tmp"
redis_pid=
installed=
user_before=$(getent passwd redkit || true)
cleanup() {
	set +e
	[[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	rm -f /etc/redkit/package-test.env
	if [[ -n $installed ]]; then dpkg --purge redkit >/dev/null 2>&1; fi
	rmdir /etc/redkit 2>/dev/null
	if [[ -z $user_before ]] && getent passwd redkit >/dev/null; then
		userdel redkit 2>/dev/null
		getent group redkit >/dev/null && groupdel redkit 2>/dev/null
		rmdir /var/backups/redkit 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

step "goreleaser check"
"$GORELEASER" check

if [[ ${PACKAGE_TEST_SKIP_BUILD:-} != 1 ]]; then
	step "goreleaser release --snapshot --clean (all archives, deb and rpm; nothing published)"
	"$GORELEASER" release --snapshot --clean
fi
deb=$(ls dist/redkit_*_amd64.deb 2>/dev/null | head -1)
rpm=$(ls dist/redkit-*.x86_64.rpm 2>/dev/null | head -1)
[[ -f $deb ]] || fail "no dist/redkit_*_amd64.deb"
[[ -f $rpm ]] || fail "no dist/redkit-*.x86_64.rpm"
ls -l "$deb" "$rpm"

step "contents of $deb"
contents=$(dpkg-deb -c "$deb")
for want in ./usr/bin/redkit \
	./usr/share/bash-completion/completions/redkit \
	./usr/share/zsh/vendor-completions/_redkit \
	./usr/share/fish/vendor_completions.d/redkit.fish \
	./usr/share/man/man1/redkit.1.gz \
	./usr/share/man/man1/redkit-backup.1.gz \
	./usr/share/man/man1/redkit-backup-prune.1.gz \
	./usr/lib/systemd/system/redkit-backup@.service \
	./usr/lib/systemd/system/redkit-backup@.timer \
	./usr/lib/systemd/system/redkit-continuous@.service \
	./usr/lib/systemd/system/redkit-sync@.service \
	./usr/lib/sysusers.d/redkit.conf \
	./usr/lib/tmpfiles.d/redkit.conf \
	./etc/redkit/example.env; do
	grep -q " $want\$" <<<"$contents" || fail "$deb lacks $want"
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/redkit/example.env || fail "example.env is not a conffile"
echo "all expected files present; /etc/redkit/example.env is a conffile"
if command -v rpm >/dev/null; then
	step "contents of $rpm"
	rpm -qlp "$rpm" | grep -qx /usr/lib/systemd/system/redkit-backup@.service || fail "$rpm lacks the units"
	rpm -qlp "$rpm" | grep -qx /usr/share/zsh/site-functions/_redkit || fail "$rpm lacks zsh's completion"
	rpm -qcp "$rpm" | grep -qx /etc/redkit/example.env || fail "example.env is not an rpm config file"
	echo "rpm contents as expected"
fi

step "dpkg -i $deb"
if dpkg -s redkit >/dev/null 2>&1; then
	fail "a redkit package is installed already: remove it first (dpkg -r redkit)"
fi
dpkg -i "$deb"
installed=1
/usr/bin/redkit --version
getent passwd redkit || fail "no redkit user after installing"
[[ $(stat -c '%U %a' /var/backups/redkit) == "redkit 750" ]] || fail "/var/backups/redkit: $(stat -c '%U %a' /var/backups/redkit)"
[[ $(stat -c '%a' /etc/redkit/example.env) == 600 ]] || fail "example.env mode $(stat -c '%a' /etc/redkit/example.env)"
if command -v man >/dev/null; then
	man -w redkit redkit-backup redkit-backup-prune
	MANWIDTH=80 man redkit-backup-prune 2>/dev/null | head -4
fi
bash -c 'source /usr/share/bash-completion/completions/redkit; COMP_LINE="redkit backup "; COMP_POINT=${#COMP_LINE}; _redkit_complete; echo "bash: redkit backup <TAB> -> ${COMPREPLY[*]}"'

step "systemd-analyze verify (installed units)"
units=(/usr/lib/systemd/system/redkit-backup@.service /usr/lib/systemd/system/redkit-backup@.timer
	/usr/lib/systemd/system/redkit-continuous@.service /usr/lib/systemd/system/redkit-sync@.service)
out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify warns: $out"
echo "4 units verified, no warnings"

step "the backup unit's command lines, by hand, as the redkit user"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$tmp/redis" "$tmp/storage"
chown redkit:redkit "$tmp/storage"
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp/redis" --save '' --appendonly no \
	--repl-diskless-sync-delay 0 --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$port" ping >/dev/null || fail "redis-server did not start: $(cat "$tmp/redis.log")"
redis-cli -p "$port" mset a 1 b 2 c 3 >/dev/null
{
	echo "REDKIT_FROM_URL=redis://127.0.0.1:$port"
	echo "REDKIT_STORAGE=file://$tmp/storage"
	echo 'REDKIT_PRUNE_FLAGS="--keep-last 1"'
} >/etc/redkit/package-test.env
chmod 0600 /etc/redkit/package-test.env

# rununit UNIT INSTANCE: each ExecStart= of UNIT with %i, ${VAR} (one word)
# and $VAR (split at whitespace) expanded as systemd does, with the
# unit's Environment= and EnvironmentFile= read, as its User=.
rununit() {
	local unit=$1 instance=$2 line cmd w name
	local -a words argv
	(
		set -a
		while IFS= read -r line; do
			[[ $line == Environment=* ]] && eval "${line#Environment=}"
		done < <(sed "s/%i/$instance/g" "/usr/lib/systemd/system/$unit")
		# shellcheck disable=SC1090
		. "/etc/redkit/$instance.env"
		set +a
		while IFS= read -r cmd; do
			read -r -a words <<<"$cmd"
			argv=()
			for w in "${words[@]}"; do
				if [[ $w =~ ^\$\{([A-Z0-9_]+)\}$ ]]; then
					name=${BASH_REMATCH[1]}
					argv+=("${!name:-}")
				elif [[ $w =~ ^\$([A-Z0-9_]+)$ ]]; then
					name=${BASH_REMATCH[1]}
					read -r -a split <<<"${!name:-}"
					argv+=("${split[@]}")
				else
					argv+=("$w")
				fi
			done
			echo "+ ${argv[*]}"
			setpriv --reuid=redkit --regid=redkit --init-groups "${argv[@]}"
		done < <(sed -n "s/%i/$instance/g; s/^ExecStart=//p" "/usr/lib/systemd/system/$unit")
	)
}
rununit redkit-backup@.service package-test
redis-cli -p "$port" set d 4 >/dev/null
sleep 1 # backup ids carry the second
rununit redkit-backup@.service package-test

step "what the storage holds"
list=$(/usr/bin/redkit backup list --format json "file://$tmp/storage")
read -r n keys < <(python3 -c 'import json, sys; b = json.load(sys.stdin); print(len(b), sum(b[-1]["keys"].values()) if b else 0)' <<<"$list")
echo "backups: $n; keys in the newest: $keys"
[[ $n == 1 ]] || fail "after two backups, each followed by prune --keep-last 1: $n backups, want 1"
[[ $keys == 4 ]] || fail "the backup kept has $keys keys, want 4 (the newest)"
owner=$(stat -c %U "$tmp/storage"/* | sort -u | tr '\n' ' ')
echo "storage files owned by: $owner"
[[ $owner == "redkit " ]] || fail "storage files owned by $owner, want redkit"

step "dpkg -r redkit"
rm -f /etc/redkit/package-test.env
dpkg -r redkit
[[ ! -e /usr/bin/redkit ]] || fail "/usr/bin/redkit still there after dpkg -r"
[[ ! -e /usr/lib/systemd/system/redkit-backup@.service ]] || fail "units still there after dpkg -r"
[[ -e /etc/redkit/example.env ]] || fail "dpkg -r removed the conffile (only --purge should)"
dpkg --purge redkit >/dev/null
installed=
[[ ! -e /etc/redkit ]] || fail "/etc/redkit still there after dpkg --purge: $(ls -A /etc/redkit)"
echo "removed; purged (/etc/redkit gone)"

echo
echo "package-test: PASS ($deb, $rpm)"
