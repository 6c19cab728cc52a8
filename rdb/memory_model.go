package rdb

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrUnknownMemoryModel is returned by Reader.SetMemoryModel and
// LookupMemoryModel for a name that is not in MemoryModelNames.
var ErrUnknownMemoryModel = errors.New("unknown memory model")

// keyLayout is how a server holds a key in its keyspace, which MEMORY
// USAGE counts besides the value.
type keyLayout uint8

const (
	// keySds: the key is an sds string of its own (sdsdup: sdshdr5 under 32
	// bytes) and the keyspace dict has a 24-byte dictEntry for it.
	keySds keyLayout = iota
	// keyEmbeddedEntry: the keyspace dict's entry embeds the key's sds,
	// header included, after its value pointer, next pointer and a header
	// size byte (Valkey 8.0 dictEntryEmbedded, 17 bytes): one allocation.
	// The sds is a copy of the command's argument, whose header is
	// sdshdr8 for keys up to 255 bytes (embstr arguments are sdshdr8).
	keyEmbeddedEntry
)

// objKind is how a server holds a key's value object and the key.
type objKind uint8

const (
	// objRobj: a 16-byte robj for the value, the key kept by the keyspace
	// (keyLayout says how).
	objRobj objKind = iota
	// objKvobj: Redis 8's kvobj, one allocation of the robj, an expiry
	// when the key has one (or is 128 bytes or longer), a header-size byte
	// and the key's sds; a short string value is embedded after it. MEMORY
	// USAGE counts that allocation and no keyspace entry.
	objKvobj
	// objEmbedKey: Valkey 8.1's robj with the key (and expiry) embedded
	// the same way, but MEMORY USAGE counts sizeof(robj) for every value
	// but an embedded string, whose whole allocation it counts.
	objEmbedKey
)

// collKind is the hash table of sets, hashes and sorted sets.
type collKind uint8

const (
	collDict      collKind = iota // dict.c: bucket array of pointers, entries
	collHashtable                 // Valkey 8.1 hashtable.c: 64-byte buckets of 7 entries
)

// fieldKind is how a hashtable hash holds a field and its value.
type fieldKind uint8

const (
	fieldSds    fieldKind = iota // sds field and value, 24-byte dictEntry
	fieldMstr                    // Redis 7.4 hfield (mstr) field, expiry metadata when it has a TTL
	fieldValkey                  // Valkey 8.1 hashTypeEntry: field with the value embedded or pointed to
)

// memLayout is what one server family and version range allocates, as far
// as the memory model needs to know. The zero value is not a layout; the
// layouts are the memLayouts table.
type memLayout struct {
	name    string
	family  string // "redis" or "valkey"
	from    [2]int // first major.minor it describes
	through [2]int // last major.minor known to share the layout
	// measured names the server release the model was measured against
	// with TestMemoryAccuracy; empty when modelled from source only.
	measured string
	source   string // what it was read from

	key keyLayout
	// setNoValue: hashtable sets have entries without a value; the first
	// member of a bucket is stored in the bucket itself and every other one
	// has a 16-byte entry (Valkey 8.0 dictEntryNoValue, keys_are_odd), and
	// MEMORY USAGE counts what is allocated. Otherwise MEMORY USAGE counts
	// a 24-byte dictEntry per member (Redis 7.2+ allocates no-value
	// entries too but reports sizeof(dictEntry) for each).
	setNoValue bool
	// Rehash steps an insert takes into a hashtable set, hash and sorted
	// set: one per dict lookup the command does.
	setSteps, hashSteps, zsetSteps int64
	// presize70: Redis 7.0's conversion presizing (see total); otherwise a
	// listpack of at most listpackEntries entries of at most listpackValue
	// bytes converts to a dict presized for one more than the limit, and
	// an intset of intsetEntries to one of intsetEntries+1.
	presize70 bool
	// listListpack: a list of one packed node is held as a bare listpack
	// (OBJ_ENCODING_LISTPACK), without quicklist and quicklistNode.
	listListpack bool

	obj   objKind
	coll  collKind
	field fieldKind
	// Bytes MEMORY USAGE counts per member of a hashtable set and of a
	// skiplist sorted set's dict besides the member's sds.
	setEntry, zsetEntry int64
	// streamConsumer is sizeof(streamConsumer): 24 in 7.0, 32 from 7.2
	// on (active_time).
	streamConsumer int64
}

// Default conversion limits from 7.2 on (redis.conf / valkey.conf):
// set-max-listpack-entries, hash-max-listpack-entries and
// zset-max-listpack-entries 128, their -value 64, set-max-intset-entries
// 512.
const (
	listpackEntries = 128
	listpackValue   = 64
	intsetEntries   = 512
)

// memLayouts lists the models, oldest first within each family. The
// measured ones are checked against the live server by TestMemoryAccuracy;
// the others are deltas on the nearest one, read from the server source
// named in source, with unit tests of the deltas (memory_model_test.go).
var memLayouts = [...]memLayout{
	{
		name: "redis-7.0", family: "redis", from: [2]int{0, 0}, through: [2]int{7, 0},
		measured: "Redis 7.0.15",
		source:   "redis 7.0.15: src/object.c objectComputeSize and memoryCommand, src/dict.c, src/t_set.c, src/t_hash.c, src/t_zset.c, src/quicklist.c, src/t_stream.c",
		key:      keySds, setSteps: 1, hashSteps: 2, zsetSteps: 2, presize70: true, streamConsumer: sizeStreamCons,
		setEntry: sizeDictEntry, zsetEntry: sizeDictEntry,
	},
	{
		// Redis 7.2: sets of up to 128 members of up to 64 bytes are
		// listpacks (RDB_TYPE_SET_LISTPACK, so the dump says) and convert to
		// a dict presized for 129 (setTypeConvertAndExpand); lists of one
		// node are bare listpacks (listTypeTryConversion); HSET into a dict
		// does one lookup (dictAddRaw), not two; sets have no-value dict
		// entries but MEMORY USAGE still counts sizeof(dictEntry) for each
		// member (dictEntryMemUsage).
		name: "redis-7.2", family: "redis", from: [2]int{7, 2}, through: [2]int{7, 2},
		source: "redis 7.2.6 (tag 7.2.6): src/object.c, src/t_set.c, src/t_list.c, src/t_hash.c hashTypeSet, src/dict.c dictEntryMemUsage",
		key:    keySds, setSteps: 1, hashSteps: 1, zsetSteps: 2, streamConsumer: 32, listListpack: true,
		setEntry: sizeDictEntry, zsetEntry: sizeDictEntry,
	},
	{
		// Redis 7.4: hash fields in a dict are hfield (mstr) strings, whose
		// header is 3 bytes up to 64 KiB, and a field with a TTL carries an
		// ExpireMeta (16 bytes) and metadata flags (2) in front
		// (hfieldNew, mstrNewWithMeta); a listpack hash with TTLs
		// (listpackex) has a 32-byte listpackEx besides its listpack.
		name: "redis-7.4", family: "redis", from: [2]int{7, 4}, through: [2]int{7, 4},
		source: "redis 7.4.1 (tag 7.4.1): src/object.c objectComputeSize (hfieldZmallocSize, OBJ_ENCODING_LISTPACK_EX), src/mstr.h, src/t_hash.c, src/server.h listpackEx, src/ebuckets.h ExpireMeta",
		key:    keySds, setSteps: 1, hashSteps: 1, zsetSteps: 2, streamConsumer: 32, listListpack: true,
		field: fieldMstr, setEntry: sizeDictEntry, zsetEntry: sizeDictEntry,
	},
	{
		// Redis 8.0: the key lives in the value's object (kvobj: robj,
		// expiry when the key has one or is 128 bytes or longer, header-size
		// byte, sds key), a string is embedded after it when the whole fits
		// 64 bytes, and MEMORY USAGE is kvobjComputeSize alone: the kvobj
		// allocation plus the value's structures, no keyspace entry. Sorted
		// set dicts count no entry per member (dictEntryMemUsage(1)).
		name: "redis-8.0", family: "redis", from: [2]int{8, 0}, through: [2]int{8, 2},
		source: "redis 8.x src/object.c (kvobjCreate, kvobjSet, kvobjComputeSize, memoryCommand) and src/dict.c dictEntryMemUsage, as stored in the code index (not a tagged release here)",
		key:    keySds, setSteps: 1, hashSteps: 1, zsetSteps: 2, streamConsumer: 32, listListpack: true,
		obj: objKvobj, field: fieldMstr, setEntry: sizeDictEntry, zsetEntry: 0,
	},
	{
		// Valkey 7.2 is Redis 7.2.4 renamed: the redis-7.2 layout.
		name: "valkey-7.2", family: "valkey", from: [2]int{7, 2}, through: [2]int{7, 2},
		source: "valkey 7.2.7 (tag 7.2.7): the layout of redis 7.2.4 (src/server.c dict types, src/object.c)",
		key:    keySds, setSteps: 1, hashSteps: 1, zsetSteps: 2, streamConsumer: 32, listListpack: true,
		setEntry: sizeDictEntry, zsetEntry: sizeDictEntry,
	},
	{
		// Valkey 8.0: the keyspace's dict entries embed the key
		// (dictEntryEmbedded); set entries have no value and the first
		// member of each bucket is stored in the bucket (dictEntryNoValue,
		// keys_are_odd); MEMORY USAGE counts the entries allocated.
		name: "valkey-8.0", family: "valkey", from: [2]int{8, 0}, through: [2]int{8, 0},
		measured: "Valkey 8.0.1",
		source:   "valkey 8.0.1 (tag 8.0.1): src/dict.c (dictEntryEmbedded, dictEntryNoValue, dictEntryMemUsage), src/server.c dict types, src/object.c objectComputeSize and memoryCommand, src/t_set.c, src/t_hash.c, src/t_list.c",
		key:      keyEmbeddedEntry, setNoValue: true, setSteps: 1, hashSteps: 1, zsetSteps: 2, streamConsumer: 32,
		listListpack: true, setEntry: 0, zsetEntry: sizeDictEntry,
	},
	{
		// Valkey 8.1: hashtable.c (64-byte buckets of 7 entry pointers,
		// child buckets when one overflows) replaces dict for keys, sets,
		// hashes and sorted sets; the key (and expiry) is embedded in the
		// value's robj, which MEMORY USAGE counts as 16 bytes except for an
		// embedded string (whole allocation); a hash field is a
		// hashTypeEntry embedding the value when both fit 64 bytes.
		name: "valkey-8.1", family: "valkey", from: [2]int{8, 1}, through: [2]int{8, 1},
		source: "valkey 8.1 src/hashtable.c (hashtableMemUsage, bucket layout, BUCKET_FACTOR), src/object.c (createStringObjectWithKeyAndExpire, objectComputeSize, memoryCommand), src/t_hash.c (hashTypeCreateEntry, hashTypeEntryMemUsage), as stored in the code index",
		key:    keySds, setSteps: 1, hashSteps: 1, zsetSteps: 2, streamConsumer: 32, listListpack: true,
		obj: objEmbedKey, coll: collHashtable, field: fieldValkey,
	},
	{
		// Valkey 9.0: as 8.1, and a hash field with a TTL keeps its
		// expiry (8 bytes) in its hashTypeEntry.
		name: "valkey-9.0", family: "valkey", from: [2]int{9, 0}, through: [2]int{9, 0},
		source: "valkey 9.0.5 src/t_hash.c (hashTypeCreateEntry with expiry, hashTypeEntryMemUsage), src/object.c, src/hashtable.c, as stored in the code index",
		key:    keySds, setSteps: 1, hashSteps: 1, zsetSteps: 2, streamConsumer: 32, listListpack: true,
		obj: objEmbedKey, coll: collHashtable, field: fieldValkey,
	},
}

// MemoryModelNames returns the names of the memory models, which
// Reader.SetMemoryModel takes: one per server family and version range
// whose layout differs.
func MemoryModelNames() []string {
	names := make([]string, len(memLayouts))
	for i := range memLayouts {
		names[i] = memLayouts[i].name
	}
	return names
}

// MemoryModelInfo describes one memory model.
type MemoryModelInfo struct {
	Name     string // such as "redis-7.0"
	Servers  string // the versions it describes, such as "Redis 7.0 and older"
	Measured string // the release it was measured against, empty when modelled from source only
	Source   string // the server source it reads
}

// MemoryModels describes the memory models, in the order of
// MemoryModelNames.
func MemoryModels() []MemoryModelInfo {
	out := make([]MemoryModelInfo, len(memLayouts))
	for i := range memLayouts {
		l := &memLayouts[i]
		out[i] = MemoryModelInfo{Name: l.name, Servers: l.servers(), Measured: l.measured, Source: l.source}
	}
	return out
}

func (l *memLayout) servers() string {
	title := "Redis"
	if l.family == "valkey" {
		title = "Valkey"
	}
	switch {
	case l.from == [2]int{0, 0}:
		return fmt.Sprintf("%s %d.%d and older", title, l.through[0], l.through[1])
	case l.from == l.through:
		return fmt.Sprintf("%s %d.%d", title, l.from[0], l.from[1])
	}
	return fmt.Sprintf("%s %d.%d to %d.%d", title, l.from[0], l.from[1], l.through[0], l.through[1])
}

func lookupLayout(name string) (*memLayout, error) {
	for i := range memLayouts {
		if memLayouts[i].name == name {
			return &memLayouts[i], nil
		}
	}
	return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownMemoryModel, name, strings.Join(MemoryModelNames(), ", "))
}

// CheckMemoryModel returns an error wrapping ErrUnknownMemoryModel when
// name is not one of MemoryModelNames.
func CheckMemoryModel(name string) error {
	_, err := lookupLayout(name)
	return err
}

// MemoryModelChoice tells which memory model ValueStats.Memory is computed
// with, and why.
type MemoryModelChoice struct {
	Name   string // the model, one of MemoryModelNames
	Forced bool   // set with SetMemoryModel rather than chosen from the dump
	// Server is the server the dump says wrote it, such as "valkey 8.0.1",
	// from its redis-ver or valkey-ver AUX field; empty when it does not
	// say.
	Server string
	// Note says why the model is a guess: the dump does not name its
	// server, or names one newer than every model of its family. Empty
	// when the model describes the server that wrote the dump.
	Note string
}

// ChooseMemoryModel picks the memory model for a dump from its header's
// magic ("REDIS" or "VALKEY") and RDB version and its redis-ver and
// valkey-ver AUX fields (empty when absent). valkey-ver wins: Valkey
// writes it (and no redis-ver) from 7.2 on. The model is the newest of the
// server's family that is not newer than the server; a server newer than
// every model gets its family's newest model and a Note saying so. A dump
// naming no server gets a model by its magic and RDB version, and a Note.
func ChooseMemoryModel(magic string, rdbVersion int, redisVer, valkeyVer string) MemoryModelChoice {
	family, ver := "redis", redisVer
	if valkeyVer != "" {
		family, ver = "valkey", valkeyVer
	}
	if ver == "" {
		return chooseByRDB(magic, rdbVersion)
	}
	server := family + " " + ver
	mm, ok := parseMajorMinor(ver)
	if !ok {
		l := newestOf(family)
		return MemoryModelChoice{Name: l.name, Server: server,
			Note: fmt.Sprintf("%s-ver %q is not a version: using the newest %s model", family, ver, family)}
	}
	var best *memLayout
	for i := range memLayouts {
		l := &memLayouts[i]
		if l.family == family && !less(mm, l.from) && (best == nil || less(best.from, l.from)) {
			best = l
		}
	}
	if best == nil { // older than the family's first model
		best = oldestOf(family)
		return MemoryModelChoice{Name: best.name, Server: server,
			Note: fmt.Sprintf("%s is older than every %s model: using the oldest", server, family)}
	}
	c := MemoryModelChoice{Name: best.name, Server: server}
	if less(best.through, mm) {
		if best == newestOf(family) {
			c.Note = fmt.Sprintf("%s is newer than every %s model: using the newest, %s", server, family, best.name)
		} else {
			c.Note = fmt.Sprintf("no model for %s: using %s, the nearest older one", server, best.name)
		}
	}
	return c
}

// chooseByRDB picks a model for a dump that names no server.
func chooseByRDB(magic string, rdbVersion int) MemoryModelChoice {
	if magic == "VALKEY" {
		l := newestOf("valkey")
		return MemoryModelChoice{Name: l.name, Note: fmt.Sprintf("the dump names no server (no valkey-ver field): VALKEY %d files come from Valkey 9 or later, using %s", rdbVersion, l.name)}
	}
	// RDB 10 is Redis 7.0's, 11 Redis 7.2's, 12 Redis 7.4's.
	want := [2]int{7, 0}
	switch {
	case rdbVersion >= 12:
		want = [2]int{7, 4}
	case rdbVersion == 11:
		want = [2]int{7, 2}
	}
	var best *memLayout
	for i := range memLayouts {
		l := &memLayouts[i]
		if l.family == "redis" && !less(want, l.from) && (best == nil || less(best.from, l.from)) {
			best = l
		}
	}
	if rdbVersion > 12 {
		best = newestOf("redis")
	}
	return MemoryModelChoice{Name: best.name, Note: fmt.Sprintf("the dump names no server (no redis-ver field): using %s for RDB %d", best.name, rdbVersion)}
}

func newestOf(family string) *memLayout {
	var best *memLayout
	for i := range memLayouts {
		if l := &memLayouts[i]; l.family == family && (best == nil || less(best.from, l.from)) {
			best = l
		}
	}
	return best
}

func oldestOf(family string) *memLayout {
	for i := range memLayouts {
		if memLayouts[i].family == family {
			return &memLayouts[i]
		}
	}
	return nil
}

func less(a, b [2]int) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// parseMajorMinor reads "7.2.4" (or "7.2") as {7, 2}.
func parseMajorMinor(v string) ([2]int, bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return [2]int{}, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || major < 0 || minor < 0 {
		return [2]int{}, false
	}
	return [2]int{major, minor}, true
}

// SetMemoryModel makes ValueStats.Memory use the model called name (one
// of MemoryModelNames) whatever the dump says; "" goes back to choosing
// it from the dump (ChooseMemoryModel). It takes effect from the next
// value read.
func (r *Reader) SetMemoryModel(name string) error {
	if name == "" {
		r.memForced = nil
		r.chooseMemoryModel()
		return nil
	}
	l, err := lookupLayout(name)
	if err != nil {
		return err
	}
	r.memForced = l
	r.mem.lay = l
	return nil
}

// MemoryModel tells which model ValueStats.Memory is computed with. Before
// the first key it may still change as AUX fields are read.
func (r *Reader) MemoryModel() MemoryModelChoice {
	if r.memForced != nil {
		c := r.autoModel()
		return MemoryModelChoice{Name: r.memForced.name, Forced: true, Server: c.Server}
	}
	return r.autoModel()
}

func (r *Reader) autoModel() MemoryModelChoice {
	return ChooseMemoryModel(r.magic, r.version, r.redisVer, r.valkeyVer)
}

// memTotal is ValueStats.Memory of the value just walked.
func (r *Reader) memTotal() int64 {
	n := r.mem.total(r.rec.Key, r.rec.Type, &r.stats.Encoding, r.rec.ExpireAt != NoExpiry)
	if r.mem.lay.field == fieldMstr && (r.rec.RDBType == typeHashListpackEx || r.rec.RDBType == typeHashListpackExPreG) {
		n += sizeListpackEx
	}
	return n
}

// sizeListpackEx is Redis 7.4's listpackEx: ExpireMeta, key and listpack
// pointers.
const sizeListpackEx = 32

// noteAux records the AUX fields that name the server.
func (r *Reader) noteAux(name, value []byte) {
	switch string(name) {
	case "redis-ver":
		r.redisVer = string(value)
	case "valkey-ver":
		r.valkeyVer = string(value)
	default:
		return
	}
	r.chooseMemoryModel()
}

// chooseMemoryModel sets the layout the model uses, once per change of
// what the dump says (the header, a redis-ver or valkey-ver field).
func (r *Reader) chooseMemoryModel() {
	if r.memForced != nil {
		r.mem.lay = r.memForced
		return
	}
	l, err := lookupLayout(r.autoModel().Name)
	if err != nil { // cannot happen: ChooseMemoryModel returns known names
		l = &memLayouts[0]
	}
	r.mem.lay = l
}

// sdsHeader is the header of an sds string of n bytes created with its
// exact length (sdsReqType).
func sdsHeader(n int64) int64 {
	switch {
	case n < 32:
		return 1
	case n < 256:
		return 3
	case n < 65536:
		return 5
	case n < 1<<32:
		return 9
	}
	return 17
}

// mstrHeader is the header of a Redis 7.4 mstr of n bytes: mstrhdr5, 8,
// 16 (3 bytes) or 64.
func mstrHeader(n int64) int64 {
	switch {
	case n < 32:
		return 1
	case n < 65536:
		return 3
	}
	return 9
}

// embedValueMax is Valkey's EMBED_VALUE_MAX_ALLOC_SIZE: a hash field and
// value embedded in one hashTypeEntry take at most this.
const embedValueMax = 64

// hashEntry is what MEMORY USAGE counts for one field of f bytes with a
// value of v bytes in a hashtable hash, ttl telling that it has an expiry.
func (l *memLayout) hashEntry(f, v int64, ttl bool) int64 {
	switch l.field {
	case fieldMstr:
		var meta int64
		if ttl {
			meta = 16 + 2 // ExpireMeta and mstr metadata flags
		}
		return jemallocSize(meta+mstrHeader(f)+f+1) + sizeDictEntry + sdsAlloc(v)
	case fieldValkey:
		var exp int64
		if ttl {
			exp = 8
		}
		fs, vs := sdsHeader(f)+f+1, 3+v+1
		if fs+vs+exp <= embedValueMax {
			return jemallocSize(fs + vs + exp)
		}
		// Value pointer, then the field, at least an sdshdr8.
		return jemallocSize(8+max(sdsHeader(f), 3)+f+1+exp) + sdsAlloc(v)
	}
	return sdsAlloc(f) + sizeDictEntry + sdsAlloc(v)
}

// kvobjAlloc is the allocation of a Redis 8 kvobj for a key of k bytes,
// with an embedded string of v bytes (v < 0: none).
func kvobjAlloc(k int64, expires bool, v int64) int64 {
	n := sizeRobj + 1 + sdsHeader(k) + k + 1
	if expires || k >= 128 {
		n += 8
	}
	if v >= 0 {
		n += 3 + v + 1
	}
	return jemallocSize(n)
}

// stringWithKey is MEMORY USAGE of a string of v bytes under a key of k
// bytes where the value's object holds the key (Redis 8, Valkey 8.1); it
// sets *enc to raw when a string of up to 44 bytes is not embedded.
func (l *memLayout) stringWithKey(k, v int64, enc *Encoding, expires bool) int64 {
	var exp int64
	if expires {
		exp = 8
	}
	if l.obj == objKvobj {
		switch *enc {
		case EncodingInt:
			return kvobjAlloc(k, expires, -1)
		case EncodingEmbstr:
			// kvobjSet: embedded when robj, key (sdshdr5 assumed: 3 bytes
			// with the header-size byte), expiry and value fit 64 bytes.
			if sizeRobj+k+3+exp+4+v <= 64 {
				return kvobjAlloc(k, expires, v)
			}
			*enc = EncodingRaw
		}
		return kvobjAlloc(k, expires, -1) + sdsAlloc(v)
	}
	// Valkey 8.1 createStringObjectWithKeyAndExpire; MEMORY USAGE counts
	// sizeof(robj) for int and raw strings.
	switch *enc {
	case EncodingInt:
		return sizeRobj
	case EncodingEmbstr:
		n := sizeRobj + 1 + sdsHeader(k) + k + 1 + exp + 3 + v + 1
		if n <= 64 {
			return jemallocSize(n)
		}
		*enc = EncodingRaw
	}
	return sizeRobj + sdsAlloc(v)
}

// valkeyHashtableSize is hashtableMemUsage of a Valkey 8.1 hashtable of n
// entries grown by inserts: the 72-byte struct and 64-byte buckets, the
// table doubling when it holds more than 7 entries a bucket, plus the
// expected child buckets of the buckets that overflow (entries fall in
// buckets as Poisson arrivals; a chain of k > 7 entries needs
// ceil((k-7)/6) children).
func valkeyHashtableSize(n int64) float64 {
	const sizeHashtable, sizeBucket = 72, 64
	if n == 0 {
		return sizeHashtable
	}
	b := int64(1)
	for b*7 < n {
		b <<= 1
	}
	lambda := float64(n) / float64(b)
	p := math.Exp(-lambda) // P(k = 0)
	var children float64
	limit := int(lambda+12*math.Sqrt(lambda)) + 20
	for k := 1; k <= limit; k++ {
		p *= lambda / float64(k)
		if k > 7 {
			children += p * float64((k-7+5)/6)
		}
	}
	return sizeHashtable + sizeBucket*(float64(b)+float64(b)*children)
}
