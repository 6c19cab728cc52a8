#!/usr/bin/env bash
# Regenerates testdata/sample.rdb: a small dump of a made-up web app,
# written by a real redis-server (Debian's 7.0.15 when it was made), with
# every Redis 7.0 type and encoding and keys grouped by prefix.
# Usage: testdata/make-sample.sh   (needs redis-server and redis-cli)
set -euo pipefail
cd "$(dirname "$0")"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
  --daemonize yes --pidfile "$dir/pid" --logfile "$dir/log"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
now=$(date +%s)
{
  for i in $(seq 1 300); do
    echo "SET user:$i:name user-$i"
    echo "SET user:$i:visits $((i * 7))"
    echo "HSET user:$i:profile email user$i@example.com plan $([ $((i % 3)) = 0 ] && echo pro || echo free) country FR"
    [ $((i % 4)) = 0 ] && echo "SET session:$(printf '%08x' $((i * 2654435761 % 4294967296))) '{\"user\":$i,\"cart\":[1,2,3],\"theme\":\"dark\",\"locale\":\"fr-FR\",\"csrf\":\"$(printf '%040d' $i)\"}' EX $((600 + i * 60))"
    [ $((i % 10)) = 0 ] && echo "SADD user:$i:tags vip early-adopter beta newsletter"
    [ $((i % 10)) = 0 ] && echo "SADD user:$i:follows $((i+1)) $((i+2)) $((i+3))"
  done
  for d in 01 02 03; do
    printf 'ZADD leaderboard:2026-11-%s' "$d"
    for i in $(seq 1 200); do printf ' %d player:%d' $(( (i * 37 + 10#$d) % 1000 )) "$i"; done
    echo
  done
  printf 'ZADD leaderboard:small'; for i in $(seq 1 20); do printf ' %d p%d' "$i" "$i"; done; echo
  for q in emails thumbnails; do
    printf 'RPUSH queue:%s' "$q"; for i in $(seq 1 400); do printf ' job-%s-%05d' "$q" "$i"; done; echo
  done
  printf 'HSET config:flags'; for i in $(seq 1 200); do printf ' flag_%d %s' "$i" "$([ $((i % 2)) = 0 ] && echo on || echo off)"; done; echo
  printf 'SADD online'; for i in $(seq 1 600); do printf ' %d' "$i"; done; echo
  for i in $(seq 1 150); do echo "XADD events:orders * order $i user $((i % 300 + 1)) total $((i * 13 % 500)).99"; done
  echo "XGROUP CREATE events:orders billing 0"
  echo "XREADGROUP GROUP billing worker-1 COUNT 20 STREAMS events:orders >"
  echo "XREADGROUP GROUP billing worker-2 COUNT 5 STREAMS events:orders >"
  echo "SET cache:homepage \"$(head -c 3000 /dev/zero | tr '\0' 'x')\" PXAT $(( (now + 86400 * 3) * 1000 ))"
  echo "SET counter:pageviews 123456789"
  echo "SELECT 1"
  for i in $(seq 1 50); do echo "SET rate:ip:10.0.0.$i $i EX 30"; done
} | redis-cli -p "$port" >/dev/null
redis-cli -p "$port" save >/dev/null
cp "$dir/dump.rdb" sample.rdb
ls -l sample.rdb
