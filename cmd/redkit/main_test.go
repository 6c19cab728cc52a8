package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// corpus returns the path of a shared corpus file (../shared/corpus from
// the repository root), skipping the test when it is absent.
func corpus(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "corpus", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("corpus file absent (%v): the shared corpus lives at ../shared/corpus next to the repository", err)
	}
	return p
}

type result struct {
	code           int
	stdout, stderr string
}

// redkit runs the app in-process.
func redkit(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := runIO(context.Background(), append([]string{"redkit"}, args...), stdin, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func TestVersion(t *testing.T) {
	r := redkit(t, nil, "--version").want(t, 0)
	if !strings.Contains(r.stdout, "redkit version dev (commit none, built unknown)") {
		t.Errorf("version output %q", r.stdout)
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"check", "analyze", "completion"} {
		t.Run(cmd, func(t *testing.T) {
			r := redkit(t, nil, cmd, "--help").want(t, 0)
			for _, want := range []string{"example", "EXIT CODES", "130"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s --help lacks %q:\n%s", cmd, want, r.stdout)
				}
			}
		})
	}
	redkit(t, nil).want(t, 0)
	redkit(t, nil, "--help").want(t, 0)
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "complete -o", "zsh": "compdef _redkit redkit", "fish": "complete -c redkit"} {
		r := redkit(t, nil, "completion", shell).want(t, 0)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%s completion script looks wrong:\n%s", shell, r.stdout)
		}
	}
	redkit(t, nil, "completion", "tcsh").want(t, 2)
	redkit(t, nil, "completion").want(t, 2)
	// What the scripts call: candidates for "redkit analyze --".
	r := redkit(t, nil, "analyze", "--", "--generate-bash-completion")
	_ = r // urfave/cli disables completion after "--"; just must not crash
	r = redkit(t, nil, "--generate-bash-completion").want(t, 0)
	if !strings.Contains(r.stdout, "analyze\n") {
		t.Errorf("command completion = %q", r.stdout)
	}
	r = redkit(t, nil, "analyze", "--to", "--generate-bash-completion").want(t, 0)
	if r.stdout != "--top\n" {
		t.Errorf("flag completion = %q, want --top", r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	tests := [][]string{
		{"--bogus"},
		{"nosuchcommand"},
		{"check"},
		{"check", "--bogus", mem},
		{"check", "--format", "xml", mem},
		{"analyze"},
		{"analyze", mem, "--top"},
		{"analyze", mem, "--top", "x"},
		{"analyze", mem, "--report", "nope"},
		{"analyze", mem, "--report", "keys", "--format", "html"},
		{"analyze", mem, "--expired", "sometimes"},
		{"analyze", mem, "--type", "blob"},
		{"analyze", mem, "--regex", "("},
		{"analyze", mem, "--min-size", "12parsecs"},
		{"analyze", mem, "--depth", "0"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := redkit(t, nil, args...).want(t, 2)
			if !strings.HasPrefix(r.stderr, "redkit: ") {
				t.Errorf("stderr %q, want a redkit: message", r.stderr)
			}
		})
	}
}

func TestCheckGood(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	r := redkit(t, nil, "check", mem).want(t, 0)
	for _, want := range []string{"ok", "RDB version 9", "redis-ver", "6.0.6", "db0=7", "string=3", "1 with an expiry", "2413 bytes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
	fn := corpus(t, "hdt3213-rdb/function.rdb")
	r = redkit(t, nil, "check", fn).want(t, 0)
	if !strings.Contains(r.stdout, "1: mylib") {
		t.Errorf("check function.rdb does not list the library:\n%s", r.stdout)
	}
}

func TestCheckBad(t *testing.T) {
	bad := corpus(t, "librdb/invalid_chksum_v8.rdb")
	r := redkit(t, nil, "check", bad).want(t, 1)
	for _, want := range []string{"redkit: check " + bad + ": offset ", "CRC64 checksum mismatch", "is corrupt", "hint:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// Truncation is told apart from corruption.
	data, err := os.ReadFile(corpus(t, "hdt3213-rdb/memory.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.rdb")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	r = redkit(t, nil, "check", cut).want(t, 1)
	if !strings.Contains(r.stderr, "is truncated") {
		t.Errorf("stderr does not say truncated:\n%s", r.stderr)
	}

	// Several files: each checked, 1 if any is bad.
	good := corpus(t, "hdt3213-rdb/tree.rdb")
	r = redkit(t, nil, "check", good, bad, "/nonexistent/dump.rdb").want(t, 1)
	if !strings.Contains(r.stdout, good+": ok") || !strings.Contains(r.stderr, "/nonexistent/dump.rdb") {
		t.Errorf("multi-file check:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	// Empty collections load as skipped keys in Redis: exit 3, named.
	empty := corpus(t, "redis/corrupt_empty_keys.rdb")
	r = redkit(t, nil, "check", empty).want(t, 3)
	if !strings.Contains(r.stderr, "9 empty collections (db0:set,") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	notRDB := filepath.Join(t.TempDir(), "x.txt")
	os.WriteFile(notRDB, []byte("hello world, not a dump"), 0o644)
	r = redkit(t, nil, "check", notRDB).want(t, 1)
	if !strings.Contains(r.stderr, "not an RDB file") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestCheckJSON(t *testing.T) {
	good := corpus(t, "hdt3213-rdb/memory.rdb")
	bad := corpus(t, "librdb/invalid_chksum_v8.rdb")
	r := redkit(t, nil, "check", "--format", "json", good, bad).want(t, 1)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got:\n%s", r.stdout)
	}
	var got []checkJSON
	for _, l := range lines {
		var c checkJSON
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("invalid JSON %q: %v", l, err)
		}
		got = append(got, c)
	}
	if !got[0].OK || got[0].Keys != 7 || got[0].Version != 9 || got[0].Types["string"] != 3 {
		t.Errorf("good file: %+v", got[0])
	}
	if got[1].OK || got[1].Error == nil || got[1].Error.Kind != "corrupt" || got[1].Error.Offset == nil {
		t.Errorf("bad file: %+v", got[1])
	}
}

func keysCSV(t *testing.T, stdin io.Reader, args ...string) []string {
	t.Helper()
	r := redkit(t, stdin, append([]string{"analyze", "--report", "keys"}, args...)...).want(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	return lines
}

func TestFlagsAfterArgs(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	before := redkit(t, nil, "analyze", "--report", "bigkeys", "--top", "2", "--type", "string", mem).want(t, 0)
	after := redkit(t, nil, "analyze", mem, "--report", "bigkeys", "--top", "2", "--type", "string").want(t, 0)
	mixed := redkit(t, nil, "analyze", "--report=bigkeys", mem, "--top=2", "--type=string").want(t, 0)
	// -n is --dry-run's (backup prune), not --top's.
	redkit(t, nil, "analyze", "--report=bigkeys", mem, "-n", "2").want(t, 2)
	if before.stdout != after.stdout || before.stdout != mixed.stdout {
		t.Errorf("flag position changes output:\nbefore:\n%s\nafter:\n%s\nmixed:\n%s", before.stdout, after.stdout, mixed.stdout)
	}
	if n := strings.Count(before.stdout, "\n"); n != 3 {
		t.Errorf("want header + 2 rows, got:\n%s", before.stdout)
	}
	// "--" ends flags: what follows is a file name even if it looks like a flag.
	r := redkit(t, nil, "analyze", "--report", "keys", "--", "--top").want(t, 1)
	if !strings.Contains(r.stderr, "--top") {
		t.Errorf("stderr %q, want the file name --top", r.stderr)
	}
	// Boolean flags do not swallow the next argument.
	redkit(t, nil, "check", mem, "--quiet").want(t, 0)
	redkit(t, nil, "check", "--quiet", mem).want(t, 0)
}

func TestReorderArgs(t *testing.T) {
	app := newApp(globalOptions{})
	tests := []struct{ in, want []string }{
		{[]string{"redkit", "analyze", "a.rdb", "--top", "20"}, []string{"redkit", "analyze", "--top", "20", "a.rdb"}},
		{[]string{"redkit", "analyze", "a.rdb", "-q", "b.rdb", "--db", "1"}, []string{"redkit", "analyze", "-q", "--db", "1", "a.rdb", "b.rdb"}},
		{[]string{"redkit", "analyze", "a.rdb", "--top=3"}, []string{"redkit", "analyze", "--top=3", "a.rdb"}},
		{[]string{"redkit", "analyze", "a.rdb", "--", "-b.rdb", "--top"}, []string{"redkit", "analyze", "--", "a.rdb", "-b.rdb", "--top"}},
		{[]string{"redkit", "analyze", "-", "--quiet"}, []string{"redkit", "analyze", "--quiet", "-"}},
		{[]string{"redkit", "check", "a.rdb", "--generate-bash-completion"}, []string{"redkit", "check", "a.rdb", "--generate-bash-completion"}},
		{[]string{"redkit", "--version"}, []string{"redkit", "--version"}},
		{[]string{"redkit", "unknown", "x", "--y"}, []string{"redkit", "unknown", "x", "--y"}},
	}
	for _, tt := range tests {
		if got := reorderArgs(app, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"512", 512}, {"512b", 512}, {"10k", 10000}, {"10kb", 10240}, {"10KB", 10240},
		{"1MB", 1 << 20}, {"1m", 1000000}, {"1.5mb", 3 << 19}, {"2gb", 2 << 30}, {"1kib", 1024},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "kb", "-1", "1xb", "1e3", "1.2.3"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): want error", bad)
		}
	}
}

func TestAnalyzeKeys(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	lines := keysCSV(t, nil, mem)
	if lines[0] != "database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry" {
		t.Errorf("header %q", lines[0])
	}
	if len(lines) != 8 {
		t.Fatalf("want 7 keys, got:\n%s", strings.Join(lines, "\n"))
	}
	var expiring string
	for _, l := range lines {
		if strings.HasPrefix(l, "0,string,e,") {
			expiring = l
		}
	}
	if !strings.HasSuffix(expiring, ",2022-02-17T22:15:29.180Z") {
		t.Errorf("expiring key row %q, want a millisecond RFC 3339 UTC expiry", expiring)
	}

	// JSON Lines, each valid.
	r := redkit(t, nil, "analyze", "--report", "keys", "--format", "json", mem).want(t, 0)
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 7 {
		t.Fatalf("want 7 JSON lines:\n%s", r.stdout)
	}
	for _, l := range rows {
		var k keyJSON
		if err := json.Unmarshal([]byte(l), &k); err != nil || k.Key == nil || k.Size <= 0 {
			t.Errorf("bad JSON line %q: %v", l, err)
		}
	}
	// Table.
	r = redkit(t, nil, "analyze", "--report", "keys", "--format", "table", mem).want(t, 0)
	if !strings.Contains(r.stdout, "len_largest_element") || strings.Count(r.stdout, "\n") != 8 {
		t.Errorf("table:\n%s", r.stdout)
	}
}

func TestAnalyzeFilters(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb") // keys: hash s e list zset large set; "e" expired in 2022
	keys := func(args ...string) []string {
		t.Helper()
		var got []string
		for _, l := range keysCSV(t, nil, append(args, mem)...)[1:] {
			got = append(got, strings.Split(l, ",")[2])
		}
		slices.Sort(got)
		return got
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--match", "l*"}, []string{"large", "list"}},
		{[]string{"--match", "[se]"}, []string{"e", "s"}},
		{[]string{"--regex", "^l.*"}, []string{"large", "list"}},
		{[]string{"--type", "string"}, []string{"e", "large", "s"}},
		{[]string{"--type", "set", "--type", "zset"}, []string{"set", "zset"}},
		{[]string{"--min-size", "1kb"}, []string{"large"}},
		{[]string{"--expired", "exclude", "--type", "string"}, []string{"large", "s"}},
		{[]string{"--expired", "only"}, []string{"e"}},
		{[]string{"--db", "1"}, nil},
		{[]string{"--db", "0", "--match", "*s*"}, []string{"hash", "list", "s", "set", "zset"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if got := keys(tt.args...); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func compress(t *testing.T, data []byte, kind string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch kind {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCompressedAndStdinInput(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	data, err := os.ReadFile(mem)
	if err != nil {
		t.Fatal(err)
	}
	want := keysCSV(t, nil, mem)
	dir := t.TempDir()
	for _, kind := range []string{"gzip", "zstd"} {
		t.Run(kind, func(t *testing.T) {
			z := compress(t, data, kind)
			path := filepath.Join(dir, "dump.rdb."+kind)
			os.WriteFile(path, z, 0o644)
			if got := keysCSV(t, nil, path); !slices.Equal(got, want) {
				t.Errorf("%s file: got\n%q\nwant\n%q", kind, got, want)
			}
			if got := keysCSV(t, bytes.NewReader(z), "-"); !slices.Equal(got, want) {
				t.Errorf("%s stdin: got\n%q\nwant\n%q", kind, got, want)
			}
			r := redkit(t, nil, "check", path).want(t, 0)
			if !strings.Contains(r.stdout, "("+kind+")") {
				t.Errorf("check does not name the compression:\n%s", r.stdout)
			}
		})
	}
	if got := keysCSV(t, bytes.NewReader(data), "-"); !slices.Equal(got, want) {
		t.Errorf("stdin: got\n%q\nwant\n%q", got, want)
	}
}

func TestAnalyzeSummary(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	r := redkit(t, nil, "analyze", mem).want(t, 0)
	for _, want := range []string{"keys", "by database", "by type", "by encoding", "already expired", "biggest keys", "large", "biggest prefixes", "memory / RDB size"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	r = redkit(t, nil, "analyze", "--format", "json", mem).want(t, 0)
	var s summaryJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("summary JSON: %v\n%s", err, r.stdout)
	}
	if s.Keys != 7 || s.Expiry.Expired.Keys != 1 || s.Expiry.None.Keys != 6 || len(s.BiggestKeys) != 7 || *s.BiggestKeys[0].Key != "large" {
		t.Errorf("summary JSON: %+v", s)
	}
	var memory int64
	for _, g := range s.Types {
		memory += g.Memory
	}
	if memory != s.Memory || s.FileBytes != 2413 {
		t.Errorf("types add up to %d, total %d; file bytes %d", memory, s.Memory, s.FileBytes)
	}
}

func TestAnalyzeSeveralFiles(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	tree := corpus(t, "hdt3213-rdb/tree.rdb")
	lines := keysCSV(t, nil, mem, tree)
	if lines[0] != "file,database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry" || len(lines) != 1+7+7 {
		t.Errorf("multi-file keys:\n%s", strings.Join(lines, "\n"))
	}
	r := redkit(t, nil, "analyze", "--format", "json", mem, tree).want(t, 0)
	var s summaryJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Keys != 14 || len(s.Files) != 2 || s.BiggestKeys[0].File != mem {
		t.Errorf("merged summary: keys %d, files %d, biggest %+v", s.Keys, len(s.Files), s.BiggestKeys[0])
	}
	// One bad file among good ones: a report, exit 1 (corrupt input, as check).
	bad := corpus(t, "librdb/invalid_chksum_v8.rdb")
	r = redkit(t, nil, "analyze", "--report", "keys", mem, bad).want(t, 1)
	if !strings.Contains(r.stderr, "CRC64") || !strings.Contains(r.stdout, "large") {
		t.Errorf("partial report:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	// Nothing readable: exit 1.
	redkit(t, nil, "analyze", "/nonexistent.rdb").want(t, 1)
}

func TestAnalyzePrefixesMatchPeer(t *testing.T) {
	tree := corpus(t, "hdt3213-rdb/tree.rdb")
	for _, tt := range []struct{ depth, peer string }{{"3", "hdt3213-rdb/tree.csv"}, {"2", "hdt3213-rdb/tree2.csv"}} {
		peer, err := os.ReadFile(corpus(t, tt.peer))
		if err != nil {
			t.Fatal(err)
		}
		r := redkit(t, nil, "analyze", tree, "--report", "prefixes", "--separator", "", "--depth", tt.depth, "--top", "3").want(t, 0)
		// Same prefixes, key counts and order; sizes come from each
		// tool's memory model, so only their order is compared.
		got, want := prefixCounts(r.stdout), prefixCounts(string(peer))
		if !slices.Equal(got, want) {
			t.Errorf("depth %s: got %q, want %q (peer %s)\n%s", tt.depth, got, want, tt.peer, r.stdout)
		}
	}
	// With a separator, only real namespaces count.
	r := redkit(t, nil, "analyze", tree, "--report", "prefixes").want(t, 0)
	if strings.TrimSpace(r.stdout) != "database,prefix,size,size_readable,key_count" {
		t.Errorf("tree.rdb has no ':' in keys, got:\n%s", r.stdout)
	}
}

func prefixCounts(csv string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(csv), "\n") {
		f := strings.Split(l, ",")
		out = append(out, f[0]+","+f[1]+","+f[4])
	}
	return out
}

func TestAnalyzeFlameGraph(t *testing.T) {
	tree := corpus(t, "hdt3213-rdb/tree.rdb")
	dir := t.TempDir()
	out := filepath.Join(dir, "memory.html")
	redkit(t, nil, "analyze", tree, "--report", "flamegraph", "--separator", "", "-o", out).want(t, 0)
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<script>", `"f":"abb"`} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("flame graph lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "<script src", "<link"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("flame graph is not self-contained: has %q", bad)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// A failed run leaves no output file.
	failed := filepath.Join(dir, "failed.html")
	redkit(t, nil, "analyze", "/nonexistent.rdb", "--report", "flamegraph", "-o", failed).want(t, 1)
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed run left files: %v", entries)
	}
}

func TestKeyJSONBinarySafe(t *testing.T) {
	var buf bytes.Buffer
	kw, err := newKeyWriter(&buf, "json", false)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("bin\xff\x00key")
	kw.write(analysisKey(key))
	kw.flush()
	var row keyJSON
	if err := json.Unmarshal(buf.Bytes(), &row); err != nil {
		t.Fatal(err)
	}
	if row.Key != nil || row.KeyBase64 != "Ymlu/wBrZXk=" {
		t.Errorf("non-UTF-8 key written as %s", buf.String())
	}
	buf.Reset()
	kw, _ = newKeyWriter(&buf, "csv", false)
	kw.write(analysisKey([]byte("a,\"b\"\nc\xff")))
	kw.flush()
	if !strings.Contains(buf.String(), "\"a,\"\"b\"\"\nc\xff\"") {
		t.Errorf("csv row %q does not keep the raw bytes, quoted", buf.String())
	}
}

func TestInterrupted(t *testing.T) {
	mem := corpus(t, "hdt3213-rdb/memory.rdb")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "keys.csv")
	var stdout, stderr bytes.Buffer
	for _, args := range [][]string{{"check", mem}, {"analyze", mem, "-o", out}} {
		code := runIO(ctx, append([]string{"redkit"}, args...), nil, &stdout, &stderr)
		if code != 130 {
			t.Errorf("%v: exit %d, want 130; stderr %s", args, code, stderr.String())
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("interrupted run left %s", out)
	}
}

// TestVersionFrom: a binary built without goreleaser's stamps reports
// what the Go toolchain recorded in it.
func TestVersionFrom(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name    string
		v, c, d string
		bi      *debug.BuildInfo
		want    string
	}{
		{"nothing", "", "", "", nil, "dev (commit none, built unknown)"},
		{"go test", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev (commit none, built unknown)"},
		{"go install @version", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3 (commit none, built unknown)"},
		{"go build in a checkout", "", "", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20261206211000-d3a4aac1b2c3+dirty"},
			Settings: vcs("d3a4aac1b2c3d4e5f60718293a4b5c6d7e8f9012", "2026-12-06T21:10:00Z", "true")},
			"v0.0.0-20261206211000-d3a4aac1b2c3+dirty (commit d3a4aac1b2c3-dirty, built 2026-12-06T21:10:00Z)"},
		{"goreleaser wins", "1.4.0", "abc1234", "2026-12-01T00:00:00Z", &debug.BuildInfo{
			Main: debug.Module{Version: "v0.0.0-x"}, Settings: vcs("ffff", "2026-12-06T21:10:00Z", "false")},
			"1.4.0 (commit abc1234, built 2026-12-01T00:00:00Z)"},
		{"a goreleaser snapshot without git's state", "0.0.1-next", "none", "unknown", &debug.BuildInfo{
			Main: debug.Module{Version: "(devel)"}, Settings: vcs("d3a4aac1b2c3d4e5f60718293a4b5c6d7e8f9012", "2026-12-06T21:10:00Z", "false")},
			"0.0.1-next (commit d3a4aac1b2c3, built 2026-12-06T21:10:00Z)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionFrom(tc.v, tc.c, tc.d, tc.bi); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestHelpEnvVarsOnce: urfave/cli appends "[$VAR]" to a flag's help
// itself; the usage text must not say it again.
func TestHelpEnvVarsOnce(t *testing.T) {
	hint := regexp.MustCompile(`\[\$[A-Z0-9_]+(, \$[A-Z0-9_]+)*\]`)
	for _, cmd := range [][]string{
		{"analyze"}, {"check"}, {"convert"}, {"restore"}, {"compare"}, {"sync"}, {"dump"}, {"completion"},
		{"backup"}, {"backup", "list"}, {"backup", "prune"}, {"backup", "verify"},
	} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			r := redkit(t, nil, append(cmd, "--help")...).want(t, 0)
			seen := 0
			for _, line := range strings.Split(r.stdout, "\n") {
				if n := len(hint.FindAllString(line, -1)); n > 1 {
					t.Errorf("an environment variable named %d times: %q", n, line)
				} else {
					seen += n
				}
			}
			if seen == 0 && cmd[0] != "completion" {
				t.Errorf("no flag names its environment variable:\n%s", r.stdout)
			}
		})
	}
}
