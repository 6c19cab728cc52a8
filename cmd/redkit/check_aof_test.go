package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/redistest"
)

// aofCorpusDir is the shared corpus, ../shared/corpus next to the
// repository. Tests skip without it, unless CI is set.
const aofCorpusDir = "../../../shared/corpus"

func needAOFCorpus(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(aofCorpusDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("corpus absent in CI: %v", err)
		}
		t.Skipf("corpus absent (%v): it lives at ../shared/corpus next to the repository", err)
	}
}

// redisCheckAOF runs redis-check-aof, if installed, and returns its exit
// code and output; ok is false when it is not installed.
func redisCheckAOF(t *testing.T, args ...string) (code int, out string, ok bool) {
	t.Helper()
	bin, err := exec.LookPath("redis-check-aof")
	if err != nil {
		return 0, "", false
	}
	cmd := exec.Command(bin, args...)
	b, err := cmd.CombinedOutput()
	if ee, isExit := err.(*exec.ExitError); isExit {
		return ee.ExitCode(), string(b), true
	} else if err != nil {
		t.Fatalf("redis-check-aof: %v", err)
	}
	return 0, string(b), true
}

// resp encodes a command as Redis writes it to an AOF.
func resp(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	return s
}

// copyDir copies the files of src into dst/<base of src>, backups left
// out.
func copyDir(t *testing.T, src, dst string) string {
	t.Helper()
	out := filepath.Join(dst, filepath.Base(src))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".bak.") {
			continue // backups of earlier cuts
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// lastIncr returns the path of the last incr file of an appendonlydir.
func lastIncr(t *testing.T, dir string) string {
	t.Helper()
	rep, err := aof.Check(context.Background(), dir, aof.CheckOptions{})
	if err != nil || rep.Manifest == nil || len(rep.Manifest.Incrs) == 0 {
		t.Fatalf("check %s: %v (%+v)", dir, err, rep.Manifest)
	}
	return filepath.Join(dir, rep.Manifest.Incrs[len(rep.Manifest.Incrs)-1].Name)
}

// liveAOFDir runs a server with an AOF, lets write write to it, and
// returns a copy of its appendonlydir in a new directory.
func liveAOFDir(t *testing.T, write func(do func(args ...any)), config ...string) string {
	t.Helper()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Config: append([]string{"appendonly yes", "aof-use-rdb-preamble no", "appendfsync always"}, config...)})
	conn := srv.Client().Conn()
	defer conn.Close()
	write(func(args ...any) {
		t.Helper()
		if err := conn.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	})
	dir := copyDir(t, filepath.Join(srv.Dir(), "appendonlydir"), t.TempDir())
	srv.Stop()
	return dir
}

// loadKeys starts a server on the AOF in dir (refusing a truncated one)
// and returns its keys as "db:key=value" for strings, "db:key" otherwise.
func loadKeys(t *testing.T, dir string) []string {
	t.Helper()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Config: []string{
		"dir " + strconv.Quote(filepath.Dir(dir)), "appendonly yes", "appenddirname " + filepath.Base(dir), "aof-load-truncated no",
	}})
	var keys []string
	for db := 0; db < 16; db++ {
		c := srv.Client().Conn()
		if err := c.Do(ctx, "SELECT", db).Err(); err != nil {
			t.Fatal(err)
		}
		ks, err := c.Do(ctx, "KEYS", "*").StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if v, err := c.Do(ctx, "GET", k).Text(); err == nil {
				keys = append(keys, fmt.Sprintf("%d:%s=%s", db, k, v))
			} else {
				keys = append(keys, fmt.Sprintf("%d:%s", db, k))
			}
		}
		c.Close()
	}
	srv.Stop()
	slices.Sort(keys)
	return keys
}

func TestCheckAOFLive(t *testing.T) {
	var want []string
	dir := liveAOFDir(t, func(do func(args ...any)) {
		for i := range 50 {
			do("SET", fmt.Sprintf("k%d", i), strconv.Itoa(i))
			want = append(want, fmt.Sprintf("0:k%d=%d", i, i))
		}
		do("MULTI")
		do("SET", "tx", "1")
		do("RPUSH", "list", "a", "b")
		do("EXEC")
		do("SELECT", 1)
		do("SET", "one", "1")
		do("SELECT", 0)
		do("SET", "last", "value")
		want = append(want, "0:tx=1", "0:list", "1:one=1")
	})
	slices.Sort(want)
	manifest := filepath.Join(dir, "appendonly.aof.manifest")

	// A valid AOF passes, as a directory and as its manifest.
	r := redkit(t, nil, "check", dir).want(t, 0)
	for _, s := range []string{dir + ": ok", "multi-part AOF", "54 (1 transactions)", "db0 db1", "base  "} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	redkit(t, nil, "check", manifest).want(t, 0)
	if code, out, ok := redisCheckAOF(t, manifest); ok && (code != 0 || !strings.Contains(out, "are valid")) {
		t.Errorf("redis-check-aof on the valid AOF: exit %d:\n%s", code, out)
	}

	// The last incr file cut inside its last command.
	incr := lastIncr(t, dir)
	orig, err := os.ReadFile(incr)
	if err != nil {
		t.Fatal(err)
	}
	last := resp("SET", "last", "value")
	if !strings.HasSuffix(string(orig), last) {
		t.Fatalf("%s does not end with SET last", incr)
	}
	okUpTo := len(orig) - len(last)
	cut := orig[:len(orig)-4]
	os.WriteFile(incr, cut, 0o644)
	r = redkit(t, nil, "check", dir).want(t, 1)
	for _, s := range []string{"unexpected EOF", "hint:", "run redkit check --fix " + dir, fmt.Sprintf("at offset %d ", okUpTo), "a backup is kept"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	if code, out, ok := redisCheckAOF(t, manifest); ok {
		if m := regexp.MustCompile(`ok_up_to=(\d+)`).FindStringSubmatch(out); code != 1 || m == nil || m[1] != strconv.Itoa(okUpTo) {
			t.Errorf("redis-check-aof on the cut AOF: exit %d, want 1 and ok_up_to=%d:\n%s", code, okUpTo, out)
		}
	}
	r = redkit(t, nil, "check", "--format", "json", dir).want(t, 1)
	var js aofJSON
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil || js.OK || js.Error == nil || js.Error.Kind != "truncated" || js.Fix == nil || js.Fix.Offset != int64(okUpTo) {
		t.Errorf("json: %v\n%s", err, r.stdout)
	}

	// --fix cuts exactly there, keeps a backup, and Redis loads the result
	// (with aof-load-truncated no) with every complete command.
	r = redkit(t, nil, "check", "--fix", dir).want(t, 3)
	if got, _ := os.ReadFile(incr); !bytes.Equal(got, orig[:okUpTo]) {
		t.Errorf("fixed file is %d bytes, want the first %d of the original", len(got), okUpTo)
	}
	backups, _ := filepath.Glob(incr + ".bak.*")
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	if got, _ := os.ReadFile(backups[0]); !bytes.Equal(got, cut) || !strings.Contains(r.stderr, backups[0]) {
		t.Errorf("backup %s does not hold the cut file, or is not named:\n%s", backups[0], r.stderr)
	}
	redkit(t, nil, "check", "--fix", dir).want(t, 0) // nothing left to fix
	if got := loadKeys(t, dir); !slices.Equal(got, want) {
		t.Errorf("Redis loaded %v\nwant %v", got, want)
	}

	// Garbage in the middle: refused by --fix, left byte-identical, as
	// redis-check-aof would not refuse (it cuts there).
	bad := copyDir(t, dir, t.TempDir())
	badIncr := filepath.Join(bad, filepath.Base(incr))
	// Put the garbage at a command boundary.
	at := bytes.Index(orig[okUpTo/2:], []byte("*3\r\n")) + okUpTo/2
	data := slices.Concat(orig[:at], []byte("garbage\r\n"), orig[at:okUpTo])
	os.WriteFile(badIncr, data, 0o644)
	r = redkit(t, nil, "check", "--fix", bad).want(t, 1)
	for _, s := range []string{fmt.Sprintf("offset %d", at), "not fixed, nothing was changed", "corrupt at offset"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	if got, _ := os.ReadFile(badIncr); !bytes.Equal(got, data) {
		t.Errorf("--fix changed a file with garbage in the middle")
	}
	if b, _ := filepath.Glob(badIncr + ".bak.*"); len(b) != 0 {
		t.Errorf("backup made for a refused fix: %v", b)
	}
	if code, out, ok := redisCheckAOF(t, filepath.Join(bad, "appendonly.aof.manifest")); ok && code != 1 {
		t.Errorf("redis-check-aof on garbage: exit %d:\n%s", code, out)
	}

	// An unclosed MULTI at the end is cut before the MULTI.
	tx := copyDir(t, dir, t.TempDir())
	txIncr := filepath.Join(tx, filepath.Base(incr))
	os.WriteFile(txIncr, slices.Concat(orig[:okUpTo], []byte(resp("MULTI")+resp("SET", "x", "1"))), 0o644)
	r = redkit(t, nil, "check", "--fix", tx).want(t, 3)
	if got, _ := os.ReadFile(txIncr); !bytes.Equal(got, orig[:okUpTo]) || !strings.Contains(r.stderr, "1 complete commands dropped") {
		t.Errorf("unclosed MULTI cut to %d bytes, want %d:\n%s", len(got), okUpTo, r.stderr)
	}
}

func TestCheckAOFTruncateToTimestamp(t *testing.T) {
	var tB int64
	phase := func(do func(args ...any), name string, n int) {
		for i := range n {
			do("SET", fmt.Sprintf("%s%d", name, i), name)
		}
	}
	nextSecond := func() { time.Sleep(time.Until(time.Unix(time.Now().Unix()+1, 100e6))) }
	dir := liveAOFDir(t, func(do func(args ...any)) {
		phase(do, "a", 5)
		nextSecond()
		start := time.Now().Unix()
		phase(do, "b", 5)
		if tB = time.Now().Unix(); tB != start {
			t.Skip("phase b spread over two seconds")
		}
		nextSecond()
		phase(do, "c", 5)
	}, "aof-timestamp-enabled yes")
	var want []string
	for _, p := range []string{"a", "b"} {
		for i := range 5 {
			want = append(want, fmt.Sprintf("0:%s%d=%s", p, i, p))
		}
	}
	slices.Sort(want)

	theirs := copyDir(t, dir, t.TempDir())
	ts := strconv.FormatInt(tB, 10)
	r := redkit(t, nil, "check", "--truncate-to-timestamp", ts, dir).want(t, 0)
	if !strings.Contains(r.stderr, "5 complete commands dropped") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if got := loadKeys(t, dir); !slices.Equal(got, want) {
		t.Errorf("after the cut Redis has %v\nwant %v", got, want)
	}
	// redis-check-aof cuts the same bytes.
	if code, out, ok := redisCheckAOF(t, "--truncate-to-timestamp", ts, filepath.Join(theirs, "appendonly.aof.manifest")); ok {
		ours, _ := os.ReadFile(lastIncr(t, dir))
		them, _ := os.ReadFile(filepath.Join(theirs, filepath.Base(lastIncr(t, dir))))
		if code != 0 || !bytes.Equal(ours, them) {
			t.Errorf("redis-check-aof exit %d, cut to %d bytes, ours %d:\n%s", code, len(them), len(ours), out)
		}
	}
	// Nothing after the time: unchanged; no annotations: refused.
	redkit(t, nil, "check", "--truncate-to-timestamp", strconv.FormatInt(tB+100, 10), dir).want(t, 0)
	plain := filepath.Join(t.TempDir(), "plain.aof")
	os.WriteFile(plain, []byte(resp("SET", "a", "1")), 0o644)
	r = redkit(t, nil, "check", "--truncate-to-timestamp", ts, plain).want(t, 1)
	if !strings.Contains(r.stderr, "no #TS annotations") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	redkit(t, nil, "check", "--truncate-to-timestamp", "yesterday", plain).want(t, 2)
	redkit(t, nil, "check", "--fix", "--truncate-to-timestamp", ts, plain).want(t, 2)
}

// TestCheckAOFCorpus checks every AOF of the corpus, and compares the
// verdict with redis-check-aof's.
func TestCheckAOFCorpus(t *testing.T) {
	needAOFCorpus(t)
	var paths []string
	for _, pat := range []string{"*/*.aof", "*/appendonlydir", "*/*/appendonlydir", "*/*/*/appendonlydir", "*/*/appendonlydir/*.manifest"} {
		m, _ := filepath.Glob(filepath.Join(aofCorpusDir, pat))
		paths = append(paths, m...)
	}
	if len(paths) < 10 {
		t.Fatalf("only %d AOFs in the corpus", len(paths))
	}
	for _, p := range paths {
		name, _ := filepath.Rel(aofCorpusDir, p)
		t.Run(name, func(t *testing.T) {
			r := redkit(t, nil, "check", p).want(t, 0)
			if !strings.Contains(r.stdout, "AOF") {
				t.Errorf("not checked as an AOF:\n%s", r.stdout)
			}
			in := p
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				m, _ := filepath.Glob(filepath.Join(p, "*.manifest"))
				in = m[0]
			}
			code, out, ok := redisCheckAOF(t, in)
			switch {
			case !ok:
			case code != 0 && strings.Contains(out, "Can't handle RDB format version"):
				// The base was written by a newer Redis than the installed
				// redis-check-aof reads (7.0 reads RDB versions up to 10).
				t.Logf("redis-check-aof too old for this base: %s", strings.TrimSpace(regexp.MustCompile(`\[offset \d+\] Can't.*`).FindString(out)))
			case code != 0:
				t.Errorf("redis-check-aof disagrees: exit %d:\n%s", code, out)
			}
		})
	}
	// An RDB dump with nothing after its checksum stays an RDB check.
	r := redkit(t, nil, "check", filepath.Join(aofCorpusDir, "hdt3213-rdb/memory.rdb")).want(t, 0)
	if !strings.Contains(r.stdout, "RDB version 9") {
		t.Errorf("RDB not checked as an RDB:\n%s", r.stdout)
	}
}
