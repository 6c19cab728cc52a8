package rdb_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// TestLiveValues fills a real redis-server with every type and encoding
// it has (thresholds lowered and raised to force each one), saves it, and
// compares every value and expiry we decode from the dump with what the
// server returns for the same key.
func TestLiveValues(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	if err := redistest.FillMixed(ctx, srv.Client(), 1); err != nil {
		t.Fatalf("FillMixed: %v", err)
	}
	data, err := os.ReadFile(srv.Save(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]map[string]string{}
	err = eachKey(data, func(rd *rdb.Reader, rec *rdb.Record) error {
		typ := rec.Type
		var elems []string
		err := rd.Elements(func(e *rdb.Element) error {
			switch typ {
			case rdb.TypeZSet:
				elems = append(elems, string(e.Member)+"="+strconv.FormatFloat(e.Score, 'g', 17, 64))
			case rdb.TypeHash:
				elems = append(elems, string(e.Member)+"="+string(e.Value))
			case rdb.TypeStream:
				var fs []string
				for _, f := range e.Fields {
					fs = append(fs, string(f))
				}
				elems = append(elems, e.ID.String()+":"+strings.Join(fs, ","))
			default:
				elems = append(elems, string(e.Member))
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Hash tables have no order, and skiplist zsets are saved from the
		// highest score down: compare those as sorted sets of elements.
		if typ == rdb.TypeSet || typ == rdb.TypeHash || typ == rdb.TypeZSet {
			sort.Strings(elems)
		}
		if got[rec.DB] == nil {
			got[rec.DB] = map[string]string{}
		}
		got[rec.DB][string(rec.Key)] = fmt.Sprintf("%s exp=%d %q", typ, rec.ExpireAt, elems)
		if s := rd.Stream(); s != nil {
			got[rec.DB][string(rec.Key)] += streamMeta(s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	conn := srv.Client().Conn()
	defer conn.Close()
	n := 0
	for db, keys := range got {
		if err := conn.Select(ctx, db).Err(); err != nil {
			t.Fatal(err)
		}
		for key, g := range keys {
			n++
			if want := liveValue(t, conn, key); g != want {
				t.Errorf("db %d key %q:\n got %s\nwant %s", db, key, clipDiff(g, want), clipDiff(want, g))
			}
		}
	}
	// DUMP payloads: ours, built from the file's bytes, must equal what the
	// server's DUMP returns for the same key.
	dumps := 0
	err = eachKey(data, func(rd *rdb.Reader, rec *rdb.Record) error {
		var buf bytes.Buffer
		if err := rd.WriteDump(&buf); err != nil {
			return err
		}
		conn.Select(ctx, rec.DB)
		want, err := conn.Dump(ctx, string(rec.Key)).Result()
		if err != nil {
			return fmt.Errorf("DUMP %q: %w", rec.Key, err)
		}
		if buf.String() != want {
			t.Errorf("db %d key %q: DUMP payload differs (%d bytes, server %d)", rec.DB, rec.Key, buf.Len(), len(want))
		}
		dumps++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dumps != n {
		t.Errorf("compared %d DUMP payloads, want %d", dumps, n)
	}

	dbsize := 0
	for db := range got {
		conn.Select(ctx, db)
		dbsize += int(conn.DBSize(ctx).Val())
	}
	if n != dbsize || n == 0 {
		t.Fatalf("decoded %d keys, server has %d", n, dbsize)
	}
}

// liveValue renders a key as the server returns it, in dumpFile's form.
func liveValue(t *testing.T, c *redis.Conn, key string) string {
	t.Helper()
	ctx := t.Context()
	typ := c.Type(ctx, key).Val()
	exp, err := c.Do(ctx, "PEXPIRETIME", key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if exp < 0 {
		exp = rdb.NoExpiry
	}
	var elems []string
	switch typ {
	case "string":
		elems = []string{c.Get(ctx, key).Val()}
	case "list":
		elems = c.LRange(ctx, key, 0, -1).Val()
	case "set":
		elems = c.SMembers(ctx, key).Val()
		sort.Strings(elems)
	case "zset":
		for _, z := range c.ZRangeWithScores(ctx, key, 0, -1).Val() {
			elems = append(elems, z.Member.(string)+"="+strconv.FormatFloat(z.Score, 'g', 17, 64))
		}
		sort.Strings(elems)
	case "hash":
		for f, v := range c.HGetAll(ctx, key).Val() {
			elems = append(elems, f+"="+v)
		}
		sort.Strings(elems)
	case "stream":
		// The raw reply keeps field order (go-redis's XRange gives a map).
		raw, err := c.Do(ctx, "XRANGE", key, "-", "+").Slice()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range raw {
			pair := e.([]any)
			var fs []string
			for _, f := range pair[1].([]any) {
				fs = append(fs, f.(string))
			}
			elems = append(elems, pair[0].(string)+":"+strings.Join(fs, ","))
		}
	default:
		t.Fatalf("key %q: type %q", key, typ)
	}
	if elems == nil {
		elems = []string{}
	}
	out := fmt.Sprintf("%s exp=%d %q", typ, exp, slices.Clip(elems))
	if typ == "stream" {
		out += liveStreamMeta(t, c, key)
	}
	return out
}

// streamMeta renders what XINFO STREAM FULL shows of a stream's metadata.
func streamMeta(s *rdb.StreamInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, " len=%d last=%v maxdel=%v added=%d first=%v", s.Length, s.LastID, s.MaxDeletedID, s.EntriesAdded, s.FirstID)
	for _, g := range s.Groups {
		// XINFO answers nil for an unknown entries-read (-1 in the dump),
		// and go-redis turns nil into 0.
		fmt.Fprintf(&b, " group %s last=%v read=%d", g.Name, g.LastID, max(g.EntriesRead, 0))
		for _, p := range g.Pending {
			fmt.Fprintf(&b, " pel %v %s %d %d", p.ID, p.Consumer, p.DeliveryTime, p.DeliveryCount)
		}
		for _, c := range g.Consumers {
			fmt.Fprintf(&b, " consumer %s %d", c.Name, c.SeenTime)
		}
	}
	return b.String()
}

func liveStreamMeta(t *testing.T, c *redis.Conn, key string) string {
	t.Helper()
	// A large COUNT: all pending entries (go-redis omits COUNT 0).
	x, err := c.XInfoStreamFull(t.Context(), key, 1<<30).Result()
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) rdb.StreamID {
		var v rdb.StreamID
		fmt.Sscanf(s, "%d-%d", &v.Ms, &v.Seq)
		return v
	}
	s := &rdb.StreamInfo{Length: uint64(x.Length), LastID: id(x.LastGeneratedID), MaxDeletedID: id(x.MaxDeletedEntryID),
		EntriesAdded: uint64(x.EntriesAdded), FirstID: id(x.RecordedFirstEntryID)}
	for _, g := range x.Groups {
		sg := rdb.StreamGroup{Name: g.Name, LastID: id(g.LastDeliveredID), EntriesRead: g.EntriesRead}
		for _, p := range g.Pending {
			sg.Pending = append(sg.Pending, rdb.PendingEntry{ID: id(p.ID), Consumer: p.Consumer, DeliveryTime: p.DeliveryTime.UnixMilli(), DeliveryCount: uint64(p.DeliveryCount)})
		}
		for _, cs := range g.Consumers {
			sg.Consumers = append(sg.Consumers, rdb.StreamConsumer{Name: cs.Name, SeenTime: cs.SeenTime.UnixMilli()})
		}
		s.Groups = append(s.Groups, sg)
	}
	return streamMeta(s)
}

// clipDiff shortens a long rendering to the part around its first
// difference from other.
func clipDiff(s, other string) string {
	i := 0
	for i < len(s) && i < len(other) && s[i] == other[i] {
		i++
	}
	from := max(0, i-80)
	return "..." + clip(s[from:])
}
