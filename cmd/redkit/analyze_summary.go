package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/rdb"
)

// summaryJSON is analyze --report summary --format json.
type summaryJSON struct {
	Files               []summaryFileJSON      `json:"files"`
	Keys                int64                  `json:"keys"`
	Memory              int64                  `json:"memory"`
	MemoryModel         string                 `json:"memory_model"` // the files' models, comma-separated when they differ
	FileBytes           int64                  `json:"file_bytes"`   // -1 when a size is unknown
	RDBBytes            int64                  `json:"rdb_bytes"`
	Databases           []groupJSON            `json:"databases"`
	Types               []groupJSON            `json:"types"`
	Encodings           []groupJSON            `json:"encodings"`
	Expiry              analysis.ExpiryProfile `json:"expiry"`
	BiggestKeys         []keyJSON              `json:"biggest_keys"`
	Prefixes            []prefixJSON           `json:"biggest_prefixes"`
	PrefixesApproximate bool                   `json:"prefixes_approximate"`
}

type summaryFileJSON struct {
	File        string `json:"file"`
	RDBVersion  int    `json:"rdb_version"`
	RedisVer    string `json:"redis_ver,omitempty"`
	ValkeyVer   string `json:"valkey_ver,omitempty"`
	MemoryModel string `json:"memory_model"`
	ModelNote   string `json:"memory_model_note,omitempty"`
	FileBytes   int64  `json:"file_bytes"`
	RDBBytes    int64  `json:"rdb_bytes"`
	Compression string `json:"compression"`
	Error       string `json:"error,omitempty"`
}

type groupJSON struct {
	Name string `json:"name"`
	analysis.Totals
}

func groups[K cmp.Ordered](m map[K]analysis.Totals, name func(K) string) []groupJSON {
	out := []groupJSON{}
	for _, g := range analysis.Sorted(m) {
		out = append(out, groupJSON{name(g.Name), g.Totals})
	}
	return out
}

func writeSummary(w io.Writer, opts analyzeOptions, s *analysis.Summary, files []analyzeResult) error {
	var fileBytes, rdbBytes int64
	for _, f := range files {
		if f.size < 0 || fileBytes < 0 {
			fileBytes = -1
		} else {
			fileBytes += f.size
		}
		rdbBytes += f.meta.Bytes
	}
	if opts.format == "json" {
		return writeSummaryJSON(w, s, files, opts, fileBytes, rdbBytes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	for _, f := range files {
		status := "ok"
		if f.err != nil {
			status = "INCOMPLETE"
		}
		p("file\t%s\tRDB v%d\t%s\t%s\t%s\n", f.path, f.meta.Version, serverOf(&f.meta), sizeLine(f.size, f.compression, f.meta.Bytes), status)
	}
	p("\nkeys\t%d\n", s.Total.Keys)
	p("memory (estimated)\t%s\t(%d bytes)\n", bytesize.Format(s.Total.Memory), s.Total.Memory)
	if rdbBytes > 0 {
		p("memory / RDB size\t%.2fx\t(RDB %s", float64(s.Total.Memory)/float64(rdbBytes), bytesize.Format(rdbBytes))
		if fileBytes >= 0 {
			p(", stored %s", bytesize.Format(fileBytes))
		}
		p(")\n")
	}
	for _, line := range modelLines(files, opts.model) {
		p("%s\n", line)
	}
	section := func(title string, rows []groupJSON) {
		p("\n%s\tkeys\tmemory\n", title)
		for _, r := range rows {
			p("  %s\t%d\t%s\n", r.Name, r.Keys, bytesize.Format(r.Memory))
		}
	}
	section("by database", groups(s.ByDB, func(db int) string { return fmt.Sprintf("db%d", db) }))
	section("by type", groups(s.ByType, func(t rdb.Type) string { return t.String() }))
	section("by encoding", groups(s.ByEncoding, func(e rdb.Encoding) string { return e.String() }))
	e := &s.Expiry
	section("expiry", []groupJSON{
		{"already expired", e.Expired}, {"< 1 hour", e.Hour}, {"< 1 day", e.Day},
		{"< 7 days", e.Week}, {"later", e.Later}, {"no expiry", e.None},
	})
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Biggest != nil {
		fmt.Fprintf(w, "\nbiggest keys\n")
		if err := writeKeys(w, "table", len(files) > 1, s.Biggest.Keys()); err != nil {
			return err
		}
	}
	if s.Prefixes != nil {
		o := s.Prefixes.Options()
		note := ""
		if s.Prefixes.Approximate() {
			note = ", approximate"
		}
		fmt.Fprintf(w, "\nbiggest prefixes (separator %q, depth %d%s)\n", o.Separator, o.Depth, note)
		top := s.Prefixes.Top(opts.top)
		if len(top) == 0 {
			fmt.Fprintf(w, "none: no key has the separator\n")
			return nil
		}
		if err := writePrefixes(w, "table", top); err != nil {
			return err
		}
	}
	return nil
}

// serverOf names the server a dump says wrote it: "redis 7.0.15",
// "valkey 8.0.1", or "redis -" when it does not say.
func serverOf(m *analysis.Meta) string {
	if v, ok := m.AuxValue("valkey-ver"); ok {
		return "valkey " + orDash(v)
	}
	v, _ := m.AuxValue("redis-ver")
	return "redis " + orDash(v)
}

// memoryModelOf is the memory model the Reader used for a file: forced,
// or chosen from the dump as the Reader chooses it.
func memoryModelOf(m *analysis.Meta, forced string) rdb.MemoryModelChoice {
	redisVer, _ := m.AuxValue("redis-ver")
	valkeyVer, _ := m.AuxValue("valkey-ver")
	c := rdb.ChooseMemoryModel(m.Magic, m.Version, redisVer, valkeyVer)
	if forced != "" {
		return rdb.MemoryModelChoice{Name: forced, Forced: true, Server: c.Server}
	}
	return c
}

// modelLines are the summary's lines on the memory models used: one
// "memory model" line, naming each file when they differ, and each
// different note.
func modelLines(files []analyzeResult, forced string) []string {
	var names, notes []string
	byName := map[string][]string{}
	for _, f := range files {
		if f.meta.Version == 0 { // not read at all
			continue
		}
		c := memoryModelOf(&f.meta, forced)
		if _, ok := byName[c.Name]; !ok {
			names = append(names, c.Name)
		}
		byName[c.Name] = append(byName[c.Name], f.path)
		if c.Note != "" && !slices.Contains(notes, c.Note) {
			notes = append(notes, c.Note)
		}
	}
	why := "(chosen from the server the dump names; --memory-model to override)"
	if forced != "" {
		why = "(--memory-model)"
	}
	var lines []string
	if len(names) == 0 {
		return nil
	}
	if len(names) == 1 {
		lines = append(lines, fmt.Sprintf("memory model\t%s\t%s", names[0], why))
	} else {
		for _, n := range names {
			lines = append(lines, fmt.Sprintf("memory model\t%s\t(%s)", n, strings.Join(byName[n], ", ")))
		}
	}
	for _, n := range notes {
		lines = append(lines, "  note: "+n)
	}
	return lines
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeSummaryJSON(w io.Writer, s *analysis.Summary, files []analyzeResult, opts analyzeOptions, fileBytes, rdbBytes int64) error {
	top := opts.top
	out := summaryJSON{
		Keys: s.Total.Keys, Memory: s.Total.Memory, FileBytes: fileBytes, RDBBytes: rdbBytes,
		Databases: groups(s.ByDB, func(db int) string { return fmt.Sprint(db) }),
		Types:     groups(s.ByType, func(t rdb.Type) string { return t.String() }),
		Encodings: groups(s.ByEncoding, func(e rdb.Encoding) string { return e.String() }),
		Expiry:    s.Expiry, BiggestKeys: []keyJSON{}, Prefixes: []prefixJSON{},
	}
	var models []string
	for _, f := range files {
		ver, _ := f.meta.AuxValue("redis-ver")
		vver, _ := f.meta.AuxValue("valkey-ver")
		var mc rdb.MemoryModelChoice
		if f.meta.Version > 0 {
			mc = memoryModelOf(&f.meta, opts.model)
		}
		fj := summaryFileJSON{File: f.path, RDBVersion: f.meta.Version, RedisVer: ver, ValkeyVer: vver,
			MemoryModel: mc.Name, ModelNote: mc.Note,
			FileBytes: f.size, RDBBytes: f.meta.Bytes, Compression: string(f.compression)}
		if f.err != nil {
			fj.Error = f.err.Error()
		}
		out.Files = append(out.Files, fj)
		if mc.Name != "" && !slices.Contains(models, mc.Name) {
			models = append(models, mc.Name)
		}
	}
	out.MemoryModel = strings.Join(models, ",")
	if s.Biggest != nil {
		for _, k := range s.Biggest.Keys() {
			out.BiggestKeys = append(out.BiggestKeys, keyRowJSON(k, len(files) > 1))
		}
	}
	if s.Prefixes != nil {
		for _, p := range s.Prefixes.Top(top) {
			out.Prefixes = append(out.Prefixes, prefixRowJSON(p))
		}
		out.PrefixesApproximate = s.Prefixes.Approximate()
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
