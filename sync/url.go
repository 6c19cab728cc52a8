package sync

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
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
}

// ErrBadURL is wrapped by every URL parsing error.
var ErrBadURL = errors.New("bad Redis URL")

// ParseURL parses a connection URL. Errors never contain the password.
func ParseURL(s string) (*Endpoint, error) {
	red := Redact(s)
	fail := func(format string, args ...any) (*Endpoint, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrBadURL, red, fmt.Sprintf(format, args...))
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
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
		return fail("unknown scheme %q (redis, rediss, redis+sentinel, rediss+sentinel)", scheme)
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		return fail("query strings and fragments are not supported; use flags")
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		userinfo := hosts[:at]
		hosts = hosts[at+1:]
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
			ep.Password, ep.Username = ep.Username, ""
		}
	}
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

var userinfoRE = regexp.MustCompile(`(?i)((?:rediss?|rediss?\+sentinel|s3|https?)://)([^/\s"']*)@`)

// Redact replaces the password of every URL in s with "xxxxx". Use it on
// any text that may hold a URL before it is printed. A URL with a single
// userinfo part (redis://secret@host) is taken as redis-cli takes it:
// the part is a password.
func Redact(s string) string {
	return userinfoRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfoRE.FindStringSubmatch(m)
		user, _, hasPass := strings.Cut(sub[2], ":")
		if !hasPass {
			user = ""
		}
		return sub[1] + user + ":xxxxx@"
	})
}
