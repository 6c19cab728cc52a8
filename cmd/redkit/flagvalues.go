package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redkit/redkit/rdb"
	rsync "github.com/redkit/redkit/sync"
	"github.com/urfave/cli/v2"
)

// Values of flags that several commands take: sizes (--min-size,
// --max-payload, --rate) and times (--now, --truncate-to-timestamp).

// parseSize parses a byte count with redis.conf units: k=1000, kb=1024,
// m=1000², mb=1024², g=1000³, gb=1024³ (case-insensitive, "b" and the
// binary "kib", "mib", "gib" accepted too). Fractions are allowed
// ("1.5mb").
func parseSize(s string) (int64, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(in, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := in, ""
	if i >= 0 {
		num, unit = in[:i], strings.TrimSpace(in[i:])
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1e6, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1e9, "gb": 1 << 30, "gib": 1 << 30,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v < 0 || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("bad size %q (want a number with an optional unit: 512, 10kb, 1.5mb, 2g)", s)
	}
	return int64(math.Round(v * mult)), nil
}

// parseTime reads a time given as positive Unix seconds or RFC 3339.
func parseTime(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), n > 0
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil && t.Unix() > 0
}

// parseDBMap parses SRC=DST pairs.
func parseDBMap(pairs []string) (map[int]int, error) {
	m := map[int]int{}
	for _, p := range pairs {
		src, dst, ok := strings.Cut(p, "=")
		s, err1 := strconv.Atoi(strings.TrimSpace(src))
		d, err2 := strconv.Atoi(strings.TrimSpace(dst))
		if !ok || err1 != nil || err2 != nil || s < 0 || d < 0 {
			return nil, usageErrorf("invalid --db-map %q: want SRC=DST with database numbers, such as 3=0", p)
		}
		if s > rdb.MaxDB || d > rdb.MaxDB {
			return nil, usageErrorf("invalid --db-map %q: no server holds database %d (0 to %d)", p, max(s, d), rdb.MaxDB)
		}
		if prev, dup := m[s]; dup && prev != d {
			return nil, usageErrorf("invalid --db-map: database %d mapped twice (to %d and %d)", s, prev, d)
		}
		m[s] = d
	}
	return m, nil
}

// maxDumpFlag is --max-dump of the commands that read a source key by
// key (dump, backup, sync --mode scan).
func maxDumpFlag() cli.Flag {
	return &cli.StringFlag{Name: "max-dump", Value: fmt.Sprintf("%dmb", rsync.DefaultMaxDump>>20), EnvVars: []string{"REDKIT_MAX_DUMP"},
		Usage: "reading key by key: a collection bigger than `SIZE` (MEMORY USAGE) is read in chunks instead of by one DUMP"}
}

// parseMaxDump reads --max-dump for cmd; "" is rsync.DefaultMaxDump.
func parseMaxDump(cmd, v string) (int64, error) {
	if v == "" {
		return rsync.DefaultMaxDump, nil
	}
	n, err := parseSize(v)
	if err != nil || n < 1 {
		return 0, usageErrorf("%s: --max-dump %q: want a size, e.g. 4mb or 512kb", cmd, v)
	}
	return n, nil
}
