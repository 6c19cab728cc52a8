package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/pipeline"
	"github.com/redkit/redkit/rdb"
)

// Copy an RDB dump's keys named user:58:* into the RESP commands that
// recreate them, what redis-cli --pipe reads.
func ExampleCopy() {
	f, err := os.Open("../testdata/sample.rdb")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	src, err := pipeline.Sniff("sample.rdb", f, &rdb.Filter{Match: "user:58:*"})
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	sink := pipeline.NewRESPSink(&out, pipeline.RESPOptions{Batch: 512})
	if err := pipeline.Copy(context.Background(), src, sink, pipeline.Options{}); err != nil {
		log.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		log.Fatal(err)
	}
	// Read the commands back, one a line.
	rd := aof.NewReader(&out)
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("db %d: %s\n", e.DB, bytes.Join(e.Args, []byte(" ")))
	}
	st := sink.Stats()
	fmt.Printf("%d keys, %d function libraries, %d commands\n", st.Keys, st.Functions, st.Commands)
	// Output:
	// db 0: SET user:58:name user-58
	// db 0: SET user:58:visits 406
	// db 0: HSET user:58:profile email user58@example.com plan free country FR
	// 3 keys, 0 function libraries, 4 commands
}
