package rdb_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redkit/redkit/rdb"
)

// librdbExpect maps corpus dumps to librdb's rdb2json "data" output for
// them (MANIFEST.md of the corpus). set_expired.json is left out: librdb
// drops expired keys, we report them.
var librdbExpect = map[string]string{
	"hash_lp_v11.rdb":            "hash_lp_v11_data.json",
	"hash_v3.rdb":                "hash_data.json",
	"hash_with_expire_v12.rdb":   "hash_ex_v12_data.json",
	"hash_zl_v6.rdb":             "hash_zl_v6_data.json",
	"hash_zm_v2.rdb":             "hash_zm_v2_data.json",
	"mem_policy_lfu.rdb":         "mem_policy_lfu.json",
	"mem_policy_lru.rdb":         "mem_policy_lru.json",
	"multiple_lists_strings.rdb": "multiple_lists_strings_data.json",
	"plain_list_v6.rdb":          "plain_list_v6_data.json",
	"plain_set_v6.rdb":           "plain_set_v6_data.json",
	"plain_zset_2_v11.rdb":       "plain_zset_2_v11_data.json",
	"quicklist.rdb":              "quicklist_data.json",
	"quicklist2_v11.rdb":         "single_list_data.json",
	"set_is_v11.rdb":             "set_is_v11_data.json",
	"set_lp_v11.rdb":             "set_lp_v11_data.json",
	"set_not_expired_v11.rdb":    "set_not_expired.json",
	"single_key.rdb":             "single_key_data.json",
	"stream_v11.rdb":             "stream_data.json",
	"ziplist_v3.rdb":             "ziplist_data.json",
	"zset_lp_v11.rdb":            "zset_lp_v11_data.json",
	"zset_zl_v6.rdb":             "zset_zl_v6_data.json",
	"cluster_slot_info.rdb":      "cluster_slot_info.json",
}

// TestLibrdbExpectations compares our decoding with librdb's JSON output
// for its own test dumps, key by key and value by value.
func TestLibrdbExpectations(t *testing.T) {
	dir := filepath.Join(corpusDir, "librdb")
	if _, err := os.Stat(dir); err != nil {
		corpusFiles(t) // skips or fails with the reason
	}
	for dump, exp := range librdbExpect {
		t.Run(dump, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, exp))
			if err != nil {
				t.Fatal(err)
			}
			// rdb2json writes the members of one object without braces.
			var want map[string]json.RawMessage
			if err := json.Unmarshal(append(append([]byte("{"), raw...), '}'), &want); err != nil {
				t.Fatalf("parse %s: %v", exp, err)
			}
			data, err := os.ReadFile(filepath.Join(dir, dump))
			if err != nil {
				t.Fatal(err)
			}
			got := librdbView(t, data)
			for k, w := range want {
				if len(k) > 2 && k[:2] == "__" {
					continue // __aux__, __dbsize__, __slotinfo__
				}
				g, ok := got[k]
				if !ok {
					t.Errorf("key %q: missing", k)
					continue
				}
				if !jsonEqual(t, g, w) {
					var gv, wv any
					json.Unmarshal(g, &gv)
					json.Unmarshal(w, &wv)
					t.Errorf("key %q:\n got %v\nwant %v", k, normalize(gv), normalize(wv))
				}
				delete(got, k)
			}
			for k := range got {
				t.Errorf("key %q: we read it, librdb does not", k)
			}
		})
	}
}

// librdbView renders each key as rdb2json does: strings as strings,
// lists and sets as arrays, hashes as objects, zsets as member->score
// strings, streams as {"entries":[{"id","items"}]}.
func librdbView(t *testing.T, data []byte) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	err := eachKey(data, func(rd *rdb.Reader, rec *rdb.Record) error {
		var (
			arr     []string
			obj     = map[string]string{}
			entries []map[string]any
		)
		typ := rec.Type
		err := rd.Elements(func(e *rdb.Element) error {
			switch typ {
			case rdb.TypeString, rdb.TypeList, rdb.TypeSet:
				arr = append(arr, string(e.Member))
			case rdb.TypeHash:
				obj[string(e.Member)] = string(e.Value)
			case rdb.TypeZSet:
				obj[string(e.Member)] = strconv.FormatFloat(e.Score, 'g', -1, 64)
			case rdb.TypeStream:
				items := map[string]string{}
				for i := 0; i+1 < len(e.Fields); i += 2 {
					items[string(e.Fields[i])] = string(e.Fields[i+1])
				}
				entries = append(entries, map[string]any{"id": e.ID.String(), "items": items})
			}
			return nil
		})
		if err != nil {
			return err
		}
		var v any
		switch typ {
		case rdb.TypeString:
			v = arr[0]
		case rdb.TypeList, rdb.TypeSet:
			v = arr
		case rdb.TypeStream:
			v = map[string]any{"entries": entries}
		default:
			v = obj
		}
		b, _ := json.Marshal(v)
		out[string(rec.Key)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonEqual compares two JSON values; sets compare as sorted arrays and
// zset scores as numbers.
func jsonEqual(t *testing.T, got, want json.RawMessage) bool {
	t.Helper()
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil {
		return false
	}
	return fmt.Sprint(normalize(g)) == fmt.Sprint(normalize(w))
}

func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		var s []string
		for _, e := range x {
			s = append(s, fmt.Sprint(normalize(e)))
		}
		slices.Sort(s) // set members and list items alike: order is checked by TestCorpus
		return s
	case map[string]any:
		m := map[string]string{}
		for k, e := range x {
			m[k] = fmt.Sprint(normalize(e))
		}
		return m
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			// librdb prints the score -0 as 0; the dump (and ZSCORE) say -0.
			return strconv.FormatFloat(f+0, 'g', -1, 64)
		}
	}
	return v
}

// TestHDTMemoryCSV checks our key list, types, element counts and
// expiries against the memory reports HDT3213/rdb ships for its dumps
// (its sizes are its own model and are not compared).
func TestHDTMemoryCSV(t *testing.T) {
	for dump, report := range map[string]string{"memory.rdb": "memory.csv", "listpack.rdb": "listpack.csv"} {
		t.Run(dump, func(t *testing.T) {
			dir := filepath.Join(corpusDir, "hdt3213-rdb")
			f, err := os.Open(filepath.Join(dir, report))
			if err != nil {
				corpusFiles(t)
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := csv.NewReader(f).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, dump))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			err = eachKey(data, func(rd *rdb.Reader, rec *rdb.Record) error {
				st, err := rd.Stats()
				if err != nil {
					return err
				}
				n := st.Elements
				if rec.Type == rdb.TypeString || rec.Type == rdb.TypeStream {
					n = 0 // HDT counts no elements for these
				}
				exp := ""
				if rec.ExpireAt != rdb.NoExpiry {
					exp = strconv.FormatInt(rec.ExpireAt/1000, 10)
				}
				got[fmt.Sprintf("%d/%s", rec.DB, rec.Key)] = fmt.Sprintf("%s n=%d exp=%s", rec.Type, n, exp)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows[1:] { // database,key,type,size,size_readable,element_count,encoding,expiration
				exp := ""
				if r[7] != "" {
					tm, err := time.Parse(time.RFC3339, r[7])
					if err != nil {
						t.Fatal(err)
					}
					exp = strconv.FormatInt(tm.Unix(), 10)
				}
				k := r[0] + "/" + r[1]
				want := fmt.Sprintf("%s n=%s exp=%s", r[2], r[5], exp)
				if got[k] != want {
					t.Errorf("key %s: got %q, want %q", k, got[k], want)
				}
				delete(got, k)
			}
			for k := range got {
				t.Errorf("key %s: not in %s", k, report)
			}
		})
	}
}
