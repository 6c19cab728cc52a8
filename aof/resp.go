package aof

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// Sentinel errors. Parse errors wrap one of them, or io.ErrUnexpectedEOF
// for truncated input, in a *ParseError.
var (
	// ErrProtocol means the bytes are not valid RESP (or, in an AOF, not
	// a command, a SELECT with a bad database, or a bad #TS annotation).
	ErrProtocol = errors.New("protocol error")
	// ErrMulti means a MULTI inside a transaction or an EXEC outside one,
	// which redis-check-aof reports as an unexpected MULTI or EXEC.
	ErrMulti = errors.New("unbalanced MULTI/EXEC")
	// ErrManifest means a multi-part AOF manifest Redis would refuse.
	ErrManifest = errors.New("invalid AOF manifest")
)

// ParseError reports where reading failed. Truncated input wraps
// io.ErrUnexpectedEOF; malformed input wraps ErrProtocol, ErrMulti or
// ErrManifest; errors of an RDB part wrap the *rdb.ParseError; I/O errors
// of the underlying reader are wrapped as they come.
type ParseError struct {
	File   string // base name of the file, when known
	Offset int64  // offset in File of the byte where the problem was found
	Err    error
}

func (e *ParseError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s: offset %d: %v", e.File, e.Offset, e.Err)
	}
	return fmt.Sprintf("offset %d: %v", e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

func protocolf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// Kind is the type of a RESP value: its prefix byte.
type Kind byte

// RESP2 and RESP3 value kinds.
const (
	SimpleString Kind = '+'
	Error        Kind = '-'
	Integer      Kind = ':'
	BulkString   Kind = '$'
	Array        Kind = '*'
	Null         Kind = '_' // RESP3
	Boolean      Kind = '#' // RESP3
	Double       Kind = ',' // RESP3
	BigNumber    Kind = '(' // RESP3
	BulkError    Kind = '!' // RESP3
	Verbatim     Kind = '=' // RESP3
	Map          Kind = '%' // RESP3
	Set          Kind = '~' // RESP3
	Attribute    Kind = '|' // RESP3; only in Value.Attrs
	Push         Kind = '>' // RESP3
)

// Value is one RESP value as ReadValue returns it. Its slices are its
// own: they stay valid after later reads.
type Value struct {
	Kind Kind
	// Null is set for Null, and for the RESP2 null bulk string ($-1) and
	// null array (*-1), which keep their Kind.
	Null bool
	// Str is the text of SimpleString, Error, BulkString, BulkError,
	// BigNumber (its decimal digits) and Verbatim (without the format).
	Str []byte
	// Format is the three-letter format of a Verbatim string ("txt").
	Format string
	Int    int64   // Integer
	Float  float64 // Double
	Bool   bool    // Boolean
	// Elems holds the elements of Array, Set and Push, and the keys and
	// values of Map, alternating: key, value, key, value.
	Elems []Value
	// Attrs holds the keys and values (alternating) of a RESP3 attribute
	// that preceded the value, or nil.
	Attrs []Value
}

const (
	readerBufSize = 64 << 10 // also the longest line accepted
	bulkChunk     = 64 << 10 // bulk strings grow by at most this much per read
	maxDepth      = 64       // nesting limit of aggregates in ReadValue
	keepBufCap    = 16 << 20 // ReadCommand drops a larger buffer when it starts
	maxPrealloc   = 1024     // elements of an aggregate allocated before they arrive
	arenaMax      = 1 << 10  // bulk strings inside an aggregate up to this share blocks
	arenaBlock    = 16 << 10 // the size of those blocks
)

// RESPReader reads RESP2 and RESP3 values from a stream (see ReadValue)
// and, on its fast path, commands: arrays of bulk strings, the form of
// AOF files and of the replication stream (see ReadCommand). It buffers
// its input. Inline commands (a line of words, as typed by telnet) are not
// accepted: they never occur in AOF files.
//
// Errors are sticky: after one, every read returns it again.
type RESPReader struct {
	br    *bufio.Reader
	pos   int64 // bytes consumed from br, plus the starting offset
	off   int64 // end of the last complete value
	start int64 // start of the last complete value
	err   error

	buf   []byte   // backing store of the arguments of the last command
	spans []int    // start offset in buf of each argument, then len(buf)
	args  [][]byte // the last command
	crlf  [2]byte

	arena    []byte // ReadValue's block of short strings for the value being read
	skipBuf  []byte // the text of the last BulkError SkipValue read
	arrayLen int64  // the length ReadArrayStart read
}

// NewRESPReader returns a RESPReader reading from r.
func NewRESPReader(r io.Reader) *RESPReader {
	return &RESPReader{br: bufio.NewReaderSize(r, readerBufSize)}
}

// Offset is the number of bytes consumed by complete values: the offset
// where the next value starts. After an error it still is the end of the
// last complete value, where a truncated stream can be cut to be valid.
func (r *RESPReader) Offset() int64 { return r.off }

// Buffered is the number of bytes read from the input and not consumed.
func (r *RESPReader) Buffered() int { return r.br.Buffered() }

// ValueOffset is the offset of the first byte of the value or command
// returned last.
func (r *RESPReader) ValueOffset() int64 { return r.start }

// fail makes err sticky, wrapping it in a *ParseError at offset at
// unless it is one already. A clean io.EOF at a value boundary stays
// io.EOF.
func (r *RESPReader) fail(at int64, err error) error {
	var pe *ParseError
	if err != io.EOF && !errors.As(err, &pe) {
		err = &ParseError{Offset: at, Err: err}
	}
	r.err = err
	return err
}

// readLine returns the next line without its CRLF. The line points into
// the bufio buffer: valid until the next read. At a value boundary
// (first), a clean end of input is io.EOF.
func (r *RESPReader) readLine(first bool) ([]byte, error) {
	at := r.pos
	line, err := r.br.ReadSlice('\n')
	r.pos += int64(len(line))
	switch {
	case err == io.EOF && len(line) == 0 && first:
		return nil, io.EOF
	case err == io.EOF:
		return nil, &ParseError{Offset: r.pos, Err: io.ErrUnexpectedEOF}
	case err == bufio.ErrBufferFull:
		return nil, &ParseError{Offset: at, Err: protocolf("line longer than %d bytes", readerBufSize)}
	case err != nil:
		return nil, &ParseError{Offset: r.pos, Err: err}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, &ParseError{Offset: r.pos - 1, Err: protocolf("line not terminated by CRLF")}
	}
	return line[:len(line)-2], nil
}

// parseInt parses a strict decimal integer as Redis's string2ll does: an
// optional minus sign and digits, no plus sign, spaces or leading zeros,
// no overflow. (Redis's AOF loader uses the laxer atoi and strtol, but
// Redis never writes such numbers.)
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 || b[0] == '0' && (len(b) > 1 || neg) {
		return 0, false // leading zeros and -0 are not canonical
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// header parses the length of a "*<n>" or "$<n>" line; -1 means null.
func (r *RESPReader) header(line []byte, at int64) (int64, error) {
	n, ok := parseInt(line[1:])
	if !ok || n < -1 {
		return 0, &ParseError{Offset: at, Err: protocolf("invalid length %q", clip(line))}
	}
	return n, nil
}

// appendBulk reads a bulk string body of n bytes and its CRLF, appending
// the body to dst. It grows dst only as the bytes arrive, so a declared
// length costs no more memory than the input holds.
func (r *RESPReader) appendBulk(dst []byte, n int64) ([]byte, error) {
	for n > 0 {
		c := int(min(n, bulkChunk))
		dst = slices.Grow(dst, c)
		got, err := io.ReadFull(r.br, dst[len(dst):len(dst)+c])
		r.pos += int64(got)
		dst = dst[:len(dst)+got]
		n -= int64(got)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, &ParseError{Offset: r.pos, Err: err}
		}
	}
	crlf := r.crlf[:]
	got, err := io.ReadFull(r.br, crlf)
	r.pos += int64(got)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return dst, &ParseError{Offset: r.pos, Err: err}
	}
	if crlf[0] != '\r' || crlf[1] != '\n' {
		return dst, &ParseError{Offset: r.pos - 2, Err: protocolf("bulk string not terminated by CRLF")}
	}
	return dst, nil
}

// ReadCommand reads one command: an array of one or more bulk strings.
// The arguments point into a buffer the reader reuses: they are valid
// until the next call. It returns io.EOF when the input ends cleanly
// between commands. Anything else than an array of bulk strings is
// ErrProtocol; inline commands, empty and null arrays and null bulk
// strings included.
func (r *RESPReader) ReadCommand() ([][]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	start := r.pos
	line, err := r.readLine(true)
	if err != nil {
		return nil, r.fail(start, err)
	}
	args, err := r.command(line, start)
	if err != nil {
		return nil, r.fail(start, err)
	}
	r.start, r.off = start, r.pos
	return args, nil
}

// command reads the rest of a command whose first line is line.
func (r *RESPReader) command(line []byte, at int64) ([][]byte, error) {
	if len(line) == 0 || line[0] != '*' {
		if len(line) > 0 && (line[0] >= 'a' && line[0] <= 'z' || line[0] >= 'A' && line[0] <= 'Z') {
			return nil, &ParseError{Offset: at, Err: protocolf("inline command %q: only RESP arrays are read", clip(line))}
		}
		return nil, &ParseError{Offset: at, Err: protocolf("expected a command array, got %q", clip(line))}
	}
	argc, err := r.header(line, at)
	if err != nil {
		return nil, err
	}
	if argc < 1 {
		return nil, &ParseError{Offset: at, Err: protocolf("command of %d arguments", argc)}
	}
	if cap(r.buf) > keepBufCap {
		r.buf = nil
	}
	r.buf, r.spans = r.buf[:0], r.spans[:0]
	// Every argument takes at least 6 bytes, so appending as they come
	// keeps memory proportional to the input, whatever argc says.
	for range argc {
		hat := r.pos
		line, err := r.readLine(false)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 || line[0] != '$' {
			return nil, &ParseError{Offset: hat, Err: protocolf("expected a bulk string, got %q", clip(line))}
		}
		n, err := r.header(line, hat)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, &ParseError{Offset: hat, Err: protocolf("null bulk string in a command")}
		}
		r.spans = append(r.spans, len(r.buf))
		if r.buf, err = r.appendBulk(r.buf, n); err != nil {
			return nil, err
		}
	}
	r.spans = append(r.spans, len(r.buf))
	r.args = r.args[:0]
	for i := range len(r.spans) - 1 {
		a, b := r.spans[i], r.spans[i+1]
		r.args = append(r.args, r.buf[a:b:b])
	}
	return r.args, nil
}

// ReadValue reads one RESP2 or RESP3 value of any kind. A RESP3 attribute
// is read together with the value it precedes, into Value.Attrs. The
// value owns its memory. It returns io.EOF when the input ends cleanly
// between values. Aggregates may nest 64 deep.
func (r *RESPReader) ReadValue() (Value, error) {
	if r.err != nil {
		return Value{}, r.err
	}
	start := r.pos
	r.arena = nil // each value's short strings share blocks of their own
	v, err := r.value(0, true)
	if err != nil {
		return Value{}, r.fail(start, err)
	}
	r.start, r.off = start, r.pos
	return v, nil
}

func (r *RESPReader) value(depth int, first bool) (Value, error) {
	if depth > maxDepth {
		return Value{}, &ParseError{Offset: r.pos, Err: protocolf("values nested more than %d deep", maxDepth)}
	}
	at := r.pos
	line, err := r.readLine(first)
	if err != nil {
		return Value{}, err
	}
	if len(line) == 0 {
		return Value{}, &ParseError{Offset: at, Err: protocolf("empty line")}
	}
	v := Value{Kind: Kind(line[0])}
	body := line[1:]
	bad := func(what string) error {
		return &ParseError{Offset: at, Err: protocolf("invalid %s %q", what, clip(line))}
	}
	switch v.Kind {
	case SimpleString, Error:
		v.Str = bytes.Clone(body)
		if v.Str == nil {
			v.Str = []byte{}
		}
	case Integer:
		n, ok := parseInt(body)
		if !ok {
			return v, bad("integer")
		}
		v.Int = n
	case Null:
		if len(body) != 0 {
			return v, bad("null")
		}
		v.Null = true
	case Boolean:
		switch string(body) {
		case "t":
			v.Bool = true
		case "f":
		default:
			return v, bad("boolean")
		}
	case Double:
		f, err := parseDouble(body)
		if err != nil {
			return v, bad("double")
		}
		v.Float = f
	case BigNumber:
		d := body
		if len(d) > 0 && (d[0] == '-' || d[0] == '+') {
			d = d[1:]
		}
		if len(d) == 0 || bytes.IndexFunc(d, func(c rune) bool { return c < '0' || c > '9' }) >= 0 {
			return v, bad("big number")
		}
		v.Str = bytes.Clone(body)
	case BulkString, BulkError, Verbatim:
		n, err := r.header(line, at)
		if err != nil {
			return v, err
		}
		if n < 0 {
			if v.Kind != BulkString {
				return v, bad("length")
			}
			v.Null = true
			return v, nil
		}
		if depth > 0 && n <= arenaMax {
			v.Str, err = r.arenaBulk(n)
		} else {
			v.Str, err = r.appendBulk([]byte{}, n)
		}
		if err != nil {
			return v, err
		}
		if v.Kind == Verbatim {
			if len(v.Str) < 4 || v.Str[3] != ':' {
				return v, &ParseError{Offset: at, Err: protocolf("verbatim string without a format")}
			}
			v.Format, v.Str = string(v.Str[:3]), v.Str[4:]
		}
	case Array, Set, Push, Map, Attribute:
		n, err := r.header(line, at)
		if err != nil {
			return v, err
		}
		if n < 0 {
			if v.Kind != Array {
				return v, bad("length")
			}
			v.Null = true
			return v, nil
		}
		if v.Kind == Map || v.Kind == Attribute {
			if n > math.MaxInt64/2 {
				return v, bad("length")
			}
			n *= 2
		}
		// Sized for the elements announced, up to a bound: a length is
		// only a claim until its elements arrive.
		v.Elems = make([]Value, 0, min(n, maxPrealloc))
		for range n {
			e, err := r.value(depth+1, false)
			if err != nil {
				return v, err
			}
			v.Elems = append(v.Elems, e)
		}
		if v.Kind == Attribute {
			// The attribute annotates the value that follows it.
			next, err := r.value(depth, false)
			if err != nil {
				return v, err
			}
			next.Attrs = append(v.Elems, next.Attrs...)
			return next, nil
		}
	default:
		if c := line[0]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return v, &ParseError{Offset: at, Err: protocolf("inline command %q: only RESP values are read", clip(line))}
		}
		return v, &ParseError{Offset: at, Err: protocolf("unknown type byte %q", line[0])}
	}
	return v, nil
}

// arenaBulk reads a bulk string body of n (at most arenaMax) bytes and
// its CRLF into the value's block of short strings, so that an array of
// a thousand fields costs a few allocations, not a thousand. The slice's
// capacity ends with it: appending to one string never writes into the
// next.
func (r *RESPReader) arenaBulk(n int64) ([]byte, error) {
	if int64(cap(r.arena)-len(r.arena)) < n {
		r.arena = make([]byte, 0, arenaBlock)
	}
	at := len(r.arena)
	b, err := r.appendBulk(r.arena, n)
	if err != nil {
		return nil, err
	}
	r.arena = b
	return b[at:len(b):len(b)], nil
}

// SkipValue reads one value of any kind, as ReadValue does, and drops
// it without allocating: what a writer does with the replies it only
// checks for errors. It returns the value's kind and, for an Error or a
// BulkError, its text, valid until the next read (nil for other kinds).
// An aggregate's elements are read and dropped; a RESP3 attribute is
// dropped with the value it precedes, whose kind is returned. Only the
// framing is checked: lengths, CRLFs and nesting, not the text of
// integers, doubles or booleans.
func (r *RESPReader) SkipValue() (Kind, []byte, error) {
	if r.err != nil {
		return 0, nil, r.err
	}
	start := r.pos
	k, text, err := r.skip(0, true, false)
	if err != nil {
		return 0, nil, r.fail(start, err)
	}
	r.start, r.off = start, r.pos
	return k, text, nil
}

// ReadArrayStart reads the first line of a value. For an Array it
// returns its length and leaves the elements to the next reads (each
// then a value of its own for Offset); a null array is length -1. Any
// other value is read whole, as SkipValue does, with length 0. It reads
// an EXEC's reply element by element without building it.
func (r *RESPReader) ReadArrayStart() (int64, Kind, []byte, error) {
	if r.err != nil {
		return 0, 0, nil, r.err
	}
	start := r.pos
	k, text, err := r.skip(0, true, true)
	if err != nil {
		return 0, 0, nil, r.fail(start, err)
	}
	if k == Array {
		return r.arrayLen, k, nil, nil
	}
	r.start, r.off = start, r.pos
	return 0, k, text, nil
}

// skip reads one value and drops it; see SkipValue. With header, an
// Array's elements are left unread and its length is left in arrayLen.
func (r *RESPReader) skip(depth int, first, header bool) (Kind, []byte, error) {
	if depth > maxDepth {
		return 0, nil, &ParseError{Offset: r.pos, Err: protocolf("values nested more than %d deep", maxDepth)}
	}
	at := r.pos
	line, err := r.readLine(first)
	if err != nil {
		return 0, nil, err
	}
	if len(line) == 0 {
		return 0, nil, &ParseError{Offset: at, Err: protocolf("empty line")}
	}
	k := Kind(line[0])
	switch k {
	case Error:
		return k, line[1:], nil
	case SimpleString, Integer, Null, Boolean, Double, BigNumber:
		return k, nil, nil
	case BulkString, BulkError, Verbatim:
		n, err := r.header(line, at)
		if err != nil {
			return k, nil, err
		}
		if n < 0 {
			if k != BulkString {
				return k, nil, &ParseError{Offset: at, Err: protocolf("invalid length %q", clip(line))}
			}
			return k, nil, nil
		}
		if k == BulkError {
			// The text of an error is kept; it is short.
			r.skipBuf, err = r.appendBulk(r.skipBuf[:0], n)
			return k, r.skipBuf, err
		}
		for n > 0 {
			d, err := r.br.Discard(int(min(n, bulkChunk)))
			r.pos += int64(d)
			n -= int64(d)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return k, nil, &ParseError{Offset: r.pos, Err: err}
			}
		}
		_, err = r.appendBulk(nil, 0) // the CRLF
		return k, nil, err
	case Array, Set, Push, Map, Attribute:
		n, err := r.header(line, at)
		if err != nil {
			return k, nil, err
		}
		if n < 0 {
			if k != Array {
				return k, nil, &ParseError{Offset: at, Err: protocolf("invalid length %q", clip(line))}
			}
			if header {
				r.arrayLen = -1
			}
			return k, nil, nil
		}
		if header && k == Array {
			r.arrayLen = n
			return k, nil, nil
		}
		if k == Map || k == Attribute {
			if n > math.MaxInt64/2 {
				return k, nil, &ParseError{Offset: at, Err: protocolf("invalid length %q", clip(line))}
			}
			n *= 2
		}
		for range n {
			if _, _, err := r.skip(depth+1, false, false); err != nil {
				return k, nil, err
			}
		}
		if k == Attribute {
			return r.skip(depth, false, header)
		}
		return k, nil, nil
	}
	if c := line[0]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return k, nil, &ParseError{Offset: at, Err: protocolf("inline command %q: only RESP values are read", clip(line))}
	}
	return k, nil, &ParseError{Offset: at, Err: protocolf("unknown type byte %q", line[0])}
}

// parseDouble parses a RESP3 double: a decimal or exponent form, "inf",
// "-inf" or "nan".
func parseDouble(b []byte) (float64, error) {
	switch string(b) {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan", "-nan":
		return math.NaN(), nil
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+') {
			return 0, ErrProtocol
		}
	}
	return strconv.ParseFloat(string(b), 64)
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
