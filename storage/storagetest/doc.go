// Package storagetest is the behaviour suite every storage.Backend
// passes: the same tests, run against file:// and against a real S3
// server. Run(t, newBackend, opts) runs it on fresh, empty backends.
//
// The contract it checks, which callers of a Backend may rely on:
//
//   - RoundTrip: Put of a body of unknown size (a reader with no Seek,
//     Len or WriteTo: a live snapshot piped through) stores it whole and
//     returns its size, for empty, small and big (several parts: opts.
//     BigSize, default 12 MiB) objects under nested keys; Get returns the
//     same bytes, Stat its key, size and a recent ModTime; a second Put
//     replaces the object.
//   - Ranges: Get(key, offset, length) returns exactly that range,
//     length < 0 meaning to the end, a length past the end stopping there,
//     length 0 nothing.
//   - Missing: Get (whole or a range) and Stat of a missing object fail
//     with an error wrapping fs.ErrNotExist; Delete of one succeeds; List
//     of an empty backend returns nothing.
//   - ListDelete: List(prefix) returns the objects whose keys begin with
//     the prefix (a string prefix: "a" lists "a/1" and "ab"), sorted by
//     key, with their sizes; Delete removes one object.
//   - FailedPut: a Put whose body fails after several parts, or whose
//     context is cancelled half-way, returns an error and leaves no
//     object, nothing listed, and (opts.Pending) no temporary file or
//     pending multipart upload.
//   - Cleanup: a storage.Cleaner with nothing left behind removes
//     nothing, and never a stored object.
//   - BadKeys: Put and Get of an empty key, a leading or trailing "/",
//     an empty, "." or ".." segment, or a NUL fail with storage.ErrBadKey.
package storagetest
