package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestManPages: redkit man writes roff pages (redkit.1 with every command
// and subcommand, one page per command path) that man(1) renders without
// a warning, with the help text in them.
func TestManPages(t *testing.T) {
	app := newApp(globalOptions{})
	type page struct{ name, usage string }
	var want []page
	var cmdNames []string
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			cmdNames = append(cmdNames, c.Name)
			want = append(want, page{prefix + "-" + c.Name, c.Usage})
			walk(prefix+"-"+c.Name, c.Subcommands)
		}
	}
	walk("redkit", app.Commands)
	if len(want) < 12 {
		t.Fatalf("only %d commands found", len(want))
	}

	r := redkit(t, nil, "man").want(t, 0)
	if !strings.HasPrefix(r.stdout, ".nh\n.TH redkit 1") {
		t.Errorf("redkit man starts %q, want .TH redkit 1", r.stdout[:min(len(r.stdout), 40)])
	}
	for _, name := range cmdNames {
		if !strings.Contains(r.stdout, ".SH "+name+"\n") && !strings.Contains(r.stdout, ".SS "+name+"\n") {
			t.Errorf("redkit.1 lacks the command %q", name)
		}
	}
	if strings.Contains(r.stdout, ".SH man\n") || strings.Contains(r.stdout, ".SH help") {
		t.Errorf("redkit.1 shows the hidden man command or help")
	}

	dir := filepath.Join(t.TempDir(), "man1")
	redkit(t, nil, "man", "--dir", dir).want(t, 0)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want)+1 {
		t.Errorf("%d pages, want %d", len(entries), len(want)+1)
	}
	want = append(want, page{"redkit", app.Usage})
	manPath, _ := exec.LookPath("man")
	for _, p := range want {
		b, err := os.ReadFile(filepath.Join(dir, p.name+".1"))
		if err != nil {
			t.Error(err)
			continue
		}
		text := string(b)
		if !strings.Contains(text, ".TH "+p.name+" 1\n") || !strings.Contains(text, ".SH NAME\n") {
			t.Errorf("%s.1 lacks .TH or NAME:\n%s", p.name, text[:min(len(text), 200)])
		}
		if !strings.Contains(text, ".SH SEE ALSO\n.BR redkit") {
			t.Errorf("%s.1 lacks SEE ALSO", p.name)
		}
		if manPath == "" {
			continue
		}
		cmd := exec.Command(manPath, "--warnings=all", "-l", filepath.Join(dir, p.name+".1"))
		cmd.Env = append(os.Environ(), "MANWIDTH=100", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("man -l %s.1: %v\n%s", p.name, err, stderr.String())
		}
		// man may hyphenate or break lines: compare words.
		rendered := strings.Join(strings.Fields(string(out)), " ")
		if head := p.name + " - " + p.usage; !strings.Contains(rendered, strings.Join(strings.Fields(head), " ")) {
			t.Errorf("man -l %s.1 lacks %q:\n%s", p.name, head, out)
		}
		if !strings.Contains(rendered, "130 interrupted") {
			t.Errorf("man -l %s.1 lacks the exit codes:\n%s", p.name, out)
		}
	}
	if manPath == "" {
		t.Log("man not installed: pages not rendered")
	}
	redkit(t, nil, "man", "extra").want(t, 2)
	if r := redkit(t, nil, "--generate-bash-completion"); strings.Contains(r.stdout, "man") {
		t.Errorf("the hidden man command is completed: %q", r.stdout)
	}
}

func TestManText(t *testing.T) {
	got := manText("Keys * and _x_ [a] <b> stay.\n--keep-last N keeps.\nTable:\n   0    success\n   1    error\n\nNext.")
	want := "Keys \\* and \\_x\\_ \\[a\\] \\<b\\> stay.\n\\--keep-last N keeps.\nTable:\n\n       0    success\n       1    error\n\nNext.\n"
	if got != want {
		t.Errorf("manText:\ngot  %q\nwant %q", got, want)
	}
}
