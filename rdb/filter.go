package rdb

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// ExpiredMode tells a Filter what to do with keys whose expiry has passed.
type ExpiredMode uint8

// Expired modes.
const (
	ExpiredInclude ExpiredMode = iota // keep expired keys (the default)
	ExpiredExclude                    // drop expired keys, as Redis would on load
	ExpiredOnly                       // keep only expired keys
)

var expiredModeNames = [...]string{"include", "exclude", "only"}

func (m ExpiredMode) String() string {
	if int(m) < len(expiredModeNames) {
		return expiredModeNames[m]
	}
	return fmt.Sprintf("expired-mode(%d)", uint8(m))
}

// ParseExpiredMode maps "include", "exclude" or "only" to an ExpiredMode.
func ParseExpiredMode(s string) (ExpiredMode, error) {
	for i, n := range expiredModeNames {
		if n == s {
			return ExpiredMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown expired mode %q (want include, exclude or only)", s)
}

// Filter selects keys. Its zero value, and a nil *Filter, select every
// key. All set conditions must hold for a key to be selected. A Filter is
// safe for concurrent use once built.
type Filter struct {
	// DBs keeps keys of these databases; empty means all.
	DBs []int
	// Match keeps keys matching this Redis glob pattern (the syntax of KEYS
	// and SCAN MATCH: * ? [abc] [^a] [a-z] and \x escapes); empty means all.
	Match string
	// Regex keeps keys it matches; nil means all.
	Regex *regexp.Regexp
	// Types keeps keys of these types; empty means all.
	Types []Type
	// MinSize keeps keys whose estimated memory (ValueStats.Memory) is at
	// least this many bytes; 0 means all.
	MinSize int64
	// Expired decides on keys whose expiry is before Now.
	Expired ExpiredMode
	// Now is the time expiries are compared with; the zero value means the
	// wall clock at each call.
	Now time.Time
}

// MatchKey reports whether a KindKey record passes the checks that need
// no value: database, pattern, regex, type and expiry. Records of other
// kinds always pass; callers decide what to do with them.
func (f *Filter) MatchKey(rec *Record) bool {
	if f == nil || rec.Kind != KindKey {
		return true
	}
	if len(f.DBs) > 0 && !slices.Contains(f.DBs, rec.DB) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, rec.Type) {
		return false
	}
	if f.Expired != ExpiredInclude {
		now := f.Now
		if now.IsZero() {
			now = time.Now()
		}
		// Redis treats a key as expired once now > expire time.
		expired := rec.ExpireAt != NoExpiry && rec.ExpireAt < now.UnixMilli()
		if expired != (f.Expired == ExpiredOnly) {
			return false
		}
	}
	if f.Match != "" && !MatchGlob(f.Match, rec.Key) {
		return false
	}
	if f.Regex != nil && !f.Regex.Match(rec.Key) {
		return false
	}
	return true
}

// MatchStats reports whether a key that passed MatchKey also passes the
// checks that need its value's statistics (MinSize).
func (f *Filter) MatchStats(rec *Record, st ValueStats) bool {
	if f == nil || rec.Kind != KindKey {
		return true
	}
	return st.Memory >= f.MinSize
}

// NeedsStats reports whether MatchStats can reject a key, so callers that
// do not otherwise need a key's statistics know whether to compute them.
func (f *Filter) NeedsStats() bool { return f != nil && f.MinSize > 0 }

// MatchGlob reports whether key matches the glob pattern with the
// semantics of Redis's stringmatchlen (used by KEYS, SCAN MATCH and
// PSUBSCRIBE): '*' any run of bytes, '?' one byte, '[abc]', '[^abc]',
// '[a-z]' (reversed ranges allowed), '\' escapes the next byte. An
// unterminated '[' class matches as if closed at the end of the pattern.
// Matching is byte-wise and case-sensitive. Like KEYS and SCAN, the
// pattern "*" alone matches every key, the empty key included.
func MatchGlob(pattern string, key []byte) bool {
	if pattern == "*" {
		return true
	}
	skipLonger := false
	return globMatch(pattern, key, &skipLonger, 0)
}

// globMatch is a port of Redis 7.2 stringmatchlen_impl. byteAt stands in
// for the NUL terminator C reads past the end of the pattern.
func globMatch(p string, s []byte, skipLonger *bool, nesting int) bool {
	// Protection against abusive patterns, as in Redis.
	if nesting > 1000 {
		return false
	}
	byteAt := func(i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	pi, si := 0, 0
	for pi < len(p) && si < len(s) {
		switch p[pi] {
		case '*':
			for pi+1 < len(p) && p[pi+1] == '*' {
				pi++
			}
			if pi == len(p)-1 {
				return true
			}
			for si < len(s) {
				if globMatch(p[pi+1:], s[si:], skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				si++
			}
			// No match for the rest of the pattern anywhere in the rest
			// of the string: earlier stars cannot help either.
			*skipLonger = true
			return false
		case '?':
			si++
		case '[':
			pi++
			not := byteAt(pi) == '^'
			if not {
				pi++
			}
			match := false
		class:
			for {
				switch {
				case byteAt(pi) == '\\' && len(p)-pi >= 2:
					pi++
					if p[pi] == s[si] {
						match = true
					}
				case byteAt(pi) == ']':
					break class
				case pi >= len(p):
					// Unterminated class: step back so the increment
					// after the switch leaves pi at the end.
					pi--
					break class
				case len(p)-pi >= 3 && p[pi+1] == '-':
					start, end, c := p[pi], p[pi+2], s[si]
					if start > end {
						start, end = end, start
					}
					pi += 2
					if c >= start && c <= end {
						match = true
					}
				default:
					if p[pi] == s[si] {
						match = true
					}
				}
				pi++
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			si++
		case '\\':
			if len(p)-pi >= 2 {
				pi++
			}
			fallthrough
		default:
			if p[pi] != s[si] {
				return false
			}
			si++
		}
		pi++
		if si == len(s) {
			for pi < len(p) && p[pi] == '*' {
				pi++
			}
			break
		}
	}
	return pi == len(p) && si == len(s)
}
