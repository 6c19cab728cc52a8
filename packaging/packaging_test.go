// Package packaging holds what the deb and rpm packages carry besides the
// binary (systemd units, the example env file, sysusers.d and tmpfiles.d
// entries, maintainer scripts; goreleaser.yaml's nfpms section lists them)
// and the tests that keep them true to redkit: the units pass
// systemd-analyze verify, and their command lines use only flags redkit
// has. scripts/package-test.sh builds, installs and runs them for real.
package packaging

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var redkitBin string // built by TestMain

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "redkit-packaging")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	redkitBin = filepath.Join(dir, "redkit")
	build := exec.Command("go", "build", "-o", redkitBin, "../cmd/redkit")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build redkit:", err)
		return 1
	}
	return m.Run()
}

var units = []string{"redkit-backup@.service", "redkit-backup@.timer", "redkit-continuous@.service", "redkit-sync@.service"}

// TestUnitsVerify runs systemd-analyze verify on the units, with redkit at
// /usr/bin/redkit replaced by the one just built. Its warnings (an unknown
// key, a value it cannot parse) fail the test, not only its exit code.
func TestUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/bin/redkit", redkitBin)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, paths...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// envFile reads example.env: each NAME=value, commented out ("#NAME=")
// or not, with systemd's quotes removed.
func envFile(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("example.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	re := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=(.*)$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			vars[m[1]] = strings.Trim(m[2], `"`)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vars
}

// helpOf runs redkit CMD... --help.
func helpOf(t *testing.T, path []string) string {
	t.Helper()
	out, err := exec.Command(redkitBin, append(append([]string{}, path...), "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redkit %s --help: %v\n%s", strings.Join(path, " "), err, out)
	}
	return string(out)
}

// checkFlags: every flag in words is one redkit CMD has (its --help lists
// it); a flag's value is skipped.
func checkFlags(t *testing.T, what string, path []string, words []string) {
	t.Helper()
	help := helpOf(t, path)
	for _, w := range words {
		if !strings.HasPrefix(w, "-") {
			continue
		}
		name, _, _ := strings.Cut(w, "=")
		re := regexp.MustCompile(`(?m)^\s+(?:-[\w-]+, )*` + regexp.QuoteMeta(name) + `(?:[ ,]|$)`)
		if !re.MatchString(help) {
			t.Errorf("%s: redkit %s has no flag %s", what, strings.Join(path, " "), name)
		}
	}
}

// TestExecStartFlags: the units' command lines and the flag variables of
// example.env use only commands and flags redkit has, and every variable
// a unit uses is in example.env.
func TestExecStartFlags(t *testing.T) {
	env := envFile(t)
	varRe := regexp.MustCompile(`^\$\{?([A-Z][A-Z0-9_]*)\}?$`)
	seen := 0
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			cmdline, ok := strings.CutPrefix(line, "ExecStart=")
			if !ok {
				continue
			}
			seen++
			words := strings.Fields(cmdline)
			if words[0] != "/usr/bin/redkit" {
				t.Errorf("%s: ExecStart runs %s, want /usr/bin/redkit", u, words[0])
				continue
			}
			var path, rest []string
			for i, w := range words[1:] {
				if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "$") {
					rest = words[1+i:]
					break
				}
				path = append(path, w)
			}
			var expanded []string
			for _, w := range rest {
				m := varRe.FindStringSubmatch(w)
				if m == nil {
					expanded = append(expanded, w)
					continue
				}
				v, ok := env[m[1]]
				if !ok {
					t.Errorf("%s: %s is not in example.env", u, m[1])
				}
				if strings.HasPrefix(w, "${") {
					expanded = append(expanded, "VALUE") // one word, as systemd does
				} else {
					expanded = append(expanded, strings.Fields(v)...)
				}
			}
			checkFlags(t, u, path, expanded)
		}
	}
	if seen < 4 {
		t.Errorf("only %d ExecStart lines found", seen)
	}
	for name, path := range map[string][]string{
		"REDKIT_PRUNE_FLAGS":      {"backup", "prune"},
		"REDKIT_BACKUP_FLAGS":     {"backup"},
		"REDKIT_CONTINUOUS_FLAGS": {"backup"},
		"REDKIT_SYNC_FLAGS":       {"sync"},
	} {
		if _, ok := env[name]; !ok {
			t.Errorf("example.env lacks %s", name)
			continue
		}
		checkFlags(t, "example.env "+name, path, strings.Fields(env[name]))
	}
	// The variables redkit itself reads are named in its help.
	help := helpOf(t, []string{"backup"}) + helpOf(t, []string{"sync"})
	for name := range env {
		if !strings.HasPrefix(name, "REDKIT_") || strings.HasSuffix(name, "_FLAGS") || name == "REDKIT_STORAGE" {
			continue // for the units (REDKIT_STORAGE: the units pass it as an argument)
		}
		if !strings.Contains(help, name) {
			t.Errorf("example.env sets %s, which neither backup nor sync reads", name)
		}
	}
}

// TestPackageContents: every file goreleaser.yaml puts in the packages
// from packaging/ exists, and every file here is packaged.
func TestPackageContents(t *testing.T) {
	b, err := os.ReadFile("../goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(b)
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:- src|postinstall|preremove|postremove): (packaging/\S+)$`).FindAllStringSubmatch(yaml, -1) {
		listed[strings.TrimPrefix(m[1], "packaging/")] = true
	}
	err = filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		if !listed[p] {
			t.Errorf("packaging/%s is in no package (goreleaser.yaml nfpms)", p)
		}
		delete(listed, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range listed {
		t.Errorf("goreleaser.yaml packages packaging/%s, which does not exist", p)
	}
	for _, u := range units {
		if !strings.Contains(yaml, "dst: /usr/lib/systemd/system/"+u+"\n") {
			t.Errorf("goreleaser.yaml does not install %s in /usr/lib/systemd/system", u)
		}
	}
}
