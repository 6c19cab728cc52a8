package rdb

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Element is one element of a value. Slices are valid only during the
// callback that receives it.
type Element struct {
	Member   []byte   // list item, set or zset member, hash field, the string of a string key
	Value    []byte   // hash value
	Score    float64  // zset score
	ExpireAt int64    // hash field expiry in Unix ms, or NoExpiry
	ID       StreamID // stream entry ID
	Fields   [][]byte // stream entry: field, value, field, value, ...
	// Array elements (Redis 8.8): Index is the element's index, Member
	// its value as text, Kind how Redis holds it.
	Index uint64
	Kind  ArrayKind
}

// StreamID is a stream entry ID.
type StreamID struct{ Ms, Seq uint64 }

// StreamInfo is a stream's metadata: what XINFO STREAM FULL shows beside
// the entries. Reader.Stream returns it after Elements walked a stream.
type StreamInfo struct {
	Length uint64 // entries in the stream
	LastID StreamID
	// FirstID is the first live entry's ID. Streams of the first format
	// (type 15, Redis 5 and 6) do not store it: it is computed as Redis 7
	// does on load (the first entry not deleted, in node order, or
	// 18446744073709551615-18446744073709551615 when there is none).
	FirstID      StreamID
	MaxDeletedID StreamID // zero for type 15 streams
	EntriesAdded uint64   // for type 15 streams, Length, as Redis assumes on load
	Groups       []StreamGroup
	// IDMP is the idempotent-producer state of Redis 8.6 and later (RDB
	// types 26 and 27); nil for older streams.
	IDMP *StreamIDMP
}

// StreamIDMP is a stream's idempotent-producer state (XADD IDMP, Redis
// 8.6): its settings, the idempotency IDs each producer sent recently
// with the entries they made, and two counters.
type StreamIDMP struct {
	Duration       uint64 // seconds an idempotency ID is kept
	MaxEntries     uint64 // idempotency IDs kept per producer
	Producers      []IDMPProducer
	IIDsAdded      uint64 // all-time count of idempotency IDs added
	IIDsDuplicates uint64 // all-time count of duplicates detected
}

// IDMPProducer is one producer's idempotency IDs, oldest first.
type IDMPProducer struct {
	PID     string
	Entries []IDMPEntry
}

// IDMPEntry is an idempotency ID and the stream entry it made.
type IDMPEntry struct {
	IID string
	ID  StreamID
}

// Defaults Redis gives a stream's IDMP settings (stream-idmp-duration,
// stream-idmp-maxsize); the Writer uses them for a stream of type 26 or
// 27 whose StreamInfo has no IDMP.
const (
	defaultIDMPDuration   = 100
	defaultIDMPMaxEntries = 100
)

// StreamGroup is a consumer group.
type StreamGroup struct {
	Name   string
	LastID StreamID // last delivered ID
	// EntriesRead is -1 when unknown. Type 15 streams do not store it:
	// it is estimated from the stream's metadata as Redis 7 does on load
	// (streamEstimateDistanceFromFirstEverEntry).
	EntriesRead int64
	Pending     []PendingEntry
	Consumers   []StreamConsumer
	// Nacked lists the pending entries released with XNACK (Redis 8.8,
	// RDB type 27), in the order of the group's NACK zone: they are in
	// Pending with no Consumer.
	Nacked []StreamID
}

// PendingEntry is an entry of a group's pending entries list.
type PendingEntry struct {
	ID            StreamID
	DeliveryTime  int64 // Unix ms of the last delivery
	DeliveryCount uint64
	Consumer      string // owner; "" for an entry in the NACK zone (Redis 8.8)
}

// StreamConsumer is a consumer of a group.
type StreamConsumer struct {
	Name       string
	SeenTime   int64 // Unix ms of its last attempted interaction
	ActiveTime int64 // Unix ms of its last successful interaction (RDB 11+; SeenTime before)
}

func (id StreamID) String() string { return fmt.Sprintf("%d-%d", id.Ms, id.Seq) }

func streamIDFrom(b []byte) StreamID {
	return StreamID{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

const (
	streamFlagDeleted    = 1
	streamFlagSameFields = 2
)

// walkStream reads the three stream encodings: listpack nodes keyed by
// master ID, then metadata, then consumer groups with their pending
// entries lists and consumers.
func (r *Reader) walkStream(fn func(*Element) error, t byte) error {
	r.stats.Encoding = EncodingStream
	nodes, err := r.readLength()
	if err != nil {
		return err
	}
	var master [16]byte
	// First live entry, for type 15 streams: in Redis's rax order, that
	// is the first live entry of the node with the lowest master ID.
	var first, firstNode StreamID
	hasFirst := false
	for i := uint64(0); i < nodes; i++ {
		k, err := r.readString(true, &r.scratch, &r.numBuf)
		if err != nil {
			return err
		}
		if k.n != 16 {
			return corruptf("stream node key of %d bytes, want 16", k.n)
		}
		copy(master[:], k.data)
		b, err := r.readBlob()
		if err != nil {
			return err
		}
		r.mem.streamNode(master, int64(len(b)), i+1 == nodes)
		mid := streamIDFrom(master[:])
		var id StreamID
		live := false
		if err := r.walkStreamListpack(fn, mid, b, &id, &live); err != nil {
			return err
		}
		if live && (!hasFirst || idLess(mid, firstNode)) {
			first, firstNode, hasFirst = id, mid, true
		}
	}
	// length, last ID; v2+: first ID, max deleted ID, entries added.
	nmeta := 3
	if t >= typeStreamListpacks2 {
		nmeta = 8
	}
	var meta [8]uint64
	for i := 0; i < nmeta; i++ {
		if meta[i], err = r.readLength(); err != nil {
			return err
		}
	}
	// The entry count stands for the stream's elements even when no
	// listpack entries were walked (all deleted, or metadata only).
	r.stats.Elements = int64(meta[0])
	// Metadata is kept only when the caller walks the elements.
	keep := fn != nil
	si := &r.stream
	if keep {
		*si = StreamInfo{
			Length: meta[0], LastID: StreamID{meta[1], meta[2]},
			FirstID: StreamID{meta[3], meta[4]}, MaxDeletedID: StreamID{meta[5], meta[6]}, EntriesAdded: meta[7],
			Groups: si.Groups[:0],
		}
		if t < typeStreamListpacks2 {
			si.EntriesAdded = si.Length // as Redis assumes for old streams
			si.FirstID = StreamID{math.MaxUint64, math.MaxUint64}
			if hasFirst {
				si.FirstID = first
			}
		}
	}
	groups, err := r.readLength()
	if err != nil {
		return err
	}
	for g := uint64(0); g < groups; g++ {
		gname, err := r.readString(keep, &r.scratch, &r.numBuf)
		if err != nil {
			return err
		}
		var group *StreamGroup
		if keep {
			si.Groups = append(si.Groups, StreamGroup{Name: string(gname.data), EntriesRead: -1})
			group = &si.Groups[len(si.Groups)-1]
		}
		var gm [3]uint64 // last delivered ID; v2+: entries read
		n := 2
		if t >= typeStreamListpacks2 {
			n = 3
		}
		for i := 0; i < n; i++ {
			if gm[i], err = r.readLength(); err != nil {
				return err
			}
		}
		pel, err := r.readLength()
		if err != nil {
			return err
		}
		if keep {
			group.LastID = StreamID{gm[0], gm[1]}
			if n == 3 {
				group.EntriesRead = int64(gm[2])
			} else {
				group.EntriesRead = si.estimateEntriesRead(group.LastID)
			}
		}
		r.mem.streamGroup()
		var owner map[StreamID]int // PEL index by ID, to set owners below
		if keep {
			owner = make(map[StreamID]int, min(pel, 1<<16))
		}
		for i := uint64(0); i < pel; i++ {
			b, err := r.in.next(16 + 8) // ID, delivery time
			if err != nil {
				return err
			}
			r.mem.streamPEL(b[:16])
			id, delivered := streamIDFrom(b), int64(binary.LittleEndian.Uint64(b[16:]))
			count, err := r.readLength()
			if err != nil {
				return err
			}
			if keep {
				owner[id] = len(group.Pending)
				group.Pending = append(group.Pending, PendingEntry{ID: id, DeliveryTime: delivered, DeliveryCount: count})
			}
		}
		r.mem.streamGroupPELDone()
		consumers, err := r.readLength()
		if err != nil {
			return err
		}
		for c := uint64(0); c < consumers; c++ {
			name, err := r.readString(keep, &r.scratch, &r.numBuf)
			if err != nil {
				return err
			}
			var cons StreamConsumer
			if keep {
				cons.Name = string(name.data)
			}
			times := 8
			if t >= typeStreamListpacks3 {
				times = 16 // seen time, active time
			}
			b, err := r.in.next(times)
			if err != nil {
				return err
			}
			cons.SeenTime = int64(binary.LittleEndian.Uint64(b))
			cons.ActiveTime = cons.SeenTime
			if times == 16 {
				cons.ActiveTime = int64(binary.LittleEndian.Uint64(b[8:]))
			}
			cpel, err := r.readLength()
			if err != nil {
				return err
			}
			r.mem.streamConsumer(name.n)
			for i := uint64(0); i < cpel; i++ {
				b, err := r.in.next(16)
				if err != nil {
					return err
				}
				r.mem.streamPEL(b)
				if keep {
					j, ok := owner[streamIDFrom(b)]
					if !ok {
						return corruptf("consumer %q owns entry %v, which is not in its group's PEL", cons.Name, streamIDFrom(b))
					}
					group.Pending[j].Consumer = cons.Name
				}
			}
			if keep {
				group.Consumers = append(group.Consumers, cons)
			}
			r.mem.streamConsumerDone()
		}
		if t >= typeStreamListpacks5 {
			if err := r.readNackZone(group, owner); err != nil {
				return err
			}
		}
	}
	if t >= typeStreamListpacks4 {
		var idmp *StreamIDMP
		if keep {
			idmp = &StreamIDMP{}
		}
		if err := r.readStreamIDMP(idmp); err != nil {
			return err
		}
		if keep {
			si.IDMP = idmp
		}
	}
	r.streamWalked = keep
	return nil
}

// readNackZone reads the NACK zone Redis 8.8 writes after a group's
// consumers (RDB type 27): a count, then as many 16-byte big-endian
// stream IDs. Each must be a pending entry of the group that no consumer
// owns. group and owner are nil when the metadata is not kept.
func (r *Reader) readNackZone(group *StreamGroup, owner map[StreamID]int) error {
	n, err := r.readLength()
	if err != nil {
		return err
	}
	r.mem2.nacked += int64(n)
	for i := uint64(0); i < n; i++ {
		b, err := r.in.next(16)
		if err != nil {
			return err
		}
		if group == nil {
			continue
		}
		id := streamIDFrom(b)
		j, ok := owner[id]
		switch {
		case !ok:
			return corruptf("group %q: NACKed entry %v is not in its PEL", group.Name, id)
		case group.Pending[j].Consumer != "":
			return corruptf("group %q: NACKed entry %v is owned by consumer %q", group.Name, id, group.Pending[j].Consumer)
		}
		group.Nacked = append(group.Nacked, id)
	}
	return nil
}

// readStreamIDMP reads the tail Redis 8.6 adds to streams (types 26 and
// 27): IDMP duration and max entries, the producers with their
// idempotency IDs and the stream IDs they made, and two counters. They
// are kept in idmp unless it is nil.
func (r *Reader) readStreamIDMP(idmp *StreamIDMP) error {
	var head [3]uint64 // duration, max entries, producers
	for i := range head {
		v, err := r.readLength()
		if err != nil {
			return err
		}
		head[i] = v
	}
	if idmp != nil {
		idmp.Duration, idmp.MaxEntries = head[0], head[1]
	}
	for p := uint64(0); p < head[2]; p++ {
		pid, err := r.readString(idmp != nil, &r.scratch, &r.numBuf)
		if err != nil {
			return err
		}
		var prod *IDMPProducer
		if idmp != nil {
			idmp.Producers = append(idmp.Producers, IDMPProducer{PID: string(pid.data)})
			prod = &idmp.Producers[len(idmp.Producers)-1]
		}
		n, err := r.readLength()
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			iid, err := r.readString(idmp != nil, &r.scratch, &r.numBuf)
			if err != nil {
				return err
			}
			var e IDMPEntry
			if prod != nil {
				e.IID = string(iid.data)
			}
			if e.ID.Ms, err = r.readLength(); err != nil {
				return err
			}
			if e.ID.Seq, err = r.readLength(); err != nil {
				return err
			}
			if prod != nil {
				prod.Entries = append(prod.Entries, e)
			}
		}
	}
	var counts [2]uint64
	for i := range counts {
		v, err := r.readLength()
		if err != nil {
			return err
		}
		counts[i] = v
	}
	if idmp != nil {
		idmp.IIDsAdded, idmp.IIDsDuplicates = counts[0], counts[1]
	}
	return nil
}

// estimateEntriesRead is Redis 7's streamEstimateDistanceFromFirstEverEntry,
// which gives groups of type 15 streams their entries-read on load.
func (si *StreamInfo) estimateEntriesRead(id StreamID) int64 {
	if si.EntriesAdded == 0 {
		return 0
	}
	if si.Length == 0 && !idLess(si.LastID, id) {
		return int64(si.EntriesAdded)
	}
	switch {
	case id == si.LastID:
		return int64(si.EntriesAdded)
	case idLess(si.LastID, id):
		return -1
	}
	if si.MaxDeletedID == (StreamID{}) || idLess(si.MaxDeletedID, si.FirstID) {
		switch {
		case idLess(id, si.FirstID):
			return int64(si.EntriesAdded - si.Length)
		case id == si.FirstID:
			return int64(si.EntriesAdded - si.Length + 1)
		}
	}
	return -1
}

// walkStreamListpack walks the entries of one stream node. It sets
// *first to the ID of the node's first live entry and *hasLive, if it has
// one.
func (r *Reader) walkStreamListpack(fn func(*Element) error, master StreamID, b []byte, first *StreamID, hasLive *bool) error {
	var it lpIter
	if err := it.init(b); err != nil {
		return err
	}
	nextInt := func(what string) (int64, error) {
		e, ok, err := it.next()
		if err != nil {
			return 0, err
		}
		if !ok || !e.isInt {
			return 0, corruptf("stream listpack: missing %s", what)
		}
		return e.ival, nil
	}
	nextStr := func() ([]byte, error) {
		e, ok, err := it.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, corruptf("stream listpack ends inside an entry")
		}
		return e.s, nil
	}
	count, err := nextInt("count")
	if err != nil {
		return err
	}
	deleted, err := nextInt("deleted count")
	if err != nil {
		return err
	}
	nf, err := nextInt("master field count")
	if err != nil {
		return err
	}
	if nf < 0 || nf > int64(len(b)) {
		return corruptf("stream listpack: %d master fields", nf)
	}
	// Master fields are copied when a callback needs them.
	var masterFields [][]byte
	for i := int64(0); i < nf; i++ {
		s, err := nextStr()
		if err != nil {
			return err
		}
		if fn != nil {
			masterFields = append(masterFields, append([]byte(nil), s...))
		}
	}
	if z, err := nextInt("master terminator"); err != nil || z != 0 {
		if err == nil {
			err = corruptf("stream listpack: bad master terminator")
		}
		return err
	}
	var fields [][]byte
	for entries := int64(0); entries < count+deleted; entries++ {
		flags, err := nextInt("entry flags")
		if err != nil {
			return err
		}
		msd, err := nextInt("entry ID")
		if err != nil {
			return err
		}
		seqd, err := nextInt("entry ID")
		if err != nil {
			return err
		}
		n := nf
		same := flags&streamFlagSameFields != 0
		if !same {
			if n, err = nextInt("field count"); err != nil {
				return err
			}
			if n < 0 || n > int64(len(b)) {
				return corruptf("stream listpack: %d fields", n)
			}
		}
		live := flags&streamFlagDeleted == 0
		fields = fields[:0]
		var largest int64
		for i := int64(0); i < n; i++ {
			if !same {
				f, err := nextStr()
				if err != nil {
					return err
				}
				largest = max(largest, int64(len(f)))
				if fn != nil && live {
					fields = append(fields, append([]byte(nil), f...))
				}
			} else if fn != nil && live {
				fields = append(fields, masterFields[i])
			}
			v, err := nextStr()
			if err != nil {
				return err
			}
			largest = max(largest, int64(len(v)))
			if fn != nil && live {
				fields = append(fields, append([]byte(nil), v...))
			}
		}
		if _, err := nextInt("entry lp-count"); err != nil {
			return err
		}
		if !live {
			continue
		}
		if largest > r.stats.LargestElement {
			r.stats.LargestElement = largest
		}
		id := StreamID{master.Ms + uint64(msd), master.Seq + uint64(seqd)}
		if !*hasLive {
			*first, *hasLive = id, true
		}
		if fn != nil {
			e := r.newElement()
			e.ID = id
			e.Fields = fields
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if _, ok, err := it.next(); err != nil || ok {
		if err == nil {
			err = corruptf("stream listpack has entries past its count")
		}
		return err
	}
	return nil
}
