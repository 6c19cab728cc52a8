package rdb

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// layoutOf returns the layout called name or fails the test.
func layoutOf(t *testing.T, name string) *memLayout {
	t.Helper()
	l, err := lookupLayout(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestMemoryModelDeltas checks each model on small values whose MEMORY
// USAGE is worked out by hand from the server source each model names
// (jemalloc classes 8, 16, 32, 48, 64, 80, 96, 112, 128, 160, ...).
func TestMemoryModelDeltas(t *testing.T) {
	key1 := []byte("k")
	key20 := []byte("k2345678901234567890")
	type value struct {
		name    string
		key     []byte
		typ     Type
		enc     Encoding
		expires bool
		build   func(m *memModel)
	}
	embstr := func(n int64) func(m *memModel) { return func(m *memModel) { m.str(n, EncodingEmbstr) } }
	values := []value{
		// robj 16 + sdshdr8 3 + 5 + 1 = 25 -> 32.
		{"embstr 5 under key 20", key20, TypeString, EncodingEmbstr, false, embstr(5)},
		{"embstr 5 under key 20 with TTL", key20, TypeString, EncodingEmbstr, true, embstr(5)},
		// 16 + 3 + 40 + 1 = 60 -> 64.
		{"embstr 40 under key 20", key20, TypeString, EncodingEmbstr, false, embstr(40)},
		// Members of 1 byte: sds 3 -> 8 each; a 4-slot dict.
		{"set of 2 in a hashtable", key1, TypeSet, EncodingHashtable, false, func(m *memModel) {
			m.htEntry(1, -1)
			m.htEntry(1, -1)
		}},
		// A quicklist of one 100-byte listpack node (-> 112).
		{"list of one node", key1, TypeList, EncodingQuicklist, false, func(m *memModel) { m.qlNode(100) }},
		{"hash of one field in a hashtable", key1, TypeHash, EncodingHashtable, false, func(m *memModel) { m.htEntry(1, 1) }},
		{"hash of one field with a TTL", key1, TypeHash, EncodingHashtable, false, func(m *memModel) {
			m.htEntry(1, 1)
			m.ttlField(1, 1)
		}},
	}
	type want struct {
		memory int64
		enc    Encoding
	}
	// Per model, the MEMORY USAGE of each value above, in order.
	wants := map[string][]want{
		// key 20: sds 1+20+1 -> 32, dictEntry 24; key 1: 8 + 24.
		// set: 16 robj + 56 dict + 4*8 slots + 2*(8+24) = 168.
		// list: 16 + 40 quicklist + 40 node + 112 = 208.
		// hash: 16 + 56 + 32 + 8 + 24 + 8 = 144.
		"redis-7.0": {{88, EncodingEmbstr}, {88, EncodingEmbstr}, {120, EncodingEmbstr}, {200, EncodingHashtable}, {240, EncodingQuicklist}, {176, EncodingHashtable}, {176, EncodingHashtable}},
		// 7.2: a list of one node is a bare listpack: 16 + 112.
		"redis-7.2":  {{88, EncodingEmbstr}, {88, EncodingEmbstr}, {120, EncodingEmbstr}, {200, EncodingHashtable}, {160, EncodingListpack}, {176, EncodingHashtable}, {176, EncodingHashtable}},
		"valkey-7.2": {{88, EncodingEmbstr}, {88, EncodingEmbstr}, {120, EncodingEmbstr}, {200, EncodingHashtable}, {160, EncodingListpack}, {176, EncodingHashtable}, {176, EncodingHashtable}},
		// 7.4: a field with a TTL is an mstr with 18 bytes of metadata:
		// 18 + 1 + 1 + 1 = 21 -> 32 instead of 8.
		"redis-7.4": {{88, EncodingEmbstr}, {88, EncodingEmbstr}, {120, EncodingEmbstr}, {200, EncodingHashtable}, {160, EncodingListpack}, {176, EncodingHashtable}, {200, EncodingHashtable}},
		// 8.0: kvobj 16 + 1 + sds(1+20+1) = 39, embedded value 3+5+1:
		// 48 -> 48; with the expiry 56 -> 64. 40 bytes do not fit 64 with
		// the key: raw, kvobj 39 -> 48 plus sds 44 -> 48. Key "k": kvobj
		// 16+1+3 = 20 -> 32 replaces robj 16 and key 32.
		"redis-8.0": {{48, EncodingEmbstr}, {64, EncodingEmbstr}, {96, EncodingRaw}, {184, EncodingHashtable}, {144, EncodingListpack}, {160, EncodingHashtable}, {184, EncodingHashtable}},
		// Valkey 8.0: the key's dictEntryEmbedded is 17 + sdshdr8 3 +
		// key + 1: key 20 -> 41 -> 48, key 1 -> 22 -> 32. The set's two
		// members in 4 buckets need 2 - 4*(1-(3/4)^2) = 0.25 entries of 16.
		"valkey-8.0": {{80, EncodingEmbstr}, {80, EncodingEmbstr}, {112, EncodingEmbstr}, {156, EncodingHashtable}, {160, EncodingListpack}, {176, EncodingHashtable}, {176, EncodingHashtable}},
		// Valkey 8.1: no key cost; robj+key+value 16+1+22+0+9 = 48; with
		// the expiry 56 -> 64; 40 bytes: raw, 16 + 48. Hashtables: 72 +
		// one 64-byte bucket. Hash entry: field 3 + value 5 = 8.
		"valkey-8.1": {{48, EncodingEmbstr}, {64, EncodingEmbstr}, {64, EncodingRaw}, {168, EncodingHashtable}, {128, EncodingListpack}, {160, EncodingHashtable}, {168, EncodingHashtable}},
		// Valkey 9.0: the field's expiry is kept in its entry: 16.
		"valkey-9.0": {{48, EncodingEmbstr}, {64, EncodingEmbstr}, {64, EncodingRaw}, {168, EncodingHashtable}, {128, EncodingListpack}, {160, EncodingHashtable}, {168, EncodingHashtable}},
	}
	if len(wants) != len(memLayouts) {
		t.Errorf("wants cover %d models, there are %d", len(wants), len(memLayouts))
	}
	for name, ws := range wants {
		lay := layoutOf(t, name)
		for i, v := range values {
			m := memModel{lay: lay}
			v.build(&m)
			enc := v.enc
			got := m.total(v.key, v.typ, &enc, v.expires)
			if got != ws[i].memory || enc != ws[i].enc {
				t.Errorf("%s: %s: memory %d (%s), want %d (%s)", name, v.name, got, enc, ws[i].memory, ws[i].enc)
			}
		}
	}
}

func TestValkeyHashtableSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want float64 // without child buckets
	}{
		{0, 72}, {1, 72 + 64}, {7, 72 + 64}, {8, 72 + 2*64}, {129, 72 + 32*64}, {224, 72 + 32*64}, {225, 72 + 64*64},
	} {
		got := valkeyHashtableSize(tc.n)
		// Child buckets add up to about 41% of the buckets at the fullest
		// (7 entries a bucket on average: 40% of the buckets overflow).
		if got < tc.want || got > tc.want+0.5*(tc.want-72)+1e-9 {
			t.Errorf("valkeyHashtableSize(%d) = %.1f, want %.0f plus a few child buckets", tc.n, got, tc.want)
		}
	}
}

func TestChooseMemoryModel(t *testing.T) {
	for _, tc := range []struct {
		magic               string
		rdb                 int
		redisVer, valkeyVer string
		want                string
		note                bool
	}{
		{"REDIS", 10, "7.0.15", "", "redis-7.0", false},
		{"REDIS", 9, "6.2.14", "", "redis-7.0", false},
		{"REDIS", 11, "7.2.4", "", "redis-7.2", false},
		{"REDIS", 12, "7.4.1", "", "redis-7.4", false},
		{"REDIS", 12, "8.0.2", "", "redis-8.0", false},
		{"REDIS", 13, "8.2.1", "", "redis-8.0", false},
		{"REDIS", 13, "8.6.0", "", "redis-8.0", true}, // newer than every model
		{"REDIS", 10, "255.255.255", "", "redis-8.0", true},
		{"REDIS", 10, "7.1.0", "", "redis-7.0", true}, // no such release: nearest older
		{"REDIS", 11, "", "7.2.7", "valkey-7.2", false},
		{"REDIS", 11, "", "8.0.1", "valkey-8.0", false},
		{"REDIS", 11, "7.2.4", "8.0.1", "valkey-8.0", false}, // valkey-ver wins
		{"REDIS", 11, "", "8.1.1", "valkey-8.1", false},
		{"VALKEY", 80, "", "9.0.0", "valkey-9.0", false},
		{"VALKEY", 81, "", "9.1.0", "valkey-9.0", true},
		{"REDIS", 11, "", "7.0.0", "valkey-7.2", true}, // older than every valkey model
		{"REDIS", 10, "", "", "redis-7.0", true},
		{"REDIS", 11, "", "", "redis-7.2", true},
		{"REDIS", 12, "", "", "redis-7.4", true},
		{"REDIS", 13, "", "", "redis-8.0", true},
		{"VALKEY", 80, "", "", "valkey-9.0", true},
		{"REDIS", 10, "unstable", "", "redis-8.0", true},
	} {
		got := ChooseMemoryModel(tc.magic, tc.rdb, tc.redisVer, tc.valkeyVer)
		if got.Name != tc.want || (got.Note != "") != tc.note || got.Forced {
			t.Errorf("ChooseMemoryModel(%s, %d, %q, %q) = %+v, want %s (note: %v)", tc.magic, tc.rdb, tc.redisVer, tc.valkeyVer, got, tc.want, tc.note)
		}
		if err := CheckMemoryModel(got.Name); err != nil {
			t.Error(err)
		}
	}
	if names := MemoryModelNames(); len(names) != len(MemoryModels()) || names[0] != "redis-7.0" {
		t.Errorf("MemoryModelNames() = %v", names)
	}
	for _, info := range MemoryModels() {
		if info.Servers == "" || info.Source == "" {
			t.Errorf("model %+v lacks its servers or source", info)
		}
	}
}

// TestReaderMemoryModel writes a dump naming Valkey 8.0.1 and reads it
// with the model chosen from it, forced, and unknown.
func TestReaderMemoryModel(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{Version: 11})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAux([]byte("valkey-ver"), []byte("8.0.1")); err != nil {
		t.Fatal(err)
	}
	key := []byte("k2345678901234567890")
	err = w.WriteKey(&KeyValue{Key: key, Type: TypeString, ExpireAt: NoExpiry, Idle: -1, Freq: -1,
		Elements: func(fn func(*Element) error) error { return fn(&Element{Member: []byte("hello")}) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(model string) (int64, MemoryModelChoice) {
		t.Helper()
		rd := NewReader(bytes.NewReader(buf.Bytes()))
		if err := rd.SetMemoryModel(model); err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := rd.Next()
			if err != nil {
				t.Fatal(err)
			}
			if rec.Kind == KindKey {
				st, err := rd.Stats()
				if err != nil {
					t.Fatal(err)
				}
				return st.Memory, rd.MemoryModel()
			}
		}
	}
	if got, c := read(""); got != 80 || c.Name != "valkey-8.0" || c.Forced || c.Server != "valkey 8.0.1" || c.Note != "" {
		t.Errorf("chosen from the dump: memory %d with %+v, want 80 with valkey-8.0", got, c)
	}
	if got, c := read("redis-7.0"); got != 88 || c.Name != "redis-7.0" || !c.Forced || c.Server != "valkey 8.0.1" {
		t.Errorf("forced: memory %d with %+v, want 88 with redis-7.0", got, c)
	}
	rd := NewReader(bytes.NewReader(buf.Bytes()))
	err = rd.SetMemoryModel("redis-6")
	if !errors.Is(err, ErrUnknownMemoryModel) || !strings.Contains(err.Error(), "redis-7.0, redis-7.2") {
		t.Errorf("SetMemoryModel(redis-6) = %v, want ErrUnknownMemoryModel listing the names", err)
	}
}
