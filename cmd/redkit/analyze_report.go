package main

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/redkit/redkit/internal/analysis"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/rdb"
)

// keyColumns are redis-rdb-tools' memory report columns.
var keyColumns = []string{"database", "type", "key", "size_in_bytes", "encoding", "num_elements", "len_largest_element", "expiry"}

// tableBlock is how many rows a table aligns at once, so that streaming
// output never buffers more.
const tableBlock = 1024

// keyWriter writes key rows as csv, JSON Lines or an aligned table. The
// first write error sticks in err.
type keyWriter struct {
	format string
	multi  bool          // leading file column
	csv    *bufio.Writer // CSV rows are encoded by appendCSV, the hot path of big dumps
	row    []byte
	json   *json.Encoder
	table  *tabwriter.Writer
	n      int
	err    error
}

func newKeyWriter(w io.Writer, format string, multi bool) (*keyWriter, error) {
	kw := &keyWriter{format: format, multi: multi}
	header := keyColumns
	if multi {
		header = append([]string{"file"}, keyColumns...)
	}
	switch format {
	case "csv":
		kw.csv = bufio.NewWriterSize(w, 64<<10)
		for i, h := range header {
			if i > 0 {
				kw.row = append(kw.row, ',')
			}
			kw.row = appendCSV(kw.row, []byte(h))
		}
		_, kw.err = kw.csv.Write(append(kw.row, '\n'))
	case "json":
		kw.json = json.NewEncoder(w)
		kw.json.SetEscapeHTML(false)
	case "table":
		kw.table = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		kw.err = kw.tableRow(header)
	default:
		return nil, fmt.Errorf("unknown key format %q", format)
	}
	return kw, kw.err
}

const expiryLayout = "2006-01-02T15:04:05.000Z07:00"

func formatExpiry(ms int64) string {
	if ms == rdb.NoExpiry {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(expiryLayout)
}

// appendCSV appends a CSV field, quoted as encoding/csv would quote it:
// when it holds a comma, quote, CR or LF, or starts with a space or tab.
func appendCSV(dst, f []byte) []byte {
	quote := len(f) > 0 && (f[0] == ' ' || f[0] == '\t')
	if !quote {
		for _, c := range f {
			if c == ',' || c == '"' || c == '\r' || c == '\n' {
				quote = true
				break
			}
		}
	}
	if !quote {
		return append(dst, f...)
	}
	dst = append(dst, '"')
	for _, c := range f {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// writeCSV writes one key row.
func (kw *keyWriter) writeCSV(k analysis.Key) {
	st := k.Stats
	b := kw.row[:0]
	if kw.multi {
		b = append(appendCSV(b, []byte(k.Source)), ',')
	}
	b = strconv.AppendInt(b, int64(k.DB), 10)
	b = append(append(b, ','), k.Type.String()...)
	b = append(appendCSV(append(b, ','), k.Key), ',')
	b = strconv.AppendInt(b, st.Memory, 10)
	b = append(append(b, ','), st.Encoding.String()...)
	b = strconv.AppendInt(append(b, ','), numElements(k), 10)
	b = strconv.AppendInt(append(b, ','), st.LargestElement, 10)
	b = append(b, ',')
	if k.ExpireAt != rdb.NoExpiry {
		b = time.UnixMilli(k.ExpireAt).UTC().AppendFormat(b, expiryLayout)
	}
	b = append(b, '\n')
	kw.row = b
	_, kw.err = kw.csv.Write(b)
}

// keyJSON is a key row in JSON. Key holds valid UTF-8 keys; others go to
// KeyBase64.
type keyJSON struct {
	File      string  `json:"file,omitempty"`
	Database  int     `json:"database"`
	Type      string  `json:"type"`
	Key       *string `json:"key,omitempty"`
	KeyBase64 string  `json:"key_base64,omitempty"`
	Size      int64   `json:"size_in_bytes"`
	Encoding  string  `json:"encoding"`
	Elements  int64   `json:"num_elements"`
	Largest   int64   `json:"len_largest_element"`
	Expiry    *string `json:"expiry"`
}

func (kw *keyWriter) write(k analysis.Key) error {
	if kw.err != nil {
		return kw.err
	}
	st := k.Stats
	switch kw.format {
	case "json":
		row := keyRowJSON(k, kw.multi)
		kw.err = kw.json.Encode(row)
	case "csv":
		kw.writeCSV(k)
	default:
		rec := make([]string, 0, len(keyColumns)+1)
		if kw.multi {
			rec = append(rec, k.Source)
		}
		key := string(k.Key)
		if kw.table != nil {
			key = analysis.Printable(key)
		}
		rec = append(rec, strconv.Itoa(k.DB), k.Type.String(), key, strconv.FormatInt(st.Memory, 10),
			st.Encoding.String(), strconv.FormatInt(numElements(k), 10), strconv.FormatInt(st.LargestElement, 10), formatExpiry(k.ExpireAt))
		kw.err = kw.tableRow(rec)
	}
	return kw.err
}

// numElements is the num_elements column as redis-rdb-tools fills it: the
// element count, except for strings, where it is the string's length.
func numElements(k analysis.Key) int64 {
	if k.Type == rdb.TypeString {
		return k.Stats.LargestElement
	}
	return k.Stats.Elements
}

func keyRowJSON(k analysis.Key, multi bool) keyJSON {
	st := k.Stats
	row := keyJSON{Database: k.DB, Type: k.Type.String(), Size: st.Memory, Encoding: st.Encoding.String(), Elements: numElements(k), Largest: st.LargestElement}
	if multi {
		row.File = k.Source
	}
	if utf8.Valid(k.Key) {
		s := string(k.Key)
		row.Key = &s
	} else {
		row.KeyBase64 = base64.StdEncoding.EncodeToString(k.Key)
	}
	if e := formatExpiry(k.ExpireAt); e != "" {
		row.Expiry = &e
	}
	return row
}

func (kw *keyWriter) tableRow(cols []string) error {
	for i, c := range cols {
		sep := "\t"
		if i == len(cols)-1 {
			sep = "\n"
		}
		if _, err := io.WriteString(kw.table, c+sep); err != nil {
			return err
		}
	}
	kw.n++
	if kw.n%tableBlock == 0 {
		return kw.table.Flush()
	}
	return nil
}

func (kw *keyWriter) flush() error {
	if kw.err != nil {
		return kw.err
	}
	switch {
	case kw.csv != nil:
		kw.err = kw.csv.Flush()
	case kw.table != nil:
		kw.err = kw.table.Flush()
	}
	return kw.err
}

func writeKeys(w io.Writer, format string, multi bool, keys []analysis.Key) error {
	kw, err := newKeyWriter(w, format, multi)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := kw.write(k); err != nil {
			return err
		}
	}
	return kw.flush()
}

// prefixColumns are HDT3213/rdb's prefix report columns.
var prefixColumns = []string{"database", "prefix", "size", "size_readable", "key_count"}

// prefixJSON is a prefix row in JSON; non-UTF-8 prefixes go to PrefixBase64.
type prefixJSON struct {
	Database     int     `json:"database"`
	Prefix       *string `json:"prefix,omitempty"`
	PrefixBase64 string  `json:"prefix_base64,omitempty"`
	Depth        int     `json:"depth"`
	Size         int64   `json:"size"`
	SizeReadable string  `json:"size_readable"`
	KeyCount     int64   `json:"key_count"`
}

func prefixRowJSON(p analysis.Prefix) prefixJSON {
	row := prefixJSON{Database: p.DB, Depth: p.Depth, Size: p.Memory, SizeReadable: analysis.FormatSize(p.Memory), KeyCount: p.Keys}
	if utf8.ValidString(p.Prefix) {
		row.Prefix = &p.Prefix
	} else {
		row.PrefixBase64 = base64.StdEncoding.EncodeToString([]byte(p.Prefix))
	}
	return row
}

func writePrefixes(w io.Writer, format string, prefixes []analysis.Prefix) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, p := range prefixes {
			row := prefixRowJSON(p)
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(prefixColumns)
		for _, p := range prefixes {
			cw.Write([]string{strconv.Itoa(p.DB), p.Prefix, strconv.FormatInt(p.Memory, 10), analysis.FormatSize(p.Memory), strconv.FormatInt(p.Keys, 10)})
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "database\tprefix\tsize\tsize_readable\tkey_count\n")
		for _, p := range prefixes {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\n", p.DB, analysis.Printable(p.Prefix), p.Memory, bytesize.Format(p.Memory), p.Keys)
		}
		return tw.Flush()
	}
}

// writeFlameGraph writes the flamegraph report: total's tree, totals and
// biggest keys, with the bytes of the dumps it was read from.
func writeFlameGraph(w io.Writer, total *analysis.Summary, results []analyzeResult, args []string) error {
	opts := analysis.FlameGraphOptions{Title: "redkit memory: " + strings.Join(args, ", ")}
	stored := true
	for _, r := range results {
		if r.err != nil && r.meta.Version == 0 {
			continue // not in total
		}
		opts.DumpBytes += r.meta.Bytes
		opts.StoredBytes += r.size
		stored = stored && r.size >= 0
	}
	if !stored {
		opts.StoredBytes = 0
	}
	return analysis.WriteFlameGraph(w, total, opts)
}
