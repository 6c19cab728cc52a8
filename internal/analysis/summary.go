package analysis

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/redkit/redkit/rdb"
)

// Totals counts keys and their estimated memory.
type Totals struct {
	Keys   int64 `json:"keys"`
	Memory int64 `json:"memory"`
}

func (t *Totals) add(memory int64) { t.Keys++; t.Memory += memory }

func (t *Totals) merge(o Totals) { t.Keys += o.Keys; t.Memory += o.Memory }

// ExpiryProfile buckets keys by time left to live, relative to a fixed now.
type ExpiryProfile struct {
	Expired Totals `json:"expired"`   // expiry already passed
	Hour    Totals `json:"lt_1h"`     // expires within an hour
	Day     Totals `json:"lt_1d"`     // within a day (and not within an hour)
	Week    Totals `json:"lt_7d"`     // within 7 days (and not within a day)
	Later   Totals `json:"later"`     // in more than 7 days
	None    Totals `json:"no_expiry"` // no expiry
}

func (p *ExpiryProfile) add(expireAt, now, memory int64) {
	left := expireAt - now
	switch {
	case expireAt == rdb.NoExpiry:
		p.None.add(memory)
	case left < 0:
		p.Expired.add(memory)
	case left < time.Hour.Milliseconds():
		p.Hour.add(memory)
	case left < 24*time.Hour.Milliseconds():
		p.Day.add(memory)
	case left < 7*24*time.Hour.Milliseconds():
		p.Week.add(memory)
	default:
		p.Later.add(memory)
	}
}

func (p *ExpiryProfile) merge(o *ExpiryProfile) {
	p.Expired.merge(o.Expired)
	p.Hour.merge(o.Hour)
	p.Day.merge(o.Day)
	p.Week.merge(o.Week)
	p.Later.merge(o.Later)
	p.None.merge(o.None)
}

// SummaryOptions configures a Summary. The zero value counts totals and
// expiries only.
type SummaryOptions struct {
	// Now is the reference for the expiry profile; zero means time.Now()
	// when the Summary is created.
	Now time.Time
	// Top is how many of the biggest keys to keep; 0 keeps none.
	Top int
	// Prefixes configures memory by prefix; Depth 0 disables it.
	Prefixes PrefixOptions
	// Source labels the keys kept by Top (the dump's name), for reports
	// over several dumps.
	Source string
}

// Summary aggregates keys into totals.
type Summary struct {
	Total      Totals
	ByDB       map[int]Totals
	ByType     map[rdb.Type]Totals
	ByEncoding map[rdb.Encoding]Totals
	Expiry     ExpiryProfile
	Biggest    *TopKeys  // nil when Top is 0
	Prefixes   *Prefixes // nil when Prefixes.Depth is 0

	now int64
}

// NewSummary returns an empty Summary.
func NewSummary(opts SummaryOptions) *Summary {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	s := &Summary{
		ByDB:       make(map[int]Totals),
		ByType:     make(map[rdb.Type]Totals),
		ByEncoding: make(map[rdb.Encoding]Totals),
		now:        opts.Now.UnixMilli(),
	}
	if opts.Top > 0 {
		s.Biggest = NewTopKeys(opts.Top)
		s.Biggest.Source = opts.Source
	}
	if opts.Prefixes.Depth > 0 {
		s.Prefixes = NewPrefixes(opts.Prefixes)
	}
	return s
}

// Add counts one key.
func (s *Summary) Add(rec *rdb.Record, st rdb.ValueStats) {
	s.Total.add(st.Memory)
	addTo(s.ByDB, rec.DB, st.Memory)
	addTo(s.ByType, rec.Type, st.Memory)
	addTo(s.ByEncoding, st.Encoding, st.Memory)
	s.Expiry.add(rec.ExpireAt, s.now, st.Memory)
	if s.Biggest != nil {
		s.Biggest.Add(rec, st)
	}
	if s.Prefixes != nil {
		s.Prefixes.Add(rec.DB, rec.Key, st.Memory)
	}
}

func addTo[K comparable](m map[K]Totals, k K, memory int64) {
	t := m[k]
	t.add(memory)
	m[k] = t
}

// Merge adds o's counts into s. Both must have been created with the
// same options (Source aside).
func (s *Summary) Merge(o *Summary) {
	s.Total.merge(o.Total)
	mergeInto(s.ByDB, o.ByDB)
	mergeInto(s.ByType, o.ByType)
	mergeInto(s.ByEncoding, o.ByEncoding)
	s.Expiry.merge(&o.Expiry)
	if s.Biggest != nil && o.Biggest != nil {
		s.Biggest.Merge(o.Biggest)
	}
	if s.Prefixes != nil && o.Prefixes != nil {
		s.Prefixes.Merge(o.Prefixes)
	}
}

func mergeInto[K comparable](dst, src map[K]Totals) {
	for k, t := range src {
		d := dst[k]
		d.merge(t)
		dst[k] = d
	}
}

// Group is one line of a breakdown: a name and its totals.
type Group[K any] struct {
	Name K
	Totals
}

// Sorted returns m's entries by descending memory, then by name.
func Sorted[K cmp.Ordered](m map[K]Totals) []Group[K] {
	out := make([]Group[K], 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Group[K]{k, m[k]})
	}
	slices.SortStableFunc(out, func(a, b Group[K]) int { return cmp.Compare(b.Memory, a.Memory) })
	return out
}
