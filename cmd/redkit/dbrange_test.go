package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// TestDBOutOfRange: a database number no server can hold (Redis's
// databases setting is an int, SELECT takes 0 to INT_MAX-1) is a usage
// error, not a file that loads nowhere. The highest one is accepted.
func TestDBOutOfRange(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	if err := src.Client().Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	dump := src.Save(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out.rdb")
	for _, args := range [][]string{
		{"convert", "--to", "rdb", "-o", out, "--db-map", "0=99999999999", dump},
		{"convert", "--to", "rdb", "-o", out, "--db-map", "0=2147483647", dump},
		{"convert", "--to", "resp", "-o", out, "--db-map", "2147483648=0", dump},
		{"convert", "--to", "resp", "-o", out, "--db", "2147483647", dump},
		{"analyze", "--db", "99999999999", dump},
		{"restore", "--to", src.URL(), "--db-map", "0=2147483647", dump},
		{"compare", "--db", "2147483647", dump, src.URL()},
	} {
		r := redkit(t, nil, args...).want(t, 2)
		if !strings.Contains(r.stderr, "2147483646") {
			t.Errorf("%v: stderr does not give the range:\n%s", args, r.stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused conversion left %s (%v)", out, err)
	}
	// The highest database a server's configuration allows is written
	// (no test server can be given 2^31-1 databases: Redis allocates them
	// all at start), and reads back.
	redkit(t, nil, "convert", "--to", "rdb", "-q", "-o", out, "--db-map", "0=2147483646", dump).want(t, 0)
	r := redkit(t, nil, "check", out).want(t, 0)
	if !strings.Contains(r.stdout, "db2147483646=1") {
		t.Errorf("check of the converted dump:\n%s", r.stdout)
	}
}
