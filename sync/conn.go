package sync

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redkit/redkit/aof"
)

// Options are how to connect: credentials, TLS and timeouts. The zero
// value connects in plain text without authentication.
type Options struct {
	Username, Password string
	// DB is selected after connecting when non-zero.
	DB int
	// TLS, when set, wraps connections in TLS with this configuration.
	TLS *tls.Config
	// ConnectTimeout bounds dialing and the handshake (default 5s).
	ConnectTimeout time.Duration
	// ReadTimeout and WriteTimeout bound each read and write (default 30s;
	// negative: none).
	ReadTimeout, WriteTimeout time.Duration
	// Name is sent with CLIENT SETNAME when set.
	Name string
}

func (o *Options) connectTimeout() time.Duration {
	if o.ConnectTimeout > 0 {
		return o.ConnectTimeout
	}
	return 5 * time.Second
}

func (o *Options) readTimeout() time.Duration {
	if o.ReadTimeout != 0 {
		return o.ReadTimeout
	}
	return 30 * time.Second
}

func (o *Options) writeTimeout() time.Duration {
	if o.WriteTimeout != 0 {
		return o.WriteTimeout
	}
	return 30 * time.Second
}

// TLSOptions are the TLS flags: a CA bundle, a client certificate and
// key, the server name to verify, and Insecure to skip verification.
type TLSOptions struct {
	CA, Cert, Key string // PEM file paths
	ServerName    string
	Insecure      bool
}

// Config builds a tls.Config: certificates verified against the system
// roots, or CA when set.
func (t TLSOptions) Config() (*tls.Config, error) {
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.Insecure, MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", t.CA)
		}
		c.RootCAs = pool
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, ErrTLSKeyPair
	}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// RedisError is an error reply from the server.
type RedisError struct{ Msg string }

func (e *RedisError) Error() string { return e.Msg }

// Code is the error's first word: ERR, WRONGTYPE, MOVED, ASK, BUSYKEY,
// LOADING, TRYAGAIN, CLUSTERDOWN, NOPERM, WRONGPASS, NOAUTH...
func (e *RedisError) Code() string {
	code, _, _ := strings.Cut(e.Msg, " ")
	return code
}

// ErrorCode returns the code of a *RedisError in err's chain, or "".
func ErrorCode(err error) string {
	var re *RedisError
	if errors.As(err, &re) {
		return re.Code()
	}
	return ""
}

// Conn is one connection to a server, used by one goroutine at a time.
// Do sends a command and waits for its reply; Send, Flush and Receive
// pipeline.
type Conn struct {
	addr string
	nc   net.Conn
	bw   *bufio.Writer
	w    *aof.Writer
	r    *aof.RESPReader
	br   *bufio.Reader // replaces r on a replication link (replica.go)
	opts *Options
	err  error // sticky I/O error

	// linkTimeout bounds each read of br on a replication link (0: none).
	linkTimeout time.Duration
}

// Dial connects to addr (host:port), with TLS when opts.TLS is set, and
// authenticates (AUTH) and selects opts.DB.
func Dial(ctx context.Context, addr string, opts *Options) (*Conn, error) {
	if opts == nil {
		opts = &Options{}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.connectTimeout())
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(30 * time.Second)
	}
	if opts.TLS != nil {
		cfg := opts.TLS.Clone()
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	c := newConn(addr, nc, opts)
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if err := c.handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func newConn(addr string, nc net.Conn, opts *Options) *Conn {
	bw := bufio.NewWriterSize(nc, 64<<10)
	return &Conn{addr: addr, nc: nc, bw: bw, w: aof.NewWriter(bw), r: aof.NewRESPReader(nc), opts: opts}
}

func (c *Conn) handshake() error {
	if c.opts.Password != "" {
		args := []string{"AUTH", c.opts.Password}
		if c.opts.Username != "" {
			args = []string{"AUTH", c.opts.Username, c.opts.Password}
		}
		if _, err := c.do(args...); err != nil && !strings.Contains(err.Error(), "without any password configured") {
			if ErrorCode(err) == "WRONGPASS" || strings.Contains(err.Error(), "invalid password") {
				return fmt.Errorf("authenticate to %s: %w (check the password, REDKIT_*_PASSWORD or the password file)", c.addr, err)
			}
			return fmt.Errorf("authenticate to %s: %w", c.addr, err)
		}
	}
	if c.opts.Name != "" {
		c.do("CLIENT", "SETNAME", c.opts.Name) // best effort: may be forbidden by ACL
	}
	if c.opts.DB != 0 {
		if _, err := c.do("SELECT", strconv.Itoa(c.opts.DB)); err != nil {
			return fmt.Errorf("select db %d on %s: %w", c.opts.DB, c.addr, err)
		}
	}
	return nil
}

func (c *Conn) do(args ...string) (aof.Value, error) {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return c.Do(b...)
}

// Addr is the address the connection was dialed to.
func (c *Conn) Addr() string { return c.addr }

// Do sends one command and returns its reply. An error reply is returned
// as a *RedisError; an I/O error closes the connection for good.
func (c *Conn) Do(args ...[]byte) (aof.Value, error) {
	if err := c.Send(args...); err != nil {
		return aof.Value{}, err
	}
	if err := c.Flush(); err != nil {
		return aof.Value{}, err
	}
	return c.Receive()
}

// DoString is Do with string arguments.
func (c *Conn) DoString(args ...string) (aof.Value, error) { return c.do(args...) }

// Send buffers a command.
func (c *Conn) Send(args ...[]byte) error {
	if c.err != nil {
		return c.err
	}
	if err := c.w.WriteCommand(args...); err != nil {
		c.err = fmt.Errorf("write to %s: %w", c.addr, err)
		c.nc.Close()
	}
	return c.err
}

// Flush sends buffered commands.
func (c *Conn) Flush() error {
	if c.err != nil {
		return c.err
	}
	if t := c.opts.writeTimeout(); t > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	if err := c.bw.Flush(); err != nil {
		c.err = fmt.Errorf("write to %s: %w", c.addr, err)
		c.nc.Close()
	}
	return c.err
}

// Buffered is the number of bytes Send buffered and Flush has not sent.
func (c *Conn) Buffered() int { return c.bw.Buffered() }

// Receive reads one reply. Error replies come back as a *RedisError with
// a zero Value; the connection stays usable.
func (c *Conn) Receive() (aof.Value, error) {
	if c.err != nil {
		return aof.Value{}, c.err
	}
	if t := c.opts.readTimeout(); t > 0 {
		c.nc.SetReadDeadline(time.Now().Add(t))
	}
	v, err := c.r.ReadValue()
	if err != nil {
		c.err = fmt.Errorf("read from %s: %w", c.addr, err)
		c.nc.Close()
		return aof.Value{}, c.err
	}
	if v.Kind == aof.Error || v.Kind == aof.BulkError {
		return aof.Value{}, &RedisError{Msg: string(v.Str)}
	}
	return v, nil
}

// Err returns the connection's sticky I/O error, if any.
func (c *Conn) Err() error { return c.err }

// abort closes the network connection and nothing else, so that it may
// run beside the goroutine using c: what that goroutine is blocked on
// returns an error, and c's sticky error is set there.
func (c *Conn) abort() { c.nc.Close() }

// Close closes the connection.
func (c *Conn) Close() error {
	if c.err == nil {
		c.err = fmt.Errorf("connection to %s closed", c.addr)
	}
	return c.nc.Close()
}

// Transient tells whether err is worth retrying after a pause: the
// server is loading, a cluster is reconfiguring, or the connection was
// refused or reset. Whether a retry is safe is the caller's decision.
func Transient(err error) bool {
	switch ErrorCode(err) {
	case "LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "BUSY":
		return true
	case "":
	default:
		return false
	}
	// TLS refusals (a missing client certificate, a bad one) do not pass
	// with time.
	var alert tls.AlertError
	var verr *tls.CertificateVerificationError
	var oe *net.OpError
	if errors.As(err, &alert) || errors.As(err, &verr) || errors.As(err, &oe) && oe.Op == "remote error" {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
