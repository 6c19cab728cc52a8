package sync

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// BenchmarkApplyStream measures the standalone applier: SET commands of
// a stream that pauses every 64 commands (a batch each), with and
// without the checkpoint key, into a real redis-server.
func BenchmarkApplyStream(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	for _, key := range []string{"", CheckpointKey("bench")} {
		name := "no-key"
		if key != "" {
			name = "checkpoint-key"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			c, err := Dial(ctx, srv.Addr(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			a := newApplier(c, key, "0123456789012345678901234567890123456789", Pos{}, nil, nil)
			args := [][]byte{[]byte("SET"), []byte("key:000000000000"), []byte("value-of-thirty-two-bytes-......")}
			b.SetBytes(int64(len("*3\r\n$3\r\nSET\r\n$16\r\n\r\n$32\r\n\r\n") + 16 + 32))
			b.ReportAllocs()
			now := time.Now()
			for i := 0; b.Loop(); i++ {
				copy(args[1][4:], strconv.Itoa(i%1000000))
				if err := a.command(0, args, Pos{Offset: int64(i + 1)}, now, i%64 != 63); err != nil {
					b.Fatal(err)
				}
			}
			if err := a.flush(); err != nil {
				b.Fatal(err)
			}
			if err := a.close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
