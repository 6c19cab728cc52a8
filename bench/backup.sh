#!/usr/bin/env bash
# bench/backup.sh: backup of a live data set to a local S3 store (versitygw)
# and restore from it, in one run, every server on a free loopback port.
#
# A source redis-server loads the dump at start-up (as in bench/sync.sh);
# a versitygw serves one bucket from a directory of bench/out/. Then:
#
#   floor:  redkit dump --from SRC -o FILE            (timed)
#           bench/s3put FILE s3://bench/floor/dump.rdb (timed: the transfer
#           manager alone, redkit's settings: 16 MiB parts, 4 in flight,
#           CRC32; raw, uncompressed)
#   redkit backup --from SRC --to s3://bench/redkit    (timed; default zstd)
#       goal: RDB bytes / second at least 90% of the floor's (the same
#       bytes over dump + upload seconds); peak RSS at most 200 MB; no
#       temporary file
#   redkit restore s3://bench/redkit@latest --to DST   into an empty server
#   redkit restore FILE --to DST2                      into another empty one,
#       both timed, with peak RSS, and DEBUG DIGEST against the source's
#
# No temporary file: redkit backup and restore run from an empty directory
# with TMPDIR another empty one (both checked afterwards), their open
# files are sampled from /proc/PID/fd every 0.2 s (any regular file opened
# for writing is reported), and the store's directory must hold only the
# expected objects afterwards (no lock, no pending multipart upload).
#
# Environment as for bench/run.sh (BENCH_DUMP, BENCH_SIZE_MB, BENCH_SEED,
# BENCH_RUNS: runs of each timed command, best kept) and:
#   BENCH_VERSITYGW  path of the versitygw binary (default .tools/bin/versitygw,
#                    else versitygw on PATH)
#   BENCH_KEEP       1: keep the store's directory and the dumped file
# See bench/README.md.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a decimal point

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRV_LOG_PREFIX=backup # the servers log to bench/out/backup-NAME.log
# shellcheck source=bench/servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

[[ $HAVE_REDKIT == 1 ]] || die "redkit does not build: nothing to measure"
for c in curl pgrep realpath; do
	command -v "$c" >/dev/null || die "$c not found (Debian: apt-get install curl procps coreutils)"
done
for c in backup dump; do
	"$REDKIT" "$c" --help >/dev/null 2>&1 || die "this redkit has no $c command"
done

KEEP=${BENCH_KEEP:-0}
find_versitygw "or set BENCH_VERSITYGW"

log "building bench/s3put"
(cd "$ROOT" && go build -o "$OUT/s3put" ./bench/s3put) || die "could not build bench/s3put"
S3PUT=$OUT/s3put

BUCKET=bench
S3DIR=$OUT/backup-s3     # versitygw's root: each sub-directory is a bucket
FLOOR_FILE=$OUT/backup-floor.rdb
WATCH=$OUT/backup-watch  # the empty working and TMPDIR directories

# Every process started here (servers.sh), stopped on any exit.
backup_cleanup() {
	stop_started
	if [[ $KEEP != 1 ]]; then
		rm -rf "$S3DIR" "$FLOOR_FILE" "$WATCH"
	fi
	cleanup
}
trap backup_cleanup EXIT

# manifest_field FILE NAME: a top-level number or string of a manifest
# (json.MarshalIndent with two spaces: top-level keys have two).
manifest_field() {
	awk -v f="$2" 'index($0, "  \"" f "\": ") == 1 { v = substr($0, length(f) + 7); sub(/,$/, "", v); gsub(/"/, "", v); print v; exit }' "$1"
}

# sample_fds PID: "FLAGS PATH" for each file PID has open past its stdio
# (not /dev, /proc, /sys, sockets or pipes); FLAGS are octal, per fdinfo.
sample_fds() {
	local p=$1 fd target flags
	while read -r fd target; do
		flags=$(awk '$1 == "flags:" {print $2}' "/proc/$p/fdinfo/$fd" 2>/dev/null) || continue
		echo "${flags:-?} $target"
	done < <(find "/proc/$p/fd" -mindepth 1 -printf '%f %l\n' 2>/dev/null | awk '$1 > 2 && $2 ~ /^\// && $2 !~ /^\/(dev|proc|sys)\//')
}

# watched NAME COMMAND...: COMMAND under /usr/bin/time -v (bench/out/NAME.time,
# .stdout, .stderr), run from the empty directory WATCH/NAME/cwd with
# TMPDIR=WATCH/NAME/tmp, its open files sampled every 0.2 s into
# bench/out/NAME.files. Sets W_SECS, W_KB, W_CPU, W_RC; W_WRITTEN: the
# files it had open for writing; W_LEFT: what it left in its directories;
# W_BIGTMP: files of more than 1 MiB created in /tmp meanwhile (by anyone).
watched() {
	local name=$1 dir=$WATCH/$1 pid p st rc=0 marker
	shift
	rm -rf "$dir"
	mkdir -p "$dir/cwd" "$dir/tmp"
	marker=$dir/marker
	touch "$marker"
	: >"$OUT/$name.files"
	sync # no writeback of an earlier step during this one
	log "$name: $*"
	(cd "$dir/cwd" && TMPDIR=$dir/tmp exec /usr/bin/time -v -o "$OUT/$name.time" "$@") >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
	pid=$!
	BG_PIDS+=("$pid")
	while kill -0 "$pid" 2>/dev/null; do
		read -r _ _ st _ 2>/dev/null <"/proc/$pid/stat" || break
		[[ $st != Z ]] || break
		for p in $(pgrep -P "$pid"); do
			sample_fds "$p" >>"$OUT/$name.files"
		done
		sleep 0.2
	done
	wait "$pid" || rc=$?
	W_RC=$rc
	W_SECS=$(time_file_secs "$OUT/$name.time")
	W_KB=$(time_file_kb "$OUT/$name.time")
	W_CPU=$(time_file_cpu "$OUT/$name.time")
	sort -u -o "$OUT/$name.files" "$OUT/$name.files"
	# Not the time -v report: GNU time opens it before it forks, and the
	# command inherits the descriptor.
	W_WRITTEN=$(awk -v own="$OUT/$name.time" '{ d = substr($1, length($1), 1) % 4; if (d == 1 || d == 2) { $1 = ""; sub(/^ /, ""); if ($0 != own) print } }' "$OUT/$name.files" | sort -u | tr '\n' ' ' | sed 's/ $//')
	W_LEFT=$(cd "$dir" && find cwd tmp -mindepth 1 | tr '\n' ' ' | sed 's/ $//')
	W_BIGTMP=$(find /tmp -xdev -newer "$marker" -type f -size +1M 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
	if [[ $rc -ne 0 ]]; then
		log "$name exited with status $rc: $(tail -n 3 "$OUT/$name.stderr" | tr '\n' ' ')"
	fi
	log "$name: $W_SECS s, peak RSS $W_KB kB, CPU $W_CPU${W_WRITTEN:+, files open for writing: $W_WRITTEN}${W_LEFT:+, left in its directories: $W_LEFT}"
}

# keep NAME: W_* become NAME's result if it is the first or the fastest.
declare -A WRITTEN LEFT BIGTMP
keep() {
	local name=$1
	[[ " ${NAMES[*]} " == *" $name "* ]] || NAMES+=("$name")
	# Temporary-file evidence accumulates over every run.
	WRITTEN[$name]="${WRITTEN[$name]:-}${W_WRITTEN:+$W_WRITTEN }"
	LEFT[$name]="${LEFT[$name]:-}${W_LEFT:+$W_LEFT }"
	BIGTMP[$name]="${BIGTMP[$name]:-}${W_BIGTMP:+$W_BIGTMP }"
	if [[ -z ${SECS[$name]:-} ]] || awk -v a="$W_SECS" -v b="${SECS[$name]}" 'BEGIN { exit !(a < b) }'; then
		SECS[$name]=$W_SECS
		RSS[$name]=$W_KB
		RC[$name]=$W_RC
		CPU[$name]=$W_CPU
	fi
	if [[ $W_RC -ne 0 ]]; then
		RC[$name]=$W_RC
	fi
}

# ---------------------------------------------------------------------------
warm_up
start_versitygw # over bench/out/backup-s3

# The source, loading the dump at start-up (bench/out/backup-src/dump.rdb,
# a symlink to it).
log "source redis-server loading $DUMP at start-up"
start_source
SRC_DIGEST=$(digest_of "$SRC")
log "loaded in $LOAD_SECS s: $SRC_KEYS keys on 127.0.0.1:$SRC, digest $SRC_DIGEST (DEBUG DIGEST takes about 90 s on this dump)"

# ---------------------------------------------------------------------------
# Backups, BENCH_RUNS times: the floor (dump, then raw upload), then redkit.
BACKUP_IDS=()
for ((i = 1; i <= RUNS; i++)); do
	log "backup round $i/$RUNS"
	rm -f "$FLOOR_FILE"
	s0=$(cpu_secs "${SRV_PID[src]}")
	watched floor-dump "$REDKIT" dump --from "redis://127.0.0.1:$SRC" -o "$FLOOR_FILE" -q
	keep floor-dump
	[[ $W_RC == 0 && -s $FLOOR_FILE ]] || die "redkit dump failed; see $OUT/floor-dump.stderr"
	[[ $W_SECS == "${SECS[floor-dump]}" ]] && DUMP_SRC_CPU=$(cpu_diff "$s0" "$(cpu_secs "${SRV_PID[src]}")")
	FLOOR_BYTES=$(stat -c %s "$FLOOR_FILE")

	v0=$(cpu_secs "$VGW_PID")
	watched floor-upload "$S3PUT" "$FLOOR_FILE" "s3://$BUCKET/floor/dump.rdb"
	keep floor-upload
	[[ $W_RC == 0 ]] || die "s3put failed; see $OUT/floor-upload.stderr"
	[[ $W_SECS == "${SECS[floor-upload]}" ]] && UPLOAD_VGW_CPU=$(cpu_diff "$v0" "$(cpu_secs "$VGW_PID")")

	s0=$(cpu_secs "${SRV_PID[src]}") v0=$(cpu_secs "$VGW_PID")
	watched redkit-backup "$REDKIT" backup --from "redis://127.0.0.1:$SRC" --to "s3://$BUCKET/redkit" -q
	keep redkit-backup
	[[ $W_RC == 0 ]] || die "redkit backup failed; see $OUT/redkit-backup.stderr"
	id=$(tail -n 1 "$OUT/redkit-backup.stdout")
	BACKUP_IDS+=("$id")
	if [[ $W_SECS == "${SECS[redkit-backup]}" ]]; then
		BACKUP_ID=$id
		BACKUP_SRC_CPU=$(cpu_diff "$s0" "$(cpu_secs "${SRV_PID[src]}")")
		BACKUP_VGW_CPU=$(cpu_diff "$v0" "$(cpu_secs "$VGW_PID")")
	fi
	log "backup $id"
done
stop_server src # its digest is known; the restores need the memory

MANIFEST=$S3DIR/$BUCKET/redkit/backups/$BACKUP_ID/manifest.json
[[ -s $MANIFEST ]] || die "no manifest at $MANIFEST"
RAW_BYTES=$(manifest_field "$MANIFEST" raw_bytes)
STORED_BYTES=$(manifest_field "$MANIFEST" stored_bytes)
COMPRESSION=$(manifest_field "$MANIFEST" compression)
LEVEL=$(manifest_field "$MANIFEST" level)
MANIFEST_SECS=$(manifest_field "$MANIFEST" duration_seconds)
OBJ=$(find "$S3DIR/$BUCKET/redkit/backups/$BACKUP_ID" -type f ! -name manifest.json -printf '%f\n' | head -n 1)
OBJ_BYTES=$(stat -c %s "$S3DIR/$BUCKET/redkit/backups/$BACKUP_ID/$OBJ")
"$REDKIT" backup list "s3://$BUCKET/redkit" >"$OUT/backup-list.txt" 2>"$OUT/backup-list.stderr" || log "redkit backup list failed: $(cat "$OUT/backup-list.stderr")"
log "manifest: raw $RAW_BYTES bytes, stored $STORED_BYTES bytes ($OBJ: $OBJ_BYTES bytes in the store), $COMPRESSION"

# What the bucket holds: the floor's object and each backup's two, nothing
# else (no lock left, no pending multipart upload under .sgwtmp, no
# temporary file). versitygw's own files beside the bucket (.vgwlocks/:
# empty advisory lock files of its conditional writes) are counted apart.
STORE_FILES=$(cd "$S3DIR" && find "$BUCKET" -type f | sort)
VGW_FILES=$(cd "$S3DIR" && find . -path "./$BUCKET" -prune -o -type f -printf '%s %p\n' | awk '{ n++; b += $1; d = $2; sub(/^\.\//, "", d); sub(/\/.*/, "/", d); dirs[d] = 1 } END { if (n == 0) { print "none"; exit } for (k in dirs) s = s (s == "" ? "" : ", ") k; printf "%d files of %d bytes in all (%s)", n, b, s }')
EXPECTED=$( {
	echo "$BUCKET/floor/dump.rdb"
	for id in "${BACKUP_IDS[@]}"; do
		echo "$BUCKET/redkit/backups/$id/$OBJ"
		echo "$BUCKET/redkit/backups/$id/manifest.json"
	done
} | sort)
UNEXPECTED=$(comm -23 <(echo "$STORE_FILES") <(echo "$EXPECTED") | tr '\n' ' ' | sed 's/ $//')
MISSING=$(comm -13 <(echo "$STORE_FILES") <(echo "$EXPECTED") | tr '\n' ' ' | sed 's/ $//')
(cd "$S3DIR" && find . -mindepth 1 -printf '%y %10s %p\n' | sort -k3) >"$OUT/backup-store.txt"
log "store: $(echo "$STORE_FILES" | grep -c .) files${UNEXPECTED:+, unexpected: $UNEXPECTED}${MISSING:+, missing: $MISSING} (bench/out/backup-store.txt)"

# ---------------------------------------------------------------------------
# Restores, BENCH_RUNS times each, every one into a new empty server.
declare -A DIGEST_OK RESTORED_KEYS
# restore_into NAME COMMAND...: a new empty server dst-NAME (its log
# bench/out/backup-dst-NAME.log), COMMAND --to it, watched as restore-NAME,
# then its DEBUG DIGEST against the source's.
restore_into() {
	local name=$1 srv=dst-$1 dir=$OUT/backup-dst-$1 got
	shift
	stop_server "$srv"
	rm -rf "$dir"
	start_server "$srv" "$dir" none.rdb
	wait_loaded "$srv"
	watched "restore-$name" "$@" --to "redis://127.0.0.1:${SRV_PORT[$srv]}" -q
	keep "restore-$name"
	got=$(digest_of "${SRV_PORT[$srv]}")
	RESTORED_KEYS[$name]=$(keys_of "${SRV_PORT[$srv]}")
	if [[ $got == "$SRC_DIGEST" ]]; then
		DIGEST_OK[$name]=${DIGEST_OK[$name]:-1}
		log "restore-$name: digest equal, ${RESTORED_KEYS[$name]} keys"
	else
		DIGEST_OK[$name]=0
		log "DIGEST MISMATCH after restore-$name: $got (${RESTORED_KEYS[$name]} keys), want $SRC_DIGEST ($SRC_KEYS keys)"
	fi
	stop_server "$srv"
	rm -rf "$dir"
}
for ((i = 1; i <= RUNS; i++)); do
	log "restore round $i/$RUNS"
	v0=$(cpu_secs "$VGW_PID")
	restore_into s3 "$REDKIT" restore "s3://$BUCKET/redkit@latest"
	[[ $W_SECS == "${SECS[restore-s3]}" ]] && RESTORE_VGW_CPU=$(cpu_diff "$v0" "$(cpu_secs "$VGW_PID")")
	restore_into file "$REDKIT" restore "$FLOOR_FILE"
done
stop_versitygw

# ---------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
row() { # row LABEL NAME BYTES
	awk -v l="$1" -v s="${SECS[$2]}" -v kb="${RSS[$2]}" -v c="${CPU[$2]}" -v b="$3" -v rc="${RC[$2]}" 'BEGIN {
		printf "%-46s %9.2f %8.1f %13.1f %6s%s\n", l, s, b / 1048576 / s, kb / 1024, c, (rc != 0 ? "  (exit " rc ")" : "") }'
}
temp_note() { # temp_note NAME: "none" or what was seen
	local n=$1 s=''
	[[ -n ${WRITTEN[$n]:-} ]] && s+="files open for writing: ${WRITTEN[$n]% }; "
	[[ -n ${LEFT[$n]:-} ]] && s+="left in its cwd/TMPDIR: ${LEFT[$n]% }; "
	[[ -n $s ]] && echo "${s%; }" || echo "none (cwd and TMPDIR empty after, no file open for writing in /proc/PID/fd samples)"
}
FLOOR_SECS=$(awk -v a="${SECS[floor-dump]}" -v b="${SECS[floor-upload]}" 'BEGIN { printf "%.2f", a + b }')
TEMP_OK=1
[[ -z ${WRITTEN[redkit-backup]:-}${LEFT[redkit-backup]:-}${WRITTEN[restore-s3]:-}${LEFT[restore-s3]:-}$UNEXPECTED ]] || TEMP_OK=0
DIGESTS_OK=$((${DIGEST_OK[s3]:-0} && ${DIGEST_OK[file]:-0}))
{
	echo
	echo "dump:    $DUMP ($DUMP_BYTES bytes, $SRC_KEYS keys, $SRC_USED bytes of used_memory once loaded)"
	echo "load:    $LOAD_BEFORE before, $(cut -d' ' -f1 /proc/loadavg) after (1-minute load average)"
	echo "machine: $(nproc) cores, $(redis-server --version | awk '{print $1, $2, $3}'), versitygw $("$VGW" --version 2>/dev/null | awk '/Version/ {print $3; exit}') (posix, bench/out/backup-s3), best of $RUNS run(s) each"
	echo "sizes:   raw RDB $RAW_BYTES bytes ($(mib "$RAW_BYTES") MiB, redkit backup's snapshot), stored $STORED_BYTES bytes ($(mib "$STORED_BYTES") MiB, $COMPRESSION ${LEVEL:+level $LEVEL}${LEVEL:-default level}), ratio $(awk -v r="$RAW_BYTES" -v s="$STORED_BYTES" 'BEGIN { printf "%.2f", r / s }'); the floor's dump $FLOOR_BYTES bytes"
	echo
	printf '%-46s %9s %8s %13s %6s\n' 'backup (MiB/s of RDB bytes)' seconds 'MiB/s' 'peak RSS MiB' CPU
	row "redkit backup --to s3:// ($COMPRESSION)" redkit-backup "$RAW_BYTES"
	row "floor: redkit dump -o FILE" floor-dump "$FLOOR_BYTES"
	row "floor: s3put FILE (raw upload)" floor-upload "$FLOOR_BYTES"
	awk -v s="$FLOOR_SECS" -v b="$FLOOR_BYTES" 'BEGIN { printf "%-46s %9.2f %8.1f %13s %6s\n", "floor: dump + upload", s, b / 1048576 / s, "-", "-" }'
	echo
	printf '%-46s %9s %8s %13s %6s\n' 'restore into an empty server' seconds 'MiB/s' 'peak RSS MiB' CPU
	row "redkit restore s3://...@latest" restore-s3 "$RAW_BYTES"
	row "redkit restore FILE" restore-file "$FLOOR_BYTES"
	echo
	echo "CPU seconds: redkit backup $(time_file_cpu_secs "$OUT/redkit-backup.time") (source with its fork ${BACKUP_SRC_CPU:-?}, versitygw ${BACKUP_VGW_CPU:-?}); redkit dump $(time_file_cpu_secs "$OUT/floor-dump.time") (source with its fork ${DUMP_SRC_CPU:-?}); s3put $(time_file_cpu_secs "$OUT/floor-upload.time") (versitygw ${UPLOAD_VGW_CPU:-?}); restore from S3: redkit $(time_file_cpu_secs "$OUT/restore-s3.time"), versitygw ${RESTORE_VGW_CPU:-?}"
	echo "redkit backup: id $BACKUP_ID, the manifest says $(awk -v s="${MANIFEST_SECS:-0}" 'BEGIN { printf "%.2f", s }') s from start to manifest"
	echo "digest after restore from S3: $([[ ${DIGEST_OK[s3]:-0} == 1 ]] && echo "equal to the source's" || echo "DIFFERENT from the source's $SRC_DIGEST") (${RESTORED_KEYS[s3]:-?} keys)"
	echo "digest after restore FILE:    $([[ ${DIGEST_OK[file]:-0} == 1 ]] && echo "equal to the source's" || echo "DIFFERENT from the source's $SRC_DIGEST") (${RESTORED_KEYS[file]:-?} keys)"
	echo "temporary files, redkit backup:  $(temp_note redkit-backup)"
	echo "temporary files, restore from S3: $(temp_note restore-s3)"
	if [[ -n ${BIGTMP[redkit-backup]:-}${BIGTMP[restore-s3]:-} ]]; then
		echo "new files over 1 MiB in /tmp meanwhile (any process's): ${BIGTMP[redkit-backup]:-}${BIGTMP[restore-s3]:-}"
	else
		echo "new files over 1 MiB in /tmp meanwhile (any process's): none"
	fi
	echo "bucket afterwards: $(echo "$STORE_FILES" | grep -c .) files, $(
		if [[ -z $UNEXPECTED$MISSING ]]; then echo "only the expected objects (floor/dump.rdb; backups/ID/$OBJ and manifest.json per backup)"; else echo "unexpected: ${UNEXPECTED:-none}; missing: ${MISSING:-none}"; fi
	) (bench/out/backup-store.txt); versitygw's own beside it: $VGW_FILES"
	echo
	echo "goals:"
	awk -v rb="$RAW_BYTES" -v rs="${SECS[redkit-backup]}" -v fb="$FLOOR_BYTES" -v fs="$FLOOR_SECS" 'BEGIN {
		r = (rb / rs) / (fb / fs)
		printf "  redkit backup throughput / floor:     %6.1f%%    (goal >= 90%%)       %s\n", r * 100, (r >= 0.9 ? "ok" : "MISSED") }'
	awk -v kb="${RSS[redkit-backup]}" 'BEGIN { b = kb * 1024
		printf "  redkit backup peak RSS:              %6.1f MB   (goal <= 200 MB)     %s\n", b / 1e6, (b <= 200e6 ? "ok" : "MISSED") }'
	echo "  no temporary files (backup, restore): $([[ $TEMP_OK == 1 ]] && echo "none              ok" || echo "SEEN               MISSED")"
	awk -v a="${SECS[restore-s3]}" -v b="${SECS[restore-file]}" -v ka="${RSS[restore-s3]}" -v kb="${RSS[restore-file]}" 'BEGIN {
		printf "  restore from S3 / restore FILE:       %6.2fx time, peak RSS %.1f / %.1f MiB\n", a / b, ka / 1024, kb / 1024 }'
	echo "  digests (both restores):             $([[ $DIGESTS_OK == 1 ]] && echo "equal             ok" || echo "DIFFERENT         MISSED")"
} | tee "$OUT/backup-results.txt"
