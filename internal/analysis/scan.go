package analysis

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/redkit/redkit/rdb"
)

// Meta is what a dump says about itself besides its keys.
type Meta struct {
	Version   int      // RDB version
	Magic     string   // "REDIS" or "VALKEY"
	Aux       []Aux    // AUX fields in file order
	Functions []string // function library names in file order ("" if unnamed)
	Modules   []string // module names from module aux data, sorted, unique
	Bytes     int64    // RDB bytes read (after decompression)
}

// Aux is one AUX field.
type Aux struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AuxValue returns the value of the first AUX field called name.
func (m *Meta) AuxValue(name string) (string, bool) {
	for _, a := range m.Aux {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// Scan reads rd to its end. It records metadata into meta (which may be
// nil) and, for every key that f selects (a nil f selects all), computes
// the value statistics and calls fn. The record and its slices are only
// valid during the call.
//
// Scan returns nil once the reader reached the EOF opcode and verified
// the checksum; otherwise the reader's error (an *rdb.ParseError for bad
// data), fn's error, or ctx's error.
func Scan(ctx context.Context, rd *rdb.Reader, f *rdb.Filter, meta *Meta, fn func(*rdb.Record, rdb.ValueStats) error) error {
	if meta == nil {
		meta = new(Meta)
	}
	defer func() { meta.Bytes = rd.Offset() }()
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := rd.Next()
		if n == 0 {
			meta.Version, meta.Magic = rd.Version(), rd.Magic()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch rec.Kind {
		case rdb.KindAux:
			meta.Aux = append(meta.Aux, Aux{Name: string(rec.Name), Value: string(rec.Data)})
		case rdb.KindFunction:
			meta.Functions = append(meta.Functions, functionName(rec))
		case rdb.KindModuleAux:
			if name := rec.Module.Name(); !slices.Contains(meta.Modules, name) {
				meta.Modules = append(meta.Modules, name)
				slices.Sort(meta.Modules)
			}
		case rdb.KindKey:
			if !f.MatchKey(rec) {
				continue
			}
			st, err := rd.Stats()
			if err != nil {
				return err
			}
			if !f.MatchStats(rec, st) {
				continue
			}
			if err := fn(rec, st); err != nil {
				return err
			}
		}
	}
}

// functionName returns a function library's name: the pre-GA record's
// Name, or the name= of the "#!<engine> name=<lib>" shebang line.
func functionName(rec *rdb.Record) string {
	if len(rec.Name) > 0 {
		return string(rec.Name)
	}
	code := rec.Data
	if i := slices.Index(code, '\n'); i >= 0 {
		code = code[:i]
	}
	line := string(code)
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	for _, field := range strings.Fields(line) {
		if name, ok := strings.CutPrefix(field, "name="); ok {
			return name
		}
	}
	return ""
}
