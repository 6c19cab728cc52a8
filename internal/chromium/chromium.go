// Package chromium drives a headless Chromium (Debian's chromium
// package) from tests: it loads a page, lets its scripts run for a
// virtual time budget, and returns the DOM as serialized after them, or
// a PNG screenshot, and the URLs of every request the page made (from
// Chromium's network log, without the browser's own).
//
// Find skips the test when no chromium binary is installed, unless the
// environment variable REDKIT_REQUIRE_CHROMIUM is 1: then it fails it,
// so that a run meant to include the browser tests (./scripts/test.sh
// installs chromium) never passes by skipping.
//
// Every run is offline except for loopback: host names resolve to
// nothing but 127.0.0.1 (--host-resolver-rules), so a page that reaches
// for the network fails to load what it asked for, and the request is
// still in the log.
package chromium

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Names of the Chromium program, in the order Find tries them.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Browser is a Chromium program found by Find.
type Browser struct {
	Path string
	dir  string // for profiles and network logs
}

// Find returns the installed Chromium, or skips (fails with
// REDKIT_REQUIRE_CHROMIUM=1) the test when there is none.
func Find(t testing.TB) *Browser {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return &Browser{Path: p, dir: t.TempDir()}
		}
	}
	msg := fmt.Sprintf("no Chromium installed (looked for %v on PATH): ./scripts/test.sh installs Debian's chromium package", names)
	if os.Getenv("REDKIT_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg + "; REDKIT_REQUIRE_CHROMIUM=1 requires it")
	}
	t.Skip(msg)
	return nil
}

// Options of a page load; the zero value works.
type Options struct {
	// VirtualTime is the virtual time budget the page's scripts get
	// before the DOM is dumped or the screenshot taken (default 3s).
	VirtualTime time.Duration
	// Width and Height are the window size (default 1200x800).
	Width, Height int
	// Timeout bounds the whole run (default 60s).
	Timeout time.Duration
}

// Result is what a page load produced.
type Result struct {
	DOM      string   // with DumpDOM
	Requests []string // URLs the page requested, in the order of the network log
	Stderr   string
}

// DumpDOM loads url and returns the DOM after its scripts ran.
func (b *Browser) DumpDOM(ctx context.Context, url string, opts Options) (Result, error) {
	return b.run(ctx, url, opts, "--dump-dom")
}

// Screenshot loads url and writes a PNG of the window to file.
func (b *Browser) Screenshot(ctx context.Context, url, file string, opts Options) (Result, error) {
	return b.run(ctx, url, opts, "--screenshot="+file)
}

func (b *Browser) run(ctx context.Context, url string, opts Options, what string) (Result, error) {
	if opts.VirtualTime == 0 {
		opts.VirtualTime = 3 * time.Second
	}
	if opts.Width == 0 || opts.Height == 0 {
		opts.Width, opts.Height = 1200, 800
	}
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	run, err := os.MkdirTemp(b.dir, "run")
	if err != nil {
		return Result{}, err
	}
	netlog := filepath.Join(run, "netlog.json")
	cmd := exec.CommandContext(ctx, b.Path, "--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
		"--disable-background-networking", "--disable-component-update", "--user-data-dir="+filepath.Join(run, "profile"),
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
		"--log-net-log="+netlog,
		fmt.Sprintf("--virtual-time-budget=%d", opts.VirtualTime.Milliseconds()),
		fmt.Sprintf("--window-size=%d,%d", opts.Width, opts.Height),
		what, url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+run)
	err = cmd.Run()
	res := Result{DOM: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		return res, fmt.Errorf("%s %s: %w", b.Path, what, err)
	}
	res.Requests, err = requests(netlog)
	return res, err
}

// requests reads from a Chromium network log (--log-net-log; the file
// is JSON once Chromium exits) the URLs of the requests the page made:
// its main frame and every request with the page as initiator. The
// browser's own (updates, time, sign-in: initiator "not an origin") are
// left out.
func requests(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("network log: %w", err)
	}
	var log struct {
		Constants struct {
			EventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int `json:"type"`
			Params struct {
				URL         string `json:"url"`
				Initiator   string `json:"initiator"`
				RequestType string `json:"request_type"`
			} `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		return nil, fmt.Errorf("network log %s: %w", file, err)
	}
	start, ok := log.Constants.EventTypes["URL_REQUEST_START_JOB"]
	if !ok {
		return nil, fmt.Errorf("network log %s: no URL_REQUEST_START_JOB event type", file)
	}
	var urls []string
	for _, e := range log.Events {
		p := e.Params
		if e.Type == start && p.URL != "" && (p.RequestType == "main frame" || p.Initiator != "not an origin") {
			urls = append(urls, p.URL)
		}
	}
	return urls, nil
}
