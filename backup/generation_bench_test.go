package backup_test

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// benchCommands are a redis-benchmark -P 16 mix as the replication
// stream carries it: SET, INCR, LPUSH and HSET on random keys.
func benchCommands(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		k := "key:" + strconv.Itoa(i*7919%1000000)
		var args []string
		switch i % 4 {
		case 0:
			args = []string{"SET", k, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
		case 1:
			args = []string{"INCR", "counter:" + k}
		case 2:
			args = []string{"LPUSH", "mylist", "xxx"}
		default:
			args = []string{"HSET", "myhash:" + k, "element:" + strconv.Itoa(i), "xxx"}
		}
		b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
		for _, a := range args {
			b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
		}
		out[i] = b
	}
	return out
}

// BenchmarkSegmentBuilder: commands into an in-memory segment,
// compressed with zstd (level 3), as backup --continuous builds them;
// bytes are the commands'. It reports the stored bytes per command.
func BenchmarkSegmentBuilder(b *testing.B) {
	cmds := benchCommands(1 << 16) // 4.5 MB: a segment of a busy source
	var size int64
	for _, c := range cmds {
		size += int64(len(c))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	t0 := time.Now()
	var stored, n int64
	for b.Loop() {
		sb, err := backup.NewSegmentBuilder(backup.SegmentHeader{ReplID: "r", Start: t0}, storage.Codec{Compression: "zstd"})
		if err != nil {
			b.Fatal(err)
		}
		for i, c := range cmds {
			sb.Append(c, t0.Add(time.Duration(i)*time.Microsecond), 0)
		}
		si, _, err := sb.Finish("g", t0, 0)
		if err != nil {
			b.Fatal(err)
		}
		stored += si.StoredBytes
		n += int64(len(cmds))
	}
	b.ReportMetric(float64(stored)/float64(n), "stored-B/cmd")
	b.ReportMetric(float64(size)/float64(len(cmds)), "raw-B/cmd")
}

// BenchmarkReplay: a stored segment read back through its checksum,
// decompression and record CRCs into the RESP a restore applies.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	be, _ := newFile(b)
	cmds := benchCommands(1 << 16)
	t0 := time.Now()
	sb, _ := backup.NewSegmentBuilder(backup.SegmentHeader{ReplID: "r", Start: t0}, storage.Codec{Compression: "zstd"})
	var size int64
	for _, c := range cmds {
		sb.Append(c, t0, 0)
		size += int64(len(c))
	}
	si, data, err := sb.Finish("20261126T000000Z-000000", t0, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := backup.StoreSegment(ctx, be, si, data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		rp := backup.NewReplay(ctx, be, []backup.SegmentInfo{*si}, "zstd", storage.Codec{}, backup.Cutoff{})
		if _, err := io.Copy(io.Discard, rp); err != nil || rp.Err() != nil || rp.Commands != int64(len(cmds)) {
			b.Fatal(err, rp.Err(), rp.Commands)
		}
	}
}
