package aof

import (
	"bytes"
	"strconv"
)

// AppendCommand appends args to b as one RESP array of bulk strings, the
// form Redis gives every command of an AOF and of a replication stream,
// and returns the extended slice. It is the project's one RESP encoder:
// Writer, the live writers of package sync and the point-in-time replay
// all encode with it.
func AppendCommand(b []byte, args ...[]byte) []byte {
	n := 16
	for _, a := range args {
		n += len(a) + 16
	}
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	b = AppendArrayHeader(b, len(args))
	for _, a := range args {
		// AppendBulk, written out: it is too large to inline, and this
		// loop runs for every argument a writer sends.
		b = AppendBulkHeader(b, len(a))
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// AppendArrayHeader appends the header of a RESP array of n elements
// ("*<n>\r\n").
func AppendArrayHeader(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendBulkHeader appends the header of a RESP bulk string of n bytes
// ("$<n>\r\n"); the string and its "\r\n" follow.
func AppendBulkHeader(b []byte, n int) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendBulk appends a as a RESP bulk string ("$<len>\r\n<a>\r\n").
func AppendBulk(b, a []byte) []byte {
	b = AppendBulkHeader(b, len(a))
	b = append(b, a...)
	return append(b, '\r', '\n')
}

// SelectCommand is the RESP bytes of SELECT db.
func SelectCommand(db int) []byte {
	return AppendCommand(nil, []byte("SELECT"), strconv.AppendInt(nil, int64(db), 10))
}

// CommandName returns the first argument (the command's name) of cmd, the
// RESP bytes of one command as AppendCommand writes them, without copying;
// nil when cmd does not start like a RESP array of bulk strings.
func CommandName(cmd []byte) []byte {
	i := bytes.IndexByte(cmd, '\n')
	if i < 0 || i+1 >= len(cmd) || cmd[i+1] != '$' {
		return nil
	}
	rest := cmd[i+2:]
	j := bytes.IndexByte(rest, '\r')
	if j <= 0 || j > 9 {
		return nil
	}
	n := 0
	for _, c := range rest[:j] {
		if c < '0' || c > '9' {
			return nil
		}
		n = n*10 + int(c-'0')
	}
	if j+2+n > len(rest) {
		return nil
	}
	return rest[j+2 : j+2+n]
}

// SelectedDB is the database the RESP bytes of a SELECT command select;
// -1 when cmd is not a SELECT of one non-negative number.
func SelectedDB(cmd []byte) int {
	if Classify(CommandName(cmd)) != ClassSelect {
		return -1
	}
	// "*2\r\n$6\r\nSELECT\r\n$<n>\r\n<db>\r\n": the argument is the last line.
	if !bytes.HasPrefix(cmd, []byte("*2\r\n")) {
		return -1
	}
	body := bytes.TrimSuffix(cmd, []byte("\r\n"))
	db, err := strconv.Atoi(string(body[bytes.LastIndexByte(body, '\n')+1:]))
	if err != nil || db < 0 {
		return -1
	}
	return db
}

// Class is what a command of a replication stream (or of an AOF) does to
// the data set, as its consumers need to know it: package sync applying a
// stream, continuous capture cutting it into segments, and the replay of
// those segments all classify with Classify.
type Class uint8

const (
	// ClassData is every command not named below: it may change data.
	ClassData Class = iota
	// ClassPing is the master's PING, sent every repl-ping-replica-period.
	ClassPing
	// ClassReplconf is REPLCONF (GETACK from the master).
	ClassReplconf
	// ClassPublish is PUBLISH or SPUBLISH, which a master forwards to its
	// replicas (a Sentinel publishes its hello messages every 2 seconds).
	ClassPublish
	// ClassSelect is SELECT: it changes the database of what follows.
	ClassSelect
	// ClassMulti and ClassExec open and close a transaction.
	ClassMulti
	ClassExec
)

// Noop tells the classes that change no data: PING, REPLCONF and the
// forwarded PUBLISH and SPUBLISH.
func (c Class) Noop() bool { return c == ClassPing || c == ClassReplconf || c == ClassPublish }

// Classify classifies a command by its name (any case). It looks at the
// length first: most commands are data and cost one switch.
func Classify(name []byte) Class {
	switch len(name) {
	case 4:
		if equalFold(name, "ping") {
			return ClassPing
		}
		if equalFold(name, "exec") {
			return ClassExec
		}
	case 5:
		if equalFold(name, "multi") {
			return ClassMulti
		}
	case 6:
		if equalFold(name, "select") {
			return ClassSelect
		}
	case 7:
		if equalFold(name, "publish") {
			return ClassPublish
		}
	case 8:
		if equalFold(name, "replconf") {
			return ClassReplconf
		}
		if equalFold(name, "spublish") {
			return ClassPublish
		}
	}
	return ClassData
}

// equalFold is bytes.EqualFold for an ASCII lower-case s, without
// allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
