package analysis

import (
	"bytes"
	"cmp"
	"container/heap"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/redkit/redkit/rdb"
)

// Node is a node of the prefix tree: the root (all keys), a database
// (only when there are several), a prefix, the keys of a node that have
// no deeper prefix, one of the biggest keys, or (in a flame graph page
// only) the children left out of the page.
type Node struct {
	Name     string  `json:"n"`           // label: the last level of the prefix, printable
	Full     string  `json:"f,omitempty"` // full prefix or key, printable
	Kind     string  `json:"t,omitempty"` // "" prefix or root, NodeDB, NodeRest, NodeKey, NodeMore
	Memory   int64   `json:"v"`
	Keys     int64   `json:"k"`
	Count    int64   `json:"m,omitempty"` // NodeMore: how many nodes it stands for
	Children []*Node `json:"c,omitempty"`
}

// Kinds of Node.
const (
	NodeDB   = "d" // a database
	NodeRest = "r" // keys of the parent that have no deeper prefix
	NodeKey  = "k" // one key (of Summary.Biggest)
	NodeMore = "o" // nodes left out of a flame graph page, summed
)

// otherKeys labels the keys of a node that have no deeper prefix.
const otherKeys = "(keys without a deeper prefix)"

type nodeKey struct {
	db     int
	prefix string
}

// Tree builds the prefix tree of s. Children come biggest first; a
// node's memory beyond its children's, held by keys that have no deeper
// prefix, is a child of its own (Kind NodeRest). When s keeps its
// biggest keys (SummaryOptions.Top), each is a leaf (Kind NodeKey) under
// its deepest prefix, taken out of that prefix's NodeRest share; a key
// that does not fit there (approximate prefixes) is left out. Without
// prefixes (Prefixes.Depth 0) the tree has only databases and keys.
func Tree(s *Summary) *Node {
	root := &Node{Name: "all keys", Memory: s.Total.Memory, Keys: s.Total.Keys}
	dbRoot := map[int]*Node{}
	for _, g := range Sorted(s.ByDB) {
		if len(s.ByDB) == 1 {
			dbRoot[g.Name] = root
			break
		}
		n := &Node{Name: "db" + strconv.Itoa(g.Name), Kind: NodeDB, Memory: g.Memory, Keys: g.Keys}
		root.Children = append(root.Children, n)
		dbRoot[g.Name] = n
	}
	nodes := map[nodeKey]*Node{}
	p := s.Prefixes
	if p != nil {
		all := p.all()
		slices.SortFunc(all, func(a, b Prefix) int { return cmp.Compare(a.Depth, b.Depth) })
		nodes = make(map[nodeKey]*Node, len(all))
		for _, e := range all {
			parent := dbRoot[e.DB]
			if parent == nil { // keys of a database removed from ByDB cannot happen; be safe
				parent = root
			}
			// Attach to the nearest ancestor still held (pruning may have
			// dropped some).
			for up := p.parent(e.Prefix); up != ""; up = p.parent(up) {
				if n := nodes[nodeKey{e.DB, up}]; n != nil {
					parent = n
					break
				}
			}
			label := e.Prefix[len(p.parent(e.Prefix)):]
			n := &Node{Name: Printable(label), Full: Printable(e.Prefix), Memory: e.Memory, Keys: e.Keys}
			parent.Children = append(parent.Children, n)
			nodes[nodeKey{e.DB, e.Prefix}] = n
		}
	}
	if s.Biggest != nil {
		addKeys(s, root, dbRoot, nodes)
	}
	var sortTree func(n *Node)
	sortTree = func(n *Node) {
		// Keys with no deeper prefix get a block of their own, so that the
		// graph accounts for every byte.
		var mem, keys int64
		for _, c := range n.Children {
			mem, keys = mem+c.Memory, keys+c.Keys
		}
		if len(n.Children) > 0 && n.Memory > mem {
			n.Children = append(n.Children, &Node{Name: otherKeys, Full: n.Full, Kind: NodeRest, Memory: n.Memory - mem, Keys: n.Keys - keys})
		}
		slices.SortFunc(n.Children, compareNodes)
		for _, c := range n.Children {
			sortTree(c)
		}
	}
	sortTree(root)
	return root
}

// compareNodes orders siblings biggest first, then by key count, kind
// and name, so that the tree does not depend on map order.
func compareNodes(a, b *Node) int {
	if c := cmp.Compare(b.Memory, a.Memory); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Keys, a.Keys); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Full, b.Full); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// addKeys hangs s's biggest keys under their deepest prefix in the tree.
func addKeys(s *Summary, root *Node, dbRoot map[int]*Node, nodes map[nodeKey]*Node) {
	var opts PrefixOptions
	if s.Prefixes != nil {
		opts = s.Prefixes.Options()
	}
	used := map[*Node]*Totals{} // memory and keys of a node's children
	for _, k := range s.Biggest.Keys() {
		parent, prefix := dbRoot[k.DB], ""
		if parent == nil {
			parent = root
		}
		prefixes := keyPrefixes(opts, k.Key)
		for i := len(prefixes) - 1; i >= 0; i-- {
			if n := nodes[nodeKey{k.DB, prefixes[i]}]; n != nil {
				parent, prefix = n, prefixes[i]
				break
			}
		}
		u := used[parent]
		if u == nil {
			u = new(Totals)
			for _, c := range parent.Children {
				u.merge(Totals{c.Keys, c.Memory})
			}
			used[parent] = u
		}
		if parent.Memory-u.Memory < k.Stats.Memory || parent.Keys-u.Keys < 1 {
			continue // approximate prefixes: no room left
		}
		u.add(k.Stats.Memory)
		name := Printable(string(k.Key[len(prefix):]))
		if name == "" {
			name = Printable(string(k.Key))
		}
		parent.Children = append(parent.Children, &Node{Name: name, Full: Printable(string(k.Key)), Kind: NodeKey, Memory: k.Stats.Memory, Keys: 1})
	}
}

// keyPrefixes returns the prefixes a key counts for under opts (see
// PrefixOptions), shortest first.
func keyPrefixes(opts PrefixOptions, key []byte) []string {
	var out []string
	if opts.Separator == "" {
		for d := 1; d <= opts.Depth && d <= len(key); d++ {
			out = append(out, string(key[:d]))
		}
		return out
	}
	end := 0
	for d := 1; d <= opts.Depth; d++ {
		i := bytes.Index(key[end:], []byte(opts.Separator))
		if i < 0 {
			break
		}
		end += i + len(opts.Separator)
		out = append(out, string(key[:end]))
	}
	return out
}

// Printable returns s unchanged when it is printable UTF-8 and otherwise
// its Go-quoted form without the quotes ("\xff" escapes), so labels never
// lose bytes.
func Printable(s string) string {
	if utf8.ValidString(s) && strconv.CanBackquote(s) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// DefaultFlameGraphNodes is FlameGraphOptions.MaxNodes's default.
const DefaultFlameGraphNodes = 20000

// FlameGraphOptions configures WriteFlameGraph; the zero value works.
type FlameGraphOptions struct {
	// Title heads the page.
	Title string
	// DumpBytes is the RDB bytes read (Meta.Bytes summed), shown beside
	// the totals; 0 leaves it out.
	DumpBytes int64
	// StoredBytes is what the dump files take on disk (compressed or
	// not), shown when it differs from DumpBytes; 0 or less leaves it
	// out.
	StoredBytes int64
	// MaxNodes bounds the tree nodes written into the page (default
	// DefaultFlameGraphNodes): the biggest are kept, and the children of
	// a node left out are summed, exactly, into one node of Kind
	// NodeMore, so the page has at most about twice MaxNodes nodes
	// however many keys and prefixes the dump has.
	MaxNodes int
}

// flamePage is the data of a flame graph page, as JSON.
type flamePage struct {
	Title       string       `json:"title"`
	Keys        int64        `json:"keys"`
	Memory      int64        `json:"memory"`
	DumpBytes   int64        `json:"dumpBytes,omitempty"`
	StoredBytes int64        `json:"storedBytes,omitempty"`
	Separator   string       `json:"separator"`
	Depth       int          `json:"depth"`
	Approximate bool         `json:"approximate,omitempty"`
	Nodes       int          `json:"nodes"` // tree nodes in the page, NodeMore ones included
	Left        int64        `json:"left"`  // tree nodes summed into NodeMore ones
	ByType      []flameGroup `json:"byType"`
	ByDB        []flameGroup `json:"byDB"`
	Top         []flameKey   `json:"top"`
	Tree        *Node        `json:"tree"`
}

type flameGroup struct {
	Name   string `json:"name"`
	Keys   int64  `json:"keys"`
	Memory int64  `json:"memory"`
}

type flameKey struct {
	Key      string `json:"key"` // printable
	Source   string `json:"src,omitempty"`
	DB       int    `json:"db"`
	Type     string `json:"type"`
	Encoding string `json:"enc"`
	Elements int64  `json:"elems"`
	Memory   int64  `json:"memory"`
}

//go:embed flamegraph.html
var flameGraphHTML string

// WriteFlameGraph writes a self-contained HTML page (inline CSS and
// JavaScript, no network access, a Content-Security-Policy that forbids
// any) showing s: totals, memory by type and by database, the tree of
// Tree(s) as an icicle graph (widths are memory; boxes too narrow to see
// are merged into one; click to zoom, Esc to go up; search by substring
// or /regex/) and the biggest keys. The data is one JSON document in the
// page; every key and prefix is in Printable form, and the page only
// ever sets them as text.
func WriteFlameGraph(w io.Writer, s *Summary, opts FlameGraphOptions) error {
	if opts.MaxNodes <= 0 {
		opts.MaxNodes = DefaultFlameGraphNodes
	}
	page := flamePage{Title: opts.Title, Keys: s.Total.Keys, Memory: s.Total.Memory,
		DumpBytes: opts.DumpBytes, StoredBytes: max(opts.StoredBytes, 0)}
	if s.Prefixes != nil {
		po := s.Prefixes.Options()
		page.Separator, page.Depth, page.Approximate = Printable(po.Separator), po.Depth, s.Prefixes.Approximate()
	}
	for _, g := range Sorted(s.ByType) {
		page.ByType = append(page.ByType, flameGroup{g.Name.String(), g.Keys, g.Memory})
	}
	for _, g := range Sorted(s.ByDB) {
		page.ByDB = append(page.ByDB, flameGroup{strconv.Itoa(g.Name), g.Keys, g.Memory})
	}
	if s.Biggest != nil {
		for _, k := range s.Biggest.Keys() {
			page.Top = append(page.Top, flameKey{Key: Printable(string(k.Key)), Source: k.Source, DB: k.DB, Type: k.Type.String(),
				Encoding: k.Stats.Encoding.String(), Elements: numElements(k), Memory: k.Stats.Memory})
		}
	}
	page.Tree, page.Nodes, page.Left = capTree(Tree(s), opts.MaxNodes)
	data, err := json.Marshal(page) // escapes <, >, &, U+2028 and U+2029: inert inside <script>
	if err != nil {
		return fmt.Errorf("encode flame graph: %w", err)
	}
	t, err := template.New("flamegraph").Parse(flameGraphHTML)
	if err != nil {
		return fmt.Errorf("flame graph template: %w", err)
	}
	err = t.Execute(w, struct {
		Title string
		Data  template.JS
	}{opts.Title, template.JS(data)})
	if err != nil {
		return fmt.Errorf("write flame graph: %w", err)
	}
	return nil
}

// numElements is the element count, or a string's length.
func numElements(k Key) int64 {
	if k.Type == rdb.TypeString {
		return k.Stats.LargestElement
	}
	return k.Stats.Elements
}

// capTree copies the biggest max nodes of root (always root itself, and
// a node only with its parent), biggest first from the top; the children
// of a kept node that are not kept become one NodeMore child with their
// exact sums. In the copy, Full is left out where the page does not need
// it (equal to Name, or a NodeRest's). It returns the copy, its number
// of nodes and how many nodes of root were summed away.
func capTree(root *Node, max int) (*Node, int, int64) {
	cp := func(n *Node) *Node {
		c := &Node{Name: n.Name, Full: n.Full, Kind: n.Kind, Memory: n.Memory, Keys: n.Keys, Count: n.Count}
		if c.Full == c.Name || c.Kind == NodeRest {
			c.Full = ""
		}
		return c
	}
	out := cp(root)
	h := &capHeap{}
	seq := 0
	push := func(parent *Node, n *Node) {
		for _, c := range n.Children {
			heap.Push(h, capItem{src: c, dst: parent, seq: seq})
			seq++
		}
	}
	push(out, root)
	nodes := 1
	for h.Len() > 0 && nodes < max {
		it := heap.Pop(h).(capItem)
		c := cp(it.src)
		it.dst.Children = append(it.dst.Children, c)
		nodes++
		push(c, it.src)
	}
	// What is left: children of kept nodes. Their subtrees go too.
	more := map[*Node]*Node{}
	var left int64
	var count func(n *Node) int64
	count = func(n *Node) int64 {
		k := int64(1)
		for _, c := range n.Children {
			k += count(c)
		}
		return k
	}
	for _, it := range *h {
		m := more[it.dst]
		if m == nil {
			m = &Node{Kind: NodeMore}
			more[it.dst] = m
		}
		m.Memory += it.src.Memory
		m.Keys += it.src.Keys
		m.Count++
		left += count(it.src)
	}
	// Parents in a fixed order, so that the page does not depend on map
	// order (the children's order is the heap's, biggest first).
	var walk func(n *Node)
	walk = func(n *Node) {
		for _, c := range n.Children {
			walk(c)
		}
		if m := more[n]; m != nil {
			m.Name = strconv.FormatInt(m.Count, 10) + " more"
			n.Children = append(n.Children, m) // last: each is smaller than every kept sibling
			nodes++
		}
	}
	walk(out)
	return out, nodes, left
}

type capItem struct {
	src, dst *Node
	seq      int
}

// capHeap pops the biggest node first (by memory, then keys, then the
// order pushed).
type capHeap []capItem

func (h capHeap) Len() int { return len(h) }
func (h capHeap) Less(i, j int) bool {
	a, b := h[i].src, h[j].src
	if a.Memory != b.Memory {
		return a.Memory > b.Memory
	}
	if a.Keys != b.Keys {
		return a.Keys > b.Keys
	}
	return h[i].seq < h[j].seq
}
func (h capHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *capHeap) Push(x any)   { *h = append(*h, x.(capItem)) }
func (h *capHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
