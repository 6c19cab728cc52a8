package aof

import (
	"bytes"
	"math"
	"slices"
	"strconv"

	"github.com/redkit/redkit/rdb"
)

// Stream commands (t_stream.c), with the metadata Redis keeps: last,
// first and maximal deleted IDs, entries added, and consumer groups with
// their entries-read counters, pending entries and consumers.

type streamEntry struct {
	id     rdb.StreamID
	fields [][]byte
}

type streamValue struct {
	entries      []streamEntry // by ID
	lastID       rdb.StreamID
	firstID      rdb.StreamID
	maxDeletedID rdb.StreamID
	entriesAdded uint64
	groups       map[string]*streamGroup
}

type streamGroup struct {
	lastID      rdb.StreamID
	entriesRead int64 // -1: unknown
	pel         map[rdb.StreamID]*nack
	consumers   map[string]*streamConsumer
}

type nack struct {
	deliveryTime int64
	count        uint64
	consumer     string
}

type streamConsumer struct {
	seenTime, activeTime int64
}

func cmpID(a, b rdb.StreamID) int {
	switch {
	case a.Ms < b.Ms:
		return -1
	case a.Ms > b.Ms:
		return 1
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

func (s *streamValue) clone() *streamValue {
	c := *s
	c.entries = slices.Clone(s.entries)
	c.groups = nil
	for name, g := range s.groups {
		ng := &streamGroup{lastID: g.lastID, entriesRead: g.entriesRead, pel: map[rdb.StreamID]*nack{}, consumers: map[string]*streamConsumer{}}
		for id, n := range g.pel {
			cp := *n
			ng.pel[id] = &cp
		}
		for cn, cs := range g.consumers {
			cp := *cs
			ng.consumers[cn] = &cp
		}
		c.group(name, ng)
	}
	return &c
}

func (s *streamValue) group(name string, g *streamGroup) {
	if s.groups == nil {
		s.groups = map[string]*streamGroup{}
	}
	s.groups[name] = g
}

func (s *streamValue) loadInfo(info *rdb.StreamInfo) {
	s.lastID, s.firstID, s.maxDeletedID, s.entriesAdded = info.LastID, info.FirstID, info.MaxDeletedID, info.EntriesAdded
	for _, g := range info.Groups {
		ng := &streamGroup{lastID: g.LastID, entriesRead: g.EntriesRead, pel: map[rdb.StreamID]*nack{}, consumers: map[string]*streamConsumer{}}
		for _, c := range g.Consumers {
			ng.consumers[c.Name] = &streamConsumer{seenTime: c.SeenTime, activeTime: c.ActiveTime}
		}
		for _, p := range g.Pending {
			ng.pel[p.ID] = &nack{deliveryTime: p.DeliveryTime, count: p.DeliveryCount, consumer: p.Consumer}
		}
		s.group(g.Name, ng)
	}
}

// info returns the metadata as rdb.StreamInfo, groups, consumers and
// pending entries sorted as Redis's radix trees keep them.
func (s *streamValue) info() *rdb.StreamInfo {
	info := &rdb.StreamInfo{
		Length: uint64(len(s.entries)), LastID: s.lastID, FirstID: s.firstID,
		MaxDeletedID: s.maxDeletedID, EntriesAdded: s.entriesAdded,
	}
	for _, name := range sortedKeys(s.groups) {
		g := s.groups[name]
		sg := rdb.StreamGroup{Name: name, LastID: g.lastID, EntriesRead: g.entriesRead}
		ids := make([]rdb.StreamID, 0, len(g.pel))
		for id := range g.pel {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, cmpID)
		for _, id := range ids {
			n := g.pel[id]
			sg.Pending = append(sg.Pending, rdb.PendingEntry{ID: id, DeliveryTime: n.deliveryTime, DeliveryCount: n.count, Consumer: n.consumer})
		}
		for _, cn := range sortedKeys(g.consumers) {
			cs := g.consumers[cn]
			sg.Consumers = append(sg.Consumers, rdb.StreamConsumer{Name: cn, SeenTime: cs.seenTime, ActiveTime: cs.activeTime})
		}
		info.Groups = append(info.Groups, sg)
	}
	return info
}

func (s *streamValue) find(id rdb.StreamID) (int, bool) {
	return slices.BinarySearchFunc(s.entries, id, func(e streamEntry, id rdb.StreamID) int { return cmpID(e.id, id) })
}

func (s *streamValue) updateFirst() {
	if len(s.entries) == 0 {
		s.firstID = rdb.StreamID{}
	} else {
		s.firstID = s.entries[0].id
	}
}

var errInvalidID = rejectf("Invalid stream ID specified as stream command argument")

// parseID parses "ms-seq" or "ms" (seq missing: missingSeq) for the
// strict parser: "-" and "+" are refused. seqGiven is false for "ms"
// and "ms-*".
func parseID(b []byte, missingSeq uint64) (id rdb.StreamID, seqGiven bool, err error) {
	if len(b) > 127 || len(b) == 0 || string(b) == "-" || string(b) == "+" {
		return id, false, errInvalidID
	}
	ms, seq, dash := bytes.Cut(b, []byte("-"))
	m, err1 := strconv.ParseUint(string(ms), 10, 64)
	if err1 != nil {
		return id, false, errInvalidID
	}
	id.Ms = m
	switch {
	case !dash:
		id.Seq = missingSeq
		return id, false, nil
	case string(seq) == "*":
		return id, false, nil
	}
	sq, err2 := strconv.ParseUint(string(seq), 10, 64)
	if err2 != nil {
		return id, false, errInvalidID
	}
	id.Seq = sq
	return id, true, nil
}

// trimArgs are the MAXLEN/MINID options of XADD and XTRIM.
type trimArgs struct {
	strategy int // 0 none, 1 maxlen, 2 minid
	maxlen   int64
	minid    rdb.StreamID
	approx   bool
	limit    bool
}

// parseAddOrTrim parses options from args[2:] as
// streamParseAddOrTrimArgsOrReply does; for XADD it returns the index of
// the ID argument.
func parseAddOrTrim(args [][]byte, xadd bool) (t trimArgs, nomk bool, idpos int, err error) {
	i := 2
	for ; i < len(args); i++ {
		more := len(args) - 1 - i
		a := args[i]
		switch {
		case xadd && string(a) == "*":
			return t, nomk, i, unsupportedf("XADD with an automatic ID (*) depends on the clock")
		case ascii(a, "maxlen") && more > 0, ascii(a, "minid") && more > 0:
			if t.strategy != 0 {
				return t, nomk, 0, rejectf("syntax error, MAXLEN and MINID options at the same time are not compatible")
			}
			t.approx = false
			next := args[i+1]
			if (string(next) == "~" || string(next) == "=") && more >= 2 {
				t.approx = string(next) == "~"
				i++
			}
			if ascii(a, "maxlen") {
				n, err := argInt(args[i+1])
				if err != nil {
					return t, nomk, 0, err
				}
				if n < 0 {
					return t, nomk, 0, rejectf("The MAXLEN argument must be >= 0.")
				}
				t.strategy, t.maxlen = 1, n
			} else {
				id, _, err := parseID(args[i+1], 0)
				if err != nil {
					return t, nomk, 0, err
				}
				t.strategy, t.minid = 2, id
			}
			i++
		case ascii(a, "limit") && more > 0:
			n, ok := parseInt(args[i+1])
			if !ok || n < 0 {
				return t, nomk, 0, rejectf("The LIMIT argument must be >= 0.")
			}
			t.limit = true
			i++
		case xadd && ascii(a, "nomkstream"):
			nomk = true
		case xadd:
			return t, nomk, i, nil
		default:
			return t, nomk, 0, errSyntax
		}
	}
	if xadd {
		return t, nomk, 0, rejectf("wrong number of arguments for 'xadd' command")
	}
	return t, nomk, i, nil
}

func (t *trimArgs) check() error {
	if t.limit && !t.approx {
		return rejectf("syntax error, LIMIT cannot be used without the special ~ option")
	}
	if t.approx {
		return unsupportedf("approximate trimming (~) depends on the stream's node layout; Redis 7 writes it as exact (=) to AOFs")
	}
	return nil
}

// trim removes entries as exact trimming does; max-deleted-id is not
// touched.
func (s *streamValue) trim(t *trimArgs) {
	n := 0
	switch t.strategy {
	case 1:
		if int64(len(s.entries)) > t.maxlen {
			n = len(s.entries) - int(t.maxlen)
		}
	case 2:
		n, _ = s.find(t.minid)
	default:
		return
	}
	if n > 0 {
		s.entries = slices.Delete(s.entries, 0, n)
	}
	if len(s.entries) == 0 || n > 0 {
		s.updateFirst()
	}
}

func cmdXAdd(c *cmd) error {
	t, nomk, idpos, err := parseAddOrTrim(c.args, true)
	if err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	fieldPos := idpos + 1
	if n := len(c.args) - fieldPos; n < 2 || n%2 == 1 {
		return rejectf("wrong number of arguments for 'xadd' command")
	}
	id, seqGiven, err := parseID(c.args[idpos], 0)
	if err != nil {
		return err
	}
	if seqGiven && id.Ms == 0 && id.Seq == 0 {
		return rejectf("The ID specified in XADD must be greater than 0-0")
	}
	o, err := c.lookupType(c.args[1], rdb.TypeStream)
	if err != nil {
		return err
	}
	if o == nil {
		if nomk {
			return nil
		}
		o = newObject(rdb.TypeStream)
	}
	s := o.stream
	if s.lastID.Ms == math.MaxUint64 && s.lastID.Seq == math.MaxUint64 {
		return rejectf("The stream has exhausted the last possible ID, unable to add more items")
	}
	edom := rejectf("The ID specified in XADD is equal or smaller than the target stream top item")
	if seqGiven {
		if cmpID(id, s.lastID) <= 0 {
			return edom
		}
	} else {
		switch {
		case id.Ms == s.lastID.Ms:
			if s.lastID.Seq == math.MaxUint64 {
				return edom
			}
			id.Seq = s.lastID.Seq + 1
		case id.Ms > s.lastID.Ms:
			id.Seq = 0
		default:
			return edom
		}
	}
	fields := make([][]byte, 0, len(c.args)-fieldPos)
	for _, f := range c.args[fieldPos:] {
		fields = append(fields, bytes.Clone(f))
	}
	s.entries = append(s.entries, streamEntry{id: id, fields: fields})
	s.entriesAdded++
	s.lastID = id
	if len(s.entries) == 1 {
		s.firstID = id
	}
	c.set(c.args[1], o)
	s.trim(&t)
	return nil
}

func cmdXTrim(c *cmd) error {
	t, _, _, err := parseAddOrTrim(c.args, false)
	if err != nil {
		return err
	}
	if t.strategy == 0 {
		return rejectf("syntax error, XTRIM must be called with a trimming strategy")
	}
	if err := t.check(); err != nil {
		return err
	}
	o, err := c.lookupType(c.args[1], rdb.TypeStream)
	if err != nil || o == nil {
		return err
	}
	o.stream.trim(&t)
	return nil
}

func parseIDs(args [][]byte) ([]rdb.StreamID, error) {
	ids := make([]rdb.StreamID, len(args))
	for i, a := range args {
		id, _, err := parseID(a, 0)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func cmdXDel(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeStream)
	if err != nil || o == nil {
		return err
	}
	ids, err := parseIDs(c.args[2:])
	if err != nil {
		return err
	}
	s := o.stream
	deleted, first := 0, false
	for _, id := range ids {
		i, ok := s.find(id)
		if !ok {
			continue
		}
		s.entries = slices.Delete(s.entries, i, i+1)
		if cmpID(id, s.firstID) == 0 {
			first = true
		}
		if cmpID(id, s.maxDeletedID) > 0 {
			s.maxDeletedID = id
		}
		deleted++
	}
	if deleted > 0 && (len(s.entries) == 0 || first) {
		s.updateFirst()
	}
	return nil
}

func cmdXSetID(c *cmd) error {
	id, _, err := parseID(c.args[2], 0)
	if err != nil {
		return err
	}
	added := int64(-1)
	var maxDel rdb.StreamID
	for i := 3; i < len(c.args); i += 2 {
		more := len(c.args) - 1 - i
		switch a := c.args[i]; {
		case ascii(a, "entriesadded") && more > 0:
			n, err := argInt(c.args[i+1])
			if err != nil {
				return err
			}
			if n < 0 {
				return rejectf("entries_added must be positive")
			}
			added = n
		case ascii(a, "maxdeletedid") && more > 0:
			if maxDel, _, err = parseID(c.args[i+1], 0); err != nil {
				return err
			}
			if cmpID(id, maxDel) < 0 {
				return rejectf("The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
			}
		default:
			return errSyntax
		}
	}
	o, err := c.lookupType(c.args[1], rdb.TypeStream)
	if err != nil {
		return err
	}
	if o == nil {
		return rejectf("no such key")
	}
	s := o.stream
	if n := len(s.entries); n > 0 {
		if cmpID(id, s.entries[n-1].id) < 0 {
			return rejectf("The ID specified in XSETID is smaller than the target stream top item")
		}
		if added != -1 && int64(n) > added {
			return rejectf("The entries_added specified in XSETID is smaller than the target stream length")
		}
	}
	s.lastID = id
	if added != -1 {
		s.entriesAdded = uint64(added)
	}
	if maxDel != (rdb.StreamID{}) {
		s.maxDeletedID = maxDel
	}
	return nil
}

func cmdXGroup(c *cmd) error {
	sub := c.args[1]
	if len(c.args) < 4 {
		return rejectf("unknown subcommand or wrong number of arguments for '%s'", sub)
	}
	mkstream := false
	entriesRead := int64(-1)
	create, setid := ascii(sub, "create"), ascii(sub, "setid")
	for i := 5; i < len(c.args); {
		switch a := c.args[i]; {
		case create && ascii(a, "mkstream"):
			mkstream = true
			i++
		case (create || setid) && ascii(a, "entriesread") && i+1 < len(c.args):
			n, err := argInt(c.args[i+1])
			if err != nil {
				return err
			}
			if n < 0 && n != -1 {
				return rejectf("value for ENTRIESREAD must be positive or -1")
			}
			entriesRead = n
			i += 2
		default:
			return rejectf("unknown subcommand or wrong number of arguments for '%s'", sub)
		}
	}
	o, err := c.lookupType(c.args[2], rdb.TypeStream)
	if err != nil {
		return err
	}
	name := string(c.args[3])
	var g *streamGroup
	if !mkstream {
		if o == nil {
			return rejectf("The XGROUP subcommand requires the key to exist")
		}
		g = o.stream.groups[name]
		if g == nil && (setid || ascii(sub, "createconsumer") || ascii(sub, "delconsumer")) {
			return rejectf("NOGROUP No such consumer group '%s' for key name '%s'", name, c.args[2])
		}
	}
	n := len(c.args)
	switch {
	case create && n >= 5 && n <= 8:
		var id rdb.StreamID
		if string(c.args[4]) == "$" {
			if o != nil {
				id = o.stream.lastID
			}
		} else if id, _, err = parseID(c.args[4], 0); err != nil {
			return err
		}
		if o == nil {
			o = newObject(rdb.TypeStream)
			c.set(c.args[2], o)
		}
		if o.stream.groups[name] != nil {
			return rejectf("BUSYGROUP Consumer Group name already exists")
		}
		o.stream.group(name, &streamGroup{lastID: id, entriesRead: entriesRead, pel: map[rdb.StreamID]*nack{}, consumers: map[string]*streamConsumer{}})
	case setid && (n == 5 || n == 7):
		var id rdb.StreamID
		if string(c.args[4]) == "$" {
			id = o.stream.lastID
		} else if id, _, err = parseIDLoose(c.args[4]); err != nil {
			return err
		}
		g.lastID, g.entriesRead = id, entriesRead
	case ascii(sub, "destroy") && n == 4:
		delete(o.stream.groups, name)
	case ascii(sub, "createconsumer") && n == 5:
		cn := string(c.args[4])
		if g.consumers[cn] == nil {
			now := c.clock()
			g.consumers[cn] = &streamConsumer{seenTime: now, activeTime: now}
		}
	case ascii(sub, "delconsumer") && n == 5:
		cn := string(c.args[4])
		if g.consumers[cn] != nil {
			for id, p := range g.pel {
				if p.consumer == cn {
					delete(g.pel, id)
				}
			}
			delete(g.consumers, cn)
		}
	default:
		return rejectf("unknown subcommand or wrong number of arguments for '%s'", sub)
	}
	return nil
}

// parseIDLoose is the non-strict parser: "-" and "+" are the minimal and
// maximal IDs.
func parseIDLoose(b []byte) (rdb.StreamID, bool, error) {
	switch string(b) {
	case "-":
		return rdb.StreamID{}, true, nil
	case "+":
		return rdb.StreamID{Ms: math.MaxUint64, Seq: math.MaxUint64}, true, nil
	}
	return parseID(b, 0)
}

func cmdXAck(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeStream)
	if err != nil || o == nil {
		return err
	}
	g := o.stream.groups[string(c.args[2])]
	if g == nil {
		return nil
	}
	ids, err := parseIDs(c.args[3:])
	if err != nil {
		return err
	}
	for _, id := range ids {
		delete(g.pel, id)
	}
	return nil
}

// cmdXClaim is XCLAIM as Redis propagates it (TIME, RETRYCOUNT, FORCE,
// JUSTID, LASTID) and as clients send it (IDLE, a minimal idle time),
// the latter needing a clock.
func cmdXClaim(c *cmd) error {
	o, err := c.lookupType(c.args[1], rdb.TypeStream)
	if err != nil {
		return err
	}
	var g *streamGroup
	if o != nil {
		g = o.stream.groups[string(c.args[2])]
	}
	if g == nil {
		return rejectf("NOGROUP No such key '%s' or consumer group '%s'", c.args[1], c.args[2])
	}
	minidle, ok := parseInt(c.args[4])
	if !ok {
		return rejectf("Invalid min-idle-time argument for XCLAIM")
	}
	minidle = max(minidle, 0)
	var ids []rdb.StreamID
	j := 5
	for ; j < len(c.args); j++ {
		id, _, err := parseID(c.args[j], 0)
		if err != nil {
			break
		}
		ids = append(ids, id)
	}
	retry, delivery := int64(-1), int64(-1)
	var force, justid bool
	var lastID rdb.StreamID
	idle := false
	for ; j < len(c.args); j++ {
		more := len(c.args) - 1 - j
		switch a := c.args[j]; {
		case ascii(a, "force"):
			force = true
		case ascii(a, "justid"):
			justid = true
		case ascii(a, "idle") && more > 0:
			n, ok := parseInt(c.args[j+1])
			if !ok {
				return rejectf("Invalid IDLE option argument for XCLAIM")
			}
			delivery, idle = n, true
			j++
		case ascii(a, "time") && more > 0:
			n, ok := parseInt(c.args[j+1])
			if !ok {
				return rejectf("Invalid TIME option argument for XCLAIM")
			}
			delivery, idle = n, false
			j++
		case ascii(a, "retrycount") && more > 0:
			n, ok := parseInt(c.args[j+1])
			if !ok {
				return rejectf("Invalid RETRYCOUNT option argument for XCLAIM")
			}
			retry = n
			j++
		case ascii(a, "lastid") && more > 0:
			if lastID, _, err = parseID(c.args[j+1], 0); err != nil {
				return err
			}
			j++
		default:
			return rejectf("Unrecognized XCLAIM option '%s'", a)
		}
	}
	// The current time is needed for IDLE, a minimal idle time, and a
	// claim without TIME; a TIME is taken as is (Redis clamps it to its
	// own clock, which is later than any time the AOF recorded).
	needNow := idle || minidle > 0 || delivery < 0
	var now int64
	if needNow {
		if now, err = c.now(); err != nil {
			return err
		}
	}
	if idle {
		delivery = now - delivery
	}
	if delivery < 0 {
		delivery = now
	}
	if cmpID(lastID, g.lastID) > 0 {
		g.lastID = lastID
	}
	name := string(c.args[3])
	s := o.stream
	for _, id := range ids {
		p := g.pel[id]
		if _, ok := s.find(id); !ok {
			delete(g.pel, id)
			continue
		}
		if p == nil {
			if !force {
				continue
			}
			p = &nack{deliveryTime: c.clock(), count: 1}
			g.pel[id] = p
		} else if minidle > 0 && now-p.deliveryTime < minidle {
			continue
		}
		if g.consumers[name] == nil {
			cl := c.clock()
			g.consumers[name] = &streamConsumer{seenTime: cl, activeTime: cl}
		}
		p.consumer = name
		p.deliveryTime = delivery
		if retry >= 0 {
			p.count = uint64(retry)
		} else if !justid {
			p.count++
		}
	}
	return nil
}
