// Package redistest starts real redis-server processes for tests.
//
// Each call to Start launches one server on 127.0.0.1 at a port picked
// for it, with its own working directory under t.TempDir(), and registers a
// cleanup that stops it. The server never writes a dump or an AOF on its
// own (save "", appendonly no), so a test that wants a dump asks for one
// with Save; diskless replication starts at once
// (repl-diskless-sync-delay 0) and DEBUG is allowed from loopback
// (enable-debug-command local). Options.Config and Options.Args override
// these defaults.
//
// The servers are Redis 7 (Debian 12's redis-server 7.0.15 writes RDB
// version 10) or Valkey (valkey-server, RDB 11), found on PATH.
//
// When the server binary is not installed, Start skips the test, unless
// the environment variable REDKIT_REQUIRE_REDIS is 1 or CI is true: then
// it fails the test, so that CI and ./scripts/test.sh (which installs
// redis-server and sets REDKIT_REQUIRE_REDIS=1) never pass by skipping.
//
// Start, Save and Version report problems through the testing.TB they are
// given (t.Fatal, t.Skip) and return only usable values; Do and the go-redis
// client return errors as usual. Start may be called from parallel tests:
// every server has its own port, directory and process, and nothing in
// the package is shared between servers.
package redistest
