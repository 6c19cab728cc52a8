package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	rsync "github.com/redkit/redkit/sync"
)

// Flags and helpers of the commands that talk to live servers.

// tlsFlags are the TLS flags of commands that connect to servers.
func tlsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-ca", EnvVars: []string{"REDKIT_TLS_CA"}, Usage: "verify servers against the CA certificates in `FILE` (PEM); any --tls-* flag makes the connections TLS, as rediss:// does"},
		&cli.StringFlag{Name: "tls-cert", EnvVars: []string{"REDKIT_TLS_CERT"}, Usage: "client certificate `FILE` (PEM)"},
		&cli.StringFlag{Name: "tls-key", EnvVars: []string{"REDKIT_TLS_KEY"}, Usage: "client key `FILE` (PEM)"},
		&cli.StringFlag{Name: "tls-server-name", EnvVars: []string{"REDKIT_TLS_SERVER_NAME"}, Usage: "expect `NAME` in the server's certificate instead of the URL's host"},
		&cli.BoolFlag{Name: "tls-insecure", EnvVars: []string{"REDKIT_TLS_INSECURE"}, Usage: "do not verify server certificates (testing only)"},
	}
}

func tlsFromFlags(c *cli.Context) rsync.TLSOptions {
	return rsync.TLSOptions{CA: c.String("tls-ca"), Cert: c.String("tls-cert"), Key: c.String("tls-key"),
		ServerName: c.String("tls-server-name"), Insecure: c.Bool("tls-insecure")}
}

// connOptions are the connection options for ep: its user and password,
// the timeout for connecting, reading and writing, and TLS when the URL
// is rediss:// or TLS flags were given.
func connOptions(ep *rsync.Endpoint, tlsOpts rsync.TLSOptions, timeout time.Duration, name string) (rsync.Options, error) {
	copts := rsync.Options{Username: ep.Username, Password: ep.Password, ConnectTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, Name: name}
	if ep.TLS || tlsOpts != (rsync.TLSOptions{}) {
		var err error
		if copts.TLS, err = tlsOpts.Config(); err != nil {
			return copts, withAdvice(err)
		}
	}
	return copts, nil
}

// passwordFor returns the password for ep given outside its URL: the
// file's first line, else the environment variable env, else
// REDISCLI_AUTH when the URL has no password of its own (user:password@
// or :password@), as redis-cli takes it; "" when there is none. Set it
// with ep.SetPassword: a bare userinfo (redis://alice@host) then names
// the user, where without a password from elsewhere it is the password,
// as for redis-cli.
func passwordFor(ep *rsync.Endpoint, file, env string) (string, error) {
	pw, err := passwordFrom(file, env)
	if err != nil || pw != "" || ep.HasPassword() {
		return pw, err
	}
	return os.Getenv("REDISCLI_AUTH"), nil
}

// passwordRule is the help text on passwords given outside URLs.
const passwordRule = `A password from a file or the environment replaces the URL's, and a
bare userinfo then names the user: REDKIT_FROM_PASSWORD=pw with
--from redis://alice@host logs in as alice. Without one, a bare userinfo
is the password, as redis-cli takes it (redis://pw@host). REDISCLI_AUTH
is the last resort, as for redis-cli, for a URL without a password of
its own (user:password@ or :password@); it too makes a bare userinfo the
user.`

// isServerURL tells a server's URL, or what was meant as one (a
// misspelt scheme: redis:host, redis//:pw@host), from a file's path. A
// file that exists is a file.
func isServerURL(arg string) bool {
	if strings.Contains(arg, "://") {
		return true
	}
	if !rsync.LooksLikeURL(arg) {
		return false
	}
	_, err := os.Stat(arg)
	return err != nil
}

// passwordFrom returns the password from a file (its first line) or the
// environment variable, "" when neither is set.
func passwordFrom(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	return os.Getenv(env), nil
}

// connectHint says what to do about a failure to reach or use a server,
// "" when there is nothing useful to say.
func connectHint(err error) string {
	var (
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		ne  net.Error
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens there: check the host and port in the URL, and that the server is running"
	case errors.As(err, &uae):
		return "the server's certificate is signed by an unknown authority: give its CA with --tls-ca (or --tls-insecure, for tests only)"
	case errors.As(err, &hne):
		return "the server's certificate is for another name: use the name it was issued for, or --tls-server-name"
	case rsync.ErrorCode(err) == "NOPERM":
		return "the user lacks an ACL permission: grant it (ACL SETUSER) or use another user"
	case rsync.ErrorCode(err) == "NOAUTH":
		return "the server needs a password: put it in the URL, REDKIT_TO_PASSWORD or --to-password-file"
	case errors.As(err, new(*rsync.StallError)):
		return "the source sent nothing for --timeout (a stalled server, or a network partition): check it, or raise --timeout if it is only slow"
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer in time: check that the address is reachable (firewall, TLS port) or raise --timeout"
	}
	return ""
}

// endpointOptions parses a URL and returns its connection options, the
// password from file or env (passwordFor) overriding the URL's. cmd
// names the command in errors.
func endpointOptions(cmd, flag, raw, passwordFile, passwordEnv string, tlsOpts rsync.TLSOptions, timeout time.Duration) (*rsync.Endpoint, rsync.Options, error) {
	var copts rsync.Options
	if raw == "" {
		return nil, copts, usageErrorf("%s: --%s URL is required, e.g. --%s redis://127.0.0.1:6379", cmd, flag, flag)
	}
	ep, err := rsync.ParseURL(raw)
	if err != nil {
		return nil, copts, usageErrorf("%s: --%s: %v", cmd, flag, err)
	}
	pw, err := passwordFor(ep, passwordFile, passwordEnv)
	if err != nil {
		return nil, copts, usageErrorf("%s: %v", cmd, err)
	}
	if pw != "" {
		ep.SetPassword(pw)
	}
	if copts, err = connOptions(ep, tlsOpts, timeout, "redkit-sync"); err != nil {
		return nil, copts, usageErrorf("%s: %v", cmd, err)
	}
	return ep, copts, nil
}

// linkTimeoutOf is linkTimeout for the --timeout given.
func linkTimeoutOf(timeout time.Duration) time.Duration {
	if timeout > 0 {
		return timeout
	}
	return -1
}

// liveConnectError explains a failure to reach a server, with a hint
// when there is one; never with a password.
func liveConnectError(gopts globalOptions, cmd, ep string, err error) error {
	if h := connectHint(err); h != "" {
		return failed(gopts, exitError, err, fmt.Sprintf("%s: %s: %s", cmd, ep, rsync.Redact(err.Error())), h)
	}
	return fmt.Errorf("%s: %s: %s", cmd, ep, rsync.Redact(err.Error()))
}

// snapshotWaitNote says, once per link, that the source keeps it
// waiting before the snapshot, and why: the source's
// repl-diskless-sync-delay when CONFIG GET is allowed (on a connection
// of its own, with copts), else what it may be. note logs the message.
func snapshotWaitNote(ctx context.Context, copts rsync.Options, note func(msg string, attrs ...any)) func(rsync.SnapshotWait) {
	return func(w rsync.SnapshotWait) {
		if w.FullResync {
			note("the source writes its snapshot to disk before it sends it (repl-diskless-sync no): waiting", "source", w.Addr)
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		diskless, delay, err := rsync.DisklessSync(cctx, w.Addr, &copts)
		switch {
		case err != nil:
			note("the source is waiting before it sends the snapshot: it may be its repl-diskless-sync-delay (more replicas may join a diskless sync), or another snapshot under way (CONFIG GET is not allowed here to tell)",
				"source", w.Addr)
		case diskless && delay > 0:
			s := int(delay.Seconds())
			note(fmt.Sprintf("the source is waiting before it sends the snapshot (repl-diskless-sync-delay, %d s here, for more replicas to join)", s),
				"source", w.Addr, "repl_diskless_sync_delay", s)
		default:
			note("the source is waiting before it sends the snapshot: another snapshot is under way there", "source", w.Addr)
		}
	}
}

// timeoutUsage is the one meaning of --timeout on the commands that talk
// to live servers.
const timeoutUsage = "give up an operation (connecting, a reply, the next byte of a snapshot or stream) after `DURATION` without progress"
