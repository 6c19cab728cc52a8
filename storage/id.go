package storage

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewID returns an id for something started at t (a backup, a lock): the
// start time in UTC and a random suffix (20261126T020700Z-3f9a1c), so
// that ids sort by time and are never reused.
func NewID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
