package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/internal/s3test"
)

// analyzeSummary runs analyze --report summary --format json with args
// and returns its report; the exit code must be code.
func analyzeSummary(t *testing.T, code int, args ...string) (summaryJSON, result) {
	t.Helper()
	r := redkit(t, nil, append([]string{"analyze", "--format", "json", "-q"}, args...)...).want(t, code)
	var s summaryJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("analyze %v: %v\n%s", args, err, r.stdout)
	}
	return s, r
}

// groupMap maps a summary's groups by name.
func groupMap(gs []groupJSON) map[string]groupJSON {
	m := map[string]groupJSON{}
	for _, g := range gs {
		m[g.Name] = g
	}
	return m
}

// sameAnalysis compares two summaries: key counts and memory in total,
// per database and per type, memory within tolerance (a fraction).
func sameAnalysis(t *testing.T, what string, got, want summaryJSON, tolerance float64) {
	t.Helper()
	near := func(a, b int64) bool { return math.Abs(float64(a-b)) <= tolerance*float64(max(a, b)) }
	t.Logf("%s: %d keys, memory %d; the dump's: %d keys, memory %d", what, got.Keys, got.Memory, want.Keys, want.Memory)
	if got.Keys != want.Keys || !near(got.Memory, want.Memory) {
		t.Errorf("%s: %d keys, memory %d; want %d keys, memory %d", what, got.Keys, got.Memory, want.Keys, want.Memory)
	}
	for _, by := range []struct {
		name      string
		got, want []groupJSON
	}{{"database", got.Databases, want.Databases}, {"type", got.Types, want.Types}} {
		g, w := groupMap(by.got), groupMap(by.want)
		if len(g) != len(w) {
			t.Errorf("%s: %ss %v, want %v", what, by.name, by.got, by.want)
		}
		for name, wg := range w {
			if gg := g[name]; gg.Keys != wg.Keys || !near(gg.Memory, wg.Memory) {
				t.Errorf("%s: %s %s: %d keys, memory %d; want %d keys, memory %d", what, by.name, name, gg.Keys, gg.Memory, wg.Keys, wg.Memory)
			}
		}
	}
}

// ageIdentity writes a new age identity to a file in dir and returns
// the file and the identity.
func ageIdentity(t *testing.T, dir, name string) (string, *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("# made by a test\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id
}

// TestAnalyzeBackup: a real server's mixed data backed up (encrypted with
// age, compressed) to file:// and to s3:// (a real versitygw) analyzes
// from URL@latest (and URL/ID, and @latest of REDKIT_STORAGE's) exactly
// as the server's own SAVEd dump does, and checks; a backup of
// another compression, unencrypted, too.
func TestAnalyzeBackup(t *testing.T) {
	src := mixedSource(t)
	want, _ := analyzeSummary(t, 0, src.Save(t))
	tmp := t.TempDir()
	idFile, id := ageIdentity(t, tmp, "id.txt")
	srv := s3test.Start(t, "backups")
	srv.Env(t)
	for _, url := range []string{"file://" + filepath.Join(tmp, "store"), "s3://backups/prod/redis"} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			bid := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--encrypt-to", id.Recipient().String(), "-q").want(t, 0).stdout)
			got, _ := analyzeSummary(t, 0, url+"@latest", "--identity-file", idFile)
			sameAnalysis(t, url+"@latest", got, want, 0)
			if len(got.Files) != 1 || got.Files[0].File != url+"/"+bid+"/dump.rdb.zst.age" || got.Files[0].Compression != "zstd+age" || got.Files[0].Error != "" {
				t.Errorf("files: %+v", got.Files)
			}
			got, _ = analyzeSummary(t, 0, url+"/"+bid, "--identity-file", idFile)
			sameAnalysis(t, url+"/"+bid, got, want, 0)
			r := redkit(t, nil, "check", url+"@"+bid, "--identity-file", idFile).want(t, 0)
			if !strings.Contains(r.stdout, "dump.rdb.zst.age: ok") || !strings.Contains(r.stdout, "verified") {
				t.Errorf("check: %s", r.stdout)
			}
			t.Setenv("REDKIT_STORAGE", url)
			t.Setenv("REDKIT_IDENTITY_FILE", idFile)
			got, _ = analyzeSummary(t, 0, "@latest")
			sameAnalysis(t, "@latest of REDKIT_STORAGE", got, want, 0)
			redkit(t, nil, "check", "@"+bid, "-q").want(t, 0)
		})
	}
	// Another codec, and the keys report.
	url := "file://" + filepath.Join(tmp, "gzip")
	redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--compress", "gzip", "-q").want(t, 0)
	got, _ := analyzeSummary(t, 0, url+"@latest")
	sameAnalysis(t, "gzip backup", got, want, 0)
	r := redkit(t, nil, "analyze", "--report", "keys", "--format", "json", url+"@latest").want(t, 0)
	if n := strings.Count(r.stdout, "\n"); int64(n) != want.Keys {
		t.Errorf("keys report of the backup: %d rows, want %d", n, want.Keys)
	}
}

// TestAnalyzeBackupDamaged: the failure paths of a backup as an input,
// each a clear error and a non-zero exit: a flipped byte in the stored
// object (found by the decompressor, or only by the SHA-256 at the end:
// the report then marks the object FAILED VERIFICATION and exits 1), a
// deleted object, no identity, a wrong identity, a backup id that does
// not exist, a URL with a password (never printed).
func TestAnalyzeBackupDamaged(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"repl-diskless-sync-delay 0", "rdbcompression no", "rdbchecksum no"}})
	for i := range 300 {
		src.Client().Set(ctx, "key:"+strings.Repeat("x", i%9)+string(rune('a'+i%26))+strings.Repeat("y", i%5), strings.Repeat("v", i), 0)
	}
	tmp := t.TempDir()
	idFile, id := ageIdentity(t, tmp, "id.txt")
	otherFile, _ := ageIdentity(t, tmp, "other.txt")

	// Found only at the end: no compression, no encryption, no CRC64 (saved
	// with rdbchecksum no), one byte of a value flipped: every key parses,
	// and only the SHA-256 at the end tells.
	dir := filepath.Join(tmp, "plain")
	url := "file://" + dir
	bid := strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--compress", "none", "-q").want(t, 0).stdout)
	obj := filepath.Join(dir, "backups", bid, "dump.rdb")
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(string(b), "vvvvvvvv")
	b[i] = 'w'
	if err := os.WriteFile(obj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, r := analyzeSummary(t, 1, url+"@latest")
	if len(s.Files) != 1 || !strings.Contains(s.Files[0].Error, "checksum mismatch") || !strings.Contains(s.Files[0].Error, "dump.rdb") {
		t.Errorf("damaged object: files %+v", s.Files)
	}
	if !strings.Contains(r.stderr, "checksum mismatch") || !strings.Contains(r.stderr, bid+"/dump.rdb") || !strings.Contains(r.stderr, "failed verification") {
		t.Errorf("damaged object: stderr %s", r.stderr)
	}
	r = redkit(t, nil, "analyze", url+"@latest").want(t, 1)
	if !strings.Contains(r.stdout, "FAILED VERIFICATION") {
		t.Errorf("damaged object: the text summary does not say it failed:\n%s", r.stdout)
	}
	r = redkit(t, nil, "check", url+"@latest").want(t, 1)
	if !strings.Contains(r.stderr, "checksum mismatch") || !strings.Contains(r.stderr, bid+"/dump.rdb") {
		t.Errorf("check of a damaged object: %s", r.stderr)
	}

	// Found on the way: encrypted and compressed, a byte flipped in the
	// middle breaks the decryption first.
	dir = filepath.Join(tmp, "age")
	url = "file://" + dir
	bid = strings.TrimSpace(redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--encrypt-to", id.Recipient().String(), "-q").want(t, 0).stdout)
	redkit(t, nil, "analyze", url+"@latest").want(t, 2) // no identity
	r = redkit(t, nil, "analyze", url+"@latest", "--identity-file", otherFile).want(t, 1)
	if !strings.Contains(r.stderr, "none of the identities") {
		t.Errorf("another identity: %s", r.stderr)
	}
	r = redkit(t, nil, "check", url+"@latest", "--identity-file", otherFile).want(t, 1)
	if !strings.Contains(r.stderr, "none of the identities") {
		t.Errorf("check with another identity: %s", r.stderr)
	}
	obj = filepath.Join(dir, "backups", bid, "dump.rdb.zst.age")
	if b, err = os.ReadFile(obj); err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(obj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"analyze", "check"} {
		r = redkit(t, nil, cmd, url+"@latest", "--identity-file", idFile).want(t, 1)
		if !strings.Contains(r.stderr, "checksum mismatch") || !strings.Contains(r.stderr, "dump.rdb.zst.age") {
			t.Errorf("%s of a damaged encrypted object: %s", cmd, r.stderr)
		}
	}
	// Deleted.
	if err := os.Remove(obj); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"analyze", "check"} {
		r = redkit(t, nil, cmd, url+"@latest", "--identity-file", idFile).want(t, 1)
		if !strings.Contains(r.stderr, "dump.rdb.zst.age") || !strings.Contains(r.stderr, "no such file") {
			t.Errorf("%s of a deleted object: %s", cmd, r.stderr)
		}
	}
	// No such backup.
	for _, cmd := range []string{"analyze", "check"} {
		r = redkit(t, nil, cmd, url+"@20200101T000000Z-abcdef").want(t, 1)
		if !strings.Contains(r.stderr, "no backup 20200101T000000Z-abcdef") {
			t.Errorf("%s of a missing backup: %s", cmd, r.stderr)
		}
	}
	r = redkit(t, nil, "analyze", "file://"+filepath.Join(tmp, "empty")+"@latest").want(t, 1)
	if !strings.Contains(r.stderr, "no complete backup") {
		t.Errorf("analyze of an empty storage: %s", r.stderr)
	}

	// Credentials in the URL: refused, never printed, in text or JSON.
	const secret = "Sekr3t-pw-77"
	for _, arg := range []string{
		"s3://AKIAEXAMPLE:" + secret + "@backups/prod@latest",
		"s3://AKIAEXAMPLE:" + secret + "@backups@latest",
		"s3://" + secret + "@backups",
		"s3://AKIAEXAMPLE:" + secret + "@backups/prod/" + bid,
		"file://u:" + secret + "@" + dir + "@latest",
	} {
		for _, cmd := range [][]string{{"analyze"}, {"check"}, {"analyze", "--log-format", "json"}} {
			r := redkit(t, nil, append(cmd, arg)...)
			if r.code != 2 || strings.Contains(r.stdout+r.stderr, secret) || !strings.Contains(r.stderr, "credentials do not go in the URL") {
				t.Errorf("%v %s: exit %d\n%s%s", cmd, arg, r.code, r.stdout, r.stderr)
			}
		}
	}
}

// TestAnalyzeBackupCluster: a 3-master cluster's backup (one object per
// master) is analyzed as its three objects, keys summed as the masters
// hold them; a damaged object is named, the others reported ok.
func TestAnalyzeBackupCluster(t *testing.T) {
	_, dump := convertSourceDump(t)
	src := redistest.StartCluster(t, 3, 0)
	srcURL := "redis://" + src[0].Addr()
	redkit(t, nil, "restore", "--to", srcURL, "--db", "0", "-q", dump).want(t, 0)
	var wantKeys int64
	for _, m := range src {
		wantKeys += m.Client().DBSize(context.Background()).Val()
	}
	dir := filepath.Join(t.TempDir(), "store")
	url := "file://" + dir
	bid := strings.TrimSpace(redkit(t, nil, "backup", "--from", srcURL, "--to", url, "-q").want(t, 0).stdout)
	got, _ := analyzeSummary(t, 0, url+"@latest")
	if got.Keys != wantKeys || len(got.Files) != 3 {
		t.Fatalf("cluster backup: %d keys in %d files, want %d in 3", got.Keys, len(got.Files), wantKeys)
	}
	var sum int64
	for _, f := range got.Files {
		if !strings.HasPrefix(f.File, url+"/"+bid+"/") || f.Error != "" {
			t.Errorf("file %+v", f)
		}
	}
	for _, d := range got.Databases {
		sum += d.Keys
	}
	if sum != wantKeys {
		t.Errorf("databases sum to %d keys, want %d", sum, wantKeys)
	}
	redkit(t, nil, "check", url+"@latest", "-q").want(t, 0)

	name := strings.TrimPrefix(got.Files[1].File, url+"/"+bid+"/")
	obj := filepath.Join(dir, "backups", bid, name)
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	os.WriteFile(obj, b, 0o644)
	s, r := analyzeSummary(t, 1, url+"@latest")
	for i, f := range s.Files {
		if damaged := i == 1; damaged != (f.Error != "") {
			t.Errorf("file %d %s: error %q", i, f.File, f.Error)
		}
	}
	if !strings.Contains(r.stderr, name) || !strings.Contains(r.stderr, "checksum mismatch") {
		t.Errorf("the damaged object is not named: %s", r.stderr)
	}
	r = redkit(t, nil, "check", url+"@latest", "--format", "json").want(t, 1)
	if strings.Count(r.stdout, `"ok":true`) != 2 || !strings.Contains(r.stdout, name) {
		t.Errorf("check of a cluster backup with a damaged object:\n%s", r.stdout)
	}
}

// TestAnalyzeBackupPerKey: a backup read key by key (--source-mode scan)
// analyzes with the source's keys, databases and types.
func TestAnalyzeBackupPerKey(t *testing.T) {
	src := mixedSource(t)
	want, _ := analyzeSummary(t, 0, src.Save(t))
	url := "file://" + filepath.Join(t.TempDir(), "store")
	redkit(t, nil, "backup", "--from", src.URL(), "--to", url, "--source-mode", "scan", "-q").want(t, 0)
	if ms := listBackups(t, url); len(ms) != 1 || !ms[0].PerKey() {
		t.Fatalf("not a per-key backup: %+v", ms)
	}
	got, _ := analyzeSummary(t, 0, url+"@latest")
	sameAnalysis(t, "per-key backup", got, want, 0)
	redkit(t, nil, "check", url+"@latest", "-q").want(t, 0)
}

// TestAnalyzeAOF: a real server with appendonly yes and writes of every
// type: analyze of its appendonlydir (replayed) equals analyze of its
// SAVE: keys, databases, types, memory within a tiny tolerance; and of a
// backup of that directory too.
func TestAnalyzeAOF(t *testing.T) {
	t.Run("redis", func(t *testing.T) { testAnalyzeAOF(t, "redis-server") })
	// Valkey's own layout: the replay's RDB names the server that wrote
	// the AOF, so its memory model is used.
	t.Run("valkey", func(t *testing.T) { testAnalyzeAOF(t, "valkey-server") })
}

func testAnalyzeAOF(t *testing.T, binary string) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Binary: binary, Config: []string{"appendonly yes"}})
	writeAOFData(t, ctx, src)
	want, _ := analyzeSummary(t, 0, src.Save(t))
	aofDir := filepath.Join(src.Dir(), "appendonlydir")
	got, r := analyzeSummary(t, 0, aofDir)
	sameAnalysis(t, "appendonlydir", got, want, 0)
	if len(got.Files) != 1 || !got.Files[0].ReplayedAOF || !strings.Contains(r.stderr, "replayed") {
		t.Errorf("the report does not say the AOF was replayed: %+v\n%s", got.Files, r.stderr)
	}
	r = redkit(t, nil, "analyze", aofDir).want(t, 0)
	if !strings.Contains(r.stdout, "AOF replayed") {
		t.Errorf("text summary: %s", r.stdout)
	}
	// Its manifest, and a backup of it.
	manifests, _ := filepath.Glob(filepath.Join(aofDir, "*.manifest"))
	if len(manifests) != 1 {
		t.Fatalf("manifests %v", manifests)
	}
	got, _ = analyzeSummary(t, 0, manifests[0])
	sameAnalysis(t, "AOF manifest", got, want, 0)
	url := "file://" + filepath.Join(t.TempDir(), "store")
	redkit(t, nil, "backup", "--from", aofDir, "--to", url, "-q").want(t, 0)
	got, _ = analyzeSummary(t, 0, url+"@latest")
	sameAnalysis(t, "AOF backup", got, want, 0)
	// The keys report has every key once.
	r = redkit(t, nil, "analyze", "--report", "keys", "--format", "json", aofDir).want(t, 0)
	if n := strings.Count(r.stdout, "\n"); int64(n) != want.Keys {
		t.Errorf("keys report: %d rows, want %d", n, want.Keys)
	}
}

// writeAOFData writes, with the default encoding thresholds, keys of
// every type in both of their encodings, in three databases, with
// expiries, overwrites, deletions and in-place changes (pipelined, in
// order, on one connection).
func writeAOFData(t *testing.T, ctx context.Context, src *redistest.Server) {
	t.Helper()
	conn := src.Client().Conn()
	defer conn.Close()
	pipe := conn.Pipeline()
	do := func(args ...any) { pipe.Do(ctx, args...) }
	flush := func() {
		t.Helper()
		cmds, err := pipe.Exec(ctx)
		if err != nil {
			for _, c := range cmds {
				if c.Err() != nil {
					t.Fatalf("%v: %v", c.Args()[:min(len(c.Args()), 3)], c.Err())
				}
			}
			t.Fatal(err)
		}
	}
	long := strings.Repeat("L", 100)
	for db := range 3 {
		do("SELECT", db)
		for i := range 200 {
			k := func(kind string) string {
				return kind + ":" + string(rune('a'+db)) + ":" + strings.Repeat("n", i%4) + string(rune('0'+i%10)) + string(rune('A'+i/10))
			}
			do("SET", k("int"), i*1000-7)
			do("SET", k("str"), strings.Repeat("s", i%50))
			if i%5 == 0 {
				do("SET", k("big"), strings.Repeat("b", 100+i))
				do("APPEND", k("big"), "more")
				do("INCRBY", k("int"), 5)
				do("PEXPIREAT", k("str"), int64(4102444800000)+int64(i))
			}
			if i%3 == 0 {
				do("DEL", k("str"))
			}
			if i%20 == 0 {
				do("RPUSH", k("list"), "a", "bb", 3, long)
				for j := range i * 5 {
					do("RPUSH", k("list"), j)
				}
				do("LPOP", k("list"))
				do("SADD", k("iset"), 1, 2, 300000, -5)
				do("SADD", k("sset"), "m1", "m2", "m3")
				for j := range 600 * (i / 100) {
					do("SADD", k("bigset"), j)
				}
				do("SADD", k("bigset"), "x")
				do("HSET", k("hash"), "f1", "v1", "f2", 22, "f3", "v3")
				do("HDEL", k("hash"), "f2")
				do("HSET", k("longhash"), "f", long)
				for j := range i * 8 {
					do("HSET", k("bighash"), j, "value")
				}
				do("ZADD", k("zset"), 1, "one", 2.5, "two-and-a-half", -3, "minus", 1e20, "huge")
				for j := range i * 2 {
					do("ZADD", k("bigzset"), float64(j)/3, j)
				}
				do("ZINCRBY", k("zset"), 0.25, "one")
				do("XADD", k("stream"), "1-1", "f", "v")
				do("XADD", k("stream"), "2-1", "f", "w", "g", 7)
				do("EXPIRE", k("hash"), 86400*365*30)
			}
			flush()
		}
	}
}

// TestAnalyzeAOFPlain: a plain AOF (RESP commands only, as Redis 6
// writes with aof-use-rdb-preamble no) given as a file analyzes as the
// server's SAVE; a file named *.aof with an RDB preamble too.
func TestAnalyzeAOFPlain(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"appendonly yes", "aof-use-rdb-preamble no"}})
	writeAOFData(t, ctx, src)
	want, _ := analyzeSummary(t, 0, src.Save(t))
	files, _ := filepath.Glob(filepath.Join(src.Dir(), "appendonlydir", "*.incr.aof"))
	if len(files) != 1 {
		t.Fatalf("incr files %v", files)
	}
	got, _ := analyzeSummary(t, 0, files[0])
	sameAnalysis(t, "plain AOF", got, want, 0)

	// An AOF with an RDB preamble, one file: the base after a rewrite,
	// then the incr file's commands.
	src2 := redistest.Start(t, redistest.Options{Config: []string{"appendonly yes"}})
	writeAOFData(t, ctx, src2)
	if err := src2.Client().BgRewriteAOF(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitRewrite(t, src2)
	src2.Client().Set(ctx, "after-rewrite", "1", 0)
	src2.Client().HSet(ctx, "hash:after", "f", "v")
	want, _ = analyzeSummary(t, 0, src2.Save(t))
	base, _ := filepath.Glob(filepath.Join(src2.Dir(), "appendonlydir", "*.base.rdb"))
	incr, _ := filepath.Glob(filepath.Join(src2.Dir(), "appendonlydir", "*.incr.aof"))
	if len(base) != 1 || len(incr) == 0 {
		t.Fatalf("base %v, incr %v", base, incr)
	}
	slices.Sort(incr)
	one := filepath.Join(t.TempDir(), "appendonly.aof")
	var all []byte
	for _, p := range append(base, incr...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(one, all, 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ = analyzeSummary(t, 0, one)
	sameAnalysis(t, "AOF with an RDB preamble", got, want, 0)
	// Under another name its commands are not replayed: exit 1, and the
	// report says it covers the RDB part only.
	other := filepath.Join(t.TempDir(), "x.rdb")
	os.WriteFile(other, all, 0o644)
	_, r := analyzeSummary(t, 1, other)
	if !strings.Contains(r.stderr, "RDB part only") {
		t.Errorf("an AOF with an RDB preamble as .rdb: %s", r.stderr)
	}
}

// waitRewrite waits for an AOF rewrite to end.
func waitRewrite(t *testing.T, src *redistest.Server) {
	t.Helper()
	for range 1500 {
		if src.InfoField(t, "aof_rewrite_in_progress") == "0" && src.InfoField(t, "aof_rewrite_scheduled") == "0" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the AOF rewrite did not end")
}
