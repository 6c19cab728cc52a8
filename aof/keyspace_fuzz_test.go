package aof

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/rdb"
)

// FuzzKeyspaceApply applies random command sequences (one command a
// line, arguments separated by spaces, a leading "@n" selecting database
// n) and writes the result: nothing may panic, and every key must be
// writable as RDB.
func FuzzKeyspaceApply(f *testing.F) {
	hll := hllScript()
	scripts := [][][]any{geoScript, bitsScript, sortScript, hll[:30], hll[len(hll)-60:]}
	for _, name := range slices.Sorted(maps.Keys(familyScripts)) {
		scripts = append(scripts, familyScripts[name])
	}
	for _, script := range scripts {
		var b strings.Builder
		for _, args := range script {
			for i, a := range args {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprint(&b, a)
			}
			b.WriteByte('\n')
		}
		f.Add([]byte(b.String()))
	}
	f.Add([]byte("SET a 1\nRESTORE b 0 \x00\x01a\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\nXADD s 1-1 a b\nXGROUP CREATE s g 0\nXCLAIM s g c 0 1-1 FORCE TIME 5\n"))
	f.Add([]byte("HSET h a 1 b 2\nHPEXPIREAT h 10 GT FIELDS 2 a b\nHEXPIRE h 5 FIELDS 1 b\nHPERSIST h FIELDS 1 a\nHINCRBY h b 3\nCOPY h h2\n"))
	f.Add([]byte("LPUSH l a b c\nLPUSH l d\nLPUSH l e f\nRPUSH l g h i j\nLPOP l 2\nLINSERT l BEFORE a x\nLMOVE l l RIGHT LEFT\nRPOPLPUSH l l\nLTRIM l 1 -2\nLREM l -1 a\nLSET l 0 z\nLPUSHX l y\nSORT l BY nosort STORE s\nCOPY l m\nRPOP l 3\n"))
	// FUNCTION RESTORE of a pre-GA library (Redis 7.0-rc1/rc2 form).
	code := "redis.register_function('f',function()return(1)end)"
	p := append([]byte{0xf6, 4, 'l', 'i', 'b', 'p', 3, 'L', 'U', 'A', 0, byte(len(code))}, code...)
	p = append(p, 10, 0)
	p = binary.LittleEndian.AppendUint64(p, dumpCRC(p))
	f.Add(append([]byte("FUNCTION RESTORE "), p...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("slow input %q", data)) })
		defer watchdog.Stop()
		ks := NewKeyspace(KeyspaceOptions{Now: 1700000000000, MaxStringBytes: 1 << 16})
		db := 0
		for _, line := range bytes.Split(data, []byte("\n")) {
			args := bytes.Split(line, []byte(" "))
			if len(args[0]) > 1 && args[0][0] == '@' {
				db = int(args[0][1] % 16)
				args = args[1:]
			}
			if len(args) == 0 || len(args[0]) == 0 {
				continue
			}
			ks.Apply(&Entry{Kind: KindCommand, Args: args, DB: db})
		}
		w, err := rdb.NewWriter(io.Discard, rdb.WriterOptions{Version: 12})
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Functions(w.WriteFunction); err != nil {
			t.Fatal(err)
		}
		if err := ks.Keys(w.WriteKey); err != nil {
			t.Fatalf("write: %v", err)
		}
	})
}
