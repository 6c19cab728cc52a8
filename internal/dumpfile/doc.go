// Package dumpfile opens dump inputs for reading: a file path, or "-" for
// standard input.
//
// Open sniffs the first bytes and transparently decompresses gzip
// (magic 1f 8b, multi-member streams included) and zstd (magic 28 b5 2f fd)
// input; anything else is passed through as is, so an RDB, AOF or any
// other payload reads unchanged. The returned *File reads the
// decompressed bytes and reports, for progress display, the size of the
// input as stored (Size, -1 when unknown as for pipes and standard input)
// and how many stored (compressed) bytes have been read so far
// (StoredRead, safe to call from another goroutine).
//
// Reads fail with the context's error once the context passed to Open is
// done, so a cancelled command stops promptly. Errors name the path.
// The caller must Close the File; closing does not close standard input.
package dumpfile
