#!/usr/bin/env bash
# The test command of redkit, used by developers and by CI (.ci/run).
#
#   ./scripts/test.sh                      # gofmt, go vet and go test ./...
#   ./scripts/test.sh -run Foo ./rdb/      # only ./rdb/, only tests matching Foo
#   ./scripts/test.sh -race -v             # extra go test flags, all packages
#   ./scripts/test.sh ./rdb/ -update       # unknown flags after the packages go to the tests
#
# It installs redis-server and redis-tools with apt-get when redis-server is
# missing (Debian/Ubuntu; with sudo when not root), valkey-server from
# bookworm-backports on Debian bookworm, chromium (for the status page's
# tests; they skip if it cannot be installed), and the S3 server
# versitygw with go install into .tools/bin when missing, checks formatting with
# gofmt -l over the whole repository, runs go vet on the packages under test,
# and runs go test -count=1 -timeout=30m with the arguments given. Package paths are
# relative to the repository root. When no package is given, ./... is tested.
#
# REDKIT_REQUIRE_REDIS=1 and REDKIT_REQUIRE_S3=1 are set so that tests
# needing redis-server or versitygw fail instead of skipping. Exit status:
# 0 when every step passed, else the first failing step's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# Go from the official tarball is often not on PATH in fresh shells.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null 2>&1 || die "go not found on PATH: install Go (see go.mod for the version)"

install_redis() {
	if command -v redis-server >/dev/null 2>&1; then
		return 0
	fi
	step "redis-server not found: installing redis-server and redis-tools with apt-get"
	command -v apt-get >/dev/null 2>&1 ||
		die "redis-server not found and apt-get not available: install redis-server 7 (e.g. 'brew install redis') and retry"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "redis-server not found; run as root or install sudo to let this script apt-get install it"
		sudo=(sudo)
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server redis-tools
	command -v redis-server >/dev/null 2>&1 || die "redis-server still not on PATH after apt-get install"
}

# Valkey 8 (valkey-server, BSD-3-Clause), a source that writes RDB 11 and
# its own replication stream, comes from Debian's bookworm-backports: on
# Debian bookworm it is installed from there (the suite added to apt's
# sources if missing), and the Valkey tests are then required; elsewhere
# they skip, saying why.
install_valkey() {
	if command -v valkey-server >/dev/null 2>&1; then
		export REDKIT_REQUIRE_VALKEY=1
		return 0
	fi
	if ! command -v apt-get >/dev/null 2>&1 || ! grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
		step "valkey-server not found and this is not Debian bookworm: the Valkey tests will skip"
		return 0
	fi
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			step "valkey-server not found and no sudo: the Valkey tests will skip"
			return 0
		fi
		sudo=(sudo)
	fi
	step "valkey-server not found: installing it with apt-get from bookworm-backports"
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "deb http://deb.debian.org/debian bookworm-backports main" | "${sudo[@]}" tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
	fi
	# Not fatal: without it only the Valkey tests skip.
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t bookworm-backports valkey-server ||
		! command -v valkey-server >/dev/null 2>&1; then
		step "could not install valkey-server from bookworm-backports: the Valkey tests will skip"
		return 0
	fi
	export REDKIT_REQUIRE_VALKEY=1
}

# Chromium (Debian's chromium package), the headless browser the status
# page's tests load --status-addr's page in, installed with apt-get when
# missing; then those tests are required (REDKIT_REQUIRE_CHROMIUM=1).
# Not fatal when it cannot be installed: only those tests skip, saying
# why (unless REDKIT_REQUIRE_CHROMIUM=1 was set by the caller).
install_chromium() {
	local c
	for c in chromium chromium-browser google-chrome; do
		if command -v "$c" >/dev/null 2>&1; then
			export REDKIT_REQUIRE_CHROMIUM=1
			return 0
		fi
	done
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			step "chromium not found and no sudo: the status page tests will skip"
			return 0
		fi
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		step "chromium not found and apt-get not available: the status page tests will skip"
		return 0
	fi
	step "chromium not found: installing it with apt-get"
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium ||
		! command -v chromium >/dev/null 2>&1; then
		step "could not install chromium: the status page tests will skip"
		return 0
	fi
	export REDKIT_REQUIRE_CHROMIUM=1
}

# versitygw (Apache-2.0), the S3-compatible server the storage tests run
# against, installed once into the git-ignored .tools/bin (about 4 minutes
# cold on 2 cores, then reused). REDKIT_VERSITYGW or a versitygw on PATH
# is used instead when there is one.
VERSITYGW_VERSION=v1.8.0
install_versitygw() {
	if [ -n "${REDKIT_VERSITYGW:-}" ] || command -v versitygw >/dev/null 2>&1; then
		return 0
	fi
	if [ -x .tools/bin/versitygw ]; then
		return 0
	fi
	step "versitygw not found: go install github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION into .tools/bin (about 4 minutes, once)"
	GOBIN="$PWD/.tools/bin" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" ||
		die "could not install versitygw: the storage tests need it (or set REDKIT_VERSITYGW to a versitygw binary)"
}

# Split the arguments the way go test does, to find the packages: flags
# that take a separate value consume the next argument; the first unknown
# flag (or -args, or --) ends the package list.
pkgs=()
tags=()
args=("$@")
i=0
while [ "$i" -lt "${#args[@]}" ]; do
	a=${args[$i]}
	case $a in
	-args | --args | --) break ;;
	-*)
		name=${a#-}
		name=${name#-}
		name=${name#test.}
		value_in_arg=false
		case $name in *=*)
			value_in_arg=true
			name=${name%%=*}
			;;
		esac
		case $name in
		run | skip | bench | benchtime | count | cpu | parallel | timeout | shuffle | list | \
			fuzz | fuzztime | fuzzminimizetime | coverprofile | covermode | coverpkg | \
			cpuprofile | memprofile | memprofilerate | blockprofile | blockprofilerate | \
			mutexprofile | mutexprofilefraction | outputdir | trace | vet | exec | o | p | \
			tags | ldflags | gcflags | asmflags | gccgoflags | mod | modfile | overlay | \
			pkgdir | pgo | toolexec | installsuffix | compiler | buildmode)
			if [ "$name" = tags ]; then
				if $value_in_arg; then tags=("$a"); else tags=("$a" "${args[$((i + 1))]:-}"); fi
			fi
			$value_in_arg || i=$((i + 1))
			;;
		v | short | failfast | json | benchmem | cover | fullpath | race | msan | asan | \
			a | n | x | work | trimpath | linkshared | modcacherw | buildvcs)
			;;
		*) break ;; # unknown to go test: passed to the test binaries, ends the packages
		esac
		;;
	*) pkgs+=("$a") ;;
	esac
	i=$((i + 1))
done

test_args=(-count=1)
# cmd/redkit's end-to-end tests start hundreds of servers: on a busy
# 2-core machine the package takes over go test's default 10 minutes.
# A -timeout given on the command line comes later and wins.
test_args+=(-timeout=30m)
if [ "${#pkgs[@]}" -eq 0 ]; then
	pkgs=(./...)
	# Packages first: go test accepts flags after them, and an unknown flag
	# before them would end the package list.
	test_args+=(./...)
fi
test_args+=("$@")

install_redis
export REDKIT_REQUIRE_REDIS=1
install_valkey
install_versitygw
export REDKIT_REQUIRE_S3=1
install_chromium

step "gofmt -l (tracked and new Go files; git-ignored folders such as bench/out left out)"
unformatted=$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l) || die "gofmt failed"
if [ -n "$unformatted" ]; then
	printf '%s\n' "$unformatted" >&2
	die "the files above are not gofmt-formatted: run gofmt -w on them"
fi

vet_args=("${tags[@]}" "${pkgs[@]}")
step "go vet ${vet_args[*]}"
go vet "${vet_args[@]}"

step "go test ${test_args[*]}"
go test "${test_args[@]}"
