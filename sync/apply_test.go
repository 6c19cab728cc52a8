package sync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// TestApplyRefusedBatchStops: once the target refuses a batch (EXECABORT,
// as maxmemory's OOM gives), no later batch commits, nor moves the
// checkpoint key past the refused one: the next run would skip it.
// Before, the later batch's EXEC was already pipelined and committed.
func TestApplyRefusedBatchStops(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	key := CheckpointKey("refused")
	const replid = "0123456789012345678901234567890123456789"
	start := Pos{Offset: 10, DataOffset: 10}
	if err := srv.Client().Set(ctx, key, string(appendTargetValue(nil, replid, start)), 0).Err(); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(ctx, srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := newApplier(c, key, replid, start, nil, nil)
	now := time.Now()
	// Batch 1: the target refuses it at queue time.
	if err := a.command(0, [][]byte{[]byte("SET"), []byte("a"), []byte("1")}, Pos{Offset: 11}, now, true); err != nil {
		t.Fatal(err)
	}
	if err := a.command(0, [][]byte{[]byte("NOSUCHCOMMAND"), []byte("x")}, Pos{Offset: 12}, now, false); err != nil {
		t.Fatal(err)
	}
	// Batches 2 and 3 follow at once, as a busy stream sends them.
	for i, k := range []string{"b", "c"} {
		err := a.command(0, [][]byte{[]byte("SET"), []byte(k), []byte("2")}, Pos{Offset: int64(13 + i)}, now, false)
		if err != nil {
			break // the refusal is known: fine, as long as nothing commits
		}
	}
	err = a.close()
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("close: %v, want the target's refusal", err)
	}
	t.Log(err)
	for _, k := range []string{"a", "b", "c"} {
		if n := srv.Client().Exists(ctx, k).Val(); n != 0 {
			t.Errorf("%s was applied after the refused batch", k)
		}
	}
	v, err := srv.Client().Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := parseTargetValue([]byte(v))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Offset != start.Offset {
		t.Errorf("the checkpoint key is at offset %d, want %d (before the refused batch)", cp.Offset, start.Offset)
	}
	if p := a.position(); p.Offset != start.Offset {
		t.Errorf("position %d, want %d", p.Offset, start.Offset)
	}
}
