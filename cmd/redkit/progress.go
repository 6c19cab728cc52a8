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
	bar     *progressbar.ProgressBar
	mu      sync.Mutex
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
// sizes, or -1 when unknown (a spinner then).
func startProgress(stderr io.Writer, quiet bool, desc string, total int64) *progress {
	f, ok := stderr.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	p := &progress{
		bar: progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionFullWidth(),
		),
		stopc: make(chan struct{}),
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				p.mu.Lock()
				desc := p.desc
				p.mu.Unlock()
				if desc != nil {
					p.bar.Describe(desc())
				}
				p.bar.Set64(p.read())
			}
		}
	}()
	return p
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
	p.bar.Finish()
	p.bar.Clear()
}
