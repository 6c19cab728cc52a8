package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/rdb"
)

// ErrEmptyInput is returned by Sniff for an input with no bytes.
var ErrEmptyInput = errors.New("input is empty")

// FormatError is returned by Sniff for an input that is neither an RDB
// dump, an AOF nor redkit JSON.
type FormatError struct {
	Head []byte // the input's first bytes
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("input is neither an RDB dump (REDIS or VALKEY magic), an AOF (RESP commands) nor redkit JSON (first bytes %q)", e.Head)
}

// CommandFilterError is returned by an AOFSource whose filter chooses
// keys by name, type or expiry when it meets an AOF command: a command is
// not a key, and only a filter by database applies to it.
type CommandFilterError struct {
	File   string // the AOF file's base name, "" for a stream
	Offset int64  // the command's offset in File
}

func (e *CommandFilterError) Error() string {
	return fmt.Sprintf("%s offset %d: AOF commands cannot be filtered by key, type or expiry", e.File, e.Offset)
}

// Sniff detects the input's kind from its first bytes (already
// decompressed) and returns its source, filtered by f (nil: everything):
// an RDB dump or an AOF with an RDB preamble (REDIS or VALKEY magic), a
// plain AOF (RESP commands or a #TS annotation), or redkit JSON or JSON
// Lines. name only labels errors. Adding an input kind is one case here
// and one type.
func Sniff(name string, in io.Reader, f *rdb.Filter) (Source, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	first := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case bytes.HasPrefix(head, []byte("REDIS")), bytes.HasPrefix(head, []byte("VALKEY")):
		// An RDB dump or an AOF with an RDB preamble: the AOF reader
		// yields the RDB part and any commands after it.
		return &AOFSource{rd: aof.NewReader(br), filter: f}, nil
	case len(head) > 0 && (head[0] == '*' || head[0] == '#'):
		return &AOFSource{rd: aof.NewReader(br), filter: f, commands: true}, nil
	case len(first) > 0 && (first[0] == '{' || first[0] == '['):
		return &JSONSource{rd: rdb.NewJSONReader(br), filter: f}, nil
	case len(head) == 0:
		return nil, fmt.Errorf("%s: %w", name, ErrEmptyInput)
	default:
		return nil, fmt.Errorf("%s: %w", name, &FormatError{Head: bytes.Clone(head)})
	}
}

// Input is an opened input: its Source, and the file it reads.
type Input struct {
	Source
	// File is the (decompressed) file or stream read, for progress; nil
	// for a multi-part AOF.
	File  *dumpfile.File
	close func() error
}

// Close closes what the input opened.
func (in *Input) Close() error { return in.close() }

// Open opens anything a pipeline reads: a multi-part AOF (its directory
// or manifest, see IsAOFSet), or a file, or "-" for stdin, holding an RDB
// dump, an AOF or redkit JSON, gzip or zstd compressed or not. The
// source is filtered by f (nil: everything). Call Close when done.
func Open(ctx context.Context, path string, stdin io.Reader, f *rdb.Filter) (*Input, error) {
	if aof.IsMultiPart(path) {
		ar, err := aof.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		return &Input{Source: &AOFSource{rd: ar, filter: f, commands: true}, close: ar.Close}, nil
	}
	in, err := dumpfile.OpenArg(ctx, path, stdin)
	if err != nil {
		return nil, err
	}
	src, err := Sniff(path, in, f)
	if err != nil {
		in.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return &Input{Source: src, File: in, close: in.Close}, nil
}

// JSONSource reads keys, function libraries and module auxiliary data
// from redkit's JSON or JSON Lines (rdb.JSONReader).
type JSONSource struct {
	rd     *rdb.JSONReader
	filter *rdb.Filter
	aux    rdb.Record // the last module-aux object, as a record
}

var _ Source = (*JSONSource)(nil)

// Next returns the next item that passes the filter, io.EOF at the end.
func (s *JSONSource) Next() (Item, error) {
	for {
		rec, err := s.rd.NextRecord()
		if err != nil {
			return Item{}, err
		}
		switch rec.Kind {
		case rdb.KindFunction:
			return Item{Function: rec.Data}, nil
		case rdb.KindModuleAux:
			s.aux = rdb.Record{Kind: rdb.KindModuleAux, Module: rec.Module, When: rec.When, Data: rec.Data}
			return Item{ModuleAux: &s.aux}, nil
		case rdb.KindKey:
			kv := rec.Key
			r := rdb.Record{Kind: rdb.KindKey, DB: kv.DB, Key: kv.Key, Type: kv.Type, ExpireAt: kv.ExpireAt}
			if s.filter.MatchKey(&r) {
				return Item{Key: kv}, nil
			}
		}
	}
}

// AOFSource reads an RDB dump or any AOF form (aof.Reader): the keys,
// function libraries and module auxiliary data of its RDB parts, then
// its commands. Commands pass a filter by database only; a filter by
// key, type or expiry refuses them (*CommandFilterError).
type AOFSource struct {
	rd       *aof.Reader
	filter   *rdb.Filter
	part     *rdb.Reader // the RDB part being read, if any
	commands bool        // the input is known to hold commands (a plain or multi-part AOF)
	keysRead map[int]int64
	version  int         // RDB version of the first RDB part, 0 before one
	server   [][2][]byte // the redis-ver and valkey-ver AUX fields of the first RDB part
}

var _ Source = (*AOFSource)(nil)

// NewAOFSource reads rd, filtered by f (nil: everything). commands tells
// that rd is known to hold commands (a plain or multi-part AOF), so that
// Copy replays it for a sink that needs a keyspace.
func NewAOFSource(rd *aof.Reader, f *rdb.Filter, commands bool) *AOFSource {
	return &AOFSource{rd: rd, filter: f, commands: commands}
}

// Commands tells that the input is known to hold commands (a plain or
// multi-part AOF), as opposed to an RDB dump that may have some after it.
func (s *AOFSource) Commands() bool { return s.commands }

// RDBVersion is the RDB version of the first RDB part read (an RDB
// dump, an AOF's preamble or its base file), 0 while none was: the
// version of the server that wrote the AOF, as far as it says.
func (s *AOFSource) RDBVersion() int { return s.version }

// CountKeys makes Next count in m the keys of the RDB parts per
// database, filtered out or not (nil: no count). A replay does not count.
func (s *AOFSource) CountKeys(m map[int]int64) { s.keysRead = m }

// ServerAux returns the AUX fields of the first RDB part that name the
// server that wrote it (redis-ver, valkey-ver), name then value: what a
// replay's RDB carries so that its memory is estimated as on that server.
func (s *AOFSource) ServerAux() [][2][]byte { return s.server }

func (s *AOFSource) noteVersion(rd *rdb.Reader) {
	if s.version == 0 {
		s.version = rd.Version()
	}
	if s.server == nil {
		redisVer, valkeyVer := rd.Server()
		for _, f := range [][2]string{{"redis-ver", redisVer}, {"valkey-ver", valkeyVer}} {
			if f[1] != "" {
				s.server = append(s.server, [2][]byte{[]byte(f[0]), []byte(f[1])})
			}
		}
	}
}

// Next returns the next item that passes the filter, io.EOF at the end.
func (s *AOFSource) Next() (Item, error) {
	for {
		if s.part != nil {
			rec, err := s.part.Next()
			s.noteVersion(s.part)
			if errors.Is(err, io.EOF) {
				s.part = nil
				continue
			}
			if err != nil {
				return Item{}, err
			}
			if rec.Kind == rdb.KindKey && s.keysRead != nil {
				s.keysRead[rec.DB]++
			}
			switch {
			case rec.Kind == rdb.KindFunction:
				return Item{Function: rec.Data}, nil
			case rec.Kind == rdb.KindModuleAux:
				return Item{ModuleAux: rec}, nil
			case rec.Kind == rdb.KindKey && s.filter.MatchKey(rec):
				return Item{Key: s.part.KeyValue()}, nil
			}
			continue
		}
		e, err := s.rd.Next()
		if err != nil {
			return Item{}, err
		}
		if e.Kind == aof.KindRDB {
			s.part = e.RDB
			continue
		}
		if f := s.filter; f != nil && (f.Match != "" || f.Regex != nil || len(f.Types) > 0 || f.Expired != rdb.ExpiredInclude) {
			return Item{}, &CommandFilterError{File: e.File, Offset: e.Offset}
		}
		if f := s.filter; f != nil && len(f.DBs) > 0 && !slices.Contains(f.DBs, e.DB) {
			continue
		}
		return Item{Command: e.Args, DB: e.DB}, nil
	}
}
