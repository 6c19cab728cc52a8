package sync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

func TestConnAuthSelectInfo(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Password: "s3cret pass"})
	c, err := Dial(ctx, srv.Addr(), &Options{Password: "s3cret pass", DB: 5, Name: "redkit-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.DoString("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if n, err := srv.Client().Do(ctx, "SELECT", 5).Result(); err != nil || n != "OK" {
		t.Fatal(n, err)
	}
	info, err := Info(c)
	if err != nil {
		t.Fatal(err)
	}
	if info.Server != "redis" || !strings.HasPrefix(info.Version, "7.") || info.Role != "master" || info.Cluster ||
		info.RDBVersion < 10 || info.ProtoMaxBulkLen != 512<<20 {
		t.Errorf("info: %+v", info)
	}
	if _, err := c.DoString("LPUSH", "k", "x"); ErrorCode(err) != "WRONGTYPE" {
		t.Errorf("LPUSH on a string: %v", err)
	}
	if v, err := c.DoString("GET", "k"); err != nil || string(v.Str) != "v" {
		t.Errorf("connection unusable after an error reply: %v %v", v, err)
	}

	_, err = Dial(ctx, srv.Addr(), &Options{Password: "wrong-password-42"})
	if ErrorCode(err) != "WRONGPASS" || strings.Contains(err.Error(), "wrong-password-42") || !strings.Contains(err.Error(), "check the password") {
		t.Errorf("wrong password: %v", err)
	}
	if c, _ := Dial(ctx, srv.Addr(), nil); c != nil {
		if _, err = c.DoString("GET", "k"); ErrorCode(err) != "NOAUTH" {
			t.Errorf("no password: %v", err)
		}
		c.Close()
	}
}

func TestConnRefusedIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial(context.Background(), addr, &Options{ConnectTimeout: time.Second})
	if err == nil || !Transient(err) {
		t.Errorf("refused connection: %v (transient %v)", err, Transient(err))
	}
	if Transient(&RedisError{Msg: "WRONGTYPE x"}) || !Transient(&RedisError{Msg: "LOADING Redis is loading"}) {
		t.Error("Transient misclassifies error replies")
	}
	if Transient(errors.New("x")) {
		t.Error("plain errors are not transient")
	}
	if Transient(fmt.Errorf("read: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")})) {
		t.Error("a TLS alert from the server is not transient")
	}
}
