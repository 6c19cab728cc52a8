package sync

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/redistest"
)

func TestBudget(t *testing.T) {
	b := &budget{max: 100}
	ctx := context.Background()
	if err := b.acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 40); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(ctx, 1) }()
	select {
	case err := <-got:
		t.Fatalf("acquired over the budget: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	b.release(41)
	// Bigger than the whole budget: alone, once nothing is in flight.
	if err := b.acquire(ctx, 500); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := b.acquire(cctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire with a done context: %v", err)
	}
	b.release(500)
	if b.used != 0 {
		t.Fatalf("%d bytes left in use", b.used)
	}
}

func TestChunkBuf(t *testing.T) {
	var c chunkBuf
	data := make([]byte, 3*chunkSize+17)
	for i := range data {
		data[i] = byte(i * 31)
	}
	// The trailer: RDB version 11, then 8 bytes of CRC.
	data[len(data)-10], data[len(data)-9] = 11, 0
	for off := 0; off < len(data); off += 1000 {
		c.Write(data[off:min(off+1000, len(data))])
	}
	if c.n != int64(len(data)) || len(c.chunks) != 4 {
		t.Fatalf("n %d, %d chunks", c.n, len(c.chunks))
	}
	if v, err := c.version(); err != nil || v != 11 {
		t.Fatalf("version %d, %v", v, err)
	}
	if got := c.contiguous(); string(got) != string(data) {
		t.Fatal("contiguous differs")
	}
	chunks := c.detach()
	if len(chunks) != 4 || c.n != 0 || c.chunks != nil {
		t.Fatal("detach left data behind")
	}
	(&chunkBuf{chunks: chunks}).release()
	c.Write([]byte("short"))
	if _, err := c.version(); err == nil {
		t.Fatal("a 5-byte payload has no version")
	}
	c.reset()
	if c.n != 0 || len(c.chunks) != 1 || len(c.chunks[0]) != 0 {
		t.Fatal("reset keeps one empty chunk")
	}
}

// TestWriterChunked sends values as lent chunks (Command.Chunked), on a
// standalone server and a cluster: what lands is their concatenation.
func TestWriterChunked(t *testing.T) {
	ctx := context.Background()
	single := redistest.Start(t, redistest.Options{})
	nodes := redistest.StartCluster(t, 3, 0)
	for name, target := range map[string]struct {
		addr    string
		cluster bool
		check   *redistest.Server
	}{"standalone": {single.Addr(), false, single}, "cluster": {nodes[0].Addr(), true, nil}} {
		t.Run(name, func(t *testing.T) {
			w, err := NewWriter(ctx, target.addr, target.cluster, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for i := range 200 {
				k := "k" + strconv.Itoa(i)
				chunks := [][]byte{[]byte(strings.Repeat("a", i)), []byte("-"), []byte(strings.Repeat("b", 300-i))}
				want[k] = string(bytes.Join(chunks, nil))
				err := w.Send(ctx, &Command{Key: []byte(k), Args: [][]byte{[]byte("SET"), []byte(k), nil, []byte("PX"), []byte("600000")},
					Chunked: chunks, ChunkedArg: 2, Idempotent: true,
					Done: func(_ aof.Value, err error) {
						if err != nil {
							t.Errorf("SET %s: %v", k, err)
						}
					}})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var c redis.UniversalClient = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{target.addr}})
			if target.check != nil {
				c = target.check.Client()
			}
			for k, v := range want {
				if got, err := c.Get(ctx, k).Result(); err != nil || got != v {
					t.Fatalf("%s: %q, %v; want %q", k, got, err, v)
				}
				if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 {
					t.Fatalf("%s: the arguments after the chunks were lost (PTTL %v)", k, ttl)
				}
			}
		})
	}
}
