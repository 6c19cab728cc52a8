package backup

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/storage/file"
)

// holdProxy forwards TCP connections to a server; hold stops
// forwarding the server's bytes to the client of the latest connection
// (those read from the server after it are kept) until release.
type holdProxy struct {
	ln   net.Listener
	addr string

	mu    gosync.Mutex
	cond  *gosync.Cond
	conns []net.Conn
	held  int // the connection held (-1: none)
	done  bool
}

func startHoldProxy(t *testing.T, addr string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, addr: addr, held: -1}
	p.cond = gosync.NewCond(&p.mu)
	t.Cleanup(p.close)
	go p.accept()
	return p
}

func (p *holdProxy) Addr() string { return p.ln.Addr().String() }

func (p *holdProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.cond.Broadcast()
}

// holdLast holds the latest connection's bytes from the server.
func (p *holdProxy) holdLast() {
	p.mu.Lock()
	p.held = len(p.conns)/2 - 1
	p.mu.Unlock()
}

func (p *holdProxy) release() {
	p.mu.Lock()
	p.held = -1
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *holdProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.addr)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		i := len(p.conns) / 2
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() {
			io.Copy(s, c)
			s.Close()
		}()
		go func() {
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				p.mu.Lock()
				for p.held == i && !p.done {
					p.cond.Wait()
				}
				p.mu.Unlock()
				if _, werr := c.Write(buf[:n]); werr != nil || err != nil {
					return
				}
			}
		}()
	}
}

// TestContinuousHandoffWhileCatchingUp: a generation's link that takes
// over from the previous one replays, with their times, the commands
// the previous link received while its base was stored (catching up).
// Here that link's stream is held back (a slow network, or a master
// that starts the stream of a diskless replica only on its first ack
// once online) until the next base is stored: the generation must not
// end then, at its last command's time, which is before the next base
// was taken (a gap no command explains, refused by restore --at), nor
// lack the commands the previous link received. It ends once it has
// caught up, after the next base, holding every command.
func TestContinuousHandoffWhileCatchingUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-backlog-size 64mb"}})
	proxy := startHoldProxy(t, src.Addr())
	b, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var c *Continuous
	var mu gosync.Mutex
	var bases []*Manifest
	var wrote int64 // the source's offset after the writes held from the second link
	thirdStored := make(chan struct{})
	opts := ContinuousOptions{
		Source: proxy.Addr(), Backend: b, SegmentInterval: 50 * time.Millisecond, SnapshotInterval: 300 * time.Millisecond,
		storeBase: func(ctx context.Context, r io.Reader, size int64, pos ReplPosition) (*Manifest, error) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return nil, err
			}
			mu.Lock()
			n := len(bases)
			mu.Unlock()
			switch n {
			case 1:
				// The second generation's link (the latest connection)
				// gets nothing more for a while, and the first one
				// receives commands meanwhile, which the second must
				// catch up on.
				proxy.holdLast()
				for i := range 50 {
					if _, err := src.Do(ctx, "SET", "k"+string(rune('a'+i%26)), i); err != nil {
						return nil, err
					}
				}
				off, err := src.Do(ctx, "INFO", "replication")
				if err != nil {
					return nil, err
				}
				wrote = infoOffset(off.(string))
				for c.Status().Received < wrote {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					time.Sleep(time.Millisecond)
				}
			case 2:
				defer close(thirdStored)
			}
			m := &Manifest{ID: NewID(time.Now()), Continuous: true, Compression: "zstd", Replication: &pos}
			mu.Lock()
			bases = append(bases, m)
			mu.Unlock()
			return m, nil
		},
	}
	c, err = NewContinuous(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	select {
	case <-thirdStored:
	case err := <-done:
		t.Fatalf("continuous backup: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no third base")
	}
	// The second link gets its stream once the third base is stored,
	// and a while after.
	time.Sleep(300 * time.Millisecond)
	proxy.release()
	deadline := time.Now().Add(60 * time.Second)
	for c.Status().Generations < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the third generation never started: %+v", c.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("continuous backup: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	gens := make([]*Generation, 3)
	for i := range gens {
		segs, err := ListSegments(context.Background(), b, bases[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		gens[i] = &Generation{Base: bases[i], Segments: segs}
	}
	for i := 1; i < len(gens); i++ {
		if gens[i-1].Until().Before(gens[i].From()) {
			t.Errorf("generation %d ends at %v, %v before generation %d begins at %v: a gap", i, gens[i-1].Until().Format(time.RFC3339Nano),
				gens[i].From().Sub(gens[i-1].Until()), i+1, gens[i].From().Format(time.RFC3339Nano))
		}
	}
	if got := gens[1].EndOffset(); got < wrote {
		t.Errorf("the second generation ends at offset %d, before %d: commands the first link received are in neither", got, wrote)
	}
}

// infoOffset reads master_repl_offset from INFO replication (-1: none).
func infoOffset(info string) int64 {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "master_repl_offset:"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}
