package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redkit/redkit/rdb"
	"github.com/urfave/cli/v2"
)

const filterCategory = "Key filters (all must hold)"

// filterFlags are the key filters of every command that reads dumps.
func filterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntSliceFlag{Name: "db", Category: filterCategory, Usage: "only keys of database `N` (repeatable)"},
		&cli.StringFlag{Name: "match", Category: filterCategory, Usage: "only keys matching the Redis glob `PATTERN`, as KEYS and SCAN MATCH: * ? [abc] [^a] [a-z] \\x"},
		&cli.StringFlag{Name: "regex", Category: filterCategory, Usage: "only keys matching the Go regular expression `RE` (RE2 syntax, unanchored)"},
		&cli.StringSliceFlag{Name: "type", Category: filterCategory, Usage: "only keys of type `T`: string, list, set, zset, hash, stream or module (repeatable)"},
		&cli.StringFlag{Name: "min-size", Category: filterCategory, Usage: "only keys whose estimated memory is at least `SIZE` bytes; units as in redis.conf: 1k=1000, 1kb=1024, m, mb, g, gb"},
		&cli.StringFlag{Name: "expired", Category: filterCategory, Value: "include", Usage: "keys whose expiry has passed: include, exclude or only (`MODE`)"},
	}
}

// restoreFilterFlags are filterFlags with --expired excluding by
// default: a restore leaves out what Redis itself drops when it loads a
// dump.
func restoreFilterFlags() []cli.Flag {
	flags := filterFlags()
	for i, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "expired" {
			c := *sf
			c.Value = "exclude"
			c.Usage = "keys whose expiry has passed: exclude (left out and counted, as Redis drops them on load), include (sent: the target drops them) or only (`MODE`)"
			flags[i] = &c
		}
	}
	return flags
}

// filterFromFlags builds the filter; errors are usage errors.
func filterFromFlags(c *cli.Context, now time.Time) (*rdb.Filter, error) {
	f := &rdb.Filter{DBs: c.IntSlice("db"), Match: c.String("match"), Now: now}
	for _, db := range f.DBs {
		if db < 0 {
			return nil, usageErrorf("invalid --db %d: databases are numbered from 0", db)
		}
		if db > rdb.MaxDB {
			return nil, usageErrorf("invalid --db %d: no server holds it (0 to %d)", db, rdb.MaxDB)
		}
	}
	if re := c.String("regex"); re != "" {
		var err error
		if f.Regex, err = regexp.Compile(re); err != nil {
			return nil, usageErrorf("invalid --regex: %v", err)
		}
	}
	for _, name := range c.StringSlice("type") {
		t, ok := rdb.ParseType(strings.ToLower(name))
		if !ok {
			return nil, usageErrorf("invalid --type %q: want string, list, set, zset, hash, stream or module", name)
		}
		f.Types = append(f.Types, t)
	}
	if s := c.String("min-size"); s != "" {
		n, err := parseSize(s)
		if err != nil {
			return nil, usageErrorf("invalid --min-size: %v", err)
		}
		f.MinSize = n
	}
	mode, err := rdb.ParseExpiredMode(c.String("expired"))
	if err != nil {
		return nil, usageErrorf("invalid --expired: %v", err)
	}
	f.Expired = mode
	return f, nil
}

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
