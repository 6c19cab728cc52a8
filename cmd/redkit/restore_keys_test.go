package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// testKey is a key for writeTestDump: a string (value), or a hash of
// fields with their expiries (0: none).
type testKey struct {
	db       int
	key      string
	expireAt int64 // 0: none
	value    string
	fields   []testField
}

type testField struct {
	name, value string
	expireAt    int64 // 0: none
}

// writeTestDump writes keys into an RDB file of the given version with
// rdb's Writer and returns its path.
func writeTestDump(t *testing.T, version int, keys []testKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump.rdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := rdb.NewWriter(f, rdb.WriterOptions{Version: version})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		kv := &rdb.KeyValue{DB: k.db, Key: []byte(k.key), Type: rdb.TypeString, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1}
		if k.expireAt != 0 {
			kv.ExpireAt = k.expireAt
		}
		if k.fields == nil {
			kv.Elements = func(fn func(*rdb.Element) error) error {
				return fn(&rdb.Element{Member: []byte(k.value), ExpireAt: rdb.NoExpiry})
			}
		} else {
			kv.Type = rdb.TypeHash
			kv.Elements = func(fn func(*rdb.Element) error) error {
				for _, fl := range k.fields {
					e := &rdb.Element{Member: []byte(fl.name), Value: []byte(fl.value), ExpireAt: rdb.NoExpiry}
					if fl.expireAt != 0 {
						e.ExpireAt = fl.expireAt
					}
					if err := fn(e); err != nil {
						return err
					}
				}
				return nil
			}
		}
		if err := w.WriteKey(kv); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// valkey9Dump writes, by hand (rdb's Writer writes REDIS files only), a
// Valkey 9 dump as Valkey's rdb.c lays it out: the VALKEY080 magic, a
// string, a hash with field expiries and a hash of the same type 22
// (RDB_TYPE_HASH_2) whose fields have none, then EOF and the CRC64.
func valkey9Dump(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	str := func(s string) { b.WriteByte(byte(len(s))); b.WriteString(s) } // lengths < 64
	ms := func(v int64) { b.Write(binary.LittleEndian.AppendUint64(nil, uint64(v))) }
	b.WriteString("VALKEY080")
	b.WriteByte(0xfa) // AUX
	str("valkey-ver")
	str("9.0.0")
	b.WriteByte(0xfe) // SELECTDB
	b.WriteByte(0)
	b.WriteByte(0) // string
	str("s")
	str("plain")
	b.WriteByte(22) // RDB_TYPE_HASH_2: field, value, absolute expiry (-1: none)
	str("h")
	b.WriteByte(3)
	for _, f := range []struct {
		name, value string
		at          int64
	}{{"f1", "v1", -1}, {"f2", "v2", 4102444800000}, {"f3", "v3", -1}} {
		str(f.name)
		str(f.value)
		ms(f.at)
	}
	b.WriteByte(22)
	str("h2")
	b.WriteByte(2)
	for _, f := range []string{"a", "b"} {
		str(f)
		str(f + "-value")
		ms(-1)
	}
	b.WriteByte(0xff)
	b.Write(binary.LittleEndian.AppendUint64(nil, rdb.CRC64(b.Bytes())))
	path := filepath.Join(t.TempDir(), "valkey9.rdb")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// corpusValkey9 returns a corpus dump with the VALKEY080 magic that
// MANIFEST.md lists, skipping when there is none.
func corpusValkey9(t *testing.T) string {
	t.Helper()
	manifest := corpus(t, "MANIFEST.md")
	f, err := os.Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) > 7 && strings.TrimSpace(cols[6]) == "VALKEY080" {
			return corpus(t, strings.TrimSpace(cols[1]))
		}
	}
	t.Skip("the shared corpus holds no VALKEY080 dump (MANIFEST.md: the Valkey 9 file is held back); the crafted one covers it")
	return ""
}

func restoreSummaryOf(t *testing.T, r result) restoreSummary {
	t.Helper()
	var sum restoreSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	return sum
}

// TestRestoreValkey9FieldExpiry (issue 14 item 5) restores a Valkey 9
// dump into Redis 7.0, which refuses its payloads (RDB 80): the fallback
// decodes them as Valkey's. The hash with field expiries fails as its
// own key (convert --to resp turns it into HSET + HPEXPIREAT, which 7.0
// lacks), without a panic and without leaving it half-built; the others
// are written as convert's commands write them.
func TestRestoreValkey9FieldExpiry(t *testing.T) {
	for _, tc := range []struct {
		name string
		dump func(*testing.T) string
	}{{"crafted", valkey9Dump}, {"corpus", corpusValkey9}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dump := tc.dump(t)
			resp := redkit(t, nil, "convert", "--to", "resp", "-q", dump).want(t, 0).stdout
			if !strings.Contains(resp, "HPEXPIREAT") {
				t.Fatalf("convert --to resp has no HPEXPIREAT:\n%q", resp)
			}
			// The keys that can go are written as convert's commands
			// write them.
			want := ""
			if tc.name == "crafted" {
				out := redkit(t, nil, "convert", "--to", "resp", "-q", "--regex", "^(s|h2)$", dump).want(t, 0).stdout
				want = debugDigest(t, pipeInto(t, []byte(out)))
			}
			for _, mode := range []string{"auto", "commands", "valkey8"} {
				t.Run(mode, func(t *testing.T) {
					opts, server := redistest.Options{}, "redis 7.0"
					if mode == "valkey8" {
						// Valkey 8 loads RDB 11 and has no HPEXPIREAT either.
						opts.Binary, server, mode = "valkey-server", "valkey 8.", "auto"
					}
					dst := redistest.Start(t, opts)
					r := redkit(t, nil, "restore", "--to", dst.URL(), "--mode", mode, "--batch", "1", dump).want(t, 3)
					if !strings.Contains(r.stderr, `key "h" failed`) || !strings.Contains(r.stderr, server) || !strings.Contains(r.stderr, "HPEXPIREAT") || !strings.Contains(r.stderr, "1 failed") {
						t.Errorf("stderr:\n%s", r.stderr)
					}
					if n := dst.Client().Exists(ctx, "h").Val(); n != 0 {
						t.Errorf("the hash with field expiries is on the target half-built: %v", dst.Client().HGetAll(ctx, "h").Val())
					}
					if tc.name != "crafted" {
						return
					}
					if v := dst.Client().Get(ctx, "s").Val(); v != "plain" {
						t.Errorf("s = %q", v)
					}
					if got := dst.Client().HGetAll(ctx, "h2").Val(); len(got) != 2 || got["a"] != "a-value" {
						t.Errorf("h2 = %v", got)
					}
					if got := debugDigest(t, dst); got != want {
						t.Errorf("DEBUG DIGEST %s, want %s (convert --to resp of s and h2 piped in)", got, want)
					}
				})
			}
		})
	}
}

// TestRestoreFieldExpiryOldTarget (issue 14 item 11): a hash with field
// expiries into Redis 7.0, which has no HPEXPIREAT. restore --check says
// so and fails; the restore reports the key as failed (exit 3) and
// leaves it absent, never written without its field expiries, from an
// RDB 12 dump (payloads 7.0 refuses, then commands) and from JSON (no
// "this file is RDB 10": there is no file of that version).
func TestRestoreFieldExpiryOldTarget(t *testing.T) {
	ctx := context.Background()
	// More fields than --batch: HSETs go before HPEXPIREAT would.
	var fields []testField
	for i := range 20 {
		fields = append(fields, testField{name: "f" + string(rune('a'+i)), value: "v"})
	}
	fields[19].expireAt = 4102444800000
	dump := writeTestDump(t, 12, []testKey{
		{key: "plain", value: "v"},
		{key: "hfe", fields: fields},
		{key: "h", fields: []testField{{name: "x", value: "y"}}},
	})
	jsonFile := filepath.Join(t.TempDir(), "keys.json")
	redkit(t, nil, "convert", "--to", "json", "-q", "-o", jsonFile, dump).want(t, 0)
	dst := redistest.Start(t, redistest.Options{})
	for _, in := range []string{dump, jsonFile} {
		r := redkit(t, nil, "restore", "--check", "--to", dst.URL(), in).want(t, 1)
		if !strings.Contains(r.stdout, "field expiries") || !strings.Contains(r.stdout, "fail") || !strings.Contains(r.stdout, "HPEXPIREAT") || !strings.Contains(r.stdout, `"hfe"`) {
			t.Errorf("restore --check %s:\n%s\n%s", in, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "RDB 12") == (in == jsonFile) {
			t.Errorf("restore --check %s: the input's version:\n%s", in, r.stdout)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"rdb", []string{dump}},
		{"rdb-commands", []string{"--mode", "commands", dump}},
		{"json", []string{jsonFile}},
		{"json-commands", []string{"--mode", "commands", jsonFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := dst.Client().FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			r := redkit(t, nil, append([]string{"restore", "--to", dst.URL(), "--batch", "3"}, tc.args...)...).want(t, 3)
			if !strings.Contains(r.stderr, `key "hfe" failed`) || !strings.Contains(r.stderr, "HPEXPIREAT") ||
				!strings.Contains(r.stderr, "2 keys written") || !strings.Contains(r.stderr, "1 failed") || strings.Contains(r.stderr, "RDB 10") {
				t.Errorf("stderr:\n%s", r.stderr)
			}
			if n := dst.Client().Exists(ctx, "hfe").Val(); n != 0 {
				t.Errorf("hfe is on the target without its field expiries: %d fields", dst.Client().HLen(ctx, "hfe").Val())
			}
			if dst.Client().Get(ctx, "plain").Val() != "v" || dst.Client().HGet(ctx, "h", "x").Val() != "y" {
				t.Error("the other keys are missing")
			}
		})
	}
}

// expiredDump writes a dump with keys whose expiry has passed, in db 0
// beside live ones and alone in db 1.
func expiredDump(t *testing.T) string {
	t.Helper()
	const past, future = 1000, 4102444800000
	return writeTestDump(t, 10, []testKey{
		{key: "live", value: "1"},
		{key: "gone", value: "2", expireAt: past},
		{key: "later", value: "3", expireAt: future},
		{db: 1, key: "old1", value: "4", expireAt: past},
		{db: 1, key: "old2", fields: []testField{{name: "f", value: "v"}}, expireAt: past},
	})
}

// TestRestoreExpiredKeys (issue 14 item 20): keys whose expiry has passed
// are left out by default, as Redis drops them on load, and counted as
// expired, not written; --expired include sends them (the target drops
// them) and still does not count them as written.
func TestRestoreExpiredKeys(t *testing.T) {
	ctx := context.Background()
	dump := expiredDump(t)
	dst := redistest.Start(t, redistest.Options{})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"commands", []string{"--mode", "commands"}},
		{"include", []string{"--expired", "include"}},
		{"include-commands", []string{"--expired", "include", "--mode", "commands"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := dst.Client().FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			r := redkit(t, nil, append([]string{"restore", "--to", dst.URL(), "--format", "json"}, append(tc.args, dump)...)...).want(t, 0)
			sum := restoreSummaryOf(t, r)
			if sum.Keys != 2 || sum.Expired != 3 || sum.Failed != 0 || sum.Skipped != 0 {
				t.Errorf("summary: %+v", sum)
			}
			if got := dst.Client().Keys(ctx, "*").Val(); len(got) != 2 {
				t.Errorf("db 0 holds %v, want live and later", got)
			}
		})
	}
	if err := dst.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	r := redkit(t, nil, "restore", "--to", dst.URL(), dump).want(t, 0)
	if !strings.Contains(r.stderr, "2 keys written (0 as commands), 0 skipped, 0 failed, 3 expired") {
		t.Errorf("text summary:\n%s", r.stderr)
	}
	r = redkit(t, nil, "restore", "--help").want(t, 0)
	if !strings.Contains(r.stdout, `--expired MODE`) || !strings.Contains(r.stdout, `(default: "exclude")`) {
		t.Errorf("restore --help does not give --expired's default:\n%s", r.stdout)
	}
}

// TestRestoreConflictCounts (issue 14 item 20): --conflict skip is what
// the user asked for, so it exits 0 with the count; a run stopped by
// --conflict error counts the keys it found existing, not as skipped,
// and says the rest were not tried.
func TestRestoreConflictCounts(t *testing.T) {
	ctx := context.Background()
	var keys []testKey
	for i := range 300 {
		keys = append(keys, testKey{key: "k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)), value: "v"})
	}
	dump := writeTestDump(t, 10, keys)
	dst := redistest.Start(t, redistest.Options{})
	redkit(t, nil, "restore", "--to", dst.URL(), "-q", dump).want(t, 0)
	for _, mode := range []string{"restore", "commands"} {
		t.Run("skip-"+mode, func(t *testing.T) {
			r := redkit(t, nil, "restore", "--to", dst.URL(), "--mode", mode, "--conflict", "skip", "--format", "json", dump).want(t, 0)
			if sum := restoreSummaryOf(t, r); sum.Skipped != 300 || sum.Keys != 0 || sum.Failed != 0 {
				t.Errorf("summary: %+v", sum)
			}
		})
	}
	// Every key exists: the first stops the restore, those in flight
	// then are found existing too, the others are never tried.
	r := redkit(t, nil, "restore", "--to", dst.URL(), "--format", "json", dump).want(t, 1)
	sum := restoreSummaryOf(t, r)
	if sum.Skipped != 0 || sum.Existing < 1 || sum.Keys != 0 || !strings.Contains(sum.Error, "exists") {
		t.Errorf("summary of a run stopped by a conflict: %+v", sum)
	}
	r = redkit(t, nil, "restore", "--to", dst.URL(), "--pipeline", "1", dump).want(t, 1)
	if !strings.Contains(r.stderr, "0 skipped") || !strings.Contains(r.stderr, "were not tried") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if n := dst.Client().DBSize(ctx).Val(); n != 300 {
		t.Errorf("%d keys on the target", n)
	}
}

// TestRestoreInterruptedCommands: a restore as commands cut off (the
// context cancelled, as by SIGINT) while commands wait for room in the
// pipeline ends with 130 at once: a command that was never sent is no
// reply to wait for (Close waits for the replies of keys written as
// commands before it deletes the failed ones).
func TestRestoreInterruptedCommands(t *testing.T) {
	var keys []testKey
	for i := range 2000 {
		var fields []testField
		for j := range 20 {
			fields = append(fields, testField{name: fmt.Sprintf("f%d", j), value: strings.Repeat("v", 100)})
		}
		keys = append(keys, testKey{key: fmt.Sprintf("h:%d", i), fields: fields})
	}
	dump := writeTestDump(t, 10, keys)
	dst := redistest.Start(t, redistest.Options{})
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			var stdout, stderr bytes.Buffer
			done <- runIO(ctx, []string{"redkit", "restore", "--to", dst.URL(), "--mode", "commands", "--batch", "1", "--pipeline", "1", "--conflict", "replace", "-q", dump}, nil, &stdout, &stderr)
		}()
		for dst.Client().DBSize(context.Background()).Val() < 20 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case code := <-done:
			if code != 130 {
				t.Fatalf("exit %d, want 130", code)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the interrupted restore did not end")
		}
	}
}
