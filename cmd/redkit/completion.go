package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/redkit/redkit/rdb"
	"github.com/urfave/cli/v2"
)

func newCompletionCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		UsageText: `redkit completion bash|zsh|fish

examples:
   source <(redkit completion bash)                     # bash, current shell
   redkit completion zsh > "${fpath[1]}/_redkit"        # zsh
   redkit completion fish > ~/.config/fish/completions/redkit.fish`,
		Description: "Prints a script that completes redkit's commands, subcommands, flags and\nflag values (formats, reports, URL schemes, files): the script asks redkit\nitself for the candidates, so it stays right across upgrades.\n\n" + exitCodesHelp,
		Action: func(c *cli.Context) error {
			return runCompletion(c.Context, gopts, c.Args().Slice())
		},
	}
}

// runCompletion prints the completion script of the shell args names.
func runCompletion(_ context.Context, gopts globalOptions, args []string) error {
	if len(args) != 1 {
		return usageErrorf("completion: want one shell: bash, zsh or fish")
	}
	var script string
	switch shell := args[0]; shell {
	case "bash":
		script = bashCompletion
	case "zsh":
		script = zshCompletion
	case "fish":
		script = fishCompletion
	default:
		return usageErrorf("completion: unknown shell %q: want bash, zsh or fish", shell)
	}
	_, err := fmt.Fprint(gopts.stdout, strings.TrimLeft(script, "\n"))
	return err
}

// The scripts ask redkit itself for candidates: they run the words before
// the cursor, then the word being completed (empty when the cursor follows
// a space), then --generate-bash-completion. redkit prints one candidate
// a line; a line ":files" means "file names too", which each script turns
// into its shell's own file completion. Written for redkit; the protocol
// grew out of urfave/cli v2's autocomplete/ scripts (MIT licence).
const bashCompletion = `
# bash completion for redkit
_redkit_complete() {
  local line=${COMP_LINE:0:COMP_POINT} cur words opts prefix
  read -r -a words <<< "$line"
  if [[ "$line" =~ [[:space:]]$ ]]; then cur=""; else cur=${words[-1]}; unset 'words[-1]'; fi
  local w
  for w in "${words[@]}"; do [[ "$w" == "--" ]] && return 1; done
  opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  COMPREPLY=()
  local files=0 o
  while IFS= read -r o; do
    if [[ "$o" == ":files" ]]; then files=1; elif [[ -n "$o" ]]; then COMPREPLY+=("$o"); fi
  done <<< "$opts"
  if (( files )); then
    local f
    while IFS= read -r f; do
      [[ -n "$f" ]] || continue
      [[ -d "$f" ]] && f="$f/"
      COMPREPLY+=("$f")
    done < <(compgen -f -- "$cur")
  fi
  # bash splits words at = and : (COMP_WORDBREAKS); the candidates are
  # whole words, so drop what bash keeps before the last break.
  if [[ "$cur" == *[=:]* ]]; then
    prefix=${cur%"${cur##*[=:]}"}
    COMPREPLY=("${COMPREPLY[@]#"$prefix"}")
  fi
  for o in "${COMPREPLY[@]}"; do
    if [[ "$o" == */ || "$o" == *= ]]; then compopt -o nospace 2>/dev/null; break; fi
  done
  return 0
}
complete -o bashdefault -o default -F _redkit_complete redkit
`

const zshCompletion = `
#compdef redkit
# zsh completion for redkit
_redkit() {
  local -a opts nospace
  local o files=0 ret=1
  (( ${words[(I)--]} && ${words[(I)--]} < CURRENT )) && { _files; return }
  for o in "${(@f)$(${words[1,CURRENT-1]} "${words[CURRENT]}" --generate-bash-completion 2>/dev/null)}"; do
    if [[ "$o" == ":files" ]]; then files=1
    elif [[ "$o" == */ || "$o" == *= ]]; then nospace+=("$o")
    elif [[ -n "$o" ]]; then opts+=("$o"); fi
  done
  (( ${#opts} )) && compadd -a opts && ret=0
  (( ${#nospace} )) && compadd -S '' -a nospace && ret=0
  if (( files )) || (( ${#opts} + ${#nospace} == 0 )); then
    _files && ret=0
  fi
  return ret
}
compdef _redkit redkit
`

const fishCompletion = `
# fish completion for redkit
function __redkit_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    if contains -- -- $words
        __fish_complete_path $cur
        return
    end
    for o in ($words $cur --generate-bash-completion 2>/dev/null)
        if test "$o" = ":files"
            __fish_complete_path $cur
        else if test -n "$o"
            echo $o
        end
    end
end
complete -c redkit -f -a '(__redkit_complete)'
`

// installCompletion makes every command answer --generate-bash-completion
// from the arguments run was given (urfave/cli's default completers look
// at os.Args, and list neither subcommands nor flag values): args end in
// the word being completed, then --generate-bash-completion.
func installCompletion(app *cli.App, args []string) {
	n := len(args)
	if n < 2 || args[n-1] != "--generate-bash-completion" {
		return
	}
	words := args[1 : n-1]
	var cur string
	if len(words) > 0 {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	complete := func(c *cli.Context) {
		for _, s := range completionCandidates(c.App, words, cur) {
			fmt.Fprintln(c.App.Writer, s)
		}
	}
	app.BashComplete = complete
	var set func([]*cli.Command)
	set = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			cmd.BashComplete = complete
			set(cmd.Subcommands)
		}
	}
	set(app.Commands)
}

// completionCandidates walks words (the complete words after "redkit")
// down the command tree and returns the candidates for cur: a flag's
// values after a flag that takes one, flag names when cur starts with
// "-", else subcommands and what the command's arguments can be.
func completionCandidates(app *cli.App, words []string, cur string) []string {
	var path []string // command names below redkit
	var cmd *cli.Command
	flags, subs := app.VisibleFlags(), app.VisibleCommands()
	positional := 0
	var valueOf cli.Flag // the flag the next word is the value of
	for _, w := range words {
		if valueOf != nil {
			valueOf = nil
			continue
		}
		if w == "--" {
			return []string{":files"}
		}
		if len(w) > 1 && w[0] == '-' {
			name := strings.TrimLeft(w, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := findFlag(flags, name); f != nil && flagTakesValue(f) {
				valueOf = f
			}
			continue
		}
		if positional == 0 {
			if sub := findCommand(subs, w); sub != nil {
				cmd, path = sub, append(path, sub.Name)
				flags, subs = append(sub.VisibleFlags(), cli.HelpFlag), sub.VisibleCommands()
				continue
			}
		}
		positional++
	}
	if cmd == nil {
		flags = append(flags, cli.VersionFlag, cli.HelpFlag)
	}
	switch {
	case valueOf != nil:
		return filterPrefix(flagValueCandidates(path, valueOf, cur), cur)
	case strings.HasPrefix(cur, "-") && strings.Contains(cur, "="):
		name, val, _ := strings.Cut(strings.TrimLeft(cur, "-"), "=")
		f := findFlag(flags, name)
		if f == nil || !flagTakesValue(f) {
			return nil
		}
		var out []string
		for _, v := range flagValueCandidates(path, f, val) {
			if v == ":files" {
				out = append(out, v) // the shell completes the whole word as a path
				continue
			}
			out = append(out, cur[:len(cur)-len(val)]+v)
		}
		return filterPrefix(out, cur)
	case strings.HasPrefix(cur, "-"):
		var out []string
		for _, f := range flags {
			for _, name := range f.Names() {
				if len(name) > 1 {
					out = append(out, "--"+name)
				}
			}
		}
		return filterPrefix(out, cur)
	}
	var out []string
	if positional == 0 {
		for _, sub := range subs {
			if sub.Name != "help" || cmd == nil {
				out = append(out, sub.Name)
			}
		}
	}
	if cmd != nil {
		out = append(out, argCandidates(path, cmd, cur)...)
	}
	return filterPrefix(out, cur)
}

// filterPrefix keeps the candidates that start with prefix (and ":files"),
// each once.
func filterPrefix(cands []string, prefix string) []string {
	var out []string
	for _, c := range cands {
		if slices.Contains(out, c) {
			continue
		}
		if c == ":files" || strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func flagTakesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

// Values for the URL and storage flags and arguments.
var (
	redisSchemes   = []string{"redis://", "rediss://", "redis+sentinel://"}
	storageSchemes = []string{"file://", "s3://"}
)

// flagChoiceTable lists the values of the flags that take one of a fixed
// set, by "--flag", or by "command path --flag" where commands differ.
// Every value is in the flag's help text too (TestCompletionChoices).
func flagChoiceTable() map[string][]string {
	textJSON := []string{"text", "json"}
	t := map[string][]string{
		"analyze --format": {"text", "json", "csv", "table", "html"},
		"analyze --report": {"summary", "keys", "bigkeys", "prefixes", "flamegraph"},
		"convert --to":     {"resp", "aof", "json", "jsonl", "rdb"},
		"restore --mode":   {"auto", "restore", "commands"},
		"sync --mode":      {"auto", "restore", "commands", "native", "scan"},
		"--format":         textJSON,
		"--log-format":     textJSON,
		"--compress":       {"zstd", "gzip", "none"},
		"--conflict":       {"error", "replace", "skip"},
		"--expired":        {"include", "exclude", "only"},
		"--type":           {"string", "list", "set", "zset", "hash", "stream", "module"},
		"--source-mode":    {"auto", "replication", "scan"},
	}
	t["analyze --memory-model"] = rdb.MemoryModelNames()
	return t
}

// flagChoices: the fixed values of flag name of the command at path.
func flagChoices(path []string, name string) []string {
	t := flagChoiceTable()
	if c, ok := t[strings.Join(path, " ")+" --"+name]; ok {
		return c
	}
	return t["--"+name]
}

// flagValueCandidates: the fixed choices of flag f, else what its help's
// placeholder says it takes (a URL, a storage URL, a file or directory).
func flagValueCandidates(path []string, f cli.Flag, cur string) []string {
	name := f.Names()[0]
	if c := flagChoices(path, name); c != nil {
		return c
	}
	var placeholder string
	if u, ok := f.(interface{ GetUsage() string }); ok {
		if _, rest, ok := strings.Cut(u.GetUsage(), "`"); ok {
			placeholder, _, _ = strings.Cut(rest, "`")
		}
	}
	switch {
	case name == "to" && len(path) > 0 && path[0] == "backup", placeholder == "STORAGE_URL":
		return storageURLCandidates(cur)
	case name == "from" && len(path) > 0 && path[0] == "backup":
		return append(append([]string{}, redisSchemes...), ":files") // a live server or an RDB file
	case placeholder == "URL" && (name == "from" || name == "to" || name == "a" || name == "b"):
		return redisSchemes
	case placeholder == "FILE", placeholder == "DIR", placeholder == "PATH":
		return []string{":files"}
	}
	return nil
}

// argCandidates: what cmd's arguments can be, from its ArgsUsage.
func argCandidates(path []string, cmd *cli.Command, cur string) []string {
	switch strings.Join(path, " ") {
	case "completion":
		return []string{"bash", "zsh", "fish"}
	case "compare": // dumps or live servers
		return append(append([]string{}, redisSchemes...), ":files")
	case "restore": // a dump, or a backup: STORAGE_URL@ID
		return storageURLCandidates(cur)
	}
	switch {
	case strings.Contains(cmd.ArgsUsage, "STORAGE_URL"):
		return storageURLCandidates(cur)
	case strings.TrimSpace(cmd.ArgsUsage) != "":
		return []string{":files"}
	}
	return nil
}

// storageURLCandidates: the schemes, the directories under a file:// URL
// being typed, and plain paths (a plain path is a file:// storage).
func storageURLCandidates(cur string) []string {
	dir, ok := strings.CutPrefix(cur, "file://")
	if !ok {
		return append(append([]string{}, storageSchemes...), ":files")
	}
	matches, _ := filepath.Glob(dir + "*")
	var out []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			out = append(out, "file://"+m+"/")
		}
	}
	return out
}
