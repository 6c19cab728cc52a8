package aof

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/redkit/redkit/rdb"
)

// listOf returns the elements of the list at key in database 0 as Keys
// writes them, nil when the key is missing.
func listOf(t testing.TB, ks *Keyspace, key string) []string {
	t.Helper()
	var got []string
	found := false
	err := ks.Keys(func(kv *rdb.KeyValue) error {
		if kv.DB != 0 || string(kv.Key) != key {
			return nil
		}
		if kv.Type != rdb.TypeList {
			return fmt.Errorf("%q is a %v", key, kv.Type)
		}
		found = true
		return kv.Elements(func(e *rdb.Element) error {
			got = append(got, string(e.Member))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if found && len(got) == 0 {
		t.Fatalf("%q is an empty list", key)
	}
	return got
}

// checkListObject checks the list at key holds want (nil: the key is
// missing), and that the free slots before the elements hold no item.
func checkListObject(t testing.TB, ks *Keyspace, key string, want []string) {
	t.Helper()
	o := ks.dbs[0][key]
	if len(want) == 0 {
		if o != nil {
			t.Fatalf("%q: got %d elements, want no key", key, len(o.items()))
		}
		return
	}
	if o == nil {
		t.Fatalf("%q: missing, want %d elements", key, len(want))
	}
	items := o.items()
	if len(items) != len(want) {
		t.Fatalf("%q: got %d elements, want %d", key, len(items), len(want))
	}
	for i, it := range items {
		if string(it) != want[i] {
			t.Fatalf("%q: element %d is %q, want %q", key, i, it, want[i])
		}
	}
	for i, it := range o.list[:o.lhead] {
		if it != nil {
			t.Fatalf("%q: free slot %d of %d holds %q", key, i, o.lhead, it)
		}
	}
	for i, it := range o.list[len(o.list):cap(o.list)] {
		if it != nil {
			t.Fatalf("%q: free slot %d after the list holds %q", key, i, it)
		}
	}
}

// listModel is the obvious model of Redis lists: a plain slice per key,
// O(n) prepends.
type listModel map[string][]string

func (m listModel) push(key string, left, onlyExisting bool, vals ...string) {
	l, ok := m[key]
	if !ok && onlyExisting {
		return
	}
	for _, v := range vals {
		if left {
			l = append([]string{v}, l...)
		} else {
			l = append(l, v)
		}
	}
	m[key] = l
}

func (m listModel) store(key string, l []string) {
	if len(l) == 0 {
		delete(m, key)
	} else {
		m[key] = l
	}
}

func (m listModel) pop(key string, left bool, count int) {
	l := m[key]
	count = min(count, len(l))
	if left {
		l = l[count:]
	} else {
		l = l[:len(l)-count]
	}
	m.store(key, l)
}

func (m listModel) insert(key string, after bool, pivot, v string) {
	l := m[key]
	if i := slices.Index(l, pivot); i >= 0 {
		if after {
			i++
		}
		m[key] = slices.Insert(slices.Clone(l), i, v)
	}
}

func (m listModel) set(key string, idx int, v string) bool {
	l, ok := m[key]
	if idx < 0 {
		idx += len(l)
	}
	if !ok || idx < 0 || idx >= len(l) {
		return false
	}
	l = slices.Clone(l)
	l[idx] = v
	m[key] = l
	return true
}

func (m listModel) rem(key string, count int, v string) {
	l := slices.Clone(m[key])
	if count < 0 {
		slices.Reverse(l)
	}
	var out []string
	removed := 0
	for _, it := range l {
		if it == v && (count == 0 || removed < max(count, -count)) {
			removed++
			continue
		}
		out = append(out, it)
	}
	if count < 0 {
		slices.Reverse(out)
	}
	m.store(key, out)
}

func (m listModel) trim(key string, start, end int) {
	l, ok := m[key]
	if !ok {
		return
	}
	n := len(l)
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start = max(start, 0)
	end = min(end, n-1)
	if start > end || start >= n {
		delete(m, key)
		return
	}
	m[key] = l[start : end+1]
}

func (m listModel) move(src, dst string, fromLeft, toLeft bool) {
	l, ok := m[src]
	if !ok {
		return
	}
	var it string
	if fromLeft {
		it = l[0]
	} else {
		it = l[len(l)-1]
	}
	m.pop(src, fromLeft, 1)
	m.push(dst, toLeft, false, it)
}

func sideName(left bool) string {
	if left {
		return "LEFT"
	}
	return "RIGHT"
}

// TestKeyspaceListModel applies random list commands to two keys and
// compares them with listModel after every command.
func TestKeyspaceListModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if seed >= 4 {
				// Few free slots at the front: LPOP moves the elements
				// back to the array's start.
				defer func(m int) { maxListHead = m }(maxListHead)
				maxListHead = int(seed - 1)
			}
			rng := rand.New(rand.NewPCG(seed, 42))
			ks := NewKeyspace(KeyspaceOptions{})
			m := listModel{}
			val := func() string {
				if rng.IntN(50) == 0 {
					return ""
				}
				return strconv.Itoa(rng.IntN(100))
			}
			vals := func(most int) []string {
				v := make([]string, 1+rng.IntN(most))
				for i := range v {
					v[i] = val()
				}
				return v
			}
			keys := []string{"k", "k", "k", "o"}
			longest := 0
			for step := range 5000 {
				key := keys[rng.IntN(len(keys))]
				var args []string
				wantErr := false
				switch r := rng.IntN(100); {
				case r < 40:
					v := vals(4)
					args = append([]string{"LPUSH", key}, v...)
					m.push(key, true, false, v...)
				case r < 50:
					v := vals(3)
					args = append([]string{"RPUSH", key}, v...)
					m.push(key, false, false, v...)
				case r < 55:
					left := rng.IntN(2) == 0
					v := vals(3)
					args = append([]string{map[bool]string{true: "LPUSHX", false: "RPUSHX"}[left], key}, v...)
					m.push(key, left, true, v...)
				case r < 70:
					left := rng.IntN(2) == 0
					args = []string{map[bool]string{true: "LPOP", false: "RPOP"}[left], key}
					count := 1
					if rng.IntN(2) == 0 {
						count = rng.IntN(4)
						args = append(args, strconv.Itoa(count))
					}
					m.pop(key, left, count)
				case r < 78:
					after := rng.IntN(2) == 0
					pivot, v := val(), val()
					args = []string{"LINSERT", key, map[bool]string{true: "AFTER", false: "BEFORE"}[after], pivot, v}
					m.insert(key, after, pivot, v)
				case r < 86:
					idx, v := rng.IntN(40)-20, val()
					args = []string{"LSET", key, strconv.Itoa(idx), v}
					wantErr = !m.set(key, idx, v)
				case r < 90:
					count, v := rng.IntN(5)-2, val()
					args = []string{"LREM", key, strconv.Itoa(count), v}
					m.rem(key, count, v)
				case r < 92:
					start, end := rng.IntN(6)-2, rng.IntN(200)-100
					args = []string{"LTRIM", key, strconv.Itoa(start), strconv.Itoa(end)}
					m.trim(key, start, end)
				case r < 96:
					dst := keys[rng.IntN(len(keys))]
					fromLeft, toLeft := rng.IntN(2) == 0, rng.IntN(2) == 0
					args = []string{"LMOVE", key, dst, sideName(fromLeft), sideName(toLeft)}
					m.move(key, dst, fromLeft, toLeft)
				default:
					dst := keys[rng.IntN(len(keys))]
					args = []string{"RPOPLPUSH", key, dst}
					m.move(key, dst, false, true)
				}
				err := apply(ks, 0, args...)
				if wantErr && !errors.Is(err, ErrRejected) || !wantErr && err != nil {
					t.Fatalf("step %d: %q: got error %v, want one: %v", step, args, err, wantErr)
				}
				for _, k := range []string{"k", "o"} {
					checkListObject(t, ks, k, m[k])
					longest = max(longest, len(m[k]))
					if o := ks.dbs[0][k]; o != nil && int(o.lhead) > maxListHead {
						t.Fatalf("step %d: %q has %d free slots at its front, more than %d", step, k, o.lhead, maxListHead)
					}
				}
			}
			t.Logf("lists of up to %d elements, %d and %d at the end", longest, len(m["k"]), len(m["o"]))
			for _, k := range []string{"k", "o"} {
				if got := listOf(t, ks, k); !slices.Equal(got, m[k]) {
					t.Errorf("Keys() of %q: got %d elements, want %d", k, len(got), len(m[k]))
				}
			}
			// COPY and SORT ... STORE read the list.
			if err := apply(ks, 0, "COPY", "k", "kcopy"); err != nil {
				t.Fatal(err)
			}
			checkListObject(t, ks, "kcopy", m["k"])
			if _, ok := m["k"]; ok {
				if err := apply(ks, 0, "SORT", "k", "BY", "nosort", "STORE", "ksorted"); err != nil {
					t.Fatal(err)
				}
				checkListObject(t, ks, "ksorted", m["k"])
			}
		})
	}
}

// TestKeyspaceListHeadSize checks object.lhead costs no memory: it sits
// in the padding after object.typ.
func TestKeyspaceListHeadSize(t *testing.T) {
	var o object
	if off := unsafe.Offsetof(o.expireAt); off != 8 {
		t.Errorf("object.expireAt at offset %d, want 8: lhead makes objects bigger", off)
	}
}

// TestKeyspaceListLoad pushes onto a list loaded from an RDB, and loads
// what Keys writes of lists with free slots at their front.
func TestKeyspaceListLoad(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{})
	loaded := []string{"a", "b", "", "c", "d"}
	kv := &rdb.KeyValue{Key: []byte("l"), Type: rdb.TypeList, ExpireAt: rdb.NoExpiry, Idle: -1, Freq: -1,
		Elements: func(fn func(*rdb.Element) error) error {
			for _, v := range loaded {
				if err := fn(&rdb.Element{Member: []byte(v)}); err != nil {
					return err
				}
			}
			return nil
		}}
	if err := ks.Load(kv); err != nil {
		t.Fatal(err)
	}
	m := listModel{"l": loaded}
	for i := range 100 {
		v := strconv.Itoa(i)
		script := [][]string{{"LPUSH", "l", v, v + "b", v + "c"}, {"RPUSH", "l", v}, {"LINSERT", "l", "AFTER", v + "b", "x"}}
		m.push("l", true, false, v, v+"b", v+"c")
		m.push("l", false, false, v)
		m.insert("l", true, v+"b", "x")
		if i%3 == 0 {
			script = append(script, []string{"LPOP", "l", "2"}, []string{"RPOP", "l"})
			m.pop("l", true, 2)
			m.pop("l", false, 1)
		}
		for _, args := range script {
			if err := apply(ks, 0, args...); err != nil {
				t.Fatal(err)
			}
		}
		checkListObject(t, ks, "l", m["l"])
	}
	if o := ks.dbs[0]["l"]; o.lhead == 0 {
		t.Errorf("no free slots at the front of the list")
	}
	ks2 := NewKeyspace(KeyspaceOptions{})
	if err := ks.Keys(ks2.Load); err != nil {
		t.Fatal(err)
	}
	checkListObject(t, ks2, "l", m["l"])
}

// TestKeyspaceLPushMany applies 200,000 LPUSHes with RPOPs, LPOPs,
// LINSERTs and LSETs in between to one key, checked against a model
// holding the list reversed (where LPUSH appends), then 1,000,000
// single-element LPUSHes: with prepends that copy the list, neither
// would finish in time.
func TestKeyspaceLPushMany(t *testing.T) {
	ks := NewKeyspace(KeyspaceOptions{})
	rng := rand.New(rand.NewPCG(1, 2))
	var rev []string // the list, last element first
	list := func() []string {
		l := slices.Clone(rev)
		slices.Reverse(l)
		return l
	}
	next := 0
	pushes := 0
	for step := 0; pushes < 200_000; step++ {
		var args []string
		wantErr := false
		switch r := rng.IntN(1000); {
		case r < 850:
			args = []string{"LPUSH", "l"}
			for range 1 + rng.IntN(3)*rng.IntN(2) {
				v := "v" + strconv.Itoa(next)
				next++
				args = append(args, v)
				rev = append(rev, v)
			}
			pushes++
		case r < 920:
			count := 1 + rng.IntN(3)
			args = []string{"RPOP", "l", strconv.Itoa(count)}
			rev = rev[min(count, len(rev)):]
		case r < 990:
			count := 1 + rng.IntN(3)
			args = []string{"LPOP", "l", strconv.Itoa(count)}
			rev = rev[:len(rev)-min(count, len(rev))]
		case r < 995:
			// A pivot near the head, which LINSERT finds at once.
			if len(rev) == 0 {
				continue
			}
			j := len(rev) - 1 - rng.IntN(min(len(rev), 20))
			pivot, after := rev[j], rng.IntN(2) == 0
			v := "i" + strconv.Itoa(step)
			args = []string{"LINSERT", "l", map[bool]string{true: "AFTER", false: "BEFORE"}[after], pivot, v}
			for j = len(rev) - 1; rev[j] != pivot; j-- { // the first occurrence in the list
			}
			if !after {
				j++
			}
			rev = slices.Insert(rev, j, v)
		default:
			idx := rng.IntN(40) - 20
			v := "s" + strconv.Itoa(step)
			args = []string{"LSET", "l", strconv.Itoa(idx), v}
			i := idx
			if i < 0 {
				i += len(rev)
			}
			if wantErr = i < 0 || i >= len(rev); !wantErr {
				rev[len(rev)-1-i] = v
			}
		}
		err := apply(ks, 0, args...)
		if wantErr && !errors.Is(err, ErrRejected) || !wantErr && err != nil {
			t.Fatalf("step %d: %q: got error %v, want one: %v", step, args, err, wantErr)
		}
		if step%20_000 == 0 {
			checkListObject(t, ks, "l", list())
		}
	}
	checkListObject(t, ks, "l", list())
	if got, want := listOf(t, ks, "l"), list(); !slices.Equal(got, want) {
		t.Fatalf("Keys(): got %d elements, want %d", len(got), len(want))
	}
	t.Logf("%d elements left", len(rev))

	const n = 1_000_000
	e := &Entry{Kind: KindCommand, Args: [][]byte{[]byte("LPUSH"), []byte("big"), nil}}
	for i := range n {
		e.Args[2] = strconv.AppendInt(e.Args[2][:0], int64(i), 10)
		if err := ks.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	items := ks.dbs[0]["big"].items()
	if len(items) != n {
		t.Fatalf("got %d elements, want %d", len(items), n)
	}
	for i, it := range items {
		if want := strconv.Itoa(n - 1 - i); string(it) != want {
			t.Fatalf("element %d is %q, want %q", i, it, want)
		}
	}
}

// TestKeyspaceListQueues runs lists as queues and rotates them, in both
// directions: each takes linear time, and the array never grows much
// beyond the list.
func TestKeyspaceListQueues(t *testing.T) {
	const size, ops = 1000, 300_000
	for _, tc := range []struct{ push, pop string }{
		{"LPUSH", "RPOP"}, {"RPUSH", "LPOP"}, {"LPUSH", "LPOP"}, {"RPUSH", "RPOP"},
	} {
		t.Run(tc.push+"-"+tc.pop, func(t *testing.T) {
			ks := NewKeyspace(KeyspaceOptions{})
			// The model holds the list with the pushed end last.
			var ref []string
			samePush := tc.push[0] == tc.pop[0]
			for i := range ops {
				v := strconv.Itoa(i)
				if err := apply(ks, 0, tc.push, "q", v); err != nil {
					t.Fatal(err)
				}
				ref = append(ref, v)
				if i%2 == 0 && i > 2*size {
					if err := apply(ks, 0, tc.pop, "q", "2"); err != nil {
						t.Fatal(err)
					}
					if samePush {
						ref = ref[:len(ref)-2]
					} else {
						ref = ref[2:]
					}
				}
				if i > 2*size && i%size == 0 {
					if o := ks.dbs[0]["q"]; cap(o.list) > 4*len(o.items())+16 {
						t.Fatalf("after %d commands: %d elements in an array of %d", i, len(o.items()), cap(o.list))
					}
				}
			}
			want := slices.Clone(ref)
			if tc.push == "LPUSH" {
				slices.Reverse(want)
			}
			checkListObject(t, ks, "q", want)
		})
	}
	for _, tc := range []struct {
		from, to string
	}{{"RIGHT", "LEFT"}, {"LEFT", "RIGHT"}} {
		t.Run("LMOVE-"+tc.from+"-"+tc.to, func(t *testing.T) {
			ks := NewKeyspace(KeyspaceOptions{})
			var want []string
			for i := range size {
				v := strconv.Itoa(i)
				if err := apply(ks, 0, "RPUSH", "r", v); err != nil {
					t.Fatal(err)
				}
				want = append(want, v)
			}
			for range ops {
				if err := apply(ks, 0, "LMOVE", "r", "r", tc.from, tc.to); err != nil {
					t.Fatal(err)
				}
			}
			k := ops % size
			if tc.from == "RIGHT" {
				want = append(want[size-k:], want[:size-k]...)
			} else {
				want = append(want[k:], want[:k]...)
			}
			checkListObject(t, ks, "r", want)
			if o := ks.dbs[0]["r"]; cap(o.list) > 4*size {
				t.Fatalf("%d elements in an array of %d", size, cap(o.list))
			}
		})
	}
}

// BenchmarkKeyspaceLPush applies b.N single-element LPUSHes to one key,
// which grows by one element each command: ns/op is per command.
func BenchmarkKeyspaceLPush(b *testing.B) {
	ks := NewKeyspace(KeyspaceOptions{})
	e := &Entry{Kind: KindCommand, Args: [][]byte{[]byte("LPUSH"), []byte("key"), []byte("element:000000000000")}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := ks.Apply(e); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := len(ks.dbs[0]["key"].items()); n != b.N {
		b.Fatalf("list has %d elements, want %d", n, b.N)
	}
}
