package sync

import (
	"context"
	"errors"
)

// newPipelineWriter is the standalone Writer. (Stub: being written.)
func newPipelineWriter(ctx context.Context, addr string, opts WriterOptions) (Writer, error) {
	return nil, errors.New("not implemented")
}
