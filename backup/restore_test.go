package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/storage"
)

// restoreSampleKeys counts the keys of testdata/sample.rdb per database.
func restoreSampleKeys(t *testing.T, data []byte) map[int]int64 {
	t.Helper()
	keys := map[int]int64{}
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == rdb.KindKey {
			keys[rec.DB]++
		}
	}
}

// writeSnapshots stores n copies of data as the objects of one backup,
// each counted with keys in the manifest.
func writeSnapshots(t *testing.T, b storage.Backend, data []byte, n int, keys map[int]int64) *backup.Manifest {
	t.Helper()
	ctx := context.Background()
	c := storage.Codec{Compression: "zstd"}
	m := &backup.Manifest{ID: backup.NewID(time.Now()), Compression: c.Compression, Keys: map[int]int64{}}
	for i := range n {
		name := "dump-" + strconv.Itoa(i) + c.Ext()
		w, err := storage.CreateObject(ctx, b, backup.Key(m.ID, name), c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		e := backup.NewObjectEntry(name, w)
		e.Keys = keys
		m.Objects = append(m.Objects, e)
		m.StoredBytes += e.StoredBytes
	}
	if err := backup.WriteManifest(ctx, b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// countInto is a RestoreFunc that writes each input as RESP to nowhere
// and counts the keys and the inputs.
type countInto struct {
	keys, inputs int64
	fail         func(in backup.RestoreInput) error // when it returns an error, the input stops there
}

func (c *countInto) restore(ctx context.Context, in backup.RestoreInput) error {
	c.inputs++
	if c.fail != nil {
		if err := c.fail(in); err != nil {
			_, _ = in.Source.Next() // the target fails after the first item
			return err
		}
	}
	sink := pipeline.NewRESPSink(io.Discard, pipeline.RESPOptions{})
	if err := pipeline.Copy(ctx, in.Source, sink, pipeline.Options{}); err != nil {
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	c.keys += sink.Stats().Keys
	return nil
}

func TestRestore(t *testing.T) {
	data, err := os.ReadFile("../testdata/sample.rdb")
	if err != nil {
		t.Fatal(err)
	}
	keys := restoreSampleKeys(t, data)
	var total int64
	for _, n := range keys {
		total += n
	}
	ctx := context.Background()
	errTarget := errors.New("the target went away")

	t.Run("whole", func(t *testing.T) {
		b, _ := newFile(t)
		m := writeSnapshots(t, b, data, 2, keys)
		var into countInto
		if err := backup.Restore(ctx, b, m, into.restore, backup.RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, want := into.keys, 2*total; got != want || into.inputs != 2 {
			t.Errorf("got %d keys from %d inputs, want %d from 2", got, into.inputs, want)
		}
	})

	t.Run("key count differs", func(t *testing.T) {
		b, _ := newFile(t)
		m := writeSnapshots(t, b, data, 1, map[int]int64{0: 1})
		var into countInto
		err := backup.Restore(ctx, b, m, into.restore, backup.RestoreOptions{})
		var me *backup.MismatchError
		if !errors.As(err, &me) || !errors.Is(err, backup.ErrKeyCount) {
			t.Fatalf("got %v, want a *MismatchError wrapping ErrKeyCount", err)
		}
		// A replay does not count the keys.
		if err := backup.Restore(ctx, b, m, into.restore, backup.RestoreOptions{Replay: true}); err != nil {
			t.Fatalf("with Replay: %v", err)
		}
	})

	t.Run("target fails", func(t *testing.T) {
		b, _ := newFile(t)
		m := writeSnapshots(t, b, data, 2, keys)
		into := countInto{fail: func(backup.RestoreInput) error { return errTarget }}
		err := backup.Restore(ctx, b, m, into.restore, backup.RestoreOptions{})
		var se *backup.StoppedEarlyError
		if !errors.As(err, &se) || !errors.Is(err, errTarget) {
			t.Fatalf("got %v, want a *StoppedEarlyError wrapping the target's error", err)
		}
		if e := m.Objects[0]; se.Object != e.Name || se.Stored != e.StoredBytes || se.Read > se.Stored || into.inputs != 1 {
			t.Errorf("stopped in %s after %d of %d bytes, %d inputs; want %s, %d bytes stored, 1 input", se.Object, se.Read, se.Stored, into.inputs, e.Name, e.StoredBytes)
		}
	})

	t.Run("keys failed go on", func(t *testing.T) {
		b, _ := newFile(t)
		m := writeSnapshots(t, b, data, 2, keys)
		var into countInto
		failing := func(ctx context.Context, in backup.RestoreInput) error {
			if err := into.restore(ctx, in); err != nil {
				return err
			}
			return fmt.Errorf("3 %w", pipeline.ErrKeysFailed)
		}
		err := backup.Restore(ctx, b, m, failing, backup.RestoreOptions{})
		if !errors.Is(err, pipeline.ErrKeysFailed) || into.inputs != 2 {
			t.Fatalf("got %v after %d inputs, want ErrKeysFailed after 2", err, into.inputs)
		}
	})

	t.Run("damaged", func(t *testing.T) {
		b, dir := newFile(t)
		m := writeSnapshots(t, b, data, 1, keys)
		path := filepath.Join(dir, filepath.FromSlash(backup.Key(m.ID, m.Objects[0].Name)))
		stored, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		stored[len(stored)/2] ^= 0xff
		if err := os.WriteFile(path, stored, 0o644); err != nil {
			t.Fatal(err)
		}
		var into countInto
		err = backup.Restore(ctx, b, m, into.restore, backup.RestoreOptions{})
		var ce *backup.StreamedChecksumError
		if !errors.As(err, &ce) || !errors.Is(err, storage.ErrChecksum) {
			t.Fatalf("got %v, want a *StreamedChecksumError wrapping storage.ErrChecksum", err)
		}
		if err := backup.VerifyObject(ctx, b, m, m.Objects[0], storage.Codec{}); !errors.Is(err, storage.ErrChecksum) {
			t.Errorf("VerifyObject: got %v, want storage.ErrChecksum", err)
		}
	})
}
