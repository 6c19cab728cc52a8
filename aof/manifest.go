package aof

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// FileType is the type of a file listed in a manifest.
type FileType byte

// File types of a multi-part AOF manifest (aof.h AOF_FILE_TYPE_*).
const (
	TypeBase    FileType = 'b' // the base: an RDB or an AOF, loaded first
	TypeHistory FileType = 'h' // a former base or incr file, waiting to be deleted; never loaded
	TypeIncr    FileType = 'i' // an incremental AOF, loaded after the base in manifest order
)

// ManifestFile is one line of a manifest.
type ManifestFile struct {
	Name string // file name inside the manifest's directory
	Seq  int64  // sequence number, 1 or more
	Type FileType
}

// Manifest lists the files of a Redis 7 multi-part AOF.
type Manifest struct {
	Base    *ManifestFile  // nil when there is none
	Incrs   []ManifestFile // in load order, Seq increasing
	History []ManifestFile
}

// maxManifestLine is Redis's MANIFEST_MAX_LINE.
const maxManifestLine = 1024

// ParseManifest parses a manifest as Redis 7's aofLoadManifestFromFile
// does, and refuses what it refuses: an empty file, a line of more than
// 1024 bytes or without its final newline, a blank line, a line with
// fewer than six words or an odd number of them, a missing or empty file
// name, seq or type, an unknown type, a second base, an incr whose seq is
// not above the previous incr's. Words are split and unquoted as
// sdssplitargs does; keys are case-insensitive and unknown keys are
// ignored. Lines starting with '#' are comments.
//
// It is stricter than Redis where Redis would go on with a file it cannot
// use: a seq must be a positive decimal number (Redis's atoll takes
// "12abc" as 12), a type one letter, and a name must be a plain file name:
// no '/', '\\' or NUL, not empty, "." or "..".
//
// Errors are *ParseError values wrapping ErrManifest, with the offset of
// the offending line.
func ParseManifest(r io.Reader) (*Manifest, error) {
	br := bufio.NewReaderSize(r, 4096)
	m := &Manifest{}
	var (
		off, lineStart int64
		lineNum        int
		maxIncr        int64
		buf            []byte
	)
	fail := func(format string, args ...any) error {
		return &ParseError{Offset: lineStart, Err: fmt.Errorf("%w: line %d: "+format, append([]any{ErrManifest, lineNum}, args...)...)}
	}
	for {
		// Read as fgets(buf, 1025) does: up to a newline or 1024 bytes.
		lineStart = off
		buf = buf[:0]
		var err error
		for len(buf) < maxManifestLine {
			var c byte
			if c, err = br.ReadByte(); err != nil {
				break
			}
			buf = append(buf, c)
			if c == '\n' {
				break
			}
		}
		off += int64(len(buf))
		if err != nil && err != io.EOF {
			return nil, &ParseError{Offset: off, Err: err}
		}
		if len(buf) == 0 {
			if lineNum == 0 {
				return nil, fail("empty manifest")
			}
			return m, nil
		}
		lineNum++
		if buf[0] == '#' {
			continue
		}
		// Redis's line ends at the first NUL (it is a C string).
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			buf = buf[:i]
		}
		if bytes.IndexByte(buf, '\n') < 0 {
			return nil, fail("line too long or not terminated")
		}
		line := bytes.Trim(buf, " \t\r\n")
		if len(line) == 0 {
			return nil, fail("blank line")
		}
		words, ok := splitArgs(line)
		if !ok || len(words) < 6 || len(words)%2 != 0 {
			return nil, fail("want key value pairs (file, seq, type)")
		}
		var f ManifestFile
		for i := 0; i < len(words); i += 2 {
			k, v := words[i], words[i+1]
			switch {
			case strings.EqualFold(k, "file"):
				if err := checkName(v); err != nil {
					return nil, fail("%v", err)
				}
				f.Name = v
			case strings.EqualFold(k, "seq"):
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1 || v[0] == '+' {
					return nil, fail("invalid seq %q", v)
				}
				f.Seq = n
			case strings.EqualFold(k, "type"):
				if len(v) != 1 {
					return nil, fail("invalid type %q", v)
				}
				f.Type = FileType(v[0])
			}
		}
		if f.Name == "" || f.Seq == 0 || f.Type == 0 {
			return nil, fail("file, seq and type are all required")
		}
		switch f.Type {
		case TypeBase:
			if m.Base != nil {
				return nil, fail("second base file %q", f.Name)
			}
			m.Base = &f
		case TypeHistory:
			m.History = append(m.History, f)
		case TypeIncr:
			if f.Seq <= maxIncr {
				return nil, fail("incr file %q: seq %d not above %d", f.Name, f.Seq, maxIncr)
			}
			maxIncr = f.Seq
			m.Incrs = append(m.Incrs, f)
		default:
			return nil, fail("unknown file type %q", byte(f.Type))
		}
	}
}

// checkName rejects names that are not plain file names in the manifest's
// directory. Redis itself rejects only '/' and '\\'.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty file name")
	case name == "." || name == "..":
		return fmt.Errorf("file name %q", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("file name %q is a path, not a file name", name)
	}
	return nil
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// splitArgs splits a line into words as Redis's sdssplitargs does: words
// separated by blanks, "double quotes" with \n \r \t \b \a \xHH and \c
// escapes, 'single quotes' with \' only; a closing quote must be followed
// by a blank or the end. It reports false for unbalanced quotes.
func splitArgs(line []byte) ([]string, bool) {
	var words []string
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p == len(line) {
			return words, true
		}
		var cur []byte
		inq, insq := false, false
		for done := false; !done; {
			at := func(i int) byte { // 0 past the end, like a C string
				if i < len(line) {
					return line[i]
				}
				return 0
			}
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)):
					cur = append(cur, unhex(at(p+2))<<4|unhex(at(p+3)))
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					e := line[p]
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					cur = append(cur, e)
				case c == '"':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					cur = append(cur, '\'')
				case c == '\'':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, c)
				}
			}
			if p < len(line) {
				p++
			}
		}
		words = append(words, string(cur))
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// WriteTo writes the manifest as Redis does: the base, then history, then
// incr files, one "file <name> seq <n> type <t>" line each, with names
// quoted as sdscatrepr quotes them when they need it.
func (m *Manifest) WriteTo(w io.Writer) (int64, error) {
	var b []byte
	add := func(f ManifestFile) {
		b = append(b, "file "...)
		b = appendRepr(b, f.Name)
		b = append(b, " seq "...)
		b = strconv.AppendInt(b, f.Seq, 10)
		b = append(b, " type "...)
		b = append(b, byte(f.Type), '\n')
	}
	if m.Base != nil {
		add(*m.Base)
	}
	for _, f := range m.History {
		add(f)
	}
	for _, f := range m.Incrs {
		add(f)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// appendRepr appends s, quoted and escaped as sdscatrepr does when
// sdsneedsrepr says it must be, or when s holds a single quote, which
// sdssplitargs would take as the start of a quoted string (Redis itself
// writes such a name bare and cannot read it back).
func appendRepr(b []byte, s string) []byte {
	needs := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c == '\'' || c < 0x21 || c > 0x7e {
			needs = true
			break
		}
	}
	if !needs {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\a':
			b = append(b, `\a`...)
		case '\b':
			b = append(b, `\b`...)
		default:
			if c >= 0x20 && c <= 0x7e {
				b = append(b, c)
			} else {
				b = append(b, fmt.Sprintf(`\x%02x`, c)...)
			}
		}
	}
	return append(b, '"')
}

// IsMultiPart tells whether path names a multi-part AOF as Open takes
// it: a directory (appendonlydir), or a file whose name ends in
// ".manifest". It only looks at the name and, for a directory, at the
// file system; Open says whether it holds a valid manifest.
func IsMultiPart(path string) bool {
	if strings.HasSuffix(path, ".manifest") {
		return true
	}
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
