// Package s3 is the storage.Backend of Amazon S3 and S3-compatible
// stores (s3://bucket/prefix URLs; ParseURL), with aws-sdk-go-v2.
//
// Credentials and the region come from the SDK's default chain
// (AWS_ACCESS_KEY_ID and friends, AWS_PROFILE and the shared files, IMDS);
// a URL with credentials in it is refused. The endpoint of an
// S3-compatible store comes from Options.Endpoint, else
// AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; path-style addressing is
// used by itself for an endpoint that is an IP address or localhost, and
// always with Options.PathStyle.
//
// What it guarantees, as every storage.Backend (the storagetest suite
// checks it against a real S3 server):
//
//   - Put streams a body of unknown size through the transfer manager,
//     in parts of Options.PartSize bytes (Options.Concurrency of them in
//     flight, so memory is bounded by about PartSize x (Concurrency+1)),
//     each with a CRC32 checksum the store verifies. The object appears
//     only when the upload completes (S3's own atomicity); a failed or
//     cancelled upload is aborted, leaving no object and no pending
//     multipart upload, and Cleanup aborts those of a process that died
//     first (begun before the time given, under the prefix).
//   - A missing object is an error wrapping fs.ErrNotExist (NoSuchKey,
//     NotFound); Delete of a missing object is not an error. A missing
//     bucket, or credentials the store refuses, get errors that say so.
//   - Get reads a range (length bytes from offset, to the end when
//     length < 0) with one ranged GetObject; the caller closes the body.
//   - List pages through ListObjectsV2 for the keys under the URL's
//     prefix that begin with the prefix given, and returns them sorted by
//     key, relative to the URL's prefix.
//   - Transient errors are retried by the SDK (Options.Retries attempts).
//     Errors name the operation and the object's URL, never a secret.
package s3
