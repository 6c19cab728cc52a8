package main

import (
	"errors"
	"fmt"

	"github.com/redkit/redkit/storage"
)

// lockHint is the advice that follows a storage's lock error, naming the
// flag that sets when a lock goes stale; "" for other errors, and for a
// lock taken at the same moment (retrying is the advice there).
func lockHint(err error) string {
	var le *storage.LockedError
	if !errors.As(err, &le) || le.Race {
		return ""
	}
	return fmt.Sprintf(": wait for it to end; a lock not refreshed for --lock-timeout (%s) is taken over", le.Timeout)
}
