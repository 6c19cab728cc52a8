package aof

import (
	"bytes"
	"math"
	"sort"

	"github.com/redkit/redkit/rdb"
)

// Sorted set commands (t_zset.c). A sorted set is a map of member to
// score, sorted (by score, then member bytes, as Redis's skiplist orders
// them) when an operation needs ranks.

type zmember struct {
	member string
	score  float64
}

func zsorted(z map[string]float64) []zmember {
	s := make([]zmember, 0, len(z))
	for m, sc := range z {
		s = append(s, zmember{m, sc})
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].score != s[j].score {
			return s[i].score < s[j].score
		}
		return s[i].member < s[j].member
	})
	return s
}

var errNotFloat = rejectf("value is not a valid float")

func cmdZAdd(c *cmd) error {
	var nx, xx, gt, lt, incr bool
	j := 2
flags:
	for ; j < len(c.args); j++ {
		switch a := c.args[j]; {
		case ascii(a, "nx"):
			nx = true
		case ascii(a, "xx"):
			xx = true
		case ascii(a, "gt"):
			gt = true
		case ascii(a, "lt"):
			lt = true
		case ascii(a, "ch"):
		case ascii(a, "incr"):
			incr = true
		default:
			break flags
		}
	}
	elems := len(c.args) - j
	if elems%2 != 0 || elems == 0 {
		return errSyntax
	}
	if nx && xx {
		return rejectf("XX and NX options at the same time are not compatible")
	}
	if gt && nx || lt && nx || gt && lt {
		return rejectf("GT, LT, and/or NX options at the same time are not compatible")
	}
	if incr && elems > 2 {
		return rejectf("INCR option supports a single increment-element pair")
	}
	scores := make([]float64, 0, elems/2)
	for i := j; i < len(c.args); i += 2 {
		f, ok := parseFloat(c.args[i])
		if !ok {
			return errNotFloat
		}
		scores = append(scores, f)
	}
	o, err := c.lookupType(c.args[1], rdb.TypeZSet)
	if err != nil {
		return err
	}
	if o == nil {
		if xx {
			return nil
		}
		o, _ = c.create(c.args[1], rdb.TypeZSet)
	}
	for i, sc := range scores {
		m := string(c.args[j+2*i+1])
		cur, exists := o.zset[m]
		if !exists {
			if !xx {
				o.zset[m] = sc
			}
			continue
		}
		if nx {
			continue
		}
		if incr {
			sc += cur
			if math.IsNaN(sc) {
				c.dropIfEmpty(c.args[1], o)
				return rejectf("resulting score is not a number (NaN)")
			}
		}
		if gt && sc <= cur || lt && sc >= cur {
			continue
		}
		o.zset[m] = sc
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

func cmdZIncrBy(c *cmd) error {
	args := [][]byte{c.args[0], c.args[1], []byte("incr"), c.args[2], c.args[3]}
	return cmdZAdd(&cmd{k: c.k, args: args, db: c.db, ts: c.ts})
}

func cmdZRem(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeZSet)
	if err != nil || o == nil {
		return err
	}
	for _, m := range c.args[2:] {
		delete(o.zset, string(m))
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

// scoreRange is a ZRANGEBYSCORE interval.
type scoreRange struct {
	min, max     float64
	minex, maxex bool
}

func parseScoreBound(b []byte) (float64, bool, bool) {
	ex := len(b) > 0 && b[0] == '('
	if ex {
		b = b[1:]
	}
	// zslParseRange uses strtod, accepting what string2d does plus
	// overflow and underflow; NaN is refused.
	f, ok := parseFloat(b)
	if !ok {
		if len(b) == 0 || isCSpace(b[0]) {
			return 0, false, false
		}
		return 0, false, false
	}
	return f, ex, true
}

func (r *scoreRange) parse(min, max []byte) error {
	var ok1, ok2 bool
	r.min, r.minex, ok1 = parseScoreBound(min)
	r.max, r.maxex, ok2 = parseScoreBound(max)
	if !ok1 || !ok2 {
		return rejectf("min or max is not a float")
	}
	return nil
}

func (r *scoreRange) in(s float64) bool {
	return (r.minex && s > r.min || !r.minex && s >= r.min) && (r.maxex && s < r.max || !r.maxex && s <= r.max)
}

// lexBound is a ZRANGEBYLEX bound: "-", "+", "[x" or "(x".
type lexBound struct {
	inf int // -1 for "-", +1 for "+"
	s   string
	ex  bool
}

func parseLexBound(b []byte) (lexBound, bool) {
	if len(b) == 0 {
		return lexBound{}, false
	}
	switch b[0] {
	case '+':
		return lexBound{inf: 1}, len(b) == 1
	case '-':
		return lexBound{inf: -1}, len(b) == 1
	case '(':
		return lexBound{s: string(b[1:]), ex: true}, true
	case '[':
		return lexBound{s: string(b[1:])}, true
	}
	return lexBound{}, false
}

func (b lexBound) gteMin(m string) bool {
	switch b.inf {
	case -1:
		return true
	case 1:
		return false
	}
	if b.ex {
		return m > b.s
	}
	return m >= b.s
}

func (b lexBound) lteMax(m string) bool {
	switch b.inf {
	case -1:
		return false
	case 1:
		return true
	}
	if b.ex {
		return m < b.s
	}
	return m <= b.s
}

// rankRange normalizes an index range as Redis does for LTRIM, ZRANGE and
// ZREMRANGEBYRANK; ok is false when it selects nothing.
func rankRange(start, end, n int64) (int64, int64, bool) {
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start = max(start, 0)
	if start > end || start >= n {
		return 0, 0, false
	}
	return start, min(end, n-1), true
}

func cmdZRemRange(c *cmd) error {
	name := c.args[0]
	var keep func(i int, m zmember) bool
	switch {
	case ascii(name, "zremrangebyrank"):
		start, err := argInt(c.args[2])
		if err != nil {
			return err
		}
		end, err := argInt(c.args[3])
		if err != nil {
			return err
		}
		o, err := c.lookupType(c.args[1], rdb.TypeZSet)
		if err != nil || o == nil {
			return err
		}
		s, e, ok := rankRange(start, end, int64(len(o.zset)))
		if !ok {
			return nil
		}
		keep = func(i int, _ zmember) bool { return int64(i) < s || int64(i) > e }
		return zremWhere(c, o, keep)
	case ascii(name, "zremrangebyscore"):
		var r scoreRange
		if err := r.parse(c.args[2], c.args[3]); err != nil {
			return err
		}
		keep = func(_ int, m zmember) bool { return !r.in(m.score) }
	default:
		lo, ok1 := parseLexBound(c.args[2])
		hi, ok2 := parseLexBound(c.args[3])
		if !ok1 || !ok2 {
			return rejectf("min or max not valid string range item")
		}
		keep = func(_ int, m zmember) bool { return !(lo.gteMin(m.member) && hi.lteMax(m.member)) }
	}
	o, err := c.lookupType(c.args[1], rdb.TypeZSet)
	if err != nil || o == nil {
		return err
	}
	return zremWhere(c, o, keep)
}

func zremWhere(c *cmd, o *object, keep func(int, zmember) bool) error {
	for i, m := range zsorted(o.zset) {
		if !keep(i, m) {
			delete(o.zset, m.member)
		}
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

func cmdZPop(c *cmd) error {
	count, err := popCount(c)
	if err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeZSet)
	if err != nil || o == nil || count == 0 {
		return err
	}
	s := zsorted(o.zset)
	if ascii(c.args[0], "zpopmax") {
		for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
			s[i], s[j] = s[j], s[i]
		}
	}
	for _, m := range s[:min(count, int64(len(s)))] {
		delete(o.zset, m.member)
	}
	c.dropIfEmpty(c.args[1], o)
	return nil
}

// zsrc is an input of ZUNIONSTORE, ZINTERSTORE or ZDIFFSTORE.
type zsrc struct {
	o      *object
	weight float64
}

func (s *zsrc) len() int {
	switch {
	case s.o == nil:
		return 0
	case s.o.typ == rdb.TypeSet:
		return len(s.o.set)
	}
	return len(s.o.zset)
}

func (s *zsrc) score(m string) (float64, bool) {
	switch {
	case s.o == nil:
		return 0, false
	case s.o.typ == rdb.TypeSet:
		_, ok := s.o.set[m]
		return 1, ok
	}
	f, ok := s.o.zset[m]
	return f, ok
}

// each walks the input in a fixed order (score, then member).
func (s *zsrc) each(fn func(m string, score float64)) {
	switch {
	case s.o == nil:
	case s.o.typ == rdb.TypeSet:
		for _, m := range sortedKeys(s.o.set) {
			fn(m, 1)
		}
	default:
		for _, m := range zsorted(s.o.zset) {
			fn(m.member, m.score)
		}
	}
}

func cmdZStore(c *cmd) error {
	name := bytes.ToLower(c.args[0])
	diff, inter := string(name) == "zdiffstore", string(name) == "zinterstore"
	n, ok := parseInt(c.args[2])
	if !ok {
		return errNotInt
	}
	if n < 1 {
		return rejectf("at least 1 input key is needed for '%s' command", name)
	}
	if n > int64(len(c.args)-3) {
		return errSyntax
	}
	srcs := make([]zsrc, n)
	for i := range srcs {
		o := c.lookup(c.args[3+i])
		if o != nil && o.typ != rdb.TypeZSet && o.typ != rdb.TypeSet {
			return errWrongType
		}
		srcs[i] = zsrc{o: o, weight: 1}
	}
	const (
		sum = iota
		aggMin
		aggMax
	)
	agg := sum
	for j := 3 + int(n); j < len(c.args); {
		remaining := len(c.args) - j
		switch a := c.args[j]; {
		case !diff && remaining >= int(n)+1 && ascii(a, "weights"):
			j++
			for i := range srcs {
				f, ok := parseFloat(c.args[j])
				if !ok {
					return rejectf("weight value is not a float")
				}
				srcs[i].weight = f
				j++
			}
		case !diff && remaining >= 2 && ascii(a, "aggregate"):
			switch b := c.args[j+1]; {
			case ascii(b, "sum"):
				agg = sum
			case ascii(b, "min"):
				agg = aggMin
			case ascii(b, "max"):
				agg = aggMax
			default:
				return errSyntax
			}
			j += 2
		default:
			return errSyntax
		}
	}
	aggregate := func(target *float64, v float64) {
		switch agg {
		case sum:
			*target += v
			if math.IsNaN(*target) {
				*target = 0
			}
		case aggMin:
			if v < *target {
				*target = v
			}
		case aggMax:
			if v > *target {
				*target = v
			}
		}
	}
	if !diff {
		sort.SliceStable(srcs, func(i, j int) bool { return srcs[i].len() < srcs[j].len() })
	}
	res := map[string]float64{}
	switch {
	case inter:
		if srcs[0].len() > 0 {
			srcs[0].each(func(m string, sc float64) {
				score := srcs[0].weight * sc
				if math.IsNaN(score) {
					score = 0
				}
				for _, s := range srcs[1:] {
					v, ok := s.score(m)
					if !ok {
						return
					}
					aggregate(&score, v*s.weight)
				}
				res[m] = score
			})
		}
	case diff:
		srcs[0].each(func(m string, sc float64) {
			for _, s := range srcs[1:] {
				if _, ok := s.score(m); ok {
					return
				}
			}
			res[m] = sc
		})
	default:
		for i := range srcs {
			srcs[i].each(func(m string, sc float64) {
				score := srcs[i].weight * sc
				if math.IsNaN(score) {
					score = 0
				}
				if cur, ok := res[m]; ok {
					aggregate(&cur, score)
					res[m] = cur
				} else {
					res[m] = score
				}
			})
		}
	}
	c.del(c.args[1])
	if len(res) > 0 {
		o := newObject(rdb.TypeZSet)
		o.zset = res
		c.set(c.args[1], o)
	}
	return nil
}

// cmdZRangeStore is ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV]
// [LIMIT offset count].
func cmdZRangeStore(c *cmd) error {
	var byScore, byLex, rev, limited bool
	offset, limit := int64(0), int64(-1)
	for j := 5; j < len(c.args); j++ {
		switch a := c.args[j]; {
		case ascii(a, "withscores"):
			return errSyntax
		case ascii(a, "limit") && j+2 < len(c.args):
			var err error
			if offset, err = argInt(c.args[j+1]); err != nil {
				return err
			}
			if limit, err = argInt(c.args[j+2]); err != nil {
				return err
			}
			limited = true
			j += 2
		case ascii(a, "rev"):
			rev = true
		case ascii(a, "bylex") && !byScore:
			byLex = true
		case ascii(a, "byscore") && !byLex:
			byScore = true
		default:
			return errSyntax
		}
	}
	if limited && !byScore && !byLex {
		return rejectf("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
	}
	minArg, maxArg := c.args[3], c.args[4]
	if rev && (byScore || byLex) {
		minArg, maxArg = maxArg, minArg
	}
	var pick func(s []zmember) []zmember
	switch {
	case byScore:
		var r scoreRange
		if err := r.parse(minArg, maxArg); err != nil {
			return err
		}
		pick = func(s []zmember) []zmember {
			var out []zmember
			for _, m := range s {
				if r.in(m.score) {
					out = append(out, m)
				}
			}
			return out
		}
	case byLex:
		lo, ok1 := parseLexBound(minArg)
		hi, ok2 := parseLexBound(maxArg)
		if !ok1 || !ok2 {
			return rejectf("min or max not valid string range item")
		}
		pick = func(s []zmember) []zmember {
			var out []zmember
			for _, m := range s {
				if lo.gteMin(m.member) && hi.lteMax(m.member) {
					out = append(out, m)
				}
			}
			return out
		}
	default:
		start, err := argInt(minArg)
		if err != nil {
			return err
		}
		end, err := argInt(maxArg)
		if err != nil {
			return err
		}
		pick = func(s []zmember) []zmember {
			st, e, ok := rankRange(start, end, int64(len(s)))
			if !ok {
				return nil
			}
			return s[st : e+1]
		}
	}
	src, err := c.lookupType(c.args[2], rdb.TypeZSet)
	if err != nil {
		return err
	}
	var out []zmember
	if src != nil {
		s := zsorted(src.zset)
		if rev {
			for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
				s[i], s[j] = s[j], s[i]
			}
		}
		out = pick(s)
		if byScore || byLex {
			switch {
			case offset < 0:
				out = nil
			case offset >= int64(len(out)):
				out = nil
			default:
				out = out[offset:]
				if limit >= 0 && limit < int64(len(out)) {
					out = out[:limit]
				}
			}
		}
	}
	c.del(c.args[1])
	if len(out) > 0 {
		o := newObject(rdb.TypeZSet)
		for _, m := range out {
			o.zset[m.member] = m.score
		}
		c.set(c.args[1], o)
	}
	return nil
}
