# bench/lib.sh: what the bench scripts share. Source it after
# "set -euo pipefail"; it builds redkit and HDT3213/rdb's CLI, makes the
# dump when it is missing, and defines log, die, free_port, warm_up, measure,
# elapsed and the time_file_* readers of /usr/bin/time -v reports.
# bench/servers.sh, sourced after it, has the helpers of the scripts that
# start servers of their own (backup.sh, continuous.sh, sync.sh).
# Environment: see bench/README.md.

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

# redkit
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

# HDT3213/rdb's CLI, in a scratch module outside the main one
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

# the dump
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

DUMP_BYTES=$(stat -c %s "$DUMP")

# warm_up notes the load average (LOAD_BEFORE), warns when the machine is
# busy, and reads the dump once into the page cache.
warm_up() {
	LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
	if awk -v l="$LOAD_BEFORE" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
		log "warning: load average $LOAD_BEFORE on $(nproc) cores; other work will skew the timings"
	fi
	log "warming the page cache"
	cat "$DUMP" >/dev/null
}

# time_file_secs FILE, time_file_kb FILE, time_file_cpu FILE,
# time_file_cpu_secs FILE: from a /usr/bin/time -v report, the wall time in
# seconds, the peak RSS in kB, the percent of CPU ("99%"), and the user plus
# system CPU seconds with one decimal.
time_file_secs() {
	awk '/Elapsed \(wall clock\)/ { t = $NF; n = split(t, p, ":"); v = 0; for (j = 1; j <= n; j++) v = v * 60 + p[j]; print v }' "$1"
}
time_file_kb() {
	awk -F': ' '/Maximum resident set size/ {print $2}' "$1"
}
time_file_cpu() {
	awk -F': ' '/Percent of CPU/ {print $2}' "$1"
}
time_file_cpu_secs() {
	awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.1f", s }' "$1"
}

# elapsed T0 T1: T1 - T0 (EPOCHREALTIME values) with two decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

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
		s=$(time_file_secs "$OUT/$name.time")
		kb=$(time_file_kb "$OUT/$name.time")
		cpu=$(time_file_cpu "$OUT/$name.time")
		if [[ $rc -ne 0 ]]; then
			log "$name exited with status $rc: $(tail -n 3 "$OUT/$name.stderr" | tr '\n' ' ')"
		fi
		# every run's figures, not only the best: the machine's noise
		log "$name run $i/$RUNS: $s s, peak RSS $((${kb:-0} / 1024)) MiB, $(time_file_cpu_secs "$OUT/$name.time") CPU s"
		if [[ -z ${SECS[$name]:-} ]] || awk -v a="$s" -v b="${SECS[$name]}" 'BEGIN { exit !(a < b) }'; then
			SECS[$name]=$s
			RSS[$name]=$kb
			RC[$name]=$rc
			CPU[$name]=$cpu
		fi
	done
}

