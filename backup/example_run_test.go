package backup_test

import (
	"context"
	"fmt"
	"os"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/file"
)

// A backup of an RDB file into a directory, then its check.
func ExampleRun() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backups")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	b, err := file.New(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	codec := storage.Codec{Compression: "zstd"}
	m, err := backup.Run(ctx, backup.RunOptions{Backend: b, Codec: codec, RDBFile: "../testdata/sample.rdb"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Source.Kind, len(m.Objects), "object,", m.TotalKeys() > 0)
	latest, err := backup.Resolve(ctx, b, "latest")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(latest.ID == m.ID, backup.VerifyObject(ctx, b, latest, latest.Objects[0], codec))
	// Output:
	// rdb-file 1 object, true
	// true <nil>
}
