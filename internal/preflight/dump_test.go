package preflight

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/rdb"
)

type testKey struct {
	db       int
	key      string
	value    string // a string's
	fields   []testField
	expireAt int64 // 0: none
}

type testField struct {
	name, value string
	expireAt    int64 // 0: none
}

func (k testKey) keyValue() *rdb.KeyValue {
	kv := &rdb.KeyValue{DB: k.db, Key: []byte(k.key), Type: rdb.TypeString, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1}
	if k.expireAt != 0 {
		kv.ExpireAt = k.expireAt
	}
	if k.fields == nil {
		kv.Elements = func(fn func(*rdb.Element) error) error {
			return fn(&rdb.Element{Member: []byte(k.value), ExpireAt: rdb.NoExpiry})
		}
		return kv
	}
	kv.Type = rdb.TypeHash
	kv.Elements = func(fn func(*rdb.Element) error) error {
		for _, f := range k.fields {
			e := &rdb.Element{Member: []byte(f.name), Value: []byte(f.value), ExpireAt: rdb.NoExpiry}
			if f.expireAt != 0 {
				e.ExpireAt = f.expireAt
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	return kv
}

// rdbBytes is an RDB dump of version holding keys.
func rdbBytes(t *testing.T, version int, keys []testKey) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := rdb.NewWriter(&b, rdb.WriterOptions{Version: version})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := w.WriteKey(k.keyValue()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jsonBytes is redkit JSON holding keys.
func jsonBytes(t *testing.T, keys []testKey) []byte {
	t.Helper()
	var b bytes.Buffer
	w := rdb.NewJSONWriter(&b, rdb.JSONOptions{})
	for _, k := range keys {
		if err := w.WriteKey(k.keyValue()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// someKeys: db 0 and 2, a key expired at now, a big one and a hash with
// a field expiry.
var (
	now      = time.UnixMilli(1_700_000_000_000)
	someKeys = []testKey{
		{key: "a", value: "1"},
		{key: "big", value: strings.Repeat("x", 5000)},
		{key: "gone", value: "1", expireAt: now.UnixMilli() - 1},
		{key: "later", value: "1", expireAt: now.UnixMilli() + 60_000},
		{key: "hfe", fields: []testField{{name: "f", value: "v", expireAt: 4102444800000}, {name: "g", value: "w"}}},
		{key: "h", fields: []testField{{name: "f", value: "v"}}},
		{db: 2, key: "b", value: "2"},
	}
)

func TestScanDumpRDB(t *testing.T) {
	ctx := context.Background()
	path := writeFile(t, "dump.rdb", rdbBytes(t, 12, someKeys))
	st, err := scanDump(ctx, path, &RestoreOptions{DropExpired: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if st.version != 12 || st.json || st.keys != 7 || st.expired != 1 || st.bytes != fi.Size() {
		t.Errorf("version %d json %v keys %d expired %d bytes %d (file %d)", st.version, st.json, st.keys, st.expired, st.bytes, fi.Size())
	}
	if want := map[int]int64{0: 5, 2: 1}; !maps.Equal(st.dbs, want) {
		t.Errorf("dbs %v, want %v", st.dbs, want)
	}
	if st.fieldTTL != 1 || st.fieldTTLKey != "hfe" {
		t.Errorf("field expiries: %d, %q", st.fieldTTL, st.fieldTTLKey)
	}
	if st.bigKey != "big" || st.bigDB != 0 || st.bigSize < 5000 {
		t.Errorf("biggest key %q in db %d, %d bytes", st.bigKey, st.bigDB, st.bigSize)
	}
	want := []dbKey{{0, "a"}, {0, "big"}, {0, "later"}, {0, "hfe"}, {0, "h"}, {2, "b"}}
	if !slices.Equal(st.sample, want) {
		t.Errorf("sample %v, want %v", st.sample, want)
	}

	// Kept expired, filtered to db 2.
	st, err = scanDump(ctx, path, &RestoreOptions{Now: now, Filter: &rdb.Filter{DBs: []int{2}}})
	if err != nil {
		t.Fatal(err)
	}
	if st.keys != 7 || st.expired != 0 || !maps.Equal(st.dbs, map[int]int64{2: 1}) || st.fieldTTL != 0 || len(st.sample) != 1 {
		t.Errorf("filtered: keys %d expired %d dbs %v field expiries %d sample %v", st.keys, st.expired, st.dbs, st.fieldTTL, st.sample)
	}
}

// TestScanDumpCompressed: a gzipped dump reads as the dump, and its
// size is the RDB's.
func TestScanDumpCompressed(t *testing.T) {
	data := rdbBytes(t, 12, someKeys)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	st, err := scanDump(context.Background(), writeFile(t, "dump.rdb.gz", b.Bytes()), &RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.version != 12 || st.keys != 7 || st.bytes != int64(len(data)) {
		t.Errorf("version %d keys %d bytes %d, want 12, 7, %d", st.version, st.keys, st.bytes, len(data))
	}
}

// TestScanDumpSample: the sample holds the first keys only.
func TestScanDumpSample(t *testing.T) {
	var keys []testKey
	for i := range sampleLimit + 10 {
		keys = append(keys, testKey{key: "k" + strconv.Itoa(i), value: "v"})
	}
	st, err := scanDump(context.Background(), writeFile(t, "dump.rdb", rdbBytes(t, 10, keys)), &RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.sample) != sampleLimit || st.sample[0].key != keys[0].key || st.keys != len(keys) {
		t.Errorf("sample of %d from %q, keys %d", len(st.sample), st.sample[0].key, st.keys)
	}
}

func TestScanDumpJSON(t *testing.T) {
	ctx := context.Background()
	path := writeFile(t, "keys.json", jsonBytes(t, someKeys))
	st, err := scanDump(ctx, path, &RestoreOptions{DropExpired: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !st.json || st.version != 0 || st.keys != 7 || st.expired != 1 || st.bytes != 0 {
		t.Errorf("json %v version %d keys %d expired %d bytes %d", st.json, st.version, st.keys, st.expired, st.bytes)
	}
	if !maps.Equal(st.dbs, map[int]int64{0: 5, 2: 1}) || st.fieldTTL != 1 || st.fieldTTLKey != "hfe" || len(st.sample) != 6 {
		t.Errorf("dbs %v field expiries %d %q sample %v", st.dbs, st.fieldTTL, st.fieldTTLKey, st.sample)
	}
	// From standard input, JSON is not read (it cannot be opened again).
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err = scanDump(ctx, "-", &RestoreOptions{Stdin: f})
	if err != nil || st.json || st.version != 0 || st.keys != 0 {
		t.Errorf("stdin: %v, json %v version %d keys %d", err, st.json, st.version, st.keys)
	}
}

// TestScanDumpAOF: an AOF's commands setting field expiries are counted,
// and the keys of an RDB preamble's are read.
func TestScanDumpAOF(t *testing.T) {
	cmds := "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n" +
		"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n" +
		"*6\r\n$10\r\nhpexpireat\r\n$1\r\nh\r\n$13\r\n4102444800000\r\n$6\r\nFIELDS\r\n$1\r\n1\r\n$1\r\nf\r\n" +
		"*5\r\n$7\r\nHEXPIRE\r\n$2\r\nh2\r\n$2\r\n10\r\n$6\r\nFIELDS\r\n$1\r\n1\r\n"
	st, err := scanDump(context.Background(), writeFile(t, "appendonly.aof", []byte(cmds)), &RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.version != 0 || st.json || st.keys != 0 || st.fieldTTL != 2 || st.fieldTTLKey != "h" {
		t.Errorf("version %d json %v keys %d field expiries %d %q", st.version, st.json, st.keys, st.fieldTTL, st.fieldTTLKey)
	}
}

// TestScanDumpAOFDir: a multi-part AOF (its directory, or its manifest):
// the base's keys and the incr file's commands.
func TestScanDumpAOFDir(t *testing.T) {
	dir := t.TempDir()
	base := rdbBytes(t, 11, []testKey{{key: "a", value: "1"}, {key: "hfe", fields: []testField{{name: "f", value: "v"}}}})
	incr := "*5\r\n$7\r\nHEXPIRE\r\n$3\r\nhfe\r\n$2\r\n10\r\n$6\r\nFIELDS\r\n$1\r\n1\r\n"
	for name, data := range map[string][]byte{
		"appendonly.aof.1.base.rdb": base,
		"appendonly.aof.1.incr.aof": []byte(incr),
		"appendonly.aof.manifest":   []byte("file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{dir, filepath.Join(dir, "appendonly.aof.manifest")} {
		st, err := scanDump(context.Background(), path, &RestoreOptions{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if st.version != 0 || st.json || st.keys != 2 || !maps.Equal(st.dbs, map[int]int64{0: 2}) || st.fieldTTL != 1 || st.fieldTTLKey != "hfe" {
			t.Errorf("%s: version %d json %v keys %d dbs %v field expiries %d %q", path, st.version, st.json, st.keys, st.dbs, st.fieldTTL, st.fieldTTLKey)
		}
	}
}

// TestScanDumpErrors: what an input that cannot be read says.
func TestScanDumpErrors(t *testing.T) {
	ctx := context.Background()
	empty := writeFile(t, "empty.rdb", nil)
	junk := writeFile(t, "junk.rdb", []byte("hello world"))
	truncated := writeFile(t, "cut.rdb", rdbBytes(t, 12, someKeys)[:40])
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "none.rdb"), "no such file"},
		{"empty", empty, "convert " + empty + ": input is empty"},
		{"junk", junk, "convert " + junk + `: input is neither an RDB dump (REDIS or VALKEY magic), an AOF (RESP commands) nor redkit JSON (first bytes "hello ")`},
		{"truncated", truncated, ""},
		{"missing manifest", filepath.Join(t.TempDir(), "x.manifest"), "restore: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scanDump(ctx, tc.path, &RestoreOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one holding %q", err, tc.want)
			}
		})
	}
}

// TestScanDumpCancelled: a done context stops the read with its error.
func TestScanDumpCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, data := range [][]byte{nil, []byte("*1\r\n$4\r\nPING\r\n")} {
		_, err := scanDump(ctx, writeFile(t, "in", data), &RestoreOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%q: err %v, want context.Canceled", data, err)
		}
	}
}
