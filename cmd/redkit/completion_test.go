package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// complete runs redkit as the completion scripts do: the words, the word
// being completed, then --generate-bash-completion.
func complete(t *testing.T, words ...string) []string {
	t.Helper()
	r := redkit(t, nil, append(words, "--generate-bash-completion")...).want(t, 0)
	return strings.Fields(r.stdout)
}

func TestCompletionCandidates(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "backups"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		words []string // the last one is being completed
		want  []string // exactly these, in this order
	}{
		{[]string{"ba"}, []string{"backup"}},
		{[]string{"backup", ""}, []string{"list", "prune", "verify"}},
		{[]string{"backup", "p"}, []string{"prune"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}},
		{[]string{"analyze", "--report", ""}, []string{"summary", "keys", "bigkeys", "prefixes", "flamegraph"}},
		{[]string{"analyze", "--report", "b"}, []string{"bigkeys"}},
		{[]string{"analyze", "-r", ""}, []string{"summary", "keys", "bigkeys", "prefixes", "flamegraph"}},
		{[]string{"analyze", "--format", ""}, []string{"text", "json", "csv", "table", "html"}},
		{[]string{"analyze", "--format=j"}, []string{"--format=json"}},
		{[]string{"check", "--format", ""}, []string{"text", "json"}},
		{[]string{"backup", "list", "--format", ""}, []string{"text", "json"}},
		{[]string{"backup", "--compress", ""}, []string{"zstd", "gzip", "none"}},
		{[]string{"backup", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"sync", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"sync", "--mode", ""}, []string{"auto", "restore", "commands", "native", "scan"}},
		{[]string{"restore", "--mode", ""}, []string{"auto", "restore", "commands"}},
		{[]string{"restore", "--conflict", ""}, []string{"error", "replace", "skip"}},
		{[]string{"convert", "--to", ""}, []string{"resp", "aof", "json", "jsonl", "rdb"}},
		{[]string{"backup", "--to", ""}, []string{"file://", "s3://", ":files"}},
		{[]string{"backup", "--to", "s"}, []string{"s3://", ":files"}},
		{[]string{"backup", "--to", "file://" + dir + "/b"}, []string{"file://" + dir + "/backups/"}},
		{[]string{"backup", "--from", ""}, []string{"redis://", "rediss://", "redis+sentinel://", ":files"}},
		{[]string{"sync", "--from", ""}, []string{"redis://", "rediss://", "redis+sentinel://"}},
		{[]string{"sync", "--to", "rediss"}, []string{"rediss://"}},
		{[]string{"restore", "--to", ""}, []string{"redis://", "rediss://", "redis+sentinel://"}},
		{[]string{"sync", "--checkpoint", ""}, []string{":files"}},
		{[]string{"backup", "list", ""}, []string{"file://", "s3://", ":files"}},
		{[]string{"backup", "prune", "--dry-run", ""}, []string{"file://", "s3://", ":files"}},
		{[]string{"backup", "prune", "--keep-l"}, []string{"--keep-last"}},
		{[]string{"check", ""}, []string{"file://", "s3://", ":files"}}, // a file, or a backup
		{[]string{"check", "a.rdb", ""}, []string{"file://", "s3://", ":files"}},
		{[]string{"analyze", "--to"}, []string{"--top"}},
		{[]string{"analyze", "--top", "5", "--rep"}, []string{"--report"}},
		{[]string{"--v"}, []string{"--version"}},
		{[]string{"dump", ""}, nil},
	}
	var commands []string // every visible command, then help
	for _, c := range newApp(globalOptions{}).Commands {
		if !c.Hidden {
			commands = append(commands, c.Name)
		}
	}
	tests = append(tests, struct{ words, want []string }{[]string{""}, append(commands, "help")})
	for _, tt := range tests {
		t.Run(strings.Join(tt.words, " "), func(t *testing.T) {
			got := complete(t, tt.words...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("redkit %q: got %q, want %q", tt.words, got, tt.want)
			}
		})
	}
}

// TestCompletionChoices: every entry of the choice table names a flag that
// exists, and each value it offers is in that flag's help text.
func TestCompletionChoices(t *testing.T) {
	app := newApp(globalOptions{})
	type found struct{ usages []string }
	byKey := map[string]*found{} // "path --flag" and "--flag"
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			p := append(append([]string{}, path...), cmd.Name)
			for _, f := range cmd.Flags {
				u := f.(interface{ GetUsage() string }).GetUsage()
				for _, key := range []string{strings.Join(p, " ") + " --" + f.Names()[0], "--" + f.Names()[0]} {
					if byKey[key] == nil {
						byKey[key] = &found{}
					}
					byKey[key].usages = append(byKey[key].usages, u)
				}
				if choices := flagChoices(p, f.Names()[0]); choices != nil {
					for _, c := range choices {
						if !strings.Contains(u, c) {
							t.Errorf("redkit %s --%s offers %q, which its help does not name: %q", strings.Join(p, " "), f.Names()[0], c, u)
						}
					}
				}
			}
			walk(p, cmd.Subcommands)
		}
	}
	walk(nil, app.Commands)
	for key := range flagChoiceTable() {
		if byKey[key] == nil {
			t.Errorf("flagChoiceTable: %q is no flag of redkit", key)
		}
	}
}

// TestCompletionScripts runs the scripts in the shells themselves (bash
// always; zsh and fish when installed), with redkit on PATH.
func TestCompletionScripts(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nREDKIT_TEST_MAIN=1 exec '" + exe + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "redkit"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"dump.rdb", "dump.aof"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scriptFile := func(t *testing.T, shell string) string {
		p := filepath.Join(t.TempDir(), "redkit."+shell)
		if err := os.WriteFile(p, []byte(redkit(t, nil, "completion", shell).want(t, 0).stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(t *testing.T, shell string, args ...string) []string {
		t.Helper()
		cmd := exec.Command(shell, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", shell, err, out)
		}
		return strings.Fields(string(out))
	}
	tests := []struct {
		line string
		want []string
	}{
		{"redkit backup ", []string{"list", "prune", "verify"}},
		{"redkit backup l", []string{"list"}},
		{"redkit analyze --report ", []string{"summary", "keys", "bigkeys", "prefixes", "flamegraph"}},
		{"redkit check --format ", []string{"text", "json"}},
		{"redkit check dump.r", []string{"dump.rdb"}},
		{"redkit sync --from redis+", []string{"redis+sentinel://"}},
		{"redkit sync --from rediss", []string{"rediss://"}},
	}

	t.Run("bash", func(t *testing.T) {
		script := scriptFile(t, "bash")
		for _, tt := range tests {
			got := run(t, "bash", "-c", `source "$1"; COMP_LINE="$2"; COMP_POINT=${#2}; _redkit_complete; printf '%s\n' "${COMPREPLY[@]}"`, "bash", script, tt.line)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%q: got %q, want %q", tt.line, got, tt.want)
			}
		}
		// bash splits the word at ':' (COMP_WORDBREAKS), so a candidate
		// replaces only what follows the last colon.
		got := run(t, "bash", "-c", `source "$1"; COMP_LINE="$2"; COMP_POINT=${#2}; _redkit_complete; printf '%s\n' "${COMPREPLY[@]}"`, "bash", script, "redkit backup --to file://"+dir+"/d")
		if len(got) != 0 {
			t.Errorf("file:// with no directory: got %q", got)
		}
	})
	t.Run("zsh", func(t *testing.T) {
		if _, err := exec.LookPath("zsh"); err != nil {
			t.Skip("zsh not installed")
		}
		script := scriptFile(t, "zsh")
		for _, tt := range tests {
			// compadd and _files belong to zsh's completion system, which
			// needs a terminal: stand-ins print what they are given.
			got := run(t, "zsh", "-c", `compdef() {}; compadd() { local n=${@[-1]}; print -rl -- "${(@P)n}" }; _files() { print -rl -- ${words[CURRENT]}*(N) }
source "$1"; words=(${(z)2}); [[ "$2" == *" " ]] && words+=(""); CURRENT=${#words}; _redkit`, "zsh", script, tt.line)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%q: got %q, want %q", tt.line, got, tt.want)
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		if _, err := exec.LookPath("fish"); err != nil {
			t.Skip("fish not installed")
		}
		script := scriptFile(t, "fish")
		for _, tt := range tests {
			got := run(t, "fish", "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, tt.line)
			want := slices.Clone(tt.want)
			slices.Sort(want) // fish sorts the candidates
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%q: got %q, want %q", tt.line, got, want)
			}
		}
	})
}
