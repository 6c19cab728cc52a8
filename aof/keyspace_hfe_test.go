package aof

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/redkit/redkit/rdb"
)

// hashFields returns the fields of every hash in db 0 as
// "key field=value@expiry" strings (no @ when the field has no expiry).
func hashFields(t *testing.T, ks *Keyspace) []string {
	t.Helper()
	var out []string
	err := ks.Keys(func(kv *rdb.KeyValue) error {
		if kv.Type != rdb.TypeHash {
			return nil
		}
		return kv.Elements(func(e *rdb.Element) error {
			s := fmt.Sprintf("%s %s=%s", kv.Key, e.Member, e.Value)
			if e.ExpireAt != rdb.NoExpiry {
				s += fmt.Sprintf("@%d", e.ExpireAt)
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKeyspaceHashFieldExpiry follows Redis 7.4's t_hash.c
// (hexpireGenericCommand, hpersistCommand, hashTypeSet): no Redis 7.4
// server runs here, so the expected results are read off its source.
func TestKeyspaceHashFieldExpiry(t *testing.T) {
	tests := []struct {
		name   string
		script []string // commands, space-separated
		ts     int64    // #TS seconds for every command
		want   []string
	}{
		{"absolute ms", []string{"HSET h a 1 b 2 c 3", "HPEXPIREAT h 5000 FIELDS 2 a c"},
			0, []string{"h a=1@5000", "h b=2", "h c=3@5000"}},
		{"absolute s", []string{"HSET h a 1", "HEXPIREAT h 7 FIELDS 1 a"},
			0, []string{"h a=1@7000"}},
		{"relative from #TS", []string{"HSET h a 1 b 2", "HEXPIRE h 10 FIELDS 1 a", "HPEXPIRE h 10 FIELDS 1 b"},
			100, []string{"h a=1@110000", "h b=2@100010"}},
		{"missing field and key ignored", []string{"HSET h a 1", "HPEXPIREAT h 9 FIELDS 2 zz a", "HPEXPIREAT nokey 9 FIELDS 1 a"},
			0, []string{"h a=1@9"}},
		{"past time kept as Redis loads it", []string{"HSET h a 1", "HPEXPIREAT h 0 FIELDS 1 a"},
			0, []string{"h a=1@0"}},
		{"NX", []string{"HSET h a 1 b 2", "HPEXPIREAT h 10 FIELDS 1 a", "HPEXPIREAT h 20 NX FIELDS 2 a b"},
			0, []string{"h a=1@10", "h b=2@20"}},
		{"XX", []string{"HSET h a 1 b 2", "HPEXPIREAT h 10 FIELDS 1 a", "HPEXPIREAT h 20 XX FIELDS 2 a b"},
			0, []string{"h a=1@20", "h b=2"}},
		{"GT: no expiry is infinite", []string{"HSET h a 1 b 2", "HPEXPIREAT h 10 FIELDS 1 a", "HPEXPIREAT h 20 gt FIELDS 2 a b", "HPEXPIREAT h 15 GT FIELDS 1 a"},
			0, []string{"h a=1@20", "h b=2"}},
		{"LT", []string{"HSET h a 1 b 2", "HPEXPIREAT h 10 FIELDS 1 a", "HPEXPIREAT h 20 LT FIELDS 2 a b", "HPEXPIREAT h 5 LT FIELDS 1 a"},
			0, []string{"h a=1@5", "h b=2@20"}},
		{"HPERSIST", []string{"HSET h a 1 b 2", "HPEXPIREAT h 10 FIELDS 2 a b", "HPERSIST h FIELDS 2 a zz", "HPERSIST nokey FIELDS 1 a"},
			0, []string{"h a=1", "h b=2@10"}},
		{"HSET clears, HSETNX keeps, HINCRBY keeps", []string{
			"HSET h a 1 b 2 c 3 d 4", "HPEXPIREAT h 10 FIELDS 4 a b c d",
			"HSET h a 9", "HMSET h b 8", "HSETNX h c 7", "HINCRBY h d 1"},
			0, []string{"h a=9", "h b=8", "h c=3@10", "h d=5@10"}},
		{"HINCRBYFLOAT keeps", []string{"HSET h f 1.5", "HPEXPIREAT h 10 FIELDS 1 f", "HINCRBYFLOAT h f 1"},
			0, []string{"h f=2.5@10"}},
		{"HDEL of the last field deletes the key", []string{"HSET h a 1", "HPEXPIREAT h 10 FIELDS 1 a", "HDEL h a"},
			0, nil},
		{"COPY and RENAME carry them", []string{"HSET h a 1", "HPEXPIREAT h 10 FIELDS 1 a", "COPY h h2", "RENAME h h3"},
			0, []string{"h2 a=1@10", "h3 a=1@10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks := NewKeyspace(KeyspaceOptions{})
			for _, c := range tc.script {
				if err := apply(ks, tc.ts, strings.Fields(c)...); err != nil {
					t.Fatalf("%s: %v", c, err)
				}
			}
			if got := hashFields(t, ks); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKeyspaceHashFieldExpiryErrors(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{})
	if err := apply(ks, 0, "HSET", "h", "a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := apply(ks, 0, "SET", "s", "x"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want error
	}{
		{[]string{"HPEXPIREAT", "h", "10", "FIELD", "1", "a"}, ErrRejected},
		{[]string{"HPEXPIREAT", "h", "10", "FIELDS", "2", "a"}, ErrRejected},
		{[]string{"HPEXPIREAT", "h", "10", "FIELDS", "0", "a"}, ErrRejected},
		{[]string{"HPEXPIREAT", "h", "-1", "FIELDS", "1", "a"}, ErrRejected},
		{[]string{"HPEXPIREAT", "h", "x", "FIELDS", "1", "a"}, ErrRejected},
		{[]string{"HPEXPIREAT", "h", "70368744177664", "FIELDS", "1", "a"}, ErrRejected},
		{[]string{"HPEXPIREAT", "h", "10", "NX", "FIELDS", "1"}, ErrRejected},
		{[]string{"HPEXPIREAT", "s", "10", "FIELDS", "1", "a"}, ErrRejected},
		{[]string{"HPERSIST", "s", "FIELDS", "1", "a"}, ErrRejected},
		{[]string{"HPERSIST", "h", "FIELDS", "2", "a"}, ErrRejected},
		{[]string{"HEXPIRE", "h", "10", "FIELDS", "1", "a"}, ErrNoClock},
		{[]string{"HSETEX", "h", "FIELDS", "1", "a", "1"}, ErrUnsupportedCommand},
	} {
		err := apply(ks, 0, tc.args...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.args, err, tc.want)
		}
	}
	if got, want := hashFields(t, ks), []string{"h a=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after refused commands: %q, want %q", got, want)
	}
}

// TestHDTFieldExpiryAOF replays HDT3213/rdb's AOF of its Redis 7.4 dump
// with field expiries (HMSET, HPEXPIREAT, HPERSIST) and checks the result
// against the dump itself, field by field.
func TestHDTFieldExpiryAOF(t *testing.T) {
	needCorpus(t)
	dir := filepath.Join(corpusDir, "hdt3213-rdb")
	r, err := Open(t.Context(), filepath.Join(dir, "hash_as_listpack_with_hfe.aof"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ks := NewKeyspace(KeyspaceOptions{})
	if err := ks.Replay(r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "hash_as_listpack_with_hfe.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	want := NewKeyspace(KeyspaceOptions{})
	if err := want.LoadRDB(rdb.NewReader(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	got, exp := hashFields(t, ks), hashFields(t, want)
	if !reflect.DeepEqual(got, exp) || len(got) != 3 {
		t.Errorf("replayed AOF: %q\nthe dump: %q", got, exp)
	}
}
