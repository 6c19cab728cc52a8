# bench/servers.sh: what bench/backup.sh, bench/continuous.sh and
# bench/sync.sh share about the processes they start: redis-servers on free
# loopback ports, versitygw, commands in the background, and stopping them
# all on exit. Source it after bench/lib.sh (it uses log, die, free_port and
# elapsed), with SRV_LOG_PREFIX set to the script's name: a server NAME logs
# to bench/out/$SRV_LOG_PREFIX-NAME.log, versitygw to
# bench/out/$SRV_LOG_PREFIX-versitygw.log. SRV_STOP_WAIT=1: on exit, each
# background command's children are given 5 s to go before it is stopped,
# and it is waited for (see stop_started).

: "${SRV_LOG_PREFIX:?set SRV_LOG_PREFIX before sourcing bench/servers.sh}"

# Every process started here, stopped on any exit (stop_started, from the
# script's EXIT trap): the servers by name, the background commands by pid
# (BG_PIDS), versitygw.
declare -A SRV_PORT SRV_PID
BG_PIDS=()
VGW_PID=

# kill_tree PID [wait]: PID's children (the command under /usr/bin/time or
# timeout), then PID; with "wait", PID only once the children are gone (at
# most 5 s).
kill_tree() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do
		kill "$c" 2>/dev/null || true
	done
	if [[ ${2:-} == wait ]]; then
		for _ in $(seq 1 50); do
			[[ -n $(pgrep -P "$1" 2>/dev/null) ]] || break
			sleep 0.1
		done
	fi
	kill "$1" 2>/dev/null || true
}

# stop_versitygw: SIGTERM, SIGKILL after 5 s; nothing when none runs.
stop_versitygw() {
	[[ -n $VGW_PID ]] || return 0
	kill "$VGW_PID" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$VGW_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$VGW_PID" 2>/dev/null || true
	wait "$VGW_PID" 2>/dev/null || true
	VGW_PID=
}

# stop_started: every process started here: each of BG_PIDS with
# kill_tree (with SRV_STOP_WAIT=1: kill_tree PID wait, then waited for),
# every server still running, versitygw.
stop_started() {
	local p n
	for p in "${BG_PIDS[@]}"; do
		if [[ ${SRV_STOP_WAIT:-0} == 1 ]]; then
			kill_tree "$p" wait
			wait "$p" 2>/dev/null || true
		else
			kill_tree "$p"
		fi
	done
	for n in "${!SRV_PID[@]}"; do
		stop_server "$n"
	done
	stop_versitygw
}

# start_server NAME DIR DBFILENAME [ARGS...]: a redis-server on a free
# loopback port (SRV_PORT[NAME], SRV_PID[NAME]), logging to
# bench/out/$SRV_LOG_PREFIX-NAME.log; ARGS come last and override the
# defaults. It does not wait.
start_server() {
	local name=$1 dir=$2 file=$3 port
	shift 3
	mkdir -p "$dir"
	port=$(free_port) || die "no free port"
	: >"$OUT/$SRV_LOG_PREFIX-$name.log"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --dbfilename "$file" \
		--save '' --appendonly no --protected-mode no --daemonize no \
		--enable-debug-command local --logfile "$OUT/$SRV_LOG_PREFIX-$name.log" "$@" &
	SRV_PID[$name]=$!
	SRV_PORT[$name]=$port
}

# wait_loaded NAME: until INFO persistence says loading:0.
wait_loaded() {
	local name=$1
	for _ in $(seq 1 60000); do
		[[ $(redis-cli -p "${SRV_PORT[$name]}" info persistence 2>/dev/null | tr -d '\r' | awk -F: '$1 == "loading" {print $2}') == 0 ]] && return 0
		kill -0 "${SRV_PID[$name]}" 2>/dev/null || die "redis-server $name exited; see $OUT/$SRV_LOG_PREFIX-$name.log"
		sleep 0.01
	done
	die "redis-server $name never finished loading"
}

# stop_server NAME: SHUTDOWN NOSAVE (else SIGTERM), waited for; nothing when
# NAME is not running.
stop_server() {
	local name=$1
	[[ -n ${SRV_PID[$name]:-} ]] || return 0
	redis-cli -p "${SRV_PORT[$name]}" shutdown nosave >/dev/null 2>&1 || kill "${SRV_PID[$name]}" 2>/dev/null || true
	wait "${SRV_PID[$name]}" 2>/dev/null || true
	unset "SRV_PID[$name]"
}

# keys_of PORT: the keys of every database, per INFO keyspace.
keys_of() {
	redis-cli -p "$1" info keyspace | awk -F'[=,:]' '/^db/ {n += $3} END {print n + 0}'
}

# digest_of PORT: DEBUG DIGEST.
digest_of() {
	redis-cli -p "$1" debug digest
}

# info_field PORT SECTION FIELD: one field of INFO SECTION.
info_field() {
	redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'
}

# cpu_secs PID: CPU seconds of PID and of the children it has waited for
# (a redis-server's fork for a replica's snapshot), from /proc.
cpu_secs() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# cpu_diff BEFORE AFTER: AFTER - BEFORE with one decimal.
cpu_diff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# start_source: the source, a server "src" loading the dump at start-up
# from bench/out/$SRV_LOG_PREFIX-src (SRC_DIR), with a diskless replication
# snapshot. Its dbfilename is a symlink to the dump: a disk-based sync (a
# peer without capa eof) would rename its own snapshot over the link, never
# over the dump. Sets LOAD_SECS (exec to loading:0), SRC (its port),
# SRC_KEYS and SRC_USED (used_memory once loaded).
start_source() {
	local t0
	SRC_DIR=$OUT/$SRV_LOG_PREFIX-src
	mkdir -p "$SRC_DIR"
	ln -sfn "$(realpath "$DUMP")" "$SRC_DIR/dump.rdb"
	t0=$EPOCHREALTIME
	start_server src "$SRC_DIR" dump.rdb --repl-diskless-sync yes --repl-diskless-sync-delay 0
	wait_loaded src
	LOAD_SECS=$(elapsed "$t0" "$EPOCHREALTIME")
	SRC=${SRV_PORT[src]}
	SRC_KEYS=$(keys_of "$SRC")
	SRC_USED=$(info_field "$SRC" memory used_memory)
}

# find_versitygw ALTERNATIVES: VGW, the versitygw binary: BENCH_VERSITYGW,
# else .tools/bin/versitygw, else versitygw on PATH. When there is none, it
# dies with how to install it, then ALTERNATIVES ("or set ...").
find_versitygw() {
	VGW=${BENCH_VERSITYGW:-}
	if [[ -z $VGW ]]; then
		if [[ -x $TOOLS/bin/versitygw ]]; then
			VGW=$TOOLS/bin/versitygw
		elif command -v versitygw >/dev/null; then
			VGW=$(command -v versitygw)
		else
			die "versitygw not found: install it with 'GOBIN=\$PWD/.tools/bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0' at the repository's root, $1"
		fi
	fi
	[[ -x $VGW ]] || die "BENCH_VERSITYGW=$VGW is not an executable"
}

# start_versitygw: versitygw (VGW) on a free loopback port, over a fresh
# directory S3DIR with one bucket BUCKET, logging to
# bench/out/$SRV_LOG_PREFIX-versitygw.log; five attempts. Sets VGW_PID,
# S3_ENDPOINT, AK and SK (random root keys), and exports the AWS_* variables
# that point redkit and bench/s3put at it (and nowhere else).
start_versitygw() {
	local port code attempt
	log "versitygw ($VGW) over ${S3DIR#"$ROOT"/}, bucket $BUCKET"
	rm -rf "$S3DIR"
	mkdir -p "$S3DIR/$BUCKET"
	AK=AK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
	SK=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	for attempt in 1 2 3 4 5; do
		port=$(free_port) || die "no free port"
		ROOT_ACCESS_KEY=$AK ROOT_SECRET_KEY=$SK "$VGW" --port "127.0.0.1:$port" --quiet --health /health posix "$S3DIR" >"$OUT/$SRV_LOG_PREFIX-versitygw.log" 2>&1 &
		VGW_PID=$!
		code=
		for _ in $(seq 1 400); do
			code=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" 2>/dev/null || true)
			[[ $code == 200 ]] && break
			kill -0 "$VGW_PID" 2>/dev/null || break
			sleep 0.05
		done
		[[ $code == 200 ]] && break
		log "versitygw did not answer on 127.0.0.1:$port (attempt $attempt): $(tail -n 3 "$OUT/$SRV_LOG_PREFIX-versitygw.log" | tr '\n' ' ')"
		stop_versitygw
	done
	[[ $code == 200 ]] || die "versitygw did not start; see $OUT/$SRV_LOG_PREFIX-versitygw.log"
	S3_ENDPOINT=http://127.0.0.1:$port
	log "versitygw on $S3_ENDPOINT (pid $VGW_PID)"
	export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
	unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
}
