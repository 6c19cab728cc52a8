#!/usr/bin/env bash
# bench/scan.sh: reading a server key by key (sources that refuse
# replication: managed services, proxies), in one run, every server on a
# free loopback port.
#
# Part 1, the 1 GB data set (bench/lib.sh's dump), loaded at start-up by
# two servers: "src", an ordinary one, and "managed", which has PSYNC,
# SYNC and CONFIG renamed away (as managed services do) and keyspace
# notifications on (as a parameter group would set them):
#   repl:  redkit dump --source-mode replication --from SRC -o FILE       (timed)
#   scan:  redkit dump --from MANAGED -o FILE (falls back to reading keys)  (timed)
#       goals: scan at most 2x repl's time; peak RSS at most 128 MiB; the
#       scanned file, loaded by a fresh server, has the source's DEBUG DIGEST
#   sync:  redkit sync --mode scan --until-caught-up --from MANAGED --to DST
#          into an empty server (when this redkit has the mode)           (timed)
#   RedisShake v4 scan_reader -> redis_writer into another empty server,
#          when BENCH_SHAKE names its binary                               (timed)
#       goal: redkit's dump at least 5x faster (the sync's ratio is shown too)
#
# Part 2, big keys: a "managed" server holding a 1 M-member zset, a
# 1 M-field hash, a 1 M-member set and a 1 M-element list (plus 10,000
# small keys), SLOWLOG at 5 ms. bench/pinger sends PING after PING on its
# own connection while redkit dumps the server:
#   control: --max-dump 64GiB (every key by one DUMP, as a naive reader does)
#   chunked: the default --max-dump
#       goal: no PING reply slower than 50 ms, and no source command in
#       SLOWLOG, in the chunked run
#
# Environment as for bench/run.sh (BENCH_DUMP, BENCH_SIZE_MB, BENCH_SEED,
# BENCH_RUNS) and:
#   BENCH_SHAKE       path of a RedisShake v4 redis-shake binary (else skipped, with why)
#   BENCH_SHAKE_TIMEOUT  seconds before RedisShake is stopped (default 1800)
#   BENCH_BIG_N       members of each big key (default 1000000)
#   BENCH_SKIP_DUMP1  1: skip part 1 (the 1 GB data set)
#   BENCH_SKIP_BIG    1: skip part 2 (the big keys)
# See bench/README.md.
set -euo pipefail
export LC_ALL=C

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRV_LOG_PREFIX=scan
# shellcheck source=bench/servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
trap 'stop_started' EXIT

[[ $HAVE_REDKIT == 1 ]] || die "redkit does not build; see bench/out/redkit-build.log"
BIG_N=${BENCH_BIG_N:-1000000}
SHAKE_TIMEOUT=${BENCH_SHAKE_TIMEOUT:-1800}
MANAGED_ARGS=(--rename-command PSYNC "" --rename-command SYNC "" --rename-command CONFIG "" --notify-keyspace-events KEA)

log "building bench/pinger"
(cd "$ROOT" && go build -o "$OUT/pinger" ./bench/pinger)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo ok; else echo MISSED; fi; }

# load_and_digest FILE: a fresh server loading FILE; prints its DEBUG DIGEST.
load_and_digest() {
	local dir=$OUT/scan-load d
	mkdir -p "$dir"
	ln -sfn "$(realpath "$1")" "$dir/dump.rdb"
	start_server load "$dir" dump.rdb
	wait_loaded load
	d=$(digest_of "${SRV_PORT[load]}")
	stop_server load
	echo "$d"
}

RESULTS=()
if [[ ${BENCH_SKIP_DUMP1:-0} != 1 ]]; then
	warm_up
	start_source
	log "src on $SRC: $SRC_KEYS keys, used_memory $SRC_USED, loaded in $LOAD_SECS s"
	MDIR=$OUT/scan-managed
	mkdir -p "$MDIR"
	ln -sfn "$(realpath "$DUMP")" "$MDIR/dump.rdb"
	start_server managed "$MDIR" dump.rdb "${MANAGED_ARGS[@]}"
	wait_loaded managed
	MGD=${SRV_PORT[managed]}
	SRC_DIGEST=$(digest_of "$SRC")

	measure repl "$OUT/scan-repl.out" "$REDKIT" dump -q --source-mode replication --from "redis://127.0.0.1:$SRC" -o "$OUT/scan-repl.rdb"
	measure scan "$OUT/scan-scan.out" "$REDKIT" dump --from "redis://127.0.0.1:$MGD" -o "$OUT/scan-scan.rdb"
	grep -m1 -i "refuses replication" "$OUT/scan.stderr" >&2 || log "warning: no fallback line from the scan dump"
	stop_server src
	log "loading the scanned file in a fresh server for its digest"
	SCAN_DIGEST=$(load_and_digest "$OUT/scan-scan.rdb")
	DIGEST_OK=MISSED
	[[ $SCAN_DIGEST == "$SRC_DIGEST" ]] && DIGEST_OK=ok
	RESULTS+=("$(printf '%-44s %8s s  %8s MiB RSS  (exit %s)' "dump, replication (ordinary server)" "${SECS[repl]}" "$(mib "${RSS[repl]}")" "${RC[repl]}")")
	RESULTS+=("$(printf '%-44s %8s s  %8s MiB RSS  (exit %s)' "dump, key by key (PSYNC refused)" "${SECS[scan]}" "$(mib "${RSS[scan]}")" "${RC[scan]}")")
	RESULTS+=("$(printf '  scan / replication time: %sx (goal <= 2x) %s' "$(ratio "${SECS[scan]}" "${SECS[repl]}")" "$(verdict "${SECS[scan]} <= 2 * ${SECS[repl]}")")")
	RESULTS+=("$(printf '  scan peak RSS: %s MiB (goal <= 128 MiB) %s' "$(mib "${RSS[scan]}")" "$(verdict "${RSS[scan]} <= 131072")")")
	RESULTS+=("  scanned file's DEBUG DIGEST equals the source's: $DIGEST_OK ($SCAN_DIGEST)")

	if [[ $("$REDKIT" sync --help 2>/dev/null) == *'--mode scan'* ]]; then
		start_server dst "$OUT/scan-dst" dump.rdb
		wait_loaded dst
		measure sync "$OUT/scan-sync.out" "$REDKIT" sync -q --mode scan --until-caught-up --from "redis://127.0.0.1:$MGD" --to "redis://127.0.0.1:${SRV_PORT[dst]}"
		SYNC_DIGEST=$(digest_of "${SRV_PORT[dst]}")
		stop_server dst
		RESULTS+=("$(printf '%-44s %8s s  %8s MiB RSS  (exit %s) digest %s' "sync --mode scan into an empty server" "${SECS[sync]}" "$(mib "${RSS[sync]}")" "${RC[sync]}" "$([[ $SYNC_DIGEST == "$SRC_DIGEST" ]] && echo equal || echo DIFFERENT)")")
	else
		RESULTS+=("sync --mode scan: not in this redkit")
	fi

	if [[ -n ${BENCH_SHAKE:-} ]]; then
		start_server shake "$OUT/scan-shake" dump.rdb
		wait_loaded shake
		cat >"$OUT/scan-shake.toml" <<-EOF
			[scan_reader]
			cluster = false
			address = "127.0.0.1:$MGD"
			ksn = false

			[redis_writer]
			cluster = false
			address = "127.0.0.1:${SRV_PORT[shake]}"

			[advanced]
			dir = "$OUT/scan-shake-data"
			log_level = "warn"
		EOF
		# Its scan reader exits once every key is copied (ksn off); a
		# timeout makes its time a lower bound.
		t0=$EPOCHREALTIME
		/usr/bin/time -v -o "$OUT/scan-shake.time" timeout "$SHAKE_TIMEOUT" "$BENCH_SHAKE" "$OUT/scan-shake.toml" >"$OUT/scan-shake.stdout" 2>&1 || true
		SHAKE_SECS=$(elapsed "$t0" "$EPOCHREALTIME")
		SHAKE_KEYS=$(keys_of "${SRV_PORT[shake]}")
		SHAKE_NOTE=
		[[ $SHAKE_KEYS -lt $(keys_of "$MGD") ]] && SHAKE_NOTE=" (stopped after ${SHAKE_TIMEOUT} s with $SHAKE_KEYS keys: a lower bound)"
		RESULTS+=("$(printf '%-44s %8s s  %8s MiB RSS%s' "RedisShake scan_reader into an empty server" "$SHAKE_SECS" "$(mib "$(time_file_kb "$OUT/scan-shake.time")")" "$SHAKE_NOTE")")
		RESULTS+=("$(printf '  RedisShake / redkit dump (key by key): %sx (goal >= 5x) %s' "$(ratio "$SHAKE_SECS" "${SECS[scan]}")" "$(verdict "$SHAKE_SECS >= 5 * ${SECS[scan]}")")")
		[[ -n ${SECS[sync]:-} ]] && RESULTS+=("  RedisShake / redkit sync --mode scan (both write into a server): $(ratio "$SHAKE_SECS" "${SECS[sync]}")x")
		stop_server shake
	else
		RESULTS+=("RedisShake scan_reader: not measured (BENCH_SHAKE unset; its v4 module is not served by the Go module proxy here, see bench/README.md)")
	fi
	stop_server managed
	rm -f "$OUT/scan-repl.rdb" "$OUT/scan-scan.rdb"
fi

# Part 2: big keys and the source's latency.
if [[ ${BENCH_SKIP_BIG:-0} == 1 ]]; then
	echo
	echo "== bench/scan.sh on $(nproc) cores, load average before: ${LOAD_BEFORE:-n/a}"
	for r in "${RESULTS[@]}"; do echo "$r"; done
	exit 0
fi
log "part 2: a server with four big keys of $BIG_N members each"
start_server big "$OUT/scan-big" dump.rdb "${MANAGED_ARGS[@]}" --slowlog-log-slower-than 5000 --slowlog-max-len 4096
wait_loaded big
BIG=${SRV_PORT[big]}
awk -v n="$BIG_N" 'BEGIN {
	for (i = 0; i < n; i += 1000) {
		z = "ZADD big:zset"; h = "HSET big:hash"; s = "SADD big:set"; l = "RPUSH big:list"
		for (j = i; j < i + 1000 && j < n; j++) {
			z = z " " j * 1.5 " member:" j; h = h " field:" j " value:" j; s = s " member:" j; l = l " element:" j
		}
		print z; print h; print s; print l
	}
	for (i = 0; i < 10000; i++) print "SET small:" i " value:" i
}' | redis-cli -p "$BIG" --pipe >/dev/null
redis-cli -p "$BIG" memory usage big:zset | awk '{ printf "[bench] big:zset MEMORY USAGE %.1f MiB\n", $1 / 1048576 }' >&2
redis-cli -p "$BIG" memory usage big:hash | awk '{ printf "[bench] big:hash MEMORY USAGE %.1f MiB\n", $1 / 1048576 }' >&2

# ping_during NAME ARGS...: redkit dump ARGS with bench/pinger beside it;
# sets PING[NAME] (the pinger's line) and SLOW[NAME] (SLOWLOG's slowest).
declare -A PING SLOW
ping_during() {
	local name=$1 pid
	shift
	redis-cli -p "$BIG" slowlog reset >/dev/null
	"$OUT/pinger" -addr "127.0.0.1:$BIG" >"$OUT/scan-ping-$name.out" 2>&1 &
	pid=$!
	sleep 0.5
	measure "$name" "$OUT/scan-$name.out" "$REDKIT" dump --from "redis://127.0.0.1:$BIG" -o "$OUT/scan-$name.rdb" "$@"
	kill -TERM "$pid"
	wait "$pid" || true
	PING[$name]=$(cat "$OUT/scan-ping-$name.out")
	# SLOWLOG GET as redis-cli prints it to a person: each entry's third
	# element is its duration in microseconds, its fourth the command.
	SLOW[$name]=$(redis-cli --no-raw -p "$BIG" slowlog get 4096 | awk '
		/^ *[0-9]+\) 1\) \(integer\)/ { n++ }
		/^ +3\) \(integer\)/ { d = $NF }
		/^ +4\) 1\) "/ { c = $3; if (d > max) { max = d; cmd = c } }
		END { if (n == 0) print "none"; else printf "%d entries, slowest %.1f ms: %s\n", n, max / 1000, cmd }')
	rm -f "$OUT/scan-$name.rdb"
}
ping_during control --max-dump 64GiB
ping_during chunked

# the figures
echo
echo "== bench/scan.sh on $(nproc) cores, load average before: ${LOAD_BEFORE:-n/a}"
for r in "${RESULTS[@]}"; do echo "$r"; done
for n in control chunked; do
	printf '%-8s dump of the big keys: %s s, %s MiB RSS (exit %s)\n' "$n" "${SECS[$n]}" "$(mib "${RSS[$n]}")" "${RC[$n]}"
	printf '         pings: %s\n' "${PING[$n]}"
	printf '         SLOWLOG (> 5 ms): %s\n' "${SLOW[$n]}"
done
maxms=$(sed -n 's/.*max \([0-9.]*\) ms.*/\1/p' <<<"${PING[chunked]}")
echo "  chunked: slowest PING ${maxms:-?} ms (goal < 50 ms) $(verdict "${maxms:-999} < 50")"
