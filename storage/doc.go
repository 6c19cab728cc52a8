// Package storage moves bytes to and from backup storage behind one small
// Backend interface. Its implementations live in sub-packages, one per
// kind of store: storage/file (file://, a local or mounted directory) and
// storage/s3 (s3://, Amazon S3 and S3-compatible stores). The
// storagetest package is the behaviour suite every implementation passes.
//
// A Backend stores objects by key, relative to its root (the URL's path
// or prefix). Put takes a stream of unknown size and makes the object
// visible only once it is complete: a failed or cancelled Put leaves no
// object behind (nor a temporary file or a pending multipart upload). A
// missing object is an error wrapping fs.ErrNotExist. Backends never
// parse what they store, and never put a secret in an error or a URL.
package storage
