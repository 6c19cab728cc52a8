package file_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"strings"

	"github.com/redkit/redkit/storage/file"
)

// A backend in a directory: put two objects (bodies of unknown size),
// list them by prefix, read one back, and ask for one that is not there.
func Example() {
	dir, err := os.MkdirTemp("", "redkit-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	b, err := file.New(dir)
	if err != nil {
		log.Fatal(err)
	}
	for key, body := range map[string]string{
		"backups/2024-05-01/dump.rdb": "REDIS0011...",
		"backups/2024-05-02/dump.rdb": "REDIS0011......",
	} {
		if _, err := b.Put(ctx, key, strings.NewReader(body)); err != nil {
			log.Fatal(err)
		}
	}

	objs, err := b.List(ctx, "backups/")
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range objs {
		fmt.Println(o.Key, o.Size)
	}

	rc, err := b.Get(ctx, "backups/2024-05-02/dump.rdb", 0, 9)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	head, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", head)

	_, err = b.Stat(ctx, "backups/2024-05-03/dump.rdb")
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// backups/2024-05-01/dump.rdb 12
	// backups/2024-05-02/dump.rdb 15
	// REDIS0011
	// true
}
