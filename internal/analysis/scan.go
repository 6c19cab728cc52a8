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
	Modules   []string // module type names of module aux data and module values, sorted, unique
	Bytes     int64    // RDB bytes read (after decompression)
}

// Aux is one AUX field.
type Aux struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (m *Meta) addModule(id rdb.ModuleID) {
	if name := id.Name(); !slices.Contains(m.Modules, name) {
		m.Modules = append(m.Modules, name)
		slices.Sort(m.Modules)
	}
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
// valid during the call; only the key fields of the record are set (Kind,
// Offset, DB, Key, Type, RDBType, ExpireAt, Idle, Freq).
//
// Reading and fn run on two goroutines, handing keys over in batches, so
// that decoding and whatever fn does (aggregating, formatting) use two
// cores. fn is always called from one goroutine at a time, in file order;
// meta is complete when Scan returns.
//
// Scan returns nil once the reader reached the EOF opcode and verified
// the checksum; otherwise the reader's error (an *rdb.ParseError for bad
// data), fn's error, or ctx's error. Keys read before an error have been
// passed to fn.
func Scan(ctx context.Context, rd *rdb.Reader, f *rdb.Filter, meta *Meta, fn func(*rdb.Record, rdb.ValueStats) error) error {
	if meta == nil {
		meta = new(Meta)
	}
	batches := make(chan *scanBatch, scanQueue)
	free := make(chan *scanBatch, scanQueue+2)
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(batches)
		readErr = produce(ctx, rd, f, meta, batches, free, stop)
	}()
	var fnErr error
	for b := range batches {
		for i := 0; fnErr == nil && i < len(b.items); i++ {
			it := &b.items[i]
			if err := fn(&it.rec, it.st); err != nil {
				fnErr = err
				close(stop)
			}
		}
		select {
		case free <- b:
		default:
		}
	}
	// batches is closed: the reading goroutine is done and readErr set.
	if fnErr != nil {
		return fnErr
	}
	return readErr
}

const (
	scanBatchKeys = 512 // keys handed over at once
	scanQueue     = 4   // batches in flight
)

type scanBatch struct {
	items []scanItem
	keys  []byte // the items' keys, back to back
}

type scanItem struct {
	rec    rdb.Record
	st     rdb.ValueStats
	keyEnd int // end of the key in keys
}

// produce reads rd, sending the selected keys in batches, until the end,
// an error, or stop.
func produce(ctx context.Context, rd *rdb.Reader, f *rdb.Filter, meta *Meta, out chan<- *scanBatch, free <-chan *scanBatch, stop <-chan struct{}) error {
	defer func() { meta.Bytes = rd.Offset() }()
	var b *scanBatch
	send := func() bool {
		if b == nil || len(b.items) == 0 {
			return true
		}
		start := 0
		for i := range b.items {
			it := &b.items[i]
			it.rec.Key = b.keys[start:it.keyEnd:it.keyEnd]
			start = it.keyEnd
		}
		select {
		case out <- b:
			b = nil
			return true
		case <-stop:
			return false
		}
	}
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				send()
				return err
			}
		}
		rec, err := rd.Next()
		if n == 0 {
			meta.Version, meta.Magic = rd.Version(), rd.Magic()
		}
		if errors.Is(err, io.EOF) {
			send()
			return nil
		}
		if err != nil {
			send()
			return err
		}
		switch rec.Kind {
		case rdb.KindAux:
			meta.Aux = append(meta.Aux, Aux{Name: string(rec.Name), Value: string(rec.Data)})
		case rdb.KindFunction:
			meta.Functions = append(meta.Functions, functionName(rec))
		case rdb.KindModuleAux:
			meta.addModule(rec.Module)
		case rdb.KindKey:
			if rec.Type == rdb.TypeModule {
				// Whether selected or not, the value needs its module.
				st, err := rd.Stats()
				if err != nil {
					send()
					return err
				}
				meta.addModule(st.Module)
			}
			if !f.MatchKey(rec) {
				continue
			}
			st, err := rd.Stats()
			if err != nil {
				send()
				return err
			}
			if !f.MatchStats(rec, st) {
				continue
			}
			if b == nil {
				select {
				case b = <-free:
					b.items, b.keys = b.items[:0], b.keys[:0]
				default:
					b = &scanBatch{items: make([]scanItem, 0, scanBatchKeys)}
				}
			}
			b.keys = append(b.keys, rec.Key...)
			b.items = append(b.items, scanItem{
				rec: rdb.Record{Kind: rec.Kind, Offset: rec.Offset, DB: rec.DB, Type: rec.Type, RDBType: rec.RDBType,
					ExpireAt: rec.ExpireAt, Idle: rec.Idle, Freq: rec.Freq},
				st:     st,
				keyEnd: len(b.keys),
			})
			if len(b.items) == scanBatchKeys && !send() {
				return nil
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
