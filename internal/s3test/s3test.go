// Package s3test starts a real S3-compatible server for tests: versitygw
// (Apache-2.0) on a loopback port of its own, over a temporary directory
// whose sub-directories are its buckets, stopped by the test's cleanup.
//
// The binary is $REDKIT_VERSITYGW, else versitygw on PATH, else
// .tools/bin/versitygw at the repository's root (where ./scripts/test.sh
// installs it). Without one the test is skipped, or fails when
// REDKIT_REQUIRE_S3=1 or CI=true.
package s3test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// Server is a running versitygw.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Dir       string // its buckets are sub-directories
	cmd       *exec.Cmd
	log       *os.File
}

// Binary finds versitygw, or ends the test when it is missing.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("REDKIT_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, ".tools", "bin", "versitygw")
				if _, err := os.Stat(p); err == nil {
					return p
				}
				break
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	if os.Getenv("REDKIT_REQUIRE_S3") == "1" || os.Getenv("CI") == "true" {
		t.Fatal("versitygw not installed and REDKIT_REQUIRE_S3=1 or CI=true: run ./scripts/test.sh, which installs it into .tools/bin")
	}
	t.Skip("versitygw not installed: run ./scripts/test.sh, which installs it into .tools/bin")
	return ""
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Start starts a server with fresh credentials and the given buckets.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{AccessKey: "AK" + strings.ToUpper(random(8)), SecretKey: random(20), Dir: t.TempDir()}
	for _, b := range buckets {
		if err := os.Mkdir(filepath.Join(s.Dir, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if s.log, err = os.CreateTemp(t.TempDir(), "versitygw-*.log"); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		s.cmd = exec.Command(bin, "--port", "127.0.0.1:"+strconv.Itoa(port), "--quiet", "--health", "/health", "posix", s.Dir)
		s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		redistest.DieWithTest(s.cmd)
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		if err = s.waitHealthy(); err == nil {
			break
		}
		s.stop()
		if attempt == 4 {
			t.Fatalf("versitygw did not start: %v\n%s", err, s.logTail())
		}
	}
	t.Cleanup(s.stop)
	return s
}

// Down stops the server for a while (the storage is out): Up starts it
// again on the same port and directory.
func (s *Server) Down() {
	s.stop()
}

// Up starts the server again after Down.
func (s *Server) Up(t testing.TB) {
	t.Helper()
	bin := Binary(t)
	port := strings.TrimPrefix(s.Endpoint, "http://")
	for attempt := 0; ; attempt++ {
		s.cmd = exec.Command(bin, "--port", port, "--quiet", "--health", "/health", "posix", s.Dir)
		s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		redistest.DieWithTest(s.cmd)
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		err := s.waitHealthy()
		if err == nil {
			return
		}
		s.stop()
		if attempt == 4 {
			t.Fatalf("versitygw did not start again on %s: %v\n%s", port, err, s.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *Server) waitHealthy() error {
	exited := make(chan struct{})
	go func() {
		s.cmd.Process.Wait() //nolint:errcheck // only to notice an early exit
		close(exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited early")
		default:
		}
		if r, err := c.Get(s.Endpoint + "/health"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s/health in 20 s", s.Endpoint)
}

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		s.cmd.Wait() //nolint:errcheck // stopping
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Env points the AWS SDK of this process at the server: its credentials,
// a region, its endpoint (AWS_ENDPOINT_URL_S3), and no shared files or
// instance metadata.
func (s *Server) Env(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_S3", s.Endpoint)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}
