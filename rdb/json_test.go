package rdb_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// canonKV renders a key and its whole value in a form where two keys are
// equal exactly when they hold the same data: scores by their bits,
// bytes quoted, stream metadata in full, module payloads byte for byte.
func canonKV(kv *rdb.KeyValue) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "db=%d key=%q type=%v exp=%d idle=%d freq=%d\n", kv.DB, kv.Key, kv.Type, kv.ExpireAt, kv.Idle, kv.Freq)
	if kv.Type == rdb.TypeModule {
		var p bytes.Buffer
		if err := kv.Dump(&p); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "dump=%x\n", p.Bytes())
		return b.String(), nil
	}
	err := kv.Elements(func(e *rdb.Element) error {
		switch kv.Type {
		case rdb.TypeZSet:
			if math.IsNaN(e.Score) {
				fmt.Fprintf(&b, "%q NaN\n", e.Member) // the payload is not kept
			} else {
				fmt.Fprintf(&b, "%q %016x\n", e.Member, math.Float64bits(e.Score))
			}
		case rdb.TypeHash:
			fmt.Fprintf(&b, "%q=%q exp=%d\n", e.Member, e.Value, e.ExpireAt)
		case rdb.TypeStream:
			fmt.Fprintf(&b, "%v %q\n", e.ID, e.Fields)
		case rdb.TypeArray:
			fmt.Fprintf(&b, "%d %q %v\n", e.Index, e.Member, e.Kind)
		default:
			fmt.Fprintf(&b, "%q\n", e.Member)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if kv.Type == rdb.TypeStream {
		if si := kv.Stream(); si != nil {
			c := *si
			c.IDMP = nil
			fmt.Fprintf(&b, "stream %+v\n", c)
			if si.IDMP != nil {
				fmt.Fprintf(&b, "idmp %+v\n", *si.IDMP)
			}
		} else {
			b.WriteString("stream metadata nil\n")
		}
	}
	if kv.Type == rdb.TypeArray && kv.Array != nil {
		if ai := kv.Array(); ai != nil {
			fmt.Fprintf(&b, "array %+v\n", *ai)
		}
	}
	return b.String(), nil
}

// rdbCanon reads a dump with rdb.Reader and renders every key, function
// library and AUX field, in order.
func rdbCanon(data []byte) ([]string, error) {
	var out []string
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch rec.Kind {
		case rdb.KindKey:
			s, err := canonKV(rd.KeyValue())
			if err != nil {
				return out, err
			}
			out = append(out, s)
		case rdb.KindFunction:
			out = append(out, fmt.Sprintf("function %q", rec.Data))
		case rdb.KindAux:
			out = append(out, fmt.Sprintf("aux %q=%q", rec.Name, rec.Data))
		case rdb.KindModuleAux:
			out = append(out, fmt.Sprintf("module-aux %v when=%d %q", rec.Module, rec.When, rec.Data))
		}
	}
}

// rdbToJSON converts a dump to JSON with JSONWriter.
func rdbToJSON(data []byte, opts rdb.JSONOptions) ([]byte, error) {
	var out bytes.Buffer
	jw := rdb.NewJSONWriter(&out, opts)
	rd := rdb.NewReader(bytes.NewReader(data))
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch rec.Kind {
		case rdb.KindKey:
			err = jw.WriteKey(rd.KeyValue())
		case rdb.KindFunction:
			err = jw.WriteFunction(rec.Data)
		case rdb.KindAux:
			err = jw.WriteAux(rec.Name, rec.Data)
		case rdb.KindModuleAux:
			err = jw.WriteModuleAux(rec.Module, rec.When, rec.Data)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := jw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// jsonCanon reads a JSON dump with JSONReader and renders it as rdbCanon does.
func jsonCanon(data []byte) ([]string, error) {
	var out []string
	jr := rdb.NewJSONReader(bytes.NewReader(data))
	for {
		rec, err := jr.NextRecord()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch rec.Kind {
		case rdb.KindKey:
			s, err := canonKV(rec.Key)
			if err != nil {
				return out, err
			}
			out = append(out, s)
		case rdb.KindFunction:
			out = append(out, fmt.Sprintf("function %q", rec.Data))
		case rdb.KindAux:
			out = append(out, fmt.Sprintf("aux %q=%q", rec.Name, rec.Data))
		case rdb.KindModuleAux:
			out = append(out, fmt.Sprintf("module-aux %v when=%d %q", rec.Module, rec.When, rec.Data))
		}
	}
}

// checkJSONSyntax checks the output with encoding/json: every line (JSON
// Lines) or the whole (array) must be valid JSON.
func checkJSONSyntax(t *testing.T, out []byte, array bool) {
	t.Helper()
	if array {
		if !json.Valid(out) {
			t.Fatalf("output is not valid JSON: %s", clip(string(out)))
		}
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<30)
	for n := 1; sc.Scan(); n++ {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("line %d is not valid JSON: %s", n, clip(sc.Text()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// checkJSONRoundTrip converts data to JSON in both modes and reads it
// back: everything must equal what rdb.Reader reads from data.
func checkJSONRoundTrip(t *testing.T, data []byte) []byte {
	t.Helper()
	want, err := rdbCanon(data)
	if err != nil {
		t.Fatalf("read dump: %v", err)
	}
	var lines []byte
	for _, array := range []bool{false, true} {
		out, err := rdbToJSON(data, rdb.JSONOptions{Array: array})
		if err != nil {
			t.Fatalf("array=%v: write json: %v", array, err)
		}
		if !array {
			lines = out
		}
		checkJSONSyntax(t, out, array)
		got, err := jsonCanon(out)
		if err != nil {
			t.Fatalf("array=%v: read json: %v", array, err)
		}
		if len(got) != len(want) {
			t.Errorf("array=%v: %d records, want %d", array, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("array=%v: record %d:\n got %s\nwant %s", array, i, clip(got[i]), clip(want[i]))
			}
		}
	}
	return lines
}

func TestJSONRoundTripCorpus(t *testing.T) {
	for _, p := range corpusFiles(t) {
		name := rel(p)
		if _, bad := badFiles[name]; bad {
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			checkJSONRoundTrip(t, data)
		})
	}
}

// TestJSONRoundTripRedis round-trips a dump written by a real
// redis-server holding every type and encoding, binary keys and values,
// and streams with consumer groups and pending entries.
func TestJSONRoundTripRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	if err := redistest.FillMixed(t.Context(), srv.Client(), 1); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	out := checkJSONRoundTrip(t, data)
	// The dump must have exercised what this test is for.
	for _, want := range []string{`{"base64":"`, `"pending":[{"id":`, `"consumers":[{"name":`, `"expire_at_ms":`, `"type":"stream"`, `"score":`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("JSON of the mixed dump has no %s", want)
		}
	}
}

// sliceKV is a KeyValue over elements held in memory.
func sliceKV(key string, typ rdb.Type, elems []rdb.Element, si *rdb.StreamInfo) *rdb.KeyValue {
	return &rdb.KeyValue{
		Key: []byte(key), Type: typ, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error {
			for i := range elems {
				if err := fn(&elems[i]); err != nil {
					return err
				}
			}
			return nil
		},
		Stream: func() *rdb.StreamInfo { return si },
	}
}

// redisCRC64 is Redis's crc64 (Jones polynomial, reflected, no inversion).
func redisCRC64(p []byte) uint64 {
	var crc uint64
	for _, c := range p {
		crc ^= uint64(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x95ac9329ac4bc9b5
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func moduleDump(id uint64, body string) []byte {
	p := []byte{7, 0x81}
	for i := 7; i >= 0; i-- {
		p = append(p, byte(id>>(8*i)))
	}
	p = append(p, body...)
	p = append(p, 10, 0) // RDB version
	crc := redisCRC64(p)
	for i := range 8 {
		p = append(p, byte(crc>>(8*i)))
	}
	return p
}

// TestJSONEdgeCases writes keys that stress the format and reads them back.
func TestJSONEdgeCases(t *testing.T) {
	if got := redisCRC64([]byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("test crc64 is %#x", got)
	}
	big := bytes.Repeat([]byte("ab\"\\\n\x00é"), 20000)
	bigBin := bytes.Repeat([]byte{0xff, 0xfe, 'x'}, 40001)
	str := func(key string, v []byte) *rdb.KeyValue {
		return sliceKV(key, rdb.TypeString, []rdb.Element{{Member: v, ExpireAt: rdb.NoExpiry}}, nil)
	}
	expiring := str("expiring", []byte("v"))
	expiring.ExpireAt, expiring.Idle, expiring.Freq = 1767107423123, 42, 7
	negZero := math.Copysign(0, -1)
	si := &rdb.StreamInfo{
		Length: 2, LastID: rdb.StreamID{Ms: 5, Seq: 1}, FirstID: rdb.StreamID{Ms: 1, Seq: 0},
		MaxDeletedID: rdb.StreamID{Ms: 3, Seq: 0}, EntriesAdded: 4,
		Groups: []rdb.StreamGroup{
			{Name: "g\xff", LastID: rdb.StreamID{Ms: 5, Seq: 1}, EntriesRead: 4,
				Pending:   []rdb.PendingEntry{{ID: rdb.StreamID{Ms: 1}, DeliveryTime: 1700000000000, DeliveryCount: 3, Consumer: "c\"1"}},
				Consumers: []rdb.StreamConsumer{{Name: "c\"1", SeenTime: 1700000000001, ActiveTime: -1}}},
			{Name: "old", EntriesRead: -1},
		},
	}
	mod := moduleDump(0x1234567890abcdef, "opaque\x00bytes")
	modKV := &rdb.KeyValue{Key: []byte("mod"), Type: rdb.TypeModule, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Dump: func(w io.Writer) error { _, err := w.Write(mod); return err }}
	keys := []*rdb.KeyValue{
		str("plain", []byte("hello")),
		str("", nil),
		str("esc\"\\\t\x01\x7f\u2028", []byte("caf\xc3\xa9 \xf0\x9f\x98\x80")),
		str("bin\xff", []byte{0, 0x80, 0xff}),
		str("big", big),
		str("bigbin", bigBin),
		expiring,
		sliceKV("list", rdb.TypeList, []rdb.Element{{Member: []byte("a")}, {Member: []byte("")}, {Member: []byte{0xc0}}}, nil),
		sliceKV("set", rdb.TypeSet, nil, nil),
		sliceKV("zset", rdb.TypeZSet, []rdb.Element{
			{Member: []byte("inf"), Score: math.Inf(1)}, {Member: []byte("-inf"), Score: math.Inf(-1)},
			{Member: []byte("-0"), Score: negZero}, {Member: []byte("0"), Score: 0},
			{Member: []byte("min"), Score: math.SmallestNonzeroFloat64}, {Member: []byte("max"), Score: -math.MaxFloat64},
			{Member: []byte("tenth"), Score: 0.1}, {Member: []byte("big"), Score: 1e21}, {Member: []byte{0xff}, Score: 1.0 / 3},
		}, nil),
		sliceKV("hash", rdb.TypeHash, []rdb.Element{
			{Member: []byte("f1"), Value: []byte("v1"), ExpireAt: 1767107423000},
			{Member: []byte("f2"), Value: []byte{}, ExpireAt: rdb.NoExpiry},
			{Member: []byte{0xfe}, Value: []byte{0xfd}, ExpireAt: rdb.NoExpiry},
		}, nil),
		sliceKV("stream", rdb.TypeStream, []rdb.Element{
			{ID: rdb.StreamID{Ms: 1}, Fields: [][]byte{[]byte("a"), []byte("1"), []byte("a"), []byte("2")}},
			{ID: rdb.StreamID{Ms: 5, Seq: 1}, Fields: [][]byte{[]byte{0xff}, []byte("")}},
		}, si),
		modKV,
	}
	for _, array := range []bool{false, true} {
		t.Run(fmt.Sprintf("array=%v", array), func(t *testing.T) {
			var want []string
			var out bytes.Buffer
			jw := rdb.NewJSONWriter(&out, rdb.JSONOptions{Array: array})
			if err := jw.WriteAux([]byte("redis-ver"), []byte("7.0.15")); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("aux %q=%q", "redis-ver", "7.0.15"))
			if err := jw.WriteFunction([]byte("#!lua name=lib\nreturn 1")); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("function %q", "#!lua name=lib\nreturn 1"))
			for _, kv := range keys {
				if err := jw.WriteKey(kv); err != nil {
					t.Fatalf("key %q: %v", kv.Key, err)
				}
				s, err := canonKV(kv)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, s)
			}
			if err := jw.Close(); err != nil {
				t.Fatal(err)
			}
			checkJSONSyntax(t, out.Bytes(), array)
			got, err := jsonCanon(out.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("record %d:\n got %s\nwant %s", i, clip(got[i]), clip(want[i]))
				}
			}
			for _, s := range []string{`"score":"inf"`, `"score":"-inf"`, `"score":-0}`, `"score":1e+21}`,
				`"module":"EjRWeJCrz"`, `"key":{"base64":"Ymlu/w=="`, `"expire_at_ms":1767107423123,"expiration":"2025-12-30T15:10:23.123Z","lru":42,"lfu":7`} {
				if !bytes.Contains(out.Bytes(), []byte(s)) {
					t.Errorf("output lacks %s", s)
				}
			}
		})
	}
}

func TestJSONGolden(t *testing.T) {
	var out bytes.Buffer
	jw := rdb.NewJSONWriter(&out, rdb.JSONOptions{})
	kv := sliceKV("z", rdb.TypeZSet, []rdb.Element{{Member: []byte("a"), Score: 1.5}}, nil)
	kv.ExpireAt = 1000
	if err := jw.WriteKey(kv); err != nil {
		t.Fatal(err)
	}
	if err := jw.WriteKey(sliceKV("h", rdb.TypeHash, []rdb.Element{{Member: []byte("f"), Value: []byte("v"), ExpireAt: 5}}, nil)); err != nil {
		t.Fatal(err)
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"db":0,"key":"z","type":"zset","expire_at_ms":1000,"expiration":"1970-01-01T00:00:01.000Z","entries":[{"member":"a","score":1.5}]}
{"db":0,"key":"h","type":"hash","fields":[{"field":"f","value":"v","expire_at_ms":5}]}
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// TestJSONReaderForms reads the same keys laid out in different ways.
func TestJSONReaderForms(t *testing.T) {
	const a = `{"db":1,"key":"k","type":"list","values":["x",{"base64":"/w=="}]}`
	const b = `{"type":"set","members":[],"key":"s"}`
	want := []string{
		"db=1 key=\"k\" type=list exp=-1 idle=-1 freq=-1\n\"x\"\n\"\\xff\"\n",
		"db=0 key=\"s\" type=set exp=-1 idle=-1 freq=-1\n",
	}
	for _, in := range []string{
		a + "\n" + b + "\n",
		a + b,
		"\n\n  " + a + "\r\n\t" + b,
		"[" + a + "," + b + "]",
		" [\n " + a + " ,\n" + b + "\n]\n\n",
		strings.ReplaceAll(a, ",", " , ") + "\n" + strings.ReplaceAll(b, ":", " :\n "),
	} {
		got, err := jsonCanon([]byte(in))
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q:\n got %q\nwant %q", in, got, want)
		}
	}
	for _, in := range []string{"", "  \n", "[]", " [ ] \n"} {
		if got, err := jsonCanon([]byte(in)); err != nil || len(got) != 0 {
			t.Errorf("%q: got %q, %v; want nothing", in, got, err)
		}
	}
}

// TestJSONReaderHDT reads hdt3213's own JSON for the types whose shape we
// share (strings, lists, sets, sorted sets) and checks it against the dump.
func TestJSONReaderHDT(t *testing.T) {
	for _, name := range []string{"regular_sorted_set", "linkedlist", "regular_set", "keys_with_expiry", "integer_keys"} {
		js, err := os.ReadFile(corpusDir + "/hdt3213-rdb/" + name + ".json")
		if err != nil {
			t.Skip("corpus absent")
		}
		data, err := os.ReadFile(corpusDir + "/hdt3213-rdb/" + name + ".rdb")
		if err != nil {
			t.Fatal(err)
		}
		want, err := rdbCanon(data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jsonCanon(js)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// hdt3213 lists members and scores in its own order: compare as multisets of lines.
		if g, w := sortedLines(got), sortedLines(want); g != w {
			t.Errorf("%s:\n got %s\nwant %s", name, clip(g), clip(w))
		}
	}
}

func sortedLines(recs []string) string {
	var lines []string
	for _, r := range recs {
		if strings.HasPrefix(r, "aux ") {
			continue
		}
		lines = append(lines, strings.Split(r, "\n")...)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestJSONReaderErrors checks that bad input fails with a *JSONError
// naming the line and the key.
func TestJSONReaderErrors(t *testing.T) {
	tests := []struct {
		in      string
		line    int
		key     string
		wantErr error
	}{
		{`{"key":"a","type":"string","value":"x"}` + "\n" + `{"key":"b","type":"zset","entries":[{"member":"m","score":"x"}]}`, 2, "b", rdb.ErrJSON},
		{`{"key":"a","type":"string","value":"x"`, 1, "a", io.ErrUnexpectedEOF},
		{`{"key":"a","type":"nope","value":"x"}`, 1, "a", rdb.ErrJSON},
		{`{"key":"a","type":"string","values":["x"]}`, 1, "a", rdb.ErrJSON},
		{`{"key":"a","type":"string"}`, 1, "a", rdb.ErrJSON},
		{`{"key":{"base64":"!!"},"type":"string","value":"x"}`, 1, "", rdb.ErrJSON},
		{`{"key":"a","type":"zset","entries":[{"member":"m","score":1e999}]}`, 1, "a", rdb.ErrJSON},
		{`{"key":"a","type":"stream","entries":[{"id":"1-x"}]}`, 1, "a", rdb.ErrJSON},
		{`{"key":"a","type":"stream","entries":[{"id":"1-1","fields":[["a"]]}]}`, 1, "a", rdb.ErrJSON},
		{`{"key":"a","type":"module","dump":"AAAAAAAAAAAAAAAB"}`, 1, "a", rdb.ErrChecksum},
		{"[{\"key\":\"a\",\"type\":\"set\",\"members\":[]}\n{}]", 2, "", rdb.ErrJSON},
		{"[{\"key\":\"a\",\"type\":\"set\",\"members\":[]}]x", 1, "", rdb.ErrJSON},
		{`{"key":"a","type":"list","values":["x` + "\x01" + `"]}`, 1, "a", rdb.ErrJSON},
		{`{"key":"a","type":"list","values":["\q"]}`, 1, "a", rdb.ErrJSON},
		{`{"key":"a","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 1, "a", rdb.ErrJSON},
	}
	for _, tt := range tests {
		jr := rdb.NewJSONReader(strings.NewReader(tt.in))
		var err error
		for err == nil {
			_, err = jr.Next()
		}
		var je *rdb.JSONError
		if !errors.As(err, &je) {
			t.Errorf("%q: got %v, want a *JSONError", tt.in, err)
			continue
		}
		if !errors.Is(err, tt.wantErr) || je.Line != tt.line || string(je.Key) != tt.key {
			t.Errorf("%q: got %v (line %d, key %q), want %v at line %d key %q", tt.in, err, je.Line, je.Key, tt.wantErr, tt.line, tt.key)
		}
		if _, again := jr.Next(); again != err {
			t.Errorf("%q: error is not sticky: %v", tt.in, again)
		}
	}
}

// TestJSONTruncated cuts a JSON dump at many points: every cut inside an
// object must fail, never panic or succeed.
func TestJSONTruncated(t *testing.T) {
	data, err := os.ReadFile(corpusDir + "/hdt3213-rdb/stream_listpacks_1.rdb")
	if err != nil {
		t.Skip("corpus absent")
	}
	for _, array := range []bool{false, true} {
		out, err := rdbToJSON(data, rdb.JSONOptions{Array: array})
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(out); n += 7 {
			cut := out[:n]
			_, err := jsonCanon(cut)
			// A cut at the end of a line (before or after its newline)
			// leaves whole objects.
			complete := len(bytes.TrimSpace(cut)) == 0 || !array && (bytes.HasSuffix(cut, []byte("}\n")) || out[n] == '\n')
			if complete {
				continue
			}
			if err == nil {
				t.Errorf("array=%v: cut at %d of %d: no error", array, n, len(out))
			}
		}
	}
}

// errWriter fails after n bytes.
type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestJSONWriterErrors(t *testing.T) {
	jw := rdb.NewJSONWriter(&errWriter{n: 10}, rdb.JSONOptions{})
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = jw.WriteKey(sliceKV(fmt.Sprint("key", i), rdb.TypeString, []rdb.Element{{Member: []byte("value")}}, nil))
	}
	if err == nil {
		err = jw.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v, want the write error", err)
	}
	if again := jw.Close(); again == nil {
		t.Fatal("error is not sticky")
	}
	// A callback error stops the key.
	boom := errors.New("boom")
	jw = rdb.NewJSONWriter(io.Discard, rdb.JSONOptions{})
	kv := sliceKV("k", rdb.TypeList, nil, nil)
	kv.Elements = func(func(*rdb.Element) error) error { return boom }
	if err := jw.WriteKey(kv); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	jw = rdb.NewJSONWriter(io.Discard, rdb.JSONOptions{})
	if err := jw.WriteKey(&rdb.KeyValue{Key: []byte("a"), Type: rdb.Type(99)}); !errors.Is(err, rdb.ErrUnsupportedType) {
		t.Fatalf("got %v, want ErrUnsupportedType", err)
	}
}

// BenchmarkJSONWriter converts BenchmarkReader's mixed dump to JSON Lines.
func BenchmarkJSONWriter(b *testing.B) {
	data := benchDump(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		jw := rdb.NewJSONWriter(io.Discard, rdb.JSONOptions{})
		err := eachKey(data, func(rd *rdb.Reader, _ *rdb.Record) error { return jw.WriteKey(rd.KeyValue()) })
		if err == nil {
			err = jw.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONReader reads that dump's JSON Lines back, walking every key.
func BenchmarkJSONReader(b *testing.B) {
	out, err := rdbToJSON(benchDump(b), rdb.JSONOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	nop := func(*rdb.Element) error { return nil }
	for b.Loop() {
		jr := rdb.NewJSONReader(bytes.NewReader(out))
		for {
			kv, err := jr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := kv.Elements(nop); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestJSONEveryByte puts every byte value at every position of a 17-byte
// string: the output must be valid JSON and read back the same bytes.
func TestJSONEveryByte(t *testing.T) {
	var out bytes.Buffer
	jw := rdb.NewJSONWriter(&out, rdb.JSONOptions{})
	var want []string
	for c := range 256 {
		for pos := range 17 {
			v := bytes.Repeat([]byte{'a'}, 17)
			v[pos] = byte(c)
			kv := sliceKV("k", rdb.TypeString, []rdb.Element{{Member: v}}, nil)
			if err := jw.WriteKey(kv); err != nil {
				t.Fatal(err)
			}
			s, _ := canonKV(kv)
			want = append(want, s)
		}
	}
	if err := jw.Close(); err != nil {
		t.Fatal(err)
	}
	checkJSONSyntax(t, out.Bytes(), false)
	got, err := jsonCanon(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("strings did not round-trip")
	}
	var doc struct{ Value string }
	for i, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if c := i / 17; c < 0x80 {
			if err := json.Unmarshal(line, &doc); err != nil || len(doc.Value) != 17 || doc.Value[i%17] != byte(c) {
				t.Fatalf("byte %#x: encoding/json reads %q (%v)", c, doc.Value, err)
			}
		}
	}
}
