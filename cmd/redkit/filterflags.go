package main

import (
	"regexp"
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
// default (a restore leaves out what Redis itself drops when it loads a
// dump) and without --min-size, which a restore does not estimate.
func restoreFilterFlags() []cli.Flag {
	var flags []cli.Flag
	for _, f := range filterFlags() {
		sf, ok := f.(*cli.StringFlag)
		switch {
		case ok && sf.Name == "min-size":
			continue
		case ok && sf.Name == "expired":
			c := *sf
			c.Value = "exclude"
			c.Usage = "keys whose expiry has passed: exclude (left out and counted, as Redis drops them on load), include (sent: the target drops them) or only (`MODE`)"
			f = &c
		}
		flags = append(flags, f)
	}
	return flags
}

// filterFromFlags builds the filter; errors are usage errors.
func filterFromFlags(c *cli.Context, now time.Time) (*rdb.Filter, error) {
	return filterFlagValues(c).filter(now)
}

// filterValues are the key filter flags as given.
type filterValues struct {
	dbs              []int
	match, regex     string
	types            []string
	minSize, expired string
}

// filterFlagValues reads the key filter flags.
func filterFlagValues(c *cli.Context) filterValues {
	return filterValues{dbs: c.IntSlice("db"), match: c.String("match"), regex: c.String("regex"),
		types: c.StringSlice("type"), minSize: c.String("min-size"), expired: c.String("expired")}
}

// filter builds the filter; errors are usage errors.
func (v filterValues) filter(now time.Time) (*rdb.Filter, error) {
	f := &rdb.Filter{DBs: v.dbs, Match: v.match, Now: now}
	for _, db := range f.DBs {
		if db < 0 {
			return nil, usageErrorf("invalid --db %d: databases are numbered from 0", db)
		}
		if db > rdb.MaxDB {
			return nil, usageErrorf("invalid --db %d: no server holds it (0 to %d)", db, rdb.MaxDB)
		}
	}
	if re := v.regex; re != "" {
		var err error
		if f.Regex, err = regexp.Compile(re); err != nil {
			return nil, usageErrorf("invalid --regex: %v", err)
		}
	}
	for _, name := range v.types {
		t, ok := rdb.ParseType(strings.ToLower(name))
		if !ok {
			return nil, usageErrorf("invalid --type %q: want string, list, set, zset, hash, stream or module", name)
		}
		f.Types = append(f.Types, t)
	}
	if s := v.minSize; s != "" {
		n, err := parseSize(s)
		if err != nil {
			return nil, usageErrorf("invalid --min-size: %v", err)
		}
		f.MinSize = n
	}
	mode, err := rdb.ParseExpiredMode(v.expired)
	if err != nil {
		return nil, usageErrorf("invalid --expired: %v", err)
	}
	f.Expired = mode
	return f, nil
}
