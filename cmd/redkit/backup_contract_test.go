package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/internal/s3test"
	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/file"
)

// smallSource is a server with a few keys in two databases.
func smallSource(t *testing.T) *redistest.Server {
	t.Helper()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0"}})
	ctx := context.Background()
	for i := range 20 {
		src.Client().Set(ctx, fmt.Sprintf("k:%d", i), i, 0)
	}
	c := src.Client()
	c.Do(ctx, "SELECT", "3")
	c.Do(ctx, "SET", "in3", "x")
	c.Do(ctx, "SELECT", "0")
	return src
}

// parseJSONLines fails the test unless every line of stderr is a JSON object,
// and returns them.
func parseJSONLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a stderr line is not JSON: %q", line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestStorageEnv: REDKIT_STORAGE alone names the storage of backup,
// backup list, verify and prune, and restore @latest|@ID, for file://
// (a URL, a plain directory, a relative one) and s3://; REDKIT_BACKUP_TO
// still works for backup, with a warning to rename it.
func TestStorageEnv(t *testing.T) {
	src := smallSource(t)
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	dir := t.TempDir()
	for _, tc := range []struct{ name, storage, want string }{
		{"file-url", "file://" + filepath.Join(dir, "a"), "file://" + filepath.Join(dir, "a")},
		{"plain-dir", filepath.Join(dir, "b"), "file://" + filepath.Join(dir, "b")},
		{"s3", "s3://backups/env", "s3://backups/env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REDKIT_STORAGE", tc.storage)
			t.Setenv("REDKIT_BACKUP_TO", "")
			id := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "-q").want(t, 0).stdout)
			r := redkit(t, nil, "backup", "list", "--format", "json").want(t, 0)
			var ms []backup.Manifest
			if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil || len(ms) != 1 || ms[0].ID != id {
				t.Fatalf("backup list: %v %s", err, r.stdout)
			}
			if !strings.HasPrefix(tc.want, "s3://") {
				if _, err := os.Stat(filepath.Join(strings.TrimPrefix(tc.want, "file://"), "backups", id, "manifest.json")); err != nil {
					t.Errorf("the backup is not in %s: %v", tc.want, err)
				}
			}
			redkit(t, nil, "backup", "verify").want(t, 0)
			if r := redkit(t, nil, "backup", "verify", "@"+id).want(t, 0); !strings.Contains(r.stdout, "ok  "+id) {
				t.Errorf("verify @ID: %s", r.stdout)
			}
			redkit(t, nil, "backup", "verify", "@latest").want(t, 0)
			for _, ref := range []string{"@latest", "@" + id} {
				dst := redistest.Start(t, redistest.Options{})
				redkit(t, nil, "restore", ref, "--to", dst.URL(), "-q").want(t, 0)
				if n := dst.Client().DBSize(context.Background()).Val(); n != 20 {
					t.Errorf("restore %s: %d keys in db 0, want 20", ref, n)
				}
			}
			id2 := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "-q").want(t, 0).stdout)
			r = redkit(t, nil, "backup", "prune", "--keep-last", "1").want(t, 0)
			if !strings.Contains(r.stdout, "delete") || !strings.Contains(r.stdout, id2) {
				t.Errorf("prune: %s", r.stdout)
			}
			if ms := listBackups(t, tc.storage); len(ms) != 1 || ms[0].ID != id2 {
				t.Errorf("after prune: %+v", ms)
			}
		})
	}

	t.Run("deprecated", func(t *testing.T) {
		store := filepath.Join(dir, "old")
		t.Setenv("REDKIT_STORAGE", "")
		t.Setenv("REDKIT_BACKUP_TO", "file://"+store)
		r := redkit(t, nil, "backup", "--from", src.URL(), "--log-format", "json").want(t, 0)
		lines := parseJSONLines(t, r.stderr)
		if len(lines) == 0 || lines[0]["level"] != "WARN" || !strings.Contains(fmt.Sprint(lines[0]["msg"]), "rename it REDKIT_STORAGE") {
			t.Errorf("no warning to rename REDKIT_BACKUP_TO: %s", r.stderr)
		}
		if ms := listBackups(t, store); len(ms) != 1 {
			t.Errorf("%d backups in REDKIT_BACKUP_TO's storage", len(ms))
		}
	})

	t.Run("relative", func(t *testing.T) {
		wd := t.TempDir()
		t.Chdir(wd)
		for _, rel := range []string{"rel/dir", "file://rel/dir"} {
			t.Setenv("REDKIT_STORAGE", rel)
			r := redkit(t, nil, "backup", "--from", src.URL()).want(t, 0)
			if want := "resolved to file://" + filepath.Join(wd, "rel", "dir"); !strings.Contains(r.stderr, want) {
				t.Errorf("%s: no warning saying %q: %s", rel, want, r.stderr)
			}
		}
		if ms := listBackups(t, filepath.Join(wd, "rel", "dir")); len(ms) != 2 {
			t.Errorf("%d backups under the working directory, want 2", len(ms))
		}
	})

	t.Run("unset", func(t *testing.T) {
		t.Setenv("REDKIT_STORAGE", "")
		for _, args := range [][]string{
			{"backup", "list"}, {"backup", "prune", "--keep-last", "1"}, {"backup", "verify"}, {"backup", "verify", "@latest"},
			{"restore", "@latest", "--to", src.URL()}, {"backup", "--from", src.URL()},
		} {
			r := redkit(t, nil, args...).want(t, exitUsage)
			if !strings.Contains(r.stderr, "REDKIT_STORAGE") {
				t.Errorf("%v: %s", args, r.stderr)
			}
		}
	})
}

// TestBackupSubcommandUsage: a bad or missing argument or flag of backup
// list, prune and verify exits 2 with one line and the usage hint, never
// the whole help.
func TestBackupSubcommandUsage(t *testing.T) {
	t.Setenv("REDKIT_STORAGE", "")
	store := "file://" + t.TempDir()
	for _, args := range [][]string{
		{"backup", "list", "--bogus"},
		{"backup", "list", store, "--format", "yaml"},
		{"backup", "list", store, store},
		{"backup", "list"},
		{"backup", "list", store, "--log-format", "xml"},
		{"backup", "prune", store, "--keep-last", "x"},
		{"backup", "prune", store},
		{"backup", "prune", store, "--keep-daily", "-1"},
		{"backup", "prune", store, "--keep-within", "soon"},
		{"backup", "prune", "--keep-last", "1"},
		{"backup", "prune", store, "--keep-last", "1", "--bogus"},
		{"backup", "verify", "--identity-file"},
		{"backup", "verify", store, store},
		{"backup", "verify"},
		{"backup", "verify", store, "--format", "xml"},
		{"backup", "list", "ftp://host/x"},
	} {
		r := redkit(t, nil, args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != exitUsage || len(lines) != 2 || !strings.HasPrefix(lines[0], "redkit: ") || !strings.Contains(lines[1], "--help") ||
			strings.Contains(r.stdout+r.stderr, "USAGE:") {
			t.Errorf("%v: exit %d, want 2 with one line and the hint\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestBackupLockedExit: two runs against one file:// storage, the first
// holding its lock: backup, backup prune and a continuous backup's base
// exit 11, naming the holder; --log-format json makes that a JSON line.
func TestBackupLockedExit(t *testing.T) {
	ctx := context.Background()
	src := smallSource(t)
	dir := t.TempDir()
	b, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + dir
	held, err := storage.AcquireLock(ctx, b, "backup", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	holder := fmt.Sprintf("backup (pid %d on ", os.Getpid())
	r := redkit(t, nil, "backup", "--from", src.URL(), "--to", url).want(t, exitLocked)
	if !strings.Contains(r.stderr, "locked by another run") || !strings.Contains(r.stderr, holder) {
		t.Errorf("backup: %s", r.stderr)
	}
	r = redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--log-format", "json").want(t, exitLocked)
	lines := parseJSONLines(t, r.stderr)
	if last := lines[len(lines)-1]; last["exit_code"] != float64(exitLocked) || !strings.Contains(fmt.Sprint(last["err"]), holder) {
		t.Errorf("backup --log-format json: %s", r.stderr)
	}
	r = redkit(t, nil, "backup", "prune", url, "--keep-last", "1").want(t, exitLocked)
	if !strings.Contains(r.stderr, holder) {
		t.Errorf("prune: %s", r.stderr)
	}
	r = redkit(t, nil, "backup", "prune", url, "--keep-last", "1", "--log-format", "json").want(t, exitLocked)
	parseJSONLines(t, r.stderr)
	// A continuous backup's base waits for the lock up to --retry-for.
	start := time.Now()
	r = redkit(t, nil, "backup", "--continuous", "--from", src.URL(), "--to", url, "--retry-for", "1s", "--log-format", "json").want(t, exitLocked)
	lines = parseJSONLines(t, r.stderr)
	if last := lines[len(lines)-1]; !strings.Contains(fmt.Sprint(last["err"]), holder) {
		t.Errorf("continuous: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "waiting to store the base") {
		t.Errorf("continuous: no wait for the lock: %s", r.stderr)
	}
	t.Logf("continuous gave up on the lock after %s", time.Since(start).Round(time.Millisecond))
	// A dry run takes no lock.
	redkit(t, nil, "backup", "prune", url, "--keep-last", "1", "--dry-run").want(t, 0)
	held.Release(ctx)
	redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0)
}

// TestPruneTwoSources: two servers backed up into one storage, twice
// each: --keep-last 1 keeps the newest of each, and the output names
// each backup's source.
func TestPruneTwoSources(t *testing.T) {
	a, b := smallSource(t), smallSource(t)
	url := "file://" + t.TempDir()
	ids := map[string][]string{} // per source, oldest first
	for range 2 {
		for _, s := range []*redistest.Server{a, b} {
			id := strings.TrimSpace(redkit(t, nil, "backup", "--from", s.URL(), "--to", url, "-q").want(t, 0).stdout)
			ids[s.Addr()] = append(ids[s.Addr()], id)
		}
	}
	// b's backups are the newest two: a global --keep-last 1 or 2 would
	// delete all of a's.
	r := redkit(t, nil, "backup", "prune", url, "--keep-last", "1", "--dry-run", "--format", "json").want(t, 0)
	var rows []pruneRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 4 {
		t.Fatalf("prune --format json: %v\n%s", err, r.stdout)
	}
	for _, row := range rows {
		src := ""
		for addr, l := range ids {
			if slices.Contains(l, row.ID) {
				src = addr
			}
		}
		wantAction := "would-delete"
		if row.ID == ids[src][1] {
			wantAction = "keep"
		}
		if row.Source != src || row.Action != wantAction {
			t.Errorf("%s: source %q action %s, want %q %s", row.ID, row.Source, row.Action, src, wantAction)
		}
	}
	r = redkit(t, nil, "backup", "prune", url, "--keep-last", "1").want(t, 0)
	for addr, l := range ids {
		for _, id := range l {
			if !strings.Contains(r.stdout, id) {
				t.Errorf("prune output lacks %s", id)
			}
		}
		if n := strings.Count(r.stdout, addr); n != 2 {
			t.Errorf("prune output names source %s %d times, want 2:\n%s", addr, n, r.stdout)
		}
	}
	ms := listBackups(t, url)
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
	}
	if want := []string{ids[a.Addr()][1], ids[b.Addr()][1]}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v (the newest of each source)\n%s", got, want, r.stdout)
	}
}

// TestBackupVerifyJSON: verify --format json is one object, ok with the
// sizes, SHA-256 and keys per database; a damaged object makes it not
// ok, with the problem, and exit 1.
func TestBackupVerifyJSON(t *testing.T) {
	src := smallSource(t)
	dir := t.TempDir()
	url := "file://" + dir
	id := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0).stdout)
	var rep verifyReport
	r := redkit(t, nil, "backup", "verify", url+"@"+id, "--format", "json").want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if !rep.OK || rep.ID != id || len(rep.Problems) != 0 || len(rep.Objects) != 1 || rep.Keys[0] != 20 || rep.Keys[3] != 1 || rep.Segments != nil {
		t.Errorf("verify: %+v", rep)
	}
	if o := rep.Objects[0]; !o.OK || !o.SHA256OK || o.StoredBytes == 0 || o.RawBytes == 0 || len(o.SHA256) != 64 || o.Keys[0] != 20 || o.RDBVersion != 10 {
		t.Errorf("verify: object %+v", o)
	}
	// The text output stays as it was.
	if r := redkit(t, nil, "backup", "verify", url).want(t, 0); !strings.HasPrefix(r.stdout, "ok  "+id+"/dump.rdb.zst") {
		t.Errorf("verify text: %s", r.stdout)
	}
	damageObject(t, dir, id)
	r = redkit(t, nil, "backup", "verify", url, "--format", "json", "--log-format", "json").want(t, 1)
	rep = verifyReport{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rep.OK || len(rep.Problems) != 1 || rep.Objects[0].OK || rep.Objects[0].SHA256OK || !strings.Contains(rep.Problems[0], "checksum") {
		t.Errorf("verify of a damaged backup: %+v", rep)
	}
	if lines := parseJSONLines(t, r.stderr); len(lines) != 1 || lines[0]["exit_code"] != float64(1) {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestBackupFailedJSON: with --log-format json a failed backup (a source
// nothing listens on, a storage that refuses the credentials) writes
// JSON lines only on stderr, the last one the failure with its exit
// code; so do list and prune's warnings.
func TestBackupFailedJSON(t *testing.T) {
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	src := smallSource(t)
	dir := t.TempDir()

	r := redkit(t, nil, "backup", "--from", "redis://127.0.0.1:1", "--to", "file://"+dir, "--log-format", "json").want(t, 1)
	lines := parseJSONLines(t, r.stderr)
	if last := lines[len(lines)-1]; last["msg"] != "backup failed" || last["exit_code"] != float64(1) || last["hint"] == nil {
		t.Errorf("unreachable source: %s", r.stderr)
	}

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-"+strings.Repeat("x", 30))
	r = redkit(t, nil, "backup", "--from", src.URL(), "--to", "s3://backups/x", "--log-format", "json").want(t, 1)
	lines = parseJSONLines(t, r.stderr)
	if last := lines[len(lines)-1]; last["msg"] != "backup failed" || !strings.Contains(fmt.Sprint(last["err"]), "refused the credentials") {
		t.Errorf("refusing storage: %s", r.stderr)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)

	// A usage error, the same.
	r = redkit(t, nil, "backup", "--from", src.URL(), "--to", "file://"+dir, "--compress", "lz4", "--log-format", "json").want(t, 2)
	parseJSONLines(t, r.stderr)

	// list's and prune's warnings: an incomplete backup.
	b, _ := file.New(dir)
	b.Put(context.Background(), backup.Key(backup.NewID(time.Now().Add(-time.Hour)), "dump.rdb.zst"), strings.NewReader("cut short"))
	redkit(t, nil, "backup", "--from", src.URL(), "--to", "file://"+dir, "-q").want(t, 0)
	for _, args := range [][]string{
		{"backup", "list", "file://" + dir, "--log-format", "json"},
		{"backup", "prune", "file://" + dir, "--keep-last", "1", "--log-format", "json"},
	} {
		r := redkit(t, nil, args...).want(t, 0)
		if lines := parseJSONLines(t, r.stderr); len(lines) != 1 || lines[0]["level"] != "WARN" || !strings.Contains(fmt.Sprint(lines[0]["msg"]), "incomplete") {
			t.Errorf("%v: stderr %s", args, r.stderr)
		}
	}
}

// TestRestoreBackupJSON: with REDKIT_LOG_FORMAT=json, a restore from a
// damaged backup (--verify-first, --to-file) says so in JSON lines only.
func TestRestoreBackupJSON(t *testing.T) {
	src := smallSource(t)
	dir := t.TempDir()
	url := "file://" + dir
	id := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0).stdout)
	t.Setenv("REDKIT_LOG_FORMAT", "json")
	out := filepath.Join(t.TempDir(), "ok.rdb")
	r := redkit(t, nil, "restore", url+"@"+id, "--to-file", out).want(t, 0)
	if lines := parseJSONLines(t, r.stderr); len(lines) == 0 || !strings.Contains(fmt.Sprint(lines[len(lines)-1]["msg"]), "written to "+out) {
		t.Errorf("restore --to-file: %s", r.stderr)
	}
	damageObject(t, dir, id)
	dst := redistest.Start(t, redistest.Options{})
	for _, args := range [][]string{
		{"restore", url, "--to", dst.URL(), "--verify-first"},
		{"restore", url, "--to-file", filepath.Join(t.TempDir(), "x.rdb")},
	} {
		r := redkit(t, nil, args...).want(t, 1)
		lines := parseJSONLines(t, r.stderr)
		if last := lines[len(lines)-1]; last["level"] != "ERROR" || last["exit_code"] != float64(1) || !strings.Contains(fmt.Sprint(last["msg"]), "checksum") || last["detail"] == nil {
			t.Errorf("%v: %s", args, r.stderr)
		}
	}
}

func TestStorageURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, want string
		relative bool
	}{
		{"s3://b/p", "s3://b/p", false},
		{"file:///var/backups/redis", "file:///var/backups/redis", false},
		{"/var/backups/redis", "file:///var/backups/redis", false},
		{"/var/backups/redis/", "file:///var/backups/redis", false},
		{"file://rel/dir", "file://" + filepath.Join(wd, "rel/dir"), true},
		{"rel/dir", "file://" + filepath.Join(wd, "rel/dir"), true},
		{"./dir", "file://" + filepath.Join(wd, "dir"), true},
	} {
		got, rel, err := storageURL(tc.in)
		if err != nil || got != tc.want || rel != tc.relative {
			t.Errorf("storageURL(%q) = %q %v %v, want %q %v", tc.in, got, rel, err, tc.want, tc.relative)
		}
	}
	for _, in := range []string{"", "ftp://h/x", "s3://", "file://"} {
		if _, _, err := storageURL(in); exitCode(context.Background(), err) != exitUsage {
			t.Errorf("storageURL(%q): %v, want a usage error", in, err)
		}
	}
	t.Setenv("REDKIT_STORAGE", "s3://b/p/")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "s3://b/p/"},
		{[]string{"file:///x"}, "file:///x"},
		{[]string{"@latest"}, "s3://b/p@latest"},
		{[]string{"@20261126T021911Z-f83756"}, "s3://b/p@20261126T021911Z-f83756"},
	} {
		if got, err := storageArg("backup verify", tc.args); err != nil || got != tc.want {
			t.Errorf("storageArg(%q) = %q %v, want %q", tc.args, got, err, tc.want)
		}
	}
	if u, id, err := backupRef("restore", "@latest"); err != nil || u != "s3://b/p" || id != "latest" {
		t.Errorf("backupRef(@latest) = %q %q %v", u, id, err)
	}
}

// TestBackupMissingFile: a file source that is not there names its path,
// with no empty server address before it, and exits 1.
func TestBackupMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nosuch.rdb")
	r := redkit(t, nil, "backup", "--from", missing, "--to", "file://"+t.TempDir(), "--quiet").want(t, exitError)
	if !strings.Contains(r.stderr, "backup: open input: open "+missing) || strings.Contains(r.stderr, ": :") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestConvertSummaryCommands: only RESP output counts commands.
func TestConvertSummaryCommands(t *testing.T) {
	in := filepath.Join("..", "..", "testdata", "sample.rdb")
	for to, want := range map[string]bool{"jsonl": false, "rdb": false, "resp": true} {
		r := redkit(t, nil, "convert", "--to", to, "-o", filepath.Join(t.TempDir(), "out"), in).want(t, 0)
		if got := strings.Contains(r.stderr, " commands"); got != want {
			t.Errorf("--to %s: summary %q", to, r.stderr)
		}
	}
}

// TestOldStorageVariable: backup list with only REDKIT_BACKUP_TO set (the
// old name) says to rename it, with the usage code.
func TestOldStorageVariable(t *testing.T) {
	t.Setenv("REDKIT_STORAGE", "")
	t.Setenv("REDKIT_BACKUP_TO", "file://"+t.TempDir())
	r := redkit(t, nil, "backup", "list").want(t, exitUsage)
	if !strings.Contains(r.stderr, "rename it REDKIT_STORAGE") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// damageObject flips a bit in the middle of a file:// backup's object.
func damageObject(t *testing.T, dir, id string) {
	t.Helper()
	obj := filepath.Join(dir, "backups", id, "dump.rdb.zst")
	data, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(obj, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
