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
		{"redis://secret@h:1", Endpoint{Addrs: []string{"h:1"}, Password: "secret"}, "redis://:xxxxx@h:1"},
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
		`"redis://u:pw@h:1" and redis://h:2/x@y (no user)`: `"redis://u:xxxxx@h:1" and redis://h:2/x@y (no user)`,
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
