package rdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// Streams of the first format (RDB_TYPE_STREAM_LISTPACKS, 15: Redis 5 and
// 6) do not store the first entry's ID nor the groups' entries-read:
// Redis 7 computes them on load. These tests craft such streams and ask a
// real redis-server what it makes of them.

type t15Entry struct {
	id      StreamID
	deleted bool
	fields  []string
}

type t15Group struct {
	name     string
	last     StreamID
	pending  []StreamID // owned by consumer
	consumer string
}

type t15Stream struct {
	key    string
	nodes  [][]t15Entry
	length uint64
	last   StreamID
	groups []t15Group
}

// type15Dump writes an RDB file holding streams of type 15.
func type15Dump(t *testing.T, streams []t15Stream) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id16 := func(id StreamID) []byte {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], id.Ms)
		binary.BigEndian.PutUint64(b[8:], id.Seq)
		return b[:]
	}
	for _, s := range streams {
		w.byte1(typeStreamListpacks)
		w.str([]byte(s.key))
		w.length(uint64(len(s.nodes)))
		var lp lpBuilder
		for _, node := range s.nodes {
			master := node[0]
			live, deleted := 0, 0
			for _, e := range node {
				if e.deleted {
					deleted++
				} else {
					live++
				}
			}
			lp.reset()
			lp.int(int64(live))
			lp.int(int64(deleted))
			lp.int(int64(len(master.fields) / 2))
			for i := 0; i < len(master.fields); i += 2 {
				lp.str([]byte(master.fields[i]))
			}
			lp.int(0)
			for _, e := range node {
				flags := int64(0)
				if e.deleted {
					flags = streamFlagDeleted
				}
				lp.int(flags)
				lp.int(int64(e.id.Ms - master.id.Ms))
				lp.int(int64(e.id.Seq - master.id.Seq))
				lp.int(int64(len(e.fields) / 2))
				for _, f := range e.fields {
					lp.str([]byte(f))
				}
				lp.int(int64(len(e.fields) + 4))
			}
			w.str(id16(master.id))
			w.str(lp.finish())
		}
		w.length(s.length)
		w.length(s.last.Ms)
		w.length(s.last.Seq)
		w.length(uint64(len(s.groups)))
		for _, g := range s.groups {
			w.str([]byte(g.name))
			w.length(g.last.Ms)
			w.length(g.last.Seq)
			w.length(uint64(len(g.pending)))
			for _, p := range g.pending {
				w.raw(id16(p))
				w.ms(1700000000000)
				w.length(1)
			}
			if g.consumer == "" {
				w.length(0)
				continue
			}
			w.length(1)
			w.str([]byte(g.consumer))
			w.ms(1700000000000)
			w.length(uint64(len(g.pending)))
			for _, p := range g.pending {
				w.raw(id16(p))
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func type15Streams() []t15Stream {
	f := []string{"f", "v"}
	return []t15Stream{
		{
			// The first node's entries are all deleted, the second's first
			// too: the first entry is 6-0. The last ID is past the last entry.
			key: "fragmented",
			nodes: [][]t15Entry{
				{{id: StreamID{1, 1}, deleted: true, fields: f}, {id: StreamID{1, 2}, deleted: true, fields: f}},
				{{id: StreamID{5, 0}, deleted: true, fields: f}, {id: StreamID{6, 0}, fields: f}, {id: StreamID{7, 0}, fields: f}},
			},
			length: 2, last: StreamID{9, 0},
			groups: []t15Group{
				{name: "g0", last: StreamID{0, 0}},
				{name: "before-first", last: StreamID{1, 1}},
				{name: "at-first", last: StreamID{6, 0}, pending: []StreamID{{6, 0}}, consumer: "c"},
				{name: "inside", last: StreamID{6, 5}},
				{name: "at-entry", last: StreamID{7, 0}},
				{name: "at-last", last: StreamID{9, 0}},
				{name: "future", last: StreamID{10, 0}},
			},
		},
		{
			key:    "plain",
			nodes:  [][]t15Entry{{{id: StreamID{100, 0}, fields: f}, {id: StreamID{100, 1}, fields: []string{"a", "b", "c", "d"}}}},
			length: 2, last: StreamID{100, 1},
			groups: []t15Group{{name: "g", last: StreamID{100, 0}}},
		},
		{
			// Every entry deleted.
			key:    "all-deleted",
			nodes:  [][]t15Entry{{{id: StreamID{3, 0}, deleted: true, fields: f}}},
			length: 0, last: StreamID{3, 0},
			groups: []t15Group{{name: "g", last: StreamID{3, 0}}, {name: "old", last: StreamID{1, 0}}},
		},
		{
			key: "empty", length: 0, last: StreamID{0, 0},
			groups: []t15Group{{name: "g", last: StreamID{0, 0}}},
		},
	}
}

// xinfoMeta renders what XINFO STREAM and XINFO GROUPS say of a key's
// metadata; entries-read is "nil" when the server does not know it.
func xinfoMeta(t *testing.T, srv *redistest.Server, key string) string {
	t.Helper()
	ctx := context.Background()
	info, err := srv.Do(ctx, "XINFO", "STREAM", key)
	if err != nil {
		t.Fatal(err)
	}
	m := replyMap(info)
	s := fmt.Sprintf("length=%v last=%v first=%v maxdel=%v added=%v", m["length"], m["last-generated-id"],
		m["recorded-first-entry-id"], m["max-deleted-entry-id"], m["entries-added"])
	groups, err := srv.Do(ctx, "XINFO", "GROUPS", key)
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := groups.([]any)
	var lines []string
	for _, g := range gs {
		gm := replyMap(g)
		read := "nil"
		if v := gm["entries-read"]; v != nil {
			read = fmt.Sprint(v)
		}
		lines = append(lines, fmt.Sprintf(" group(%v last=%v read=%s pending=%v)", gm["name"], gm["last-delivered-id"], read, gm["pending"]))
	}
	slices.Sort(lines) // XINFO GROUPS lists groups by name
	return s + strings.Join(lines, "")
}

// replyMap reads a RESP3 map or a RESP2 flat array of pairs.
func replyMap(v any) map[string]any {
	m := map[string]any{}
	switch v := v.(type) {
	case map[any]any:
		for k, x := range v {
			m[fmt.Sprint(k)] = x
		}
	case []any:
		for i := 0; i+1 < len(v); i += 2 {
			m[fmt.Sprint(v[i])] = v[i+1]
		}
	}
	return m
}

// readerMeta renders a stream's metadata as the Reader gives it, the way
// xinfoMeta renders XINFO's.
func readerMeta(si *StreamInfo) string {
	s := fmt.Sprintf("length=%d last=%v first=%v maxdel=%v added=%d", si.Length, si.LastID, si.FirstID, si.MaxDeletedID, si.EntriesAdded)
	var lines []string
	for _, g := range si.Groups {
		read := "nil"
		if g.EntriesRead >= 0 {
			read = fmt.Sprint(g.EntriesRead)
		}
		lines = append(lines, fmt.Sprintf(" group(%s last=%v read=%s pending=%d)", g.Name, g.LastID, read, len(g.Pending)))
	}
	slices.Sort(lines)
	return s + strings.Join(lines, "")
}

func startWithDump(t *testing.T, data []byte) *redistest.Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.rdb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return redistest.Start(t, redistest.Options{Config: []string{"dir " + dir, "dbfilename in.rdb"}})
}

// TestType15StreamMetadata checks the first entry ID and the groups'
// entries-read of type 15 streams against what redis-server computes on
// load, as the Reader gives them and after the Writer wrote them again.
func TestType15StreamMetadata(t *testing.T) {
	streams := type15Streams()
	data := type15Dump(t, streams)
	srv := startWithDump(t, data)

	got := map[string]string{}
	var out, js bytes.Buffer
	w, err := NewWriter(&out, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jw := NewJSONWriter(&js, JSONOptions{})
	rd := NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind != KindKey {
			continue
		}
		key := string(rec.Key)
		kv := rd.KeyValue()
		if err := w.WriteKey(kv); err != nil {
			t.Fatal(err)
		}
		got[key] = readerMeta(kv.Stream())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rd = NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == KindKey {
			if err := jw.WriteKey(rd.KeyValue()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	// And through JSON: read back, written as RDB.
	var fromJSON bytes.Buffer
	jrw, err := NewWriter(&fromJSON, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jr := NewJSONReader(&js)
	for {
		kv, err := jr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := jrw.WriteKey(kv); err != nil {
			t.Fatal(err)
		}
	}
	if err := jrw.Close(); err != nil {
		t.Fatal(err)
	}
	rewritten := startWithDump(t, out.Bytes())
	viaJSON := startWithDump(t, fromJSON.Bytes())
	for _, s := range streams {
		want := xinfoMeta(t, srv, s.key)
		if got[s.key] != want {
			t.Errorf("stream %q read as\n  %s\nredis-server loaded it as\n  %s", s.key, got[s.key], want)
		}
		if again := xinfoMeta(t, rewritten, s.key); again != want {
			t.Errorf("stream %q written again loads as\n  %s\nthe type 15 original as\n  %s", s.key, again, want)
		}
		if again := xinfoMeta(t, viaJSON, s.key); again != want {
			t.Errorf("stream %q through JSON loads as\n  %s\nthe type 15 original as\n  %s", s.key, again, want)
		}
	}
	if !strings.Contains(got["fragmented"], "first=6-0") {
		t.Errorf("fragmented stream: %s", got["fragmented"])
	}
}
