package aof

import "fmt"

// Scanner finds the command boundaries of a stream of RESP commands (an
// AOF without annotations, a replication stream) fed to it in chunks of
// any size, without copying or parsing the arguments: bulk strings are
// skipped by their length, and of each command only the name's first
// bytes are kept, to follow MULTI/EXEC. It is the incremental
// counterpart of RESPReader.ReadCommand for bytes that are relayed as
// they are (the native sync relays a replication stream byte for byte
// and uses it to count commands and to know where the target can stop:
// a replica's offset moves only at the end of a command outside
// MULTI/EXEC).
//
// The zero Scanner is ready to use. Offsets count from the first byte
// fed to it.
type Scanner struct {
	pos   int64 // bytes scanned
	end   int64 // pos after the last complete command
	safe  int64 // pos after the last complete command outside a transaction
	cmds  int64 // complete commands
	inTx  bool
	state int    // scanArray, scanBulk or scanPayload
	line  []byte // a header line read in part
	args  int64  // bulk strings left in the command
	skip  int64  // payload bytes (and CRLF) left in the bulk string
	first bool   // the bulk string is the command's name
	name  []byte // the command's name, or its first 8 bytes
	// nameLen is how many bytes of the name to keep.
	nameLen int64
	err     error
}

const (
	scanArray = iota
	scanBulk
	scanPayload
)

// Feed consumes p. An error means the bytes are not a stream of RESP
// arrays of bulk strings: a *ParseError with the offset of the faulty
// byte, wrapping ErrProtocol (it reads "offset <n>: <what>"). Errors are
// sticky.
func (s *Scanner) Feed(p []byte) error {
	if s.err != nil {
		return s.err
	}
	if err := s.feed(p); err != nil {
		s.err = err
		return err
	}
	return nil
}

// Offset is the number of bytes fed so far.
func (s *Scanner) Offset() int64 { return s.pos }

// End is the offset just after the last complete command.
func (s *Scanner) End() int64 { return s.end }

// Safe is the offset just after the last complete command outside a
// MULTI/EXEC transaction: where a replica may stop.
func (s *Scanner) Safe() int64 { return s.safe }

// Commands is the number of complete commands.
func (s *Scanner) Commands() int64 { return s.cmds }

// InTransaction tells whether the last complete command left a MULTI
// open (neither EXEC nor DISCARD came after it).
func (s *Scanner) InTransaction() bool { return s.inTx }

func (s *Scanner) feed(p []byte) error {
	for len(p) > 0 {
		if s.state == scanPayload {
			n := int64(len(p))
			if n > s.skip {
				n = s.skip
			}
			if s.first && int64(len(s.name)) < s.nameLen {
				k := min(n, s.nameLen-int64(len(s.name)))
				s.name = append(s.name, p[:k]...)
			}
			// The payload's CRLF.
			for i := max(0, s.skip-2); i < n; i++ {
				if want := "\r\n"[2-(s.skip-i)]; p[i] != want {
					return scanErrorf(s.pos+i, "bulk string not terminated by CRLF")
				}
			}
			s.skip -= n
			s.pos += n
			p = p[n:]
			if s.skip == 0 {
				s.first = false
				s.next()
			}
			continue
		}
		// A header line: "*<n>\r\n" or "$<n>\r\n".
		i := 0
		for i < len(p) && p[i] != '\n' {
			i++
		}
		if i == len(p) {
			if len(s.line)+len(p) > 64 {
				return scanErrorf(s.pos, "header line too long")
			}
			s.line = append(s.line, p...)
			s.pos += int64(len(p))
			return nil
		}
		line := p[:i+1]
		if len(s.line) > 0 {
			line = append(s.line, line...)
			s.line = s.line[:0]
		}
		s.pos += int64(i + 1)
		p = p[i+1:]
		if err := s.header(line); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scanner) header(line []byte) error {
	at := s.pos - int64(len(line))
	if len(line) < 4 || line[len(line)-2] != '\r' {
		return scanErrorf(at, "bad header %q", clipBytes(line))
	}
	n, ok := parseCount(line[1 : len(line)-2])
	switch {
	case s.state == scanArray && line[0] == '*' && ok && n > 0:
		s.args, s.first, s.name = n, true, s.name[:0]
		s.state = scanBulk
	case s.state == scanBulk && line[0] == '$' && ok:
		s.skip = n + 2
		s.state = scanPayload
		if s.first {
			s.nameLen = min(n, 8)
		}
	default:
		return scanErrorf(at, "unexpected header %q", clipBytes(line))
	}
	return nil
}

// next ends a bulk string, and the command with its last one.
func (s *Scanner) next() {
	s.args--
	if s.args > 0 {
		s.state = scanBulk
		return
	}
	s.state = scanArray
	s.cmds++
	s.end = s.pos
	name := s.name
	if s.nameLen == 8 {
		name = nil // longer than any name that matters here
	}
	switch c := Classify(name); {
	case c == ClassMulti:
		s.inTx = true
	case c == ClassExec, equalFold(name, "discard"):
		s.inTx = false
	}
	if !s.inTx {
		s.safe = s.pos
	}
}

// parseCount parses a non-negative decimal count.
func parseCount(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func clipBytes(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// scanError is what a Scanner found wrong. It is ErrProtocol without
// the prefix, so that a *ParseError reads "offset <n>: <what>", as the
// native sync has always reported it ("replication stream at offset
// <n>: <what>").
type scanError string

func (e scanError) Error() string        { return string(e) }
func (e scanError) Is(target error) bool { return target == ErrProtocol }

func scanErrorf(at int64, format string, args ...any) error {
	return &ParseError{Offset: at, Err: scanError(fmt.Sprintf(format, args...))}
}
