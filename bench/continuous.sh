#!/usr/bin/env bash
# bench/continuous.sh: redkit's continuous backup (point-in-time recovery,
# issue 7) under a write load, in one run per storage, every server on a
# free loopback port.
#
# For each storage (BENCH_STORAGE: file:// under bench/out, s3:// on a local
# versitygw, or both, one measurement row each), a fresh source
# redis-server with a multi-part AOF (--appendonly yes --appendfsync no
# --auto-aof-rewrite-percentage 0) is filled with DEBUG POPULATE BENCH_KEYS
# key 100, then:
#
#   redkit backup --continuous --from SRC --to STORAGE_URL --status-addr ...
#       once its /status says "streaming":
#   redis-benchmark -P 16 -n BENCH_OPS -r 1000000 -t set,incr,lpush,hset -q
#       against the source, /status sampled every 100 ms meanwhile:
#       recovery_lag_seconds max and p99 (goal: under 2x the segment
#       interval), the source's ops/s (INFO total_commands_processed over
#       the load's wall time)
#   once durable_offset reaches the source's master_repl_offset: the final
#       /status (commands, segment_bytes: bytes per command after
#       compression), against the growth of the source's incr AOF file(s)
#       during the load per command; redkit's peak RSS (VmHWM before
#       SIGTERM, and time -v's; goal at most 256 MB); SIGTERM, exit 0
#   redkit restore STORAGE_URL@GEN --at latest (the base and every segment)
#       and redkit restore STORAGE_URL@GEN (the base alone), each into an
#       empty server under /usr/bin/time -v; the first's DEBUG DIGEST against
#       the source's after the load, the second's against the source's
#       before it
#
# Environment (lib.sh's too; BENCH_DUMP is not used, but lib.sh makes it
# when it is missing):
#   BENCH_KEYS              keys DEBUG POPULATE makes first (default 1000000)
#   BENCH_OPS               redis-benchmark -n: requests per test, 4 tests
#                           (default 4000000)
#   BENCH_SECONDS           if set, the load stops after this many seconds
#                           (timeout), whatever BENCH_OPS
#   BENCH_TESTS             redis-benchmark -t (default set,incr,lpush,hset)
#   BENCH_SEGMENT_INTERVAL  redkit's --segment-interval (default 10s)
#   BENCH_RESTORE_TIMEOUT   seconds before a restore is given up (timeout;
#                           default 1800): reported as timed out
#   BENCH_STORAGE           file, s3 or both (default both)
#   BENCH_VERSITYGW         path of the versitygw binary (default
#                           .tools/bin/versitygw, else versitygw on PATH)
#   BENCH_KEEP              1: keep the stores, the source's AOF and the
#                           restored servers' directories
# The table goes to stdout and is appended to bench/out/continuous-results.md.
# See bench/README.md.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a decimal point

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRV_LOG_PREFIX=continuous # the servers log to bench/out/continuous-NAME.log
SRV_STOP_WAIT=1           # on exit, the command under time or timeout goes first
# shellcheck source=bench/servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

[[ $HAVE_REDKIT == 1 ]] || die "redkit does not build: nothing to measure"
for c in redis-benchmark curl jq pgrep timeout; do
	command -v "$c" >/dev/null || die "$c not found (Debian: apt-get install redis-tools curl jq procps coreutils)"
done
[[ $("$REDKIT" backup --help 2>&1) == *--continuous* ]] || die "this redkit has no backup --continuous"
[[ $("$REDKIT" restore --help 2>&1) == *--at* ]] || die "this redkit has no restore --at"

NKEYS=${BENCH_KEYS:-1000000}
OPS=${BENCH_OPS:-4000000}
LOAD_LIMIT=${BENCH_SECONDS:-}
TESTS=${BENCH_TESTS:-set,incr,lpush,hset}
RESTORE_TIMEOUT=${BENCH_RESTORE_TIMEOUT:-1800}
INTERVAL=${BENCH_SEGMENT_INTERVAL:-10s}
STORAGE=${BENCH_STORAGE:-both}
KEEP=${BENCH_KEEP:-0}
[[ $NKEYS =~ ^[0-9]+$ ]] || die "BENCH_KEYS=$NKEYS: want a number"
[[ $OPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_OPS=$OPS: want a positive number"
[[ -z $LOAD_LIMIT || $LOAD_LIMIT =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS=$LOAD_LIMIT: want a positive number of seconds"
[[ $RESTORE_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "BENCH_RESTORE_TIMEOUT=$RESTORE_TIMEOUT: want a positive number of seconds"
[[ $TESTS =~ ^[a-z_]+(,[a-z_]+)*$ ]] || die "BENCH_TESTS=$TESTS: want redis-benchmark test names separated by commas"
case $STORAGE in
file) KINDS=(file) ;;
s3) KINDS=(s3) ;;
both) KINDS=(file s3) ;;
*) die "BENCH_STORAGE=$STORAGE: want file, s3 or both" ;;
esac

# dur_secs DURATION: seconds in a Go duration (500ms, 10s, 1m30s).
dur_secs() {
	awk -v d="$1" 'BEGIN {
		split("ns us ms s m h", u, " "); split("1e-9 1e-6 1e-3 1 60 3600", f, " ")
		for (i = 1; i <= 6; i++) mul[u[i]] = f[i]
		if (d == "") exit 1
		s = 0
		while (d != "") {
			if (!match(d, /^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)/)) exit 1
			t = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
			match(t, /[a-z]+$/)
			s += substr(t, 1, RSTART - 1) * mul[substr(t, RSTART)]
		}
		printf "%.3f", s }'
}
INTERVAL_SECS=$(dur_secs "$INTERVAL") || die "BENCH_SEGMENT_INTERVAL=$INTERVAL: want a Go duration (10s, 500ms, 1m)"
LAG_GOAL=$(awk -v i="$INTERVAL_SECS" 'BEGIN { printf "%.3f", 2 * i }')

VGW=
if [[ " ${KINDS[*]} " == *" s3 "* ]]; then
	find_versitygw "set BENCH_VERSITYGW, or run with BENCH_STORAGE=file"
fi

CDIR=$OUT/continuous # the sources' AOFs, the file store, versitygw's root, the restored servers
BUCKET=bench
S3DIR=$CDIR/s3 # versitygw's root: each sub-directory is a bucket

# Every process started here (servers.sh), stopped on any exit, each
# background command waited for (SRV_STOP_WAIT); the sampler told to stop.
SAMPLER_STOP=
continuous_cleanup() {
	[[ -z $SAMPLER_STOP ]] || touch "$SAMPLER_STOP" 2>/dev/null || true
	stop_started
	if [[ $KEEP != 1 ]]; then
		rm -rf "$CDIR"
	fi
	cleanup
}
trap continuous_cleanup EXIT

# run_bg OUT ERR COMMAND...: COMMAND in the background, stopped on exit
# until it is waited for (wait_bg); BG_PID is its pid.
run_bg() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err" &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}
# wait_bg PID: its exit status in BG_RC; it is no longer stopped on exit.
wait_bg() {
	local p keep=()
	BG_RC=0
	wait "$1" || BG_RC=$?
	for p in "${BG_PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
}

# aof_incr DIR: "BYTES FILES" of the incr AOF files in DIR/appendonlydir.
aof_incr() {
	local f bytes=0 names=''
	for f in "$1"/appendonlydir/*.incr.aof; do
		[[ -e $f ]] || continue
		bytes=$((bytes + $(stat -c %s "$f")))
		names+="${f##*/},"
	done
	echo "$bytes ${names%,}"
}

# status: redkit's /status, on one line ({} when it does not answer).
status() {
	local s
	s=$({ curl -s -m 2 "$STATUS_URL" 2>/dev/null || true; } | tr -d '\n')
	[[ $s == '{'* ]] || s='{}'
	echo "$s"
}
status_field() { status | jq -r --arg f "$1" '.[$f] // empty'; }

# sample_status FILE STOPFILE: /status every 100 ms into FILE, one JSON
# object a line with "t" (the Unix time it was asked at), until STOPFILE
# exists.
sample_status() {
	local file=$1 stop=$2 next now d t body
	next=${EPOCHREALTIME/./}
	while [[ ! -e $stop ]]; do
		t=$EPOCHREALTIME
		body=$({ curl -s -m 1 "$STATUS_URL" 2>/dev/null || true; } | tr -d '\n')
		if [[ $body == '{'* ]]; then
			printf '{"t":%s,%s\n' "$t" "${body#\{}" >>"$file"
		else
			echo '{"t":'"$t"',"failed":true}' >>"$file"
		fi
		next=$((next + 100000))
		now=${EPOCHREALTIME/./}
		d=$((next - now))
		if ((d > 0)); then
			sleep "$(printf '0.%06d' "$d")"
		else
			next=$now
		fi
	done
}

# ---------------------------------------------------------------------------
# Results, per storage kind.
declare -A R_OPS R_CMDS R_LAG_MAX R_LAG_P99 R_LAG_N R_SEG_BPC R_AOF_BPC R_SEG_AOF R_RSS_MB R_REST_LATEST R_REST_BASE R_REST_RATIO R_DIGEST R_NOTES

# restore_into NAME WANT_DIGEST COMMAND...: a new empty server dst-NAME,
# COMMAND --to it under /usr/bin/time -v (bench/out/continuous-NAME.time,
# .stderr), given up after BENCH_RESTORE_TIMEOUT seconds (T_RC 124); sets
# T_SECS, T_KB, T_RC, T_KEYS, T_DIGEST_OK (1 or 0).
restore_into() {
	local name=$1 want=$2 srv=dst-$1 dir=$CDIR/dst-$1 got
	shift 2
	stop_server "$srv"
	rm -rf "$dir"
	start_server "$srv" "$dir" dump.rdb
	wait_loaded "$srv"
	sync # no writeback of an earlier step during this one
	log "$name: $* --to redis://127.0.0.1:${SRV_PORT[$srv]}"
	run_bg "$OUT/continuous-$name.stdout" "$OUT/continuous-$name.stderr" \
		/usr/bin/time -v -o "$OUT/continuous-$name.time" timeout --kill-after=30 "$RESTORE_TIMEOUT" "$@" --to "redis://127.0.0.1:${SRV_PORT[$srv]}"
	wait_bg "$BG_PID"
	T_RC=$BG_RC
	T_SECS=$(time_file_secs "$OUT/continuous-$name.time")
	T_KB=$(time_file_kb "$OUT/continuous-$name.time")
	if [[ $T_RC == 124 ]]; then
		log "$name: given up after $RESTORE_TIMEOUT s (BENCH_RESTORE_TIMEOUT)"
	elif [[ $T_RC != 0 ]]; then
		log "$name exited with status $T_RC: $(tail -n 3 "$OUT/continuous-$name.stderr" | tr '\n' ' ')"
	fi
	got=$(digest_of "${SRV_PORT[$srv]}")
	T_KEYS=$(keys_of "${SRV_PORT[$srv]}")
	if [[ $got == "$want" ]]; then
		T_DIGEST_OK=1
		log "$name: $T_SECS s, peak RSS $T_KB kB, $T_KEYS keys, digest equal"
	else
		T_DIGEST_OK=0
		log "$name: $T_SECS s, peak RSS $T_KB kB, DIGEST MISMATCH: $got ($T_KEYS keys), want $want"
	fi
	stop_server "$srv"
	[[ $KEEP == 1 ]] || rm -rf "$dir"
}

# run_storage KIND STORAGE_URL: one measurement row.
run_storage() {
	local kind=$1 url=$2 name=continuous-$1 src srcdir sport tpid rpid rc
	local base_digest aof0 aof1 files0 files1 cmd0 cmd1 t0 t1 load_secs brc off durable t2 catchup
	local final hwm tkb rss_kb src_digest src_keys gen from segs gcmds gbytes latest_cmds base_keys
	local samples stop
	log "== storage $kind: $url"

	# The source: AOF on, never rewritten, nothing to load.
	srcdir=$CDIR/src-$kind
	rm -rf "$srcdir"
	start_server "src-$kind" "$srcdir" dump.rdb --appendonly yes --appendfsync no --auto-aof-rewrite-percentage 0 \
		--repl-diskless-sync yes --repl-diskless-sync-delay 0
	wait_loaded "src-$kind"
	src=${SRV_PORT[src-$kind]}
	log "source on 127.0.0.1:$src: DEBUG POPULATE $NKEYS key 100"
	[[ $(redis-cli -p "$src" debug populate "$NKEYS" key 100) == OK ]] || die "DEBUG POPULATE failed; see $OUT/continuous-src-$kind.log"
	base_digest=$(digest_of "$src")
	log "source: $(keys_of "$src") keys, digest $base_digest"

	# redkit backup --continuous, under time -v.
	sport=$(free_port) || die "no free port"
	STATUS_URL=http://127.0.0.1:$sport/status
	log "redkit backup --continuous --from redis://127.0.0.1:$src --to $url --segment-interval $INTERVAL (log bench/out/$name-redkit.log)"
	run_bg "$OUT/$name-redkit.stdout" "$OUT/$name-redkit.log" \
		/usr/bin/time -v -o "$OUT/$name-redkit.time" "$REDKIT" backup --continuous --from "redis://127.0.0.1:$src" --to "$url" \
		--status-addr "127.0.0.1:$sport" --log-format json --segment-interval "$INTERVAL"
	tpid=$BG_PID
	rpid=
	for _ in $(seq 1 100); do
		rpid=$(pgrep -P "$tpid" | head -n 1) || true
		[[ -n $rpid ]] && break
		sleep 0.05
	done
	[[ -n $rpid ]] || die "redkit did not start; see $OUT/$name-redkit.log"
	t0=$EPOCHREALTIME
	until [[ $(status_field phase) == streaming ]]; do
		kill -0 "$rpid" 2>/dev/null || die "redkit exited before streaming; see $OUT/$name-redkit.log"
		awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 1800) }' && die "redkit not streaming after 30 minutes; see $OUT/$name-redkit.log"
		sleep 0.1
	done
	log "redkit streaming after $(elapsed "$t0" "$EPOCHREALTIME") s (base stored): $(status | jq -c '{generation, received_offset, durable_offset}')"

	# The load, /status sampled meanwhile.
	read -r aof0 files0 < <(aof_incr "$srcdir")
	cmd0=$(info_field "$src" stats total_commands_processed)
	samples=$OUT/$name-samples.jsonl
	stop=$CDIR/$name.stop
	SAMPLER_STOP=$stop
	rm -f "$samples" "$stop"
	run_bg /dev/null "$OUT/$name-sampler.stderr" sample_status "$samples" "$stop"
	local spid=$BG_PID
	local -a bench=(redis-benchmark -p "$src" -P 16 -n "$OPS" -r 1000000 -t "$TESTS" -q)
	[[ -z $LOAD_LIMIT ]] || bench=(timeout --signal=INT "$LOAD_LIMIT" "${bench[@]}")
	log "load: ${bench[*]}"
	t0=$EPOCHREALTIME
	run_bg "$OUT/$name-benchmark.txt" "$OUT/$name-benchmark.stderr" "${bench[@]}"
	wait_bg "$BG_PID"
	brc=$BG_RC
	t1=$EPOCHREALTIME
	touch "$stop"
	wait_bg "$spid"
	rm -f "$stop"
	SAMPLER_STOP=
	cmd1=$(info_field "$src" stats total_commands_processed)
	read -r aof1 files1 < <(aof_incr "$srcdir")
	load_secs=$(elapsed "$t0" "$t1")
	if [[ $brc != 0 && ! ($brc == 124 && -n $LOAD_LIMIT) ]]; then
		die "redis-benchmark exited with status $brc; see $OUT/$name-benchmark.stderr"
	fi
	[[ $files0 == "$files1" ]] || log "warning: the source's incr AOF files changed during the load ($files0 -> $files1): AOF bytes/command is off"
	log "load done in $load_secs s: $((cmd1 - cmd0)) commands processed; $(tr '\r' '\n' <"$OUT/$name-benchmark.txt" | { grep 'requests per second' || true; } | sed 's/ requests per second.*//' | tr '\n' ' ')"

	# Everything the source wrote, stored.
	off=$(info_field "$src" replication master_repl_offset)
	t2=$EPOCHREALTIME
	while :; do
		durable=$(status_field durable_offset)
		[[ -n $durable && $durable -ge $off ]] && break
		kill -0 "$rpid" 2>/dev/null || die "redkit exited; see $OUT/$name-redkit.log"
		awk -v a="$t2" -v b="$EPOCHREALTIME" -v m="$INTERVAL_SECS" 'BEGIN { exit !(b - a > 4 * m + 300) }' &&
			die "durable_offset ${durable:-?} still behind the source's $off after $(elapsed "$t2" "$EPOCHREALTIME") s; see $OUT/$name-redkit.log"
		sleep 0.05
	done
	catchup=$(elapsed "$t1" "$EPOCHREALTIME")
	final=$(status)
	echo "$final" | jq . >"$OUT/$name-status.json"
	log "durable up to the source's offset $off $catchup s after the load: $(echo "$final" | jq -c '{commands, segments, segment_bytes, pending_segments, reconnects, errors}')"

	# Peak RSS, then SIGTERM: everything received stored, exit 0.
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$rpid/status" 2>/dev/null || true)
	kill -TERM "$rpid"
	wait_bg "$tpid"
	rc=$BG_RC
	tkb=$(time_file_kb "$OUT/$name-redkit.time")
	rss_kb=$(awk -v a="${hwm:-0}" -v b="${tkb:-0}" 'BEGIN { print (a > b ? a : b) }')
	log "redkit exited with status $rc; VmHWM ${hwm:-?} kB before SIGTERM, time -v max RSS ${tkb:-?} kB, $(time_file_cpu_secs "$OUT/$name-redkit.time") CPU seconds"

	src_digest=$(digest_of "$src")
	src_keys=$(keys_of "$src")
	log "source after the load: $src_keys keys, digest $src_digest"
	stop_server "src-$kind" # the restores need the cores
	[[ $KEEP == 1 ]] || rm -rf "$srcdir"

	# The generation.
	"$REDKIT" backup list "$url" --format json >"$OUT/$name-list.json" 2>"$OUT/$name-list.stderr" ||
		die "redkit backup list $url failed: $(cat "$OUT/$name-list.stderr")"
	read -r gen from segs gcmds gbytes < <(jq -r '[.[] | select(.generation != null)] | last | "\(.id) \(.generation.from) \(.generation.segments) \(.generation.commands) \(.generation.segment_bytes)"' "$OUT/$name-list.json")
	[[ -n $gen && $gen != null ]] || die "no generation in $OUT/$name-list.json"
	log "generation $gen from $from: $segs segments, $gcmds commands, $gbytes bytes ($(jq '[.[] | select(.generation != null)] | length' "$OUT/$name-list.json") generation(s) in all)"

	# The restores.
	restore_into "$kind-latest" "$src_digest" "$REDKIT" restore "$url@$gen" --at latest
	R_REST_LATEST[$kind]=$T_SECS
	R_DIGEST[$kind]=$([[ $T_DIGEST_OK == 1 && $T_RC == 0 ]] && echo yes || echo no)
	case $T_RC in
	0) ;;
	124) R_REST_LATEST[$kind]="timed out (> $RESTORE_TIMEOUT)" R_DIGEST[$kind]="no (timed out)" ;;
	*) R_REST_LATEST[$kind]="failed (exit $T_RC, $T_SECS)" ;;
	esac
	latest_cmds=$(sed -n 's/.*the base and \([0-9]*\) command(s).*/\1/p' "$OUT/continuous-$kind-latest.stderr" | tail -n 1)
	local latest_kb=$T_KB latest_rc=$T_RC
	restore_into "$kind-base" "$base_digest" "$REDKIT" restore "$url@$gen"
	R_REST_BASE[$kind]=$T_SECS
	[[ $T_RC == 0 ]] || R_REST_BASE[$kind]="failed (exit $T_RC, $T_SECS)"
	base_keys=$T_KEYS
	local base_ok=$T_DIGEST_OK base_kb=$T_KB base_rc=$T_RC

	# The row.
	R_OPS[$kind]=$(awk -v c=$((cmd1 - cmd0)) -v s="$load_secs" 'BEGIN { printf "%.0f", c / s }')
	R_CMDS[$kind]=$(echo "$final" | jq -r .commands)
	read -r "R_LAG_N[$kind]" "R_LAG_MAX[$kind]" "R_LAG_P99[$kind]" < <(jq -s -r '[.[] | select(.recovery_lag_seconds != null) | .recovery_lag_seconds] | sort | length as $n |
		if $n == 0 then "0 - -" else "\($n) \(.[$n - 1]) \(.[(($n * 0.99) | ceil) - 1])" end' "$samples")
	R_LAG_MAX[$kind]=$(awk -v v="${R_LAG_MAX[$kind]}" 'BEGIN { if (v == "-") print v; else printf "%.3f", v }')
	R_LAG_P99[$kind]=$(awk -v v="${R_LAG_P99[$kind]}" 'BEGIN { if (v == "-") print v; else printf "%.3f", v }')
	R_SEG_BPC[$kind]=$(echo "$final" | jq -r 'if .commands > 0 then .segment_bytes / .commands * 100 | round / 100 else "-" end')
	R_AOF_BPC[$kind]=$(awk -v b=$((aof1 - aof0)) -v c="${R_CMDS[$kind]}" 'BEGIN { if (c > 0) printf "%.2f", b / c; else print "-" }')
	R_SEG_AOF[$kind]=$(awk -v s="$(echo "$final" | jq -r .segment_bytes)" -v a=$((aof1 - aof0)) 'BEGIN { if (a > 0) printf "%.3f", s / a; else print "-" }')
	R_RSS_MB[$kind]=$(awk -v kb="$rss_kb" 'BEGIN { printf "%.1f", kb * 1024 / 1e6 }')
	R_REST_RATIO[$kind]=$(awk -v a="${R_REST_LATEST[$kind]}" -v b="${R_REST_BASE[$kind]}" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }')
	R_NOTES[$kind]=$(
		echo "- $kind: source $src_keys keys after the load ($NKEYS before); load $load_secs s, $((cmd1 - cmd0)) commands processed by the source, per test: $(tr '\r' '\n' <"$OUT/$name-benchmark.txt" | { grep 'requests per second' || true; } | sed 's/ requests per second.*//' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
		echo "  redkit: exit $rc after SIGTERM; generation $gen ($segs segments, $gcmds commands, $gbytes bytes per backup list), $(echo "$final" | jq -r '"\(.segments) segments stored, \(.segment_bytes) bytes, \(.reconnects) reconnects, \(.errors) errors"'); durable $catchup s after the load stopped; ${R_LAG_N[$kind]} /status samples during the load ($(jq -s '[.[] | select(.failed)] | length' "$samples") failed), pending_segments max $(jq -s '[.[] | .pending_segments // 0] | max' "$samples"); VmHWM ${hwm:-?} kB, time -v ${tkb:-?} kB; $(time_file_cpu_secs "$OUT/$name-redkit.time") CPU seconds"
		echo "  AOF: incr file(s) grew by $((aof1 - aof0)) bytes during the load ($files1)"
		echo "  restore --at latest: exit $latest_rc, ${latest_cmds:-?} commands replayed, peak RSS $(awk -v k="$latest_kb" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }') MB; base only: exit $base_rc, $base_keys keys, digest $([[ $base_ok == 1 ]] && echo "equal to the source's before the load" || echo DIFFERENT), peak RSS $(awk -v k="$base_kb" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }') MB"
		awk -v k="$kind" -v m="${R_LAG_MAX[$kind]}" -v g="$LAG_GOAL" -v r="${R_RSS_MB[$kind]}" -v d="${R_DIGEST[$kind]}" 'BEGIN {
			printf "  goals: lag max %s s < %s s %s; peak RSS %s MB <= 256 MB %s; digest after --at latest %s\n", m, g, (m != "-" && m < g ? "ok" : "MISSED"), r, (r <= 256 ? "ok" : "MISSED"), (d == "yes" ? "equal ok" : d " MISSED") }'
	)
	if [[ $KEEP != 1 ]]; then
		case $kind in
		file) rm -rf "$CDIR/store-file" ;;
		s3) rm -rf "${S3DIR:?}/$BUCKET/continuous" ;;
		esac
	fi
}

# ---------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD_BEFORE" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "warning: load average $LOAD_BEFORE on $(nproc) cores; other work will skew the timings"
fi
rm -rf "$CDIR"
mkdir -p "$CDIR"
for kind in "${KINDS[@]}"; do
	case $kind in
	file)
		run_storage file "file://$CDIR/store-file"
		;;
	s3)
		start_versitygw # over bench/out/continuous/s3
		run_storage s3 "s3://$BUCKET/continuous"
		stop_versitygw
		;;
	esac
done

# ---------------------------------------------------------------------------
REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')
[[ -z $(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null) ]] || REV+=" (with uncommitted changes)"
{
	echo
	echo "### bench/continuous.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "redkit at $REV; $(nproc) cores, $(redis-server --version | awk '{print $1, $2, $3}'); load average $LOAD_BEFORE before, $(cut -d' ' -f1 /proc/loadavg) after"
	echo "BENCH_KEYS=$NKEYS BENCH_OPS=$OPS${LOAD_LIMIT:+ BENCH_SECONDS=$LOAD_LIMIT} BENCH_SEGMENT_INTERVAL=$INTERVAL BENCH_STORAGE=$STORAGE: redis-benchmark -P 16 -n $OPS -r 1000000 -t $TESTS; restores given up after $RESTORE_TIMEOUT s"
	echo
	echo "| storage | source ops/s | commands captured | recovery lag max s | lag p99 s (goal < $LAG_GOAL) | segment bytes/cmd | AOF bytes/cmd | segment/AOF | redkit peak RSS MB (goal <= 256) | restore --at latest s | restore base only s | latest/base | digest equal |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for kind in "${KINDS[@]}"; do
		echo "| $kind | ${R_OPS[$kind]} | ${R_CMDS[$kind]} | ${R_LAG_MAX[$kind]} | ${R_LAG_P99[$kind]} | ${R_SEG_BPC[$kind]} | ${R_AOF_BPC[$kind]} | ${R_SEG_AOF[$kind]} | ${R_RSS_MB[$kind]} | ${R_REST_LATEST[$kind]} | ${R_REST_BASE[$kind]} | ${R_REST_RATIO[$kind]} | ${R_DIGEST[$kind]} |"
	done
	echo
	echo "Lag: /status recovery_lag_seconds sampled every 100 ms during the load (p99 nearest rank: the max under 100 samples). Bytes per command: the final /status's segment_bytes (compressed; taken before SIGTERM, whose last segment is not in it) and the growth of the source's incr AOF during the load, both over its commands. MB: 10^6 bytes."
	for kind in "${KINDS[@]}"; do
		echo "${R_NOTES[$kind]}"
	done
} | tee -a "$OUT/continuous-results.md"
