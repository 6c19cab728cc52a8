package redistest

import (
	"bytes"
	"io"
	"net"
	gosync "sync"
	"sync/atomic"
	"testing"
)

// StallProxy forwards TCP connections to a server, except replication
// links, which it stalls mid-snapshot: once the server's +FULLRESYNC
// reply, the snapshot's header ($<length> or $EOF:<mark>) and the first
// bytes of its payload have gone through, nothing more reaches the
// client, and both connections stay open (no FIN, no RST), as a network
// partition looks to the replica. Other connections (INFO, commands)
// are forwarded as they are. It stops when the test ends.
type StallProxy struct {
	ln      net.Listener
	addr    string
	after   int
	done    chan struct{}
	stalled atomic.Int64

	mu    gosync.Mutex
	conns []net.Conn
}

// StartStallProxy listens on a port of 127.0.0.1 and forwards to addr,
// stalling each replication link after after bytes of its snapshot.
func StartStallProxy(t testing.TB, addr string, after int) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &StallProxy{ln: ln, addr: addr, after: after, done: make(chan struct{})}
	t.Cleanup(p.Close)
	go p.accept()
	return p
}

// Addr is the proxy's host:port.
func (p *StallProxy) Addr() string { return p.ln.Addr().String() }

// Stalled is how many replication links the proxy has stalled.
func (p *StallProxy) Stalled() int64 { return p.stalled.Load() }

// Close stops listening and closes every connection.
func (p *StallProxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *StallProxy) accept() {
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
		select {
		case <-p.done:
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		default:
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() {
			io.Copy(s, c)
			s.Close()
		}()
		go p.down(c, s)
	}
}

// down forwards the server's bytes to the client up to the stall point
// of a replication link, then holds both connections open until Close.
func (p *StallProxy) down(c, s net.Conn) {
	var seen []byte // the server's bytes so far, until known to be no replication link
	buf := make([]byte, 32<<10)
	sent := 0
	for {
		n, err := s.Read(buf)
		seen = append(seen, buf[:n]...)
		limit, stall := len(seen), false
		if cut := p.cutAt(seen); cut >= 0 && cut <= len(seen) {
			limit, stall = cut, true
		}
		if _, werr := c.Write(seen[sent:limit]); werr != nil {
			return
		}
		sent = limit
		if stall {
			p.stalled.Add(1)
			<-p.done
			return
		}
		if err != nil {
			c.Close()
			return
		}
		if len(seen) > 64<<10 && !bytes.Contains(seen, []byte("+FULLRESYNC")) {
			// No replication link: forward the rest as it comes.
			io.Copy(c, s)
			c.Close()
			return
		}
	}
}

// cutAt is where a replication link stalls in seen: after its snapshot
// header and p.after bytes; -1 while the header has not come.
func (p *StallProxy) cutAt(seen []byte) int {
	i := bytes.Index(seen, []byte("+FULLRESYNC"))
	if i < 0 {
		return -1
	}
	j := bytes.Index(seen[i:], []byte("\r\n"))
	if j < 0 {
		return -1
	}
	k := i + j + 2
	for k < len(seen) && seen[k] == '\n' { // keep-alives
		k++
	}
	if k >= len(seen) || seen[k] != '$' {
		return -1
	}
	e := bytes.Index(seen[k:], []byte("\r\n"))
	if e < 0 {
		return -1
	}
	return k + e + 2 + p.after
}
