#!/usr/bin/env bash
# bench/run.sh: compare redkit with its peers on one big RDB dump, in one run.
#
#   redkit analyze --report keys --format csv   vs  HDT3213/rdb's `rdb -c memory`
#   redkit check                                 vs  redis-check-rdb
#   redkit convert --to resp                     vs  HDT3213/rdb's `rdb -c aof`   (and librdb `rdb-cli resp`)
#   redkit convert --to json                     vs  HDT3213/rdb's `rdb -c json`  (and librdb `rdb-cli json`)
#
# It builds redkit and HDT3213/rdb's CLI, generates the dump with a real
# redis-server if it is missing, warms the page cache, times every command with
# /usr/bin/time -v and prints seconds, throughput, peak RSS and the ratios.
# See bench/README.md. Environment:
#   BENCH_DUMP     dump to use or create        (default bench/out/dump.rdb)
#   BENCH_SIZE_MB  size of a generated dump     (default 1100)
#   BENCH_SEED     seed of a generated dump     (default 1)
#   BENCH_RUNS     runs per command, best kept  (default 1)
#   HDT_VERSION    HDT3213/rdb version          (default v1.3.2)
#   BENCH_LIBRDB   path of redis/librdb's rdb-cli, compared when set (it is
#                  built from source, not on any registry here)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
TOOLS=$ROOT/.tools
DUMP=${BENCH_DUMP:-$OUT/dump.rdb}
SIZE_MB=${BENCH_SIZE_MB:-1100}
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-1}
HDT_VERSION=${HDT_VERSION:-v1.3.2}
HDT=$TOOLS/hdt-rdb-$HDT_VERSION/hdt-rdb
REDKIT=$OUT/redkit

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$OUT" "$TOOLS"
export GOWORK=off

for c in go redis-server redis-cli redis-check-rdb awk; do
	command -v "$c" >/dev/null || die "$c not found (Debian: apt-get install redis-server redis-tools golang)"
done
if [[ ! -x /usr/bin/time ]]; then
	log "installing GNU time (Debian package 'time')"
	if [[ $(id -u) -eq 0 ]]; then
		apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
	else
		sudo apt-get install -y -qq time >/dev/null
	fi
fi

REDIS_PID=
cleanup() {
	if [[ -n $REDIS_PID ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
		log "stopping redis-server (pid $REDIS_PID)"
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	REDIS_PID=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# (a) redkit
HAVE_REDKIT=0
if [[ -d $ROOT/cmd/redkit ]]; then
	log "building redkit from ./cmd/redkit"
	if (cd "$ROOT" && go build -o "$REDKIT" ./cmd/redkit) 2>"$OUT/redkit-build.log"; then
		HAVE_REDKIT=1
	else
		log "cmd/redkit does not build yet (see bench/out/redkit-build.log); measuring the peers only"
		tail -n 5 "$OUT/redkit-build.log" >&2 || true
	fi
else
	log "cmd/redkit does not exist yet; measuring the peers only"
fi

# (b) HDT3213/rdb's CLI, in a scratch module outside the main one
if [[ ! -x $HDT ]]; then
	log "building HDT3213/rdb $HDT_VERSION CLI in ${HDT%/*}"
	mkdir -p "${HDT%/*}"
	(
		cd "${HDT%/*}"
		[[ -f go.mod ]] || go mod init x >/dev/null 2>&1
		go get "github.com/hdt3213/rdb@$HDT_VERSION" 2>&1 | tail -n 3
		go build -o hdt-rdb github.com/hdt3213/rdb
	) >&2 || die "could not build HDT3213/rdb $HDT_VERSION"
fi

# (c) the dump
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

generate() {
	local dir name tmp port start
	dir=$(dirname "$DUMP")
	name=$(basename "$DUMP")
	tmp=.$name.tmp
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	rm -f "$dir/$tmp"
	log "building bench/gendump"
	(cd "$ROOT" && go build -o "$OUT/gendump" ./bench/gendump)
	port=$(free_port) || die "no free port"
	log "starting redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port (log bench/out/redis-gen.log)"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --dbfilename "$tmp" \
		--save '' --appendonly no --protected-mode no --daemonize no \
		--logfile "$OUT/redis-gen.log" &
	REDIS_PID=$!
	for _ in $(seq 1 100); do
		[[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break
		kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited; see $OUT/redis-gen.log"
		sleep 0.1
	done
	start=$(date +%s)
	log "filling it: gendump -size-mb $SIZE_MB -seed $SEED"
	"$OUT/gendump" -addr "127.0.0.1:$port" -size-mb "$SIZE_MB" -seed "$SEED"
	log "SAVE"
	[[ $(redis-cli -p "$port" save) == OK ]] || die "SAVE failed; see $OUT/redis-gen.log"
	redis-cli -p "$port" info keyspace | grep '^db' >&2 || true
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=
	mv "$dir/$tmp" "$DUMP"
	log "dump written in $(($(date +%s) - start)) s: $DUMP"
}

if [[ ! -s $DUMP ]]; then
	generate
else
	log "reusing $DUMP (delete it to generate a new one)"
fi

# (d) measurements
DUMP_BYTES=$(stat -c %s "$DUMP")
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD_BEFORE" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "warning: load average $LOAD_BEFORE on $(nproc) cores; other work will skew the timings"
fi
log "warming the page cache"
cat "$DUMP" >/dev/null

declare -A SECS RSS RC CPU
NAMES=()

# measure NAME STDOUT_FILE COMMAND...: best wall time and its peak RSS over RUNS runs.
measure() {
	local name=$1 stdout=$2 i rc s kb cpu
	shift 2
	NAMES+=("$name")
	for ((i = 1; i <= RUNS; i++)); do
		log "run $i/$RUNS: $*"
		rc=0
		/usr/bin/time -v -o "$OUT/$name.time" "$@" >"$stdout" 2>"$OUT/$name.stderr" || rc=$?
		s=$(awk '/Elapsed \(wall clock\)/ {
			t = $NF; n = split(t, p, ":"); v = 0
			for (j = 1; j <= n; j++) v = v * 60 + p[j]
			print v }' "$OUT/$name.time")
		kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/$name.time")
		cpu=$(awk -F': ' '/Percent of CPU/ {print $2}' "$OUT/$name.time")
		if [[ $rc -ne 0 ]]; then
			log "$name exited with status $rc: $(tail -n 3 "$OUT/$name.stderr" | tr '\n' ' ')"
		fi
		if [[ -z ${SECS[$name]:-} ]] || awk -v a="$s" -v b="${SECS[$name]}" 'BEGIN { exit !(a < b) }'; then
			SECS[$name]=$s
			RSS[$name]=$kb
			RC[$name]=$rc
			CPU[$name]=$cpu
		fi
	done
}

if [[ $HAVE_REDKIT == 1 ]]; then
	measure redkit-analyze /dev/null "$REDKIT" analyze --report keys --format csv --quiet "$DUMP"
fi
measure hdt-memory "$OUT/hdt-memory.stdout" "$HDT" -c memory -o /dev/null "$DUMP"
if [[ $HAVE_REDKIT == 1 ]]; then
	measure redkit-check "$OUT/redkit-check.stdout" "$REDKIT" check "$DUMP"
fi
measure redis-check-rdb "$OUT/redis-check-rdb.stdout" redis-check-rdb "$DUMP"
if [[ $HAVE_REDKIT == 1 ]]; then
	measure redkit-resp /dev/null "$REDKIT" convert --to resp -q -o /dev/null "$DUMP"
fi
measure hdt-aof /dev/null "$HDT" -c aof -o /dev/null "$DUMP"
if [[ $HAVE_REDKIT == 1 ]]; then
	measure redkit-json /dev/null "$REDKIT" convert --to json -q -o /dev/null "$DUMP"
fi
measure hdt-json /dev/null "$HDT" -c json -o /dev/null "$DUMP"
LIBRDB=${BENCH_LIBRDB:-}
if [[ -n $LIBRDB && -x $LIBRDB ]]; then
	# -l: rdb-cli logs to ./rdb-cli.log unless told otherwise.
	measure librdb-resp /dev/null "$LIBRDB" "$DUMP" -l "$OUT/librdb.log" resp -o /dev/null
	measure librdb-json /dev/null "$LIBRDB" "$DUMP" -l "$OUT/librdb.log" json -o /dev/null
fi

# (e) report
KEYS=$(awk '/keys read/ {for (i = 1; i < NF; i++) if ($(i+1) == "keys") print $i}' "$OUT/redis-check-rdb.stdout" | tail -n 1)
EXPIRES=$(awk '/expires/ && !/already/ {for (i = 1; i < NF; i++) if ($(i+1) == "expires") print $i}' "$OUT/redis-check-rdb.stdout" | tail -n 1)
{
	echo
	echo "dump:    $DUMP"
	awk -v b="$DUMP_BYTES" 'BEGIN { printf "size:    %d bytes (%.1f MiB)\n", b, b / 1048576 }'
	echo "keys:    ${KEYS:-?} (${EXPIRES:-?} with expiry), per redis-check-rdb"
	echo "load:    $LOAD_BEFORE before, $(cut -d' ' -f1 /proc/loadavg) after (1-minute load average)"
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(redis-server --version | awk '{print $1, $2, $3}'), HDT3213/rdb $HDT_VERSION, best of $RUNS run(s)"
	echo
	printf '%-16s %9s %10s %14s %5s %5s\n' command seconds 'MiB/s' 'peak RSS MiB' CPU exit
	for n in "${NAMES[@]}"; do
		awk -v n="$n" -v s="${SECS[$n]}" -v kb="${RSS[$n]}" -v rc="${RC[$n]}" -v cpu="${CPU[$n]}" -v b="$DUMP_BYTES" 'BEGIN {
			printf "%-16s %9.2f %10.1f %14.1f %5s %5d\n", n, s, (s > 0 ? b / 1048576 / s : 0), kb / 1024, cpu, rc }'
	done
	echo
	if [[ $HAVE_REDKIT == 1 ]]; then
		awk -v ra="${SECS[redkit-analyze]}" -v h="${SECS[hdt-memory]}" -v rc="${SECS[redkit-check]}" -v c="${SECS[redis-check-rdb]}" \
			-v rssa="${RSS[redkit-analyze]}" -v rssc="${RSS[redkit-check]}" -v ea="${RC[redkit-analyze]}" -v ec="${RC[redkit-check]}" 'BEGIN {
			ratio1 = (ra > 0 ? h / ra : 0); ratio2 = (rc > 0 ? c / rc : 0); rss = (rssa > rssc ? rssa : rssc) / 1024
			printf "redkit analyze / HDT memory throughput:        %5.2fx  (goal >= 4x)    %s\n", ratio1, (ea == 0 && ratio1 >= 4 ? "ok" : "MISSED")
			printf "redkit check / redis-check-rdb throughput:     %5.2fx  (goal >= 1x)    %s\n", ratio2, (ec == 0 && ratio2 >= 1 ? "ok" : "MISSED")
			printf "redkit peak RSS (max of analyze and check): %6.1f MiB (goal <= 64 MiB) %s\n", rss, (rss <= 64 ? "ok" : "MISSED")
		}'
		awk -v r="${SECS[redkit-resp]}" -v h="${SECS[hdt-aof]}" -v j="${SECS[redkit-json]}" -v hj="${SECS[hdt-json]}" \
			-v lr="${SECS[librdb-resp]:-0}" -v lj="${SECS[librdb-json]:-0}" -v rssr="${RSS[redkit-resp]}" -v rssj="${RSS[redkit-json]}" 'BEGIN {
			ratio = (r > 0 ? h / r : 0); printf "redkit convert resp / HDT aof throughput:      %5.2fx  (goal >= 4x)    %s\n", ratio, (ratio >= 4 ? "ok" : "MISSED")
			ratio = (j > 0 ? hj / j : 0); printf "redkit convert json / HDT json throughput:     %5.2fx  (goal >= 4x)    %s\n", ratio, (ratio >= 4 ? "ok" : "MISSED")
			if (lr > 0) { ratio = lr / r; printf "redkit convert resp / librdb resp throughput:  %5.2fx  (goal >= 2x)    %s\n", ratio, (ratio >= 2 ? "ok" : "MISSED") }
			if (lj > 0) { ratio = lj / j; printf "redkit convert json / librdb json throughput:  %5.2fx  (goal >= 4x)    %s\n", ratio, (ratio >= 4 ? "ok" : "MISSED") }
			rss = (rssr > rssj ? rssr : rssj) / 1024
			printf "redkit peak RSS (max of convert resp, json): %6.1f MiB (goal <= 64 MiB) %s\n", rss, (rss <= 64 ? "ok" : "MISSED")
		}'
	else
		echo "redkit: not built, ratios not available"
	fi
} | tee "$OUT/results.txt"
