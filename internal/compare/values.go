package compare

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/rdb"
)

// readState is where the reading of one big value stands.
type readState struct {
	card   int64  // SCARD or HLEN when the read started
	cursor string // SSCAN or HSCAN cursor; "0" when done
	lastID rdb.StreamID
	groups []groupInfo
	full   bool // the first chunk was full: read on
}

type groupInfo struct{ name []byte }

// maxRescans is how many times a set or hash is read again when SSCAN or
// HSCAN returned a different number of elements than SCARD or HLEN.
const maxRescans = 3

func (n *node) send(a ...[]byte) { n.c.Send(a...) }

// sendFirst queues the commands reading the first chunk of a value.
func (n *node) sendFirst(typ string, k []byte) {
	chunk := []byte(strconv.Itoa(n.chunk))
	last := []byte(strconv.Itoa(n.chunk - 1))
	switch typ {
	case "none":
	case "string":
		n.send([]byte("GET"), k)
	case "list":
		n.send([]byte("LRANGE"), k, []byte("0"), last)
	case "zset":
		n.send([]byte("ZRANGE"), k, []byte("0"), last, []byte("WITHSCORES"))
	case "set":
		n.send([]byte("SCARD"), k)
		n.send([]byte("SSCAN"), k, []byte("0"), []byte("COUNT"), chunk)
	case "hash":
		n.send([]byte("HLEN"), k)
		if !n.fieldTTL {
			n.send([]byte("HSCAN"), k, []byte("0"), []byte("COUNT"), chunk)
		}
	case "stream":
		n.send([]byte("XINFO"), []byte("STREAM"), k)
		n.send([]byte("XINFO"), []byte("GROUPS"), k)
		n.send([]byte("XRANGE"), k, []byte("-"), []byte("+"), []byte("COUNT"), chunk)
	default:
		n.send([]byte("DUMP"), k)
	}
}

// receiveFirst reads the replies sendFirst asked for (all of them, even
// after an error) and digests them into e. It reports whether the value
// needs more reading (finish).
func (n *node) receiveFirst(typ string, k []byte, e *Entry, st *readState) (more bool, err error) {
	nrep := 1
	switch typ {
	case "set":
		nrep = 2
	case "hash":
		nrep = 2
		if n.fieldTTL {
			nrep = 1
		}
	case "stream":
		nrep = 3
	}
	reps := make([]aof.Value, nrep)
	var errs []error
	for i := range reps {
		v, err := n.c.Receive()
		if err != nil {
			if n.c.Err() != nil {
				return false, err
			}
			errs = append(errs, err)
		}
		reps[i] = v
	}
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	h := n.h
	switch typ {
	case "string":
		e.Type, e.Count, e.Digest = rdb.TypeString, 1, h.String(reps[0].Str)
	case "list":
		e.Type = rdb.TypeList
		n.addList(e, reps[0])
		return len(reps[0].Elems) == n.chunk, nil
	case "zset":
		e.Type = rdb.TypeZSet
		if err := n.addZSet(e, reps[0]); err != nil {
			return false, err
		}
		return len(reps[0].Elems) == 2*n.chunk, nil
	case "set", "hash":
		e.Type = rdb.TypeSet
		if typ == "hash" {
			e.Type = rdb.TypeHash
		}
		st.card = reps[0].Int
		if n.fieldTTL && typ == "hash" {
			st.cursor = cursorStart
			return true, nil
		}
		if err := n.addScan(e, st, reps[1]); err != nil {
			return false, err
		}
		return st.cursor != "0" || e.Count != st.card, nil
	case "stream":
		e.Type = rdb.TypeStream
		if err := n.streamMeta(e, st, reps[0], reps[1]); err != nil {
			return false, err
		}
		if err := n.addStream(e, st, reps[2]); err != nil {
			return false, err
		}
		return st.full || len(st.groups) > 0, nil
	default:
		e.Type, e.Count = rdb.TypeModule, 1
		if reps[0].Null || len(reps[0].Str) < 10 {
			return false, fmt.Errorf("DUMP gave no payload")
		}
		e.Digest = h.Module(reps[0].Str[:len(reps[0].Str)-10])
	}
	return false, nil
}

func (n *node) addList(e *Entry, v aof.Value) {
	for _, it := range v.Elems {
		e.Digest.add(n.h.ListItem(e.Count, it.Str))
		e.Count++
	}
}

func (n *node) addZSet(e *Entry, v aof.Value) error {
	if len(v.Elems)%2 != 0 {
		return fmt.Errorf("ZRANGE WITHSCORES: odd reply")
	}
	for i := 0; i < len(v.Elems); i += 2 {
		score, err := parseScore(v.Elems[i+1])
		if err != nil {
			return err
		}
		e.Digest.add(n.h.ZSetMember(v.Elems[i].Str, score))
		e.Count++
	}
	return nil
}

func parseScore(v aof.Value) (float64, error) {
	if v.Kind == aof.Double {
		return v.Float, nil
	}
	f, err := strconv.ParseFloat(string(v.Str), 64)
	if err != nil {
		return 0, fmt.Errorf("score %q: %w", v.Str, err)
	}
	return f, nil
}

// addScan digests one SSCAN or HSCAN reply.
func (n *node) addScan(e *Entry, st *readState, v aof.Value) error {
	if len(v.Elems) != 2 {
		return fmt.Errorf("malformed SCAN reply")
	}
	st.cursor = string(v.Elems[0].Str)
	items := v.Elems[1].Elems
	if e.Type == rdb.TypeSet {
		for _, m := range items {
			e.Digest.add(n.h.SetMember(m.Str))
			e.Count++
		}
		return nil
	}
	if len(items)%2 != 0 {
		return fmt.Errorf("HSCAN: odd reply")
	}
	for i := 0; i < len(items); i += 2 {
		e.Digest.add(n.h.HashField(items[i].Str, items[i+1].Str, rdb.NoExpiry))
		e.Count++
	}
	return nil
}

// finish reads the rest of a value whose first chunk was not all of it.
func (n *node) finish(ctx context.Context, k []byte, e *Entry, st *readState) error {
	chunk := strconv.Itoa(n.chunk)
	switch e.Type {
	case rdb.TypeList, rdb.TypeZSet:
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			start := e.Count
			a := [][]byte{[]byte("LRANGE"), k, []byte(strconv.FormatInt(start, 10)), []byte(strconv.FormatInt(start+int64(n.chunk)-1, 10))}
			if e.Type == rdb.TypeZSet {
				a[0] = []byte("ZRANGE")
				a = append(a, []byte("WITHSCORES"))
			}
			v, err := n.c.Do(a...)
			if err != nil {
				return err
			}
			got := len(v.Elems)
			if e.Type == rdb.TypeList {
				n.addList(e, v)
			} else {
				got /= 2
				if err := n.addZSet(e, v); err != nil {
					return err
				}
			}
			if got < n.chunk {
				return nil
			}
		}
	case rdb.TypeSet, rdb.TypeHash:
		return n.finishScan(ctx, k, e, st, chunk)
	case rdb.TypeStream:
		return n.finishStream(ctx, k, e, st, chunk)
	}
	return nil
}

func (n *node) finishScan(ctx context.Context, k []byte, e *Entry, st *readState, chunk string) error {
	scan, card := "SSCAN", "SCARD"
	if e.Type == rdb.TypeHash {
		scan, card = "HSCAN", "HLEN"
	}
	for attempt := 1; ; attempt++ {
		for st.cursor != "0" {
			if err := ctx.Err(); err != nil {
				return err
			}
			cur := st.cursor
			if cur == cursorStart {
				cur = "0"
			}
			v, err := n.c.Do([]byte(scan), k, []byte(cur), []byte("COUNT"), []byte(chunk))
			if err != nil {
				return err
			}
			if n.fieldTTL && e.Type == rdb.TypeHash {
				err = n.addHashTTL(e, st, k, v)
			} else {
				err = n.addScan(e, st, v)
			}
			if err != nil {
				return err
			}
		}
		if e.Count == st.card {
			return nil
		}
		if attempt >= maxRescans {
			return fmt.Errorf("%s returned %d elements where %s says %d, %d times: is the key being written to?", scan, e.Count, card, st.card, maxRescans)
		}
		v, err := n.c.Do([]byte(card), k)
		if err != nil {
			return err
		}
		st.card, st.cursor = v.Int, cursorStart
		e.Count, e.Digest = 0, Digest{}
	}
}

// cursorStart is the cursor of a scan not yet started.
const cursorStart = "start"

// addHashTTL digests an HSCAN reply with the fields' expiries
// (HPEXPIRETIME, Redis 7.4+).
func (n *node) addHashTTL(e *Entry, st *readState, k []byte, v aof.Value) error {
	if len(v.Elems) != 2 || len(v.Elems[1].Elems)%2 != 0 {
		return fmt.Errorf("malformed HSCAN reply")
	}
	st.cursor = string(v.Elems[0].Str)
	items := v.Elems[1].Elems
	if len(items) == 0 {
		return nil
	}
	a := [][]byte{[]byte("HPEXPIRETIME"), k, []byte("FIELDS"), []byte(strconv.Itoa(len(items) / 2))}
	for i := 0; i < len(items); i += 2 {
		a = append(a, items[i].Str)
	}
	ttl, err := n.c.Do(a...)
	if err != nil {
		return fmt.Errorf("HPEXPIRETIME: %w", err)
	}
	if len(ttl.Elems) != len(items)/2 {
		return fmt.Errorf("HPEXPIRETIME: %d replies for %d fields", len(ttl.Elems), len(items)/2)
	}
	for i := 0; i < len(items); i += 2 {
		exp := ttl.Elems[i/2].Int
		if exp < 0 {
			exp = rdb.NoExpiry
		}
		e.Digest.add(n.h.HashField(items[i].Str, items[i+1].Str, exp))
		e.Count++
	}
	return nil
}

// fieldMap reads a flat array of names and values (RESP2) or a map.
func fieldMap(v aof.Value) map[string]aof.Value {
	m := make(map[string]aof.Value, len(v.Elems)/2)
	for i := 0; i+1 < len(v.Elems); i += 2 {
		m[string(v.Elems[i].Str)] = v.Elems[i+1]
	}
	return m
}

// parseStreamID parses "ms-seq" (a missing "-seq" is 0).
func parseStreamID(s []byte) (rdb.StreamID, error) {
	ms, seq, hasSeq := strings.Cut(string(s), "-")
	var id rdb.StreamID
	var err error
	if id.Ms, err = strconv.ParseUint(ms, 10, 64); err != nil {
		return id, fmt.Errorf("bad stream ID %q", s)
	}
	if hasSeq {
		if id.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
			return id, fmt.Errorf("bad stream ID %q", s)
		}
	}
	return id, nil
}

func optID(m map[string]aof.Value, name string) (rdb.StreamID, error) {
	v, ok := m[name]
	if !ok || v.Null || len(v.Str) == 0 {
		return rdb.StreamID{}, nil
	}
	return parseStreamID(v.Str)
}

// streamMeta digests XINFO STREAM and XINFO GROUPS as streamMetaDigest
// digests a dump's StreamInfo; pending entries and consumers come in
// finishStream.
func (n *node) streamMeta(e *Entry, st *readState, info, groups aof.Value) error {
	m := fieldMap(info)
	last, err := optID(m, "last-generated-id")
	if err != nil {
		return err
	}
	first, err := optID(m, "recorded-first-entry-id")
	if err != nil {
		return err
	}
	maxDel, err := optID(m, "max-deleted-entry-id")
	if err != nil {
		return err
	}
	added := uint64(m["length"].Int)
	if v, ok := m["entries-added"]; ok {
		added = uint64(v.Int)
	}
	e.Meta = n.h.StreamMeta(last, first, maxDel, added)
	for _, g := range groups.Elems {
		gm := fieldMap(g)
		name := gm["name"].Str
		lastID, err := optID(gm, "last-delivered-id")
		if err != nil {
			return err
		}
		read := int64(-1)
		if v, ok := gm["entries-read"]; ok && !v.Null {
			read = v.Int
		}
		e.Meta.add(n.h.Group(name, lastID, read))
		st.groups = append(st.groups, groupInfo{name: name})
	}
	return nil
}

// addStream digests an XRANGE reply.
func (n *node) addStream(e *Entry, st *readState, v aof.Value) error {
	var fields [][]byte
	for _, ent := range v.Elems {
		if len(ent.Elems) != 2 {
			return fmt.Errorf("malformed XRANGE reply")
		}
		id, err := parseStreamID(ent.Elems[0].Str)
		if err != nil {
			return err
		}
		fields = fields[:0]
		for _, f := range ent.Elems[1].Elems {
			fields = append(fields, f.Str)
		}
		e.Digest.add(n.h.StreamEntry(id, fields))
		e.Count++
		st.lastID = id
	}
	st.full = len(v.Elems) == n.chunk
	return nil
}

func (n *node) finishStream(ctx context.Context, k []byte, e *Entry, st *readState, chunk string) error {
	for st.full {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := n.c.Do([]byte("XRANGE"), k, []byte("("+st.lastID.String()), []byte("+"), []byte("COUNT"), []byte(chunk))
		if err != nil {
			return err
		}
		if err := n.addStream(e, st, v); err != nil {
			return err
		}
	}
	for _, g := range st.groups {
		start := "-"
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := n.c.Do([]byte("XPENDING"), k, g.name, []byte(start), []byte("+"), []byte(chunk))
			if err != nil {
				return fmt.Errorf("XPENDING: %w", err)
			}
			for _, p := range v.Elems {
				if len(p.Elems) != 4 {
					return fmt.Errorf("malformed XPENDING reply")
				}
				id, err := parseStreamID(p.Elems[0].Str)
				if err != nil {
					return err
				}
				e.Meta.add(n.h.Pending(g.name, id, p.Elems[1].Str, uint64(p.Elems[3].Int)))
				start = "(" + id.String()
			}
			if len(v.Elems) < n.chunk {
				break
			}
		}
		v, err := n.c.Do([]byte("XINFO"), []byte("CONSUMERS"), k, g.name)
		if err != nil {
			return fmt.Errorf("XINFO CONSUMERS: %w", err)
		}
		for _, c := range v.Elems {
			e.Meta.add(n.h.Consumer(g.name, fieldMap(c)["name"].Str))
		}
	}
	return nil
}
