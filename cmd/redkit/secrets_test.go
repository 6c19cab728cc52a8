package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/redkit/redkit/internal/redistest"
)

// redkitBinary runs redkit as its own process (the test binary, see
// TestMain), with none of the caller's REDKIT_* and REDISCLI_AUTH
// variables but those in env, and returns its exit code and output.
func redkitBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDKIT_") && !strings.HasPrefix(kv, "REDISCLI_AUTH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, env...), "REDKIT_TEST_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("redkit %s: %v", strings.Join(args, " "), err)
	}
	return result{code, out.String(), errOut.String()}
}

// TestMalformedURLKeepsPassword gives every command that takes a server's
// URL the malformed forms of issue 14 (a misspelt scheme, too many
// slashes), with a password: it must never be printed, in text or JSON
// logs, and the error must say the URL is wrong (a usage error, under the
// command's own name), not take the URL for a missing file.
func TestMalformedURLKeepsPassword(t *testing.T) {
	const pw = "Pw13-zQx9k"
	dir := t.TempDir()
	dump := filepath.Join(dir, "in.rdb")
	if err := os.WriteFile(dump, []byte("REDIS0010\xff\x00\x00\x00\x00\x00\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := "file://" + filepath.Join(dir, "store")
	for _, form := range []string{"redis//:%s@127.0.0.1:1", "redis:%s@127.0.0.1:1", "redis:///:%s@127.0.0.1:1", "rediss:/u:%s@127.0.0.1:1", "reids://u:%s@127.0.0.1:1"} {
		u := fmt.Sprintf(form, pw)
		for _, tc := range []struct {
			cmd  string
			args []string
		}{
			{"restore", []string{"restore", "--to", u, dump}},
			{"restore", []string{"restore", "--to", u, "--format", "json", dump}},
			{"sync", []string{"sync", "--from", u, "--to", "redis://127.0.0.1:1"}},
			{"sync", []string{"sync", "--from", u, "--to", "redis://127.0.0.1:1", "--log-format", "json"}},
			{"sync", []string{"sync", "--from", "redis://127.0.0.1:1", "--to", u}},
			{"dump", []string{"dump", "--from", u, "-o", filepath.Join(dir, "out.rdb")}},
			{"compare", []string{"compare", u, dump}},
			{"compare", []string{"compare", "--format", "json", dump, u}},
			{"backup", []string{"backup", "--from", u, "--to", store}},
			{"backup", []string{"backup", "--from", u, "--to", store, "--log-format", "json"}},
			{"backup", []string{"backup", "--continuous", "--from", u, "--to", store, "--log-format", "json"}},
		} {
			r := redkitBinary(t, nil, tc.args...)
			out := r.stdout + r.stderr
			if strings.Contains(out, pw) {
				t.Errorf("%v: the password is printed:\n%s", tc.args, out)
			}
			if r.code != exitUsage || !strings.Contains(out, "bad Redis URL") {
				t.Errorf("%v: exit %d, want %d and an error about the URL:\n%s", tc.args, r.code, exitUsage, out)
			}
			if !strings.Contains(out, tc.cmd+":") || tc.cmd != "sync" && strings.Contains(out, "sync:") {
				t.Errorf("%v: the error is not labelled %s:\n%s", tc.args, tc.cmd, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "out.rdb")); err == nil {
				t.Fatalf("%v: wrote the output", tc.args)
			}
		}
	}
}

// TestAgeIdentityAsRecipient gives an age identity (a secret key) where a
// recipient is expected: on the command line, in the environment and as
// the file of --recipients-file. It must be refused as an identity and
// never printed.
func TestAgeIdentityAsRecipient(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	secret := id.String()
	dir := t.TempDir()
	idFile := filepath.Join(dir, "key.txt")
	keygen := fmt.Sprintf("# created: 2026-01-01T00:00:00Z\n# public key: %s\n%s\n", id.Recipient(), secret)
	if err := os.WriteFile(idFile, []byte(keygen), 0o600); err != nil {
		t.Fatal(err)
	}
	mangled := filepath.Join(dir, "mangled.txt")
	if err := os.WriteFile(mangled, []byte(secret[1:]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"backup", "--from", filepath.Join(dir, "absent.rdb"), "--to", "file://" + filepath.Join(dir, "store")}
	for _, tc := range []struct {
		env      []string
		args     []string
		identity bool
	}{
		{nil, []string{"--encrypt-to", secret}, true},
		{nil, []string{"--encrypt-to", id.Recipient().String(), "--encrypt-to", strings.ToLower(secret)}, true},
		{[]string{"REDKIT_ENCRYPT_TO=" + secret}, nil, true},
		{nil, []string{"--recipients-file", idFile}, true},
		{nil, []string{"--continuous", "--recipients-file", idFile}, true},
		{nil, []string{"--recipients-file", mangled}, false},
		{nil, []string{"--encrypt-to", secret[1:]}, false},
	} {
		args := append(append([]string{}, base...), tc.args...)
		r := redkitBinary(t, tc.env, args...)
		out := r.stdout + r.stderr
		for _, s := range []string{secret, strings.ToLower(secret), secret[16:]} {
			if strings.Contains(out, s) {
				t.Errorf("%v %v: the secret key is printed:\n%s", tc.env, tc.args, out)
			}
		}
		if r.code != exitUsage {
			t.Errorf("%v %v: exit %d, want %d:\n%s", tc.env, tc.args, r.code, exitUsage, out)
		}
		if tc.identity && (!strings.Contains(out, "identity") || !strings.Contains(out, "not a recipient")) {
			t.Errorf("%v %v: the error does not say it is an identity, not a recipient:\n%s", tc.env, tc.args, out)
		}
	}
}

// TestPasswordOutsideURL checks the rule for passwords given outside the
// URL (issue 14 item 15) against servers with ACL users: a password from
// a file or the environment makes a bare userinfo (redis://alice@host)
// the user name, for every command, compare included (its own flags);
// REDISCLI_AUTH is the last resort; without a password from elsewhere a
// bare userinfo is the password, as redis-cli takes it.
func TestPasswordOutsideURL(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{Password: "src-default"})
	dst := redistest.Start(t, redistest.Options{Password: "dst-default"})
	for _, c := range [][]any{
		{"ACL", "SETUSER", "alice", "on", ">alice-src", "~*", "&*", "+@all"},
		// Least privilege for a replica link (dump, sync --from, backup).
		{"ACL", "SETUSER", "repl", "on", ">repl-src", "resetkeys", "-@all", "+psync", "+replconf", "+ping", "+info"},
	} {
		if err := src.Client().Do(ctx, c...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Client().Do(ctx, "ACL", "SETUSER", "alice", "on", ">alice-dst", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := src.Client().Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	file := func(name, pw string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srcHost, dstHost := src.Addr(), dst.Addr()
	rdb := filepath.Join(dir, "dump.rdb")
	run := func(env []string, args ...string) result {
		t.Helper()
		r := redkitBinary(t, env, args...)
		if r.code != 0 {
			t.Errorf("%v redkit %s: exit %d\n%s%s", env, strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		for _, pw := range []string{"alice-src", "alice-dst", "repl-src", "src-default", "dst-default"} {
			if strings.Contains(r.stdout+r.stderr, pw) {
				t.Errorf("%v redkit %s: the password %s is printed:\n%s", env, strings.Join(args, " "), pw, r.stderr)
			}
		}
		return r
	}
	dstKeys := func() int64 {
		t.Helper()
		n, err := dst.Client().DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		dst.Client().FlushAll(ctx)
		return n
	}

	// dump and backup: the least-privileged user, bare in the URL.
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{[]string{"REDKIT_FROM_PASSWORD=repl-src"}, []string{"--from", "redis://repl@" + srcHost}},
		{nil, []string{"--from", "redis://repl@" + srcHost, "--from-password-file", file("repl", "repl-src")}},
		{[]string{"REDISCLI_AUTH=repl-src"}, []string{"--from", "redis://repl@" + srcHost}},
		{[]string{"REDISCLI_AUTH=src-default"}, []string{"--from", "redis://" + srcHost}},
		// The URL's own password wins over REDISCLI_AUTH; a bare word
		// alone is a password, as for redis-cli.
		{[]string{"REDISCLI_AUTH=wrong"}, []string{"--from", "redis://repl:repl-src@" + srcHost}},
		{nil, []string{"--from", "redis://src-default@" + srcHost}},
	} {
		run(tc.env, append([]string{"dump", "-q", "-o", rdb}, tc.args...)...)
		run(tc.env, append([]string{"backup", "-q", "--to", "file://" + filepath.Join(dir, "store")}, tc.args...)...)
	}

	// restore: the target's user, bare in the URL.
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{[]string{"REDKIT_TO_PASSWORD=alice-dst"}, []string{"--to", "redis://alice@" + dstHost}},
		{nil, []string{"--to", "redis://alice@" + dstHost, "--to-password-file", file("alice-dst", "alice-dst")}},
		{[]string{"REDISCLI_AUTH=alice-dst"}, []string{"--to", "redis://alice@" + dstHost}},
		{[]string{"REDISCLI_AUTH=dst-default"}, []string{"--to", "redis://" + dstHost}},
		{nil, []string{"--to", "redis://dst-default@" + dstHost}},
	} {
		run(tc.env, append([]string{"restore", "-q", rdb}, tc.args...)...)
		if n := dstKeys(); n != 50 {
			t.Errorf("restore %v %v: %d keys, want 50", tc.env, tc.args, n)
		}
	}

	// sync: both sides' users bare in the URLs.
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{[]string{"REDKIT_FROM_PASSWORD=repl-src", "REDKIT_TO_PASSWORD=alice-dst"}, []string{"--from", "redis://repl@" + srcHost, "--to", "redis://alice@" + dstHost}},
		{nil, []string{"--from", "redis://repl@" + srcHost, "--from-password-file", file("repl", "repl-src"),
			"--to", "redis://alice@" + dstHost, "--to-password-file", file("alice-dst", "alice-dst")}},
		{[]string{"REDKIT_FROM_PASSWORD=repl-src", "REDISCLI_AUTH=alice-dst"}, []string{"--from", "redis://repl@" + srcHost, "--to", "redis://alice@" + dstHost}},
	} {
		run(tc.env, append([]string{"sync", "-q", "--until-caught-up", "--target-checkpoint=false"}, tc.args...)...)
		if n := dstKeys(); n != 50 {
			t.Errorf("sync %v %v: %d keys, want 50", tc.env, tc.args, n)
		}
	}

	// compare: A's and B's passwords from their own files or variables.
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{[]string{"REDKIT_A_PASSWORD=alice-src"}, []string{"redis://alice@" + srcHost, rdb}},
		{[]string{"REDKIT_B_PASSWORD=alice-src"}, []string{rdb, "redis://alice@" + srcHost}},
		{nil, []string{"--a-password-file", file("alice-src", "alice-src"), "redis://alice@" + srcHost, rdb}},
		{nil, []string{rdb, "redis://alice@" + srcHost, "--b-password-file", file("alice-src", "alice-src")}},
		{[]string{"REDISCLI_AUTH=src-default"}, []string{"redis://" + srcHost, rdb}},
		{[]string{"REDKIT_A_PASSWORD=alice-src", "REDISCLI_AUTH=src-default"}, []string{"redis://alice@" + srcHost, "redis://" + srcHost}},
	} {
		r := run(tc.env, append([]string{"compare", "-q"}, tc.args...)...)
		if !strings.Contains(r.stdout, "identical") {
			t.Errorf("compare %v %v:\n%s", tc.env, tc.args, r.stdout)
		}
	}
	r := redkitBinary(t, nil, "compare", "--a-password-file", file("alice-src", "alice-src"), rdb, "redis://"+srcHost)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--a-password-file") {
		t.Errorf("--a-password-file for a file: exit %d\n%s", r.code, r.stderr)
	}
}
