package compare

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/redkit/redkit/rdb"
)

// Kind is the kind of a difference.
type Kind uint8

// Kinds of differences.
const (
	Missing    Kind = iota + 1 // in A, not in B
	Extra                      // in B, not in A
	TypeDiff                   // the key's type differs (its value and expiry are then not compared)
	ValueDiff                  // same type, different elements or stream metadata
	ExpiryDiff                 // expiries differ by more than the tolerance, or only one side has one
)

var kindNames = [...]string{"", "missing", "extra", "type", "value", "expiry"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Diff is one difference. A or B is nil when the key is missing there.
type Diff struct {
	Kind Kind
	DB   int
	Key  string
	A, B *Entry
}

// Options configure Compare. The zero value compares every key exactly.
type Options struct {
	// TTLTolerance is how far apart two expiries may be and still be
	// equal. Default 0: exact.
	TTLTolerance time.Duration
	// MaxReport is how many differences Result.Diffs keeps, the first by
	// database and key; counts are always complete. Default 100;
	// negative: none.
	MaxReport int
	// Sample, when positive, compares only a uniform random sample of
	// that many of A's keys, each checked against B (directly when B is a
	// Looker). Extra keys are then not looked for.
	Sample int
	// Rand draws the sample. Default: a random source.
	Rand *rand.Rand
	// Progress, when set, is incremented for every key read on either side.
	Progress *atomic.Int64
}

// Result is the outcome of a comparison.
type Result struct {
	KeysA, KeysB int64 // keys read (and digested) on each side
	Population   int64 // with Sample: keys of A the sample was drawn from
	Sampled      bool
	Same         int64 // keys equal on both sides
	Counts       map[Kind]int64
	Diffs        []Diff // at most Options.MaxReport, ordered by database, key and kind
	Truncated    bool   // Diffs left some out
}

// Identical tells whether no difference was found.
func (r *Result) Identical() bool {
	for _, n := range r.Counts {
		if n > 0 {
			return false
		}
	}
	return true
}

// Differences is the total of all counts.
func (r *Result) Differences() int64 {
	var n int64
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// Compare compares a (the reference) with b. An error reading either
// side stops both and is returned wrapped with the side's name.
func Compare(ctx context.Context, a, b Source, opts Options) (*Result, error) {
	if opts.MaxReport == 0 {
		opts.MaxReport = 100
	}
	c := &comparer{opts: opts, res: &Result{Counts: map[Kind]int64{}}}
	h := NewHasher()
	if opts.Sample > 0 {
		return c.res, c.sample(ctx, h, a, b)
	}
	return c.res, c.full(ctx, h, a, b)
}

type comparer struct {
	opts Options
	res  *Result
}

// sideEntry is an entry tagged with its side (0: A, 1: B).
type sideEntry struct {
	side int
	e    *Entry
}

// full reads both sides at once and matches keys as they come.
func (c *comparer) full(ctx context.Context, h *Hasher, a, b Source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan []sideEntry, 16)
	errs := make([]error, 2)
	var wg gosync.WaitGroup
	for i, src := range []Source{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []sideEntry
			err := src.Each(ctx, h.Clone(), nil, func(e *Entry) error {
				cp := *e
				batch = append(batch, sideEntry{i, &cp})
				if len(batch) == 256 {
					select {
					case ch <- batch:
					case <-ctx.Done():
						return ctx.Err()
					}
					batch = nil
				}
				return nil
			})
			if err == nil && len(batch) > 0 {
				select {
				case ch <- batch:
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			if err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	go func() {
		wg.Wait()
		close(ch)
	}()
	pending := map[DBKey]sideEntry{}
	for batch := range ch {
		for _, se := range batch {
			c.count(se.side)
			k := DBKey{se.e.DB, se.e.Key}
			other, ok := pending[k]
			if !ok {
				pending[k] = se
				continue
			}
			if other.side == se.side {
				return fmt.Errorf("%s: key %q of db %d read twice", [2]Source{a, b}[se.side].Name(), k.Key, k.DB)
			}
			delete(pending, k)
			if se.side == 0 {
				c.match(se.e, other.e)
			} else {
				c.match(other.e, se.e)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		if pe := ctx.Err(); pe != nil && errs[0] == nil && errs[1] == nil {
			return pe
		}
		return firstError(errs)
	}
	for _, se := range pending {
		if se.side == 0 {
			c.diff(Missing, se.e, nil)
		} else {
			c.diff(Extra, nil, se.e)
		}
	}
	c.finish()
	return nil
}

// firstError prefers an error that is not a cancellation caused by the
// other side's failure.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

func (c *comparer) count(side int) {
	if side == 0 {
		c.res.KeysA++
	} else {
		c.res.KeysB++
	}
	if c.opts.Progress != nil {
		c.opts.Progress.Add(1)
	}
}

// match compares the two entries of one key.
func (c *comparer) match(a, b *Entry) {
	if a.Type != b.Type {
		c.diff(TypeDiff, a, b)
		return
	}
	same := true
	if a.Count != b.Count || a.Digest != b.Digest || a.Meta != b.Meta {
		c.diff(ValueDiff, a, b)
		same = false
	}
	if !expiryEqual(a.ExpireAt, b.ExpireAt, c.opts.TTLTolerance) {
		c.diff(ExpiryDiff, a, b)
		same = false
	}
	if same {
		c.res.Same++
	}
}

func expiryEqual(a, b int64, tol time.Duration) bool {
	if a == rdb.NoExpiry || b == rdb.NoExpiry {
		return a == b
	}
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= tol.Milliseconds()
}

func (c *comparer) diff(k Kind, a, b *Entry) {
	c.res.Counts[k]++
	if c.opts.MaxReport < 0 {
		c.res.Truncated = true
		return
	}
	e := a
	if e == nil {
		e = b
	}
	c.res.Diffs = append(c.res.Diffs, Diff{Kind: k, DB: e.DB, Key: e.Key, A: a, B: b})
	if len(c.res.Diffs) >= 2*c.opts.MaxReport+64 {
		c.trim()
	}
}

func compareDiffs(x, y Diff) int {
	return cmp.Or(cmp.Compare(x.DB, y.DB), cmp.Compare(x.Key, y.Key), cmp.Compare(x.Kind, y.Kind))
}

// trim keeps the first MaxReport differences.
func (c *comparer) trim() {
	slices.SortFunc(c.res.Diffs, compareDiffs)
	if len(c.res.Diffs) > c.opts.MaxReport {
		clear(c.res.Diffs[c.opts.MaxReport:])
		c.res.Diffs = c.res.Diffs[:c.opts.MaxReport]
		c.res.Truncated = true
	}
}

func (c *comparer) finish() {
	if c.opts.MaxReport >= 0 {
		c.trim()
	}
}

// sample draws a reservoir of A's keys, digesting only those that enter
// it, then checks each against B.
func (c *comparer) sample(ctx context.Context, h *Hasher, a, b Source) error {
	n := c.opts.Sample
	rng := c.opts.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	owners := make([]DBKey, 0, n)
	entries := make([]*Entry, 0, n)
	slot := map[DBKey]int{} // admitted keys waiting for their entry
	var seen int64
	keep := func(db int, key []byte) bool {
		seen++
		k := DBKey{db, string(key)}
		j := len(owners)
		if j >= n {
			r := rng.Int64N(seen)
			if r >= int64(n) {
				return false
			}
			j = int(r)
			entries[j] = nil
			owners[j] = k
		} else {
			owners = append(owners, k)
			entries = append(entries, nil)
		}
		slot[k] = j
		return true
	}
	err := a.Each(ctx, h.Clone(), keep, func(e *Entry) error {
		k := DBKey{e.DB, e.Key}
		j, ok := slot[k]
		delete(slot, k)
		if ok && owners[j] == k {
			cp := *e
			entries[j] = &cp
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.res.Sampled, c.res.Population = true, seen
	want := map[DBKey]*Entry{}
	var keys []DBKey
	for _, e := range entries {
		if e != nil {
			k := DBKey{e.DB, e.Key}
			want[k] = e
			keys = append(keys, k)
			c.count(0)
		}
	}
	slices.SortFunc(keys, func(x, y DBKey) int { return cmp.Or(cmp.Compare(x.DB, y.DB), cmp.Compare(x.Key, y.Key)) })
	check := func(k DBKey, e *Entry) {
		ea := want[k]
		delete(want, k)
		if e == nil {
			c.diff(Missing, ea, nil)
			return
		}
		c.count(1)
		cp := *e
		c.match(ea, &cp)
	}
	if lk, ok := b.(Looker); ok {
		err = lk.Lookup(ctx, h.Clone(), keys, func(k DBKey, e *Entry) error {
			if _, ok := want[k]; ok {
				check(k, e)
			}
			return nil
		})
	} else {
		err = b.Each(ctx, h.Clone(), func(db int, key []byte) bool {
			_, ok := want[DBKey{db, string(key)}]
			return ok
		}, func(e *Entry) error {
			check(DBKey{e.DB, e.Key}, e)
			return nil
		})
	}
	if err != nil {
		return err
	}
	for k, e := range want {
		check(k, nil)
		_ = e
	}
	c.finish()
	return nil
}
