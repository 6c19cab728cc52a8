package sync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/redkit/redkit/aof"
)

// The replica side of the replication protocol (replication.c): the
// handshake a replica makes, then the snapshot the master sends on a full
// resynchronization. The command stream that follows comes with the sync
// issue.

// ReplicaOptions configure a replication link.
type ReplicaOptions struct {
	Conn Options // credentials, TLS, timeouts
	// ListeningPort is announced with REPLCONF listening-port (0: none);
	// the master shows it in INFO replication.
	ListeningPort int
	// ReplID and Offset ask for a partial resynchronization: Offset is
	// the replication offset of the last byte processed, and PSYNC asks
	// for the next one (PSYNC replid Offset+1). Empty ReplID asks for a
	// full one (PSYNC ? -1).
	ReplID string
	Offset int64
	// RDBOnly asks for the snapshot alone (REPLCONF rdb-only 1, Redis 7.0+),
	// as redis-cli --rdb does: no command stream follows.
	RDBOnly bool
	// Timeout is the longest the link may wait for a byte from the
	// master, from the PSYNC reply on: a read waiting longer fails with a
	// *StallError (default 60s, as the master's own repl-timeout;
	// negative: no limit). Only a stalled master or network is that
	// quiet: a master sends a newline every second while it prepares a
	// snapshot, and a PING every repl-ping-replica-period (10s) in the
	// stream. Time the caller spends between reads does not count.
	Timeout time.Duration
	// OnSnapshotWait, if set, is called once per link when the master
	// has kept it waiting for about a second (SnapshotWaitAfter) with
	// only keep-alive newlines, before the snapshot starts: a diskless
	// master waiting repl-diskless-sync-delay for more replicas, or one
	// writing its snapshot to disk first. It runs on the goroutine
	// reading the link (in OpenLink or Snapshot), which waits for it.
	OnSnapshotWait func(SnapshotWait)
}

// SnapshotWaitAfter is how long a link waits for a snapshot to begin
// before ReplicaOptions.OnSnapshotWait is called.
const SnapshotWaitAfter = time.Second

// SnapshotWait tells that a master keeps a replica waiting before it
// sends the snapshot.
type SnapshotWait struct {
	Addr   string        // the master's address
	Waited time.Duration // since PSYNC was sent
	// FullResync tells that the master has answered +FULLRESYNC and
	// prepares the payload (a disk-based sync writes its RDB first).
	// False: it has not started the snapshot at all, which a diskless
	// master (repl-diskless-sync yes) does for repl-diskless-sync-delay
	// seconds, for more replicas to share the transfer, and any master
	// while another snapshot it cannot share is under way.
	FullResync bool
}

// waitNotice calls the link's OnSnapshotWait once, when the keep-alives
// before a snapshot have lasted SnapshotWaitAfter.
type waitNotice struct {
	fn    func(SnapshotWait)
	addr  string
	start time.Time
	done  bool
}

// keepAlive notes a keep-alive newline; fullResync: after +FULLRESYNC.
func (w *waitNotice) keepAlive(fullResync bool) {
	if w == nil || w.fn == nil || w.done {
		return
	}
	if d := time.Since(w.start); d >= SnapshotWaitAfter {
		w.done = true
		w.fn(SnapshotWait{Addr: w.addr, Waited: d, FullResync: fullResync})
	}
}

func (o *ReplicaOptions) timeout() time.Duration {
	switch {
	case o.Timeout < 0:
		return 0
	case o.Timeout == 0:
		return 60 * time.Second
	}
	return o.Timeout
}

// ErrBadHandshake wraps a master's reply the replica cannot use.
var ErrBadHandshake = errors.New("unexpected reply in the replication handshake")

// StallError is a replication link on which the master sent nothing
// for the link's Timeout: a stalled master, or a network partition
// that reset nothing. It wraps os.ErrDeadlineExceeded, a net.Error
// (Transient: a new link may work).
type StallError struct {
	Addr    string // the master's address
	Timeout time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("no data for %s from %s: the replication link stalled", e.Timeout, e.Addr)
}

func (e *StallError) Unwrap() error { return os.ErrDeadlineExceeded }

// Link is a replication link after the handshake.
type Link struct {
	c *Conn
	// Full tells whether the master answered FULLRESYNC: a snapshot
	// follows, to read with Snapshot. Otherwise (+CONTINUE) the command
	// stream follows from the offset asked for.
	Full bool
	// ReplID and Offset are the master's replication ID and the offset the
	// snapshot (or the continuation) starts at.
	ReplID string
	Offset int64

	wait   *waitNotice
	snap   io.Reader  // the snapshot being read, drained before the stream
	size   int64      // the snapshot's length, -1 when diskless
	eof    *eofReader // the snapshot's reader when diskless
	stream *aof.RESPReader
	base   int64 // the offset the stream started at
	cmd    StreamCommand
	ackMu  gosync.Mutex
}

// OpenLink connects to a master as a replica: AUTH, REPLCONF
// listening-port, REPLCONF capa eof capa psync2 (diskless transfers and
// PSYNC2), then PSYNC.
func OpenLink(ctx context.Context, addr string, opts ReplicaOptions) (*Link, error) {
	c, err := Dial(ctx, addr, &opts.Conn)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	steps := [][]string{{"PING"}}
	if opts.ListeningPort > 0 {
		steps = append(steps, []string{"REPLCONF", "listening-port", strconv.Itoa(opts.ListeningPort)})
	}
	steps = append(steps, []string{"REPLCONF", "capa", "eof", "capa", "psync2"})
	if opts.RDBOnly {
		steps = append(steps, []string{"REPLCONF", "rdb-only", "1"})
	}
	for _, s := range steps {
		if _, err := c.DoString(s...); err != nil {
			return nil, fmt.Errorf("replication handshake with %s: %s: %w", addr, strings.Join(s[:min(len(s), 2)], " "), err)
		}
	}
	id, off := "?", "-1"
	if opts.ReplID != "" {
		id, off = opts.ReplID, strconv.FormatInt(opts.Offset+1, 10)
	}
	if err := c.Send([]byte("PSYNC"), []byte(id), []byte(off)); err != nil {
		return nil, err
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	// The reply is a status line; a master preparing a snapshot may send
	// bare newlines first to keep the link alive. From here on every read
	// waits at most the link's timeout.
	c.linkTimeout = opts.timeout()
	wait := &waitNotice{fn: opts.OnSnapshotWait, addr: addr, start: time.Now()}
	line, err := c.readLine(func() { wait.keepAlive(false) })
	if err != nil {
		return nil, fmt.Errorf("PSYNC on %s: %w", addr, err)
	}
	l := &Link{c: c, wait: wait}
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "+FULLRESYNC":
		l.Full, l.ReplID = true, f[1]
		if l.Offset, err = strconv.ParseInt(f[2], 10, 64); err != nil {
			return nil, fmt.Errorf("%w from %s: %q", ErrBadHandshake, addr, line)
		}
	case len(f) >= 1 && f[0] == "+CONTINUE":
		// Continuing needs a position to continue from: to PSYNC ? -1
		// (or one asking for a snapshot alone) no real master answers
		// +CONTINUE, and the stream would start nowhere known.
		if opts.ReplID == "" || opts.RDBOnly {
			return nil, fmt.Errorf("%w from %s: %q to PSYNC %s %s, which asked for a full resynchronization", ErrBadHandshake, addr, line, id, off)
		}
		l.ReplID, l.Offset = opts.ReplID, opts.Offset
		if len(f) == 2 {
			l.ReplID = f[1] // the master's new ID after a failover
		}
	case strings.HasPrefix(line, "-"):
		return nil, fmt.Errorf("PSYNC on %s: %w", addr, &RedisError{Msg: line[1:]})
	default:
		return nil, fmt.Errorf("%w from %s: %q", ErrBadHandshake, addr, line)
	}
	ok = true
	return l, nil
}

// readLine reads one CRLF-terminated line straight from the connection's
// buffer, skipping the bare "\n" keep-alives a master sends before a
// reply; keepAlive, if set, is called on each.
func (c *Conn) readLine(keepAlive func()) (string, error) {
	br := c.raw()
	for {
		s, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if s == "\n" {
			if keepAlive != nil {
				keepAlive()
			}
			continue
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
}

// raw returns a buffered reader of the connection's bytes, replacing the
// RESP reader: a replication link reads a snapshot as raw bytes, each
// read failing after the link's timeout without a byte.
func (c *Conn) raw() *bufio.Reader {
	if c.br == nil {
		c.br = bufio.NewReaderSize(linkReader{c}, 64<<10)
	}
	return c.br
}

// linkReader reads a replication link: each read may wait for the
// master's next byte for the link's timeout, however long the caller
// took since the last one (a slow target, an upload).
type linkReader struct{ c *Conn }

func (r linkReader) Read(p []byte) (int, error) {
	t := r.c.linkTimeout
	if t > 0 {
		r.c.nc.SetReadDeadline(time.Now().Add(t))
	} else {
		r.c.nc.SetReadDeadline(time.Time{})
	}
	n, err := r.c.nc.Read(p)
	if err != nil && t > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &StallError{Addr: r.c.addr, Timeout: t}
	}
	return n, err
}

// Snapshot returns the RDB payload of a full resynchronization, in
// either form: "$<length>" then exactly that many bytes (disk-based), or
// "$EOF:<40 bytes>" then the RDB and the same 40 bytes (diskless). The
// reader returns io.EOF after the last byte of the RDB and
// io.ErrUnexpectedEOF if the link breaks first. Read it to the end before
// anything else on the link.
func (l *Link) Snapshot() (io.Reader, error) {
	if !l.Full {
		return nil, errors.New("no snapshot: the master continued the stream (+CONTINUE)")
	}
	line, err := l.c.readLine(func() { l.wait.keepAlive(true) })
	if err != nil {
		return nil, fmt.Errorf("snapshot header from %s: %w", l.c.Addr(), err)
	}
	if !strings.HasPrefix(line, "$") {
		return nil, fmt.Errorf("%w from %s: snapshot header %q", ErrBadHandshake, l.c.Addr(), line)
	}
	if mark, ok := strings.CutPrefix(line, "$EOF:"); ok {
		if len(mark) != 40 {
			return nil, fmt.Errorf("%w from %s: EOF mark of %d bytes", ErrBadHandshake, l.c.Addr(), len(mark))
		}
		l.eof = &eofReader{r: l.c.raw(), mark: []byte(mark)}
		l.size = -1
		l.snap = l.eof
		return l.snap, nil
	}
	n, err := strconv.ParseInt(line[1:], 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%w from %s: snapshot header %q", ErrBadHandshake, l.c.Addr(), line)
	}
	l.snap = &lengthReader{r: l.c.raw(), left: n}
	l.size = n
	return l.snap, nil
}

// SnapshotSize is the length of the snapshot Snapshot returned: -1 for
// a diskless transfer, whose length is known only at its end.
func (l *Link) SnapshotSize() int64 { return l.size }

// Addr is the address of the master the link replicates from.
func (l *Link) Addr() string { return l.c.Addr() }

// Buffered tells how many bytes of the stream are read from the network
// and not yet returned by Next: zero means Next will wait for the master.
func (l *Link) Buffered() int {
	if l.stream == nil {
		return 0
	}
	return l.stream.Buffered() + l.c.raw().Buffered()
}

// Close closes the link. It may be called while another goroutine Acks.
func (l *Link) Close() error {
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	return l.c.Close()
}

// send sends a command of a replica's own on the link (the native sync
// relays its target's REPLCONF ACKs); like Ack, from any goroutine.
func (l *Link) send(args [][]byte) error {
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	if err := l.c.Send(args...); err != nil {
		return err
	}
	return l.c.Flush()
}

// sendRaw sends bytes as they are (a loading replica's keep-alive
// newline).
func (l *Link) sendRaw(b []byte) error {
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	if _, err := l.c.bw.Write(b); err != nil {
		return err
	}
	return l.c.Flush()
}

// lengthReader reads exactly left bytes.
type lengthReader struct {
	r    io.Reader
	left int64
}

func (r *lengthReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.left -= int64(n)
	if err == io.EOF && r.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// eofReader reads until the 40-byte mark, holding back the last 40 bytes
// read until more come, since the mark is only known at the end. It reads
// straight into the caller's buffer (the snapshot is copied once, not
// twice, and nothing is allocated per read); a caller's buffer too small
// to hold back the mark in goes through scratch.
type eofReader struct {
	r       *bufio.Reader
	mark    []byte
	held    []byte // bytes read and not returned: a possible start of the mark, at most its length
	out     []byte // data read into scratch and not yet returned
	rest    []byte // bytes read after the mark: the start of the command stream
	scratch []byte
	err     error // of the source, once the data before it is returned
	done    bool
}

func (r *eofReader) Read(p []byte) (int, error) {
	for {
		if len(r.out) > 0 {
			n := copy(p, r.out)
			r.out = r.out[n:]
			return n, nil
		}
		if r.done {
			return 0, io.EOF
		}
		if r.err != nil {
			return 0, r.err
		}
		if len(p) > 2*len(r.mark) {
			if n := r.fill(p); n > 0 {
				return n, nil
			}
			continue
		}
		if r.scratch == nil {
			r.scratch = make([]byte, 32<<10)
		}
		r.out = r.scratch[:r.fill(r.scratch)]
	}
}

// fill reads into dst (longer than the mark) the bytes held back and
// what the source gives, and returns how many of them are certainly data:
// all before the mark when it is there, else all but the last len(mark).
func (r *eofReader) fill(dst []byte) int {
	h := copy(dst, r.held)
	n, err := r.r.Read(dst[h:])
	got := dst[:h+n]
	// The mark ends the snapshot; whatever came after it in the same read
	// is the start of the command stream, kept for Next.
	if i := bytes.Index(got, r.mark); i >= 0 {
		r.rest = bytes.Clone(got[i+len(r.mark):])
		r.held, r.done = nil, true
		return i
	}
	k := max(len(got)-len(r.mark), 0)
	r.held = append(r.held[:0], got[k:]...)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	r.err = err
	return k
}

// StreamCommand is one command of the replication stream and the
// replication offset just after it: what a replica acknowledges once the
// command is applied.
type StreamCommand struct {
	Args   [][]byte // valid until the next call to Next
	Offset int64
}

// Next reads the next command of the stream that follows the snapshot
// (or +CONTINUE). The master's PINGs and REPLCONF GETACKs come too: they
// count in the offset, and GETACK wants an Ack. After a diskless snapshot
// the master sends nothing until the first Ack.
func (l *Link) Next() (*StreamCommand, error) {
	if l.stream == nil {
		// What is left of the snapshot (the RDB reader stops at its own
		// end, before a diskless transfer's mark) is not part of the stream.
		if l.snap != nil {
			if _, err := io.Copy(io.Discard, l.snap); err != nil {
				return nil, fmt.Errorf("end of the snapshot from %s: %w", l.c.Addr(), err)
			}
		}
		var r io.Reader = l.c.raw()
		if l.eof != nil && len(l.eof.rest) > 0 {
			r = io.MultiReader(bytes.NewReader(l.eof.rest), r)
		}
		l.stream = aof.NewRESPReader(r)
		l.base = l.Offset
	}
	// A quiet master sends a PING every repl-ping-replica-period (10s):
	// the link's timeout is longer.
	args, err := l.stream.ReadCommand()
	if err != nil {
		return nil, fmt.Errorf("replication stream from %s at offset %d: %w", l.c.Addr(), l.base+l.stream.Offset(), err)
	}
	l.cmd = StreamCommand{Args: args, Offset: l.base + l.stream.Offset()}
	return &l.cmd, nil
}

// Ack sends REPLCONF ACK offset: the offset of the last command applied.
// A replica acks every second: after a diskless snapshot the master starts
// the stream on the first ack it gets once it has put the replica
// online, and ignores earlier ones. Ack may be called from another
// goroutine than Next.
func (l *Link) Ack(offset int64) error {
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	if err := l.c.Send([]byte("REPLCONF"), []byte("ACK"), strconv.AppendInt(nil, offset, 10)); err != nil {
		return err
	}
	return l.c.Flush()
}

// DisklessSync reads a master's repl-diskless-sync and
// repl-diskless-sync-delay with CONFIG GET on a connection of its own
// (an error when the user may not run CONFIG, as a replica's user
// usually may not).
func DisklessSync(ctx context.Context, addr string, opts *Options) (diskless bool, delay time.Duration, err error) {
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return false, 0, err
	}
	defer c.Close()
	get := func(name string) (string, error) {
		v, err := c.DoString("CONFIG", "GET", name)
		if err != nil {
			return "", err
		}
		if len(v.Elems) != 2 {
			return "", fmt.Errorf("CONFIG GET %s: no such parameter", name)
		}
		return string(v.Elems[1].Str), nil
	}
	on, err := get("repl-diskless-sync")
	if err != nil {
		return false, 0, err
	}
	secs, err := get("repl-diskless-sync-delay")
	if err != nil {
		return false, 0, err
	}
	n, err := strconv.Atoi(secs)
	if err != nil {
		return false, 0, fmt.Errorf("CONFIG GET repl-diskless-sync-delay: %q", secs)
	}
	return on == "yes", time.Duration(n) * time.Second, nil
}
