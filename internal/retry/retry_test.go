package retry

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name string
		b    Backoff
		want []time.Duration // Delay(0), Delay(1)...
	}{
		{"writer", Backoff{First: 50 * ms, Max: 2 * time.Second}, []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2000 * ms, 2000 * ms}},
		{"sync", Backoff{First: 100 * ms, Max: 30 * time.Second}, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms, 25600 * ms, 30000 * ms, 30000 * ms}},
		{"first above the cap", Backoff{First: 100 * ms, Max: 30 * ms}, []time.Duration{100 * ms, 30 * ms, 30 * ms}},
		{"constant", Backoff{First: 5 * time.Second, Max: 5 * time.Second}, []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}},
		{"no cap", Backoff{First: ms}, []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms}},
		{"zero", Backoff{}, []time.Duration{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for n, want := range tc.want {
				if got := tc.b.Delay(n); got != want {
					t.Errorf("Delay(%d) = %v, want %v", n, got, want)
				}
			}
		})
	}
	// Far into an outage: capped, or at least not overflowing.
	if got := (Backoff{First: 50 * time.Millisecond, Max: 2 * time.Second}).Delay(1 << 40); got != 2*time.Second {
		t.Errorf("capped Delay(1<<40) = %v", got)
	}
	if got := (Backoff{First: time.Second}).Delay(1000); got <= 0 || got > math.MaxInt64 {
		t.Errorf("uncapped Delay(1000) = %v, want a positive duration", got)
	}
}

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRetrier(t *testing.T) {
	const ms = time.Millisecond
	type step struct {
		advance  time.Duration // the clock moves, then
		progress bool          // Progress is called (before the failure), then Failed
		want     time.Duration
		wantOK   bool
	}
	for _, tc := range []struct {
		name  string
		limit time.Duration
		steps []step
	}{
		{"doubles to the cap", 0, []step{
			{0, false, 100 * ms, true}, {time.Hour, false, 200 * ms, true}, {time.Hour, false, 400 * ms, true},
			{0, false, 800 * ms, true}, {0, false, time.Second, true}, {0, false, time.Second, true},
		}},
		{"progress starts again from the first delay", 0, []step{
			{0, false, 100 * ms, true}, {0, false, 200 * ms, true}, {0, false, 400 * ms, true},
			{0, true, 100 * ms, true}, {0, false, 200 * ms, true},
		}},
		{"gives up after the limit", 10 * time.Second, []step{
			{0, false, 100 * ms, true}, {5 * time.Second, false, 200 * ms, true}, {5 * time.Second, false, 400 * ms, true},
			{ms, false, 0, false},
		}},
		{"progress restarts the limit", 10 * time.Second, []step{
			{0, false, 100 * ms, true}, {9 * time.Second, false, 200 * ms, true},
			{9 * time.Second, true, 100 * ms, true}, {9 * time.Second, false, 200 * ms, true}, {2 * time.Second, false, 0, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			r := &Retrier{Backoff: Backoff{First: 100 * ms, Max: time.Second}, Limit: tc.limit, Now: c.now}
			for i, s := range tc.steps {
				c.t = c.t.Add(s.advance)
				if s.progress {
					r.Progress()
					if r.Failures() != 0 {
						t.Fatalf("step %d: %d failures after Progress, want 0", i, r.Failures())
					}
				}
				if s.progress && r.Failing() != 0 {
					t.Fatalf("step %d: failing for %v after Progress, want 0", i, r.Failing())
				}
				got, ok := r.Failed()
				if got != s.want || ok != s.wantOK {
					t.Fatalf("step %d: Failed() = %v, %v; want %v, %v", i, got, ok, s.want, s.wantOK)
				}
			}
		})
	}
}

func TestFailing(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := &Retrier{Now: c.now}
	if got := r.Failing(); got != 0 {
		t.Errorf("no failure: Failing() = %v, want 0", got)
	}
	r.Failed()
	c.t = c.t.Add(3 * time.Second)
	r.Failed()
	c.t = c.t.Add(time.Second)
	if got := r.Failing(); got != 4*time.Second {
		t.Errorf("Failing() = %v, want 4s", got)
	}
}

func TestWait(t *testing.T) {
	if !Wait(context.Background(), 0) {
		t.Error("Wait(0) = false, want true")
	}
	if !Wait(context.Background(), time.Nanosecond) {
		t.Error("Wait(1ns) = false, want true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Wait(ctx, time.Hour) {
		t.Error("Wait on a done context = true, want false")
	}
}
