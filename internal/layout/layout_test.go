package layout

import (
	"bufio"
	"bytes"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/redkit/redkit"

// allowed lists, per package of ours (by its path in the module, or a
// prefix ending in "/"), the packages of ours it may import.
var allowed = []struct {
	pkg string
	may []string
}{
	{pkg: "cmd/", may: []string{"*"}},
	{pkg: "bench/", may: []string{"*"}},
	{pkg: "packaging", may: nil}, // tests of the packages' files; they run the built binary
	{pkg: "backup", may: []string{"pipeline", "sync", "storage", "storage/", "aof", "rdb", "internal/"}},
	{pkg: "pipeline", may: []string{"sync", "aof", "rdb", "internal/"}},
	{pkg: "sync", may: []string{"aof", "rdb", "internal/"}},
	{pkg: "storage", may: []string{"internal/countio"}},
	{pkg: "storage/", may: []string{"storage", "storage/", "internal/"}},
	{pkg: "aof", may: []string{"rdb", "internal/"}},
	{pkg: "rdb", may: nil},
	{pkg: "internal/", may: []string{"sync", "aof", "rdb", "storage", "storage/", "internal/"}},
}

// cliOnly are the modules only cmd may import.
var cliOnly = []string{"github.com/urfave/cli", "github.com/schollz/progressbar"}

func matches(pattern, pkg string) bool {
	if pattern == "*" {
		return true
	}
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(pkg, pattern)
	}
	return pkg == pattern
}

func rule(pkg string) ([]string, bool) {
	// The exact name wins over a prefix ("storage" over "storage/").
	for _, r := range allowed {
		if r.pkg == pkg {
			return r.may, true
		}
	}
	for _, r := range allowed {
		if strings.HasSuffix(r.pkg, "/") && strings.HasPrefix(pkg, r.pkg) {
			return r.may, true
		}
	}
	return nil, false
}

func TestImportArrows(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goBin, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg, ok := strings.CutPrefix(f[0], module+"/")
		if !ok {
			continue
		}
		n++
		may, known := rule(pkg)
		if !known {
			t.Errorf("%s: no rule says what it may import: add it to layout_test.go's allowed, as STYLE.md draws it", pkg)
			continue
		}
		for _, imp := range f[1:] {
			for _, c := range cliOnly {
				if strings.HasPrefix(imp, c) && !strings.HasPrefix(pkg, "cmd/") {
					t.Errorf("%s imports %s: only cmd draws bars and parses flags", pkg, imp)
				}
			}
			dep, ours := strings.CutPrefix(imp, module+"/")
			if !ours {
				continue
			}
			if strings.HasPrefix(dep, "cmd/") {
				t.Errorf("%s imports %s: nothing imports cmd", pkg, dep)
				continue
			}
			ok := false
			for _, m := range may {
				if matches(m, dep) {
					ok = true
					break
				}
			}
			if !ok {
				t.Errorf("%s imports %s: an arrow STYLE.md does not draw (it may import %s)", pkg, dep, strings.Join(may, ", "))
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list gave %d packages of ours: %s", n, path.Base(string(out)))
	}
}
