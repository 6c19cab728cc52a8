package analysis

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// DefaultMaxPrefixes is PrefixOptions.MaxEntries's default.
const DefaultMaxPrefixes = 1 << 19

// PrefixOptions configures a Prefixes aggregator.
type PrefixOptions struct {
	// Separator splits keys into levels. The prefix at level d runs up to
	// and including the d-th separator, so "user:42:name" counts for
	// "user:" and "user:42:", and a key counts only for the prefixes that
	// end in a separator within it (never for itself): keys without the
	// separator add nothing, which keeps the map to real namespaces.
	//
	// Empty means every byte is a level: a key counts for its first 1 to
	// Depth bytes, itself included when shorter; that is what
	// HDT3213/rdb's prefix report does.
	Separator string
	// Depth is the number of levels counted, 1 to Depth.
	Depth int
	// MaxEntries bounds the number of distinct prefixes held (per
	// aggregator); 0 means DefaultMaxPrefixes. Beyond it the smaller half
	// (by memory) is dropped and the results become approximate: a
	// dropped prefix seen again restarts from zero.
	MaxEntries int
}

// Prefix is one aggregated prefix.
type Prefix struct {
	DB     int
	Prefix string
	Depth  int // level, 1 to Depth
	Totals
}

// Prefixes aggregates memory and key counts by key prefix.
type Prefixes struct {
	opts        PrefixOptions
	dbs         map[int]map[string]*Totals
	n           int
	approximate bool
}

// NewPrefixes returns an empty aggregator.
func NewPrefixes(opts PrefixOptions) *Prefixes {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxPrefixes
	}
	return &Prefixes{opts: opts, dbs: make(map[int]map[string]*Totals)}
}

// Options returns the options the aggregator was created with (defaults
// filled in).
func (p *Prefixes) Options() PrefixOptions { return p.opts }

// Approximate reports whether entries were dropped to stay within
// MaxEntries.
func (p *Prefixes) Approximate() bool { return p.approximate }

// Add counts a key of the given memory for each of its prefixes.
func (p *Prefixes) Add(db int, key []byte, memory int64) {
	m := p.dbs[db]
	if m == nil {
		m = make(map[string]*Totals)
		p.dbs[db] = m
	}
	sep := p.opts.Separator
	if sep == "" {
		for d := 1; d <= p.opts.Depth && d <= len(key); d++ {
			p.add(m, key[:d], Totals{1, memory})
		}
	} else {
		end := 0
		for d := 1; d <= p.opts.Depth; d++ {
			i := bytes.Index(key[end:], []byte(sep))
			if i < 0 {
				break
			}
			end += i + len(sep)
			p.add(m, key[:end], Totals{1, memory})
		}
	}
	if p.n > p.opts.MaxEntries {
		p.prune()
	}
}

func (p *Prefixes) add(m map[string]*Totals, prefix []byte, t Totals) {
	if e := m[string(prefix)]; e != nil {
		e.merge(t)
		return
	}
	m[string(prefix)] = &t
	p.n++
}

// prune drops the smaller half of the entries.
func (p *Prefixes) prune() {
	all := p.all()
	slices.SortFunc(all, func(a, b Prefix) int { return -comparePrefixes(&a, &b) })
	for _, e := range all[:len(all)/2] {
		delete(p.dbs[e.DB], e.Prefix)
	}
	p.n -= len(all) / 2
	p.approximate = true
}

// Merge adds o's counts into p.
func (p *Prefixes) Merge(o *Prefixes) {
	for db, om := range o.dbs {
		m := p.dbs[db]
		if m == nil {
			m = make(map[string]*Totals, len(om))
			p.dbs[db] = m
		}
		for prefix, t := range om {
			p.add(m, []byte(prefix), *t)
		}
	}
	p.approximate = p.approximate || o.approximate
	if p.n > p.opts.MaxEntries {
		p.prune()
	}
}

func (p *Prefixes) all() []Prefix {
	out := make([]Prefix, 0, p.n)
	for db, m := range p.dbs {
		for prefix, t := range m {
			out = append(out, Prefix{DB: db, Prefix: prefix, Depth: p.depth(prefix), Totals: *t})
		}
	}
	return out
}

func (p *Prefixes) depth(prefix string) int {
	if p.opts.Separator == "" {
		return len(prefix)
	}
	return strings.Count(prefix, p.opts.Separator)
}

// Top returns the n biggest prefixes by memory (all when n <= 0), then
// by key count, database and prefix.
func (p *Prefixes) Top(n int) []Prefix {
	all := p.all()
	slices.SortFunc(all, func(a, b Prefix) int { return comparePrefixes(&a, &b) })
	if n > 0 && len(all) > n {
		all = all[:n]
	}
	return all
}

func comparePrefixes(a, b *Prefix) int {
	if c := cmp.Compare(b.Memory, a.Memory); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Keys, a.Keys); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DB, b.DB); c != 0 {
		return c
	}
	return strings.Compare(a.Prefix, b.Prefix)
}

// parent returns the prefix one level up, or "" at level 1.
func (p *Prefixes) parent(prefix string) string {
	sep := p.opts.Separator
	if sep == "" {
		return prefix[:max(len(prefix)-1, 0)]
	}
	i := strings.LastIndex(strings.TrimSuffix(prefix, sep), sep)
	if i < 0 {
		return ""
	}
	return prefix[:i+len(sep)]
}
