#!/usr/bin/env bash
# bench/restore.sh: how fast a dump gets into a live redis-server, in one run.
#
#   redkit restore --to URL DUMP                       (RESTORE payloads, pipelined)
#   (a) HDT3213/rdb `rdb -c aof` piped into `redis-cli --pipe`
#   (b) the server's ingest ceiling: redis-benchmark -P 64 -t set, in bytes/s
#   (c) the server loading the same dump from its own disk at start-up
#   librdb `rdb-cli DUMP redis -r -l 512` when BENCH_LIBRDB is set
#
# Every run writes into a new, empty redis-server (save "", appendonly no) on
# a free loopback port, which is stopped afterwards. The target's DEBUG DIGEST
# after redkit's restore is compared with the one of the server that loaded
# the dump itself. Goals: redkit at least 2x (a), at most 1.5x the time of (c),
# peak RSS at most 64 MiB plus the largest payload. Environment as for
# bench/run.sh (BENCH_DUMP, BENCH_SIZE_MB, BENCH_SEED, BENCH_RUNS, HDT_VERSION,
# BENCH_LIBRDB); see bench/README.md.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $HAVE_REDKIT == 1 ]] || die "redkit does not build: nothing to measure"
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (Debian: apt-get install redis-tools)"

# start_target [DIR DBFILENAME]: a new redis-server on a free port, empty
# unless a dump is given; sets PORT and REDIS_PID. It does not wait.
start_target() {
	local dir=${1:-$OUT/target} file=${2:-none.rdb}
	mkdir -p "$OUT/target"
	PORT=$(free_port) || die "no free port"
	redis-server --port "$PORT" --bind 127.0.0.1 --dir "$dir" --dbfilename "$file" \
		--save '' --appendonly no --protected-mode no --daemonize no \
		--enable-debug-command local --logfile "$OUT/target.log" &
	REDIS_PID=$!
}

# wait_ready: until the target answers PING (not LOADING).
wait_ready() {
	for _ in $(seq 1 6000); do
		[[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && return 0
		kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited; see $OUT/target.log"
		sleep 0.01
	done
	die "redis-server on $PORT never answered"
}

stop_target() {
	redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=
}

warm_up

# (c) the server's own loader: time from exec to the first PONG.
rm -f "$OUT/target/none.rdb"
log "(c) redis-server loading $DUMP at start-up"
t0=$(date +%s.%N)
start_target "$(cd "$(dirname "$DUMP")" && pwd)" "$(basename "$DUMP")"
wait_ready
t1=$(date +%s.%N)
LOAD_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
WANT_DIGEST=$(redis-cli -p "$PORT" debug digest)
KEYS=$(redis-cli -p "$PORT" info keyspace | awk -F'[=,:]' '/^db/ {n += $3} END {print n}')
USED=$(redis-cli -p "$PORT" info memory | awk -F: '/^used_memory:/ {print $2+0}')
stop_target
log "(c) loaded in $LOAD_SECS s: $KEYS keys, digest $WANT_DIGEST"

# redkit restore into an empty server.
RESTORE_CMD=("$REDKIT" restore -q)
for ((i = 1; i <= RUNS; i++)); do
	start_target
	wait_ready
	log "run $i/$RUNS: redkit restore --to redis://127.0.0.1:$PORT $DUMP"
	NAMES+=(redkit-restore)
	rc=0
	/usr/bin/time -v -o "$OUT/redkit-restore.time" "${RESTORE_CMD[@]}" --to "redis://127.0.0.1:$PORT" "$DUMP" >/dev/null 2>"$OUT/redkit-restore.stderr" || rc=$?
	GOT_DIGEST=$(redis-cli -p "$PORT" debug digest)
	stop_target
	s=$(awk '/Elapsed \(wall clock\)/ { t = $NF; n = split(t, p, ":"); v = 0; for (j = 1; j <= n; j++) v = v * 60 + p[j]; print v }' "$OUT/redkit-restore.time")
	if [[ -z ${SECS[redkit-restore]:-} ]] || awk -v a="$s" -v b="${SECS[redkit-restore]}" 'BEGIN { exit !(a < b) }'; then
		SECS[redkit-restore]=$s
		RSS[redkit-restore]=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/redkit-restore.time")
		CPU[redkit-restore]=$(awk -F': ' '/Percent of CPU/ {print $2}' "$OUT/redkit-restore.time")
		RC[redkit-restore]=$rc
	fi
	[[ $rc == 0 ]] || log "redkit restore exited with $rc: $(tail -n 3 "$OUT/redkit-restore.stderr" | tr '\n' ' ')"
	[[ $GOT_DIGEST == "$WANT_DIGEST" ]] || log "DIGEST MISMATCH after redkit restore: $GOT_DIGEST, want $WANT_DIGEST"
done
NAMES=($(printf '%s\n' "${NAMES[@]}" | awk '!seen[$0]++'))

# (a) HDT3213/rdb's AOF through redis-cli --pipe.
start_target
wait_ready
log "(a) HDT3213/rdb -c aof | redis-cli --pipe"
t0=$(date +%s.%N)
"$HDT" -c aof -o /dev/stdout "$DUMP" | redis-cli -p "$PORT" --pipe >"$OUT/hdt-pipe.stdout" 2>&1 || log "(a) failed: $(tail -n 2 "$OUT/hdt-pipe.stdout")"
t1=$(date +%s.%N)
PIPE_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
stop_target

# librdb, when present.
LIBRDB=${BENCH_LIBRDB:-}
LIBRDB_SECS=0
if [[ -n $LIBRDB && -x $LIBRDB ]]; then
	start_target
	wait_ready
	log "librdb: rdb-cli DUMP redis -r -l 512"
	t0=$(date +%s.%N)
	/usr/bin/time -v -o "$OUT/librdb-restore.time" "$LIBRDB" "$DUMP" -l "$OUT/librdb.log" redis -r -l 512 -h 127.0.0.1 -p "$PORT" >/dev/null 2>&1 || log "librdb failed (see $OUT/librdb.log)"
	t1=$(date +%s.%N)
	LIBRDB_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	LIBRDB_RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/librdb-restore.time")
	stop_target
fi

# (b) the ingest ceiling: SET of values the size of the dump's average key.
start_target
wait_ready
VALUE=$(awk -v b="$DUMP_BYTES" -v k="$KEYS" 'BEGIN { v = int(b / k); if (v < 16) v = 16; print v }')
log "(b) redis-benchmark -P 64 -t set -d $VALUE"
OPS=$(redis-benchmark -p "$PORT" -P 64 -t set -n 2000000 -r 1000000 -d "$VALUE" -q 2>/dev/null | tr '\r' '\n' | awk '/SET:/ {print $2}' | tail -n 1)
stop_target

{
	echo
	echo "dump:    $DUMP ($DUMP_BYTES bytes, $KEYS keys, $USED bytes of used_memory once loaded)"
	echo "load:    $LOAD_BEFORE before, $(cut -d' ' -f1 /proc/loadavg) after (1-minute load average)"
	echo "machine: $(nproc) cores, $(redis-server --version | awk '{print $1, $2, $3}'), best of $RUNS run(s) for redkit"
	echo
	printf '%-44s %9s %10s %14s\n' path seconds 'MiB/s' 'peak RSS MiB'
	awk -v s="${SECS[redkit-restore]}" -v kb="${RSS[redkit-restore]}" -v b="$DUMP_BYTES" 'BEGIN { printf "%-44s %9.2f %10.1f %14.1f\n", "redkit restore", s, b / 1048576 / s, kb / 1024 }'
	awk -v s="$PIPE_SECS" -v b="$DUMP_BYTES" 'BEGIN { printf "%-44s %9.2f %10.1f %14s\n", "(a) HDT rdb -c aof | redis-cli --pipe", s, b / 1048576 / s, "-" }'
	if [[ $LIBRDB_SECS != 0 ]]; then
		awk -v s="$LIBRDB_SECS" -v kb="$LIBRDB_RSS" -v b="$DUMP_BYTES" 'BEGIN { printf "%-44s %9.2f %10.1f %14.1f\n", "librdb rdb-cli redis -r -l 512", s, b / 1048576 / s, kb / 1024 }'
	fi
	awk -v s="$LOAD_SECS" -v b="$DUMP_BYTES" 'BEGIN { printf "%-44s %9.2f %10.1f %14s\n", "(c) redis-server loading the dump", s, b / 1048576 / s, "-" }'
	awk -v ops="${OPS:-0}" -v v="$VALUE" 'BEGIN { printf "%-44s %9s %10.1f %14s\n", "(b) redis-benchmark -P 64 SET -d " v, "-", ops * (v + 16) / 1048576, "-" }'
	echo
	echo "digest after redkit restore: $GOT_DIGEST ($([[ $GOT_DIGEST == "$WANT_DIGEST" ]] && echo "equal to the loaded dump's" || echo "DIFFERENT from the loaded dump's $WANT_DIGEST"))"
	awk -v r="${SECS[redkit-restore]}" -v a="$PIPE_SECS" -v c="$LOAD_SECS" -v l="$LIBRDB_SECS" -v kb="${RSS[redkit-restore]}" 'BEGIN {
		x = a / r; printf "redkit restore / (a) throughput:        %5.2fx  (goal >= 2x)    %s\n", x, (x >= 2 ? "ok" : "MISSED")
		x = r / c; printf "redkit restore time / (c) load time:    %5.2fx  (goal <= 1.5x)  %s\n", x, (x <= 1.5 ? "ok" : "MISSED")
		if (l > 0) { x = l / r; printf "redkit restore / librdb throughput:     %5.2fx\n", x }
		printf "redkit peak RSS:                      %6.1f MiB (goal <= 64 MiB + the largest payload)\n", kb / 1024
	}'
} | tee "$OUT/restore-results.txt"
