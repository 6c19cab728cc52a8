package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress draws a bar of stored bytes read across inputs on stderr. A
// nil *progress draws nothing. Its text is redkit's own, in the units of
// every size redkit shows (bytesize: KiB, MiB, GiB): the bytes done, of
// the total when known, and the rate once a second of samples gives one
// (rateMeter), never a first frame's absurd rate.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	bar     *progressbar.ProgressBar
	total   int64 // -1: unknown
	title   string
	files   []*dumpfile.File
	stopc   chan struct{}
	done    sync.WaitGroup
	desc    func() string // when set, redraws the description on each tick
	counter func() int64  // when set, counts the bytes done instead of files
	rate    rateMeter
	now     func() time.Time // the clock of the rate: time.Now but in tests
}

// count makes the bar show fn's byte count instead of the inputs read.
func (p *progress) count(fn func() int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.counter = fn
	p.mu.Unlock()
}

// describe makes the bar show fn's text, refreshed with the bar.
func (p *progress) describe(fn func() string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.desc = fn
	p.mu.Unlock()
}

// startProgress returns a running progress bar when stderr is a terminal
// and quiet is false, and nil otherwise. total is the sum of the inputs'
// sizes, or -1 (or 0) when unknown: a spinner then, with the bytes done,
// until setTotal.
func startProgress(stderr io.Writer, quiet bool, desc string, total int64) *progress {
	if quiet || !onTerminal(stderr) {
		return nil
	}
	return newProgress(stderr, desc, total, 200*time.Millisecond)
}

// onTerminal tells whether w is a terminal: bars are drawn there only.
func onTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress draws a bar on w, whatever w is, redrawn every tick.
func newProgress(w io.Writer, desc string, total int64, tick time.Duration) *progress {
	if total <= 0 {
		total = -1
	}
	p := &progress{w: w, title: desc, total: total, stopc: make(chan struct{}), now: time.Now}
	p.bar = newBar(w, desc, total)
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				p.redraw()
			}
		}
	}()
	return p
}

// newBar makes the bar: progressbar refuses every update of a bar whose
// total is 0, so an unknown total is -1 (a spinner). It draws the bar,
// the percentage and the time elapsed; the sizes and the rate are in the
// description (progressText), since progressbar's own rate divides the
// first count by the microseconds since the bar began (2.2 TB/s).
func newBar(w io.Writer, desc string, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
	)
}

// progressText is the bar's description: title, the bytes done, of the
// total when known (total > 0), the rate when known (rate >= 0) and the
// time left when both are.
func progressText(title string, done, total int64, rate float64) string {
	s := title + " " + bytesize.Format(done)
	if total > 0 {
		s += " of " + bytesize.Format(total)
	}
	if rate >= 0 {
		s += ", " + bytesize.Format(int64(rate)) + "/s"
		if total > done && rate > 0 {
			left := time.Duration(float64(total-done) / rate * float64(time.Second))
			s += ", " + left.Round(time.Second).String() + " left"
		}
	}
	return s
}

// Rates are measured over the last rateWindow of samples, and shown
// once the samples span rateMinSpan.
const (
	rateMinSpan = time.Second
	rateWindow  = 5 * time.Second
)

// rateMeter measures a rate from samples of a growing count.
type rateMeter struct {
	samples []rateSample // oldest first
}

type rateSample struct {
	t time.Time
	n int64
}

// add records the count n at t.
func (m *rateMeter) add(t time.Time, n int64) {
	m.samples = append(m.samples, rateSample{t, n})
	for len(m.samples) > 2 && t.Sub(m.samples[1].t) >= rateWindow {
		m.samples = m.samples[1:]
	}
}

// rate is the count per second over the samples, -1 until they span
// rateMinSpan: a rate over less time says more about when the first
// sample was taken than about the transfer.
func (m *rateMeter) rate() float64 {
	if len(m.samples) < 2 {
		return -1
	}
	a, b := m.samples[0], m.samples[len(m.samples)-1]
	d := b.t.Sub(a.t)
	if d < rateMinSpan {
		return -1
	}
	return max(0, float64(b.n-a.n)/d.Seconds())
}

// setTotal gives the total once it is known (a snapshot's size, after
// its header), or when it changes; 0 or -1: unknown.
func (p *progress) setTotal(total int64) {
	if p == nil {
		return
	}
	if total <= 0 {
		total = -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if total == p.total {
		return
	}
	// A bar of another length: a new one in place (its rate starts over).
	p.bar.Finish()
	p.bar.Clear()
	p.total = total
	p.bar = newBar(p.w, p.title, total)
}

// redraw shows the bytes done and the description.
func (p *progress) redraw() {
	n := p.read()
	p.mu.Lock()
	desc := p.desc
	p.mu.Unlock()
	d := ""
	if desc != nil {
		d = desc()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if desc != nil {
		p.title = d
	}
	p.rate.add(p.now(), n)
	p.bar.Set64(n)
	p.bar.Describe(progressText(p.title, n, p.total, p.rate.rate()))
}

// track adds an opened input to the count.
func (p *progress) track(f *dumpfile.File) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.files = append(p.files, f)
	p.mu.Unlock()
}

func (p *progress) read() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counter != nil {
		return p.counter()
	}
	var n int64
	for _, f := range p.files {
		n += f.StoredRead()
	}
	return n
}

// stop removes the bar.
func (p *progress) stop() {
	if p == nil {
		return
	}
	close(p.stopc)
	p.done.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bar.Finish()
	p.bar.Clear()
}

// drawKeyBar draws a bar of keys read on w whatever w is, redrawn every
// tick: read() of total() (0 or less: unknown; once read passes it, keys
// written meanwhile, a count from then on), with text's words. The text
// is ours: progressbar's own rate divides the first count by the
// microseconds since the bar began.
func drawKeyBar(w io.Writer, desc string, tick time.Duration, read, total func() int64, text func(done, total int64, rate float64) string) (stop func()) {
	max := int64(-1)
	var rate rateMeter
	newBar := func() *progressbar.ProgressBar {
		return progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	bar := newBar()
	done := make(chan struct{})
	finished := make(chan struct{})
	passed := false
	go func() {
		defer close(finished)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := read()
				want := int64(-1)
				if total != nil && !passed {
					want = total()
				}
				if want > 0 && n > want {
					passed, want = true, -1
				}
				if want <= 0 {
					want = -1
				}
				if want != max {
					bar.Finish()
					bar.Clear()
					max = want
					bar = newBar()
				}
				rate.add(now, n)
				bar.Describe(text(n, max, rate.rate()))
				bar.Set64(n)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		bar.Finish()
		bar.Clear()
	}
}

// keysText is a key bar's words: "CMD: N keys read" or "CMD: N of TOTAL
// keys read", then extra when not empty, the rate once samples span a
// second, and the time left when the total is known.
func keysText(cmd string, done, total int64, extra string, rate float64) string {
	s := fmt.Sprintf("%s: %d keys read", cmd, done)
	if total > 0 {
		s = fmt.Sprintf("%s: %d of %d keys read", cmd, done, total)
	}
	if extra != "" {
		s += ", " + extra
	}
	if rate >= 0 {
		s += fmt.Sprintf(", %.0f keys/s", rate)
		if total > done && rate > 0 {
			left := time.Duration(float64(total-done) / rate * float64(time.Second))
			s += ", " + left.Round(time.Second).String() + " left"
		}
	}
	return s
}
