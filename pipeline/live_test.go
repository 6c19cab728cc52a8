package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/pipeline"
	rsync "github.com/redkit/redkit/sync"
)

// connect connects to a test server as a restore's target.
func connect(t *testing.T, ctx context.Context, s *redistest.Server, url string) pipeline.Target {
	t.Helper()
	ep, err := rsync.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rsync.Dial(ctx, s.Addr(), &rsync.Options{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := rsync.Info(conn)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	w, err := rsync.NewWriter(ctx, s.Addr(), false, rsync.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Target{Endpoint: ep, Info: info, Writer: w}
}

// TestRestore restores sample.rdb into a live server, its database 0
// into the URL's database, then again under ConflictError.
func TestRestore(t *testing.T) {
	data, err := os.ReadFile("../testdata/sample.rdb")
	if err != nil {
		t.Fatal(err)
	}
	s := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	restore := func() (*pipeline.RestoreResult, error) {
		src, err := pipeline.Sniff("sample.rdb", bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		sink, err := pipeline.NewLiveSink(ctx, connect(t, ctx, s, "redis://"+s.Addr()+"/5"), pipeline.LiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return pipeline.Restore(ctx, src, sink, pipeline.Options{})
	}
	res, err := restore()
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Keys == 0 || res.Stats.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("stats %+v, failures %v", res.Stats, res.Failures)
	}
	ks, err := s.Do(ctx, "INFO", "keyspace")
	if err != nil {
		t.Fatal(err)
	}
	if info := ks.(string); !strings.Contains(info, "db5:keys=") || strings.Contains(info, "db0:") {
		t.Errorf("keyspace %q: want the keys in database 5 (the URL's), none in 0", info)
	}

	res, err = restore()
	var ke *rsync.KeyError
	if !errors.As(err, &ke) || !errors.Is(err, rsync.ErrConflict) || res.Stats.Existing == 0 {
		t.Fatalf("again: got %v (%+v), want a conflict naming its key", err, res.Stats)
	}
}
