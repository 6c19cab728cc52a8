// Package storage will move bytes to and from backup storage behind one
// Backend interface (file:// and s3://), with streamed, compressed and
// checksummed objects, a backup catalog and retention. It never parses
// what it stores. It is empty until that work lands.
package storage
