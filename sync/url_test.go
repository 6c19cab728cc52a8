package sync

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
		str  string
	}{
		{"redis://127.0.0.1:6380", Endpoint{Addrs: []string{"127.0.0.1:6380"}}, "redis://127.0.0.1:6380"},
		{"redis://localhost", Endpoint{Addrs: []string{"localhost:6379"}}, "redis://localhost:6379"},
		{"redis://u:p%40ss@h:1/3", Endpoint{Addrs: []string{"h:1"}, Username: "u", Password: "p@ss", DB: 3, DBSet: true}, "redis://u:xxxxx@h:1/3"},
		{"redis://:secret@h:1", Endpoint{Addrs: []string{"h:1"}, Password: "secret"}, "redis://:xxxxx@h:1"},
		{"redis://secret@h:1", Endpoint{Addrs: []string{"h:1"}, Password: "secret", BareUserinfo: true}, "redis://:xxxxx@h:1"},
		{"redis://u:p/a?s#s@h:1", Endpoint{Addrs: []string{"h:1"}, Username: "u", Password: "p/a?s#s"}, "redis://u:xxxxx@h:1"},
		{"redis://u:a@b@h:1", Endpoint{Addrs: []string{"h:1"}, Username: "u", Password: "a@b"}, "redis://u:xxxxx@h:1"},
		{"rediss://[::1]:7000/0", Endpoint{TLS: true, Addrs: []string{"[::1]:7000"}, DBSet: true}, "rediss://[::1]:7000/0"},
		{"redis+sentinel://:pw@s1:26379,s2:26380/mymaster/2", Endpoint{Addrs: []string{"s1:26379", "s2:26380"}, Password: "pw", Master: "mymaster", DB: 2, DBSet: true},
			"redis+sentinel://:xxxxx@s1:26379,s2:26380/mymaster/2"},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.in, *got, tc.want)
		}
		if s := got.String(); s != tc.str {
			t.Errorf("%s: String() = %s, want %s", tc.in, s, tc.str)
		}
	}
	for _, bad := range []string{
		"127.0.0.1:6379", "http://h:1", "redis://", "redis://u:topsecret@h:99999", "redis://u:topsecret@h:1/x",
		"redis://h:1,h:2", "redis+sentinel://u:topsecret@h:1", "redis://u:topsecret@h:1?db=1", "redis://u:topsecret@::1/0",
		"redis//:topsecret@h", "redis:topsecret@h", "redis:///:topsecret@h", "redis:/u:topsecret@h", "reids://u:topsecret@h",
		"u:topsecret@h:1", "redis://u:top secret\"x@h:99999",
	} {
		_, err := ParseURL(bad)
		if err == nil || !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: got %v, want ErrBadURL", bad, err)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%s: the error shows the password: %v", bad, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"dial redis://u:pw@h:1/0: refused":                 "dial redis://u:xxxxx@h:1/0: refused",
		"from redis://pw@h:1 to rediss://:p2@h:2":          "from redis://:xxxxx@h:1 to rediss://:xxxxx@h:2",
		"s3://AKIA:SECRET@bucket/prefix":                   "s3://AKIA:xxxxx@bucket/prefix",
		"REDIS+SENTINEL://u:a@b@s:1/m":                     "REDIS+SENTINEL://u:xxxxx@s:1/m",
		"no url here, user@example.com":                    "no url here, user@example.com",
		`"redis://u:pw@h:1" and s3://h/x@latest (no user)`: `"redis://u:xxxxx@h:1" and s3://h/x@latest (no user)`,
		// A Redis URL's userinfo runs to the last "@", slashes included.
		"redis://u:p/w@h:1 ok":              "redis://xxxxx@h:1 ok",
		"s3://:SECRET@bucket/x":             "s3://:xxxxx@bucket/x",
		"file:///tmp/x@latest, /redis/a@b":  "file:///tmp/x@latest, /redis/a@b",
		"redkit: restore: nobody@localhost": "redkit: restore: nobody@localhost",
		// Misspelt schemes and too many slashes: the userinfo goes whole.
		`bad Redis URL "redis//:PW@h": x`:    `bad Redis URL "redis//:xxxxx@h": x`,
		"from=redis:PW@h to=x":               "from=redis:xxxxx@h to=x",
		`{"from":"Redis:///:PW@h"}`:          `{"from":"Redis:///:xxxxx@h"}`,
		"rediss:/u:PW@h":                     "rediss:/xxxxx@h",
		"reids://u:PW@h redsi+sentinel:PW@h": "reids://u:xxxxx@h redsi+sentinel:xxxxx@h",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://u:pw@h:1":      "redis://u:xxxxx@h:1",
		"redis://u:p w\"x@h:1":  "redis://u:xxxxx@h:1",
		"u:pw@h:1":              "u:xxxxx@h:1",
		":p w@h":                "xxxxx@h",
		"redis:p w@h":           "redis:xxxxx@h",
		"redis://h:1":           "redis://h:1",
		"s3://bucket/x@latest":  "s3://xxxxx@latest",
		"u:p@redis://h":         "u:xxxxx@redis://h",
		"x:@y@z":                "x:xxxxx@z",
		"@":                     "xxxxx@",
		"127.0.0.1:6379":        "127.0.0.1:6379",
		"redis:///u:p@a@h:1/0":  "redis:///xxxxx@h:1/0",
		"REDIS+SENTINEL:pw@h/m": "REDIS+SENTINEL:xxxxx@h/m",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseURLMistakes(t *testing.T) {
	for in, want := range map[string]string{
		"redis//:pw@h":   `"redis//:" is not a scheme`,
		"redis:pw@h":     `"redis:" is not a scheme`,
		"rediss:/h:1":    `"rediss:/" is not a scheme`,
		"redis:///:pw@h": "too many slashes after the scheme",
		"reddis://h:1":   `unknown scheme "reddis"`,
		"127.0.0.1:6379": "want redis://host:port",
		"redis/dump.rdb": "want redis://host:port",
	} {
		_, err := ParseURL(in)
		if err == nil || !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want ErrBadURL and %q", in, err, want)
		}
		if strings.Contains(err.Error(), "pw") {
			t.Errorf("ParseURL(%q): the error shows the password: %v", in, err)
		}
	}
}

func TestLooksLikeURL(t *testing.T) {
	for in, want := range map[string]bool{
		"redis://h": true, "s3://b/p": true, "redis//:pw@h": true, "redis:pw@h": true, "Rediss:/h": true,
		"redis:///:pw@h": true, "redsi+sentinel:h/m": true,
		"dump.rdb": false, "redis/dump.rdb": false, "./redis:pw@h": false, "/data/redis//x": false, "redkit:x": false, "-": false,
	} {
		if got := LooksLikeURL(in); got != want {
			t.Errorf("LooksLikeURL(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestSetPassword(t *testing.T) {
	tests := []struct {
		in, pw       string
		user, wantPW string
		had          bool
	}{
		// A bare userinfo is a password, as redis-cli takes it, unless a
		// password comes from elsewhere: then it is the user name.
		{"redis://alice@h", "", "", "alice", false},
		{"redis://alice@h", "pw", "alice", "pw", false},
		{"redis://alice:old@h", "pw", "alice", "pw", true},
		{"redis://:old@h", "pw", "", "pw", true},
		{"redis://h", "pw", "", "pw", false},
	}
	for _, tc := range tests {
		ep, err := ParseURL(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := ep.HasPassword(); got != tc.had {
			t.Errorf("%s: HasPassword() = %v, want %v", tc.in, got, tc.had)
		}
		if tc.pw != "" {
			ep.SetPassword(tc.pw)
		}
		if ep.Username != tc.user || ep.Password != tc.wantPW {
			t.Errorf("%s with %q: user %q password %q, want %q %q", tc.in, tc.pw, ep.Username, ep.Password, tc.user, tc.wantPW)
		}
	}
}

// FuzzParseURL checks that ParseURL, Redact and RedactURL never panic,
// and that a password placed after a ":" and before an "@" never shows
// in ParseURL's error or in RedactURL, whatever surrounds it.
func FuzzParseURL(f *testing.F) {
	for _, seed := range [][2]string{
		{"redis://u", "h:1/0"}, {"redis:/", "h"}, {"redis/", "h"}, {"redis", "h"}, {"redis:///", "h"},
		{"reids://", "h"}, {"", "redis://h"}, {"redis+sentinel://", "s1:26379,s2/m/1"}, {"rediss://u", "[::1]:1/x"},
		{"://", "h"}, {"redis://h/x", "y"}, {"s3://b", "p"}, {"a b\"c", "d e"},
	} {
		f.Add(seed[0], seed[1])
	}
	const pw = "Zq9xSecretPw"
	f.Fuzz(func(t *testing.T, head, tail string) {
		ParseURL(head + tail)
		Redact(head + tail)
		RedactURL(head + tail)
		if strings.Contains(head+tail, "Zq9x") {
			return
		}
		u := head + ":" + pw + "@" + tail
		if _, err := ParseURL(u); err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("ParseURL(%q): the error shows the password: %v", u, err)
		}
		if got := RedactURL(u); strings.Contains(got, pw) {
			t.Errorf("RedactURL(%q) = %q", u, got)
		}
	})
}
