package sync

import (
	"context"
	"errors"
)

// newClusterWriter is the cluster Writer. (Stub: being written.)
func newClusterWriter(ctx context.Context, addr string, opts WriterOptions) (Writer, error) {
	return nil, errors.New("not implemented")
}
