package sync

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// SyncFilter selects what a sync copies, in the full sync's keys and in
// the command stream alike.
type SyncFilter struct {
	// Keys keeps keys by database, glob, regex and type (MinSize and
	// Expired are not used).
	Keys *rdb.Filter
	// Exclude drops keys matching any of these globs.
	Exclude []string
	// DBMap writes database k of the source to database DBMap[k].
	DBMap map[int]int
	// Deny lists commands (upper case) never applied: FLUSHALL, FLUSHDB...
	Deny []string
}

// KeepDB tells whether database db is copied.
func (f *SyncFilter) KeepDB(db int) bool { return f.keepDB(db) }

// MapDB is where database db goes on the target.
func (f *SyncFilter) MapDB(db int) int { return f.mapDB(db) }

func (f *SyncFilter) keyFilter() bool {
	return f != nil && (f.Keys != nil && (f.Keys.Match != "" || f.Keys.Regex != nil || len(f.Keys.Types) > 0) || len(f.Exclude) > 0)
}

// keepDB tells whether database db is copied.
func (f *SyncFilter) keepDB(db int) bool {
	return f == nil || f.Keys == nil || len(f.Keys.DBs) == 0 || slices.Contains(f.Keys.DBs, db)
}

// mapDB is where database db goes on the target.
func (f *SyncFilter) mapDB(db int) int {
	if f != nil {
		if d, ok := f.DBMap[db]; ok {
			return d
		}
	}
	return db
}

// keepKey tells whether a key of type t (0: unknown) is copied.
func (f *SyncFilter) keepKey(key []byte, t rdb.Type) bool {
	if f == nil {
		return true
	}
	if k := f.Keys; k != nil {
		if len(k.Types) > 0 && t != 0 && !slices.Contains(k.Types, t) {
			return false
		}
		if k.Match != "" && !rdb.MatchGlob(k.Match, key) {
			return false
		}
		if k.Regex != nil && !k.Regex.Match(key) {
			return false
		}
	}
	for _, p := range f.Exclude {
		if rdb.MatchGlob(p, key) {
			return false
		}
	}
	return true
}

func (f *SyncFilter) denied(name []byte) bool {
	if f == nil {
		return false
	}
	for _, d := range f.Deny {
		if bytes.EqualFold(name, []byte(d)) {
			return true
		}
	}
	return false
}

// commandSpec is where a command's keys are, from the source's COMMAND
// reply: legacy first key, last key and step, and whether keys move.
type commandSpec struct {
	first, last, step int
	movable           bool
	typ               rdb.Type // from its ACL categories; 0: generic
}

// commandTable maps lower-case names, and "container|sub", to specs.
type commandTable map[string]commandSpec

// loadCommands reads COMMAND from the source.
func loadCommands(c *Conn) (commandTable, error) {
	v, err := c.DoString("COMMAND")
	if err != nil {
		return nil, fmt.Errorf("COMMAND on %s: %w", c.Addr(), err)
	}
	t := commandTable{}
	var add func(e aof.Value)
	add = func(e aof.Value) {
		if len(e.Elems) < 6 {
			return
		}
		name := strings.ToLower(string(e.Elems[0].Str))
		s := commandSpec{first: int(e.Elems[3].Int), last: int(e.Elems[4].Int), step: int(e.Elems[5].Int)}
		for _, fl := range e.Elems[2].Elems {
			if string(fl.Str) == "movablekeys" {
				s.movable = true
			}
		}
		if len(e.Elems) > 6 {
			for _, cat := range e.Elems[6].Elems {
				if tt := categoryType(string(cat.Str)); tt != 0 {
					s.typ = tt
				}
			}
		}
		t[name] = s
		if len(e.Elems) > 9 {
			for _, sub := range e.Elems[9].Elems {
				add(sub)
			}
		}
	}
	for _, e := range v.Elems {
		add(e)
	}
	return t, nil
}

func categoryType(cat string) rdb.Type {
	switch cat {
	case "@string", "@bitmap", "@hyperloglog":
		return rdb.TypeString
	case "@list":
		return rdb.TypeList
	case "@set":
		return rdb.TypeSet
	case "@sortedset", "@geo":
		return rdb.TypeZSet
	case "@hash":
		return rdb.TypeHash
	case "@stream":
		return rdb.TypeStream
	}
	return 0
}

// filterCommand decides on one command of the stream: apply it as it is
// (args returned unchanged), apply a rewritten form (DEL, UNLINK, MSET
// with only the kept keys), or drop it (nil).
func (t commandTable) filterCommand(f *SyncFilter, args [][]byte, scratch [][]byte) ([][]byte, error) {
	name := strings.ToLower(string(args[0]))
	spec, ok := t[name]
	if ok && spec.first == 0 && len(args) > 1 {
		if sub, ok2 := t[name+"|"+strings.ToLower(string(args[1]))]; ok2 {
			spec = sub
		}
	}
	if !ok {
		return args, nil // unknown to the source: keyless as far as we can tell
	}
	keys, err := spec.keys(name, args)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return args, nil
	}
	kept := 0
	for _, i := range keys {
		if f.keepKey(args[i], spec.typ) {
			kept++
		}
	}
	switch {
	case kept == len(keys):
		return args, nil
	case kept == 0:
		return nil, nil
	}
	switch name {
	case "del", "unlink", "touch", "exists":
		out := append(scratch[:0], args[0])
		for _, i := range keys {
			if f.keepKey(args[i], spec.typ) {
				out = append(out, args[i])
			}
		}
		return out, nil
	case "mset":
		out := append(scratch[:0], args[0])
		for _, i := range keys {
			if f.keepKey(args[i], spec.typ) && i+1 < len(args) {
				out = append(out, args[i], args[i+1])
			}
		}
		return out, nil
	}
	return nil, ErrMixedKeys
}

// keys returns the indexes of the key arguments.
func (s commandSpec) keys(name string, args [][]byte) ([]int, error) {
	var idx []int
	if s.movable {
		numkeys := func(at int) ([]int, error) {
			if at >= len(args) {
				return nil, nil
			}
			n, err := strconv.Atoi(string(args[at]))
			if err != nil || n < 0 || at+n >= len(args)+1 {
				return nil, fmt.Errorf("bad numkeys %q", args[at])
			}
			for i := at + 1; i <= at+n && i < len(args); i++ {
				idx = append(idx, i)
			}
			return idx, nil
		}
		switch name {
		case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
			return numkeys(2)
		case "zunionstore", "zinterstore", "zdiffstore":
			idx = append(idx, 1)
			return numkeys(2)
		case "lmpop", "zmpop", "sintercard", "zintercard", "zunion", "zinter", "zdiff":
			return numkeys(1)
		case "blmpop", "bzmpop":
			return numkeys(2)
		}
		// Others (SORT ... STORE, MIGRATE, GEORADIUS ... STORE) do not come
		// in Redis 7's stream as such; take their fixed keys.
	}
	if s.first <= 0 {
		return idx, nil
	}
	last := s.last
	if last < 0 {
		last = len(args) + last
	}
	step := max(s.step, 1)
	for i := s.first; i <= last && i < len(args); i += step {
		idx = append(idx, i)
	}
	return idx, nil
}
