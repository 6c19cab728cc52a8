package analysis

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Node is a node of the prefix tree: the root (all keys), a database
// (only when there are several), or a prefix.
type Node struct {
	Name     string  `json:"n"`           // label: the last level of the prefix, printable
	Full     string  `json:"f,omitempty"` // full prefix, printable
	Memory   int64   `json:"v"`
	Keys     int64   `json:"k"`
	Children []*Node `json:"c,omitempty"`
}

// otherKeys labels the keys of a node that have no deeper prefix.
const otherKeys = "(keys without a deeper prefix)"

// Tree builds the prefix tree of s, which must have been created with
// prefixes enabled. Children come biggest first; a node's memory beyond
// its children's, held by keys that have no deeper prefix, is a child of
// its own named otherKeys.
func Tree(s *Summary) *Node {
	root := &Node{Name: "all keys", Memory: s.Total.Memory, Keys: s.Total.Keys}
	if s.Prefixes == nil {
		return root
	}
	p := s.Prefixes
	dbRoot := map[int]*Node{}
	for _, g := range Sorted(s.ByDB) {
		if len(s.ByDB) == 1 {
			dbRoot[g.Name] = root
			break
		}
		n := &Node{Name: "db" + strconv.Itoa(g.Name), Memory: g.Memory, Keys: g.Keys}
		root.Children = append(root.Children, n)
		dbRoot[g.Name] = n
	}
	all := p.all()
	slices.SortFunc(all, func(a, b Prefix) int { return cmp.Compare(a.Depth, b.Depth) })
	type key struct {
		db     int
		prefix string
	}
	nodes := make(map[key]*Node, len(all))
	for _, e := range all {
		parent := dbRoot[e.DB]
		if parent == nil { // keys of a database removed from ByDB cannot happen; be safe
			parent = root
		}
		// Attach to the nearest ancestor still held (pruning may have
		// dropped some).
		for up := p.parent(e.Prefix); up != ""; up = p.parent(up) {
			if n := nodes[key{e.DB, up}]; n != nil {
				parent = n
				break
			}
		}
		label := e.Prefix[len(p.parent(e.Prefix)):]
		n := &Node{Name: Printable(label), Full: Printable(e.Prefix), Memory: e.Memory, Keys: e.Keys}
		parent.Children = append(parent.Children, n)
		nodes[key{e.DB, e.Prefix}] = n
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
			n.Children = append(n.Children, &Node{Name: otherKeys, Full: n.Full, Memory: n.Memory - mem, Keys: n.Keys - keys})
		}
		slices.SortFunc(n.Children, func(a, b *Node) int { return cmp.Compare(b.Memory, a.Memory) })
		for _, c := range n.Children {
			sortTree(c)
		}
	}
	sortTree(root)
	return root
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

// WriteFlameGraph writes a self-contained HTML page (inline CSS and
// JavaScript, no network access) showing the tree as an icicle graph:
// widths are memory, clicking a node zooms into it, clicking the top row
// zooms out.
func WriteFlameGraph(w io.Writer, title string, root *Node) error {
	data, err := json.Marshal(root) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("encode flame graph: %w", err)
	}
	_, err = fmt.Fprintf(w, flameGraphHTML, html.EscapeString(title), html.EscapeString(title), data)
	if err != nil {
		return fmt.Errorf("write flame graph: %w", err)
	}
	return nil
}

const flameGraphHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>
body{font:13px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:16px;margin:0 0 4px}#info{height:1.4em;color:#555;margin-bottom:8px}
#g{position:relative;width:100%%}
.n{position:absolute;height:20px;box-sizing:border-box;border:1px solid #fff;overflow:hidden;white-space:nowrap;
text-overflow:ellipsis;padding:1px 4px;cursor:pointer;border-radius:2px}
.n:hover{filter:brightness(.9)}
</style></head><body>
<h1>%s</h1><div id="info">Click a block to zoom in, the top row to zoom out.</div><div id="g"></div>
<script>
const data=%s;
const H=21,g=document.getElementById("g"),info=document.getElementById("info");
function size(b){const u=["B","KiB","MiB","GiB","TiB"];let i=0;while(b>=1024&&i<u.length-1){b/=1024;i++}return (i?b.toFixed(1):b)+" "+u[i]}
function color(s){let h=0;for(const c of s)h=(h*31+c.charCodeAt(0))%%360;return "hsl("+(h%%60+10)+",80%%,"+(62+h%%12)+"%%)"}
function label(n){return (n.f||n.n)+" — "+size(n.v)+", "+n.k+" keys"}
function draw(path){
  g.innerHTML="";let rows=path.length;
  const box=(n,x,w,d,click,grey)=>{
    const e=document.createElement("div");e.className="n";e.textContent=n.n+" ("+size(n.v)+")";e.title=label(n);
    e.style.left=x+"%%";e.style.width=w+"%%";e.style.top=(d*H)+"px";e.style.background=grey?"#ddd":color(n.f||n.n);
    e.onclick=click;e.onmouseover=()=>info.textContent=label(n)+", "+(100*n.v/Math.max(data.v,1)).toFixed(1)+"%% of all";
    g.appendChild(e);
  };
  path.forEach((a,i)=>box(a,0,100,i,()=>{if(i<path.length-1)draw(path.slice(0,i+1));else if(i>0)draw(path.slice(0,-1))},i<path.length-1));
  const kids=(n,x,w,d,chain)=>{let cx=x;for(const c of n.c||[]){const cw=n.v?w*c.v/n.v:0;
    if(cw>=0.05){const ch=chain.concat([c]);box(c,cx,cw,d,()=>draw(ch),false);rows=Math.max(rows,d+1);kids(c,cx,cw,d+1,ch)}cx+=cw}};
  kids(path[path.length-1],0,100,path.length,path);
  g.style.height=(rows*H)+"px";
}
draw([data]);
</script></body></html>
`
