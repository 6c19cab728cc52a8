package sync

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is a parsed connection URL.
//
//	redis://[user:password@]host:port[/db]
//	rediss://[user:password@]host:port[/db]              (TLS)
//	redis+sentinel://[user:password@]host:port[,host:port...]/master-name[/db]
//	rediss+sentinel://...                                 (TLS to sentinels and master)
//
// The user and password authenticate to the Redis server; for Sentinel URLs
// they also authenticate to the sentinels unless SentinelPassword is set.
type Endpoint struct {
	TLS      bool
	Addrs    []string // host:port; one, except for Sentinel
	Username string
	Password string
	DB       int
	// Master is the Sentinel master name; empty for plain URLs.
	Master string
	// DBSet tells whether the URL named a database.
	DBSet bool
	// BareUserinfo tells that the URL's userinfo had no colon
	// (redis://word@host): Password holds the word, as redis-cli takes it,
	// until SetPassword makes it the user name.
	BareUserinfo bool
}

// SetPassword sets a password given outside the URL (a file, the
// environment), which replaces the URL's. A bare userinfo
// (redis://word@host) then names the user: the word is not a password
// when the password is given elsewhere.
func (e *Endpoint) SetPassword(pw string) {
	if e.BareUserinfo {
		e.Username, e.BareUserinfo = e.Password, false
	}
	e.Password = pw
}

// HasPassword tells whether the URL gave a password as user:password or
// :password, not a bare word that a password from elsewhere would make
// the user name.
func (e *Endpoint) HasPassword() bool { return e.Password != "" && !e.BareUserinfo }

// ErrBadURL is wrapped by every URL parsing error.
var ErrBadURL = errors.New("bad Redis URL")

// ParseURL parses a connection URL. Errors never contain the password:
// they show the URL as RedactURL masks it.
//
// The userinfo runs to the last "@" (so a password may hold "@" or "/").
// "user:password@" gives both; a bare "word@" is, as redis-cli takes it, a
// password, and BareUserinfo is set: SetPassword, for a password given
// outside the URL, makes that word the user name instead.
func ParseURL(s string) (*Endpoint, error) {
	red := RedactURL(s)
	fail := func(format string, args ...any) (*Endpoint, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrBadURL, red, fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if prefix, ok := misspeltScheme(s); ok {
			return fail("%q is not a scheme: want redis://, rediss://, redis+sentinel:// or rediss+sentinel://", prefix)
		}
		return fail("want redis://host:port, rediss://host:port or redis+sentinel://host:port/master")
	}
	ep := &Endpoint{}
	sentinel := false
	switch strings.ToLower(scheme) {
	case "redis":
	case "rediss":
		ep.TLS = true
	case "redis+sentinel":
		sentinel = true
	case "rediss+sentinel":
		sentinel, ep.TLS = true, true
	default:
		if !isSchemeStart(scheme, 0) || strings.IndexFunc(scheme, func(r rune) bool { return r > 0x7f || !isSchemeChar(byte(r)) }) >= 0 {
			// Not a scheme: it may hold anything, a password included.
			return fail("want redis://host:port, rediss://host:port or redis+sentinel://host:port/master")
		}
		return fail("unknown scheme %q (redis, rediss, redis+sentinel, rediss+sentinel)", scheme)
	}
	if strings.HasPrefix(rest, "/") {
		return fail("too many slashes after the scheme: want %s://host:port", strings.ToLower(scheme))
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if ep.Username, err = url.PathUnescape(user); err != nil {
			return fail("bad escape in the user name")
		}
		if hasPass {
			if ep.Password, err = url.PathUnescape(pass); err != nil {
				return fail("bad escape in the password")
			}
		} else if ep.Username != "" {
			// redis://password@host, as redis-cli takes it.
			ep.Password, ep.Username, ep.BareUserinfo = ep.Username, "", true
		}
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		return fail("query strings and fragments are not supported; use flags")
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return fail("no host")
	}
	for _, h := range strings.Split(hosts, ",") {
		addr, err := hostPort(h)
		if err != nil {
			return fail("%v", err)
		}
		ep.Addrs = append(ep.Addrs, addr)
	}
	if !sentinel && len(ep.Addrs) > 1 {
		return fail("several hosts are only for redis+sentinel:// (a cluster needs just one of its nodes)")
	}
	parts := []string{}
	if path != "" {
		parts = strings.Split(path, "/")
	}
	if sentinel {
		if len(parts) == 0 || parts[0] == "" {
			return fail("no master name: redis+sentinel://host:port/mymaster")
		}
		m, err := url.PathUnescape(parts[0])
		if err != nil {
			return fail("bad escape in the master name")
		}
		ep.Master = m
		parts = parts[1:]
	}
	switch {
	case len(parts) == 0 || len(parts) == 1 && parts[0] == "":
	case len(parts) == 1:
		db, err := strconv.Atoi(parts[0])
		if err != nil || db < 0 {
			return fail("database %q is not a number", parts[0])
		}
		ep.DB, ep.DBSet = db, true
	default:
		return fail("unexpected path %q", path)
	}
	return ep, nil
}

func hostPort(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: the default.
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			return "", fmt.Errorf("bad host %q (IPv6 addresses go in brackets)", h)
		}
		host, port = strings.Trim(h, "[]"), "6379"
	}
	if host == "" {
		return "", fmt.Errorf("bad host %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// String returns the URL with the password replaced by "xxxxx".
func (e *Endpoint) String() string {
	var b strings.Builder
	switch {
	case e.Master != "" && e.TLS:
		b.WriteString("rediss+sentinel://")
	case e.Master != "":
		b.WriteString("redis+sentinel://")
	case e.TLS:
		b.WriteString("rediss://")
	default:
		b.WriteString("redis://")
	}
	if e.Username != "" || e.Password != "" {
		b.WriteString(url.PathEscape(e.Username))
		if e.Password != "" {
			b.WriteString(":xxxxx")
		}
		b.WriteByte('@')
	}
	b.WriteString(strings.Join(e.Addrs, ","))
	if e.Master != "" {
		b.WriteString("/" + url.PathEscape(e.Master))
	}
	if e.DBSet {
		fmt.Fprintf(&b, "/%d", e.DB)
	}
	return b.String()
}

// Redact masks the userinfo of every URL-like word in s: with "xxxxx"
// for the password of a URL (scheme://user:password@host keeps the
// user), and whole for a Redis URL with a misspelt scheme or too many
// slashes (redis:pw@host, redis//:pw@host, redis:///:pw@host), where
// the user and the password cannot be told apart. Use it on any text
// that may hold a URL before it is printed. A URL with a single userinfo
// part (redis://secret@host) is taken as redis-cli takes it: the part is
// a password.
func Redact(s string) string {
	var b strings.Builder
	done := 0            // s[:done] is in b
	end, lastAt := 0, -1 // the current word's end and its last "@" (-1: none)
	for i := 0; i < len(s); {
		if !isSchemeStart(s, i) {
			i++
			continue
		}
		j := i
		for j < len(s) && isSchemeChar(s[j]) {
			j++
		}
		k := schemeSep(s, j)
		if k == j {
			i = j
			continue
		}
		if k >= end {
			// A new word: each is scanned once, whatever it holds.
			end = len(s)
			if n := strings.IndexAny(s[k:], " \t\r\n\"'`<>"); n >= 0 {
				end = k + n
			}
			if lastAt = strings.LastIndexByte(s[k:end], '@'); lastAt >= 0 {
				lastAt += k
			}
		}
		if lastAt < k {
			i = k // no "@" left in the word
			continue
		}
		repl, n, ok := maskUserinfo(s[i:j], s[j:k], s[k:end], lastAt-k)
		if !ok {
			i = k
			continue
		}
		b.WriteString(s[done:k])
		b.WriteString(repl)
		done, i = k+n, k+n
	}
	b.WriteString(s[done:])
	return b.String()
}

// RedactURL masks s, one argument meant as a Redis URL: everything
// before its last "@" but a leading scheme and separator and, in a
// well-formed scheme://user:password@, the user. The argument may hold
// spaces, quotes or several "@", so it is not read word by word as
// Redact reads text.
func RedactURL(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	j, k := 0, 0
	if isSchemeStart(s, 0) {
		for j < len(s) && isSchemeChar(s[j]) {
			j++
		}
		if k = schemeSep(s, j); k > at {
			j, k = 0, 0
		}
	}
	userinfo := s[k:at]
	if s[j:k] == "://" && !strings.ContainsRune(userinfo, '/') {
		user, _, hasPass := strings.Cut(userinfo, ":")
		if !hasPass {
			user = ""
		}
		return s[:k] + user + ":xxxxx" + s[at:]
	}
	return s[:k] + "xxxxx" + s[at:]
}

// maskUserinfo masks the userinfo at the start of rest, the word after
// scheme and sep, whose last "@" is at lastAt: it returns the masked
// userinfo with its "@" and the length it replaces.
func maskUserinfo(scheme, sep, rest string, lastAt int) (string, int, bool) {
	redis := redisLike(scheme)
	if sep == "://" && !strings.HasPrefix(rest, "/") {
		authority, _, _ := strings.Cut(rest, "/")
		if at := strings.LastIndexByte(authority, '@'); at >= 0 && (!redis || at == lastAt) {
			user, _, hasPass := strings.Cut(authority[:at], ":")
			if !hasPass {
				user = ""
			}
			return user + ":xxxxx@", at + 1, true
		}
		if !redis {
			return "", 0, false
		}
	} else if !redis || !strings.Contains(sep, ":") && len(sep) < 2 {
		return "", 0, false
	}
	// A Redis URL's userinfo runs to the last "@" (ParseURL), whatever
	// the slashes before it.
	return "xxxxx@", lastAt + 1, true
}

// misspeltScheme tells whether s starts with what was meant as a Redis
// URL's scheme but is not followed by "://" (redis:host, redis//host,
// rediss:/host), and returns that start.
func misspeltScheme(s string) (string, bool) {
	if !isSchemeStart(s, 0) {
		return "", false
	}
	j := 0
	for j < len(s) && isSchemeChar(s[j]) {
		j++
	}
	k := schemeSep(s, j)
	sep := s[j:k]
	if !redisLike(s[:j]) || sep == "://" || !strings.Contains(sep, ":") && len(sep) < 2 {
		return "", false
	}
	return s[:k], true
}

// LooksLikeURL tells whether s was meant as a URL rather than a file
// name: it holds "://", or it starts with a misspelt Redis scheme
// (redis:host, redis//:pw@host). A file so named is still a file when
// the caller checks that it exists first.
func LooksLikeURL(s string) bool {
	_, misspelt := misspeltScheme(s)
	return strings.Contains(s, "://") || misspelt
}

// schemeSep returns the end of the separator after a scheme ending at
// s[j]: "://" when the authority follows (a well-formed URL), else the
// run of ":" and "/" (redis:, redis//:, redis:///).
func schemeSep(s string, j int) int {
	if strings.HasPrefix(s[j:], "://") && !strings.HasPrefix(s[j+3:], "/") {
		return j + 3
	}
	k := j
	for k < len(s) && (s[k] == ':' || s[k] == '/') {
		k++
	}
	return k
}

func isSchemeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isSchemeStart tells whether a scheme may start at s[i]: a letter not
// preceded by a scheme's character.
func isSchemeStart(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') && (i == 0 || !isSchemeChar(s[i-1]))
}

// redisLike tells whether scheme is redis, rediss, or either with one
// letter missing, added, changed or two swapped (reids, rdis, rediz),
// optionally followed by "+..." (redis+sentinel and its misspellings).
func redisLike(scheme string) bool {
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	return editDistance(base, "redis") <= 1 || editDistance(base, "rediss") <= 1
}

// editDistance is the optimal string alignment distance of a and b
// (Levenshtein plus transpositions of neighbours).
func editDistance(a, b string) int {
	if len(a) > len(b)+1 || len(b) > len(a)+1 {
		return 2 // at least; enough for redisLike
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
