package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// loadDumpFile starts a server that loads a copy of the dump at path.
func loadDumpFile(t *testing.T, path string) *redistest.Server {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.rdb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return redistest.Start(t, redistest.Options{Config: []string{"dir " + dir, "dbfilename in.rdb"}})
}

// functionCodes returns FUNCTION LIST WITHCODE as library name -> code.
func functionCodes(t *testing.T, srv *redistest.Server) map[string]string {
	t.Helper()
	libs, err := srv.Client().FunctionList(context.Background(), redis.FunctionListQuery{WithCode: true}).Result()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range libs {
		m[l.Name] = l.Code
	}
	return m
}

func sameCodes(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: libraries %v, want %v", what, got, want)
		return
	}
	for name, code := range want {
		if got[name] != code {
			t.Errorf("%s: library %q has code %q, want %q", what, name, got[name], code)
		}
	}
}

// TestPreGAFunctions takes a dump with libraries of the pre-GA FUNCTION
// opcode (246, Redis 7.0-rc1/rc2: name, engine, description and code
// apart) through every output and checks that Redis ends up with what it
// makes of the dump itself: the code after a "#!LUA name=<lib>" line.
func TestPreGAFunctions(t *testing.T) {
	dump := corpus(t, "redis-rdb-cli/rdt/filter1.rdb")
	orig := loadDumpFile(t, dump)
	want := functionCodes(t, orig)
	if len(want) != 2 || !strings.HasPrefix(want["lib1"], "#!LUA name=lib1\n") {
		t.Fatalf("redis-server loaded the dump's libraries as %q", want)
	}
	dir := t.TempDir()

	t.Run("rdb", func(t *testing.T) {
		out := filepath.Join(dir, "out.rdb")
		redkit(t, nil, "convert", "--to", "rdb", "-q", "-o", out, dump).want(t, 0)
		sameCodes(t, "convert --to rdb", functionCodes(t, loadDumpFile(t, out)), want)
		// The converted file holds what the original server holds.
		redkit(t, nil, "compare", out, orig.URL()).want(t, 0)
	})
	t.Run("json", func(t *testing.T) {
		js := filepath.Join(dir, "out.jsonl")
		r := redkit(t, nil, "convert", "--to", "jsonl", "-q", "-o", js, dump).want(t, 0)
		b, err := os.ReadFile(js)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"functionsLua":"#!LUA name=lib1\n`) {
			t.Errorf("JSON lost the library name:\n%s%s", b, r.stderr)
		}
		back := filepath.Join(dir, "back.rdb")
		redkit(t, nil, "convert", "--to", "rdb", "-q", "-o", back, js).want(t, 0)
		sameCodes(t, "convert --to jsonl, then rdb", functionCodes(t, loadDumpFile(t, back)), want)
	})
	t.Run("resp", func(t *testing.T) {
		r := redkit(t, nil, "convert", "--to", "resp", "-q", dump).want(t, 0)
		sameCodes(t, "convert --to resp", functionCodes(t, pipeInto(t, []byte(r.stdout))), want)
	})
	t.Run("restore", func(t *testing.T) {
		dst := redistest.Start(t, redistest.Options{})
		redkit(t, nil, "restore", "-q", "--to", dst.URL(), dump).want(t, 0)
		sameCodes(t, "restore", functionCodes(t, dst), want)
		redkit(t, nil, "compare", dump, dst.URL()).want(t, 0)
	})
	t.Run("check", func(t *testing.T) {
		r := redkit(t, nil, "check", dump).want(t, 0)
		if !strings.Contains(r.stdout, "functions  2: lib2, lib1") {
			t.Errorf("check does not name the libraries:\n%s", r.stdout)
		}
	})
}

// xinfoFirstIDs returns recorded-first-entry-id of every stream key.
func xinfoFirstIDs(t *testing.T, srv *redistest.Server) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := srv.Client()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, k := range keys {
		if typ, _ := c.Type(ctx, k).Result(); typ != "stream" {
			continue
		}
		x, err := c.XInfoStream(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = x.RecordedFirstEntryID
	}
	return ids
}

// TestType15StreamsMatchRedis takes a dump of first-format streams (type
// 15, written before Redis 7, with consumer groups) through RDB and JSON
// and compares the results with the server that loaded the dump: Redis
// computes their first entry ID and groups' entries-read on load.
func TestType15StreamsMatchRedis(t *testing.T) {
	dump := corpus(t, "hdt3213-rdb/stream_listpacks_1.rdb")
	orig := loadDumpFile(t, dump)
	want := xinfoFirstIDs(t, orig)
	if len(want) == 0 {
		t.Fatal("no stream loaded")
	}
	r := redkit(t, nil, "compare", dump, orig.URL())
	if r.code != 0 {
		t.Errorf("compare of the dump with the server that loaded it: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.rdb")
	redkit(t, nil, "convert", "--to", "rdb", "-q", "-o", out, dump).want(t, 0)
	js := filepath.Join(dir, "out.jsonl")
	redkit(t, nil, "convert", "--to", "jsonl", "-q", "-o", js, dump).want(t, 0)
	back := filepath.Join(dir, "back.rdb")
	redkit(t, nil, "convert", "--to", "rdb", "-q", "-o", back, js).want(t, 0)
	for _, p := range []string{out, back} {
		loaded := loadDumpFile(t, p)
		got := xinfoFirstIDs(t, loaded)
		for k, id := range want {
			if got[k] != id {
				t.Errorf("%s: stream %q has recorded-first-entry-id %s, want %s", filepath.Base(p), k, got[k], id)
			}
		}
		if r := redkit(t, nil, "compare", p, orig.URL()); r.code != 0 {
			t.Errorf("compare %s with the server that loaded the dump: exit %d\n%s%s", filepath.Base(p), r.code, r.stdout, r.stderr)
		}
	}
}

// TestCompareNegativeZeroScore compares a score of -0 with one of 0:
// Redis does not tell them apart (a sorted set kept as a skiplist says
// "-0", the same one loaded as a listpack says "0").
func TestCompareNegativeZeroScore(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Config: []string{"zset-max-listpack-entries 0"}})
	if err := src.Client().Do(ctx, "ZADD", "z", "-0", "m", "1", "n").Err(); err != nil {
		t.Fatal(err)
	}
	if s, err := src.Client().ZScore(ctx, "z", "m").Result(); err != nil || s != 0 || !math.Signbit(s) {
		t.Fatalf("the skiplist server says ZSCORE %v (%v), want -0", s, err)
	}
	dump := src.Save(t)
	loaded := loadDumpFile(t, dump) // default thresholds: a listpack
	if s, err := loaded.Client().ZScore(ctx, "z", "m").Result(); err != nil || s != 0 || math.Signbit(s) {
		t.Fatalf("the listpack server says ZSCORE %v (%v), want 0", s, err)
	}
	for _, args := range [][]string{
		{dump, loaded.URL()},
		{src.URL(), loaded.URL()},
	} {
		if r := redkit(t, nil, append([]string{"compare"}, args...)...); r.code != 0 {
			t.Errorf("compare %s %s: exit %d\n%s%s", args[0], args[1], r.code, r.stdout, r.stderr)
		}
	}
}

// moduleAuxRecords lists the module aux records of an RDB file.
func moduleAuxRecords(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := rdb.NewReader(f)
	var out []string
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if rec.Kind == rdb.KindModuleAux {
			out = append(out, fmt.Sprintf("%v when=%d %x", rec.Module, rec.When, rec.Data))
		}
	}
}

// TestModuleAux converts dumps holding module auxiliary data: RDB and
// JSON outputs carry it as it is (redis-check-rdb accepts the RDB, JSON
// converted back to RDB holds the same records), RESP outputs, which
// cannot, name the module on stderr.
func TestModuleAux(t *testing.T) {
	for _, tc := range []struct{ file, version string }{
		{"librdb/module_aux.rdb", "10"}, // which the installed redis-check-rdb (7.0) reads
		{"librdb/module_aux_v12.rdb", "12"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			dump := corpus(t, tc.file)
			want := moduleAuxRecords(t, dump)
			if len(want) == 0 {
				t.Fatal("no module aux in the dump")
			}
			out := filepath.Join(t.TempDir(), "out.rdb")
			redkit(t, nil, "convert", "--to", "rdb", "--rdb-version", tc.version, "-q", "-o", out, dump).want(t, 0)
			if got := moduleAuxRecords(t, out); !slices.Equal(got, want) {
				t.Errorf("module aux written as\n%q\nwant\n%q", got, want)
			}
			if _, err := exec.LookPath("redis-check-rdb"); err == nil && tc.version == "10" {
				if b, err := exec.Command("redis-check-rdb", out).CombinedOutput(); err != nil {
					t.Errorf("redis-check-rdb %s: %v\n%s", out, err, b)
				}
			}
			for _, to := range []string{"json", "jsonl"} {
				js := filepath.Join(t.TempDir(), "out."+to)
				redkit(t, nil, "convert", "--to", to, "-q", "-o", js, dump).want(t, 0)
				back := filepath.Join(t.TempDir(), "back.rdb")
				redkit(t, nil, "convert", "--to", "rdb", "--rdb-version", tc.version, "-q", "-o", back, js).want(t, 0)
				if got := moduleAuxRecords(t, back); !slices.Equal(got, want) {
					t.Errorf("through %s, module aux written as\n%q\nwant\n%q", to, got, want)
				}
			}
			for _, to := range []string{"resp", "aof"} {
				r := redkit(t, nil, "convert", "--to", to, "-q", dump).want(t, 0)
				if !strings.Contains(r.stderr, "module auxiliary data") || !strings.Contains(r.stderr, "test__rdb") {
					t.Errorf("--to %s: no warning naming the module on stderr: %q", to, r.stderr)
				}
			}
		})
	}
}
