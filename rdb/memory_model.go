package rdb

import (
	"errors"
	"fmt"
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

// memLayouts lists the models, oldest first within each family; they
// are checked against the live servers by TestMemoryAccuracy.
var memLayouts = [...]memLayout{
	{
		name: "redis-7.0", family: "redis", from: [2]int{0, 0}, through: [2]int{7, 0},
		measured: "Redis 7.0.15",
		source:   "redis 7.0.15: src/object.c objectComputeSize and memoryCommand, src/dict.c, src/t_set.c, src/t_hash.c, src/t_zset.c, src/quicklist.c, src/t_stream.c",
		key:      keySds, setSteps: 1, hashSteps: 2, zsetSteps: 2, presize70: true, streamConsumer: sizeStreamCons,
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
	return r.mem.total(r.rec.Key, r.rec.Type, &r.stats.Encoding, r.rec.ExpireAt != NoExpiry)
}

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
