package sync

import (
	"context"
	"strings"
	"testing"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/redistest"
)

// TestPipe: RESP commands piped to a real server as they are: every
// reply read, error replies (one inside an EXEC's) counted and passed
// on, the SELECTs followed, and the connection usable afterwards.
func TestPipe(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c, err := Dial(context.Background(), srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var in strings.Builder
	cmd := func(args ...string) {
		in.Write(aof.AppendCommand(nil, func() (b [][]byte) {
			for _, a := range args {
				b = append(b, []byte(a))
			}
			return b
		}()...))
	}
	cmd("SELECT", "2")
	for range 10000 {
		cmd("INCR", "n")
	}
	cmd("SET", "s", "text")
	cmd("INCR", "s") // an error
	cmd("MULTI")
	cmd("INCR", "n")
	cmd("INCR", "s") // an error in the EXEC's reply
	cmd("EXEC")
	var msgs []string
	replies, errs, err := c.Pipe(strings.NewReader(in.String()), func(m string) { msgs = append(msgs, m) })
	if err != nil || replies != 10007 || errs != 2 || len(msgs) != 2 || !strings.Contains(msgs[0], "not an integer") {
		t.Fatalf("Pipe: %d replies, %d errors %q, %v", replies, errs, msgs, err)
	}
	v, err := c.DoString("GET", "n")
	if err != nil || string(v.Str) != "10001" {
		t.Errorf("GET n after the pipe (in db 2): %q, %v", v.Str, err)
	}
}
