package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"filippo.io/age"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// rpResp encodes a command as RESP, as a master sends it.
func rpResp(args ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// rpSelect is the SELECT a replay gives at a segment's start.
func rpSelect(db int) []byte { return rpResp("SELECT", strconv.Itoa(db)) }

var (
	rpT0     = time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
	rpPing   = rpResp("PING")
	rpGetack = []byte("*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n")
)

// rpAt is ms milliseconds after rpT0.
func rpAt(ms int) time.Time { return rpT0.Add(time.Duration(ms) * time.Millisecond) }

// rpRec is a command of a segment: label names it in expectations ("" for
// the PINGs and REPLCONFs a replay leaves out), at is its receive time in
// milliseconds after rpT0.
type rpRec struct {
	label string
	cmd   []byte
	at    int
}

// rpSeg is a segment: the database selected at its start, its commands,
// and when it was closed.
type rpSeg struct {
	db     int
	start  int // its header's Start, ms after rpT0
	closed int
	endDB  int
	recs   []rpRec
}

// rpFixture is a generation's three segments:
//
//	A (db 0): SET a, PING, SET b, REPLCONF GETACK, MULTI INCR INCR EXEC,
//	          SELECT 3, SET c, multi SET t 1 ...
//	B (db 3): ... SET t 2, EXEC (a transaction across A and B), PING,
//	          SET d, MULTI DEL EXEC
//	C (db 3): SET e, MULTI SET f ... (a transaction the end of what is
//	          stored cuts)
func rpFixture() []rpSeg {
	return []rpSeg{
		{db: 0, start: 0, closed: 55, endDB: 3, recs: []rpRec{
			{"a1", rpResp("SET", "a", "1"), 10},
			{"", rpPing, 10},
			{"a2", rpResp("SET", "b", "2"), 20},
			{"", rpGetack, 25},
			{"m1", rpResp("MULTI"), 30},
			{"x", rpResp("INCR", "x"), 30},
			{"y", rpResp("INCR", "y"), 31},
			{"e1", rpResp("EXEC"), 32},
			{"s3", rpResp("SELECT", "3"), 40},
			{"c", rpResp("SET", "c", "3"), 40},
			{"m2", rpResp("multi"), 50}, // names match whatever their case
			{"t1", rpResp("SET", "t", "1"), 50},
		}},
		{db: 3, start: 55, closed: 95, endDB: 3, recs: []rpRec{
			{"t2", rpResp("SET", "t", "2"), 60},
			{"e2", rpResp("exec"), 61},
			{"", rpPing, 70},
			{"d", rpResp("SET", "d", "4"), 80},
			{"m3", rpResp("MULTI"), 90},
			{"dd", rpResp("DEL", "d"), 90},
			{"e3", rpResp("EXEC"), 91},
		}},
		{db: 3, start: 95, closed: 120, endDB: 3, recs: []rpRec{
			{"e", rpResp("SET", "e", "5"), 100},
			{"m4", rpResp("MULTI"), 110},
			{"f", rpResp("SET", "f", "6"), 110},
		}},
	}
}

// rpGen is a generation stored on a file backend.
type rpGen struct {
	b      storage.Backend
	dir    string
	base   *backup.Manifest
	segs   []backup.SegmentInfo // as ListSegments gives them
	cmd    map[string][]byte    // by label
	offset map[string]int64     // the offset after each labelled command
	at     map[string]int       // its receive time, ms after rpT0
}

// rpStore stores a generation: a base (a manifest, Continuous, and one
// object) at baseOffset, received at rpAt(from), from source url, then
// the segments.
func rpStore(t *testing.T, b storage.Backend, dir string, c storage.Codec, url string, from int, baseOffset int64, segs []rpSeg) *rpGen {
	t.Helper()
	ctx := context.Background()
	g := &rpGen{b: b, dir: dir, cmd: map[string][]byte{}, offset: map[string]int64{}, at: map[string]int{}}
	id := backup.NewID(rpAt(from))
	comp := c.Compression
	if comp == "" {
		comp = "zstd"
	}
	m := &backup.Manifest{ID: id, Started: rpAt(from), Completed: rpAt(from + 1), Compression: comp,
		Source: backup.SourceInfo{Kind: "live", URL: url}, Continuous: true,
		Replication: &backup.ReplPosition{ReplID: "r1", Offset: baseOffset, Time: rpAt(from)}}
	if len(c.Recipients) > 0 {
		m.Encryption = &backup.Encryption{Kind: "age"}
	}
	if _, err := b.Put(ctx, backup.Key(id, "dump.rdb"+c.Suffix()), strings.NewReader("not really an RDB")); err != nil {
		t.Fatal(err)
	}
	off := baseOffset
	for _, s := range segs {
		sb, err := backup.NewSegmentBuilder(backup.SegmentHeader{ReplID: "r1", StartOffset: off, Start: rpAt(s.start), DB: s.db}, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.recs {
			if err := sb.Append(r.cmd, rpAt(r.at), 0); err != nil {
				t.Fatal(err)
			}
			off += int64(len(r.cmd))
			if r.label != "" {
				if _, dup := g.cmd[r.label]; dup {
					t.Fatalf("label %s twice", r.label)
				}
				g.cmd[r.label], g.offset[r.label], g.at[r.label] = r.cmd, off, r.at
			}
		}
		si, data, err := sb.Finish(id, rpAt(s.closed), s.endDB)
		if err != nil {
			t.Fatal(err)
		}
		if err := backup.StoreSegment(ctx, b, si, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := backup.WriteManifest(ctx, b, m); err != nil {
		t.Fatal(err)
	}
	g.base = m
	var err error
	if g.segs, err = backup.ListSegments(ctx, b, id); err != nil || len(g.segs) != len(segs) {
		t.Fatalf("ListSegments: %d segments, %v", len(g.segs), err)
	}
	return g
}

// want is the replay of the items: labels, and "sel N" for the SELECT
// given at a segment's start.
func (g *rpGen) want(t *testing.T, items []string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, it := range items {
		if db, ok := strings.CutPrefix(it, "sel "); ok {
			n, _ := strconv.Atoi(db)
			b.Write(rpSelect(n))
			continue
		}
		c, ok := g.cmd[it]
		if !ok {
			t.Fatalf("no command %q", it)
		}
		b.Write(c)
	}
	return b.Bytes()
}

// rpName is a RESP command's name, upper case.
func rpName(cmd []byte) string {
	parts := strings.Split(string(cmd), "\r\n")
	if len(parts) < 3 {
		return ""
	}
	return strings.ToUpper(parts[2])
}

// counters are the Commands, LastOffset and LastReceived a replay of the
// items ends with: each command given counts one, a transaction's
// MULTI, commands and EXEC each (it is given whole or not at all), and
// the last offset is that of a command outside a transaction or an EXEC.
func (g *rpGen) counters(items []string) (n, last int64, at time.Time) {
	last = g.segs[0].StartOffset
	inTxn := false
	for _, it := range items {
		if strings.HasPrefix(it, "sel ") {
			continue
		}
		n++
		switch name := rpName(g.cmd[it]); {
		case name == "MULTI":
			inTxn = true
			continue
		case inTxn && name != "EXEC":
			continue
		}
		inTxn = false
		last, at = g.offset[it], rpAt(g.at[it])
	}
	return n, last, at
}

func rpItems(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return out
}

// The replays of the fixture.
const (
	rpUpToE1 = "sel 0, a1, a2, m1, x, y, e1"
	rpUpToC  = rpUpToE1 + ", s3, c"
	rpUpToE2 = rpUpToC + ", m2, t1, t2, e2" // no SELECT at B's start: its transaction goes on
	rpUpToE3 = rpUpToE2 + ", d, m3, dd, e3"
	rpAll    = rpUpToE3 + ", sel 3, e" // the transaction C ends in is left out
)

func rpCheck(t *testing.T, g *rpGen, rp *backup.Replay, got []byte, items string) {
	t.Helper()
	want := g.want(t, rpItems(items))
	if !bytes.Equal(got, want) {
		t.Errorf("replayed\n%q\nwant\n%q", got, want)
	}
	n, last, at := g.counters(rpItems(items))
	if rp.Commands != n || rp.LastOffset != last || !rp.LastReceived.Equal(at) {
		t.Errorf("Commands %d, LastOffset %d, LastReceived %v; want %d, %d, %v", rp.Commands, rp.LastOffset, rp.LastReceived, n, last, at)
	}
}

// TestReplay: a generation's segments replayed up to cutoffs, read a
// byte at a time: a SELECT at each segment's start (but inside a
// transaction), no PING or REPLCONF, transactions whole or left out
// (cut by the time or offset cutoff, or by the last segment given), a
// cutoff at a millisecond including the commands received then.
func TestReplay(t *testing.T) {
	b, dir := newFile(t)
	g := rpStore(t, b, dir, storage.Codec{Compression: "none"}, "redis://src", 0, 1000, rpFixture())
	at := func(ms int) backup.Cutoff { return backup.Cutoff{At: rpAt(ms)} }
	off := func(label string, d int64) backup.Cutoff { return backup.Cutoff{Offset: g.offset[label] + d} }
	for _, tc := range []struct {
		name  string
		segs  int // how many of the segments are given; -1: none
		cut   backup.Cutoff
		items string
	}{
		{"latest", 3, backup.Cutoff{}, rpAll},
		{"no segments", -1, backup.Cutoff{}, ""},
		{"segment A only: the transaction it ends in is left out", 1, backup.Cutoff{}, rpUpToC},
		{"segments A and B: the transaction across them whole", 2, backup.Cutoff{}, rpUpToE3},
		{"before the first command", 3, at(9), "sel 0"},
		{"at the first command's millisecond, with a PING", 3, at(10), "sel 0, a1"},
		{"at the REPLCONF", 3, at(25), "sel 0, a1, a2"},
		{"at MULTI: the transaction cut", 3, at(30), "sel 0, a1, a2"},
		{"at the transaction's last INCR: cut", 3, at(31), "sel 0, a1, a2"},
		{"at its EXEC: whole", 3, at(32), rpUpToE1},
		{"a millisecond before two commands", 3, at(39), rpUpToE1},
		{"at the millisecond of two commands: both", 3, at(40), rpUpToC},
		{"within a millisecond of two commands: both", 3, backup.Cutoff{At: rpAt(40).Add(999 * time.Microsecond)}, rpUpToC},
		{"the transaction across segments cut in A", 3, at(50), rpUpToC},
		{"the transaction across segments cut in B", 3, at(60), rpUpToC},
		{"the transaction across segments: at its EXEC", 3, at(61), rpUpToE2},
		{"after B's PING", 3, at(70), rpUpToE2},
		{"at C's first command", 3, at(100), rpAll},
		{"after everything", 3, at(10000), rpAll},
		{"offset: the base's", 3, backup.Cutoff{Offset: 1000}, "sel 0"},
		{"offset: after the first command", 3, off("a1", 0), "sel 0, a1"},
		{"offset: within the second command", 3, off("a2", -1), "sel 0, a1"},
		{"offset: after an EXEC", 3, off("e1", 0), rpUpToE1},
		{"offset: a byte before the end of an EXEC", 3, off("e1", -1), "sel 0, a1, a2"},
		{"offset: A's end, inside a transaction", 3, off("t1", 0), rpUpToC},
		{"offset: B's first command, inside it", 3, off("t2", 0), rpUpToC},
		{"offset: after the EXEC in B", 3, off("e2", 0), rpUpToE2},
		// C is opened, and its SELECT given, before its first command is
		// found past the cutoff: a SELECT alone changes no data.
		{"offset: after B", 3, off("e3", 0), rpUpToE3 + ", sel 3"},
		{"at C's start", 3, at(95), rpUpToE3 + ", sel 3"},
		{"offset: after C's first command", 3, off("e", 0), rpAll},
		{"offset: after C's MULTI", 3, off("m4", 0), rpAll},
		{"offset: far beyond", 3, backup.Cutoff{Offset: 1 << 40}, rpAll},
		{"both: the time first", 3, backup.Cutoff{At: rpAt(20), Offset: g.offset["e3"]}, "sel 0, a1, a2"},
		{"both: the offset first", 3, backup.Cutoff{At: rpAt(100), Offset: g.offset["a2"]}, "sel 0, a1, a2"},
		{"segment A only, cut at 40ms", 1, at(40), rpUpToC},
		{"segment A only, cut at 31ms", 1, at(31), "sel 0, a1, a2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var segs []backup.SegmentInfo
			if tc.segs > 0 {
				segs = g.segs[:tc.segs]
			}
			rp := backup.NewReplay(context.Background(), b, segs, "none", storage.Codec{}, tc.cut)
			defer rp.Close()
			got, err := io.ReadAll(iotest.OneByteReader(rp))
			if err != nil || rp.Err() != nil {
				t.Fatalf("ReadAll: %v, Err %v", err, rp.Err())
			}
			if segs == nil {
				if len(got) != 0 || rp.Commands != 0 || rp.LastOffset != 0 || !rp.LastReceived.IsZero() {
					t.Errorf("no segments: %q, %d commands, offset %d, %v", got, rp.Commands, rp.LastOffset, rp.LastReceived)
				}
				return
			}
			rpCheck(t, g, rp, got, tc.items)
			// The end sticks.
			if n, err := rp.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("Read after the end: %d, %v", n, err)
			}
			if err := rp.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestReplayCountsTransactionCommands: Commands, documented as the
// commands given (PINGs and REPLCONFs left out), counts each of a
// transaction's commands, as aof's CheckReport does its queued ones.
func TestReplayCountsTransactionCommands(t *testing.T) {
	b, dir := newFile(t)
	g := rpStore(t, b, dir, storage.Codec{Compression: "none"}, "redis://src", 0, 1000, rpFixture())
	rp := backup.NewReplay(context.Background(), b, g.segs, "none", storage.Codec{}, backup.Cutoff{At: rpAt(32)})
	defer rp.Close()
	if _, err := io.ReadAll(rp); err != nil {
		t.Fatal(err)
	}
	// SET a, SET b, MULTI, INCR x, INCR y, EXEC.
	if rp.Commands != 6 {
		t.Errorf("Commands %d, want 6", rp.Commands)
	}
}

// TestReplayCodecs: the same replay whatever the segments' compression
// and encryption.
func TestReplayCodecs(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    storage.Codec
	}{
		{"none", storage.Codec{Compression: "none"}},
		{"zstd", storage.Codec{Compression: "zstd"}},
		{"default", storage.Codec{}},
		{"gzip", storage.Codec{Compression: "gzip", Level: 1}},
		{"zstd+age", storage.Codec{Compression: "zstd", Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}}},
		{"none+age", storage.Codec{Compression: "none", Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, dir := newFile(t)
			g := rpStore(t, b, dir, tc.c, "redis://src", 0, 77, rpFixture())
			if sfx := tc.c.Suffix(); !strings.HasSuffix(g.segs[0].Object, ".seg"+sfx) {
				t.Errorf("object %s, want suffix .seg%s", g.segs[0].Object, sfx)
			}
			for _, cut := range []struct {
				cut   backup.Cutoff
				items string
			}{{backup.Cutoff{}, rpAll}, {backup.Cutoff{At: rpAt(40)}, rpUpToC}, {backup.Cutoff{At: rpAt(61)}, rpUpToE2}} {
				rp := backup.NewReplay(context.Background(), b, g.segs, g.base.Compression, storage.Codec{Identities: tc.c.Identities}, cut.cut)
				got, err := io.ReadAll(rp)
				rp.Close()
				if err != nil || rp.Err() != nil {
					t.Fatalf("%s: %v, Err %v", cut.cut, err, rp.Err())
				}
				rpCheck(t, g, rp, got, cut.items)
			}
			if len(tc.c.Recipients) > 0 {
				// Without the identity: an error, nothing given.
				rp := backup.NewReplay(context.Background(), b, g.segs, g.base.Compression, storage.Codec{}, backup.Cutoff{})
				got, _ := io.ReadAll(rp)
				if len(got) != 0 || rp.Err() == nil || !strings.Contains(rp.Err().Error(), g.segs[0].Key()) {
					t.Errorf("no identity: %q, %v", got, rp.Err())
				}
			}
		})
	}
}

// TestReplayManyRecords: more records than one fill takes (256), and a
// transaction across that boundary.
func TestReplayManyRecords(t *testing.T) {
	b, dir := newFile(t)
	var recs []rpRec
	var items []string
	for i := range 1000 {
		l := "k" + strconv.Itoa(i)
		cmd := rpResp("SET", l, "v")
		switch i {
		case 254:
			cmd = rpResp("MULTI")
		case 258:
			cmd = rpResp("EXEC")
		}
		recs = append(recs, rpRec{l, cmd, i})
		if i%100 == 0 {
			recs = append(recs, rpRec{"", rpPing, i})
		}
		items = append(items, l)
	}
	g := rpStore(t, b, dir, storage.Codec{}, "redis://src", 0, 0, []rpSeg{{db: 9, closed: 1000, recs: recs}})
	rp := backup.NewReplay(context.Background(), b, g.segs, "zstd", storage.Codec{}, backup.Cutoff{})
	got, err := io.ReadAll(rp)
	if err != nil || rp.Err() != nil {
		t.Fatal(err, rp.Err())
	}
	rpCheck(t, g, rp, got, "sel 9, "+strings.Join(items, ", "))
	if rp.Commands != 1000 {
		t.Errorf("Commands %d", rp.Commands)
	}
}

// rpFlip flips a bit of the stored segment seg, at the middle of the
// labelled command (or of the object, label "").
func rpFlip(t *testing.T, g *rpGen, seg int, label string) {
	t.Helper()
	p := filepath.Join(g.dir, filepath.FromSlash(g.segs[seg].Key()))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := len(data) / 2
	if label != "" {
		i = bytes.Index(data, g.cmd[label])
		if i < 0 || bytes.Count(data, g.cmd[label]) != 1 {
			t.Fatalf("command %s not once in segment %d", label, seg)
		}
		i += len(g.cmd[label]) / 2
	}
	data[i] ^= 0x04
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReplayDamaged: a damaged or missing segment ends the replay after
// the last good command (a transaction it cuts left out): Read gives
// io.EOF, and Err says which segment, why, and where the replay stopped.
func TestReplayDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, g *rpGen)
		seg    int     // the segment Err names
		items  string  // what is replayed
		is     []error // Err is one of them
		says   string
	}{
		{"a command of A", func(t *testing.T, g *rpGen) { rpFlip(t, g, 0, "a2") }, 0, "sel 0, a1",
			[]error{backup.ErrSegmentCorrupt}, "checksum mismatch"},
		{"the first command", func(t *testing.T, g *rpGen) { rpFlip(t, g, 0, "a1") }, 0, "sel 0",
			[]error{backup.ErrSegmentCorrupt}, "none of it"},
		{"inside a transaction", func(t *testing.T, g *rpGen) { rpFlip(t, g, 0, "y") }, 0, "sel 0, a1, a2",
			[]error{backup.ErrSegmentCorrupt}, "checksum mismatch"},
		{"the second half of a transaction across segments", func(t *testing.T, g *rpGen) { rpFlip(t, g, 1, "t2") }, 1, rpUpToC,
			[]error{backup.ErrSegmentCorrupt}, "checksum mismatch"},
		{"after the transaction across segments", func(t *testing.T, g *rpGen) { rpFlip(t, g, 1, "d") }, 1, rpUpToE2,
			[]error{backup.ErrSegmentCorrupt}, "checksum mismatch"},
		{"a segment's header", func(t *testing.T, g *rpGen) {
			p := filepath.Join(g.dir, filepath.FromSlash(g.segs[2].Key()))
			data, _ := os.ReadFile(p)
			data[0] ^= 0x01 // the magic
			os.WriteFile(p, data, 0o644)
		}, 2, rpUpToE3, []error{storage.ErrChecksum, backup.ErrSegmentCorrupt}, ""},
		{"a segment cut short", func(t *testing.T, g *rpGen) {
			p := filepath.Join(g.dir, filepath.FromSlash(g.segs[1].Key()))
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-2], 0o644)
		}, 1, rpUpToE2 + ", d", []error{storage.ErrChecksum}, "checksum mismatch"},
		{"good records, a bad checksum", func(t *testing.T, g *rpGen) {
			// The header's replid changed: it still reads, its records
			// are all good, and the SHA-256 tells at the segment's end.
			p := filepath.Join(g.dir, filepath.FromSlash(g.segs[1].Key()))
			data, _ := os.ReadFile(p)
			i := bytes.Index(data, []byte(`"replid":"r1"`))
			data[i+len(`"replid":"`)] = 'q'
			os.WriteFile(p, data, 0o644)
		}, 1, rpUpToE3, []error{storage.ErrChecksum, backup.ErrSegmentCorrupt}, ""},
		{"a missing segment", func(t *testing.T, g *rpGen) {
			if err := os.Remove(filepath.Join(g.dir, filepath.FromSlash(g.segs[1].Key()))); err != nil {
				t.Fatal(err)
			}
		}, 1, rpUpToC, []error{fs.ErrNotExist}, ""},
		{"a missing first segment", func(t *testing.T, g *rpGen) {
			if err := os.Remove(filepath.Join(g.dir, filepath.FromSlash(g.segs[0].Key()))); err != nil {
				t.Fatal(err)
			}
		}, 0, "", []error{fs.ErrNotExist}, "none of it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, dir := newFile(t)
			g := rpStore(t, b, dir, storage.Codec{Compression: "none"}, "redis://src", 0, 1000, rpFixture())
			tc.damage(t, g)
			rp := backup.NewReplay(context.Background(), b, g.segs, "none", storage.Codec{}, backup.Cutoff{})
			defer rp.Close()
			got, err := io.ReadAll(rp) // io.EOF: no error
			if err != nil {
				t.Fatalf("ReadAll: %v", err)
			}
			if tc.items == "" {
				if len(got) != 0 || rp.Commands != 0 {
					t.Errorf("replayed %q, %d commands", got, rp.Commands)
				}
			} else {
				rpCheck(t, g, rp, got, tc.items)
			}
			rerr := rp.Err()
			if rerr == nil {
				t.Fatal("no Err")
			}
			if !slices.ContainsFunc(tc.is, func(target error) bool { return errors.Is(rerr, target) }) {
				t.Errorf("Err %v: none of %v", rerr, tc.is)
			}
			msg := rerr.Error()
			if !strings.Contains(msg, g.segs[tc.seg].Key()) || !strings.Contains(msg, "last good command") || !strings.Contains(msg, tc.says) {
				t.Errorf("Err %q: want the key %s, the last good command, %q", msg, g.segs[tc.seg].Key(), tc.says)
			}
			if rp.Commands > 0 && !strings.Contains(msg, fmt.Sprintf("offset %d, received %s", rp.LastOffset, rp.LastReceived.UTC().Format(time.RFC3339Nano))) {
				t.Errorf("Err %q does not say the last good command, offset %d", msg, rp.LastOffset)
			}
			if n, err := rp.Read(make([]byte, 10)); n != 0 || err != io.EOF || rp.Err() != rerr {
				t.Errorf("Read after the end: %d, %v, Err %v", n, err, rp.Err())
			}
		})
	}
}

// rpFailing is a backend whose download of one key fails after some
// bytes.
type rpFailing struct {
	storage.Backend
	key   string
	after int64
	err   error
}

func (f *rpFailing) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := f.Backend.Get(ctx, key, offset, length)
	if err != nil || key != f.key {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, f.after), iotest.ErrReader(f.err)), rc}, nil
}

// TestReplayErrorsExplained: Err says what went wrong with segment B:
// its SHA-256 for damaged bytes the records' CRCs do not explain, the
// download's error for a failed download. The replay is what TestReplayDamaged
// checks: every good command before.
func TestReplayErrorsExplained(t *testing.T) {
	errCut := errors.New("connection reset by peer")
	id, _ := age.GenerateX25519Identity()
	ageCodec := storage.Codec{Compression: "zstd", Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}}
	for _, tc := range []struct {
		name   string
		c      storage.Codec
		damage func(t *testing.T, g *rpGen) storage.Backend
		items  string
		is     error
		bug    string
	}{
		{"a damaged header: its checksum", storage.Codec{Compression: "none"}, func(t *testing.T, g *rpGen) storage.Backend {
			p := filepath.Join(g.dir, filepath.FromSlash(g.segs[1].Key()))
			data, _ := os.ReadFile(p)
			data[0] ^= 0x01
			os.WriteFile(p, data, 0o644)
			return g.b
		}, rpUpToC, storage.ErrChecksum,
			"OpenSegment closes the object (obj.Close) before obj.Verify, so Verify reads a closed body and fails with 'file already closed' instead of ErrChecksum: a segment whose magic byte is flipped gives 'corrupt segment: no segment header', never the checksum mismatch the code means to report"},
		{"good records, a bad SHA-256", storage.Codec{Compression: "none"}, func(t *testing.T, g *rpGen) storage.Backend {
			p := filepath.Join(g.dir, filepath.FromSlash(g.segs[1].Key()))
			data, _ := os.ReadFile(p)
			i := bytes.Index(data, []byte(`"replid":"r1"`))
			data[i+len(`"replid":"`)] = 'q'
			os.WriteFile(p, data, 0o644)
			return g.b
		}, rpUpToE3, storage.ErrChecksum,
			"ObjectReader.Read returns the checksum error instead of io.EOF at the end, and SegmentReader.Next turns any non-EOF read error into ErrSegmentCorrupt 'record cut short' without wrapping it, so Replay's r.cur.Verify() branch is never reached for a bad SHA-256: Err says 'record cut short' and does not wrap ErrChecksum"},
		{"a download failing mid-segment", storage.Codec{Compression: "none"}, func(t *testing.T, g *rpGen) storage.Backend {
			return &rpFailing{Backend: g.b, key: g.segs[1].Key(), after: g.segs[1].StoredBytes - 20, err: errCut}
		}, rpUpToE2 + ", d", errCut,
			"SegmentReader.Next drops the read error (fail(\"record cut short\") formats only a reason string), so a download that fails mid-segment is reported as ErrSegmentCorrupt 'record cut short', and errors.Is(Err(), the download's error) is false: a transient network error reads as a corrupt segment"},
		{"an encrypted segment's damaged age header", ageCodec, func(t *testing.T, g *rpGen) storage.Backend {
			p := filepath.Join(g.dir, filepath.FromSlash(g.segs[1].Key()))
			data, _ := os.ReadFile(p)
			data[40] ^= 0x04 // in the X25519 stanza
			os.WriteFile(p, data, 0o644)
			return g.b
		}, rpUpToC, storage.ErrChecksum,
			"OpenSegment returns openObjectBody's error unexplained: a segment whose age header is damaged gives 'backup <gen>: none of the identities given decrypts it (it is encrypted to ): ...' (or 'decrypt ...: bad header MAC'), wrapping neither ErrChecksum nor ErrSegmentCorrupt, though the right identity is given and the stored bytes fail their SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, dir := newFile(t)
			g := rpStore(t, b, dir, tc.c, "redis://src", 0, 1000, rpFixture())
			rb := tc.damage(t, g)
			rp := backup.NewReplay(context.Background(), rb, g.segs, g.base.Compression, storage.Codec{Identities: tc.c.Identities}, backup.Cutoff{})
			defer rp.Close()
			got, err := io.ReadAll(rp)
			if err != nil {
				t.Fatal(err)
			}
			rpCheck(t, g, rp, got, tc.items)
			if rerr := rp.Err(); !errors.Is(rerr, tc.is) || !strings.Contains(rerr.Error(), g.segs[1].Key()) {
				t.Errorf("Err %v: want %v, naming %s", rerr, tc.is, g.segs[1].Key())
			}
		})
	}
}

// TestReplayHeaderOffset: a segment whose header does not start where
// its name says is corrupt.
func TestReplayHeaderOffset(t *testing.T) {
	b, dir := newFile(t)
	g := rpStore(t, b, dir, storage.Codec{Compression: "none"}, "redis://src", 0, 1000, rpFixture())
	segs := slices.Clone(g.segs)
	segs[1].StartOffset++
	rp := backup.NewReplay(context.Background(), b, segs, "none", storage.Codec{}, backup.Cutoff{})
	got, err := io.ReadAll(rp)
	if err != nil {
		t.Fatal(err)
	}
	rpCheck(t, g, rp, got, rpUpToC)
	if err := rp.Err(); !errors.Is(err, backup.ErrSegmentCorrupt) || !strings.Contains(err.Error(), "header starts at offset") || !strings.Contains(err.Error(), segs[1].Key()) {
		t.Errorf("Err %v", err)
	}
}

// TestReplayDamagedCodecs: a flipped byte in a compressed or encrypted
// segment: what is replayed is a prefix of the undamaged replay, holding
// every command of the segments before, and Err tells.
func TestReplayDamagedCodecs(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name string
		c    storage.Codec
	}{
		{"zstd", storage.Codec{Compression: "zstd"}},
		{"gzip", storage.Codec{Compression: "gzip"}},
		{"zstd+age", storage.Codec{Compression: "zstd", Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}}},
	} {
		for _, seg := range []int{0, 1, 2} {
			t.Run(fmt.Sprintf("%s/segment %d", tc.name, seg), func(t *testing.T) {
				b, dir := newFile(t)
				g := rpStore(t, b, dir, tc.c, "redis://src", 0, 1000, rpFixture())
				codec := storage.Codec{Identities: tc.c.Identities}
				full := g.want(t, rpItems(rpAll))
				rpFlip(t, g, seg, "")
				rp := backup.NewReplay(context.Background(), b, g.segs, g.base.Compression, codec, backup.Cutoff{})
				got, err := io.ReadAll(rp)
				rp.Close()
				if err != nil {
					t.Fatal(err)
				}
				before := g.want(t, rpItems([]string{"", rpUpToC, rpUpToE3}[seg]))
				if !bytes.HasPrefix(full, got) || !bytes.HasPrefix(got, before) {
					t.Errorf("replayed %q\nnot a prefix of %q\nholding %q", got, full, before)
				}
				rerr := rp.Err()
				if !errors.Is(rerr, storage.ErrChecksum) && !errors.Is(rerr, backup.ErrSegmentCorrupt) {
					t.Errorf("Err %v", rerr)
				} else if !strings.Contains(rerr.Error(), g.segs[seg].Key()) || !strings.Contains(rerr.Error(), "last good command") {
					t.Errorf("Err %v: want the key %s and the last good command", rerr, g.segs[seg].Key())
				}
			})
		}
	}
}

// TestReplayCancelled: a cancelled context ends the replay with its
// error.
func TestReplayCancelled(t *testing.T) {
	b, dir := newFile(t)
	g := rpStore(t, b, dir, storage.Codec{Compression: "none"}, "redis://src", 0, 1000, rpFixture())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rp := backup.NewReplay(ctx, b, g.segs, "none", storage.Codec{}, backup.Cutoff{})
	got, err := io.ReadAll(rp)
	if err != nil || len(got) != 0 || !errors.Is(rp.Err(), context.Canceled) {
		t.Errorf("%q, %v, Err %v", got, err, rp.Err())
	}
}

// rpSI is a segment's description, for PlanRestore: its name is its label.
func rpSI(label string, start, end int64, first, last, closed int, records int64) backup.SegmentInfo {
	return backup.SegmentInfo{Generation: "g", Object: label, StartOffset: start, EndOffset: end,
		First: rpAt(first), Last: rpAt(last), Closed: rpAt(closed), Records: records}
}

func rpGeneration(id string, from int, offset int64, segs ...backup.SegmentInfo) *backup.Generation {
	return &backup.Generation{Base: &backup.Manifest{ID: id, Started: rpAt(from), Continuous: true,
		Replication: &backup.ReplPosition{ReplID: id, Offset: offset, Time: rpAt(from)}}, Segments: segs}
}

// TestPlanRestore: the generation and segments a cutoff needs, or why
// none.
func TestPlanRestore(t *testing.T) {
	// g1 restores from 0 to 70ms, offsets 100 to 300; g2 from 100 to 160ms,
	// offsets 1000 to 1200.
	g1 := rpGeneration("g1", 0, 100,
		rpSI("s1", 100, 200, 10, 20, 30, 5),
		rpSI("s2", 200, 200, 30, 30, 40, 0), // an idle source's
		rpSI("s3", 200, 300, 50, 60, 70, 5))
	g2 := rpGeneration("g2", 100, 1000,
		rpSI("s4", 1000, 1100, 110, 120, 130, 3),
		rpSI("s5", 1100, 1200, 140, 150, 160, 3))
	// g3 holds offsets g2 holds too (another replication id).
	g3 := rpGeneration("g3", 200, 1050, rpSI("s6", 1050, 1150, 210, 220, 230, 1))
	// g0 has no segment yet.
	g0 := rpGeneration("g0", 0, 100)
	two := []*backup.Generation{g1, g2}
	at := func(ms int) backup.Cutoff { return backup.Cutoff{At: rpAt(ms)} }
	for _, tc := range []struct {
		name string
		gens []*backup.Generation
		cut  backup.Cutoff
		gen  string
		segs string
		err  []string // what a refusal says
	}{
		{"no generation", nil, backup.Cutoff{}, "", "", []string{"no continuous backup"}},
		{"no generation, at", nil, at(10), "", "", []string{"no continuous backup"}},
		{"before the oldest", two, at(-1), "", "", []string{"before the oldest", "g1", rpAt(0).Format(time.RFC3339Nano)}},
		{"after the newest", two, at(161), "", "", []string{"after the recovery point", rpAt(160).Format(time.RFC3339Nano), "nothing received later is stored yet", "g2"}},
		{"between", two, at(80), "", "", []string{"falls between", "g1", "g2", rpAt(70).Format(time.RFC3339Nano), rpAt(100).Format(time.RFC3339Nano)}},
		{"just after the older's end", two, backup.Cutoff{At: rpAt(70).Add(time.Microsecond)}, "", "", []string{"falls between"}},
		{"at the oldest's base", two, at(0), "g1", "", nil},
		{"inside g1, before its first command", two, at(9), "g1", "", nil},
		{"at g1's first command: the empty segment after it kept", two, at(10), "g1", "s1 s2", nil},
		{"inside g1: an empty segment kept", two, at(35), "g1", "s1 s2", nil},
		{"a millisecond before s3's first", two, at(49), "g1", "s1 s2", nil},
		{"at s3's first", two, at(50), "g1", "s1 s2 s3", nil},
		{"at g1's end", two, at(70), "g1", "s1 s2 s3", nil},
		{"at g2's base", two, at(100), "g2", "", nil},
		{"inside g2", two, at(145), "g2", "s4 s5", nil},
		{"at g2's end", two, at(160), "g2", "s4 s5", nil},
		{"a generation without segments, at its base", []*backup.Generation{g0}, at(0), "g0", "", nil},
		{"a generation without segments, after", []*backup.Generation{g0}, at(1), "", "", []string{"after the recovery point"}},
		{"offset: g1's base", two, backup.Cutoff{Offset: 100}, "g1", "", nil},
		{"offset: inside s1", two, backup.Cutoff{Offset: 150}, "g1", "s1", nil},
		{"offset: s1's end (s2, s3 start there)", two, backup.Cutoff{Offset: 200}, "g1", "s1", nil},
		{"offset: inside s3", two, backup.Cutoff{Offset: 250}, "g1", "s1 s2 s3", nil},
		{"offset: g1's end", two, backup.Cutoff{Offset: 300}, "g1", "s1 s2 s3", nil},
		{"offset: g2's base", two, backup.Cutoff{Offset: 1000}, "g2", "", nil},
		{"offset: inside s5", two, backup.Cutoff{Offset: 1150}, "g2", "s4 s5", nil},
		{"offset: g2's end", two, backup.Cutoff{Offset: 1200}, "g2", "s4 s5", nil},
		{"offset: held by g2 and g3, the newest", []*backup.Generation{g1, g2, g3}, backup.Cutoff{Offset: 1100}, "g3", "s6", nil},
		{"offset: only g2 holds it", []*backup.Generation{g1, g2, g3}, backup.Cutoff{Offset: 1175}, "g2", "s4 s5", nil},
		{"offset: before every base", two, backup.Cutoff{Offset: 50}, "", "", []string{"no generation holds offset 50"}},
		{"offset: between", two, backup.Cutoff{Offset: 500}, "", "", []string{"no generation holds offset 500"}},
		{"offset: after", two, backup.Cutoff{Offset: 1201}, "", "", []string{"no generation holds offset 1201"}},
		{"latest", two, backup.Cutoff{}, "g2", "s4 s5", nil},
		{"latest of three", []*backup.Generation{g1, g2, g3}, backup.Cutoff{}, "g3", "s6", nil},
		{"latest, one generation", []*backup.Generation{g1}, backup.Cutoff{}, "g1", "s1 s2 s3", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, segs, err := backup.PlanRestore(tc.gens, tc.cut)
			if tc.err != nil {
				if !errors.Is(err, backup.ErrNotRestorable) || g != nil || segs != nil {
					t.Fatalf("got %v, %v, %v; want ErrNotRestorable", g, segs, err)
				}
				for _, s := range tc.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range segs {
				names = append(names, s.Object)
			}
			if g.ID() != tc.gen || strings.Join(names, " ") != tc.segs {
				t.Errorf("generation %s, segments %v; want %s, %s", g.ID(), names, tc.gen, tc.segs)
			}
		})
	}
}

// TestRestorePlanned: generations listed from storage, a plan, and its
// replay.
func TestRestorePlanned(t *testing.T) {
	ctx := context.Background()
	b, dir := newFile(t)
	g1 := rpStore(t, b, dir, storage.Codec{}, "redis://src", 0, 1000, rpFixture())
	g2 := rpStore(t, b, dir, storage.Codec{}, "redis://src", 200, 5000, []rpSeg{{db: 1, start: 200, closed: 260, recs: []rpRec{
		{"z1", rpResp("SET", "z", "1"), 210}, {"z2", rpResp("SET", "z", "2"), 250}}}})
	l, err := backup.List(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	gens, err := backup.ListGenerations(ctx, b, l)
	if err != nil || len(gens) != 2 || gens[0].ID() != g1.base.ID || gens[1].ID() != g2.base.ID {
		t.Fatalf("ListGenerations: %d, %v", len(gens), err)
	}
	if g := gens[0]; !g.From().Equal(rpAt(0)) || !g.Until().Equal(rpAt(120)) || g.EndOffset() != g1.segs[2].EndOffset || g.Commands() != 22 || g.Gap != nil {
		t.Errorf("g1: from %v until %v, end offset %d, %d commands, gap %v", g.From(), g.Until(), g.EndOffset(), g.Commands(), g.Gap)
	}
	for _, tc := range []struct {
		cut   backup.Cutoff
		gen   *rpGen
		segs  int
		items string
		err   string
	}{
		{backup.Cutoff{At: rpAt(61)}, g1, 2, rpUpToE2, ""},
		{backup.Cutoff{At: rpAt(40)}, g1, 1, rpUpToC, ""},
		{backup.Cutoff{At: rpAt(100)}, g1, 3, rpAll, ""},
		{backup.Cutoff{Offset: g1.offset["e1"]}, g1, 1, rpUpToE1, ""},
		{backup.Cutoff{At: rpAt(150)}, nil, 0, "", "falls between"},
		{backup.Cutoff{At: rpAt(250)}, g2, 1, "sel 1, z1, z2", ""},
		{backup.Cutoff{At: rpAt(249)}, g2, 1, "sel 1, z1", ""},
		{backup.Cutoff{}, g2, 1, "sel 1, z1, z2", ""},
	} {
		t.Run(tc.cut.String(), func(t *testing.T) {
			g, segs, err := backup.PlanRestore(gens, tc.cut)
			if tc.err != "" {
				if !errors.Is(err, backup.ErrNotRestorable) || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || g.ID() != tc.gen.base.ID || len(segs) != tc.segs {
				t.Fatalf("%v, %d segments, %v", g, len(segs), err)
			}
			rp := backup.NewReplay(ctx, b, segs, g.Base.Compression, storage.Codec{}, tc.cut)
			defer rp.Close()
			got, err := io.ReadAll(rp)
			if err != nil || rp.Err() != nil {
				t.Fatal(err, rp.Err())
			}
			rpCheck(t, tc.gen, rp, got, tc.items)
		})
	}
}

// TestPolicyContinuous: each source's newest generation is kept; Within
// keeps a generation by the end of its range; plain backups are decided
// by their start.
func TestPolicyContinuous(t *testing.T) {
	day := func(d float64) time.Time { return rpT0.Add(time.Duration(d * float64(24*time.Hour))) }
	labels := map[string]string{}
	mk := func(label string, d float64, continuous bool, url string) *backup.Manifest {
		m := &backup.Manifest{ID: backup.NewID(day(d)), Started: day(d), Continuous: continuous, Source: backup.SourceInfo{URL: url}}
		labels[m.ID] = label
		return m
	}
	a1 := mk("A1", 1, true, "redis://a")
	a2 := mk("A2", 5, true, "redis://a")
	b1 := mk("B1", 3, true, "redis://b")
	n1 := mk("N1", 6, false, "redis://a")
	n2 := mk("N2", 2, false, "redis://a")
	n3 := mk("N3", 6.5, false, "redis://b")
	all := []*backup.Manifest{a1, n1, b1, n3, a2, n2} // any order
	for _, tc := range []struct {
		name    string
		p       backup.Policy
		until   map[string]time.Time
		kept    string            // newest first
		reasons map[string]string // a reason each of these has
		not     map[string]string // a reason each of these has not
	}{
		// Each source's newest is kept: N1 is a's, N3 b's.
		{"no rule", backup.Policy{}, nil, "N3 N1 A2 B1",
			map[string]string{"N3": "newest", "N1": "newest", "A2": "newest generation", "B1": "newest generation"},
			map[string]string{"N1": "newest generation", "N3": "newest generation", "A1": "newest generation"}},
		{"no rule, with until", backup.Policy{}, map[string]time.Time{a1.ID: day(4.9), a2.ID: day(6.4), b1.ID: day(6.4)}, "N3 N1 A2 B1", nil, nil},
		{"last 2", backup.Policy{Last: 2}, nil, "N3 N1 A2 B1",
			map[string]string{"N1": "last 2", "A2": "newest generation"}, nil},
		{"within 12h: the newest generation by its end", backup.Policy{Within: 12 * time.Hour},
			map[string]time.Time{a1.ID: day(4.9), a2.ID: day(6.5), b1.ID: day(4)}, "N3 N1 A2 B1",
			map[string]string{"A2": "within 12h0m0s", "N1": "within 12h0m0s"},
			map[string]string{"B1": "within"}},
		{"within 48h: an old base whose range reaches the window", backup.Policy{Within: 48 * time.Hour},
			map[string]time.Time{a1.ID: day(4.9), a2.ID: day(6.5), b1.ID: day(4.6)}, "N3 N1 A2 B1 A1",
			map[string]string{"A1": "within 48h0m0s", "B1": "within 48h0m0s"},
			map[string]string{"A1": "newest generation"}},
		{"within 48h without until: bases by their start", backup.Policy{Within: 48 * time.Hour}, nil, "N3 N1 A2 B1",
			map[string]string{"A2": "within 48h0m0s"}, nil},
		{"within: an old base whose range ends before the window", backup.Policy{Within: 24 * time.Hour},
			map[string]time.Time{a1.ID: day(5.4), a2.ID: day(6.5), b1.ID: day(6.5)}, "N3 N1 A2 B1", nil, nil},
		// The window ends at the source's newest restorable instant: a
		// generation restoring past its newest backup's start moves it.
		{"within 36h, the window ending at a generation's end", backup.Policy{Within: 36 * time.Hour},
			map[string]time.Time{a2.ID: day(8)}, "N3 N1 A2 B1", map[string]string{"N1": "newest", "A2": "within"}, map[string]string{"N1": "within"}},
		{"within 36h, no until", backup.Policy{Within: 36 * time.Hour}, nil, "N3 N1 A2 B1", nil, nil},
		// N3 and N1 were started on one day.
		// Days count per source: a's are N1's and A2's, b's N3's and B1's.
		{"daily 2", backup.Policy{Daily: 2}, nil, "N3 N1 A2 B1", map[string]string{"N3": "daily", "N1": "daily", "A2": "daily", "B1": "daily"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := tc.p.Apply(all, tc.until)
			if len(ds) != len(all) {
				t.Fatalf("%d decisions", len(ds))
			}
			var got []string
			reasons := map[string]string{}
			for i, d := range ds {
				if i > 0 && d.Backup.Started.After(ds[i-1].Backup.Started) {
					t.Errorf("decisions not newest first")
				}
				l := labels[d.Backup.ID]
				reasons[l] = d.String()
				if d.Keep {
					got = append(got, l)
				} else if len(d.Reasons) != 0 {
					t.Errorf("%s dropped with reasons %v", l, d.Reasons)
				}
				if !d.Backup.Continuous && slices.Contains(d.Reasons, "newest generation") {
					t.Errorf("plain backup %s kept as a generation", l)
				}
			}
			if strings.Join(got, " ") != tc.kept {
				t.Errorf("kept %v, want %s (reasons %v)", got, tc.kept, reasons)
			}
			for l, r := range tc.reasons {
				if !strings.Contains(reasons[l], r) {
					t.Errorf("%s: reasons %q, want %q", l, reasons[l], r)
				}
			}
			for l, r := range tc.not {
				if strings.Contains(reasons[l], r) {
					t.Errorf("%s: reasons %q, not %q", l, reasons[l], r)
				}
			}
		})
	}
	// Only plain backups: the rules as before, whatever until holds.
	plain := []*backup.Manifest{n1, n2, n3}
	if ds := (backup.Policy{Within: 12 * time.Hour}).Apply(plain, nil); !ds[0].Keep || !ds[1].Keep || ds[2].Keep {
		t.Errorf("plain: %v", ds)
	}
}

// rpRecorder records the keys deleted.
type rpRecorder struct {
	storage.Backend
	deleted []string
}

func (r *rpRecorder) Delete(ctx context.Context, key string) error {
	r.deleted = append(r.deleted, key)
	return r.Backend.Delete(ctx, key)
}

func rpKeys(t *testing.T, b storage.Backend, prefix string) []string {
	t.Helper()
	objs, err := b.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// TestDeleteGeneration: deleting a continuous base deletes its segments
// (its manifest first, its segments newest first) and nothing of
// another's; segment folders without a base are orphans, those of a
// base, even a damaged or incomplete one, are not.
func TestDeleteGeneration(t *testing.T) {
	ctx := context.Background()
	fb, dir := newFile(t)
	b := &rpRecorder{Backend: fb}
	g := rpStore(t, b, dir, storage.Codec{}, "redis://src", 0, 1000, rpFixture())
	h := rpStore(t, b, dir, storage.Codec{}, "redis://src", 200, 5000, []rpSeg{{db: 0, start: 200, closed: 300, recs: []rpRec{{"h", rpResp("SET", "h", "1"), 250}}}})
	plain := writeBackup(t, b, storage.Codec{}, payload(100))
	seg := func(gen string, off int64) {
		sb, _ := backup.NewSegmentBuilder(backup.SegmentHeader{StartOffset: off, Start: rpT0}, storage.Codec{})
		sb.Append(rpResp("SET", "o", "1"), rpT0, 0)
		si, data, err := sb.Finish(gen, rpT0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := backup.StoreSegment(ctx, b, si, data); err != nil {
			t.Fatal(err)
		}
	}
	// An orphan: segments, no base.
	orphan := backup.NewID(rpAt(-1000))
	seg(orphan, 0)
	seg(orphan, 10)
	// A damaged base, and an incomplete one (being written), with segments.
	damaged := backup.NewID(rpAt(-2000))
	b.Put(ctx, backup.Key(damaged, backup.ManifestName), strings.NewReader("{not json"))
	seg(damaged, 0)
	incomplete := backup.NewID(rpAt(-3000))
	b.Put(ctx, backup.Key(incomplete, "dump.rdb.zst"), strings.NewReader("half"))
	seg(incomplete, 0)

	orphans := func() []string {
		t.Helper()
		l, err := backup.List(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		o, err := backup.OrphanGenerations(ctx, b, l)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(o)
		return o
	}
	if got := orphans(); !slices.Equal(got, []string{orphan}) {
		t.Errorf("orphans %v, want %s", got, orphan)
	}

	// The plain backup: its objects only.
	if err := backup.DeleteBackup(ctx, b, plain); err != nil {
		t.Fatal(err)
	}
	if k := rpKeys(t, b, backup.BackupsDir+plain.ID+"/"); len(k) != 0 {
		t.Errorf("left of the plain backup: %v", k)
	}

	// The continuous base g.
	b.deleted = nil
	segKeys := rpKeys(t, b, backup.ContinuousDir+g.base.ID+"/")
	if len(segKeys) != 3 {
		t.Fatalf("segment keys %v", segKeys)
	}
	if err := backup.DeleteBackup(ctx, b, g.base); err != nil {
		t.Fatal(err)
	}
	if k := rpKeys(t, b, backup.BackupsDir+g.base.ID+"/"); len(k) != 0 {
		t.Errorf("left of the base: %v", k)
	}
	if k := rpKeys(t, b, backup.ContinuousDir+g.base.ID+"/"); len(k) != 0 {
		t.Errorf("left of its segments: %v", k)
	}
	if len(b.deleted) == 0 || b.deleted[0] != backup.Key(g.base.ID, backup.ManifestName) {
		t.Errorf("deleted %v: not the manifest first", b.deleted)
	}
	var segDeleted []string
	for _, k := range b.deleted {
		if strings.HasPrefix(k, backup.ContinuousDir) {
			segDeleted = append(segDeleted, k)
		}
	}
	slices.Reverse(segKeys)
	if !slices.Equal(segDeleted, segKeys) {
		t.Errorf("segments deleted %v, want newest first %v", segDeleted, segKeys)
	}
	// h and its segments are untouched.
	if segs, err := backup.ListSegments(ctx, b, h.base.ID); err != nil || len(segs) != 1 {
		t.Errorf("h's segments: %v, %v", segs, err)
	}
	if _, err := backup.ReadManifest(ctx, b, h.base.ID); err != nil {
		t.Errorf("h's base: %v", err)
	}
	if got := orphans(); !slices.Equal(got, []string{orphan}) {
		t.Errorf("after deleting g: orphans %v, want %s", got, orphan)
	}

	// A deletion of h cut short after its base's objects: an orphan.
	for _, k := range rpKeys(t, b, backup.BackupsDir+h.base.ID+"/") {
		b.Delete(ctx, k)
	}
	want := []string{orphan, h.base.ID}
	slices.Sort(want)
	if got := orphans(); !slices.Equal(got, want) {
		t.Errorf("h's base gone: orphans %v, want %v", got, want)
	}
	for _, o := range want {
		if err := backup.DeleteSegments(ctx, b, o); err != nil {
			t.Fatal(err)
		}
	}
	if got := orphans(); len(got) != 0 {
		t.Errorf("after DeleteSegments: orphans %v", got)
	}
	// The damaged and the incomplete bases keep their segments.
	for _, id := range []string{damaged, incomplete} {
		if k := rpKeys(t, b, backup.ContinuousDir+id+"/"); len(k) != 1 {
			t.Errorf("segments of %s: %v", id, k)
		}
	}
	// Deleting a generation with no segment folder is no error.
	if err := backup.DeleteSegments(ctx, b, backup.NewID(rpT0)); err != nil {
		t.Errorf("DeleteSegments of nothing: %v", err)
	}
}

// TestGenerationGap: a segment deleted from the middle of a generation
// (or its first one) is a gap, never an end: the generation restores up
// to the last instant before it, a cutoff after it is refused naming the
// missing offsets, and a replay to latest stops at it with an error
// naming them and the last good command.
func TestGenerationGap(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		missing int      // the segment deleted
		kept    int      // the segments usable
		until   int      // the last instant restorable, ms
		latest  string   // what latest replays
		ok      []string // cutoffs restorable: "at N" or "offset LABEL"
		refused []string // cutoffs refused
	}{
		{"the middle segment", 1, 1, 55, rpUpToC,
			[]string{"at 40", "at 55", "offset t1"}, []string{"at 56", "at 100", "offset e2", "offset e"}},
		{"the first segment", 0, 0, 0, "",
			[]string{"at 0"}, []string{"at 1", "at 100", "offset a1", "offset e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, dir := newFile(t)
			g := rpStore(t, b, dir, storage.Codec{Compression: "none"}, "redis://src", 0, 1000, rpFixture())
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(g.segs[tc.missing].Key()))); err != nil {
				t.Fatal(err)
			}
			l, err := backup.List(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			gens, err := backup.ListGenerations(ctx, b, l)
			if err != nil || len(gens) != 1 {
				t.Fatalf("ListGenerations: %d, %v", len(gens), err)
			}
			gen := gens[0]
			gap := gen.Gap
			from := int64(1000)
			if tc.missing > 0 {
				from = g.segs[tc.missing-1].EndOffset
			}
			if gap == nil || !errors.Is(gap, backup.ErrGap) || gap.From != from || gap.To != g.segs[tc.missing].EndOffset ||
				gap.After != 2-tc.missing || gap.AfterEnd != g.segs[2].EndOffset || !gap.AfterLast.Equal(rpAt(110)) {
				t.Fatalf("gap %+v", gap)
			}
			if segs, err := backup.GenerationSegments(ctx, b, g.base); len(segs) != tc.kept || !errors.As(err, new(*backup.GapError)) || err.Error() != gap.Error() {
				t.Errorf("GenerationSegments: %d, %v; want %d, %v", len(segs), err, tc.kept, gap)
			}
			if len(gen.Segments) != tc.kept || !gen.Until().Equal(rpAt(tc.until)) || !gap.Until.Equal(rpAt(tc.until)) || gen.EndOffset() != from {
				t.Errorf("%d segments, until %v, end offset %d; want %d, %v, %d", len(gen.Segments), gen.Until(), gen.EndOffset(), tc.kept, rpAt(tc.until), from)
			}
			says := []string{"misses", fmt.Sprintf("offsets %d to %d", gap.From, gap.To), rpAt(tc.until).Format(time.RFC3339Nano),
				fmt.Sprintf("%d segment(s) stored after them", gap.After), fmt.Sprintf("up to offset %d", gap.AfterEnd)}
			for _, s := range says {
				if !strings.Contains(gap.Error(), s) {
					t.Errorf("gap %q does not say %q", gap, s)
				}
			}
			cutoff := func(s string) backup.Cutoff {
				kind, v, _ := strings.Cut(s, " ")
				if kind == "at" {
					ms, _ := strconv.Atoi(v)
					return backup.Cutoff{At: rpAt(ms)}
				}
				return backup.Cutoff{Offset: g.offset[v]}
			}
			for _, s := range tc.refused {
				_, _, err := backup.PlanRestore(gens, cutoff(s))
				if !errors.Is(err, backup.ErrNotRestorable) || !errors.Is(err, backup.ErrGap) || strings.Contains(err.Error(), "nothing received later") {
					t.Errorf("%s: %v, want a refusal naming the gap", s, err)
					continue
				}
				for _, w := range says {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %q does not say %q", s, err, w)
					}
				}
			}
			replay := func(cut backup.Cutoff) (*backup.Replay, []byte) {
				t.Helper()
				pg, segs, err := backup.PlanRestore(gens, cut)
				if err != nil || pg != gen || len(segs) > tc.kept {
					t.Fatalf("%s: %d segments, %v", cut, len(segs), err)
				}
				rp := backup.NewReplay(ctx, b, segs, "none", storage.Codec{}, cut)
				rp.Gap = pg.Gap
				got, err := io.ReadAll(rp)
				rp.Close()
				if err != nil {
					t.Fatal(err)
				}
				return rp, got
			}
			for _, s := range tc.ok {
				if rp, _ := replay(cutoff(s)); rp.Err() != nil {
					t.Errorf("%s: Err %v", s, rp.Err())
				}
			}
			rp, got := replay(backup.Cutoff{})
			if tc.latest == "" {
				if len(got) != 0 || rp.Commands != 0 {
					t.Errorf("latest: %q, %d commands", got, rp.Commands)
				}
			} else {
				rpCheck(t, g, rp, got, tc.latest)
			}
			rerr := rp.Err()
			last := "none of it"
			if rp.Commands > 0 {
				last = fmt.Sprintf("offset %d, received %s", rp.LastOffset, rp.LastReceived.UTC().Format(time.RFC3339Nano))
			}
			if !errors.Is(rerr, backup.ErrGap) || !strings.Contains(rerr.Error(), says[1]) || !strings.Contains(rerr.Error(), "last good command before it ("+last+")") {
				t.Errorf("latest: Err %v; want the gap (%s) and the last good command (%s)", rerr, says[1], last)
			}
		})
	}
}
