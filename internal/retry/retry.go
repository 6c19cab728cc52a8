package retry

import (
	"context"
	"math"
	"time"
)

// Backoff is a delay that doubles from First up to Max.
type Backoff struct {
	// First is the delay after the first failure of an outage. It is
	// used as given, even above Max.
	First time.Duration
	// Max caps the doubling; zero or less: no cap.
	Max time.Duration
}

// Delay is the delay after failure n (0-based) of an outage: First, then
// twice the last one each time, at most Max.
func (b Backoff) Delay(n int) time.Duration {
	d := b.First
	for range n {
		if b.Max > 0 && d >= b.Max {
			return b.Max
		}
		if d > math.MaxInt64/2 {
			return d // no cap, and doubling would overflow
		}
		d *= 2
		if b.Max > 0 && d > b.Max {
			return b.Max
		}
	}
	return d
}

// Retrier follows an outage: its failures, since when it fails. The zero
// value retries at once and forever; set Backoff and Limit.
type Retrier struct {
	Backoff Backoff
	// Limit is how long an outage is retried: Failed reports false once
	// the first failure since the last progress is older than Limit.
	// Zero or less: forever.
	Limit time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	n     int       // failures in the outage
	since time.Time // the outage's first failure; zero: none
}

func (r *Retrier) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Progress ends the outage: the next failure starts a new one, from the
// first delay, and Limit counts from it.
func (r *Retrier) Progress() {
	r.n, r.since = 0, time.Time{}
}

// Failed records a failure and returns the delay to wait before the next
// attempt. ok is false when the outage has lasted longer than Limit: give
// up.
func (r *Retrier) Failed() (delay time.Duration, ok bool) {
	now := r.now()
	if r.since.IsZero() {
		r.since = now
	}
	if r.Limit > 0 && now.Sub(r.since) > r.Limit {
		return 0, false
	}
	d := r.Backoff.Delay(r.n)
	r.n++
	return d, true
}

// Failures is the number of failures in the outage.
func (r *Retrier) Failures() int { return r.n }

// Failing is how long the outage has lasted: since its first failure;
// zero when there is none.
func (r *Retrier) Failing() time.Duration {
	if r.since.IsZero() {
		return 0
	}
	return r.now().Sub(r.since)
}

// Wait waits for d, or until ctx is done, and reports whether the whole
// pause elapsed.
func Wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
