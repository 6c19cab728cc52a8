package aof

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestReadValue(t *testing.T) {
	tests := []struct {
		in   string
		want Value
	}{
		{"+OK\r\n", Value{Kind: SimpleString, Str: []byte("OK")}},
		{"+\r\n", Value{Kind: SimpleString, Str: []byte{}}},
		{"-ERR bad\r\n", Value{Kind: Error, Str: []byte("ERR bad")}},
		{":-42\r\n", Value{Kind: Integer, Int: -42}},
		{"$5\r\na\r\nbc\r\n", Value{Kind: BulkString, Str: []byte("a\r\nbc")}},
		{"$0\r\n\r\n", Value{Kind: BulkString, Str: []byte{}}},
		{"$-1\r\n", Value{Kind: BulkString, Null: true}},
		{"*-1\r\n", Value{Kind: Array, Null: true}},
		{"*0\r\n", Value{Kind: Array, Elems: []Value{}}},
		{"*2\r\n:1\r\n$1\r\nx\r\n", Value{Kind: Array, Elems: []Value{{Kind: Integer, Int: 1}, {Kind: BulkString, Str: []byte("x")}}}},
		{"_\r\n", Value{Kind: Null, Null: true}},
		{"#t\r\n", Value{Kind: Boolean, Bool: true}},
		{"#f\r\n", Value{Kind: Boolean}},
		{",3.25\r\n", Value{Kind: Double, Float: 3.25}},
		{",1e3\r\n", Value{Kind: Double, Float: 1000}},
		{",-inf\r\n", Value{Kind: Double, Float: math.Inf(-1)}},
		{"(-3492890328409238509324850943850943825024385\r\n", Value{Kind: BigNumber, Str: []byte("-3492890328409238509324850943850943825024385")}},
		{"!8\r\nSYNTAX x\r\n", Value{Kind: BulkError, Str: []byte("SYNTAX x")}},
		{"=8\r\ntxt:abcd\r\n", Value{Kind: Verbatim, Format: "txt", Str: []byte("abcd")}},
		{"%1\r\n+k\r\n:1\r\n", Value{Kind: Map, Elems: []Value{{Kind: SimpleString, Str: []byte("k")}, {Kind: Integer, Int: 1}}}},
		{"~1\r\n#t\r\n", Value{Kind: Set, Elems: []Value{{Kind: Boolean, Bool: true}}}},
		{">2\r\n+message\r\n+hi\r\n", Value{Kind: Push, Elems: []Value{{Kind: SimpleString, Str: []byte("message")}, {Kind: SimpleString, Str: []byte("hi")}}}},
		{"|1\r\n+ttl\r\n:3600\r\n+v\r\n", Value{Kind: SimpleString, Str: []byte("v"), Attrs: []Value{{Kind: SimpleString, Str: []byte("ttl")}, {Kind: Integer, Int: 3600}}}},
		// An attribute on an element is not counted as an element.
		{"*1\r\n|1\r\n+a\r\n:1\r\n:7\r\n", Value{Kind: Array, Elems: []Value{{Kind: Integer, Int: 7, Attrs: []Value{{Kind: SimpleString, Str: []byte("a")}, {Kind: Integer, Int: 1}}}}}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.in, "\r\n", " "), func(t *testing.T) {
			r := NewRESPReader(strings.NewReader(tt.in))
			got, err := r.ReadValue()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got, want := r.Offset(), int64(len(tt.in)); got != want {
				t.Errorf("Offset = %d, want %d", got, want)
			}
			if _, err := r.ReadValue(); err != io.EOF {
				t.Errorf("after the value: %v, want io.EOF", err)
			}
		})
	}
}

// TestSkipValue reads a stream of replies with SkipValue and
// ReadArrayStart, as a writer checking an EXEC's reply does.
func TestSkipValue(t *testing.T) {
	in := "+OK\r\n-ERR bad\r\n$5\r\na\r\nbc\r\n!8\r\nSYNTAX x\r\n" +
		"*3\r\n+OK\r\n-WRONGTYPE no\r\n*2\r\n$1\r\nx\r\n:2\r\n" + // an EXEC reply, element by element
		"*-1\r\n|1\r\n+ttl\r\n:1\r\n:7\r\n%1\r\n+k\r\n~1\r\n#t\r\n"
	r := NewRESPReader(strings.NewReader(in))
	type got struct {
		kind Kind
		text string
		n    int64
	}
	var all []got
	skip := func() {
		k, text, err := r.SkipValue()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got{k, string(text), 0})
	}
	skip()
	skip()
	skip()
	skip()
	n, k, _, err := r.ReadArrayStart()
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, got{k, "", n})
	for range n {
		skip()
	}
	n, k, _, err = r.ReadArrayStart()
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, got{k, "", n})
	n, k, text, err := r.ReadArrayStart() // not an array: read whole
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, got{k, string(text), n})
	skip()
	want := []got{{SimpleString, "", 0}, {Error, "ERR bad", 0}, {BulkString, "", 0}, {BulkError, "SYNTAX x", 0},
		{Array, "", 3}, {SimpleString, "", 0}, {Error, "WRONGTYPE no", 0}, {Array, "", 0},
		{Array, "", -1}, {Integer, "", 0}, {Map, "", 0}}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("got  %v\nwant %v", all, want)
	}
	if r.Offset() != int64(len(in)) {
		t.Errorf("Offset %d, want %d", r.Offset(), len(in))
	}
	if _, _, err := r.SkipValue(); err != io.EOF {
		t.Errorf("after the values: %v, want io.EOF", err)
	}
	// No allocation per value: a thousand copies cost what one does (the
	// reader, its buffer, the end of input).
	many := strings.Repeat(in, 1000)
	allocs := testing.AllocsPerRun(10, func() {
		r := NewRESPReader(strings.NewReader(many))
		for {
			if _, _, err := r.SkipValue(); err != nil {
				break
			}
		}
	})
	if allocs > 8 {
		t.Errorf("%v allocations for 11,000 values", allocs)
	}
}

func TestSkipValueErrors(t *testing.T) {
	for _, in := range []string{"+OK", "$3\r\nab", "$3\r\nabcd\r\n", "$-2\r\n", "*2\r\n:1\r\n", "%-1\r\n", "?\r\n", "PING\r\n", "\r\n",
		strings.Repeat("*1\r\n", 100) + ":1\r\n", "*1152921504606846976\r\n:1\r\n", "!3\r\nab"} {
		r := NewRESPReader(strings.NewReader(in))
		_, _, err := r.SkipValue()
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: got %v, want a *ParseError", in, err)
		}
		if _, _, err2 := r.SkipValue(); err2 != err {
			t.Errorf("%q: error not sticky: then %v", in, err2)
		}
	}
}

// TestReadValueShortStrings: the short strings of an aggregate share
// blocks, yet each is its own: appending to one leaves its neighbours
// alone, and they stay valid after later reads.
func TestReadValueShortStrings(t *testing.T) {
	var in strings.Builder
	in.WriteString("*1000\r\n")
	for i := range 1000 {
		fmt.Fprintf(&in, "$%d\r\n%s\r\n", len(fmt.Sprint(i)), fmt.Sprint(i))
	}
	in.WriteString("*1\r\n$3\r\nnew\r\n")
	r := NewRESPReader(strings.NewReader(in.String()))
	v, err := r.ReadValue()
	if err != nil {
		t.Fatal(err)
	}
	_ = append(v.Elems[0].Str, "clobber"...)
	if _, err := r.ReadValue(); err != nil {
		t.Fatal(err)
	}
	for i, e := range v.Elems {
		if string(e.Str) != fmt.Sprint(i) {
			t.Fatalf("element %d = %q", i, e.Str)
		}
	}
	one := in.String()
	allocs := testing.AllocsPerRun(20, func() {
		r := NewRESPReader(strings.NewReader(one))
		r.ReadValue()
	})
	if allocs > 20 { // the reader, a few blocks and the elements' array; was over a thousand
		t.Errorf("%v allocations for an array of 1000 short strings", allocs)
	}
}

func TestReadValueNaN(t *testing.T) {
	v, err := NewRESPReader(strings.NewReader(",nan\r\n")).ReadValue()
	if err != nil || v.Kind != Double || !math.IsNaN(v.Float) {
		t.Fatalf("got %+v, %v", v, err)
	}
}

func TestReadValueErrors(t *testing.T) {
	tests := []struct {
		in        string
		want      error
		wantOff   int64
		truncated bool
	}{
		{"+OK", io.ErrUnexpectedEOF, 3, true},
		{"+OK\n", ErrProtocol, 3, false},
		{":12a\r\n", ErrProtocol, 0, false},
		{":99999999999999999999\r\n", ErrProtocol, 0, false},
		{"$3\r\nab", io.ErrUnexpectedEOF, 6, true},
		{"$3\r\nabcd\r\n", ErrProtocol, 7, false},
		{"$-2\r\n", ErrProtocol, 0, false},
		{"*2\r\n:1\r\n", io.ErrUnexpectedEOF, 8, true},
		{"#x\r\n", ErrProtocol, 0, false},
		{",1.2.3\r\n", ErrProtocol, 0, false},
		{",0x10\r\n", ErrProtocol, 0, false},
		{"(12a\r\n", ErrProtocol, 0, false},
		{"=3\r\ntxt\r\n", ErrProtocol, 0, false},
		{"_x\r\n", ErrProtocol, 0, false},
		{"%-1\r\n", ErrProtocol, 0, false},
		{"?\r\n", ErrProtocol, 0, false},
		{"PING\r\n", ErrProtocol, 0, false},
		{"\r\n", ErrProtocol, 0, false},
		{strings.Repeat("*1\r\n", 100) + ":1\r\n", ErrProtocol, 4 * 65, false},
		{"$1152921504606846976\r\nabc", io.ErrUnexpectedEOF, 25, true},
		{"*1152921504606846976\r\n:1\r\n", io.ErrUnexpectedEOF, 26, true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.in[:min(len(tt.in), 30)], "\r\n", " "), func(t *testing.T) {
			r := NewRESPReader(strings.NewReader(tt.in))
			_, err := r.ReadValue()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset != tt.wantOff {
				t.Errorf("got %#v, want a *ParseError at offset %d", err, tt.wantOff)
			}
			if _, err2 := r.ReadValue(); err2 != err {
				t.Errorf("error not sticky: then %v", err2)
			}
			if r.Offset() != 0 {
				t.Errorf("Offset after a failed first value = %d, want 0", r.Offset())
			}
		})
	}
}

func TestReadCommand(t *testing.T) {
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n"
	r := NewRESPReader(strings.NewReader(in))
	var got []string
	var offs []int64
	for {
		args, err := r.ReadCommand()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%q", args))
		offs = append(offs, r.ValueOffset())
	}
	want := []string{`["SET" "k" ""]`, `["PING"]`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if want := []int64{0, 26}; !reflect.DeepEqual(offs, want) {
		t.Errorf("offsets %v, want %v", offs, want)
	}
}

func TestReadCommandErrors(t *testing.T) {
	good := "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
	tests := []struct {
		in   string
		want error
	}{
		{"*0\r\n", ErrProtocol},
		{"*-1\r\n", ErrProtocol},
		{"*1\r\n$-1\r\n", ErrProtocol},
		{"*1\r\n:1\r\n", ErrProtocol},
		{"+OK\r\n", ErrProtocol},
		{"SET k v\r\n", ErrProtocol},
		{"*1\r\n$4\r\nPING", io.ErrUnexpectedEOF},
		{"*1\r\n$4\r\nPINGxx", ErrProtocol},
		{"*2\r\n$4\r\nPING\r\n", io.ErrUnexpectedEOF},
		{"*1\r\n$1152921504606846976\r\nPING\r\n", io.ErrUnexpectedEOF},
		{"*1152921504606846976\r\n$1\r\nx\r\n", io.ErrUnexpectedEOF},
		{"*1\r\n$+1\r\nx\r\n", ErrProtocol},
		{"*1\r\n$ 1\r\nx\r\n", ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.in, "\r\n", " "), func(t *testing.T) {
			r := NewRESPReader(strings.NewReader(good + tt.in))
			if _, err := r.ReadCommand(); err != nil {
				t.Fatal(err)
			}
			_, err := r.ReadCommand()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// The good command stays the valid prefix.
			if got, want := r.Offset(), int64(len(good)); got != want {
				t.Errorf("Offset = %d, want %d", got, want)
			}
		})
	}
}

// TestReadCommandLarge reads a bulk string larger than the buffers, and
// checks that buffers are reused for small commands.
func TestReadCommandLarge(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	var in bytes.Buffer
	w := NewWriter(&in)
	w.WriteCommand([]byte("SET"), []byte("big"), big)
	for range 100 {
		w.WriteCommand([]byte("INCR"), []byte("n"))
	}
	w.Flush()
	r := NewRESPReader(&in)
	args, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(args[2], big) {
		t.Fatalf("big argument differs (%d bytes)", len(args[2]))
	}
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := r.ReadCommand(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per small command, want 0", allocs)
	}
}

func BenchmarkReadCommand(b *testing.B) {
	var in bytes.Buffer
	w := NewWriter(&in)
	for i := range 10_000 {
		w.WriteCommand([]byte("SET"), fmt.Appendf(nil, "key:%d", i), bytes.Repeat([]byte("v"), 100))
	}
	w.Flush()
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewRESPReader(bytes.NewReader(data))
		for {
			if _, err := r.ReadCommand(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
