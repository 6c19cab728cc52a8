package analysis

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/chromium"
	"github.com/redkit/redkit/internal/redistest"
	"github.com/redkit/redkit/rdb"
)

// checkSums fails unless every node's children add up to it exactly.
func checkSums(t *testing.T, n *Node, path string) {
	t.Helper()
	if len(n.Children) == 0 {
		return
	}
	var mem, keys int64
	for _, c := range n.Children {
		mem, keys = mem+c.Memory, keys+c.Keys
		checkSums(t, c, path+"/"+c.Name)
	}
	if mem != n.Memory || keys != n.Keys {
		t.Errorf("%s: children sum to %d bytes, %d keys; the node has %d, %d", path, mem, keys, n.Memory, n.Keys)
	}
}

func countNodes(n *Node, kind string) int {
	k := 0
	if n.Kind == kind {
		k = 1
	}
	for _, c := range n.Children {
		k += countNodes(c, kind)
	}
	return k
}

func TestTreeKeysAndCap(t *testing.T) {
	s := NewSummary(SummaryOptions{Top: 3, Prefixes: PrefixOptions{Separator: ":", Depth: 2}})
	for _, k := range []struct {
		db  int
		key string
		mem int64
	}{{0, "u:1:a", 500}, {0, "u:1:b", 10}, {0, "u:2:a", 20}, {0, "s:x", 300}, {0, "plain", 400}, {1, "u:9:z", 50}} {
		s.Add(rec(k.db, k.key, rdb.TypeString, rdb.NoExpiry), stats(k.mem))
	}
	root := Tree(s)
	checkSums(t, root, "")
	// The three biggest keys hang under their deepest prefix (or their
	// database), as leaves of one key.
	want := map[string]string{"u:1:a": "u:1:", "plain": "db0", "s:x": "s:"}
	var find func(n *Node)
	find = func(n *Node) {
		for _, c := range n.Children {
			if c.Kind == NodeKey {
				parent := n.Full
				if n.Kind == NodeDB {
					parent = n.Name
				}
				if want[c.Full] != parent || c.Keys != 1 {
					t.Errorf("key %q (%d keys) under %q, want under %q", c.Full, c.Keys, parent, want[c.Full])
				}
				delete(want, c.Full)
			}
			find(c)
		}
	}
	find(root)
	if len(want) > 0 {
		t.Errorf("keys not in the tree: %v", want)
	}

	for _, max := range []int{1, 2, 4, 6, 1000} {
		got, nodes, left := capTree(root, max)
		checkSums(t, got, fmt.Sprint("cap ", max))
		total := countNodes(root, "") + countNodes(root, NodeDB) + countNodes(root, NodeRest) + countNodes(root, NodeKey)
		kept := nodes - countNodes(got, NodeMore)
		if kept > max || int64(kept)+left != int64(total) {
			t.Errorf("cap %d: %d nodes kept (%d with the summed ones), %d left, of %d", max, kept, nodes, left, total)
		}
		if max >= total && (left != 0 || countNodes(got, NodeMore) != 0) {
			t.Errorf("cap %d: summed %d nodes of %d", max, left, total)
		}
	}
}

// TestFlameGraphEscapes: keys and titles are inert in the page: the only
// tags are the template's.
func TestFlameGraphEscapes(t *testing.T) {
	s := NewSummary(SummaryOptions{Top: 5, Prefixes: PrefixOptions{Separator: ":", Depth: 3}})
	evil := `</script><img src=x onerror="document.body.dataset.pwned=1">:1`
	for _, k := range []string{evil, "a:\u2028:\xff", "<!--:x", "]]>:<![CDATA[", "a&amp;b:c"} {
		s.Add(rec(0, k, rdb.TypeString, rdb.NoExpiry), stats(100))
	}
	var buf bytes.Buffer
	if err := WriteFlameGraph(&buf, s, FlameGraphOptions{Title: "</title><script>alert(1)</script>"}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<script"); n != 2 {
		t.Errorf("%d <script tags, want 2", n)
	}
	for _, bad := range []string{"<img", "<!--", "\u2028", "http://", "https://", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	if !strings.Contains(page, `\u003c/script\u003e\u003cimg`) {
		t.Errorf("the key is not in the data")
	}
	var again bytes.Buffer
	if err := WriteFlameGraph(&again, s, FlameGraphOptions{Title: "</title><script>alert(1)</script>"}); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("two pages of one summary differ (%v)", err)
	}
}

// element is an element of a DOM serialized by chromium --dump-dom.
type element struct {
	name  string
	attrs map[string]string
	text  string // the text after the start tag, up to the next tag
}

// parseDOM splits a serialized DOM into elements (start tags), reading
// attribute values and the contents of script and style as opaque.
func parseDOM(dom string) []element {
	var out []element
	for i := 0; i < len(dom); {
		if dom[i] != '<' {
			i++
			continue
		}
		i++
		if i < len(dom) && (dom[i] == '/' || dom[i] == '!') {
			i += strings.IndexByte(dom[i:], '>') + 1
			continue
		}
		e := element{attrs: map[string]string{}}
		j := i
		for j < len(dom) && dom[j] != ' ' && dom[j] != '>' && dom[j] != '/' {
			j++
		}
		e.name = strings.ToLower(dom[i:j])
		for j < len(dom) && dom[j] != '>' {
			if dom[j] == ' ' || dom[j] == '/' {
				j++
				continue
			}
			k := j
			for k < len(dom) && dom[k] != '=' && dom[k] != ' ' && dom[k] != '>' {
				k++
			}
			name := dom[j:k]
			if k < len(dom) && dom[k] == '=' && k+1 < len(dom) && dom[k+1] == '"' {
				end := strings.IndexByte(dom[k+2:], '"')
				e.attrs[name] = html.UnescapeString(dom[k+2 : k+2+end])
				k += end + 3
			}
			j = k
		}
		i = j + 1
		if e.name == "script" || e.name == "style" {
			end := strings.Index(dom[i:], "</"+e.name)
			e.text, i = dom[i:i+end], i+end
		} else if end := strings.IndexByte(dom[i:], '<'); end >= 0 {
			e.text = html.UnescapeString(dom[i : i+end])
		}
		out = append(out, e)
	}
	return out
}

func byID(els []element, id string) (element, bool) {
	for _, e := range els {
		if e.attrs["id"] == id {
			return e, true
		}
	}
	return element{}, false
}

func attrInt(t *testing.T, els []element, id, attr string) int64 {
	t.Helper()
	e, ok := byID(els, id)
	if !ok {
		t.Fatalf("no element #%s", id)
	}
	v, err := strconv.ParseInt(e.attrs[attr], 10, 64)
	if err != nil {
		t.Fatalf("#%s %s=%q: %v", id, attr, e.attrs[attr], err)
	}
	return v
}

// shownKey is a row of the biggest keys' table.
type shownKey struct {
	key, typ string
	db, mem  int64
}

func shownKeys(els []element) []shownKey {
	var out []shownKey
	for i, e := range els {
		if e.name != "tr" || e.attrs["data-db"] == "" || i+6 >= len(els) {
			continue
		}
		db, _ := strconv.ParseInt(e.attrs["data-db"], 10, 64)
		mem, _ := strconv.ParseInt(e.attrs["data-bytes"], 10, 64)
		out = append(out, shownKey{key: els[i+2].text, typ: els[i+3].text, db: db, mem: mem})
	}
	return out
}

// loadPage loads file#fragment in chromium and returns the DOM's
// elements; it fails the test when the page asked for anything but
// itself.
func loadPage(t *testing.T, b *chromium.Browser, file, fragment string) ([]element, string) {
	t.Helper()
	url := "file://" + file
	res, err := b.DumpDOM(context.Background(), url+fragment, chromium.Options{Width: 1200, Height: 800})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Stderr)
	}
	for _, u := range res.Requests {
		if u != url && u != url+fragment {
			t.Errorf("the page requested %s", u)
		}
	}
	els := parseDOM(res.DOM)
	if body, _ := byID(els, "title"); body.text == "" {
		t.Fatalf("page did not render: %.2000s", res.DOM)
	}
	return els, res.DOM
}

// flameDump writes a dump with a real redis-server: FillMixed's keys in
// databases 0 to 2, a family of user hashes, sessions, and big keys with
// hostile and binary names.
func flameDump(t *testing.T) string {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	c := srv.Client()
	if err := redistest.FillMixed(ctx, c, 7); err != nil {
		t.Fatal(err)
	}
	p := c.Pipeline()
	p.Select(ctx, 0)
	for i := range 800 {
		p.HSet(ctx, fmt.Sprintf("user:%d:profile", i), "name", strings.Repeat("n", i%90), "email", fmt.Sprintf("u%d@example.com", i))
		if i%3 == 0 {
			p.Set(ctx, fmt.Sprintf("user:%d:token", i), strings.Repeat("t", 40+i%200), 0)
		}
		p.Set(ctx, fmt.Sprintf("session:%08x", i*7919), strings.Repeat("s", 100+i%300), 0)
	}
	// Big enough to be the biggest keys.
	p.Set(ctx, `</script><img src=x onerror="document.body.dataset.pwned=1">:evil`, strings.Repeat("x", 5<<20), 0)
	p.Set(ctx, "bin\xff\x00key:1", strings.Repeat("b", 4<<20), 0)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return srv.Save(t)
}

func summarize(t *testing.T, dump string, top int) (*Summary, Meta) {
	t.Helper()
	f, err := os.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := NewSummary(SummaryOptions{Top: top, Prefixes: PrefixOptions{Separator: ":", Depth: 3}})
	var meta Meta
	err = Scan(context.Background(), rdb.NewReader(f), nil, &meta, func(r *rdb.Record, st rdb.ValueStats) error {
		s.Add(r, st)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, meta
}

// prefixSum sums the prefixes that match re, leaving out those inside
// another that matches (the page counts a match inside a match once).
func prefixSum(s *Summary, match func(string) bool) (n int, keys, mem int64) {
	for _, p := range s.Prefixes.Top(0) {
		if !match(p.Prefix) {
			continue
		}
		inner := false
		for up := s.Prefixes.parent(p.Prefix); up != ""; up = s.Prefixes.parent(up) {
			inner = inner || match(up)
		}
		if !inner {
			n, keys, mem = n+1, keys+p.Keys, mem+p.Memory
		}
	}
	return n, keys, mem
}

// TestFlameGraphFirstView: the first view of testdata/sample.rdb (1,096
// keys) has few boxes, most of them labelled; the page of the flame graph
// before it had 313 boxes there, 8 wide enough for a label.
func TestFlameGraphFirstView(t *testing.T) {
	b := chromium.Find(t)
	s, meta := summarize(t, filepath.Join("..", "..", "testdata", "sample.rdb"), 10)
	file := filepath.Join(t.TempDir(), "memory.html")
	var buf bytes.Buffer
	if err := WriteFlameGraph(&buf, s, FlameGraphOptions{Title: "sample", DumpBytes: meta.Bytes}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	els, _ := loadPage(t, b, file, "")
	boxes, labelled := attrInt(t, els, "graph", "data-boxes"), attrInt(t, els, "graph", "data-labelled")
	t.Logf("first view at 1200x800: %d boxes, %d labelled; page %d bytes", boxes, labelled, buf.Len())
	if boxes > 40 || labelled*2 < boxes {
		t.Errorf("first view has %d boxes, %d labelled", boxes, labelled)
	}
}

// TestFlameGraphBrowser loads the page of a real server's dump in
// chromium: the totals, breakdowns and biggest keys shown are the
// Summary's, searches for a prefix and a regular expression report the
// prefixes' own sums, a key click zooms to it, hostile keys stay text, and
// the page makes no request.
func TestFlameGraphBrowser(t *testing.T) {
	b := chromium.Find(t)
	dump := flameDump(t)
	s, meta := summarize(t, dump, 12)
	file := filepath.Join(t.TempDir(), "memory.html")
	var buf bytes.Buffer
	if err := WriteFlameGraph(&buf, s, FlameGraphOptions{Title: "redkit memory: dump.rdb", DumpBytes: meta.Bytes}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d keys, %d bytes of RDB, page %d bytes", s.Total.Keys, meta.Bytes, buf.Len())

	els, dom := loadPage(t, b, file, "")
	if got := attrInt(t, els, "total-keys", "data-value"); got != s.Total.Keys {
		t.Errorf("keys shown %d, want %d", got, s.Total.Keys)
	}
	if e, _ := byID(els, "total-keys"); e.text != formatThousands(s.Total.Keys) {
		t.Errorf("keys shown as %q, want %q", e.text, formatThousands(s.Total.Keys))
	}
	if got := attrInt(t, els, "total-memory", "data-bytes"); got != s.Total.Memory {
		t.Errorf("memory shown %d, want %d", got, s.Total.Memory)
	}
	if got := attrInt(t, els, "total-dump", "data-bytes"); got != meta.Bytes {
		t.Errorf("dump bytes shown %d, want %d", got, meta.Bytes)
	}
	var types, dbs []string
	for _, e := range els {
		if e.name == "tr" && e.attrs["data-name"] != "" {
			row := e.attrs["data-name"] + " " + e.attrs["data-keys"] + " " + e.attrs["data-bytes"]
			if _, err := strconv.Atoi(e.attrs["data-name"]); err == nil {
				dbs = append(dbs, row)
			} else {
				types = append(types, row)
			}
		}
	}
	var wantTypes, wantDBs []string
	for _, g := range Sorted(s.ByType) {
		wantTypes = append(wantTypes, fmt.Sprintf("%s %d %d", g.Name, g.Keys, g.Memory))
	}
	for _, g := range Sorted(s.ByDB) {
		wantDBs = append(wantDBs, fmt.Sprintf("%d %d %d", g.Name, g.Keys, g.Memory))
	}
	if fmt.Sprint(types) != fmt.Sprint(wantTypes) || fmt.Sprint(dbs) != fmt.Sprint(wantDBs) {
		t.Errorf("by type %q, by db %q; want %q, %q", types, dbs, wantTypes, wantDBs)
	}
	var wantTop []shownKey
	for _, k := range s.Biggest.Keys() {
		wantTop = append(wantTop, shownKey{Printable(string(k.Key)), k.Type.String(), int64(k.DB), k.Stats.Memory})
	}
	if got := shownKeys(els); fmt.Sprint(got) != fmt.Sprint(wantTop) {
		t.Errorf("biggest keys shown:\n%+v\nwant\n%+v", got, wantTop)
	}
	// Hostile keys are text.
	for _, e := range els {
		if e.name == "img" || e.attrs["data-pwned"] != "" {
			t.Errorf("a key became markup: %v", e)
		}
	}
	if !strings.Contains(dom, `&lt;/script&gt;&lt;img src=x onerror="document.body.dataset.pwned=1"&gt;:evil`) || !strings.Contains(dom, `bin\xff\x00key:1`) {
		t.Errorf("hostile or binary key not shown as text")
	}
	boxes, labelled := attrInt(t, els, "graph", "data-boxes"), attrInt(t, els, "graph", "data-labelled")
	t.Logf("first view: %d boxes, %d labelled", boxes, labelled)
	if boxes > 200 || labelled < 15 {
		t.Errorf("first view has %d boxes, %d labelled: too many unreadable boxes", boxes, labelled)
	}

	for _, tc := range []struct {
		query string
		match func(string) bool
	}{
		{"user:", func(p string) bool { return strings.Contains(p, "user:") }},
		{"str:", func(p string) bool { return strings.Contains(p, "str:") }},
		{`/^user:1\d:$/`, regexp.MustCompile(`^user:1\d:$`).MatchString},
	} {
		els, _ := loadPage(t, b, file, "#search="+urlEscape(tc.query))
		n, keys, mem := prefixSum(s, tc.match)
		if n == 0 {
			t.Fatalf("%s: no prefix matches", tc.query)
		}
		got := [3]int64{attrInt(t, els, "search-result", "data-matches"), attrInt(t, els, "search-result", "data-keys"), attrInt(t, els, "search-result", "data-bytes")}
		if got != [3]int64{int64(n), keys, mem} {
			t.Errorf("search %s: %d matches, %d keys, %d bytes; want %d, %d, %d", tc.query, got[0], got[1], got[2], n, keys, mem)
		}
		t.Logf("search %s: %d matches, %d keys, %d bytes", tc.query, got[0], got[1], got[2])
	}

	// #key=1 clicks the biggest key: the graph zooms to its prefix with
	// the key selected.
	els, _ = loadPage(t, b, file, "#key=1")
	var sel []element
	for _, e := range els {
		if strings.Contains(" "+e.attrs["class"]+" ", " sel ") {
			sel = append(sel, e)
		}
	}
	if len(sel) != 2 || sel[0].name != "div" || sel[1].name != "tr" {
		t.Errorf("selected after #key=1: %v", sel)
	}

	if dir := os.Getenv("REDKIT_FLAME_SHOTS"); dir != "" {
		for name, fragment := range map[string]string{"first": "", "search": "#search=user:", "key": "#key=1", "zoom": "#focus=user:"} {
			png := filepath.Join(dir, "flamegraph-"+name+".png")
			if res, err := b.Screenshot(context.Background(), "file://"+file+fragment, png, chromium.Options{Width: 1200, Height: 800}); err != nil {
				t.Fatalf("%v\n%s", err, res.Stderr)
			}
			t.Logf("screenshot %s", png)
		}
		os.WriteFile(filepath.Join(dir, "flamegraph.html"), buf.Bytes(), 0o644)
	}
}

func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func formatThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// millionKeys is a Summary of a synthetic million-key dump: four
// families of keys (one prefix per user: 400,000 distinct prefixes),
// keys without a separator, two databases.
func millionKeys() *Summary {
	s := NewSummary(SummaryOptions{Top: 50, Prefixes: PrefixOptions{Separator: ":", Depth: 3}})
	rng := rand.New(rand.NewPCG(1, 2))
	r := &rdb.Record{Kind: rdb.KindKey, ExpireAt: rdb.NoExpiry}
	key := make([]byte, 0, 64)
	for i := range 1_000_000 {
		r.DB = 0
		if i%10 == 9 {
			r.DB = 1
		}
		var mem int64
		switch {
		case i < 400_000:
			key, r.Type, mem = fmt.Appendf(key[:0], "user:%d:profile", i), rdb.TypeHash, 200+rng.Int64N(600)
		case i < 700_000:
			key, r.Type, mem = fmt.Appendf(key[:0], "session:%016x", rng.Uint64()), rdb.TypeString, 80+rng.Int64N(200)
		case i < 900_000:
			key, r.Type, mem = fmt.Appendf(key[:0], "cache:page:%d:v%d", i%5000, i), rdb.TypeString, 500+rng.Int64N(4000)
		case i < 950_000:
			key, r.Type, mem = fmt.Appendf(key[:0], "queue:%s:%d", []string{"mail", "sms", "push", "export"}[i%4], i), rdb.TypeList, 300+rng.Int64N(50_000)
		default:
			key, r.Type, mem = fmt.Appendf(key[:0], "counter%d", i), rdb.TypeString, 56
		}
		if i%100_000 == 0 {
			mem = 5 << 20 // a few big keys
		}
		r.Key = key
		s.Add(r, rdb.ValueStats{Encoding: rdb.EncodingRaw, Elements: 1, Memory: mem})
	}
	return s
}

// TestFlameGraphMillionKeys writes the page of a million keys: bounded
// size, exact sums, and chromium loads it quickly. The numbers are logged.
func TestFlameGraphMillionKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("a million keys")
	}
	start := time.Now()
	s := millionKeys()
	built := time.Since(start)
	var buf bytes.Buffer
	start = time.Now()
	if err := WriteFlameGraph(&buf, s, FlameGraphOptions{Title: "a million keys", DumpBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	t.Logf("summary of 1M keys in %v; page written in %v: %d bytes", built.Round(time.Millisecond), wrote.Round(time.Millisecond), buf.Len())
	if buf.Len() > 4<<20 {
		t.Errorf("page of %d bytes, want at most 4 MiB", buf.Len())
	}
	tree, nodes, left := capTree(Tree(s), DefaultFlameGraphNodes)
	checkSums(t, tree, "")
	if tree.Memory != s.Total.Memory || nodes > 2*DefaultFlameGraphNodes || left == 0 {
		t.Errorf("capped tree: %d bytes of %d, %d nodes, %d left out", tree.Memory, s.Total.Memory, nodes, left)
	}

	b := chromium.Find(t)
	file := filepath.Join(t.TempDir(), "memory.html")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.html")
	os.WriteFile(empty, []byte(`<!DOCTYPE html><p id="title">x</p>`), 0o644)
	start = time.Now()
	loadPage(t, b, empty, "")
	base := time.Since(start)
	start = time.Now()
	els, _ := loadPage(t, b, file, "#search=user:")
	took := time.Since(start)
	t.Logf("chromium --dump-dom: %v for the page, %v for an empty one; page's own load-to-first-render %d ms; first view %d boxes, %d labelled",
		took.Round(time.Millisecond), base.Round(time.Millisecond), attrInt(t, els, "graph", "data-load-ms"),
		attrInt(t, els, "graph", "data-boxes"), attrInt(t, els, "graph", "data-labelled"))
	_, keys, mem := prefixSum(s, func(p string) bool { return strings.Contains(p, "user:") })
	if got := attrInt(t, els, "search-result", "data-keys"); got != keys || attrInt(t, els, "search-result", "data-bytes") != mem {
		t.Errorf("search user: shows %d keys, want %d (%d bytes)", got, keys, mem)
	}
	if took > 20*time.Second {
		t.Errorf("chromium took %v", took)
	}
	if dir := os.Getenv("REDKIT_FLAME_SHOTS"); dir != "" {
		png := filepath.Join(dir, "flamegraph-million.png")
		if res, err := b.Screenshot(context.Background(), "file://"+file, png, chromium.Options{Width: 1200, Height: 800}); err != nil {
			t.Fatalf("%v\n%s", err, res.Stderr)
		}
		t.Logf("screenshot %s", png)
	}
}

// BenchmarkWriteFlameGraph writes the page of a million keys.
func BenchmarkWriteFlameGraph(b *testing.B) {
	s := millionKeys()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteFlameGraph(&buf, s, FlameGraphOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
