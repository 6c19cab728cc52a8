package sync

import "testing"

func TestNotifyFlags(t *testing.T) {
	for _, tc := range []struct {
		v      string
		enough bool
		want   string
	}{
		{"", false, "AK"},
		{"Ex", false, "AKE"},
		{"AK", true, "AK"},
		{"KEA", true, "AKE"},
		{"Kg$lshzxetd", true, "AK"},
		{"Kg$lshzxet", false, "AK"}, // no d
		{"A", false, "AK"},
		{"AKEm", true, "AKEm"},
		{"Elm", false, "AKEm"},
	} {
		if got := notifyEnough(tc.v); got != tc.enough {
			t.Errorf("notifyEnough(%q) = %v", tc.v, got)
		}
		if got := notifyWant(tc.v); got != tc.want {
			t.Errorf("notifyWant(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestParseKeyspaceChannel(t *testing.T) {
	for _, tc := range []struct {
		ch  string
		db  int
		key string
		ok  bool
	}{
		{"__keyspace@0__:a", 0, "a", true},
		{"__keyspace@12__:__:x:__", 12, "__:x:__", true},
		{"__keyspace@3__:", 3, "", true},
		{"__keyevent@0__:set", 0, "", false},
		{"__keyspace@x__:a", 0, "", false},
	} {
		db, key, ok := parseKeyspaceChannel([]byte(tc.ch))
		if ok != tc.ok || ok && (db != tc.db || string(key) != tc.key) {
			t.Errorf("%q: %d %q %v", tc.ch, db, key, ok)
		}
	}
}
