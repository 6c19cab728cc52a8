package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	defaultBinary = "redis-server"
	startTimeout  = 10 * time.Second // until the server answers PING
	stopTimeout   = 5 * time.Second  // for each of SHUTDOWN and SIGTERM
	startAttempts = 5                // ports tried when the picked one is taken
	logTailLines  = 40
	logFileName   = "redis.log"  // the server's logfile
	outFileName   = "server.out" // its stdout and stderr (errors before the log opens)
)

// errPortInUse means another process took the picked port first; Start
// tries again with a new port.
var errPortInUse = errors.New("port already in use")

// Options configure a server. The zero value starts a plain redis-server.
type Options struct {
	// Binary is the server program, a name looked up on PATH or a path.
	// Default "redis-server"; "valkey-server" works too.
	Binary string
	// Config holds extra configuration lines, appended after the defaults
	// and so overriding them, e.g. "repl-diskless-sync no" or
	// "cluster-enabled yes". With cluster-enabled, the cluster bus port
	// (port+10000) is checked to be free as well.
	Config []string
	// Args are extra command-line arguments, after the config file, e.g.
	// "--tls-port", "0". Default none.
	Args []string
	// Password, if set, becomes requirepass (the default user's password);
	// Client, Do and URL use it. Default none: no authentication.
	Password string
}

// Server is a running redis-server started by Start. Its methods may be
// called from several goroutines.
type Server struct {
	binary   string
	port     int
	dir      string
	password string
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process has exited
	waitErr  error         // the process's exit status; read after exited is closed

	mu      sync.Mutex
	client  *redis.Client
	stopped bool
	stop    sync.Once
}

// Start starts a server for the test and stops it when the test ends. It
// fails the test if the server does not answer PING within 10 seconds,
// quoting the end of the server's log. If the binary is not installed it
// skips the test, or fails it when REDKIT_REQUIRE_REDIS=1 or CI=true.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	binary := lookBinary(t, opts.Binary)
	var err error
	for range startAttempts {
		var port int
		if port, err = freePort(wantsCluster(opts)); err != nil {
			break
		}
		var s *Server
		s, err = start(t, binary, opts, port)
		if err == nil {
			t.Cleanup(func() { s.cleanup(t) })
			return s
		}
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	t.Fatalf("start %s: %v", binary, err)
	return nil
}

// lookBinary returns the path of the server program, or ends the test
// when it is not installed.
func lookBinary(t testing.TB, name string) string {
	t.Helper()
	if name == "" {
		name = defaultBinary
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if name == "valkey-server" {
		// Valkey comes from Debian's bookworm-backports, which
		// scripts/test.sh installs where it can (and then requires).
		if os.Getenv("REDKIT_REQUIRE_VALKEY") == "1" {
			t.Fatalf("%s not installed (%v) and REDKIT_REQUIRE_VALKEY=1", name, err)
		}
		t.Skipf("%s not installed: run ./scripts/test.sh on Debian bookworm (it installs it from bookworm-backports)", name)
	}
	if os.Getenv("REDKIT_REQUIRE_REDIS") == "1" || os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed (%v) and REDKIT_REQUIRE_REDIS=1 or CI=true: run ./scripts/test.sh, which installs it", name, err)
	}
	t.Skipf("%s not installed: run ./scripts/test.sh", name)
	return ""
}

// start makes one attempt at starting a server on port, in a new
// directory. It returns an error wrapping errPortInUse when another
// process has the port.
func start(t testing.TB, binary string, opts Options, port int) (*Server, error) {
	s := &Server{
		binary:   binary,
		port:     port,
		dir:      t.TempDir(),
		password: opts.Password,
		exited:   make(chan struct{}),
	}
	conf := filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(s.config(opts.Config)), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	out, err := os.Create(filepath.Join(s.dir, outFileName))
	if err != nil {
		return nil, fmt.Errorf("create output file: %w", err)
	}
	defer out.Close() // the child has its own copy
	// An *os.File (not a buffer) so that Wait never waits on a pipe that a
	// forked BGSAVE child still holds.
	s.cmd = exec.Command(binary, append([]string{conf}, opts.Args...)...)
	s.cmd.Dir = s.dir
	DieWithTest(s.cmd)
	s.cmd.Stdout = out
	s.cmd.Stderr = out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// Restart stops the server and starts it again on the same port,
// directory and configuration. With save, SHUTDOWN SAVE keeps its data in
// dump.rdb, and with it (Redis 7) its replication ID and offset; without,
// SHUTDOWN NOSAVE: it comes back empty, with a new replication ID.
func (s *Server) Restart(t testing.TB, save bool) {
	t.Helper()
	s.closeClient()
	if c, err := s.dialRaw(); err == nil {
		how := "NOSAVE"
		if save {
			how = "SAVE"
		}
		_, _ = c.call("SHUTDOWN", how)
		c.Close()
	}
	if !s.waitExit(stopTimeout) {
		s.kill()
	}
	s.exited = make(chan struct{})
	s.stop = sync.Once{}
	s.mu.Lock()
	s.stopped = false
	s.mu.Unlock()
	out, err := os.OpenFile(filepath.Join(s.dir, outFileName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer out.Close()
	s.cmd = exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	s.cmd.Dir, s.cmd.Stdout, s.cmd.Stderr = s.dir, out, out
	DieWithTest(s.cmd)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	exited := s.exited
	cmd := s.cmd
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	if err := s.waitReady(); err != nil {
		s.kill()
		t.Fatalf("restart %s: %v", s.Addr(), err)
	}
}

// config returns the content of redis.conf.
func (s *Server) config(extra []string) string {
	var b strings.Builder
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(s.port),
		"protected-mode no",
		"daemonize no",
		"dir " + quote(s.dir),
		"dbfilename dump.rdb",
		"logfile " + quote(filepath.Join(s.dir, logFileName)),
		`save ""`,
		"appendonly no",
		"repl-diskless-sync-delay 0",
		"enable-debug-command local",
	}
	if s.password != "" {
		lines = append(lines, "requirepass "+quote(s.password))
	}
	for _, l := range append(lines, extra...) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// quote makes s one argument of a redis.conf line.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}

// wantsCluster reports whether the options enable cluster mode, which
// also needs port+10000 for the cluster bus.
func wantsCluster(opts Options) bool {
	for _, l := range opts.Config {
		f := strings.Fields(strings.ToLower(l))
		if len(f) == 2 && f[0] == "cluster-enabled" && f[1] == "yes" {
			return true
		}
	}
	for i, a := range opts.Args {
		if a == "--cluster-enabled" && i+1 < len(opts.Args) && strings.EqualFold(opts.Args[i+1], "yes") {
			return true
		}
	}
	return false
}

// freePort picks a loopback port that is free now by listening on port 0.
// With bus set, port+10000 must be free too.
func freePort(bus bool) (int, error) {
	var err error
	for range 20 {
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !bus {
			l.Close()
			return port, nil
		}
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		var lb net.Listener
		lb, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		l.Close()
		if err == nil {
			lb.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("pick a free port: %w", err)
}

// waitReady waits until this process answers PING on its port.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		select {
		case <-s.exited:
			tail := s.logTail()
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("port %d: %w", s.port, errPortInUse)
			}
			return fmt.Errorf("server exited before answering PING (%v); log:\n%s", s.waitErr, tail)
		case <-tick.C:
		}
		if err = s.probe(); err == nil || errors.Is(err, errPortInUse) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING on %s after %v (last error: %v); log:\n%s", s.Addr(), startTimeout, err, s.logTail())
		}
	}
}

var (
	pidRe     = regexp.MustCompile(`(?m)^process_id:(\d+)\r?$`)
	versionRe = regexp.MustCompile(`\bv=(\S+)`)
)

// probe checks that the server on the port is this process and that it
// answers PING.
func (s *Server) probe() error {
	c, err := s.dialRaw()
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := c.call("INFO", "server")
	if err != nil {
		return err
	}
	m := pidRe.FindStringSubmatch(info)
	if m == nil {
		return fmt.Errorf("no process_id in INFO server")
	}
	if pid, _ := strconv.Atoi(m[1]); pid != s.cmd.Process.Pid {
		return fmt.Errorf("port %d answered by process %d: %w", s.port, pid, errPortInUse)
	}
	pong, err := c.call("PING")
	if err != nil {
		return err
	}
	if pong != "PONG" {
		return fmt.Errorf("PING answered %q", pong)
	}
	return nil
}

// Addr returns the server's address, 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir returns the server's working directory, where its config
// (redis.conf), log (redis.log) and dump (dump.rdb) are. It is removed
// when the test ends.
func (s *Server) Dir() string { return s.dir }

// URL returns redis://127.0.0.1:port, with the password as
// redis://:password@127.0.0.1:port when one is set.
func (s *Server) URL() string {
	if s.password == "" {
		return "redis://" + s.Addr()
	}
	return "redis://:" + urlEscape(s.password) + "@" + s.Addr()
}

func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Client returns a go-redis client for the server, made on first use and
// closed when the server stops. It speaks RESP3, authenticates with
// Options.Password, and honours context deadlines (ContextTimeoutEnabled)
// with 30-second read and write timeouts otherwise.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{
			Addr:                  s.Addr(),
			Password:              s.password,
			ReadTimeout:           30 * time.Second,
			WriteTimeout:          30 * time.Second,
			ContextTimeoutEnabled: true,
			DisableIdentity:       true, // CLIENT SETINFO is Redis 7.2+
			MaintNotificationsConfig: &maintnotifications.Config{
				Mode: maintnotifications.ModeDisabled,
			},
		})
	}
	return s.client
}

// Do runs one command with Client and returns its reply as go-redis
// decodes it (string, int64, []any, map[any]any, ...). A nil reply is the
// error redis.Nil.
func (s *Server) Do(ctx context.Context, args ...any) (any, error) {
	return s.Client().Do(ctx, args...).Result()
}

// Save runs SAVE and returns the path of the dump file it wrote
// (Dir()/dump.rdb unless Options.Config changed dir or dbfilename). It
// fails the test on error.
func (s *Server) Save(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Do(ctx, "SAVE"); err != nil {
		t.Fatalf("SAVE on %s: %v", s.Addr(), err)
	}
	conf, err := s.Client().ConfigGet(ctx, "dbfilename").Result()
	if err != nil {
		t.Fatalf("CONFIG GET dbfilename on %s: %v", s.Addr(), err)
	}
	dir, err := s.Client().ConfigGet(ctx, "dir").Result()
	if err != nil {
		t.Fatalf("CONFIG GET dir on %s: %v", s.Addr(), err)
	}
	return filepath.Join(dir["dir"], conf["dbfilename"])
}

// Stop stops the server and waits for its process to exit: SHUTDOWN
// NOSAVE, then SIGTERM, then SIGKILL, waiting 5 seconds after each of the
// first two. It also closes Client. Calling Stop again does nothing; the
// test's cleanup calls it.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		s.closeClient()
		if s.hasExited() {
			return
		}
		if c, err := s.dialRaw(); err == nil {
			_, _ = c.call("SHUTDOWN", "NOSAVE") // success closes the connection
			c.Close()
			if s.waitExit(stopTimeout) {
				return
			}
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		if s.waitExit(stopTimeout) {
			return
		}
		s.kill()
	})
}

// cleanup runs when the test ends.
func (s *Server) cleanup(t testing.TB) {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if !stopped && s.hasExited() {
		t.Logf("%s on %s exited during the test: %v", filepath.Base(s.binary), s.Addr(), s.waitErr)
	}
	s.Stop()
	s.closeClient() // in case Client was called after Stop
	if t.Failed() {
		t.Logf("end of the log of %s on %s:\n%s", filepath.Base(s.binary), s.Addr(), s.logTail())
	}
}

func (s *Server) closeClient() {
	s.mu.Lock()
	c := s.client
	s.client = nil
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (s *Server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to exit and reports whether it did.
func (s *Server) waitExit(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-s.exited:
		return true
	case <-timer.C:
		return false
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// logTail returns the last lines of the server's stdout and stderr and of
// its log file.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, name := range []string{outFileName, logFileName} {
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > logTailLines {
			lines = lines[len(lines)-logTailLines:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", name, strings.Join(lines, "\n"))
	}
	if b.Len() == 0 {
		return "(empty)"
	}
	return b.String()
}

// Version returns the version of a server program, such as "7.0.15", from
// its --version output. binary is as in Options.Binary ("" means
// redis-server); a missing binary skips or fails the test as Start does.
func Version(t testing.TB, binary string) string {
	t.Helper()
	path := lookBinary(t, binary)
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", path, err)
	}
	m := versionRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s --version: no version in %q", path, out)
	}
	return string(m[1])
}

// rawConn is a plain RESP connection, used where the go-redis client
// would get in the way: while the server starts (its pool backs off after
// failed dials) and to send SHUTDOWN.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

// dialRaw connects and authenticates. Every call on the connection must
// finish within 2 seconds.
func (s *Server) dialRaw() (*rawConn, error) {
	nc, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return nil, err
	}
	c := &rawConn{Conn: nc, r: bufio.NewReader(nc)}
	_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
	if s.password != "" {
		if _, err := c.call("AUTH", s.password); err != nil {
			nc.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return c, nil
}

// call sends one command and reads its reply, which must be a simple
// string, an error, an integer or a bulk string.
func (c *rawConn) call(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.Conn, b.String()); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("server error: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}

// InfoField returns one field of INFO (all sections), "" when absent.
func (s *Server) InfoField(t testing.TB, field string) string {
	t.Helper()
	v, err := s.Client().Info(context.Background(), "everything").Result()
	if err != nil {
		t.Fatalf("INFO on %s: %v", s.Addr(), err)
	}
	for _, line := range strings.Split(v, "\r\n") {
		if x, ok := strings.CutPrefix(line, field+":"); ok {
			return x
		}
	}
	return ""
}

// InfoInt is InfoField as a number (0 when absent).
func (s *Server) InfoInt(t testing.TB, field string) int64 {
	t.Helper()
	n, _ := strconv.ParseInt(s.InfoField(t, field), 10, 64)
	return n
}
