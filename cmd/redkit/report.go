package main

import (
	"fmt"
	"net"

	"github.com/redkit/redkit/backup"
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

// sumKeys is the total of a per-database key count.
func sumKeys(keys map[int]int64) int64 {
	var n int64
	for _, k := range keys {
		n += k
	}
	return n
}

// sourceLabel is a short name of a backup's source.
func sourceLabel(s backup.SourceInfo) string {
	if s.Kind == "live" && s.Host != "" {
		if h, p, err := net.SplitHostPort(s.Host); err == nil {
			return h + ":" + p
		}
		return s.Host
	}
	return s.URL
}
