package preflight

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/redistest"
	rsync "github.com/redkit/redkit/sync"
)

// sideOf dials s as user (empty: the default user) and reads its facts.
func sideOf(t *testing.T, s *redistest.Server, user, password string) *Side {
	t.Helper()
	o := &rsync.Options{Username: user, Password: password}
	c, err := rsync.Dial(context.Background(), s.Addr(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := rsync.Info(c)
	if err != nil {
		t.Fatal(err)
	}
	return &Side{Name: "redis://" + s.Addr(), Addr: s.Addr(), Info: info, Conn: o}
}

func names(r *Result) []string {
	var n []string
	for _, c := range r.Checks {
		n = append(n, c.Name)
	}
	return n
}

func find(t *testing.T, r *Result, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %q check in %+v", name, r.Checks)
	return Check{}
}

// untouched fails the test when dst holds other keys than want, or the
// probe key.
func untouched(t *testing.T, dst *redistest.Server, want ...string) {
	t.Helper()
	keys, err := dst.Client().Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("the target holds %q, want %q", keys, want)
	}
}

// TestSync runs a sync's checks between two plain servers: all pass, in
// order, and nothing is written; a key of the source already on the
// target is a warning with its advice; a replica target fails.
func TestSync(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	src.Client().MSet(ctx, "a", "1", "b", strings.Repeat("x", 10000))
	c1 := redis.NewClient(&redis.Options{Addr: src.Addr(), DB: 1})
	defer c1.Close()
	c1.Set(ctx, "c", "3", 0)
	dst := redistest.Start(t, redistest.Options{})

	res, err := Sync(ctx, sideOf(t, src, "", ""), sideOf(t, dst, "", ""), SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"versions", "target role", "target memory", "modules", "source ACL", "target ACL", "databases", "biggest key", "existing keys"}
	if got := names(res); !slices.Equal(got, want) {
		t.Errorf("checks %q, want %q", got, want)
	}
	if res.Failed() != 0 {
		t.Errorf("failed: %+v", res.Checks)
	}
	for _, c := range res.Checks {
		if c.Status != OK {
			t.Errorf("%s: %s: %s", c.Name, c.Status, c.Detail)
		}
	}
	if c := find(t, res, "databases"); c.Advice != MapDBs || !strings.Contains(c.Detail, "db 0: 2, db 1: 1") {
		t.Errorf("databases: %+v", c)
	}
	if c := find(t, res, "biggest key"); !strings.Contains(c.Detail, `"b" in db 0`) || !strings.Contains(c.Detail, "(3 keys scanned)") {
		t.Errorf("biggest key: %+v", c)
	}
	if c := find(t, res, "existing keys"); c.Detail != "none of 3 source keys sampled exists on the target" {
		t.Errorf("existing keys: %+v", c)
	}
	if c := find(t, res, "target ACL"); !strings.Contains(c.Detail, "checked with ACL DRYRUN") || !strings.Contains(c.Detail, "MULTI EXEC SELECT") {
		t.Errorf("target ACL: %+v", c)
	}
	untouched(t, dst)

	// Options add the commands they need.
	res, err = Sync(ctx, sideOf(t, src, "", ""), sideOf(t, dst, "", ""), SyncOptions{FlushTarget: true, ForwardPubSub: true, Filter: &rsync.SyncFilter{Exclude: []string{"x*"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := find(t, res, "target ACL"); !strings.HasSuffix(c.Detail, "SELECT FLUSHALL PUBLISH (checked with ACL DRYRUN)") {
		t.Errorf("target ACL: %+v", c)
	}
	if c := find(t, res, "source ACL"); !strings.Contains(c.Detail, "PSYNC REPLCONF PING INFO COMMAND") {
		t.Errorf("source ACL: %+v", c)
	}

	dst.Client().Set(ctx, "a", "x", 0)
	res, err = Sync(ctx, sideOf(t, src, "", ""), sideOf(t, dst, "", ""), SyncOptions{Masters: []string{src.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if c := find(t, res, "existing keys"); c.Status != Warn || c.Advice != FlushTarget || !strings.Contains(c.Detail, `1 of 3 source keys sampled already exist on the target (e.g. ["a"])`) {
		t.Errorf("existing keys: %+v", c)
	}
	untouched(t, dst, "a")

	replica := sideOf(t, dst, "", "")
	replica.Info.Role = "slave"
	res, err = Sync(ctx, sideOf(t, src, "", ""), replica, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := find(t, res, "target role"); c.Status != Fail || c.Advice != UseMaster || c.Detail != "redis://"+dst.Addr()+" is a slave (read-only)" || res.Failed() != 1 {
		t.Errorf("target role: %+v (%d failed)", c, res.Failed())
	}
}

// TestSyncProbes: a user who may not run ACL is probed command by
// command; RESTORE refused fails the check, a tight maxmemory too, and
// the probe key is gone afterwards.
func TestSyncProbes(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Options{})
	src.Client().Set(ctx, "big", strings.Repeat("x", 4<<20), 0)
	dst := redistest.Start(t, redistest.Options{Config: []string{"maxmemory 2mb"}})
	if err := dst.Client().Do(ctx, "ACL", "SETUSER", "w", "on", ">pw", "~*", "&*", "+@all", "-restore", "-acl").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := Sync(ctx, sideOf(t, src, "", ""), sideOf(t, dst, "w", "pw"), SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	acl := find(t, res, "target ACL")
	if acl.Status != Fail || !strings.HasPrefix(acl.Detail, "the user lacks: RESTORE (NOPERM") || !strings.HasSuffix(acl.Detail, "checked with probes)") {
		t.Errorf("target ACL: %+v", acl)
	}
	if c := find(t, res, "target memory"); c.Status != Fail || !strings.Contains(c.Detail, "raise maxmemory") {
		t.Errorf("target memory: %+v", c)
	}
	if c := find(t, res, "biggest key"); c.Status != OK || !strings.Contains(c.Detail, `"big" in db 0 uses about`) {
		t.Errorf("biggest key: %+v", c)
	}
	if res.Failed() != 2 {
		t.Errorf("%d failed: %+v", res.Failed(), res.Checks)
	}
	untouched(t, dst)
}

// TestRestore runs a restore's checks of a dump: the checks in order,
// expired keys left out, and existing keys under each conflict policy.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	dst := redistest.Start(t, redistest.Options{})
	keys := slices.DeleteFunc(slices.Clone(someKeys), func(k testKey) bool { return k.key == "hfe" })
	path := writeFile(t, "dump.rdb", rdbBytes(t, 10, keys))
	opts := RestoreOptions{DropExpired: true, Now: now, Conflict: rsync.ConflictError}
	res, err := Restore(ctx, sideOf(t, dst, "", ""), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"input", "versions", "expired keys", "target role", "target memory", "target ACL", "databases", "biggest key", "existing keys"}
	if got := names(res); !slices.Equal(got, want) {
		t.Errorf("checks %q, want %q", got, want)
	}
	for _, c := range res.Checks {
		if c.Status != OK {
			t.Errorf("%s: %s: %s", c.Name, c.Status, c.Detail)
		}
	}
	if c := find(t, res, "input"); !strings.HasPrefix(c.Detail, path+": RDB 10, 6 keys, ") {
		t.Errorf("input: %+v", c)
	}
	if c := find(t, res, "expired keys"); c.Advice != IncludeExpired || c.Detail != "1 keys have an expiry already passed: left out, as Redis drops them on load" {
		t.Errorf("expired keys: %+v", c)
	}
	if c := find(t, res, "databases"); c.Detail != "keys per database: db 0: 4, db 2: 1; each goes to the same database of the target" {
		t.Errorf("databases: %+v", c)
	}
	if c := find(t, res, "biggest key"); !strings.HasPrefix(c.Detail, `"big" in db 0: `) {
		t.Errorf("biggest key: %+v", c)
	}
	if c := find(t, res, "existing keys"); c.Detail != "none of the first 5 keys of the dump exists on the target" {
		t.Errorf("existing keys: %+v", c)
	}
	untouched(t, dst)

	dst.Client().Set(ctx, "a", "x", 0)
	for _, tc := range []struct {
		name     string
		conflict string
		flush    bool
		status   Status
		advice   Advice
		detail   string
	}{
		{"error", rsync.ConflictError, false, Fail, ResolveConflicts, `1 of the first 5 keys of the dump exist on the target (e.g. ["a"]): the restore would stop at the first`},
		{"default", "", false, Fail, ResolveConflicts, `1 of the first 5 keys of the dump exist on the target (e.g. ["a"]): the restore would stop at the first`},
		{"replace", rsync.ConflictReplace, false, Warn, ConflictApplies, `1 of the first 5 keys exist on the target (e.g. ["a"])`},
		{"skip", rsync.ConflictSkip, false, Warn, ConflictApplies, `1 of the first 5 keys exist on the target (e.g. ["a"])`},
		{"flush", rsync.ConflictError, true, OK, Flushing, "1 of the first 5 keys exist on the target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.Conflict, o.Flush = tc.conflict, tc.flush
			res, err := Restore(ctx, sideOf(t, dst, "", ""), path, o)
			if err != nil {
				t.Fatal(err)
			}
			if c := find(t, res, "existing keys"); c.Status != tc.status || c.Advice != tc.advice || c.Detail != tc.detail {
				t.Errorf("existing keys: %+v", c)
			}
			if acl := find(t, res, "target ACL"); strings.Contains(acl.Detail, "FLUSHALL") != tc.flush {
				t.Errorf("target ACL: %+v", acl)
			}
		})
	}
	untouched(t, dst, "a")
}

// TestRestoreInputs: field expiries into a server without HPEXPIREAT
// fail, from a dump and from JSON; an AOF has no database checks; an
// input that cannot be read fails its check.
func TestRestoreInputs(t *testing.T) {
	ctx := context.Background()
	dst := redistest.Start(t, redistest.Options{})
	side := sideOf(t, dst, "", "")
	if rsync.HasFieldExpiry(side.Info) {
		t.Skipf("%s %s sets field expiries", side.Info.Server, side.Info.Version)
	}
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       []string
		fieldTTL   string
	}{
		{"rdb", "dump.rdb", rdbBytes(t, 12, someKeys),
			[]string{"input", "versions", "field expiries", "target role", "target memory", "target ACL", "databases", "biggest key", "existing keys"},
			`1 hashes have field expiries (e.g. "hfe"), and `},
		{"json", "keys.json", jsonBytes(t, someKeys),
			[]string{"input", "field expiries", "target role", "target ACL", "databases", "existing keys"},
			`1 hashes have field expiries (e.g. "hfe"), and `},
		{"aof", "appendonly.aof", []byte("*5\r\n$7\r\nHEXPIRE\r\n$2\r\nh2\r\n$2\r\n10\r\n$6\r\nFIELDS\r\n$1\r\n1\r\n"),
			[]string{"input", "field expiries", "target role", "target ACL"},
			`1 commands set hash field expiries (e.g. on "h2"), and `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Restore(ctx, side, writeFile(t, tc.file, tc.data), RestoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res); !slices.Equal(got, tc.want) {
				t.Errorf("checks %q, want %q", got, tc.want)
			}
			c := find(t, res, "field expiries")
			if c.Status != Fail || c.Advice != LeaveOutKeys || !strings.HasPrefix(c.Detail, tc.fieldTTL) || !strings.HasSuffix(c.Detail, "those keys would fail, left absent; restore into a newer server") {
				t.Errorf("field expiries: %+v", c)
			}
		})
	}
	junk := writeFile(t, "junk", []byte("hello world"))
	res, err := Restore(ctx, side, junk, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Checks[0]; c.Name != "input" || c.Status != Fail || !strings.HasPrefix(c.Detail, junk+": convert "+junk+": input is neither") {
		t.Errorf("input: %+v", c)
	}
	if got, want := names(res), []string{"input", "target role", "target ACL"}; !slices.Equal(got, want) {
		t.Errorf("checks %q, want %q", got, want)
	}
	untouched(t, dst)
}
