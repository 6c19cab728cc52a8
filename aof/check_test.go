package aof

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckSingleFile(t *testing.T) {
	good := cmds("#TS:100", "SET a 1", "SELECT 3", "MULTI", "SET b 2", "INCR c", "EXEC", "#TS:200", "SET d 4")
	tail := cmds("SET e 5")
	tx := cmds("MULTI", "SET f 6", "SET g 7")
	for _, tc := range []struct {
		name       string
		data       string
		wantErr    error  // nil: valid
		wantFix    int64  // -1: no fix
		unfixable  string // in Unfixable
		wantCmds   int64
		wantTx     int64
		wantFirst  int64
		wantDBs    string
		wantLayout Layout
	}{
		{name: "valid", data: good, wantFix: -1, wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]", wantLayout: LayoutPlain},
		{name: "empty", data: "", wantFix: -1, wantDBs: "[]", wantLayout: LayoutPlain},
		{name: "cut in a command", data: good + tail[:len(tail)-3], wantErr: io.ErrUnexpectedEOF, wantFix: int64(len(good)), wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]"},
		{name: "cut in a length line", data: good + "*2\r\n$3", wantErr: io.ErrUnexpectedEOF, wantFix: int64(len(good)), wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]"},
		{name: "unclosed MULTI", data: good + tx, wantErr: io.ErrUnexpectedEOF, wantFix: int64(len(good)), wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]"},
		{name: "unclosed MULTI cut", data: good + tx[:len(tx)-2], wantErr: io.ErrUnexpectedEOF, wantFix: int64(len(good)), wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]"},
		{name: "garbage in the middle", data: good + "garbage\r\n" + tail, wantErr: ErrProtocol, wantFix: -1, unfixable: "corrupt at offset", wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]"},
		{name: "EXEC without MULTI", data: good + cmds("EXEC") + tail, wantErr: ErrMulti, wantFix: -1, unfixable: "not cut short", wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]"},
		// A length made larger swallows the commands after it up to the end:
		// it looks like a truncation but is not one.
		{name: "corrupt length", data: good + strings.Replace(tail, "$1\r\n5", "$9999\r\n5", 1) + tail + tail, wantErr: io.ErrUnexpectedEOF, wantFix: -1, unfixable: "look like more commands", wantCmds: 4, wantTx: 1, wantFirst: 100, wantDBs: "[0 3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(t.TempDir(), "appendonly.aof"), tc.data)
			rep, err := Check(context.Background(), path, CheckOptions{})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			var gotFix int64 = -1
			if rep.Fix != nil {
				gotFix = rep.Fix.Offset
			}
			if gotFix != tc.wantFix {
				t.Errorf("got fix at %d, want %d (unfixable: %s)", gotFix, tc.wantFix, rep.Unfixable)
			}
			if !strings.Contains(rep.Unfixable, tc.unfixable) || (err != nil) != (rep.Fix != nil || rep.Unfixable != "") {
				t.Errorf("got Unfixable %q, want %q", rep.Unfixable, tc.unfixable)
			}
			if got := fmt.Sprint(rep.DBs); rep.Commands != tc.wantCmds || rep.Transactions != tc.wantTx || rep.FirstTimestamp != tc.wantFirst || got != tc.wantDBs {
				t.Errorf("got %d commands, %d transactions, first #TS %d, dbs %s; want %d, %d, %d, %s",
					rep.Commands, rep.Transactions, rep.FirstTimestamp, got, tc.wantCmds, tc.wantTx, tc.wantFirst, tc.wantDBs)
			}
			if tc.wantLayout != "" && rep.Layout != tc.wantLayout {
				t.Errorf("got layout %s, want %s", rep.Layout, tc.wantLayout)
			}
		})
	}
}

// multiPart writes a multi-part AOF: a plain base and incr files.
func multiPart(t *testing.T, base string, incrs ...string) string {
	t.Helper()
	dir := t.TempDir()
	man := "file appendonly.aof.1.base.aof seq 1 type b\n"
	writeFile(t, filepath.Join(dir, "appendonly.aof.1.base.aof"), base)
	for i, data := range incrs {
		name := "appendonly.aof." + strconv.Itoa(i+1) + ".incr.aof"
		writeFile(t, filepath.Join(dir, name), data)
		man += "file " + name + " seq " + strconv.Itoa(i+1) + " type i\n"
	}
	writeFile(t, filepath.Join(dir, "appendonly.aof.manifest"), man)
	return dir
}

func TestCheckMultiPart(t *testing.T) {
	base, incr := cmds("SET a 1", "SET b 2"), cmds("SET c 3", "SET d 4")
	ctx := context.Background()

	rep, err := Check(ctx, multiPart(t, base, incr, incr), CheckOptions{})
	if err != nil || rep.Layout != LayoutMultiPart || rep.Base != "aof" || len(rep.Files) != 3 || rep.Commands != 6 {
		t.Fatalf("valid: %v, %+v", err, rep)
	}

	// Only the last incr file can be cut.
	rep, err = Check(ctx, multiPart(t, base, incr, incr[:len(incr)-4]), CheckOptions{})
	if !errors.Is(err, io.ErrUnexpectedEOF) || rep.Fix == nil || rep.Fix.File != "appendonly.aof.2.incr.aof" || rep.Fix.Offset != int64(len(cmds("SET c 3"))) {
		t.Fatalf("last incr cut: %v, fix %+v, %s", err, rep.Fix, rep.Unfixable)
	}
	for name, dir := range map[string]string{
		"first incr": multiPart(t, base, incr[:len(incr)-4], incr),
		"base":       multiPart(t, base[:len(base)-4], incr),
	} {
		rep, err = Check(ctx, dir, CheckOptions{})
		if !errors.Is(err, io.ErrUnexpectedEOF) || rep.Fix != nil || !strings.Contains(rep.Unfixable, "not the last file") {
			t.Errorf("%s cut: %v, fix %+v, %q", name, err, rep.Fix, rep.Unfixable)
		}
	}

	// Manifest problems.
	dir := multiPart(t, base, incr)
	os.Remove(filepath.Join(dir, "appendonly.aof.1.incr.aof"))
	if _, err = Check(ctx, dir, CheckOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing incr: %v", err)
	}
	for name, man := range map[string]string{
		"two bases":    "file a seq 1 type b\nfile b seq 2 type b\n",
		"seq order":    "file appendonly.aof.1.base.aof seq 1 type b\nfile x seq 3 type i\nfile y seq 2 type i\n",
		"outside dir":  "file ../etc/passwd seq 1 type b\n",
		"listed twice": "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.base.aof seq 2 type i\n",
	} {
		dir := multiPart(t, base)
		writeFile(t, filepath.Join(dir, "appendonly.aof.manifest"), man)
		rep, err := Check(ctx, filepath.Join(dir, "appendonly.aof.manifest"), CheckOptions{})
		if !errors.Is(err, ErrManifest) || rep.Fix != nil || rep.Unfixable == "" {
			t.Errorf("%s: %v, %+v", name, err, rep)
		}
	}
}

func TestCheckTimestampCut(t *testing.T) {
	ctx := context.Background()
	after := func(sec int64) CheckOptions { return CheckOptions{TruncateAfter: time.Unix(sec, 0)} }
	head := cmds("#TS:100", "SET a 1", "#TS:200", "SET b 2")
	data := head + cmds("#TS:300", "SELECT 1", "SET c 3", "#TS:400", "SET d 4")
	path := writeFile(t, filepath.Join(t.TempDir(), "ts.aof"), data)

	rep, err := Check(ctx, path, after(250))
	if err != nil || rep.TimestampErr != nil || rep.TimestampCut == nil || rep.TimestampCut.Offset != int64(len(head)) || rep.TimestampCut.Dropped != 2 {
		t.Fatalf("cut after 250: %v, %v, %+v", err, rep.TimestampErr, rep.TimestampCut)
	}
	if rep, _ = Check(ctx, path, after(400)); rep.TimestampCut != nil || rep.TimestampErr != nil {
		t.Errorf("cut after 400: %+v, %v", rep.TimestampCut, rep.TimestampErr)
	}
	if rep, _ = Check(ctx, path, after(50)); rep.TimestampCut != nil || rep.TimestampErr == nil {
		t.Errorf("cut after 50 (nothing before): %+v, %v", rep.TimestampCut, rep.TimestampErr)
	}
	plain := writeFile(t, filepath.Join(t.TempDir(), "plain.aof"), cmds("SET a 1"))
	if rep, _ = Check(ctx, plain, after(250)); !errors.Is(rep.TimestampErr, ErrNoTimestamps) {
		t.Errorf("no annotations: %v", rep.TimestampErr)
	}
	// Multi-part: the last incr only; it may become empty.
	rep, _ = Check(ctx, multiPart(t, head, data), after(150))
	if rep.TimestampCut != nil || rep.TimestampErr == nil || !strings.Contains(rep.TimestampErr.Error(), "not the last file") {
		t.Errorf("cut in the base: %+v, %v", rep.TimestampCut, rep.TimestampErr)
	}
	rep, _ = Check(ctx, multiPart(t, head, data), after(250))
	if c := rep.TimestampCut; c == nil || c.File != "appendonly.aof.1.incr.aof" || c.Offset != int64(len(head)) {
		t.Errorf("cut in the incr: %+v, %v", c, rep.TimestampErr)
	}
	rep, _ = Check(ctx, multiPart(t, head, cmds("#TS:300", "SET c 3")), after(250))
	if c := rep.TimestampCut; c == nil || c.Offset != 0 || c.Dropped != 1 {
		t.Errorf("cut of a whole incr: %+v, %v", c, rep.TimestampErr)
	}
}

func TestTruncate(t *testing.T) {
	ctx := context.Background()
	good := cmds("SET a 1", "SET b 2")
	data := good + "*2\r\n$3\r\nSET"
	path := writeFile(t, filepath.Join(t.TempDir(), "appendonly.aof"), data)
	rep, err := Check(ctx, path, CheckOptions{})
	if rep.Fix == nil {
		t.Fatalf("no fix: %v", err)
	}
	now := time.Unix(1700000000, 0)
	backup, err := Truncate(ctx, rep.Fix, TruncateOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".bak.1700000000"; backup != want {
		t.Errorf("got backup %s, want %s", backup, want)
	}
	if got, _ := os.ReadFile(backup); string(got) != data {
		t.Errorf("backup holds %q", got)
	}
	if got, _ := os.ReadFile(path); string(got) != good {
		t.Errorf("cut file holds %q", got)
	}
	if _, err := Check(ctx, path, CheckOptions{}); err != nil {
		t.Errorf("after the cut: %v", err)
	}

	// A second cut at the same second gets a new backup name; a file
	// that changed since it was checked is not cut.
	writeFile(t, path, data)
	rep, _ = Check(ctx, path, CheckOptions{})
	backup, err = Truncate(ctx, rep.Fix, TruncateOptions{Now: now})
	if err != nil || backup != path+".bak.1700000000.1" {
		t.Errorf("second backup %s, %v", backup, err)
	}
	writeFile(t, path, data)
	rep, _ = Check(ctx, path, CheckOptions{})
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("$1\r\nx\r\n")
	f.Close()
	if _, err := Truncate(ctx, rep.Fix, TruncateOptions{}); err == nil || !strings.Contains(err.Error(), "changed since") {
		t.Errorf("changed file: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.HasPrefix(got, []byte(data)) || len(got) == len(good) {
		t.Errorf("changed file was cut")
	}
}
