package aof_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/redkit/redkit/aof"
)

// Read an AOF command by command: SELECT is consumed and shows in DB,
// transactions are marked, #TS annotations set Timestamp.
func ExampleReader() {
	const file = "#TS:1700000000\r\n" +
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n" +
		"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n" +
		"*1\r\n$5\r\nMULTI\r\n" +
		"*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$1\r\na\r\n" +
		"*3\r\n$7\r\nPEXPIRE\r\n$1\r\nq\r\n$4\r\n1000\r\n" +
		"*1\r\n$4\r\nEXEC\r\n"

	r := aof.NewReader(strings.NewReader(file))
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if e.Kind != aof.KindCommand {
			continue // an RDB preamble: read e.RDB
		}
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = string(a)
		}
		tx := map[aof.Tx]string{aof.TxNone: "", aof.TxMulti: " (opens a transaction)", aof.TxQueued: " (queued)", aof.TxExec: " (ends it)"}[e.Tx]
		fmt.Printf("db %d at %d, offset %d: %s%s\n", e.DB, e.Timestamp, e.Offset, strings.Join(args, " "), tx)
	}
	// Output:
	// db 0 at 1700000000, offset 16: SET k v
	// db 2 at 1700000000, offset 66: MULTI (opens a transaction)
	// db 2 at 1700000000, offset 81: RPUSH q a (queued)
	// db 2 at 1700000000, offset 110: PEXPIRE q 1000 (queued)
	// db 2 at 1700000000, offset 144: EXEC (ends it)
}
