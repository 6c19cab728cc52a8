package sync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// countKeys reads an RDB stream to its end (CRC64 checked) and counts keys.
func countKeys(t *testing.T, r io.Reader) int {
	t.Helper()
	rd := rdb.NewReader(r)
	n := 0
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		if rec.Kind == rdb.KindKey {
			n++
		}
	}
}

func dbKeys(t *testing.T, s *redistest.Server) int {
	t.Helper()
	info, err := s.Client().Info(context.Background(), "keyspace").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		if _, rest, ok := strings.Cut(line, ":keys="); ok {
			k, _, _ := strings.Cut(rest, ",")
			var v int
			for _, c := range k {
				v = v*10 + int(c-'0')
			}
			n += v
		}
	}
	return n
}

// TestSnapshot takes a full snapshot over the replication protocol from a
// real master, disk-based ($<length>) and diskless ($EOF:<mark>), and
// reads it through the RDB reader: every key, checksum verified.
func TestSnapshot(t *testing.T) {
	for _, diskless := range []string{"no", "yes"} {
		t.Run("diskless-"+diskless, func(t *testing.T) {
			ctx := context.Background()
			m := redistest.Start(t, redistest.Options{Password: "pw", Config: []string{"repl-diskless-sync " + diskless}})
			if err := redistest.FillMixed(ctx, m.Client(), 1); err != nil {
				t.Fatal(err)
			}
			for _, rdbOnly := range []bool{true, false} {
				l, err := OpenLink(ctx, m.Addr(), ReplicaOptions{Conn: Options{Password: "pw"}, ListeningPort: 9999, RDBOnly: rdbOnly})
				if err != nil {
					t.Fatal(err)
				}
				if !l.Full || len(l.ReplID) != 40 || l.Offset < 0 {
					t.Fatalf("link: %+v", l)
				}
				snap, err := l.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if got, want := countKeys(t, snap), dbKeys(t, m); got != want {
					t.Errorf("rdb-only %v: %d keys in the snapshot, the master has %d", rdbOnly, got, want)
				}
				if n, err := snap.Read(make([]byte, 10)); n != 0 || err != io.EOF {
					t.Errorf("after the snapshot: %d, %v", n, err)
				}
				l.Close()
			}
		})
	}
}

func TestOpenLinkErrors(t *testing.T) {
	ctx := context.Background()
	m := redistest.Start(t, redistest.Options{Password: "pw"})
	_, err := OpenLink(ctx, m.Addr(), ReplicaOptions{Conn: Options{Password: "nope-secret"}})
	if ErrorCode(err) != "WRONGPASS" || strings.Contains(err.Error(), "nope-secret") {
		t.Errorf("wrong password: %v", err)
	}
	if err := m.Client().Do(ctx, "ACL", "SETUSER", "ro", "on", ">ro-pass", "~*", "+@read", "+ping").Err(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenLink(ctx, m.Addr(), ReplicaOptions{Conn: Options{Username: "ro", Password: "ro-pass"}})
	if ErrorCode(err) != "NOPERM" {
		t.Errorf("user without REPLCONF/PSYNC: %v", err)
	}
}

func TestSnapshotReaders(t *testing.T) {
	mark := strings.Repeat("m", 40)
	for _, tc := range []struct {
		name, in string
		want     string
		err      error
	}{
		{"eof", "RDBDATA" + mark, "RDBDATA", nil},
		{"eof-empty", mark, "", nil},
		{"eof-cut", "RDBDATA" + mark[:10], "", io.ErrUnexpectedEOF},
	} {
		// Read with big buffers (straight into them) and byte by byte
		// (through scratch).
		for _, small := range []bool{false, true} {
			var r io.Reader = &eofReader{r: newBufReader(tc.in), mark: []byte(mark)}
			if small {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(r)
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Errorf("%s (small %v): error %v, want %v", tc.name, small, err, tc.err)
			case tc.err == nil && (err != nil || string(got) != tc.want):
				t.Errorf("%s (small %v): %q, %v; want %q", tc.name, small, got, err, tc.want)
			}
		}
	}
	// A long snapshot, read in pieces of every size: nothing allocated per read.
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for _, size := range []int{1, 79, 80, 81, 4096, 1 << 20} {
		r := &eofReader{r: bufio.NewReaderSize(bytes.NewReader(append(bytes.Clone(data), mark...)), 4096), mark: []byte(mark)}
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("pieces of %d: %v", size, err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Errorf("pieces of %d: %d bytes differ from the %d sent", size, len(got), len(data))
		}
	}
	big := append(bytes.Clone(data), mark...)
	buf := make([]byte, 64<<10)
	if a := testing.AllocsPerRun(5, func() {
		r := &eofReader{r: bufio.NewReaderSize(bytes.NewReader(big), 4096), mark: []byte(mark)}
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	}); a > 8 {
		t.Errorf("%v allocations reading 1 MiB", a)
	}
	// The stream may follow the mark in the same read: kept for Next.
	r := &eofReader{r: newBufReader("RDB" + mark + "*1\r\n$4\r\nPING\r\n"), mark: []byte(mark)}
	if got, err := io.ReadAll(r); err != nil || string(got) != "RDB" || string(r.rest) != "*1\r\n$4\r\nPING\r\n" {
		t.Errorf("mark then stream: %q, rest %q, %v", got, r.rest, err)
	}
	lr := &lengthReader{r: strings.NewReader("abc"), left: 5}
	if _, err := io.ReadAll(lr); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("length reader cut short: %v", err)
	}
}

func newBufReader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }

// FuzzEOFReader: a diskless snapshot is whatever comes before the 40-byte
// mark at the end of what the master sent; anything else is truncated.
func FuzzEOFReader(f *testing.F) {
	f.Add([]byte("REDIS0010\xff"), true, uint8(16))
	f.Add([]byte(""), false, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, marked bool, bufSize uint8) {
		mark := []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN") // no border: it cannot overlap itself
		if bytes.Contains(data, mark[:20]) {
			// A mark inside the data ends it early, as in Redis's own
			// replica; real marks are 40 random bytes.
			return
		}
		in := bytes.Clone(data)
		if marked {
			in = append(in, mark...)
		}
		var r io.Reader = &eofReader{r: bufio.NewReaderSize(bytes.NewReader(in), 16+int(bufSize)), mark: mark}
		if bufSize%2 == 1 {
			r = iotest.OneByteReader(r) // through scratch
		}
		got, err := io.ReadAll(r)
		if marked && (err != nil || !bytes.Equal(got, data)) {
			t.Fatalf("marked: %q, %v", got, err)
		}
		if !marked && !bytes.HasSuffix(data, mark) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unmarked: %q, %v", got, err)
		}
	})
}

// TestStream follows a master's command stream after a diskless full
// sync: the writes come in order, SELECT included, and the offset after
// the last one equals the master's master_repl_offset, which the master
// then shows as the replica's acknowledged offset.
func TestStream(t *testing.T) {
	ctx := context.Background()
	m := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-ping-replica-period 1"}})
	l, err := OpenLink(ctx, m.Addr(), ReplicaOptions{ListeningPort: 7777})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	countKeys(t, snap)
	// Ack every 100 ms, as a replica does every second.
	var acked atomic.Int64
	acked.Store(l.Offset)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			l.Ack(acked.Load())
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	c := m.Client()
	for _, cmd := range [][]any{{"SET", "a", "1"}, {"INCR", "n"}, {"RPUSH", "l", "x", "y"}} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	info := func(field string) string {
		s, _ := c.Info(ctx, "replication").Result()
		for _, line := range strings.Split(s, "\r\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				return v
			}
		}
		return ""
	}
	want := info("master_repl_offset")
	var seen []string
	var last int64
	for strconv.FormatInt(last, 10) != want {
		sc, err := l.Next()
		if err != nil {
			t.Fatal(err)
		}
		if s := string(bytes.Join(sc.Args, []byte(" "))); s != "PING" {
			seen = append(seen, s)
		}
		last = sc.Offset
		acked.Store(last)
	}
	got := strings.Join(seen, "|")
	if got != "SELECT 0|SET a 1|INCR n|RPUSH l x y" {
		t.Errorf("stream: %s", got)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if s := info("slave0"); strings.Contains(s, "offset="+want+",") && strings.Contains(s, "port=7777") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the master does not show the ack of offset %s: %s", want, s)
		}
	}
}

// TestLinkStall: a master that goes silent in the middle of the
// snapshot, its connection open, fails the read after the link's
// Timeout with a *StallError naming it (Transient: a new link may
// work); time the reader takes between reads does not count.
func TestLinkStall(t *testing.T) {
	ctx := context.Background()
	m := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0"}})
	if err := redistest.FillMixed(ctx, m.Client(), 1); err != nil {
		t.Fatal(err)
	}
	p := redistest.StartStallProxy(t, m.Addr(), 1000)
	// More than the second between a master's keep-alives.
	const timeout = 2 * time.Second
	l, err := OpenLink(ctx, p.Addr(), ReplicaOptions{Timeout: timeout, RDBOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// A slow reader: longer between reads than the timeout, and
	// still the bytes the proxy let through are read.
	time.Sleep(timeout + time.Second)
	buf := make([]byte, 100)
	if _, err := io.ReadFull(snap, buf); err != nil {
		t.Fatalf("after a pause of the reader's own: %v", err)
	}
	start := time.Now()
	_, err = io.Copy(io.Discard, snap)
	var se *StallError
	if !errors.As(err, &se) || se.Addr != p.Addr() || se.Timeout != timeout {
		t.Fatalf("a stalled link: %v, want a StallError from %s", err, p.Addr())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the stall was noticed after %s", d)
	}
	if want := "no data for 2s from " + p.Addr(); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if !Transient(err) {
		t.Errorf("a stalled link is not Transient: %v", err)
	}
}

// TestSnapshotWait: a master that keeps the link waiting before the
// snapshot makes OnSnapshotWait run once, after about a second: a
// diskless one during repl-diskless-sync-delay (before +FULLRESYNC), a
// disk-based one while it writes its RDB (after +FULLRESYNC, slowed down
// with rdb-key-save-delay). A master that sends at once does not.
// DisklessSync reads the delay.
func TestSnapshotWait(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		config     []string
		wait       bool
		fullResync bool
	}{
		{"diskless delay", []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 2"}, true, false},
		{"disk-based slow save", []string{"repl-diskless-sync no", "rdb-key-save-delay 100000"}, true, true},
		{"no wait", []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := redistest.Start(t, redistest.Options{Config: tc.config})
			for i := range 20 {
				m.Client().Set(ctx, "k"+strconv.Itoa(i), i, 0)
			}
			var waits []SnapshotWait
			start := time.Now()
			l, err := OpenLink(ctx, m.Addr(), ReplicaOptions{RDBOnly: true, OnSnapshotWait: func(w SnapshotWait) { waits = append(waits, w) }})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			snap, err := l.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if n := countKeys(t, snap); n != 20 {
				t.Errorf("%d keys in the snapshot, want 20", n)
			}
			took := time.Since(start)
			if !tc.wait {
				if len(waits) != 0 {
					t.Errorf("waits %+v for a snapshot that came in %v", waits, took)
				}
				return
			}
			if len(waits) != 1 {
				t.Fatalf("OnSnapshotWait called %d times, want once (snapshot in %v)", len(waits), took)
			}
			w := waits[0]
			if w.Addr != m.Addr() || w.FullResync != tc.fullResync || w.Waited < SnapshotWaitAfter || w.Waited > took {
				t.Errorf("wait %+v (snapshot in %v), want after +FULLRESYNC: %v", w, took, tc.fullResync)
			}
		})
	}
	m := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 3"}})
	diskless, delay, err := DisklessSync(ctx, m.Addr(), &Options{})
	if err != nil || !diskless || delay != 3*time.Second {
		t.Errorf("DisklessSync: %v %v %v, want true 3s", diskless, delay, err)
	}
	m.Client().Do(ctx, "ACL", "SETUSER", "repl", "on", ">pw", "+psync", "+replconf", "+ping")
	if _, _, err := DisklessSync(ctx, m.Addr(), &Options{Username: "repl", Password: "pw"}); ErrorCode(err) != "NOPERM" {
		t.Errorf("DisklessSync without +config: %v, want NOPERM", err)
	}
}
