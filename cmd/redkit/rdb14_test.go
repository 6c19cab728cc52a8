package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// rdb14Dump writes an RDB 14 (Redis 8.8) dump with rdb's Writer, whose
// encoding of these types rdb's tests check byte for byte against the
// layout of Redis's rdb.c: a string, an array with an insert index, a
// stream whose group has a NACKed entry and a stream of type 27 without
// one (it has IDMP state).
func rdb14Dump(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump14.rdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := rdb.NewWriter(f, rdb.WriterOptions{Version: 14})
	if err != nil {
		t.Fatal(err)
	}
	elems := func(es ...rdb.Element) func(func(*rdb.Element) error) error {
		return func(fn func(*rdb.Element) error) error {
			for i := range es {
				e := es[i]
				if err := fn(&e); err != nil {
					return err
				}
			}
			return nil
		}
	}
	entries := elems(
		rdb.Element{ID: rdb.StreamID{Ms: 1, Seq: 1}, Fields: [][]byte{[]byte("f"), []byte("v1")}},
		rdb.Element{ID: rdb.StreamID{Ms: 2, Seq: 1}, Fields: [][]byte{[]byte("f"), []byte("v2")}})
	nacked := &rdb.StreamInfo{Length: 2, LastID: rdb.StreamID{Ms: 2, Seq: 1}, FirstID: rdb.StreamID{Ms: 1, Seq: 1}, EntriesAdded: 2,
		Groups: []rdb.StreamGroup{{Name: "g", LastID: rdb.StreamID{Ms: 2, Seq: 1}, EntriesRead: 2,
			Pending: []rdb.PendingEntry{
				{ID: rdb.StreamID{Ms: 1, Seq: 1}, DeliveryTime: 1700000000000, DeliveryCount: 1, Consumer: "c"},
				{ID: rdb.StreamID{Ms: 2, Seq: 1}, DeliveryTime: 1700000000001, DeliveryCount: 2},
			},
			Consumers: []rdb.StreamConsumer{{Name: "c", SeenTime: 1700000000000, ActiveTime: 1700000000000}},
			Nacked:    []rdb.StreamID{{Ms: 2, Seq: 1}},
		}}}
	withIDMP := &rdb.StreamInfo{Length: 2, LastID: rdb.StreamID{Ms: 2, Seq: 1}, FirstID: rdb.StreamID{Ms: 1, Seq: 1}, EntriesAdded: 2,
		IDMP: &rdb.StreamIDMP{Duration: 100, MaxEntries: 100}}
	keys := []*rdb.KeyValue{
		{Key: []byte("plain"), Type: rdb.TypeString, Elements: elems(rdb.Element{Member: []byte("v")})},
		{Key: []byte("arr"), Type: rdb.TypeArray, Elements: elems(
			rdb.Element{Index: 0, Member: []byte("12"), Kind: rdb.ArrayInt},
			rdb.Element{Index: 7, Member: []byte("hello world, array")}),
			Array: func() *rdb.ArrayInfo { return &rdb.ArrayInfo{Count: 2, InsertIndex: 49} }},
		{Key: []byte("st"), Type: rdb.TypeStream, Elements: entries, Stream: func() *rdb.StreamInfo { return nacked }},
		{Key: []byte("st2"), Type: rdb.TypeStream, Elements: entries, Stream: func() *rdb.StreamInfo { return withIDMP }},
	}
	for _, kv := range keys {
		kv.ExpireAt, kv.Idle, kv.Freq = rdb.NoExpiry, -1, -1
		if err := w.WriteKey(kv); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConvertRDB14 converts an RDB 14 dump to JSON, RESP and RDB: the
// new types are in each, RDB 14 comes back byte for byte, and an older
// RDB version is refused naming the key that needs 14.
func TestConvertRDB14(t *testing.T) {
	dump := rdb14Dump(t)
	js := redkit(t, nil, "convert", "--to", "jsonl", "-q", dump).want(t, 0).stdout
	for _, want := range []string{`"key":"arr","type":"array","elements":[{"index":0,"value":"12","kind":"int"},{"index":7,"value":"hello world, array"}],"insertIndex":49`,
		`"nacked":["2-1"]`, `"idmp":{"duration":100`} {
		if !strings.Contains(js, want) {
			t.Errorf("json lacks %s:\n%s", want, js)
		}
	}
	resp := redkit(t, nil, "convert", "--to", "resp", "-q", dump).want(t, 0).stdout
	for _, want := range []string{"ARMSET", "ARSEEK", "$2\r\n50\r\n", "XNACK", "FAIL"} {
		if !strings.Contains(resp, want) {
			t.Errorf("resp lacks %q:\n%q", want, resp)
		}
	}
	out := filepath.Join(t.TempDir(), "out.rdb")
	redkit(t, nil, "convert", "--to", "rdb", "--rdb-version", "14", "-q", "-o", out, dump).want(t, 0)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(dump)
	if !bytes.Equal(got, want) {
		t.Errorf("RDB 14 to RDB 14 differs:\n got %x\nwant %x", got, want)
	}
	// The JSON goes back to the same RDB 14 file too.
	jsonFile := filepath.Join(t.TempDir(), "keys.jsonl")
	if err := os.WriteFile(jsonFile, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	redkit(t, nil, "convert", "--to", "rdb", "--rdb-version", "14", "-q", "-o", out, jsonFile).want(t, 0)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Errorf("JSON to RDB 14 differs from the dump")
	}
	r := redkit(t, nil, "convert", "--to", "rdb", "-q", "-o", out, dump)
	if r.code == 0 || !strings.Contains(r.stderr, `"arr"`) || !strings.Contains(r.stderr, "RDB 14") {
		t.Errorf("convert to RDB 10: exit %d\n%s", r.code, r.stderr)
	}
}

// TestRestoreRDB14OldTarget restores an RDB 14 dump into Redis 7.0 and
// Valkey 8, which hold neither arrays nor NACKed stream entries: those
// keys fail, each named with its type, and are left absent; the string
// and the stream without NACKed entries go over as commands.
func TestRestoreRDB14OldTarget(t *testing.T) {
	ctx := context.Background()
	dump := rdb14Dump(t)
	for _, tc := range []struct{ name, binary, mode string }{
		{"redis7-auto", "", "auto"}, {"redis7-commands", "", "commands"}, {"valkey8-auto", "valkey-server", "auto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := redistest.Start(t, redistest.Options{Binary: tc.binary})
			r := redkit(t, nil, "restore", "--to", dst.URL(), "--mode", tc.mode, dump).want(t, 3)
			for _, want := range []string{`key "arr"`, "an array (RDB type 28)", `key "st"`, "NACKed entries (RDB type 27", "2 failed"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			c := dst.Client()
			if n := c.Exists(ctx, "arr", "st").Val(); n != 0 {
				t.Errorf("%d of arr and st are on the target", n)
			}
			if v := c.Get(ctx, "plain").Val(); v != "v" {
				t.Errorf("plain = %q", v)
			}
			if n := c.XLen(ctx, "st2").Val(); n != 2 {
				t.Errorf("st2 has %d entries, want 2", n)
			}
		})
	}
	t.Run("redis7-restore-mode", func(t *testing.T) {
		dst := redistest.Start(t, redistest.Options{})
		r := redkit(t, nil, "restore", "--to", dst.URL(), "--mode", "restore", dump)
		// The array fails for what it is; the streams as payloads of RDB
		// 14, which --mode auto sends as commands instead.
		for _, want := range []string{`key "arr" failed: the target cannot hold this value: an array (RDB type 28)`,
			`key "st" failed: payload of RDB 14: redis 7.0.15 loads RDB 10 and older (use --mode auto)`} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if r.code == 0 {
			t.Errorf("exit 0:\n%s", r.stderr)
		}
	})
}
