// Package storage moves bytes to and from backup storage, and nothing
// else: it imports no Redis format (no aof, rdb or sync), parses nothing
// it stores and dials no server. Its contract:
//
//   - Backend: one small interface, a store of objects by key, relative
//     to its root (the URL's path or prefix). Its implementations live in
//     sub-packages, one per kind of store: storage/file (file://, a local
//     or mounted directory) and storage/s3 (s3://, Amazon S3 and
//     S3-compatible stores); storagetest is the behaviour suite every
//     implementation passes. Put takes a stream of unknown size and makes
//     the object visible only once it is complete: a failed or cancelled
//     Put leaves no object behind. A missing object is an error wrapping
//     fs.ErrNotExist. Backends never put a secret in an error or a URL.
//   - Cleaner: the optional ability to remove what interrupted Puts left
//     behind (a temporary file, a pending multipart upload).
//   - The object codec: CreateObject streams an object through
//     compression (zstd, gzip or none) -> age encryption (to a Codec's
//     recipients, if any) -> SHA-256 of the stored bytes -> Put, with
//     bounded memory and no temporary file; the ObjectWriter says what it
//     stored (RawBytes, StoredBytes, SHA256). OpenObject reads one back
//     from the parameters it was written with (ObjectParams: its SHA-256,
//     compression, encryption), never from a catalog's types: the stored
//     bytes are hashed as they come and checked at their end (ErrChecksum);
//     an encrypted object opened without an identity is an
//     *EncryptedError (ErrEncrypted). Encoder is the same compression and
//     encryption over any writer.
//   - Lock: one run at a time works on a storage (locks/ under the
//     root), with a holder that names itself (ErrLocked).
//
// What the objects mean (backups, manifests, segments) is package
// backup's business.
package storage
