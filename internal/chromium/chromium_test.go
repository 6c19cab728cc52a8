package chromium

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDumpDOM loads a page whose script writes the DOM and fetches from
// its own origin and from elsewhere: the DOM shows the script ran, and
// the network log has all three requests (the one elsewhere failed to
// resolve, offline).
func TestDumpDOM(t *testing.T) {
	b := Find(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<!doctype html><p id="x">before</p><script>
fetch("data").then(r => r.text()).then(s => { document.getElementById("x").textContent = s; });
fetch("http://example.invalid/beacon").catch(() => {});
</script>`))
		case "/data":
			w.Write([]byte("after"))
		}
	}))
	defer srv.Close()
	res, err := b.DumpDOM(context.Background(), srv.URL+"/", Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Stderr)
	}
	if !strings.Contains(res.DOM, `<p id="x">after</p>`) {
		t.Errorf("DOM: %s", res.DOM)
	}
	for _, want := range []string{srv.URL + "/", srv.URL + "/data", "http://example.invalid/beacon"} {
		if !slices.Contains(res.Requests, want) {
			t.Errorf("requests %q lack %q", res.Requests, want)
		}
	}

	for _, u := range res.Requests {
		if !strings.HasPrefix(u, srv.URL+"/") && u != "http://example.invalid/beacon" {
			t.Errorf("request %s: not the page's", u)
		}
	}

	png := filepath.Join(t.TempDir(), "shot.png")
	if res, err := b.Screenshot(context.Background(), srv.URL+"/", png, Options{Width: 400, Height: 300}); err != nil {
		t.Fatalf("%v\n%s", err, res.Stderr)
	}
	data, err := os.ReadFile(png)
	if err != nil || !strings.HasPrefix(string(data), "\x89PNG") {
		t.Errorf("screenshot: %v, %d bytes", err, len(data))
	}
}
