package rdb

import (
	"strconv"
	"strings"
)

// Type is the logical Redis data type of a key, as TYPE reports it.
type Type uint8

// Logical types.
const (
	TypeString Type = iota + 1
	TypeList
	TypeSet
	TypeZSet
	TypeHash
	TypeStream
	TypeModule
	TypeArray // Redis 8.8 sparse arrays
)

var typeNames = [...]string{"", "string", "list", "set", "zset", "hash", "stream", "module", "array"}

// String returns the name TYPE would print ("string", "zset", ...).
func (t Type) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType maps a TYPE name to a Type. It reports false for unknown names.
func ParseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return Type(i), true
		}
	}
	return 0, false
}

// Encoding is the in-memory encoding Redis 7 gives a value once it has
// loaded it, named as OBJECT ENCODING names it. Encodings that Redis 7 no
// longer uses in memory (zipmap, ziplist, linked lists) are reported as
// what Redis 7 converts them to on load.
type Encoding uint8

// Encodings, as OBJECT ENCODING prints them.
const (
	EncodingUnknown Encoding = iota
	EncodingInt
	EncodingEmbstr
	EncodingRaw
	EncodingListpack
	EncodingQuicklist
	EncodingIntset
	EncodingHashtable
	EncodingSkiplist
	EncodingStream
	EncodingModule // module values: Redis prints "raw" for them
	// EncodingSlicedArray is Redis 8.8's array (OBJ_ENCODING_SLICED_ARRAY),
	// named "sliced-array" here: OBJECT ENCODING's own name for it was not
	// in the source this build was checked against.
	EncodingSlicedArray
)

var encodingNames = [...]string{"unknown", "int", "embstr", "raw", "listpack", "quicklist", "intset", "hashtable", "skiplist", "stream", "raw", "sliced-array"}

// String returns the OBJECT ENCODING name.
func (e Encoding) String() string {
	if int(e) < len(encodingNames) {
		return encodingNames[e]
	}
	return "encoding(" + strconv.Itoa(int(e)) + ")"
}

// Kind tells what a Record holds.
type Kind uint8

// Record kinds.
const (
	// KindKey is a key with its value. The value is read lazily through the
	// Reader (Elements, WriteValue, Stats) before the next call to Next.
	KindKey Kind = iota + 1
	// KindAux is an AUX field (redis-ver, ctime, used-mem, ...): Name and Data.
	KindAux
	// KindSelectDB starts a database: DB.
	KindSelectDB
	// KindResizeDB gives the sizes of the current database's hash tables: DBSize and ExpiresSize.
	KindResizeDB
	// KindFunction is a function library: Data is its code as FUNCTION LOAD
	// takes it, starting with its "#!lua name=..." line. A library of the
	// pre-GA FUNCTION opcode (Redis 7.0-rc1 and rc2), whose code has no such
	// line, gets "#!<engine> name=<name>\n" put before it, as Redis 7.0 does
	// when it loads one (the description is dropped), and Name is set.
	KindFunction
	// KindModuleAux is module auxiliary data: Module names the module, When
	// tells when it was saved, Data holds the module-serialized payload
	// that follows, up to and including its EOF opcode.
	KindModuleAux
	// KindSlotInfo is cluster slot information (RDB 12): Slot, DBSize, ExpiresSize.
	KindSlotInfo
	// KindSlotImport is a slot import that was in progress when Valkey 9
	// wrote the file: Name is the job name, SlotRanges its slots.
	KindSlotImport
)

var kindNames = [...]string{"", "key", "aux", "selectdb", "resizedb", "function", "module-aux", "slot-info", "slot-import"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// NoExpiry is the ExpireAt value of a key that has no expiry.
const NoExpiry int64 = -1

// Record is one item of an RDB file. Byte slices in it are owned by the
// Reader and valid only until the next call to Next.
type Record struct {
	Kind   Kind
	Offset int64 // file offset of the record's first byte (its expiry or LRU prefix, if any)
	DB     int   // database the record belongs to

	// For KindKey.
	Key      []byte
	Type     Type
	RDBType  byte  // value type byte as written (RDB_TYPE_*)
	ExpireAt int64 // absolute expiry in Unix milliseconds, or NoExpiry
	Idle     int64 // LRU idle time in seconds, or -1 when the file has none
	Freq     int   // LFU frequency counter, or -1 when the file has none
	// Meta holds the raw KEY_META prefix (RDB 13+: class count, then per
	// class a 4-byte spec and a module-serialized value), or nil.
	Meta []byte

	// For KindAux (Name, Data), KindFunction (Name for pre-GA, Data),
	// KindModuleAux (Module, Data).
	Name   []byte
	Data   []byte
	Module ModuleID
	// When is KindModuleAux's "when" (REDISMODULE_AUX_BEFORE_RDB 1: saved
	// before the keys, REDISMODULE_AUX_AFTER_RDB 2: after them).
	When uint64

	// For KindSlotImport.
	SlotRanges [][2]int

	// For KindResizeDB and KindSlotInfo.
	Slot        int
	DBSize      uint64
	ExpiresSize uint64
}

// ModuleID is a module type id decoded into its 9-character name and
// encoding version, as Redis packs them into 64 bits.
type ModuleID uint64

const moduleIDCharset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// ModuleIDOf packs a module type name (9 characters of A-Z, a-z, 0-9,
// '-' and '_') and an encoding version (0 to 1023) into a ModuleID, as
// Redis does. It reports false when either is out of range.
func ModuleIDOf(name string, version int) (ModuleID, bool) {
	if len(name) != 9 || version < 0 || version > 1023 {
		return 0, false
	}
	var id uint64
	for i := 0; i < len(name); i++ {
		c := strings.IndexByte(moduleIDCharset, name[i])
		if c < 0 {
			return 0, false
		}
		id = id<<6 | uint64(c)
	}
	return ModuleID(id<<10 | uint64(version)), true
}

// Name returns the module type name, such as "ReJSON-RL".
func (m ModuleID) Name() string {
	const charset = moduleIDCharset
	var b [9]byte
	id := uint64(m) >> 10
	for i := 8; i >= 0; i-- {
		b[i] = charset[id&63]
		id >>= 6
	}
	return string(b[:])
}

// Version returns the module's encoding version (the low 10 bits).
func (m ModuleID) Version() int { return int(uint64(m) & 1023) }

func (m ModuleID) String() string { return m.Name() + "/v" + strconv.Itoa(m.Version()) }

// ValueStats summarizes one key's value. The Reader computes it by walking
// the value once.
type ValueStats struct {
	Encoding       Encoding
	Elements       int64 // list items, set and zset members, hash fields, stream entries, array elements; 1 for strings
	LargestElement int64 // length in bytes of the largest element (member, field or value); for strings the string's length
	Memory         int64 // estimated bytes Redis 7.0 uses for the key, as MEMORY USAGE key SAMPLES 0 reports it
	ValueSize      int64 // serialized value bytes in the file, type byte excluded
	// Module is the module type of a module value (its name and encoding
	// version): loading the value needs the module that defines it.
	Module ModuleID
}
