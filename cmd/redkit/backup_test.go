package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/internal/s3test"
	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/file"
)

// mixedSource is a server holding every type and encoding, several
// databases, expiring keys and a function library.
func mixedSource(t *testing.T) *redistest.Server {
	t.Helper()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync yes", "repl-diskless-sync-delay 0"}})
	if err := redistest.FillMixed(context.Background(), src.Client(), 3); err != nil {
		t.Fatal(err)
	}
	return src
}

func listBackups(t *testing.T, url string) []backup.Manifest {
	t.Helper()
	r := redkit(t, nil, "backup", "list", url, "--format", "json").want(t, 0)
	var ms []backup.Manifest
	if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil {
		t.Fatalf("backup list --format json: %v\n%s", err, r.stdout)
	}
	return ms
}

// TestBackupRestore: a live source holding every type and encoding is
// backed up to file:// and to s3:// (a real versitygw), listed, and
// restored into fresh servers with the source's DEBUG DIGEST; also to a
// file, and after --verify-first.
func TestBackupRestore(t *testing.T) {
	src := mixedSource(t)
	want := debugDigest(t, src)
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	for _, url := range []string{"file://" + filepath.Join(t.TempDir(), "store"), "s3://backups/prod/redis"} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			r := redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--log-format", "json").want(t, 0)
			id := strings.TrimSpace(r.stdout)
			if !backupIDPattern.MatchString(id) {
				t.Fatalf("backup printed %q, want an id", r.stdout)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			var summary map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil || summary["msg"] != "backup complete" || summary["id"] != id {
				t.Errorf("last log line %q (%v)", lines[len(lines)-1], err)
			}
			ms := listBackups(t, url)
			if len(ms) != 1 || ms[0].ID != id || ms[0].TotalKeys() == 0 || ms[0].Source.Version == "" || ms[0].Objects[0].SHA256 == "" || ms[0].Source.RDBVersion != 10 {
				t.Fatalf("list: %+v", ms)
			}
			if n := src.Client().DBSize(context.Background()).Val(); ms[0].Keys[0] != n {
				t.Errorf("manifest: %d keys in db 0, the source has %d", ms[0].Keys[0], n)
			}
			text := redkit(t, nil, "backup", "list", url).want(t, 0).stdout
			if !strings.Contains(text, id) || !strings.Contains(text, "zstd") {
				t.Errorf("backup list:\n%s", text)
			}

			dst := redistest.Start(t, redistest.Options{})
			redkit(t, nil, "restore", url+"@latest", "--to", dst.URL()).want(t, 0)
			if got := debugDigest(t, dst); got != want {
				t.Errorf("restored @latest: digest %s, want %s", got, want)
			}
			dst2 := redistest.Start(t, redistest.Options{})
			redkit(t, nil, "restore", url+"/"+id, "--to", dst2.URL(), "--verify-first").want(t, 0)
			if got := debugDigest(t, dst2); got != want {
				t.Errorf("restored /ID --verify-first: digest %s, want %s", got, want)
			}
			out := filepath.Join(t.TempDir(), "dump.rdb")
			redkit(t, nil, "restore", url, "--to-file", out).want(t, 0)
			dst3 := redistest.Start(t, redistest.Options{})
			redkit(t, nil, "restore", out, "--to", dst3.URL()).want(t, 0)
			if got := debugDigest(t, dst3); got != want {
				t.Errorf("restored through --to-file: digest %s, want %s", got, want)
			}
		})
	}
}

// TestBackupDamaged: one byte flipped in the stored object: restore fails
// with a checksum error and exit 1; with --verify-first the target is
// untouched.
func TestBackupDamaged(t *testing.T) {
	src := mixedSource(t)
	dir := filepath.Join(t.TempDir(), "store")
	url := "file://" + dir
	id := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0).stdout)
	obj := filepath.Join(dir, "backups", id, "dump.rdb.zst")
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	redkit(t, nil, "backup", "verify", url+"@latest").want(t, 0)
	b[len(b)*2/3] ^= 0x01
	os.WriteFile(obj, b, 0o644)
	r := redkit(t, nil, "backup", "verify", url+"/"+id).want(t, 1)
	if !strings.Contains(r.stderr, "checksum mismatch") {
		t.Errorf("backup verify of a damaged backup: %s", r.stderr)
	}

	dst := redistest.Start(t, redistest.Options{})
	dst.Client().Set(context.Background(), "mine", "1", 0)
	before := debugDigest(t, dst)
	r = redkit(t, nil, "restore", url, "--to", dst.URL(), "--verify-first").want(t, 1)
	if !strings.Contains(r.stderr, "checksum mismatch") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("--verify-first: %s", r.stderr)
	}
	if got := debugDigest(t, dst); got != before {
		t.Errorf("--verify-first wrote to the target")
	}
	r = redkit(t, nil, "restore", url, "--to", dst.URL()).want(t, 1)
	if !strings.Contains(r.stderr, "checksum mismatch") || !strings.Contains(r.stderr, "partial restore") {
		t.Errorf("restore of a damaged backup: %s", r.stderr)
	}
	out := filepath.Join(t.TempDir(), "x.rdb")
	redkit(t, nil, "restore", url, "--to-file", out).want(t, 1)
	if _, err := os.Stat(out); err == nil {
		t.Errorf("--to-file wrote %s from a damaged backup", out)
	}
}

// TestBackupKeyCountMismatch: a manifest whose key counts disagree with
// its object (edited after a real backup) fails backup verify, restore
// into a server and restore to a file, each with exit 1 and the counts;
// the file is not written.
func TestBackupKeyCountMismatch(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	for i := range 50 {
		src.Client().Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	dir := filepath.Join(t.TempDir(), "store")
	url := "file://" + dir
	id := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0).stdout)
	mpath := filepath.Join(dir, "backups", id, backup.ManifestName)
	data, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m backup.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Keys[0] != 50 || m.Objects[0].Keys[0] != 50 {
		t.Fatalf("manifest keys %v, object keys %v: want 50 in db 0", m.Keys, m.Objects[0].Keys)
	}
	m.Keys[0], m.Objects[0].Keys[0] = 51, 51
	if data, err = json.Marshal(&m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mpath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "database 0 has 50 keys, the manifest says 51"

	r := redkit(t, nil, "backup", "verify", url+"@"+id).want(t, 1)
	if !strings.Contains(r.stderr, want) {
		t.Errorf("backup verify: %s", r.stderr)
	}
	dst := redistest.Start(t, redistest.Options{})
	r = redkit(t, nil, "restore", url+"@"+id, "--to", dst.URL()).want(t, 1)
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "does not match its manifest") {
		t.Errorf("restore --to: %s", r.stderr)
	}
	out := filepath.Join(t.TempDir(), "dump.rdb")
	r = redkit(t, nil, "restore", url+"@"+id, "--to-file", out).want(t, 1)
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, out+" was not written") {
		t.Errorf("restore --to-file: %s", r.stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("--to-file wrote %s from a backup that does not match its manifest", out)
	}
	// A database the manifest does not count at all.
	m.Keys, m.Objects[0].Keys = map[int]int64{3: 50}, map[int]int64{3: 50}
	data, _ = json.Marshal(&m)
	os.WriteFile(mpath, data, 0o644)
	r = redkit(t, nil, "restore", url+"@"+id, "--to-file", out).want(t, 1)
	if !strings.Contains(r.stderr, "database 0 has 50 keys, the manifest says 0") {
		t.Errorf("restore --to-file, keys in a database the manifest does not count: %s", r.stderr)
	}
}

// TestBackupEncrypted: the stored bytes hold none of the values; the
// identity restores the exact data; another identity fails cleanly,
// writing nothing.
func TestBackupEncrypted(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	secretValue := "the-plaintext-value-" + strings.Repeat("z", 30)
	for i := range 200 {
		src.Client().Set(ctx, "k"+string(rune('a'+i%26))+strings.Repeat("x", i%7), secretValue, 0)
	}
	src.Client().HSet(ctx, "h", "field", secretValue)
	want := debugDigest(t, src)
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	tmp := t.TempDir()
	idFile, otherFile := filepath.Join(tmp, "id.txt"), filepath.Join(tmp, "other.txt")
	os.WriteFile(idFile, []byte("# created by a test\n"+id.String()+"\n"), 0o600)
	os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)
	dir := filepath.Join(tmp, "store")
	url := "file://" + dir

	bid := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--encrypt-to", id.Recipient().String(), "--compress", "none").want(t, 0).stdout)
	stored, err := os.ReadFile(filepath.Join(dir, "backups", bid, "dump.rdb.age"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte("plaintext-value")) || bytes.Contains(stored, []byte("REDIS00")) {
		t.Error("the stored object holds plaintext")
	}
	ms := listBackups(t, url) // no key needed
	if len(ms) != 1 || ms[0].Encryption == nil || ms[0].Encryption.Recipients[0] != id.Recipient().String() {
		t.Fatalf("list: %+v", ms)
	}

	dst := redistest.Start(t, redistest.Options{})
	r := redkit(t, nil, "restore", url, "--to", dst.URL()).want(t, 2)
	if !strings.Contains(r.stderr, "--identity-file") {
		t.Errorf("no identity: %s", r.stderr)
	}
	r = redkit(t, nil, "restore", url, "--to", dst.URL(), "--identity-file", otherFile).want(t, 1)
	if !strings.Contains(r.stderr, "none of the identities") {
		t.Errorf("another identity: %s", r.stderr)
	}
	if n := dst.Client().DBSize(ctx).Val(); n != 0 {
		t.Errorf("a failed decryption wrote %d keys", n)
	}
	redkit(t, nil, "restore", url, "--to", dst.URL(), "--identity-file", idFile).want(t, 0)
	if got := debugDigest(t, dst); got != want {
		t.Errorf("decrypted restore: digest %s, want %s", got, want)
	}
}

// TestBackupWrongCredentials: a clear error, exit 1, and no secret in
// any output.
func TestBackupWrongCredentials(t *testing.T) {
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	secret := "not-the-secret-" + strings.Repeat("q", 24)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	r := redkit(t, nil, "backup", "--from", src.URL(), "--to", "s3://backups/x").want(t, 1)
	if !strings.Contains(r.stderr, "refused the credentials") || strings.Contains(r.stderr+r.stdout, secret) {
		t.Errorf("wrong secret: %s", r.stderr)
	}
	r = redkit(t, nil, "backup", "list", "s3://backups/x").want(t, 1)
	if strings.Contains(r.stderr+r.stdout, secret) {
		t.Errorf("list shows the secret: %s", r.stderr)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	if ms := listBackups(t, "s3://backups/x"); len(ms) != 0 {
		t.Errorf("a refused backup is listed: %+v", ms)
	}
}

func TestBackupUsage(t *testing.T) {
	for _, args := range [][]string{
		{"backup", "--to", "file:///tmp/x"},
		{"backup", "--from", "redis://127.0.0.1:1", "--to", "ftp://host/dir"},
		{"backup", "--from", "x.rdb", "--to", "file:///tmp/x", "--compress", "lz4"},
		{"backup", "--from", "x.rdb", "--to", "file:///tmp/x", "--level", "30"},
		{"backup", "--from", "x.rdb", "--to", "file:///tmp/x", "--encrypt-to", "age1nope"},
		{"backup", "list"},
		{"restore", "dump.rdb", "--to-file", "x.rdb"},
		{"restore", "s3://b/p", "--to", "redis://127.0.0.1:1", "--to-file", "x.rdb"},
		{"restore", "--check", "--to", "redis://127.0.0.1:1", "file:///tmp/x"},
	} {
		if r := redkit(t, nil, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}

func TestSplitBackupRef(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3://b/p":                         {"s3://b/p", "latest"},
		"s3://b/p@latest":                  {"s3://b/p", "latest"},
		"s3://b/p/20261126T021911Z-f83756": {"s3://b/p", "20261126T021911Z-f83756"},
		"s3://b/p@20261126T021911Z-f83756": {"s3://b/p", "20261126T021911Z-f83756"},
		"file:///var/b/":                   {"file:///var/b/", "latest"},
		"file:///var/user@host/x":          {"file:///var/user@host/x", "latest"},
	} {
		u, id := splitBackupRef(in)
		if u != want[0] || id != want[1] {
			t.Errorf("splitBackupRef(%q) = %q %q, want %q", in, u, id, want)
		}
	}
}

// TestBackupPrune: each policy on backups with controlled start times;
// the newest is always kept, an incomplete backup is left alone.
func TestBackupPrune(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		keep int
	}{
		{[]string{"--keep-last", "3"}, 3},
		{[]string{"--keep-daily", "2"}, 2},
		{[]string{"--keep-weekly", "2"}, 2},
		{[]string{"--keep-within", "36h"}, 4},
		{[]string{"--keep-last", "1", "--keep-weekly", "3"}, 3},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			b, err := file.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Twice a day for 10 days, over three ISO weeks (W46 to W48).
			now := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
			var ids []string
			for i := 19; i >= 0; i-- {
				at := now.Add(-time.Duration(i) * 12 * time.Hour)
				m := &backup.Manifest{ID: backup.NewID(at), Started: at, Compression: "zstd", Keys: map[int]int64{0: 1}}
				b.Put(ctx, backup.Key(m.ID, "dump.rdb.zst"), strings.NewReader("x"))
				if err := backup.WriteManifest(ctx, b, m); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, m.ID)
			}
			half := backup.NewID(now.Add(-100 * time.Hour))
			b.Put(ctx, backup.Key(half, "dump.rdb.zst"), strings.NewReader("in progress"))
			url := "file://" + dir
			dry := redkit(t, nil, append([]string{"backup", "prune", url, "--dry-run"}, tc.args...)...).want(t, 0)
			if n := strings.Count(dry.stdout, "would-delete"); n != 20-tc.keep {
				t.Errorf("dry run: %d would be deleted, want %d\n%s", n, 20-tc.keep, dry.stdout)
			}
			if ms := listBackups(t, url); len(ms) != 20 {
				t.Fatalf("the dry run deleted backups: %d left", len(ms))
			}
			r := redkit(t, nil, append([]string{"backup", "prune", url}, tc.args...)...).want(t, 0)
			ms := listBackups(t, url)
			if len(ms) != tc.keep || ms[len(ms)-1].ID != ids[len(ids)-1] {
				t.Errorf("%d backups left, want %d with the newest\n%s", len(ms), tc.keep, r.stdout)
			}
			if !strings.Contains(r.stderr, half) {
				t.Errorf("the incomplete backup is not mentioned: %s", r.stderr)
			}
			if _, err := b.Stat(ctx, backup.Key(half, "dump.rdb.zst")); err != nil {
				t.Errorf("the incomplete backup was touched: %v", err)
			}
		})
	}
}

// TestBackupLock: a second run while one holds the lock fails cleanly; a
// lock left by a run that died is taken over once stale.
func TestBackupLock(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	src.Client().Set(ctx, "k", "v", 0)
	dir := t.TempDir()
	b, _ := file.New(dir)
	url := "file://" + dir
	held, err := storage.AcquireLock(ctx, b, "backup", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := redkit(t, nil, "backup", "--from", src.URL(), "--to", url).want(t, exitLocked)
	if !strings.Contains(r.stderr, "locked by another run") || !strings.Contains(r.stderr, "backup (pid") {
		t.Errorf("overlapping backup: %s", r.stderr)
	}
	redkit(t, nil, "backup", "prune", url, "--keep-last", "1").want(t, exitLocked)
	held.Release(ctx)
	redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0)
	// A dead run's lock (never refreshed): stale after --lock-timeout.
	if _, err := b.Put(ctx, storage.LocksDir+"20200101T000000Z-dead00.json", strings.NewReader(`{"id":"20200101T000000Z-dead00","operation":"backup","refreshed":"2020-01-01T00:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	r = redkit(t, nil, "backup", "--from", src.URL(), "--to", url).want(t, 0)
	if !strings.Contains(r.stderr, "stale lock") {
		t.Errorf("no warning on taking over a stale lock: %s", r.stderr)
	}
	if ms := listBackups(t, url); len(ms) != 2 {
		t.Errorf("%d backups, want 2", len(ms))
	}
}

// TestBackupKilled: a backup interrupted mid-upload (SIGINT, then kill
// -9) lists no backup and leaves no multipart upload once the next run
// has cleaned up after the dead one.
func TestBackupKilled(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	// 48 MB that compression cannot shrink: several 16 MiB parts.
	for i := range 48 {
		src.Client().Set(ctx, "blob:"+strconv.Itoa(i), string(randomBlob(1<<20, uint64(i))), 0)
	}
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	url := "s3://backups/k"
	client := awss3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")},
		func(o *awss3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(srv.Endpoint), true })
	pending := func() int {
		out, err := client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("backups")})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}
	waitUpload := func(cmd *exec.Cmd) {
		deadline := time.Now().Add(30 * time.Second)
		for pending() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no multipart upload began")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	args := []string{"backup", "--from", src.URL(), "--to", url, "--compress", "none", "--lock-timeout", "2s"}
	cmd, _ := redkitProcess(t, args...)
	waitUpload(cmd)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err == nil {
		t.Error("an interrupted backup exited 0")
	}
	if n := pending(); n != 0 {
		t.Errorf("after SIGINT: %d multipart uploads left", n)
	}
	if ms := listBackups(t, url); len(ms) != 0 {
		t.Errorf("after SIGINT: %d backups listed", len(ms))
	}

	cmd, _ = redkitProcess(t, args...)
	waitUpload(cmd)
	cmd.Process.Kill()
	cmd.Wait()
	if ms := listBackups(t, url); len(ms) != 0 {
		t.Errorf("after kill -9: %d backups listed", len(ms))
	}
	time.Sleep(2100 * time.Millisecond) // the dead run's lock goes stale
	r := redkit(t, nil, append(args, "--compress", "zstd")...).want(t, 0)
	if !strings.Contains(r.stderr, "removed uploads interrupted") {
		t.Errorf("the next run did not clean up: %s", r.stderr)
	}
	if n := pending(); n != 0 {
		t.Errorf("after the next run: %d multipart uploads left", n)
	}
	if ms := listBackups(t, url); len(ms) != 1 {
		t.Errorf("%d backups listed, want 1", len(ms))
	}
}

func randomBlob(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 9))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBackupCluster: a 3-master cluster is backed up (one snapshot per
// master, in parallel, with their slots), restored onto a fresh 3-master
// cluster, and compare finds them equal.
func TestBackupCluster(t *testing.T) {
	_, dump := convertSourceDump(t)
	src := redistest.StartCluster(t, 3, 0)
	srcURL := "redis://" + src[0].Addr()
	redkit(t, nil, "restore", "--to", srcURL, "--db", "0", "-q", dump).want(t, 0)
	url := "file://" + filepath.Join(t.TempDir(), "store")
	id := strings.TrimSpace(redkit(t, nil, "backup", "--from", srcURL, "--to", url, "-q").want(t, 0).stdout)
	ms := listBackups(t, url)
	if len(ms) != 1 || ms[0].ID != id || !ms[0].Source.Cluster || len(ms[0].Objects) != 3 {
		t.Fatalf("list: %+v", ms)
	}
	slots := 0
	for _, o := range ms[0].Objects {
		if o.Master == "" || len(o.Slots) == 0 {
			t.Errorf("object %+v: no master or slots", o)
		}
		for _, r := range o.Slots {
			slots += r[1] - r[0] + 1
		}
	}
	if slots != 16384 {
		t.Errorf("the objects cover %d slots", slots)
	}
	dst := redistest.StartCluster(t, 3, 0)
	dstURL := "redis://" + dst[2].Addr()
	redkit(t, nil, "restore", url+"@latest", "--to", dstURL, "-q").want(t, 0)
	redkit(t, nil, "compare", srcURL, dstURL).want(t, 0)
	r := redkit(t, nil, "restore", url, "--to-file", filepath.Join(t.TempDir(), "x.rdb")).want(t, 2)
	if !strings.Contains(r.stderr, "holds 3 snapshots") {
		t.Errorf("--to-file of a cluster backup: %s", r.stderr)
	}
}

// TestDump: the snapshot taken as a replica, written atomically, loads
// back with the source's digest; to stdout too.
func TestDump(t *testing.T) {
	src := mixedSource(t)
	want := debugDigest(t, src)
	out := filepath.Join(t.TempDir(), "dump.rdb")
	r := redkit(t, nil, "dump", "--from", src.URL(), "-o", out).want(t, 0)
	if !strings.Contains(r.stderr, "keys (db0=") {
		t.Errorf("summary: %s", r.stderr)
	}
	dst := redistest.Start(t, redistest.Options{})
	redkit(t, nil, "restore", out, "--to", dst.URL(), "-q").want(t, 0)
	if got := debugDigest(t, dst); got != want {
		t.Errorf("restored dump: digest %s, want %s", got, want)
	}
	r = redkit(t, nil, "dump", "--from", src.URL(), "-o", "-", "-q").want(t, 0)
	file, _ := os.ReadFile(out)
	if len(r.stdout) != len(file) || !strings.HasPrefix(r.stdout, "REDIS00") {
		t.Errorf("dump to stdout: %d bytes, the file has %d", len(r.stdout), len(file))
	}
	redkit(t, nil, "dump", "--from", "redis://127.0.0.1:1", "-o", out).want(t, 1)
	redkit(t, nil, "dump", "-o", out).want(t, 2)
}

// TestBackupAOF: a running server's multi-part AOF directory (a base
// RDB after a rewrite, then incr files) is backed up while the server
// keeps it open, verified, and restored with the server's digest.
func TestBackupAOF(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"appendonly yes", "aof-use-rdb-preamble yes"}})
	if err := redistest.FillMixed(ctx, src.Client(), 4); err != nil {
		t.Fatal(err)
	}
	if err := src.Client().BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for src.InfoField(t, "aof_rewrite_in_progress") != "0" || src.InfoField(t, "aof_rewrite_scheduled") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the AOF rewrite did not end")
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := redistest.StartWriter(t, src, 7)
	w.WaitRounds(t, 200)
	w.Halt(t)
	want := debugDigest(t, src)
	dir := filepath.Join(src.Dir(), "appendonlydir")
	url := "file://" + filepath.Join(t.TempDir(), "store")
	redkit(t, nil, "backup", "--from", dir, "--to", url, "-q").want(t, 0)
	ms := listBackups(t, url)
	if len(ms) != 1 || ms[0].Source.Kind != "aof-dir" || ms[0].AOFManifest == "" || len(ms[0].Objects) < 2 || ms[0].Objects[len(ms[0].Objects)-1].Commands == 0 {
		t.Fatalf("list: %+v", ms)
	}
	redkit(t, nil, "backup", "verify", url).want(t, 0)
	dst := redistest.Start(t, redistest.Options{})
	redkit(t, nil, "restore", url, "--to", dst.URL(), "-q").want(t, 0)
	if got := debugDigest(t, dst); got != want {
		t.Errorf("restored AOF backup: digest %s, want %s", got, want)
	}
}

// tinyDisk mounts a tmpfs of size (such as "1m") on a fresh directory: a
// disk that fills for real. It is unmounted at the test's end; the test
// is skipped where mounting is not permitted.
func tinyDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDumpFullDisk: a dump that cannot be written (/dev/full, a full
// tmpfs) says which write failed, not that the snapshot is invalid, exits
// 1 and leaves no file behind; so does restore --to-file.
func TestDumpFullDisk(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	// 2 MB that do not fit on a 1 MB disk.
	for i := range 2 {
		src.Client().Set(ctx, "blob:"+strconv.Itoa(i), string(randomBlob(1<<20, uint64(i))), 0)
	}
	check := func(t *testing.T, r result, path string) {
		t.Helper()
		if want := "write " + path + ": no space left on device"; !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "not a valid RDB") {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	t.Run("dev-full", func(t *testing.T) {
		r := redkit(t, nil, "dump", "--from", src.URL(), "-o", "/dev/full").want(t, 1)
		check(t, r, "/dev/full")
	})
	t.Run("stdout-dev-full", func(t *testing.T) {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Skip(err)
		}
		defer full.Close()
		var stderr bytes.Buffer
		code := runIO(ctx, []string{"redkit", "dump", "--from", src.URL(), "-o", "-"}, strings.NewReader(""), full, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "write to standard output: no space left on device") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
		}
	})
	t.Run("tmpfs", func(t *testing.T) {
		dir := tinyDisk(t, "1m")
		out := filepath.Join(dir, "dump.rdb")
		r := redkit(t, nil, "dump", "--from", src.URL(), "-o", out).want(t, 1)
		check(t, r, out)
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("left on the disk: %v", left)
		}
	})
	t.Run("restore-to-file", func(t *testing.T) {
		url := "file://" + filepath.Join(t.TempDir(), "store")
		redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "-q").want(t, 0)
		r := redkit(t, nil, "restore", url, "--to-file", "/dev/full").want(t, 1)
		check(t, r, "/dev/full")
	})
}

// TestBackupFullDisk: a file:// storage on a disk that fills up during
// the upload: the error names the storage and the full disk, not an
// invalid snapshot; exit 1, nothing listed, and the lock released.
func TestBackupFullDisk(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	for i := range 2 {
		src.Client().Set(ctx, "blob:"+strconv.Itoa(i), string(randomBlob(1<<20, uint64(i))), 0)
	}
	dir := tinyDisk(t, "1m")
	url := "file://" + dir
	r := redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--compress", "none").want(t, 1)
	if !strings.Contains(r.stderr, "upload to "+url) || !strings.Contains(r.stderr, "no space left on device") || strings.Contains(r.stderr, "not a valid RDB") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if ms := listBackups(t, url); len(ms) != 0 {
		t.Errorf("%d backups listed", len(ms))
	}
	if locks, _ := os.ReadDir(filepath.Join(dir, "locks")); len(locks) != 0 {
		t.Errorf("the failed backup left its lock: %v", locks)
	}
}

// TestBackupStorageLost: the storage stops during the upload: the backup
// exits 1 saying the upload failed (not the snapshot), and once the
// storage is back the next backup runs at once: the failed run's lock
// does not hold it off for --lock-timeout.
func TestBackupStorageLost(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	// 48 MB that compression cannot shrink: several 16 MiB parts.
	for i := range 48 {
		src.Client().Set(ctx, "blob:"+strconv.Itoa(i), string(randomBlob(1<<20, uint64(i))), 0)
	}
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	url := "s3://backups/lost"
	client := awss3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")},
		func(o *awss3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(srv.Endpoint), true })
	args := []string{"backup", "--from", src.URL(), "--to", url, "--compress", "none"}
	cmd, logf := redkitProcess(t, args...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := client.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("backups")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Down()
	start := time.Now()
	err := cmd.Wait()
	t.Logf("the backup ended %v after the storage stopped", time.Since(start).Round(time.Millisecond))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("the backup that lost its storage: %v, want exit 1", err)
	}
	logged, _ := os.ReadFile(logf)
	if !strings.Contains(string(logged), "put "+url+"/backups/") || strings.Contains(string(logged), "not a valid RDB") {
		t.Errorf("the backup that lost its storage:\n%s", logged)
	}
	srv.Up(t)
	r := redkit(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("the next backup: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "its process is gone") {
		t.Errorf("the next backup did not say it took the failed run's lock over:\n%s", r.stderr)
	}
	if ms := listBackups(t, url); len(ms) != 1 {
		t.Errorf("%d backups listed, want 1", len(ms))
	}
}

// TestBackupSourceLost: the source drops the replication link during the
// snapshot: the backup exits 1 saying so (not that the snapshot is
// invalid), and releases the storage's lock.
func TestBackupSourceLost(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0"}})
	for i := range 48 {
		src.Client().Set(ctx, "blob:"+strconv.Itoa(i), string(randomBlob(1<<20, uint64(i))), 0)
	}
	dir := t.TempDir()
	url := "file://" + dir
	done := make(chan result, 1)
	go func() {
		done <- redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--compress", "zstd", "--level", "19")
	}()
	// Once the object being written holds some of the snapshot.
	deadline := time.Now().Add(30 * time.Second)
	for {
		tmp, _ := filepath.Glob(filepath.Join(dir, "backups", "*", ".redkit-tmp.*"))
		if len(tmp) == 1 {
			if fi, err := os.Stat(tmp[0]); err == nil && fi.Size() > 256<<10 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the snapshot did not start streaming")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, err := src.Client().Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Int(); n != 1 {
		t.Fatalf("CLIENT KILL TYPE replica: %d, %v", n, err)
	}
	r := (<-done).want(t, 1)
	if !strings.Contains(r.stderr, "read the snapshot") || strings.Contains(r.stderr, "not a valid RDB") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if locks, _ := os.ReadDir(filepath.Join(dir, "locks")); len(locks) != 0 {
		t.Errorf("the failed backup left its lock: %v", locks)
	}
}
