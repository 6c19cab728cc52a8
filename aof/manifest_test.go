package aof

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Manifest
	}{
		{
			name: "redis 7",
			in: "file appendonly.aof.2.base.rdb seq 2 type b\n" +
				"file appendonly.aof.1.incr.aof seq 1 type h\n" +
				"file appendonly.aof.2.incr.aof seq 2 type i\n" +
				"file appendonly.aof.3.incr.aof seq 3 type i\n",
			want: &Manifest{
				Base:    &ManifestFile{"appendonly.aof.2.base.rdb", 2, TypeBase},
				History: []ManifestFile{{"appendonly.aof.1.incr.aof", 1, TypeHistory}},
				Incrs:   []ManifestFile{{"appendonly.aof.2.incr.aof", 2, TypeIncr}, {"appendonly.aof.3.incr.aof", 3, TypeIncr}},
			},
		},
		{
			name: "quoted, comments, any key order and case, unknown keys",
			in: "# written by hand\n" +
				"TYPE b Seq 1 File \"my aof\\x21.rdb\" future x\r\n" +
				"file 'it\\'s.aof' seq 5 type i\n",
			want: &Manifest{
				Base:  &ManifestFile{"my aof!.rdb", 1, TypeBase},
				Incrs: []ManifestFile{{"it's.aof", 5, TypeIncr}},
			},
		},
		{
			name: "only incr files, comment without newline at the end",
			in:   "file a.aof seq 1 type i\n#end",
			want: &Manifest{Incrs: []ManifestFile{{"a.aof", 1, TypeIncr}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseManifest(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseManifestErrors(t *testing.T) {
	const ok = "file a seq 1 type b\n"
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"blank line", ok + "\n"},
		{"no final newline", "file a seq 1 type b"},
		{"too long", "file " + strings.Repeat("a", 1100) + " seq 1 type b\n"},
		{"too few words", "file a seq 1\n"},
		{"odd words", "file a seq 1 type b x\n"},
		{"missing type", "file a seq 1 kind b\n"},
		{"seq 0", "file a seq 0 type b\n"},
		{"seq not a number", "file a seq 1x type b\n"},
		{"unknown type", "file a seq 1 type x\n"},
		{"long type", "file a seq 1 type base\n"},
		{"two bases", ok + "file b seq 2 type b\n"},
		{"incr seq not increasing", "file a seq 2 type i\nfile b seq 2 type i\n"},
		{"path", "file ../a seq 1 type b\n"},
		{"absolute path", "file /etc/passwd seq 1 type b\n"},
		{"backslash", "file a\\\\b seq 1 type b\n"},
		{"dot dot", "file .. seq 1 type b\n"},
		{"quoted path", "file \"x\\x2fy\" seq 1 type b\n"},
		{"empty name", "file \"\" seq 1 type b\n"},
		{"unbalanced quote", "file \"a seq 1 type b\n"},
		{"quote not followed by space", "file \"a\"b seq 1 type b\n"},
		{"NUL", "file a\x00 seq 1 type b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest(strings.NewReader(tt.in))
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("got %v, want ErrManifest", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a *ParseError", err)
			}
		})
	}
}

func TestManifestWriteTo(t *testing.T) {
	m := &Manifest{
		Base:    &ManifestFile{"appendonly.aof.3.base.rdb", 3, TypeBase},
		History: []ManifestFile{{"old \"one\"\n\x01.aof", 2, TypeHistory}},
		Incrs:   []ManifestFile{{"appendonly.aof.3.incr.aof", 3, TypeIncr}},
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	want := "file appendonly.aof.3.base.rdb seq 3 type b\n" +
		"file \"old \\\"one\\\"\\n\\x01.aof\" seq 2 type h\n" +
		"file appendonly.aof.3.incr.aof seq 3 type i\n"
	if got := buf.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	got, err := ParseManifest(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("round trip: got %+v, want %+v", got, m)
	}
}

func TestCorpusManifests(t *testing.T) {
	needCorpus(t)
	var paths []string
	for _, p := range []string{"*/appendonlydir/*.manifest", "*/*/appendonlydir/*.manifest", "*/*/*/appendonlydir/*.manifest"} {
		m, _ := filepath.Glob(filepath.Join(corpusDir, p))
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no manifest in the corpus")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseManifest(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		// Redis wrote these: writing them back gives the same bytes.
		var buf bytes.Buffer
		m.WriteTo(&buf)
		if got := buf.String(); got != string(b) {
			t.Errorf("%s: rewritten as %q, want %q", p, got, b)
		}
	}
}

func TestIsMultiPart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "appendonly.aof")
	if err := os.WriteFile(file, []byte("*1\r\n$4\r\nPING\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{dir, true}, {file, false}, {filepath.Join(dir, "appendonly.aof.manifest"), true},
		{filepath.Join(dir, "missing.aof"), false}, {"-", false},
	} {
		if got := IsMultiPart(tc.path); got != tc.want {
			t.Errorf("IsMultiPart(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
