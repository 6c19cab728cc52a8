// Package file is the storage.Backend of a local or mounted directory:
// file:///abs/dir URLs (file://rel/dir for a path relative to the working
// directory; ParseURL). New creates the directory if needed.
//
// Keys are slash-separated paths under the root directory, checked with
// storage.CheckKey (a bad key is storage.ErrBadKey); directories are
// created as objects need them and removed by Delete once empty.
//
// What it guarantees, as every storage.Backend (the storagetest suite
// checks it):
//
//   - Put is atomic: it writes a temporary file beside the object
//     (".redkit-tmp.<name>.<random>"), fsyncs it, renames it into place
//     and fsyncs the directory, so an object is whole or absent, even
//     after a crash. A failed or cancelled Put removes its temporary
//     file; Cleanup removes those of a process that died first (begun
//     before the time given, under the prefix). Temporary files are never
//     listed.
//   - Put takes a body of unknown size (any io.Reader, read to io.EOF)
//     and returns the bytes stored; a second Put of a key replaces it.
//   - A missing object (or a key that is a directory) is an error
//     wrapping fs.ErrNotExist, from Get and Stat; Delete of a missing
//     object is not an error.
//   - Get reads a range: length bytes from offset, to the end when
//     length < 0, fewer when the object ends first; an offset past the
//     end is an error. The caller closes the reader.
//   - List returns the regular files whose keys begin with the prefix
//     (a plain string prefix, not only a directory), sorted by key.
//   - Errors name the operation and the key ("put a/b: ...") and wrap
//     the operating system's.
package file
