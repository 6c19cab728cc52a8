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

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# (d) measurements
warm_up

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
