package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress draws a bar of stored bytes read across inputs on stderr. A
// nil *progress draws nothing.
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
	f, ok := stderr.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return newProgress(stderr, desc, total, 200*time.Millisecond)
}

// newProgress draws a bar on w, whatever w is, redrawn every tick.
func newProgress(w io.Writer, desc string, total int64, tick time.Duration) *progress {
	if total <= 0 {
		total = -1
	}
	p := &progress{w: w, title: desc, total: total, stopc: make(chan struct{})}
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
// total is 0, so an unknown total is -1 (a spinner).
func newBar(w io.Writer, desc string, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(), // the bytes done, not only the rate
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
	)
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
		p.bar.Describe(d)
	}
	p.bar.Set64(n)
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
