package backup

import (
	"context"
	"errors"
	"io"

	"github.com/redkit/redkit/storage"
)

// VerifyObject reads an object of a backup whole: SHA-256, decryption,
// decompression and a full parse (an RDB's CRC64 included), and
// compares its keys per database with the manifest's (CheckObject).
func VerifyObject(ctx context.Context, b storage.Backend, m *Manifest, e ObjectEntry, codec storage.Codec) error {
	or, err := OpenObject(ctx, b, m, e, codec)
	if err != nil {
		return err
	}
	defer or.Close()
	return CheckObject(or, e, nil, "")
}

// CheckObject reads an opened object to its end and checks it: a full
// parse (an RDB's CRC64 included), its SHA-256, and its keys per
// database against the manifest's (a *KeyCountError). When w is not
// nil, what is read is written to it too, its failures an *IOError
// saying "<what>: <error>" (the object's checksum, on a stream read in
// part, is then not checked). A damaged object is storage.ErrChecksum,
// whatever the parse said.
func CheckObject(or *storage.ObjectReader, e ObjectEntry, w io.Writer, what string) error {
	var r io.Reader = or
	if w != nil {
		r = Tee(or, w, what)
	}
	var keys map[int]int64
	var err error
	if e.Role != "" {
		keys, _, _, err = ScanAOFFile(r)
	} else {
		keys, _, err = ScanSnapshot(r)
	}
	if err == nil && w != nil {
		// The rest of the stream, if the parser left any, through the tee.
		_, err = io.Copy(io.Discard, r)
	}
	if errors.As(err, new(*IOError)) {
		// The output failed, not the object: its checksum, on a stream
		// read in part (and still being decompressed), says nothing.
		return err
	}
	// The checksum comes first: damaged bytes explain a parse error.
	if verr := or.Verify(); verr != nil && (err == nil || errors.Is(verr, storage.ErrChecksum)) {
		err = verr
	}
	if err != nil {
		return err
	}
	return e.CheckKeys(keys)
}

// GenerationCheck sums up the segments of a verified generation.
type GenerationCheck struct {
	Segments    int
	Records     int64 // commands
	StoredBytes int64
}

// VerifyGeneration reads every segment of a continuous base's
// generation whole (SHA-256, each record's CRC-32C, the record count); a
// segment missing from the generation is an error too, once those
// listed are read.
func VerifyGeneration(ctx context.Context, b storage.Backend, m *Manifest, codec storage.Codec) (GenerationCheck, error) {
	segs, gerr := GenerationSegments(ctx, b, m)
	for _, si := range segs {
		if err := VerifySegment(ctx, b, si, m.Compression, codec); err != nil {
			return GenerationCheck{}, err
		}
	}
	g := GenerationCheck{Segments: len(segs)}
	for _, s := range segs {
		g.Records, g.StoredBytes = g.Records+s.Records, g.StoredBytes+s.StoredBytes
	}
	return g, gerr
}
