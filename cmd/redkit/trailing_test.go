package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// rdbLength is the length of the RDB dump at the start of data: where the
// reader stops after the checksum.
func rdbLength(t *testing.T, data []byte) int64 {
	t.Helper()
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		if _, err := rd.Next(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("read dump: %v", err)
			}
			return rd.Offset()
		}
	}
}

// TestRDBTrailingBytes feeds every command what redis-cli --rdb - writes:
// the dump, then the 40-byte EOF marker of the diskless transfer. Redis
// loads such a file and ignores what follows the checksum; so must every
// command, and check says how many bytes follow and where.
func TestRDBTrailingBytes(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	for i := range 50 {
		if err := src.Client().Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Client().RPush(ctx, "list", "a", "b", "c").Err(); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cli := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(src.Port()), "--rdb", "-")
	cli.Stderr = &errOut
	data, err := cli.Output()
	if err != nil {
		t.Fatalf("redis-cli --rdb -: %v\n%s", err, errOut.String())
	}
	n := rdbLength(t, data)
	if int64(len(data)) != n+40 {
		t.Fatalf("redis-cli --rdb - wrote %d bytes, the RDB is %d: want the 40-byte EOF marker after it", len(data), n)
	}
	file := filepath.Join(t.TempDir(), "cli.rdb")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Redis itself loads the file.
	loaded := redistest.Start(t, redistest.Options{})
	loaded.Client().Close()
	if err := os.WriteFile(filepath.Join(loaded.Dir(), "dump.rdb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded.Restart(t, false)
	if got := loaded.Client().DBSize(ctx).Val(); got != 51 {
		t.Fatalf("redis-server loaded %d keys of the file, want 51", got)
	}

	trailing := fmt.Sprintf("40 bytes after the checksum at offset %d", n)
	for _, tc := range []struct {
		name string
		args []string
		want string // in stdout
	}{
		{"check", []string{"check", "-"}, trailing},
		{"check file", []string{"check", file}, trailing},
		{"analyze", []string{"analyze", "-"}, "51"},
		{"convert", []string{"convert", "--to", "resp", "-q", "-"}, "RPUSH"},
		{"convert rdb", []string{"convert", "--to", "rdb", "-q", "-"}, "REDIS0010"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redkit(t, bytes.NewReader(data), tc.args...).want(t, 0)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", tc.want, r.stdout, r.stderr)
			}
		})
	}
	t.Run("check json", func(t *testing.T) {
		r := redkit(t, bytes.NewReader(data), "check", "--format", "json", "-").want(t, 0)
		want := fmt.Sprintf(`"trailing_bytes":40,"trailing_offset":%d`, n)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %s:\n%s", want, r.stdout)
		}
	})
	t.Run("restore and compare", func(t *testing.T) {
		dst := redistest.Start(t, redistest.Options{})
		if err := dst.Client().Set(ctx, "old", "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		r := redkit(t, bytes.NewReader(data), "restore", "--to", dst.URL(), "--flush", "-")
		r.want(t, 0)
		if got := dst.Client().DBSize(ctx).Val(); got != 51 {
			t.Errorf("target holds %d keys, want 51", got)
		}
		redkit(t, bytes.NewReader(data), "compare", "-q", "-", dst.URL()).want(t, 0)
		redkit(t, nil, "compare", "-q", file, dst.URL()).want(t, 0)
	})
}

// TestRDBChecksumDisabled checks a dump a server saved with rdbchecksum
// no: Redis writes a zero CRC and skips the check on load; check says so.
func TestRDBChecksumDisabled(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"rdbchecksum no"}})
	if err := src.Client().Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	dump := src.Save(t)
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, make([]byte, 8)) {
		t.Fatalf("dump does not end in a zero checksum: % x", data[len(data)-9:])
	}
	r := redkit(t, nil, "check", dump).want(t, 0)
	if !strings.Contains(r.stdout, "saved with the checksum disabled") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	r = redkit(t, nil, "check", "--format", "json", dump).want(t, 0)
	if !strings.Contains(r.stdout, `"checksum":"disabled"`) {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	// A checked dump says its checksum was verified.
	src2 := redistest.Start(t, redistest.Options{})
	r = redkit(t, nil, "check", src2.Save(t)).want(t, 0)
	if !strings.Contains(r.stdout, "verified") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

// TestTruncationHints: the truncation hint speaks of the RDB end marker
// only when an RDB is cut short; an AOF cut inside a command gets an AOF
// hint, RDB or not before it.
func TestTruncationHints(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	if err := src.Client().Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cutRDB := filepath.Join(dir, "cut.rdb")
	cutAOF := filepath.Join(dir, "cut.aof")
	cutPreamble := filepath.Join(dir, "cut-preamble.aof")
	for name, b := range map[string][]byte{
		cutRDB:      data[:len(data)-3],
		cutAOF:      []byte("*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nc"),
		cutPreamble: append(bytes.Clone(data), "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1"...),
	} {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, file   string
		want, refuse string
	}{
		{"rdb", cutRDB, "before the RDB end marker", "AOF"},
		{"aof", cutAOF, "AOF", "RDB end marker"},
		{"preamble", cutPreamble, "AOF", "RDB end marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := redistest.Start(t, redistest.Options{})
			for _, args := range [][]string{
				{"convert", "--to", "resp", "-q", "-o", filepath.Join(dir, "out"), tc.file},
				{"restore", "--to", dst.URL(), tc.file},
				{"compare", "-q", tc.file, dst.URL()},
			} {
				r := redkit(t, nil, args...)
				if r.code == 0 {
					t.Fatalf("%v: exit 0", args)
				}
				if !strings.Contains(r.stderr, "hint:") || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, tc.refuse) {
					t.Errorf("%v: stderr should say %q and not %q:\n%s", args, tc.want, tc.refuse, r.stderr)
				}
			}
		})
	}
}
