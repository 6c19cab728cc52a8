package rdb

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Parse errors wrap one of them (or io.ErrUnexpectedEOF
// for truncated input) in a *ParseError.
var (
	ErrBadMagic           = errors.New("not an RDB file (bad magic)")
	ErrUnsupportedVersion = errors.New("unsupported RDB version")
	ErrUnsupportedType    = errors.New("unsupported value type")
	ErrChecksum           = errors.New("CRC64 checksum mismatch")
	ErrCorrupt            = errors.New("corrupt data")
)

// ParseError reports where in the file reading failed. Truncated input
// wraps io.ErrUnexpectedEOF; corruption wraps ErrCorrupt or a more
// precise sentinel.
type ParseError struct {
	Offset int64  // file offset of the byte where the problem was found
	Key    []byte // key being read, if known
	Err    error
}

func (e *ParseError) Error() string {
	if e.Key != nil {
		return fmt.Sprintf("offset %d: key %q: %v", e.Offset, e.Key, e.Err)
	}
	return fmt.Sprintf("offset %d: %v", e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// VersionError means a Writer cannot write a value in the RDB version it
// was set to: a newer version, Need, can.
type VersionError struct {
	Key        []byte
	What       string // what needs the newer version
	Need, Have int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("key %q: %s need RDB %d or later, this file is RDB %d", e.Key, e.What, e.Need, e.Have)
}

// IsTruncated reports whether err means the input ended early.
func IsTruncated(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
