package rdb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/compare"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// payloadLib is a function library long enough for the server to
// compress its code with LZF in FUNCTION DUMP.
var payloadLib = "#!lua name=paylib\n" + strings.Repeat("-- padding padding padding\n", 20) +
	"redis.register_function('pf', function(keys, args) return 1 end)"

// TestWritePayloadLive writes an RDB from the DUMP payloads of a real
// server filled with every type and encoding (three databases, expiries,
// a function library) and compares it with the server's own SAVE: same
// keys, values and expiries, the same library.
func TestWritePayloadLive(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, srv.Client(), 3); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Do(ctx, "FUNCTION", "LOAD", payloadLib).Err(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := rdb.NewWriter(&buf, rdb.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fdump, err := srv.Client().Do(ctx, "FUNCTION", "DUMP").Text()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.WriteFunctionsPayload([]byte(fdump)); err != nil || n != 1 {
		t.Fatalf("WriteFunctionsPayload: %d libraries, %v", n, err)
	}
	conn := srv.Client().Conn()
	defer conn.Close()
	keys := 0
	for db := 0; db < 3; db++ {
		if err := conn.Select(ctx, db).Err(); err != nil {
			t.Fatal(err)
		}
		var cursor uint64
		for {
			batch, next, err := conn.Scan(ctx, cursor, "", 1000).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range batch {
				p, err := conn.Dump(ctx, k).Result()
				if err != nil {
					t.Fatal(err)
				}
				exp, err := conn.Do(ctx, "PEXPIRETIME", k).Int64()
				if err != nil {
					t.Fatal(err)
				}
				if err := w.WritePayload(db, []byte(k), exp, []byte(p)); err != nil {
					t.Fatalf("WritePayload %q: %v", k, err)
				}
				keys++
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if keys < 1000 {
		t.Fatalf("only %d keys", keys)
	}
	saved, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := compare.Compare(ctx2,
		compare.NewRDBSource("written", rdb.NewReader(bytes.NewReader(buf.Bytes())), compare.DumpOptions{}),
		compare.NewRDBSource("saved", rdb.NewReader(bytes.NewReader(saved)), compare.DumpOptions{}),
		compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() || res.KeysA != int64(keys) || res.KeysB != int64(keys) {
		t.Fatalf("written vs saved: %d and %d keys (%d written), differences %v", res.KeysA, res.KeysB, keys, res.Diffs)
	}
	libs := functions(t, buf.Bytes())
	if len(libs) != 1 || libs[0] != payloadLib {
		t.Fatalf("functions in the written file: %q", libs)
	}
	// The file loads into a real server as it is.
	dst := redistest.Start(t, redistest.Options{})
	if err := os.WriteFile(filepath.Join(dst.Dir(), "dump.rdb"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dst.Restart(t, false)
	if n := dbsize(t, dst.Client(), 3); n != keys {
		t.Fatalf("the loading server has %d keys, want %d", n, keys)
	}
}

// dbsize sums DBSIZE over databases 0 to dbs-1.
func dbsize(t *testing.T, c *redis.Client, dbs int) int {
	t.Helper()
	conn := c.Conn()
	defer conn.Close()
	n := 0
	for db := 0; db < dbs; db++ {
		if err := conn.Select(context.Background(), db).Err(); err != nil {
			t.Fatal(err)
		}
		k, err := conn.DBSize(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		n += int(k)
	}
	return n
}

func functions(t *testing.T, file []byte) []string {
	t.Helper()
	rd := rdb.NewReader(bytes.NewReader(file))
	var libs []string
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return libs
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rdb.KindFunction {
			libs = append(libs, string(rec.Data))
		}
	}
}

// payload makes a DUMP payload of a string value with this trailer.
func payload(version uint16, body []byte) []byte {
	b := append([]byte{}, body...)
	b = binary.LittleEndian.AppendUint16(b, version)
	return binary.LittleEndian.AppendUint64(b, rdb.CRC64(b))
}

// TestWritePayloadBad: bad payloads are errors, never panics, and write
// nothing.
func TestWritePayloadBad(t *testing.T) {
	good := payload(10, []byte{0, 3, 'a', 'b', 'c'})
	badCRC := append([]byte{}, good...)
	badCRC[len(badCRC)-1] ^= 1
	badBody := append([]byte{}, good...)
	badBody[2] = 'x'
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, rdb.ErrCorrupt},
		{"too short", good[:10], rdb.ErrCorrupt},
		{"bad crc", badCRC, rdb.ErrChecksum},
		{"changed body", badBody, rdb.ErrChecksum},
		{"newer version", payload(11, []byte{0, 1, 'a'}), nil},
		{"valkey version", payload(80, []byte{0, 1, 'a'}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := rdb.NewWriter(&buf, rdb.WriterOptions{Version: 10})
			if err != nil {
				t.Fatal(err)
			}
			err = w.WritePayload(0, []byte("k"), -1, tc.payload)
			if err == nil {
				t.Fatal("no error")
			}
			var ve *rdb.VersionError
			if tc.want != nil && !errors.Is(err, tc.want) || tc.want == nil && !errors.As(err, &ve) {
				t.Fatalf("error %v", err)
			}
			if _, err := w.WriteFunctionsPayload(tc.payload); err == nil {
				t.Fatal("WriteFunctionsPayload: no error")
			}
			// Nothing half-written: the writer still makes a valid file.
			if err := w.WritePayload(0, []byte("k"), -1, good); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			rd := rdb.NewReader(&buf)
			n := 0
			for {
				rec, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("reading back: %v", err)
				}
				if rec.Kind == rdb.KindKey {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("reading back: %d keys", n)
			}
		})
	}
	// A key payload is not a functions payload.
	w, _ := rdb.NewWriter(&bytes.Buffer{}, rdb.WriterOptions{})
	if _, err := w.WriteFunctionsPayload(good); err == nil {
		t.Fatal("WriteFunctionsPayload took a key's payload")
	}
	if _, err := w.WriteFunctionsPayload(rdb.FunctionsDump([][]byte{[]byte(payloadLib)})); err != nil {
		t.Fatal(err)
	}
}

// FuzzWritePayload: whatever the payload, an error or a written key, no
// panic.
func FuzzWritePayload(f *testing.F) {
	f.Add(payload(10, []byte{0, 3, 'a', 'b', 'c'}))
	f.Add(payload(10, []byte{0}))
	f.Add(payload(9, []byte{2, 1, 1, 'x'}))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, p []byte) {
		w, err := rdb.NewWriter(&bytes.Buffer{}, rdb.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_ = w.WritePayload(1, []byte("key"), 123, p)
		_, _ = w.WriteFunctionsPayload(p)
		_ = w.Close()
	})
}
