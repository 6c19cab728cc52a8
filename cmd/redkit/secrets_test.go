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
