package rdb

import (
	"math"
	"math/bits"
	gosync "sync"
)

// The memory model: what a server (64-bit, jemalloc) allocates for a key
// once it holds it, computed the way MEMORY USAGE key SAMPLES 0 does
// (objectComputeSize in object.c plus what the keyspace holds for the
// key). Which server is a memLayout (memory_model.go); this file has what
// they share. Sizes of the structures are those of a 64-bit build of
// Redis 7.0, which the later releases modelled keep:
const (
	sizeRobj          = 16
	sizeDictEntry     = 24
	sizeDict          = 56
	sizeQuicklist     = 40
	sizeQuicklistNode = 40 // three pointers, sz, 32 bits of fields: 36, padded
	sizeZset          = 16
	sizeZskiplist     = 32
	sizeZslHeader     = 32 + 32*16 // a node with ZSKIPLIST_MAXLEVEL levels
	sizeStream        = 80
	sizeStreamCG      = 40
	sizeStreamNACK    = 24
	sizeStreamCons    = 24 // 32 from 7.2 on (active_time): memLayout.streamConsumer
	sizeStreamID      = 16
	raxNodeOverhead   = 4 + 8*30 // sizeof(raxNode) + the fixed 30 words streamRadixTreeMemoryUsage adds
	// streamPrealloc is what a stream's newest listpack is allocated with
	// (STREAM_LISTPACK_MAX_PRE_ALLOCATE) until it grows past it.
	streamPrealloc = 4096
	// quicklist fill -2 (the default list-max-listpack-size): 8 KiB nodes.
	quicklistNodeLimit = 8192
	// lpEmpty is the size of an empty listpack: header and terminator.
	lpEmpty = 7
)

// jemallocSize returns the usable size jemalloc gives a request of n
// bytes: classes 8 and 16, multiples of 16 up to 128, then four classes
// per doubling (160, 192, 224, 256, 320, ...), pages included.
func jemallocSize(n int64) int64 {
	switch {
	case n <= 8:
		return 8
	case n <= 128:
		return (n + 15) &^ 15
	}
	lg := 63 - bits.LeadingZeros64(uint64(n-1)) // 2^lg < n <= 2^(lg+1)
	step := int64(1) << (lg - 2)
	return (n + step - 1) &^ (step - 1)
}

// sdsAlloc is the allocation of an sds string of n bytes created with an
// exact length: header (by type), data and terminator.
func sdsAlloc(n int64) int64 {
	var hdr int64
	switch {
	case n < 32:
		hdr = 1
	case n < 256:
		hdr = 3
	case n < 65536:
		hdr = 5
	case n < 1<<32:
		hdr = 9
	default:
		hdr = 17
	}
	return jemallocSize(hdr + n + 1)
}

// dictSlots is the table size of a dict holding n entries that grew by
// inserts: the next power of two, at least 4.
func dictSlots(n int64) int64 {
	if n == 0 {
		return 0
	}
	if n <= 4 {
		return 4
	}
	return int64(1) << (64 - bits.LeadingZeros64(uint64(n-1)))
}

// zslNodeExpected is the expected allocation of a skiplist node: a node
// has 24 bytes plus 16 per level, and levels follow ZSKIPLIST_P = 1/4.
var zslNodeExpected = func() float64 {
	var e, p float64 = 0, 0.75
	for level := int64(1); level <= 32; level++ {
		e += p * float64(jemallocSize(24+16*level))
		p *= 0.25
	}
	return e
}()

// memModel accumulates the memory of one value as the walker feeds it.
type memModel struct {
	lay    *memLayout // the server modelled; kept by reset
	fixed  float64    // bytes independent of the element count
	htN    int64      // entries of a dict-based value
	nonInt bool       // a set member that is not an integer was seen
	maxLen int64      // longest member, field or value of a dict-based value
	strLen int64      // a string's length

	// quicklist nodes: how many, whether one is plain, the last one's
	// entry allocation
	qlNodes  int64
	qlPlain  bool
	qlLastLP int64

	lpSize int64 // listpack being rebuilt from converted entries

	// quicklist built from pushed elements (old linked lists)
	qlOpen bool
	qlSize int64

	// streams
	rax      raxCounter // main tree
	pel      raxCounter // current group's PEL or consumer's PEL
	nodesMem float64
}

func (m *memModel) reset() { *m = memModel{lay: m.lay} }

func (m *memModel) str(n int64, enc Encoding) {
	m.strLen = n
	switch enc {
	case EncodingInt:
		m.fixed = sizeRobj
	case EncodingEmbstr:
		m.fixed = float64(jemallocSize(sizeRobj + 3 + n + 1))
	default:
		m.fixed = sizeRobj + float64(sdsAlloc(n))
	}
}

// htEntry adds a dict entry with an sds key of f bytes and, when v >= 0,
// an sds value of v bytes.
func (m *memModel) htEntry(f, v int64) {
	m.htN++
	m.maxLen = max(m.maxLen, f, v)
	if v < 0 {
		m.fixed += float64(sdsAlloc(f) + m.lay.setEntry)
		return
	}
	m.fixed += float64(m.lay.hashEntry(f, v, false))
}

// ttlField tells that the hash field just added (f and v bytes) has an
// expiry, which some servers keep with the field.
func (m *memModel) ttlField(f, v int64) {
	m.fixed += float64(m.lay.hashEntry(f, v, true) - m.lay.hashEntry(f, v, false))
}

func (m *memModel) zslEntry(n int64) {
	m.htN++
	m.maxLen = max(m.maxLen, n)
	m.fixed += float64(m.lay.zsetEntry+sdsAlloc(n)) + zslNodeExpected
}

// blob adds a listpack or intset held as one allocation.
func (m *memModel) blob(n int64) { m.fixed += float64(jemallocSize(n)) }

func (m *memModel) lpBegin() { m.lpSize = lpEmpty }

func (m *memModel) lpAdd(s []byte) { m.lpSize += int64(lpEntrySize(s)) }

func (m *memModel) lpAddInt(v int64) { m.lpSize += int64(lpIntEntrySize(v)) }

// qlNode adds a quicklist node whose entry allocation is n bytes.
func (m *memModel) qlNode(n int64) {
	a := jemallocSize(n)
	m.fixed += sizeQuicklistNode + float64(a)
	m.qlNodes++
	m.qlLastLP = a
}

// qlPlainNode adds a plain quicklist node holding one element of n bytes.
func (m *memModel) qlPlainNode(n int64) {
	m.qlNode(n)
	m.qlPlain = true
}

// qlNodeFromLP closes a node rebuilt from a ziplist.
func (m *memModel) qlNodeFromLP() {
	m.qlNode(m.lpSize)
	m.lpSize = 0
}

// listPush appends an element as quicklistPushTail does with the default
// fill of -2.
func (m *memModel) listPush(s str) {
	var size int64
	if s.isInt {
		size = int64(lpIntEntrySize(s.ival))
	} else if s.data != nil {
		size = int64(lpEntrySize(s.data))
	} else {
		size = int64(lpStrEntrySize(int(s.n)))
	}
	if m.qlOpen && m.qlSize+s.n+8 > quicklistNodeLimit {
		m.qlNode(m.qlSize)
		m.qlOpen = false
	}
	if !m.qlOpen {
		m.qlOpen, m.qlSize = true, lpEmpty
	}
	m.qlSize += size
}

func (m *memModel) streamNode(master [16]byte, size int64, last bool) {
	m.rax.add(master)
	if last {
		size = max(size, streamPrealloc)
	}
	m.nodesMem += float64(jemallocSize(size))
}

func (m *memModel) streamGroup() {
	m.fixed += sizeStreamCG
	m.pel = raxCounter{}
}

func (m *memModel) streamPEL(id []byte) {
	var k [16]byte
	copy(k[:], id)
	m.pel.add(k)
}

func (m *memModel) streamGroupPELDone() {
	m.fixed += m.pel.memory() + float64(sizeStreamNACK*m.pel.n)
	m.pel = raxCounter{}
}

func (m *memModel) streamConsumer(nameLen int64) {
	m.fixed += float64(m.lay.streamConsumer + nameLen)
	m.pel = raxCounter{}
}

func (m *memModel) streamConsumerDone() {
	m.fixed += m.pel.memory()
	m.pel = raxCounter{}
}

// total returns MEMORY USAGE for the key: its value plus what the
// keyspace holds for the key (expires: the key has a TTL). It may change
// *enc to the encoding the modelled server holds the value in when the
// dump does not say: a list of one node, held as a bare listpack from 7.2
// on; a short string not embedded next to a long key (Redis 8, Valkey
// 8.1).
func (m *memModel) total(key []byte, t Type, enc *Encoding, expires bool) int64 {
	lay := m.lay
	v := m.fixed
	switch t {
	case TypeString:
		if lay.obj != objRobj {
			return lay.stringWithKey(int64(len(key)), m.strLen, enc, expires)
		}
	case TypeList:
		if m.lpSize > 0 { // a ziplist converted to one node
			m.qlNodeFromLP()
			v = m.fixed
		}
		if m.qlOpen {
			m.qlNode(m.qlSize)
			v = m.fixed
		}
		if lay.listListpack && m.qlNodes == 1 && !m.qlPlain && *enc == EncodingQuicklist {
			*enc = EncodingListpack
			v = sizeRobj + float64(m.qlLastLP)
			break
		}
		v += sizeRobj + sizeQuicklist
	case TypeSet, TypeHash, TypeZSet:
		switch *enc {
		case EncodingHashtable:
			if lay.coll == collHashtable {
				v += sizeRobj + valkeyHashtableSize(m.htN)
				break
			}
			var slots float64
			var table int64
			if lay.presize70 {
				slots, table = m.slots70(t)
			} else {
				steps := lay.hashSteps
				if t == TypeSet {
					steps = lay.setSteps
				}
				slots, table = m.slots(t, steps)
			}
			v += sizeRobj + sizeDict + 8*slots
			if t == TypeSet && lay.setNoValue {
				v += sizeDictEntryNoValue * noValueEntries(m.htN, table)
			}
		case EncodingSkiplist:
			if lay.coll == collHashtable {
				v += sizeRobj + sizeZset + sizeZskiplist + valkeyHashtableSize(m.htN) + float64(jemallocSize(sizeZslHeader))
				break
			}
			var slots float64
			if lay.presize70 {
				// ZADD looks the member up, then adds it: two rehash steps.
				slots = dictSlotsExpected(m.htN, 2)
			} else {
				slots, _ = m.slots(t, lay.zsetSteps)
			}
			v += sizeRobj + sizeZset + sizeZskiplist + sizeDict + 8*slots + float64(jemallocSize(sizeZslHeader))
		default:
			if m.lpSize > 0 {
				v += float64(jemallocSize(m.lpSize))
			}
			v += sizeRobj
		}
	case TypeStream:
		v += sizeRobj + sizeStream + m.rax.memory() + m.nodesMem
	case TypeModule:
		v += sizeRobj
	}
	return int64(v) + lay.keyCost(int64(len(key)), expires)
}

// sizeDictEntryNoValue is a Valkey 8.0 dictEntryNoValue: key and next.
const sizeDictEntryNoValue = 16

// keyCost is what MEMORY USAGE counts for a key of n bytes besides the
// 16-byte robj of its value (which the value's memory includes).
func (l *memLayout) keyCost(n int64, expires bool) int64 {
	switch l.obj {
	case objKvobj:
		// The value's object is the kvobj, holding the key: its
		// allocation replaces the robj.
		return kvobjAlloc(n, expires, 0) - sizeRobj
	case objEmbedKey:
		return 0 // in the object, which MEMORY USAGE counts as 16 bytes
	}
	if l.key == keyEmbeddedEntry {
		// 8-byte value union, next pointer, header-size byte, then the
		// sds copied with its header from the command's argument.
		return jemallocSize(17 + argSdsHeader(n) + n + 1)
	}
	return sdsAlloc(n) + sizeDictEntry
}

// argSdsHeader is the sds header of a command argument of n bytes: an
// embstr (n <= 44) has an sdshdr8, longer ones the type their length
// needs, never sdshdr5.
func argSdsHeader(n int64) int64 { return sdsHeader(max(n, 32)) }

// slots70 is the slot count of a Redis 7.0 set or hash dict, and the size
// of its newest table.
func (m *memModel) slots70(t Type) (float64, int64) {
	// Redis 7.0 converts a hash past hash-max-listpack-entries and
	// an all-integer set past set-max-intset-entries (both 512 by
	// default) into a dict presized for 513 entries: up to 1024
	// entries there was no expansion, so no rehash in progress.
	// Otherwise the dict grew by inserts: SADD does one rehash step
	// per new member, HSET two.
	k := m.lay.setSteps
	if t == TypeHash {
		k = m.lay.hashSteps
	}
	if m.htN > 512 && m.htN <= 1024 && (t == TypeHash || !m.nonInt) {
		return float64(dictSlots(m.htN)), dictSlots(m.htN)
	}
	return dictSlotsExpected(m.htN, k), dictSlots(m.htN)
}

// slots is the expected slot count of a 7.2+ set, hash or sorted set
// dict, and the size of its newest table. A listpack whose members fit
// the default limits converts when it reaches 129 entries into a dict
// presized for 129 (256 slots); an intset at 513 into one presized for
// 513 (1024 slots) (setTypeConvertAndExpand, hashTypeConvertListpack,
// zsetConvertAndExpand). A dict holding more grew by inserts from there,
// steps rehash steps per insert.
func (m *memModel) slots(t Type, steps int64) (float64, int64) {
	n := m.htN
	var presized int64
	switch {
	case t == TypeSet && !m.nonInt && n > intsetEntries:
		presized = dictSlots(intsetEntries + 1)
	case m.maxLen <= listpackValue && n > listpackEntries:
		presized = dictSlots(listpackEntries + 1)
	}
	if presized > 0 && n <= presized {
		return float64(presized), presized
	}
	return dictSlotsExpected(n, steps), dictSlots(n)
}

// noValueEntries is the expected number of allocated entries of a Valkey
// 8.0 set of n members in a table of s slots: every member but the first
// of each non-empty bucket, n minus the expected occupied buckets.
func noValueEntries(n, s int64) float64 {
	if n == 0 || s == 0 {
		return 0
	}
	fs := float64(s)
	occupied := fs * (1 - math.Pow(1-1/fs, float64(n)))
	return max(0, float64(n)-occupied)
}

// raxCounter counts the nodes of the radix tree Redis builds for a
// sorted sequence of distinct 16-byte keys (stream IDs), without building
// it: leaves, branching nodes, and compressed nodes for runs of bytes.
type raxCounter struct {
	n          int64
	prev       [16]byte
	stack      []int8 // depths of branching nodes on the rightmost path
	internal   int64
	compressed int64
}

func (c *raxCounter) edge(l int) {
	if l >= 2 {
		c.compressed++
	}
}

func (c *raxCounter) add(k [16]byte) {
	if c.n == 0 {
		c.prev, c.n = k, 1
		return
	}
	l := 0
	for l < 16 && c.prev[l] == k[l] {
		l++
	}
	last := 16
	for len(c.stack) > 0 && int(c.stack[len(c.stack)-1]) > l {
		d := int(c.stack[len(c.stack)-1])
		c.stack = c.stack[:len(c.stack)-1]
		c.edge(last - d)
		last = d
	}
	if len(c.stack) == 0 || int(c.stack[len(c.stack)-1]) < l {
		c.stack = append(c.stack, int8(l))
		c.internal++
	}
	c.edge(last - l)
	c.prev = k
	c.n++
}

// nodes returns the node count of the tree.
func (c *raxCounter) nodes() int64 {
	switch c.n {
	case 0:
		return 1
	case 1:
		return 2
	}
	compressed := c.compressed
	last := 16
	for i := len(c.stack) - 1; i >= 0; i-- {
		d := int(c.stack[i])
		if last-d >= 2 {
			compressed++
		}
		last = d
	}
	root := int64(0)
	if last > 0 {
		root = 1
	}
	return c.n + c.internal + compressed + root
}

// memory is streamRadixTreeMemoryUsage for the tree.
func (c *raxCounter) memory() float64 {
	return float64(c.n*sizeStreamID + c.nodes()*raxNodeOverhead)
}

// dictSlotsExpected is the expected slot count of a dict of n entries that
// grew one insert at a time, k rehash steps per insert. When a dict of S
// slots fills up, Redis allocates a table of 2S and moves one bucket of
// the old table per operation; until every non-empty old bucket has moved,
// both tables count. The old table holds S entries in S buckets, so the
// number of moves needed is the number of occupied buckets when S balls
// fall into S bins; dictSlotsExpected adds S times the probability that it
// exceeds the k*(n-S-1) steps taken since the last expansion.
func dictSlotsExpected(n int64, k int64) float64 {
	slots := dictSlots(n)
	s := slots / 2
	if n <= 4 || s < 4 {
		return float64(slots)
	}
	steps := k * (n - s - 1)
	return float64(slots) + float64(s)*occupiedAbove(s, steps)
}

// occupiedAbove returns P(B > t) where B is the number of occupied bins
// after s balls fall into s bins uniformly.
func occupiedAbove(s, t int64) float64 {
	if t < 0 {
		return 1
	}
	if t >= s {
		return 0
	}
	if s <= 1024 {
		return occupancyTail(int(s))[t]
	}
	// Normal approximation with the exact mean and variance.
	fs := float64(s)
	q := math.Pow(1-1/fs, fs)
	mean := fs * (1 - q)
	variance := fs*(fs-1)*math.Pow(1-2/fs, fs) + fs*q - fs*fs*q*q
	if variance <= 0 {
		if float64(t) < mean {
			return 1
		}
		return 0
	}
	z := (float64(t) + 0.5 - mean) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// occupancyTails caches, for each power of two s up to 1024, the tail
// P(B > t) for t in [0, s].
var occupancyTails [11]func() []float64

func init() {
	for i := range occupancyTails {
		s := 1 << i
		occupancyTails[i] = gosync.OnceValue(func() []float64 { return computeOccupancyTail(s) })
	}
}

func occupancyTail(s int) []float64 {
	return occupancyTails[bits.TrailingZeros(uint(s))]()
}

func computeOccupancyTail(s int) []float64 {
	p := make([]float64, s+1) // p[j]: probability that j bins are occupied
	p[0] = 1
	fs := float64(s)
	for ball := 0; ball < s; ball++ {
		for j := min(ball+1, s); j >= 1; j-- {
			p[j] = p[j]*float64(j)/fs + p[j-1]*(fs-float64(j-1))/fs
		}
		p[0] = 0
	}
	tail := make([]float64, s+1)
	acc := 0.0
	for t := s; t >= 0; t-- {
		tail[t] = acc // P(B > t)
		acc += p[t]
	}
	return tail
}
