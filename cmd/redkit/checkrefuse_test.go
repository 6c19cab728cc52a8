package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// redisLoads starts redis-server on data as its dump, listening on a
// unix socket only, and tells whether it loaded it, with the server's log.
func redisLoads(t *testing.T, data []byte) (bool, string) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("REDKIT_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dump.rdb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", "--port", "0", "--dir", dir, "--dbfilename", "dump.rdb",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "", "--unixsocket", filepath.Join(dir, "s"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	redistest.DieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	var log bytes.Buffer
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "DB loaded from disk") {
				done <- true
				return
			}
		}
		done <- false
	}()
	var loaded bool
	select {
	case loaded = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("redis-server neither loaded the dump nor exited in 20s:\n%s", log.String())
	}
	cmd.Process.Kill()
	cmd.Wait()
	return loaded, log.String()
}

// rdbStr encodes a short string (< 64 bytes) as RDB does.
func rdbStr(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// zipmapDump is an RDB 3 file holding one hash "h" as a zipmap whose
// header says count and which holds the pairs given.
func zipmapDump(count byte, pairs ...string) []byte {
	zm := []byte{count}
	for i := 0; i+1 < len(pairs); i += 2 {
		zm = append(zm, byte(len(pairs[i])))
		zm = append(zm, pairs[i]...)
		zm = append(zm, byte(len(pairs[i+1])), 0) // value length, free bytes
		zm = append(zm, pairs[i+1]...)
	}
	zm = append(zm, 0xff)
	b := []byte("REDIS0003\xfe\x00\x09")
	b = append(b, rdbStr("h")...)
	b = append(b, rdbStr(string(zm))...)
	return append(b, 0xff)
}

// moduleID packs a module type name and encoding version as Redis does.
func moduleID(name string, version int) uint64 {
	const charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var id uint64
	for i := range 9 {
		id = id<<6 | uint64(strings.IndexByte(charset, name[i]))
	}
	return id<<10 | uint64(version)
}

// moduleDump is an RDB 10 file with a string and a module value of the
// type ReJSON-RL (RedisJSON's), whose module no test server has.
func moduleDump() []byte {
	b := []byte("REDIS0010\xfe\x00\x00")
	b = append(b, rdbStr("s")...)
	b = append(b, rdbStr("v")...)
	b = append(b, 0x07)
	b = append(b, rdbStr("doc")...)
	b = append(b, 0x81)
	b = binary.BigEndian.AppendUint64(b, moduleID("ReJSON-RL", 3))
	b = append(b, 0x05) // a string
	b = append(b, rdbStr("{}")...)
	b = append(b, 0x00, 0xff) // module EOF, RDB EOF
	return binary.LittleEndian.AppendUint64(b, rdb.CRC64(b))
}

// duplicateDump is a dump the rdb Writer writes with the key "k" twice.
func duplicateDump(t *testing.T) []byte {
	var buf bytes.Buffer
	w, err := rdb.NewWriter(&buf, rdb.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "k", "b", "k"} {
		kv := &rdb.KeyValue{Key: []byte(k), Type: rdb.TypeString, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
			Elements: func(fn func(*rdb.Element) error) error { return fn(&rdb.Element{Member: []byte("v")}) }}
		if err := w.WriteKey(kv); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCheckRefusesWhatRedisRefuses: check passes a file exactly when
// redis-server loads it (and redis-check-rdb passes it, where it looks):
// zipmaps whose header count is neither the real count nor 254, empty
// zipmaps, a key held twice.
func TestCheckRefusesWhatRedisRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     []byte
		ok       bool
		redisLog string // what redis-server says when it refuses
		want     string // what check says
	}{
		{"zipmap", zipmapDump(2, "a", "x", "b", "y"), true, "", ""},
		{"zipmap big count", zipmapDump(254, "a", "x", "b", "y"), true, "", ""},
		{"zipmap wrong count", zipmapDump(5, "a", "x", "b", "y"), false, "Zipmap integrity check failed", "zipmap header counts 5 entries, it holds 2"},
		{"zipmap count short", zipmapDump(1, "a", "x", "b", "y"), false, "Zipmap integrity check failed", "zipmap header counts 1 entries, it holds 2"},
		{"zipmap empty", zipmapDump(0), false, "Zipmap integrity check failed", "empty zipmap"},
		{"duplicate key", duplicateDump(t), false, "Duplicated key found in RDB file", `key "k": duplicated key in db 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded, log := redisLoads(t, tc.data)
			if loaded != tc.ok || !tc.ok && !strings.Contains(log, tc.redisLog) {
				t.Fatalf("redis-server loaded=%v, want %v (saying %q):\n%s", loaded, tc.ok, tc.redisLog, log)
			}
			file := filepath.Join(t.TempDir(), "dump.rdb")
			if err := os.WriteFile(file, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tc.name, "zipmap") {
				out, err := exec.Command("redis-check-rdb", file).CombinedOutput()
				if (err == nil) != tc.ok || !tc.ok && !strings.Contains(string(out), tc.redisLog) {
					t.Fatalf("redis-check-rdb: %v, want ok=%v:\n%s", err, tc.ok, out)
				}
			}
			if tc.ok {
				redkit(t, nil, "check", file).want(t, 0)
				return
			}
			r := redkit(t, nil, "check", file).want(t, 1)
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "hint:") {
				t.Errorf("stderr lacks %q and a hint:\n%s", tc.want, r.stderr)
			}
		})
	}
}

// TestModuleTypesNamed: a dump whose module values need a module names
// that module's type, in check's summary and in restore --check.
func TestModuleTypesNamed(t *testing.T) {
	data := moduleDump()
	if loaded, log := redisLoads(t, data); loaded || !strings.Contains(log, "ReJSON-RL") {
		t.Fatalf("redis-server without the module loaded=%v, want a refusal naming ReJSON-RL:\n%s", loaded, log)
	}
	file := filepath.Join(t.TempDir(), "module.rdb")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := redkit(t, nil, "check", file).want(t, 0)
	if !strings.Contains(r.stdout, "modules    1: ReJSON-RL") {
		t.Errorf("check summary:\n%s", r.stdout)
	}
	r = redkit(t, nil, "check", "--format", "json", file).want(t, 0)
	if !strings.Contains(r.stdout, `"modules":["ReJSON-RL"]`) {
		t.Errorf("check JSON:\n%s", r.stdout)
	}
	dst := redistest.Start(t, redistest.Options{})
	r = redkit(t, nil, "restore", "--check", "--to", dst.URL(), file).want(t, 1)
	if !strings.Contains(r.stdout, "1 module keys of the module types [ReJSON-RL] and the target has no module loaded") {
		t.Errorf("restore --check does not name the module type:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
