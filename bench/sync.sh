#!/usr/bin/env bash
# bench/sync.sh: live sync of one big data set from one redis-server into
# another, in one run, every server on a free loopback port.
#
#   (c) the source redis-server loading the dump from its own disk at start-up
#       (exec to INFO persistence loading:0): the time to beat
#   redkit sync --from SRC --to DST --until-caught-up    (full sync, timed)
#   redkit sync --mode native --from SRC --to NAT --until-caught-up: the
#       same into another empty server, which becomes a replica of redkit,
#       loads the snapshot itself and is promoted once caught up (timed)
#   RedisShake v4 sync_reader -> redis_writer into another empty server, when
#       a redis-shake binary can be had (BENCH_SHAKE, or the Go module proxy);
#       otherwise the figure measured in shared/NOTES.md (1.4 MB/s)
#   incremental, once per mode: redkit sync --status-addr running while
#       redis-benchmark -P 16 -t set,incr,lpush writes into the source;
#       /status sampled every 50 ms: lag_seconds p50/p99/max, source ops/s
#       against applied commands/s. The default mode continues from its
#       checkpoint into DST; the native mode (--flush-target) does a new
#       full sync into NAT first, and leaves it a replica after SIGTERM.
#
# Each target's DEBUG DIGEST (less redkit's checkpoint key redkit:sync:NAME,
# which only the default mode writes) is compared with the source's after
# the full sync and after the load. Goals, for each mode: sync 10x faster
# than RedisShake, at most 1.5x the start-up load time, lag p99 under
# 100 ms, peak RSS at most 256 MiB. Environment as for bench/run.sh
# (BENCH_DUMP, BENCH_SIZE_MB, BENCH_SEED, BENCH_RUNS: full syncs, best kept)
# and:
#   BENCH_SKIP_SHAKE     1: no RedisShake run, NOTES.md's figure instead
#   BENCH_SHAKE          path of a redis-shake v4 binary to use
#   BENCH_SHAKE_VERSION  version asked of the Go module proxy (default v4.2.0)
#   BENCH_SHAKE_TIMEOUT  seconds before the RedisShake run is given up (1800)
#   BENCH_LAG_N          redis-benchmark requests per test (default 2000000)
# See bench/README.md.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a decimal point

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRV_LOG_PREFIX=sync # the servers log to bench/out/sync-NAME.log
# shellcheck source=bench/servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

[[ $HAVE_REDKIT == 1 ]] || die "redkit does not build: nothing to measure"
for c in redis-benchmark curl pgrep realpath; do
	command -v "$c" >/dev/null || die "$c not found (Debian: apt-get install redis-tools curl procps coreutils)"
done
"$REDKIT" sync --help >/dev/null 2>&1 || die "this redkit has no sync command"

SKIP_SHAKE=${BENCH_SKIP_SHAKE:-0}
SHAKE=${BENCH_SHAKE:-}
SHAKE_VERSION=${BENCH_SHAKE_VERSION:-v4.2.0}
SHAKE_TIMEOUT=${BENCH_SHAKE_TIMEOUT:-1800}
LAG_N=${BENCH_LAG_N:-2000000}
NOTES_SHAKE_MIBS=1.4 # shared/NOTES.md: RedisShake v4 sync reader, 50 MB dump in 37 s
CKPT=$OUT/sync.checkpoint

# Every process started here (servers.sh), stopped on any exit.
sync_cleanup() {
	stop_started
	cleanup
}
trap sync_cleanup EXIT

# target_digest PORT: the target's DEBUG DIGEST without redkit's own keys
# (redkit:sync:NAME, "<replid> <offset>"), which are put back afterwards:
# the next sync continues from the target's key, and starts over with a
# full sync when it is missing. KEYS, not SCAN (redis-cli 7.0 scans 10 keys
# a round trip: a minute for this dump): nothing else uses the target then.
target_digest() {
	local port=$1 k d
	local -a keys=() vals=()
	while IFS= read -r k; do
		[[ -n $k ]] || continue
		keys+=("$k")
		vals+=("$(redis-cli -p "$port" --raw get "$k")")
	done < <(redis-cli -p "$port" --raw keys 'redkit:*')
	((${#keys[@]} == 0)) || redis-cli -p "$port" del "${keys[@]}" >/dev/null
	d=$(digest_of "$port")
	for k in "${!keys[@]}"; do
		redis-cli -p "$port" set "${keys[$k]}" "${vals[$k]}" >/dev/null
	done
	echo "$d"
}

repl_offset() {
	info_field "$1" replication master_repl_offset
}

# snapshot_secs LOG: how long the last snapshot a redis-server streamed to a
# replica took, from fork to the end of the transfer, per its log.
snapshot_secs() {
	awk '/Background RDB transfer started/ { t0 = $5 } /Diskless rdb transfer, done reading from pipe/ { t1 = $5 }
		END { if (t0 == "" || t1 == "") { print "?"; exit }
			split(t0, a, ":"); split(t1, b, ":"); d = (b[1] * 3600 + b[2] * 60 + b[3]) - (a[1] * 3600 + a[2] * 60 + a[3])
			if (d < 0) d += 86400; printf "%.2f", d }' "$1"
}

# log_span LOG FROM TO: seconds from the last line of a redis-server log
# holding FROM to the last one holding TO (fixed strings), "?" if missing.
log_span() {
	awk -v f="$2" -v t="$3" 'index($0, f) { t0 = $5 } index($0, t) { t1 = $5 }
		END { if (t0 == "" || t1 == "") { print "?"; exit }
			split(t0, a, ":"); split(t1, b, ":"); d = (b[1] * 3600 + b[2] * 60 + b[3]) - (a[1] * 3600 + a[2] * 60 + a[3])
			if (d < 0) d += 86400; printf "%.2f", d }' "$1"
}

# data_keys PORT: the keys of a server less redkit's own (redkit:*).
data_keys() {
	local n r
	n=$(keys_of "$1")
	r=$(redis-cli -p "$1" --raw keys 'redkit:*' | grep -c . || true)
	echo $((n - ${r:-0}))
}

# role_of PORT: master or slave, per INFO replication.
role_of() {
	info_field "$1" replication role
}

status_url() { echo "http://127.0.0.1:$STATUS_PORT/status"; }

# status_field NAME: one field of redkit's /status (flat JSON), empty if the
# endpoint does not answer.
status_field() {
	{ curl -s -m 2 "$(status_url)" 2>/dev/null || true; } | tr -d '\n' |
		awk -v f="$1" '{ if (match($0, "\"" f "\": *(\"[^\"]*\"|[-0-9.eE+]+)")) { v = substr($0, RSTART, RLENGTH); sub(/^[^:]*: */, "", v); gsub(/"/, "", v); print v } }'
}

# ---------------------------------------------------------------------------
# RedisShake: a binary from BENCH_SHAKE, or built from the Go module proxy.
SHAKE_WHY=
find_shake() {
	if [[ $SKIP_SHAKE == 1 ]]; then
		SHAKE_WHY="skipped (BENCH_SKIP_SHAKE=1)"
		return 1
	fi
	if [[ -n $SHAKE ]]; then
		if [[ -x $SHAKE ]]; then
			SHAKE=$(realpath "$SHAKE")
			return 0
		fi
		SHAKE_WHY="BENCH_SHAKE=$SHAKE is not an executable"
		return 1
	fi
	if [[ -x $OUT/redis-shake ]]; then
		SHAKE=$OUT/redis-shake
		return 0
	fi
	local dir=$OUT/shake-mod m v err
	rm -rf "$dir"
	mkdir -p "$dir"
	for m in github.com/tair-opensource/RedisShake github.com/tair-opensource/RedisShake/v4; do
		# The newest v4 the proxy lists, else BENCH_SHAKE_VERSION (a proxy may
		# serve exact versions without a list).
		v=$(cd "$dir" && go list -m -versions "$m" 2>"$dir/list.log" | tr ' ' '\n' | grep '^v4\.' | tail -n 1) || true
		if [[ -z $v ]]; then
			v=$SHAKE_VERSION
			log "RedisShake: go list -m -versions $m: $(head -n 2 "$dir/list.log" | tr '\n\t' '  ')"
		fi
		log "RedisShake: go get $m@$v (in bench/out/shake-mod)"
		if (cd "$dir" || exit 1; go mod init x >/dev/null 2>&1; go get "$m@$v") >"$dir/get.log" 2>&1; then
			if (cd "$dir" && go build -o "$OUT/redis-shake" "$m/cmd/redis-shake") >>"$dir/get.log" 2>&1; then
				SHAKE=$OUT/redis-shake
				SHAKE_WHY=
				return 0
			fi
		fi
		err=$(grep -v '^go: creating\|^go: to add' "$dir/get.log" | sed "s|^go: $m@$v: ||" | tr '\n\t' '  ' | sed 's/  */ /g; s/ $//')
		SHAKE_WHY="${SHAKE_WHY:+$SHAKE_WHY; }go get $m@$v: ${err:-failed}"
		rm -f "$dir/go.mod" "$dir/go.sum"
	done
	return 1
}

# ---------------------------------------------------------------------------
warm_up

# (c) The source, loading the dump at start-up (bench/out/sync-src/dump.rdb,
# a symlink to it).
log "(c) source redis-server loading $DUMP at start-up"
start_source
LOG_LOAD_SECS=$(awk '/DB loaded from disk/ { for (i = 1; i <= NF; i++) if ($i == "seconds") print $(i - 1) }' "$OUT/sync-src.log" | tail -n 1)
log "(c) loaded in $LOAD_SECS s (the log says ${LOG_LOAD_SECS:-?} s): $SRC_KEYS keys on 127.0.0.1:$SRC"
SRC_DIGEST=$(digest_of "$SRC")
log "source digest $SRC_DIGEST"

# redkit sync --until-caught-up into an empty target, BENCH_RUNS times.
SYNC_DIGEST_OK=1
for ((i = 1; i <= RUNS; i++)); do
	stop_server dst
	rm -f "$CKPT"
	start_server dst "$OUT/sync-dst" none.rdb
	wait_loaded dst
	DST=${SRV_PORT[dst]}
	log "full sync $i/$RUNS into the empty 127.0.0.1:$DST"
	src_cpu0=$(cpu_secs "${SRV_PID[src]}") dst_cpu0=$(cpu_secs "${SRV_PID[dst]}")
	RUNS=1 measure redkit-sync "$OUT/redkit-sync.stdout" "$REDKIT" sync --from "redis://127.0.0.1:$SRC" --to "redis://127.0.0.1:$DST" \
		--until-caught-up --checkpoint "$CKPT"
	# Where the time went, for the fastest run: the source's fork writing
	# the snapshot, the target's RESTOREs, redkit.
	if [[ $(time_file_secs "$OUT/redkit-sync.time") == "${SECS[redkit-sync]}" ]]; then
		SNAP_SECS=$(snapshot_secs "$OUT/sync-src.log")
		SRC_CPU=$(cpu_diff "$src_cpu0" "$(cpu_secs "${SRV_PID[src]}")")
		DST_CPU=$(cpu_diff "$dst_cpu0" "$(cpu_secs "${SRV_PID[dst]}")")
		SYNC_CPU=$(time_file_cpu_secs "$OUT/redkit-sync.time")
	fi
	GOT_DIGEST=$(target_digest "$DST")
	GOT_KEYS=$(($(keys_of "$DST") - 1))
	if [[ $GOT_DIGEST == "$SRC_DIGEST" ]]; then
		log "full sync $i: digest equal, $GOT_KEYS keys"
	else
		SYNC_DIGEST_OK=0
		log "DIGEST MISMATCH after full sync $i: $GOT_DIGEST ($GOT_KEYS keys), want $SRC_DIGEST ($SRC_KEYS keys)"
	fi
done
mapfile -t NAMES < <(printf '%s\n' "${NAMES[@]}" | awk '!seen[$0]++')
SYNC_SECS=${SECS[redkit-sync]}

# redkit sync --mode native --until-caught-up into another empty server,
# BENCH_RUNS times: the target becomes a replica of redkit, receives and
# loads the source's snapshot itself, and is promoted (REPLICAOF NO ONE)
# once caught up. It holds no redkit key: its digest is compared as it is.
NATIVE_DIGEST_OK=1
for ((i = 1; i <= RUNS; i++)); do
	stop_server native
	rm -rf "$OUT/sync-native"
	start_server native "$OUT/sync-native" none.rdb
	wait_loaded native
	NAT=${SRV_PORT[native]}
	log "native full sync $i/$RUNS into the empty 127.0.0.1:$NAT"
	src_cpu0=$(cpu_secs "${SRV_PID[src]}") dst_cpu0=$(cpu_secs "${SRV_PID[native]}")
	RUNS=1 measure redkit-native "$OUT/redkit-native.stdout" "$REDKIT" sync --mode native --from "redis://127.0.0.1:$SRC" --to "redis://127.0.0.1:$NAT" \
		--until-caught-up
	# Where the time went, for the fastest run: the source's fork writing
	# the snapshot, the target receiving it (to disk: repl-diskless-load is
	# off by default) and loading it, per their logs; CPU seconds.
	if [[ $(time_file_secs "$OUT/redkit-native.time") == "${SECS[redkit-native]}" ]]; then
		NATIVE_SNAP_SECS=$(snapshot_secs "$OUT/sync-src.log")
		NATIVE_RECV_SECS=$(log_span "$OUT/sync-native.log" 'MASTER <-> REPLICA sync: receiving' 'MASTER <-> REPLICA sync: Loading DB in memory')
		NATIVE_LOAD_SECS=$(log_span "$OUT/sync-native.log" 'MASTER <-> REPLICA sync: Loading DB in memory' 'MASTER <-> REPLICA sync: Finished with success')
		NATIVE_SRC_CPU=$(cpu_diff "$src_cpu0" "$(cpu_secs "${SRV_PID[src]}")")
		NATIVE_DST_CPU=$(cpu_diff "$dst_cpu0" "$(cpu_secs "${SRV_PID[native]}")")
		NATIVE_SYNC_CPU=$(time_file_cpu_secs "$OUT/redkit-native.time")
	fi
	NATIVE_ROLE=$(role_of "$NAT")
	GOT_DIGEST=$(target_digest "$NAT")
	GOT_KEYS=$(data_keys "$NAT")
	if [[ $GOT_DIGEST == "$SRC_DIGEST" ]]; then
		log "native full sync $i: digest equal, $GOT_KEYS keys, target role $NATIVE_ROLE"
	else
		NATIVE_DIGEST_OK=0
		log "DIGEST MISMATCH after native full sync $i: $GOT_DIGEST ($GOT_KEYS keys), want $SRC_DIGEST ($SRC_KEYS keys); target role $NATIVE_ROLE"
	fi
done
mapfile -t NAMES < <(printf '%s\n' "${NAMES[@]}" | awk '!seen[$0]++')
NATIVE_SECS=${SECS[redkit-native]}

# RedisShake sync_reader -> redis_writer, into another empty server.
SHAKE_SECS=0 SHAKE_KB=0 SHAKE_NOTE='' SHAKE_DIGEST_NOTE=''
if find_shake; then
	start_server shake "$OUT/sync-shake" none.rdb
	wait_loaded shake
	SHK=${SRV_PORT[shake]}
	SHAKE_RUN=$OUT/shake-run
	rm -rf "$SHAKE_RUN"
	mkdir -p "$SHAKE_RUN"
	cat >"$SHAKE_RUN/shake.toml" <<EOF
[sync_reader]
cluster = false
address = "127.0.0.1:$SRC"
sync_rdb = true
sync_aof = true
try_diskless = true

[redis_writer]
cluster = false
address = "127.0.0.1:$SHK"

[advanced]
dir = "$SHAKE_RUN/data"
log_file = "shake.log"
log_level = "info"
log_interval = 1
rdb_restore_command_behavior = "panic"
EOF
	log "RedisShake ($SHAKE) from 127.0.0.1:$SRC into the empty 127.0.0.1:$SHK, config bench/out/shake-run/shake.toml"
	t0=$EPOCHREALTIME
	(cd "$SHAKE_RUN" && exec /usr/bin/time -v -o "$OUT/redis-shake.time" "$SHAKE" shake.toml) >"$OUT/redis-shake.stdout" 2>"$OUT/redis-shake.stderr" &
	TIME_PID=$!
	BG_PIDS+=("$TIME_PID")
	done_at='' last_keys=-1 still=0
	while kill -0 "$TIME_PID" 2>/dev/null; do
		n=$(keys_of "$SHK")
		if [[ $n -ge $SRC_KEYS ]]; then
			done_at=$EPOCHREALTIME
			break
		fi
		# Incremental, and nothing more arriving for a second: done too.
		if [[ $n == "$last_keys" ]] && grep -qs 'syncing aof' "$OUT/redis-shake.stdout" "$SHAKE_RUN/data/shake.log"; then
			still=$((still + 1))
			if [[ $still -ge 5 ]]; then
				done_at=$EPOCHREALTIME
				SHAKE_NOTE="incremental with $n of $SRC_KEYS keys"
				break
			fi
		else
			still=0
		fi
		last_keys=$n
		if awk -v a="$t0" -v b="$EPOCHREALTIME" -v m="$SHAKE_TIMEOUT" 'BEGIN { exit !(b - a > m) }'; then
			SHAKE_NOTE="given up after $SHAKE_TIMEOUT s with $n of $SRC_KEYS keys: a lower bound"
			done_at=$EPOCHREALTIME
			break
		fi
		sleep 0.2
	done
	# SIGTERM: RedisShake v4 logs it and goes on syncing; SIGKILL after 5 s.
	for child in $(pgrep -P "$TIME_PID"); do
		kill "$child" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$child" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$child" 2>/dev/null || true
	done
	wait "$TIME_PID" 2>/dev/null || true
	if [[ -z $done_at ]]; then
		SHAKE_NOTE="exited before it was done: $(cat "$OUT/redis-shake.stdout" "$OUT/redis-shake.stderr" | tail -n 3 | tr '\n' ' ')"
		done_at=$EPOCHREALTIME
	fi
	SHAKE_SECS=$(elapsed "$t0" "$done_at")
	SHAKE_KB=$(time_file_kb "$OUT/redis-shake.time")
	SHAKE_DIGEST=$(digest_of "$SHK")
	if [[ $SHAKE_DIGEST == "$SRC_DIGEST" ]]; then
		SHAKE_DIGEST_NOTE="equal to the source's"
	else
		SHAKE_DIGEST_NOTE="DIFFERENT from the source's ($(keys_of "$SHK") keys against $SRC_KEYS; RedisShake v4 turns expiry times into relative TTLs, which moves them by milliseconds)"
	fi
	log "RedisShake: $SHAKE_SECS s${SHAKE_NOTE:+ ($SHAKE_NOTE)}, digest $SHAKE_DIGEST_NOTE"
	stop_server shake
else
	log "RedisShake: not measured: $SHAKE_WHY"
	log "RedisShake: comparing with shared/NOTES.md instead (v4 sync reader: 50 MB dump in 37 s, $NOTES_SHAKE_MIBS MB/s)"
fi


# ---------------------------------------------------------------------------
# Incremental, for each mode: redkit sync running with --status-addr while
# redis-benchmark writes into the source.

# The samplers, one process each and no fork per sample: curl asks /status
# 20 times a second (--rate 20/s), and redis-cli reads the source's
# master_repl_offset every 50 ms; a bash loop stamps each answer with the
# time it arrived. /status is indented JSON: an answer ends with a line "}".
# (Not curl's -w: under --rate, curl writes it only after the next pause,
# 50 ms late; the body's last line comes within a millisecond.)
stamp_status() {
	local line buf=''
	while IFS= read -r line; do
		buf+=$line
		if [[ $line == '}' ]]; then
			printf '%s\t%s\n' "$EPOCHREALTIME" "$buf"
			buf=''
		fi
	done
}
stamp_offsets() {
	local line
	while IFS= read -r line; do
		if [[ $line == master_repl_offset:* ]]; then
			line=${line#*:}
			printf '%s\t%s\n' "$EPOCHREALTIME" "${line%$'\r'}"
		fi
	done
}

# The results of incremental, as INC[LABEL:FIELD].
declare -A INC
INC_FIELDS=(samples lag_p50 lag_p99 lag_max behind_p50 behind_p99 behind_max slag_p50 slag_p99 slag_max applied_rate sample_every)

# incremental LABEL TAG TARGET_PORT COMMAND...: runs COMMAND (a redkit sync
# without --until-caught-up) with --status-addr on a free port, waits for
# phase "streaming", samples /status and the source's offset while
# redis-benchmark writes into the source, waits until the target has the
# source's offset, stops redkit with SIGTERM and compares the digests. Its
# files are bench/out/redkit[-TAG]-stream.* and bench/out/sync[-TAG]-*; its
# results go to INC[LABEL:...], INC[LABEL:error] saying why when it could
# not stream. It always returns 0 (errexit stays on inside).
incremental() {
	local label=$1 tag=$2 dst=$3
	shift 3
	local stream=redkit${tag:+-$tag}-stream pre=$OUT/sync${tag:+-$tag}
	local t0 pid phase samples offsets sampler_pid offsets_pid load_t0 load_t1 load_secs want applied drained p rc stats name k digest_pid
	local -a f
	STATUS_PORT=$(free_port) || die "no free port"
	log "incremental ($label): $* --status-addr 127.0.0.1:$STATUS_PORT"
	t0=$EPOCHREALTIME
	/usr/bin/time -v -o "$OUT/$stream.time" "$@" --status-addr "127.0.0.1:$STATUS_PORT" >"$OUT/$stream.stdout" 2>"$OUT/$stream.stderr" &
	pid=$!
	BG_PIDS+=("$pid")
	phase=
	for _ in $(seq 1 6000); do
		phase=$(status_field phase)
		[[ $phase == streaming ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ $phase != streaming ]]; then
		INC[$label:error]="redkit sync not streaming (phase ${phase:-unknown}, $(elapsed "$t0" "$EPOCHREALTIME") s): $(tail -n 3 "$OUT/$stream.stderr" | tr '\n' ' ')"
		log "incremental ($label): ${INC[$label:error]}"
		kill_tree "$pid"
		wait "$pid" 2>/dev/null || true
		return 0
	fi
	INC[$label:resume_secs]=$(elapsed "$t0" "$EPOCHREALTIME")
	INC[$label:full_syncs]=$(status_field full_syncs)
	log "incremental ($label): streaming after ${INC[$label:resume_secs]} s (full syncs in this process: ${INC[$label:full_syncs]:-?})"

	samples=$pre-lag.samples
	offsets=$pre-lag.offsets
	(curl -s -N --rate 20/s "$(status_url)?n=[1-10000000]" 2>/dev/null | stamp_status >"$samples") &
	sampler_pid=$!
	BG_PIDS+=("$sampler_pid")
	(redis-cli -p "$SRC" -r -1 -i 0.05 info replication 2>/dev/null | stamp_offsets >"$offsets") &
	offsets_pid=$!
	BG_PIDS+=("$offsets_pid")
	sleep 1

	log "incremental ($label): redis-benchmark -h 127.0.0.1 -p $SRC -P 16 -n $LAG_N -t set,incr,lpush -r 100000 -q"
	load_t0=$EPOCHREALTIME
	redis-benchmark -h 127.0.0.1 -p "$SRC" -P 16 -n "$LAG_N" -t set,incr,lpush -r 100000 -q 2>&1 | tr '\r' '\n' >"$pre-benchmark.out" ||
		log "redis-benchmark failed: $(tail -n 3 "$pre-benchmark.out")"
	load_t1=$EPOCHREALTIME
	load_secs=$(elapsed "$load_t0" "$load_t1")
	INC[$label:load_secs]=$load_secs

	# Drained: the target has everything the source wrote.
	want=$(repl_offset "$SRC")
	drained=0 applied=
	for _ in $(seq 1 3000); do
		applied=$(status_field applied_offset)
		if [[ -n $applied && $applied -ge $want ]]; then
			drained=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	INC[$label:drain_secs]=$(elapsed "$load_t1" "$EPOCHREALTIME")
	INC[$label:drained]=$drained
	[[ $drained == 1 ]] || log "incremental ($label): redkit did not reach the source's offset $want (applied ${applied:-?})"
	sleep 0.3
	for p in "$sampler_pid" "$offsets_pid"; do
		kill_tree "$p"
		wait "$p" 2>/dev/null || true
	done
	curl -s -m 2 "http://127.0.0.1:$STATUS_PORT/metrics" >"$pre-metrics.txt" 2>/dev/null || true
	curl -s -m 2 "$(status_url)" >"$pre-status.json" 2>/dev/null || true

	# Stop it (SIGTERM: it exits 0; the default mode saves its position,
	# the native mode leaves the target a read-only replica), then compare.
	for p in $(pgrep -P "$pid"); do
		kill "$p" 2>/dev/null || true
	done
	rc=0
	wait "$pid" || rc=$?
	INC[$label:rc]=$rc
	INC[$label:kb]=$(time_file_kb "$OUT/$stream.time")
	log "incremental ($label): redkit exited with status $rc after SIGTERM; DEBUG DIGEST of both servers"
	digest_of "$SRC" >"$pre-src.digest" &
	digest_pid=$!
	INC[$label:dst_digest]=$(target_digest "$dst")
	wait "$digest_pid" || true
	INC[$label:src_digest]=$(cat "$pre-src.digest")
	INC[$label:src_keys]=$(keys_of "$SRC")
	INC[$label:dst_keys]=$(data_keys "$dst")
	INC[$label:dst_role]=$(role_of "$dst")

	# Source ops/s: per test from redis-benchmark, and all of them over the
	# benchmark's wall time.
	INC[$label:bench_ops]=$(awk -F': ' '/requests per second/ { split($2, a, " "); printf "%s%s %s", sep, $1, a[1]; sep = ", " }' "$pre-benchmark.out")
	INC[$label:src_ops]=$(awk -v n="$LAG_N" -v s="$load_secs" 'BEGIN { printf "%.0f", 3 * n / s }')

	# Lag statistics over the samples taken while redis-benchmark ran:
	# lag_seconds, redkit's own (how long the oldest command it has read and
	# not applied has waited; in native mode the oldest chunk relayed and
	# not yet at the target's offset, polled every 20 ms); the source-side
	# lag, from the source's offset series (how long ago the source was at
	# the offset the target has applied, linear between samples: it also
	# counts what redkit has not read yet); and the bytes the target is
	# behind the source.
	stats=$(awk -F'\t' -v t0="$load_t0" -v t1="$load_t1" '
		function field(s, f,   v) {
			if (!match(s, "\"" f "\": *[-0-9.eE+]+")) return ""
			v = substr(s, RSTART, RLENGTH); sub(/^[^:]*: */, "", v); return v
		}
		# sorted copy of x[1..k] into y (insertion sort), then the nearest-rank percentile
		function sortto(x, k, y,   i, j, v) {
			for (i = 1; i <= k; i++) y[i] = x[i]
			for (i = 2; i <= k; i++) { v = y[i]; for (j = i - 1; j >= 1 && y[j] > v; j--) y[j + 1] = y[j]; y[j + 1] = v }
		}
		function pct(y, k, p,   r) {
			r = int((p / 100) * k + 0.999999); if (r < 1) r = 1; if (r > k) r = k
			return y[r]
		}
		FNR == NR { m++; OT[m] = $1 + 0; OS[m] = $2 + 0; next }
		{
			a = field($2, "applied_offset")
			if (a == "") next
			n++; T[n] = $1 + 0; A[n] = a + 0; C[n] = field($2, "commands") + 0; L[n] = field($2, "lag_seconds") + 0
		}
		END {
			k = 0; j = 1; q = 1
			for (i = 1; i <= n; i++) {
				if (T[i] < t0 || T[i] > t1) continue
				k++; lag[k] = L[i]
				if (first == "") first = i
				last = i
				# the source offset at T[i], linear between its samples
				while (q < m && OT[q + 1] <= T[i]) q++
				if (q < m && OT[q] <= T[i]) src = OS[q] + (OS[q + 1] - OS[q]) * (T[i] - OT[q]) / (OT[q + 1] - OT[q])
				else src = OS[q]
				behind[k] = (src > A[i] ? src - A[i] : 0)
				# when the source passed A[i]: the first offset sample above it
				while (j <= m && OS[j] <= A[i]) j++
				if (j > m) sl = 0
				else if (j == 1) sl = T[i] - OT[1]
				else sl = T[i] - (OT[j - 1] + (OT[j] - OT[j - 1]) * (A[i] - OS[j - 1]) / (OS[j] - OS[j - 1]))
				slag[k] = (sl > 0 ? sl : 0)
			}
			if (k == 0) { print "0 0 0 0 0 0 0 0 0 0 0 0"; exit }
			rate = (T[last] > T[first] ? (C[last] - C[first]) / (T[last] - T[first]) : 0)
			sortto(lag, k, y1); sortto(behind, k, y2); sortto(slag, k, y3)
			printf "%d %.4f %.4f %.4f %.0f %.0f %.0f %.4f %.4f %.4f %.0f %.3f\n", k,
				pct(y1, k, 50), pct(y1, k, 99), pct(y1, k, 100), pct(y2, k, 50), pct(y2, k, 99), pct(y2, k, 100),
				pct(y3, k, 50), pct(y3, k, 99), pct(y3, k, 100), rate, (T[last] - T[first]) / (k > 1 ? k - 1 : 1)
		}' "$offsets" "$samples")
	read -r -a f <<<"$stats"
	k=0
	for name in "${INC_FIELDS[@]}"; do
		INC[$label:$name]=${f[k]:-0}
		k=$((k + 1))
	done
	INC[$label:total_cmds]=$(awk -F'\t' 'match($2, /"commands": *[0-9]+/) { v = substr($2, RSTART, RLENGTH); sub(/.*: */, "", v); if (c0 == "") c0 = v; c1 = v }
		END { print c1 - c0 }' "$samples")
	INC[$label:latency_p99]=$(awk '/^redkit_sync_apply_latency_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n++; LE[n] = le; V[n] = $NF }
		/^redkit_sync_apply_latency_seconds_count/ { tot = $NF }
		END { if (tot == 0) { print "-"; exit } for (i = 1; i <= n; i++) if (V[i] >= 0.99 * tot) { print "<= " LE[i] " s"; exit } }' "$pre-metrics.txt")
	return 0
}

# The default mode continues from the checkpoint of its last full sync
# (PSYNC: streaming at once).
incremental default '' "$DST" "$REDKIT" sync --from "redis://127.0.0.1:$SRC" --to "redis://127.0.0.1:$DST" --checkpoint "$CKPT"
# The native mode into the native target, promoted after its full sync: a
# new full sync (--flush-target: it holds keys), then streaming; the target
# stays a read-only replica after SIGTERM.
incremental native native "$NAT" "$REDKIT" sync --mode native --from "redis://127.0.0.1:$SRC" --to "redis://127.0.0.1:$NAT" --flush-target

# ---------------------------------------------------------------------------
# print_incremental LABEL TITLE: one mode's incremental block.
print_incremental() {
	local l=$1
	echo "incremental, $2 (redis-benchmark -P 16 -n $LAG_N -t set,incr,lpush -r 100000):"
	if [[ -n ${INC[$l:error]:-} ]]; then
		echo "  NOT MEASURED: ${INC[$l:error]}"
		return 0
	fi
	echo "  streaming after:           ${INC[$l:resume_secs]} s (full syncs in that process: ${INC[$l:full_syncs]:-?})"
	echo "  source ops/s:              ${INC[$l:src_ops]} over the whole benchmark (${INC[$l:load_secs]} s); per test: ${INC[$l:bench_ops]:-?}"
	echo "  applied commands/s:        ${INC[$l:applied_rate]} while it ran (status 'commands'; ${INC[$l:total_cmds]} commands applied in all)"
	echo "  lag_seconds p50/p99/max:   ${INC[$l:lag_p50]} / ${INC[$l:lag_p99]} / ${INC[$l:lag_max]} s over ${INC[$l:samples]} samples, one every ${INC[$l:sample_every]} s"
	echo "  source-side lag p50/p99/max: ${INC[$l:slag_p50]} / ${INC[$l:slag_p99]} / ${INC[$l:slag_max]} s (how long ago the source was at the applied offset)"
	echo "  bytes behind the source p50/p99/max: ${INC[$l:behind_p50]} / ${INC[$l:behind_p99]} / ${INC[$l:behind_max]}"
	echo "  apply latency p99 (/metrics): ${INC[$l:latency_p99]:-?}"
	echo "  caught up:                 ${INC[$l:drain_secs]} s after the benchmark ended$([[ ${INC[$l:drained]} == 1 ]] || echo " (NOT reached)")"
	awk -v kb="${INC[$l:kb]}" -v rc="${INC[$l:rc]}" 'BEGIN { printf "  redkit sync peak RSS:      %.1f MiB, exit status %d after SIGTERM\n", kb / 1024, rc }'
	if [[ ${INC[$l:src_digest]} == "${INC[$l:dst_digest]}" ]]; then
		echo "  digest after the load:     equal (${INC[$l:dst_keys]} keys; target role ${INC[$l:dst_role]})"
	else
		echo "  digest after the load:     DIFFERENT: source ${INC[$l:src_digest]} (${INC[$l:src_keys]} keys), target ${INC[$l:dst_digest]} (${INC[$l:dst_keys]} keys; role ${INC[$l:dst_role]})"
	fi
}

# print_goals TITLE SYNC_SECS DIGEST_OK LABEL FULL_SYNC_KB: one mode's goal lines.
print_goals() {
	local l=$4 kb=$5
	if [[ -z ${INC[$l:error]:-} && ${INC[$l:kb]:-0} -gt $kb ]]; then
		kb=${INC[$l:kb]}
	fi
	echo "$1:"
	awk -v r="$2" -v sh="$SHAKE_SECS" -v c="$LOAD_SECS" -v ok="$3" -v p99="${INC[$l:lag_p99]:-}" -v kb="$kb" -v inc="${INC[$l:error]:+not measured}" 'BEGIN {
		x = sh / r; printf "  RedisShake time / redkit sync time:      %6.2fx  (goal >= 10x)    %s\n", x, (x >= 10 && ok ? "ok" : "MISSED")
		x = r / c;  printf "  redkit sync time / (c) load time:        %6.2fx  (goal <= 1.5x)   %s\n", x, (x <= 1.5 && ok ? "ok" : "MISSED")
		if (inc != "") printf "  lag_seconds p99 under load:          not measured (goal < 100 ms)  MISSED\n"
		else printf "  lag_seconds p99 under load:          %8.1f ms  (goal < 100 ms)  %s\n", p99 * 1000, (p99 < 0.1 ? "ok" : "MISSED")
		printf "  redkit peak RSS (full sync, stream): %8.1f MiB (goal <= 256 MiB) %s\n", kb / 1024, (kb / 1024 <= 256 ? "ok" : "MISSED")
	}'
}

# ---------------------------------------------------------------------------
SYNC_KB=${RSS[redkit-sync]}
NATIVE_KB=${RSS[redkit-native]}
if [[ $SHAKE_SECS == 0 ]]; then
	SHAKE_SECS=$(awk -v b="$DUMP_BYTES" -v r="$NOTES_SHAKE_MIBS" 'BEGIN { printf "%.2f", b / 1048576 / r }')
	SHAKE_LABEL="RedisShake v4 (NOTES.md: $NOTES_SHAKE_MIBS MB/s, scaled)"
	SHAKE_RSS="47 (NOTES.md)"
else
	SHAKE_LABEL="RedisShake ($(basename "$SHAKE"))"
	SHAKE_RSS=$(awk -v kb="$SHAKE_KB" 'BEGIN { printf "%.1f", kb / 1024 }')
fi
{
	echo
	echo "dump:    $DUMP ($DUMP_BYTES bytes, $SRC_KEYS keys, $SRC_USED bytes of used_memory once loaded)"
	echo "load:    $LOAD_BEFORE before, $(cut -d' ' -f1 /proc/loadavg) after (1-minute load average)"
	echo "machine: $(nproc) cores, $(redis-server --version | awk '{print $1, $2, $3}'), best of $RUNS full sync(s) per redkit mode"
	echo
	printf '%-44s %9s %10s %14s\n' 'full sync' seconds 'MiB/s' 'peak RSS MiB'
	awk -v s="$SYNC_SECS" -v kb="$SYNC_KB" -v b="$DUMP_BYTES" -v rc="${RC[redkit-sync]}" 'BEGIN {
		printf "%-44s %9.2f %10.1f %14.1f%s\n", "redkit sync --until-caught-up", s, b / 1048576 / s, kb / 1024, (rc != 0 ? "  (exit " rc ")" : "") }'
	awk -v s="$NATIVE_SECS" -v kb="$NATIVE_KB" -v b="$DUMP_BYTES" -v rc="${RC[redkit-native]}" 'BEGIN {
		printf "%-44s %9.2f %10.1f %14.1f%s\n", "redkit sync --mode native --until-caught-up", s, b / 1048576 / s, kb / 1024, (rc != 0 ? "  (exit " rc ")" : "") }'
	awk -v s="$SHAKE_SECS" -v rss="$SHAKE_RSS" -v b="$DUMP_BYTES" -v l="$SHAKE_LABEL" 'BEGIN {
		printf "%-44s %9.2f %10.1f %14s\n", l, s, b / 1048576 / s, rss }'
	awk -v s="$LOAD_SECS" -v b="$DUMP_BYTES" 'BEGIN { printf "%-44s %9.2f %10.1f %14s\n", "(c) redis-server loading the dump", s, b / 1048576 / s, "-" }'
	echo
	if [[ -n $SHAKE_WHY ]]; then
		echo "RedisShake: not run: $SHAKE_WHY"
	else
		echo "RedisShake: digest $SHAKE_DIGEST_NOTE${SHAKE_NOTE:+; $SHAKE_NOTE}"
	fi
	echo "digest after redkit's full sync: $([[ $SYNC_DIGEST_OK == 1 ]] && echo "equal to the source's" || echo "DIFFERENT from the source's $SRC_DIGEST")"
	echo "during redkit's full sync: the source's snapshot (fork to end of transfer) took ${SNAP_SECS:-?} s; CPU seconds: source with its fork ${SRC_CPU:-?}, target ${DST_CPU:-?}, redkit ${SYNC_CPU:-?}"
	echo "digest after redkit's native full sync: $([[ $NATIVE_DIGEST_OK == 1 ]] && echo "equal to the source's" || echo "DIFFERENT from the source's $SRC_DIGEST") (target role afterwards: ${NATIVE_ROLE:-?})"
	echo "during the native full sync: the source's snapshot (fork to end of transfer) took ${NATIVE_SNAP_SECS:-?} s; the target received it in ${NATIVE_RECV_SECS:-?} s and loaded it in ${NATIVE_LOAD_SECS:-?} s (its log); CPU seconds: source with its fork ${NATIVE_SRC_CPU:-?}, target ${NATIVE_DST_CPU:-?}, redkit ${NATIVE_SYNC_CPU:-?}"
	echo
	print_incremental default "default mode, continuing from the checkpoint"
	echo
	print_incremental native "--mode native --flush-target, a new full sync first"
	echo
	print_goals "goals, default mode" "$SYNC_SECS" "$SYNC_DIGEST_OK" default "$SYNC_KB"
	print_goals "goals, --mode native" "$NATIVE_SECS" "$NATIVE_DIGEST_OK" native "$NATIVE_KB"
} | tee "$OUT/sync-results.txt"
