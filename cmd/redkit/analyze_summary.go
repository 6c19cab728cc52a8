package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
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
	FileBytes           int64                  `json:"file_bytes"` // -1 when a size is unknown
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
	FileBytes   int64  `json:"file_bytes"`
	RDBBytes    int64  `json:"rdb_bytes"`
	Compression string `json:"compression"`
	// ReplayedAOF: an AOF replayed into memory; its rdb_bytes are those
	// of the RDB a server would save of the keys.
	ReplayedAOF bool   `json:"replayed_aof,omitempty"`
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
		return writeSummaryJSON(w, s, files, opts.top, fileBytes, rdbBytes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	for _, f := range files {
		ver, _ := f.meta.AuxValue("redis-ver")
		format := fmt.Sprintf("RDB v%d", f.meta.Version)
		if f.replayed {
			format = fmt.Sprintf("AOF replayed (as RDB v%d)", f.meta.Version)
		}
		p("file\t%s\t%s\tredis %s\t%s\t%s\n", f.path, format, orDash(ver), sizeLine(f.size, f.compression, f.meta.Bytes), inputStatus(&f.inputResult))
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeSummaryJSON(w io.Writer, s *analysis.Summary, files []analyzeResult, top int, fileBytes, rdbBytes int64) error {
	out := summaryJSON{
		Keys: s.Total.Keys, Memory: s.Total.Memory, FileBytes: fileBytes, RDBBytes: rdbBytes,
		Databases: groups(s.ByDB, func(db int) string { return fmt.Sprint(db) }),
		Types:     groups(s.ByType, func(t rdb.Type) string { return t.String() }),
		Encodings: groups(s.ByEncoding, func(e rdb.Encoding) string { return e.String() }),
		Expiry:    s.Expiry, BiggestKeys: []keyJSON{}, Prefixes: []prefixJSON{},
	}
	for _, f := range files {
		ver, _ := f.meta.AuxValue("redis-ver")
		fj := summaryFileJSON{File: f.path, RDBVersion: f.meta.Version, RedisVer: ver, FileBytes: f.size, RDBBytes: f.meta.Bytes, Compression: string(f.compression), ReplayedAOF: f.replayed}
		if f.err != nil {
			fj.Error = f.err.Error()
		}
		out.Files = append(out.Files, fj)
	}
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
