package aof

import (
	"errors"
	"fmt"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// judgeDirect applies the script's commands themselves (not what Redis
// propagated for them) to a new Keyspace, and compares what Redis loads
// from it with the source that ran the script: for commands Redis
// rewrites before propagating (GEOADD becomes ZADD). Commands Redis
// refuses must be refused with ErrRejected.
func judgeDirect(t *testing.T, src *redistest.Server, script [][]any) {
	t.Helper()
	ks := NewKeyspace(KeyspaceOptions{})
	for _, args := range script {
		s := make([]string, len(args))
		for i, a := range args {
			s[i] = fmt.Sprint(a)
		}
		if err := apply(ks, 0, s...); err != nil && !errors.Is(err, ErrRejected) {
			t.Fatalf("%v: %v", args, err)
		}
	}
	dst := loaded(t, ks)
	if want, got := digest(t, src), digest(t, dst); want != got {
		t.Errorf("DEBUG DIGEST of the direct replay: got %s, want %s (%d keys)", got, want, ks.Len())
	} else {
		t.Logf("direct digest %s, %d keys", got, ks.Len())
	}
}

// judgeBoth runs the script on a new source, then judges both its AOF and
// the script applied directly.
func judgeBoth(t *testing.T, script [][]any) *Keyspace {
	t.Helper()
	src := aofSource(t)
	run(t, src, script)
	ks, _ := judge(t, src)
	judgeDirect(t, src, script)
	return ks
}

var geoScript = [][]any{
	{"GEOADD", "g", 13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"},
	{"GEOADD", "g", -180, -85.05112878, "sw", 180, 85.05112878, "ne", 0, 0, "null", -0.0000001, 0.0000001, "tiny"},
	{"GEOADD", "g", 180.0000001, 0, "bad"}, {"GEOADD", "g", 0, 85.05112879, "bad"}, {"GEOADD", "g", "x", 0, "bad"},
	{"GEOADD", "g", "NX", 1, 1, "Palermo", 2, 2, "nx"}, {"GEOADD", "g", "XX", 3, 3, "Catania", 4, 4, "xx"},
	{"GEOADD", "g", "CH", "XX", 5, 5, "nx"}, {"GEOADD", "g", "NX", "XX", 5, 5, "nx"}, {"GEOADD", "g", 1, 2},
	{"GEOADD", "g", "GT", 1, 2, "gt"}, {"GEOADD", "g", "CH", "NX"},
	{"GEOADD", "g2", "XX", 1, 1, "none"}, {"GEOADD", "g3", "1e1", "-2.5e1", "exp", "-122.27652", "37.805186", "oak"},
	{"GEOADD", "g3", 139.6917, 35.6895, "tokyo", -73.935242, 40.730610, "nyc", 151.2093, -33.8688, "syd"},
	{"SET", "str", "x"}, {"GEOADD", "str", 1, 1, "wrongtype"},
	{"ZADD", "g3", 5, "plain"}, {"GEOADD", "g3", 2, 2, "plain"}, {"ZREM", "g", "tiny"},
}

func TestKeyspaceGeo(t *testing.T) {
	judgeBoth(t, geoScript)
}

func TestKeyspaceGeoRefused(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{})
	for _, args := range [][]string{
		{"GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "10", "km"},
		{"GEORADIUS", "g", "0", "0", "10", "km", "STORE", "d"},
		{"GEORADIUSBYMEMBER", "g", "m", "10", "km", "STOREDIST", "d"},
	} {
		if err := apply(ks, 0, args...); !errors.Is(err, ErrUnsupportedCommand) {
			t.Errorf("%v: got %v, want ErrUnsupportedCommand", args, err)
		}
	}
}
