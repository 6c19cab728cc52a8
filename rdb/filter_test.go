package rdb

import (
	"regexp"
	"testing"
	"time"
)

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, key string
		want         bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},   // "*" alone matches everything, as KEYS and SCAN shortcut it
		{"**", "", false}, // stringmatchlen never matches a pattern against an empty key
		{"*", "anything", true},
		{"a", "", false},
		{"user:*", "user:1", true},
		{"user:*", "user:", true},
		{"user:*", "user", false},
		{"user:*", "users:1", false},
		{"*:name", "user:1:name", true},
		{"*:name", "user:1:names", false},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h*llo", "hllo", true},
		{"h*llo", "heeeello", true},
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hbllo", true}, // reversed range
		{"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{`h[\]]llo`, "h]llo", true},
		{`[\-]`, "-", true},
		{"a[", "a[", false},       // unterminated class still consumes a byte
		{"a[b", "ab", true},       // unterminated class matches as if closed
		{"a[b", "ac", false},      // ...and only its members
		{"a[^", "ab", true},       // empty negated class
		{`a\`, `a\`, true},        // trailing backslash is literal
		{"a**b", "ab", true},      // collapsed stars
		{"a*", "a", true},         // trailing stars match empty
		{"a*b*c", "aXbYc", true},  // several stars
		{"a*b*c", "aXbYd", false}, // ... and backtracking stops early
		{"[a-", "a", true},        // "[a-" has no range: members 'a' and '-'
		{"[a-", "b", false},
		{"?", "\xff", true}, // byte-wise, not rune-wise
		{"\xff*", "\xff\x00", true},
		{"A*", "abc", false}, // case-sensitive
		{"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.key, func(t *testing.T) {
			if got := MatchGlob(tt.pattern, []byte(tt.key)); got != tt.want {
				t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.key, got, tt.want)
			}
		})
	}
}

func TestFilterMatchKey(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	past, future := now.UnixMilli()-1, now.UnixMilli()+1
	key := func(db int, k string, typ Type, exp int64) *Record {
		return &Record{Kind: KindKey, DB: db, Key: []byte(k), Type: typ, ExpireAt: exp}
	}
	tests := []struct {
		name   string
		filter *Filter
		rec    *Record
		want   bool
	}{
		{"nil filter", nil, key(0, "a", TypeString, NoExpiry), true},
		{"zero filter", &Filter{}, key(3, "a", TypeHash, past), true},
		{"db in", &Filter{DBs: []int{1, 2}}, key(2, "a", TypeString, NoExpiry), true},
		{"db out", &Filter{DBs: []int{1, 2}}, key(0, "a", TypeString, NoExpiry), false},
		{"match in", &Filter{Match: "user:*"}, key(0, "user:1", TypeString, NoExpiry), true},
		{"match out", &Filter{Match: "user:*"}, key(0, "order:1", TypeString, NoExpiry), false},
		{"regex in", &Filter{Regex: regexp.MustCompile(`^l.*`)}, key(0, "list", TypeList, NoExpiry), true},
		{"regex out", &Filter{Regex: regexp.MustCompile(`^l.*`)}, key(0, "set", TypeSet, NoExpiry), false},
		{"type in", &Filter{Types: []Type{TypeHash, TypeSet}}, key(0, "a", TypeSet, NoExpiry), true},
		{"type out", &Filter{Types: []Type{TypeHash}}, key(0, "a", TypeSet, NoExpiry), false},
		{"exclude expired", &Filter{Expired: ExpiredExclude, Now: now}, key(0, "a", TypeString, past), false},
		{"exclude keeps live", &Filter{Expired: ExpiredExclude, Now: now}, key(0, "a", TypeString, future), true},
		{"exclude keeps persistent", &Filter{Expired: ExpiredExclude, Now: now}, key(0, "a", TypeString, NoExpiry), true},
		{"exclude keeps expiring now", &Filter{Expired: ExpiredExclude, Now: now}, key(0, "a", TypeString, now.UnixMilli()), true},
		{"only expired", &Filter{Expired: ExpiredOnly, Now: now}, key(0, "a", TypeString, past), true},
		{"only drops live", &Filter{Expired: ExpiredOnly, Now: now}, key(0, "a", TypeString, future), false},
		{"only drops persistent", &Filter{Expired: ExpiredOnly, Now: now}, key(0, "a", TypeString, NoExpiry), false},
		{"all conditions", &Filter{DBs: []int{0}, Match: "a*", Types: []Type{TypeString}}, key(0, "abc", TypeString, NoExpiry), true},
		{"one condition fails", &Filter{DBs: []int{0}, Match: "a*", Types: []Type{TypeList}}, key(0, "abc", TypeString, NoExpiry), false},
		{"non-key record", &Filter{DBs: []int{5}}, &Record{Kind: KindAux, Name: []byte("redis-ver")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.MatchKey(tt.rec); got != tt.want {
				t.Errorf("MatchKey = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterMatchStats(t *testing.T) {
	rec := &Record{Kind: KindKey, Key: []byte("k"), Type: TypeString, ExpireAt: NoExpiry}
	tests := []struct {
		name   string
		filter *Filter
		memory int64
		want   bool
	}{
		{"nil", nil, 1, true},
		{"no min", &Filter{}, 0, true},
		{"below", &Filter{MinSize: 100}, 99, false},
		{"equal", &Filter{MinSize: 100}, 100, true},
		{"above", &Filter{MinSize: 100}, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.MatchStats(rec, ValueStats{Memory: tt.memory}); got != tt.want {
				t.Errorf("MatchStats = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseExpiredMode(t *testing.T) {
	for _, m := range []ExpiredMode{ExpiredInclude, ExpiredExclude, ExpiredOnly} {
		got, err := ParseExpiredMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseExpiredMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	if _, err := ParseExpiredMode("never"); err == nil {
		t.Error("ParseExpiredMode(never): want error")
	}
}

func FuzzMatchGlob(f *testing.F) {
	for _, s := range []string{"*", "a*b?c", "[a-z]*", `\[`, "[^", "**x"} {
		f.Add(s, "abc")
	}
	f.Fuzz(func(t *testing.T, pattern, key string) {
		MatchGlob(pattern, []byte(key)) // must not panic
	})
}
