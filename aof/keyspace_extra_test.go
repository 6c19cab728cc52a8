package aof

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// judgeDirect applies the script's commands themselves (not what Redis
// propagated for them) to a new Keyspace, and compares what Redis loads
// from it with the source that ran the script: for commands Redis
// rewrites before propagating (GEOADD becomes ZADD). Commands Redis
// refuses must be refused with ErrRejected.
func judgeDirect(t *testing.T, src *redistest.Server, script [][]any) {
	t.Helper()
	// A clock for relative expiries; scripts overwrite such keys.
	ks := NewKeyspace(KeyspaceOptions{Now: time.Now().UnixMilli()})
	for _, args := range script {
		s := make([]string, len(args))
		for i, a := range args {
			s[i] = fmt.Sprint(a)
		}
		if err := apply(ks, 0, s...); err != nil && !errors.Is(err, ErrRejected) {
			t.Fatalf("%v: %v", args, err)
		}
	}
	dst := loaded(t, ks)
	if want, got := digest(t, src), digest(t, dst); want != got {
		t.Errorf("DEBUG DIGEST of the direct replay: got %s, want %s (%d keys)", got, want, ks.Len())
	} else {
		t.Logf("direct digest %s, %d keys", got, ks.Len())
	}
}

// judgeBoth runs the script on a new source, then judges both its AOF and
// the script applied directly.
func judgeBoth(t *testing.T, script [][]any) *Keyspace {
	t.Helper()
	src := aofSource(t)
	run(t, src, script)
	ks, _ := judge(t, src)
	judgeDirect(t, src, script)
	return ks
}

var geoScript = [][]any{
	{"GEOADD", "g", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"},
	{"GEOADD", "g", -180, -85.05112878, "sw", 180, 85.05112878, "ne", 0, 0, "null", -0.0000001, 0.0000001, "tiny"},
	{"GEOADD", "g", 180.0000001, 0, "bad"}, {"GEOADD", "g", 0, 85.05112879, "bad"}, {"GEOADD", "g", "x", 0, "bad"},
	{"GEOADD", "g", "NX", 1, 1, "Palermo", 2, 2, "nx"}, {"GEOADD", "g", "XX", 3, 3, "Catania", 4, 4, "xx"},
	{"GEOADD", "g", "CH", "XX", 5, 5, "nx"}, {"GEOADD", "g", "NX", "XX", 5, 5, "nx"}, {"GEOADD", "g", 1, 2},
	{"GEOADD", "g", "GT", 1, 2, "gt"}, {"GEOADD", "g", "CH", "NX"},
	{"GEOADD", "g2", "XX", 1, 1, "none"}, {"GEOADD", "g3", "1e1", "-2.5e1", "exp", "-122.27652", "37.805186", "oak"},
	{"GEOADD", "g3", 139.6917, 35.6895, "tokyo", -73.935242, 40.730610, "nyc", 151.2093, -33.8688, "syd"},
	{"SET", "str", "x"}, {"GEOADD", "str", 1, 1, "wrongtype"},
	{"ZADD", "g3", 5, "plain"}, {"GEOADD", "g3", 2, 2, "plain"}, {"ZREM", "g", "tiny"},
}

func TestKeyspaceGeo(t *testing.T) {
	judgeBoth(t, geoScript)
}

func TestKeyspaceGeoRefused(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{})
	for _, args := range [][]string{
		{"GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "10", "km"},
		{"GEORADIUS", "g", "0", "0", "10", "km", "STORE", "d"},
		{"GEORADIUSBYMEMBER", "g", "m", "10", "km", "STOREDIST", "d"},
	} {
		if err := apply(ks, 0, args...); !errors.Is(err, ErrUnsupportedCommand) {
			t.Errorf("%v: got %v, want ErrUnsupportedCommand", args, err)
		}
	}
}

var bitsScript = [][]any{
	{"SET", "a", "foobar"}, {"SET", "b", "abcdef0123456789abcdef0123456789abcdef"}, {"SET", "n", 12345},
	{"SET", "c", "\xff\x00\x0f"}, {"SET", "empty", ""},
	{"BITOP", "AND", "and", "a", "b"}, {"BITOP", "or", "or", "a", "b", "c"}, {"BITOP", "XOR", "xor", "a", "b", "n"},
	{"BITOP", "NOT", "not", "b"}, {"BITOP", "NOT", "not2", "a", "b"}, {"BITOP", "NAND", "x", "a"},
	{"BITOP", "AND", "andmiss", "a", "missing"}, {"BITOP", "AND", "andlong", "b", "b", "b"},
	{"BITOP", "XOR", "b2", "b", "b"}, {"BITOP", "OR", "or", "missing", "empty"}, {"BITOP", "NOT", "notempty", "empty"},
	{"SET", "victim", "x", "EX", 1000}, {"BITOP", "OR", "victim", "c"}, {"SET", "victim2", "y"}, {"BITOP", "AND", "victim2", "nothing"},
	{"LPUSH", "list", "x"}, {"BITOP", "OR", "dst", "a", "list"}, {"BITOP", "OR", "list", "a"},
	{"BITFIELD", "bf", "SET", "u8", 0, 255, "GET", "u8", 0, "SET", "i5", 3, -7, "INCRBY", "u2", 100, 1},
	{"BITFIELD", "bf", "SET", "i64", "#2", "-9223372036854775808", "INCRBY", "i64", "#2", -1},
	{"BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i64", "#2", -1, "INCRBY", "u63", 200, "9223372036854775807", "INCRBY", "u63", 200, 5},
	{"BITFIELD", "bf", "OVERFLOW", "SAT", "SET", "u8", "#40", -1, "SET", "i8", "#41", 300, "SET", "i8", "#42", -300, "INCRBY", "u4", 1000, -100},
	{"BITFIELD", "bf", "OVERFLOW", "WRAP", "SET", "u8", "#50", -1, "SET", "i8", "#51", 300, "INCRBY", "i8", "#51", 120, "INCRBY", "u7", 500, -3},
	{"BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "#50", 1, "INCRBY", "u8", "#50", -1, "OVERFLOW", "WRAP", "INCRBY", "u8", "#60", -1},
	{"BITFIELD", "bf", "INCRBY", "i64", 700, "9223372036854775807", "INCRBY", "i64", 700, 10, "INCRBY", "i1", 800, 1, "INCRBY", "u1", 801, 3},
	{"BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i64", 900, "9223372036854775807", "INCRBY", "i64", 900, 10, "INCRBY", "i64", 900, "-9223372036854775808"},
	{"BITFIELD", "bf", "SET", "i7", 3, 0, "INCRBY", "i16", 1003, -5, "INCRBY", "i63", 1100, 1, "INCRBY", "i32", 1200, -2147483648},
	{"BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "i32", 1200, -1, "INCRBY", "i32", 1200, 1},
	{"BITFIELD", "bf", "SET", "u64", 0, 1}, {"BITFIELD", "bf", "SET", "i65", 0, 1}, {"BITFIELD", "bf", "SET", "x8", 0, 1},
	{"BITFIELD", "bf", "SET", "u8", -1, 1}, {"BITFIELD", "bf", "SET", "u8", 0, "x"}, {"BITFIELD", "bf", "OVERFLOW", "NONE"},
	{"BITFIELD", "bf", "BOGUS", "u8", 0}, {"BITFIELD", "bf", "SET", "u8", 0}, {"BITFIELD", "bf", "GET", "u8", 0},
	{"BITFIELD", "list", "SET", "u8", 0, 1}, {"BITFIELD", "n", "SET", "u8", 0, 65}, {"BITFIELD", "new", "set", "u8", 80, 0},
	{"BITFIELD", "new2", "incrby", "i8", "#3", 5, "overflow", "sat", "incrby", "i8", "#3", 200},
	{"BITFIELD", "a", "SET", "u16", "#2", 0x4142}, {"SETBIT", "b", 400, 1}, {"BITOP", "AND", "tail", "b", "a"},
}

func TestKeyspaceBits(t *testing.T) {
	judgeBoth(t, bitsScript)
}

var sortScript = [][]any{
	{"RPUSH", "l", 3, 1, 2, 10, "-5", "1.5", "0x10", " 7", "1e2", 1, "inf", "-inf", ""},
	{"SORT", "l", "STORE", "ls"}, {"SORT", "l", "DESC", "STORE", "ld"}, {"SORT", "l", "LIMIT", 2, 3, "STORE", "ll"},
	{"SORT", "l", "LIMIT", -3, 100, "DESC", "STORE", "ll2"}, {"SORT", "l", "LIMIT", 100, 1, "STORE", "ll3"},
	{"SORT", "l", "LIMIT", 1, 0, "STORE", "ll4"}, {"SORT", "l", "LIMIT", 1, -7, "STORE", "ll5"}, {"SORT", "l", "ALPHA", "STORE", "la"},
	{"SORT", "l", "ALPHA", "DESC", "LIMIT", 0, 4, "STORE", "la2"},
	{"RPUSH", "w", "a", "b", "c", "d", "e", "f"}, {"MSET", "w_a", 5, "w_b", 1, "w_c", "3.5", "w_e", 1},
	{"HSET", "h_a", "f", "zz", "n", 9}, {"HSET", "h_b", "f", "yy", "n", 8}, {"HSET", "h_c", "f", "xx"}, {"HSET", "h_d", "f", "ww", "n", -1},
	{"HSET", "h_e", "f", "", "n", ""}, {"HSET", "h_1", "f", "m"}, {"HSET", "h_2", "f", "zzz"},
	{"SORT", "w", "BY", "w_*", "STORE", "wb"}, {"SORT", "w", "BY", "w_*", "DESC", "LIMIT", 1, 2, "STORE", "wb2"},
	{"SORT", "w", "BY", "h_*->f", "ALPHA", "STORE", "wh"}, {"SORT", "w", "BY", "h_*->n", "STORE", "wn"},
	{"SORT", "w", "BY", "h_*->f", "ALPHA", "DESC", "LIMIT", 1, 3, "STORE", "wh2"},
	{"SORT", "w", "BY", "w_*", "GET", "#", "GET", "w_*", "GET", "h_*->f", "GET", "nostar", "GET", "h_*->", "STORE", "wg"},
	{"SORT", "w", "BY", "nosort", "STORE", "wns"}, {"SORT", "w", "BY", "nosort", "DESC", "LIMIT", 1, 3, "STORE", "wns2"},
	{"SORT", "w", "BY", "nosort", "GET", "w_*", "LIMIT", 3, 10, "STORE", "wns3"},
	{"SADD", "s", "d", "a", "c", "b", "e", 1, 2}, {"SORT", "s", "ALPHA", "STORE", "sa"}, {"SORT", "s", "BY", "nosort", "STORE", "sns"},
	{"SORT", "s", "BY", "nosort", "DESC", "LIMIT", 2, 2, "STORE", "sns2"},
	{"SORT", "s", "BY", "w_*", "STORE", "sb"}, {"SORT", "s", "BY", "h_*->f", "ALPHA", "STORE", "sbh"},
	{"SADD", "si", 5, 3, 100, -2, 7}, {"SORT", "si", "STORE", "sis"}, {"SORT", "si", "DESC", "GET", "#", "GET", "w_*", "STORE", "sig"},
	{"ZADD", "z", 3, "a", 1, "b", 2, "c", 2, "d", 0, "e"}, {"SORT", "z", "ALPHA", "STORE", "za"},
	{"SORT", "z", "BY", "nosort", "STORE", "zns"}, {"SORT", "z", "BY", "nosort", "DESC", "LIMIT", 1, 2, "STORE", "zns2"},
	{"SORT", "z", "BY", "nosort", "LIMIT", 4, 5, "STORE", "zns3"}, {"SORT", "z", "BY", "w_*", "STORE", "zb"},
	{"SET", "dst", "x", "EX", 1000}, {"SORT", "l", "STORE", "dst"}, {"SET", "dst2", "x"}, {"SORT", "missing", "STORE", "dst2"},
	{"SET", "dst3", "x"}, {"SORT", "l", "LIMIT", 50, 5, "STORE", "dst3"}, {"SORT", "w", "STORE", "bad"}, {"SORT", "dst", "STORE", "l2"},
	{"SET", "str", "x"}, {"SORT", "str", "STORE", "bad"}, {"SORT", "l", "LIMIT", "x", 1, "STORE", "bad"}, {"SORT", "l", "BOGUS", "STORE", "bad"},
	{"SORT", "l", "STORE", "l"}, {"SORT", "w", "ALPHA"},
}

func TestKeyspaceSort(t *testing.T) {
	judgeBoth(t, sortScript)
}

func TestKeyspaceSortTies(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{})
	apply(ks, 0, "SADD", "s", "a", "b")
	if err := apply(ks, 0, "SORT", "s", "BY", "nothing_*", "ALPHA", "STORE", "d"); !errors.Is(err, ErrUnsupportedCommand) {
		t.Errorf("SORT ALPHA BY with ties: got %v, want ErrUnsupportedCommand", err)
	}
	if err := apply(ks, 0, "SORT", "s", "BY", "nothing_*", "STORE", "d"); err != nil {
		t.Errorf("numeric SORT BY with ties: %v", err)
	}
}

func TestKeyspaceFunctionRestore(t *testing.T) {
	ctx := context.Background()
	src := aofSource(t)
	lib := func(name, fn string) string {
		return fmt.Sprintf("#!lua name=%s\nredis.register_function('%s', function() return 1 end)", name, fn)
	}
	dump := func() string {
		v, err := src.Do(ctx, "FUNCTION", "DUMP")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(v)
	}
	run(t, src, [][]any{{"FUNCTION", "LOAD", lib("liba", "fa1")}})
	dump1 := dump()
	run(t, src, [][]any{{"FUNCTION", "LOAD", "REPLACE", lib("liba", "fa2")}, {"FUNCTION", "LOAD", lib("libb", "fb")}})
	dump2 := dump()
	corrupt := []byte(dump2)
	corrupt[len(corrupt)-1] ^= 1
	run(t, src, [][]any{
		{"FUNCTION", "FLUSH"}, {"FUNCTION", "RESTORE", dump1}, {"FUNCTION", "RESTORE", dump2},
		{"FUNCTION", "LOAD", lib("libc", "fc")}, {"FUNCTION", "RESTORE", dump2, "REPLACE"}, {"FUNCTION", "DELETE", "liba"},
		{"FUNCTION", "RESTORE", dump1, "APPEND"}, {"FUNCTION", "RESTORE", string(corrupt), "FLUSH"},
		{"FUNCTION", "RESTORE", dump1, "BOGUS"}, {"SET", "k", "v"},
	})
	ks, dst := judge(t, src)
	want, _ := src.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
	got, _ := dst.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
	if !reflect.DeepEqual(sortedList(got), sortedList(want)) {
		t.Errorf("FUNCTION LIST:\n got %v\nwant %v", got, want)
	}
	n := 0
	ks.Functions(func([]byte) error { n++; return nil })
	if n != 3 {
		t.Errorf("%d libraries, want 3", n)
	}

	// FLUSH replaces every library; APPEND refuses an existing name; a
	// corrupt payload is refused.
	run(t, src, [][]any{{"FUNCTION", "RESTORE", dump1, "FLUSH"}})
	ks, dst = judge(t, src)
	want, _ = src.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
	got, _ = dst.Do(ctx, "FUNCTION", "LIST", "WITHCODE")
	if !reflect.DeepEqual(sortedList(got), sortedList(want)) || len(sortedList(want)) != 1 {
		t.Errorf("FUNCTION LIST after FLUSH:\n got %v\nwant %v", got, want)
	}
	for _, args := range [][]string{{"FUNCTION", "RESTORE", dump1}, {"FUNCTION", "RESTORE", string(corrupt)}} {
		if err := apply(ks, 0, args...); !errors.Is(err, ErrRejected) {
			t.Errorf("%.20q: got %v, want ErrRejected", args, err)
		}
	}
}

func hllScript() [][]any {
	many := func(prefix string, n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	script := [][]any{
		{"PFADD", "h1", "a", "b", "c"}, {"PFADD", "h1", "a"}, {"PFADD", "h2"}, {"PFCOUNT", "h1"}, {"PFCOUNT", "h1"},
		{"PFADD", "h1", "d"}, {"PFCOUNT", "h1", "h2"}, {"PFMERGE", "h3", "h1", "h2"}, {"PFMERGE", "h1", "nosuch"},
		{"PFCOUNT", "h3"}, {"PFCOUNT", "nosuch"}, {"SET", "str", "not an hll"}, {"PFADD", "str", "x"}, {"PFMERGE", "x", "str"},
		{"LPUSH", "list", "x"}, {"PFADD", "list", "x"}, {"PFCOUNT", "str"},
		append([]any{"PFADD", "big"}, many("e", 5000)...), {"PFCOUNT", "big"},
		append([]any{"PFADD", "mid"}, many("m", 400)...), {"PFCOUNT", "mid"},
		{"PFMERGE", "fromdense", "h1", "big"}, {"PFMERGE", "h3", "big"}, {"PFMERGE", "mid2", "mid", "h1"},
		{"PFCOUNT", "fromdense"}, {"PFCOUNT", "h3"}, {"PFCOUNT", "mid2"}, {"PFADD", "big", "one more", "e1"},
	}
	// One element at a time, through sparse growth to the dense switch.
	for i := range 1500 {
		script = append(script, []any{"PFADD", "grow", fmt.Sprintf("g%d", i)})
		if i%97 == 0 {
			script = append(script, []any{"PFCOUNT", "grow"})
		}
	}
	// "edge" stays sparse just below hll-sparse-max-bytes: the last
	// element before the switch, found with a scratch keyspace.
	scratch := NewKeyspace(KeyspaceOptions{})
	for i := 0; ; i++ {
		scratch.Apply(&Entry{Kind: KindCommand, Args: [][]byte{[]byte("PFADD"), []byte("edge"), fmt.Appendf(nil, "g%d", i)}})
		if scratch.dbs[0]["edge"].str[4] == hllDense {
			break
		}
		script = append(script, []any{"PFADD", "edge", fmt.Sprintf("g%d", i)})
	}
	script = append(script, []any{"PFCOUNT", "edge"})
	for i := range 40 {
		script = append(script, []any{"PFADD", "small", i, i * 7, "x" + fmt.Sprint(i)})
	}
	// Dense HyperLogLogs written with SET: every register value, and the
	// estimator over histograms PFADD would take long to reach.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, top := range []int{64, 4, 20} {
		d := make([]byte, hllDenseSize)
		copy(d, "HYLL")
		d[15] = 0x80
		for i := range hllRegisters {
			hllDenseSetReg(d[hllHdrSize:], i, uint8(rng.IntN(top)))
		}
		key := fmt.Sprintf("dense%d", top)
		script = append(script, []any{"SET", key, string(d)}, []any{"PFCOUNT", key}, []any{"PFMERGE", key + "m", "small", key},
			[]any{"PFCOUNT", key + "m"}, []any{"PFADD", key, "x", "y"}, []any{"PFCOUNT", key})
	}
	script = append(script, []any{"PFMERGE", "small", "mid"}, []any{"PFCOUNT", "small"}, []any{"PFCOUNT", "grow"},
		[]any{"COPY", "small", "small2"}, []any{"PFADD", "small2", "after copy"})
	return script
}

func TestKeyspaceHLL(t *testing.T) {
	ctx := context.Background()
	script := hllScript()
	src := aofSource(t)
	run(t, src, script)

	// The AOF, replayed.
	r, err := Open(ctx, filepath.Join(src.Dir(), "appendonlydir"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ks := NewKeyspace(KeyspaceOptions{})
	pf := 0
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == KindRDB {
			if err := ks.LoadRDB(e.RDB); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if len(e.Args) > 0 && bytes.HasPrefix(bytes.ToLower(e.Args[0]), []byte("pf")) {
			pf++
		}
		if err := ks.Apply(e); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if want, got := digest(t, src), digest(t, loaded(t, ks)); want != got {
		t.Errorf("DEBUG DIGEST: got %s, want %s (%d keys, %d PF commands replayed)", got, want, ks.Len(), pf)
	} else {
		t.Logf("digest %s, %d keys, %d PF commands replayed", got, ks.Len(), pf)
	}

	// The script itself.
	direct := NewKeyspace(KeyspaceOptions{})
	for _, args := range script {
		e := &Entry{Kind: KindCommand}
		for _, a := range args {
			e.Args = append(e.Args, []byte(fmt.Sprint(a)))
		}
		if err := direct.Apply(e); err != nil && !errors.Is(err, ErrRejected) {
			t.Fatalf("%.40v: %v", args, err)
		}
	}
	if want, got := digest(t, src), digest(t, loaded(t, direct)); want != got {
		t.Errorf("DEBUG DIGEST of the direct replay: got %s, want %s", got, want)
	}
}
