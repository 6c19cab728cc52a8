package file

import (
	"errors"
	"time"
)

var farFuture = time.Now().Add(24 * time.Hour)

// storagetestFail fails on the first read after 10 bytes.
type storagetestFail struct{ n int }

func (f *storagetestFail) Read(p []byte) (int, error) {
	if f.n >= 10 {
		return 0, errors.New("broken")
	}
	f.n += len(p[:10])
	return 10, nil
}
