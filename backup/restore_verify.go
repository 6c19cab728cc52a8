package backup

// VerifyObject and CheckObject, for restores (verify-first, to-file).
// Helper H4's backup/verify.go of issue 15 has the same two functions
// with the same signatures: when both land, delete this file.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
	"github.com/redkit/redkit/storage"
)

// VerifyObject reads an object of m whole: SHA-256, decryption,
// decompression and a full parse (an RDB's CRC64 included), and compares
// its keys with the manifest's (CheckObject).
func VerifyObject(ctx context.Context, b storage.Backend, m *Manifest, e ObjectEntry, c storage.Codec) error {
	or, err := OpenObject(ctx, b, m, e, c)
	if err != nil {
		return err
	}
	defer or.Close()
	return CheckObject(or, e, nil, "")
}

// OutputError is a failure of the output a checked object is copied to,
// as opposed to the object's: Err says "<what>: <the write's error>".
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// CheckObject reads an opened object to its end and checks it: a full
// parse (an RDB's CRC64 included, or a multi-part AOF file's commands),
// its SHA-256 (storage.ErrChecksum first: damaged bytes explain a parse
// error), and its keys per database against the manifest's (a
// *KeyCountError). When w is not nil, what is read is written to it too,
// its failures returned as an *OutputError saying "<what>: <error>"
// (the object's checksum then says nothing).
func CheckObject(or *storage.ObjectReader, e ObjectEntry, w io.Writer, what string) error {
	var r io.Reader = or
	if w != nil {
		r = &teeOutput{r: or, w: w, what: what}
	}
	var keys map[int]int64
	var err error
	if e.Role != "" {
		keys, err = scanAOFFile(r)
	} else {
		keys, _, err = scanRDB(r)
	}
	if err == nil && w != nil {
		// The rest of the stream, if the parser left any, through the tee.
		_, err = io.Copy(io.Discard, r)
	}
	if errors.As(err, new(*OutputError)) {
		return err
	}
	if verr := or.Verify(); verr != nil && (err == nil || errors.Is(verr, storage.ErrChecksum)) {
		err = verr
	}
	if err != nil {
		return err
	}
	return e.CheckKeys(keys)
}

// teeOutput is io.TeeReader whose failed writes come out as an
// *OutputError.
type teeOutput struct {
	r    io.Reader
	w    io.Writer
	what string
}

func (t *teeOutput) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			// The file's own name is the temporary one: what names it.
			if pe, ok := werr.(*fs.PathError); ok {
				werr = pe.Err
			}
			return n, &OutputError{Err: fmt.Errorf("%s: %w", t.what, werr)}
		}
	}
	return n, err
}

// scanAOFFile checks a file of a multi-part AOF: an RDB (a base, maybe)
// and the commands after it; it counts the RDB's keys per database.
func scanAOFFile(r io.Reader) (map[int]int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var keys map[int]int64
	var rest io.Reader = br
	if head, err := br.Peek(5); err == nil && string(head) == "REDIS" {
		var err error
		if keys, rest, err = scanRDB(br); err != nil {
			return nil, err
		}
	}
	cr := aof.NewRESPReader(rest)
	for {
		_, err := cr.ReadCommand()
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			if oe := (*OutputError)(nil); errors.As(err, &oe) {
				return nil, oe
			}
			return nil, fmt.Errorf("not a valid AOF: %w", err)
		}
	}
}

// scanRDB reads an RDB stream to its end, checking it (CRC64 included)
// and counting keys per database; it returns what follows the RDB in r.
func scanRDB(r io.Reader) (map[int]int64, io.Reader, error) {
	rr := rdb.NewReader(r)
	keys := map[int]int64{}
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return keys, rr.Rest(), nil
		}
		if err != nil {
			if oe := (*OutputError)(nil); errors.As(err, &oe) {
				return nil, nil, oe // the output failed, not the snapshot
			}
			if ne := net.Error(nil); errors.As(err, &ne) {
				return nil, nil, fmt.Errorf("reading the snapshot: %w", err) // the link, not the RDB
			}
			return nil, nil, fmt.Errorf("the snapshot is not a valid RDB: %w", err)
		}
		if rec.Kind == rdb.KindKey {
			keys[rec.DB]++
		}
	}
}
