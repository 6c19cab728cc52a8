package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// logRecorder records what WaitInfo logs.
type logRecorder struct{ lines []string }

func (r *logRecorder) log(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// TestWaitInfoRefused: a port nothing listens on is retried, the first
// retry logged, until retryFor passes; then the refusal is returned.
func TestWaitInfoRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var rec logRecorder
	info, err := WaitInfo(context.Background(), addr, &Options{ConnectTimeout: time.Second}, time.Second, rec.log)
	if !errors.Is(err, syscall.ECONNREFUSED) || info != nil {
		t.Fatalf("WaitInfo = %v, %v; want a refused connection", info, err)
	}
	if len(rec.lines) != 1 || !strings.HasPrefix(rec.lines[0], addr+": ") ||
		!strings.HasSuffix(rec.lines[0], "connection refused; retrying for up to 1s") {
		t.Errorf("logged %q; want one retry line", rec.lines)
	}

	// Without time to retry, nothing is logged; a nil log is allowed.
	rec.lines = nil
	if _, err := WaitInfo(context.Background(), addr, &Options{}, 0, rec.log); !errors.Is(err, syscall.ECONNREFUSED) || len(rec.lines) != 0 {
		t.Errorf("retryFor 0: %v, logged %q", err, rec.lines)
	}
	if _, err := WaitInfo(context.Background(), addr, &Options{}, 100*time.Millisecond, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("nil log: %v", err)
	}

	// A cancelled context stops the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WaitInfo(ctx, addr, &Options{}, time.Minute, nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

// loadingThenProxy listens on a port that answers its first connection
// with -LOADING, as a server loading its dataset does, and proxies the
// later ones to target.
func loadingThenProxy(t *testing.T, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if n == 0 {
				go func() {
					defer c.Close()
					// One reply to the first command (INFO: Dial sends
					// nothing without a password or a name), then closed.
					if _, err := c.Read(make([]byte, 512)); err == nil {
						io.WriteString(c, "-LOADING Redis is loading the dataset in memory\r\n")
					}
				}()
				continue
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(s, c); s.Close() }()
				io.Copy(c, s)
			}()
		}
	}()
	return l.Addr().String()
}

// TestWaitInfoLoading: a server that answers LOADING is asked again until
// it has loaded.
func TestWaitInfoLoading(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	addr := loadingThenProxy(t, srv.Addr())
	var rec logRecorder
	info, err := WaitInfo(context.Background(), addr, &Options{ConnectTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second}, time.Minute, rec.log)
	if err != nil {
		t.Fatal(err)
	}
	if info.Server != "redis" || info.Role != "master" || info.Cluster {
		t.Errorf("info: %+v", info)
	}
	if len(rec.lines) != 1 || !strings.HasPrefix(rec.lines[0], addr+": ") || !strings.Contains(rec.lines[0], "LOADING") ||
		!strings.HasSuffix(rec.lines[0], "; retrying for up to 1m0s") {
		t.Errorf("logged %q; want one retry line", rec.lines)
	}
}

// TestResolveTarget: a standalone server resolves with its facts; a
// cluster's database other than 0 is a *ClusterTargetDBError.
func TestResolveTarget(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	ep, err := ParseURL("redis://" + srv.Addr() + "/3")
	if err != nil {
		t.Fatal(err)
	}
	addr, info, err := Resolve(ctx, ep, &Options{}, time.Second, nil)
	if err != nil || addr != srv.Addr() || info.Cluster {
		t.Fatalf("Resolve = %q, %+v, %v", addr, info, err)
	}
	tg, err := ResolveTarget(ctx, ep, Options{Name: "redkit-test"}, time.Second, nil)
	if err != nil || tg.Addr != srv.Addr() || tg.Endpoint != ep || tg.Opts.Name != "redkit-test" || tg.Info.Cluster {
		t.Fatalf("ResolveTarget = %+v, %v", tg, err)
	}

	cl := redistest.Start(t, redistest.Options{Config: []string{"cluster-enabled yes"}})
	for _, u := range []string{"redis://" + cl.Addr(), "redis://" + cl.Addr() + "/0"} {
		ep, err := ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		if tg, err := ResolveTarget(ctx, ep, Options{}, time.Second, nil); err != nil || !tg.Info.Cluster {
			t.Errorf("%s: %+v, %v", u, tg, err)
		}
	}
	ep, err = ParseURL("redis://" + cl.Addr() + "/2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ResolveTarget(ctx, ep, Options{}, time.Second, nil)
	var ce *ClusterTargetDBError
	if !errors.As(err, &ce) || ce.DB != 2 || !errors.Is(err, ErrClusterDB) ||
		err.Error() != "redis://"+cl.Addr()+"/2 is a cluster: it has only database 0" {
		t.Errorf("cluster db 2: %v", err)
	}

	// A failure to read the facts names the URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close()
	ep, err = ParseURL("redis://" + gone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveTarget(ctx, ep, Options{}, 0, nil); !errors.Is(err, syscall.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "redis://"+gone+": ") {
		t.Errorf("refused: %v", err)
	}
}
