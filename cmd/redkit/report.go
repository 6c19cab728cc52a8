package main

import (
	"fmt"

	"github.com/redkit/redkit/internal/dumpfile"
)

// Text shared by the reports of check and analyze.

// sizeLine says how a dump is stored: its size, compression and RDB bytes.
func sizeLine(size int64, compression dumpfile.Compression, rdbBytes int64) string {
	stored := "unknown size"
	if size >= 0 {
		stored = fmt.Sprintf("%d bytes", size)
	}
	how := "uncompressed"
	if compression != dumpfile.None {
		how = string(compression)
	}
	return fmt.Sprintf("%s stored (%s), %d bytes of RDB", stored, how, rdbBytes)
}
