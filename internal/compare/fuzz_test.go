package compare

import "testing"

// FuzzParseStreamID checks that stream IDs parse back from their text.
func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000000-5", "18446744073709551615-18446744073709551615", "12", "-", "1-", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseStreamID([]byte(s))
		if err != nil {
			return
		}
		again, err := parseStreamID([]byte(id.String()))
		if err != nil || again != id {
			t.Fatalf("%q -> %v -> %v, %v", s, id, again, err)
		}
	})
}
