package main

import (
	"context"
	"fmt"
	"io"
	"strings"

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
		Description: "Prints a script that completes redkit's commands and flags; bash and zsh ask\nredkit itself for candidates, fish gets a static list.\n\n" + exitCodesHelp,
		Action: func(c *cli.Context) error {
			return runCompletion(c.Context, gopts, completionOptions{fish: c.App.ToFishCompletion}, c.Args().Slice())
		},
	}
}

// completionOptions: fish writes fish's script, which lists the app's
// commands and flags.
type completionOptions struct {
	fish func() (string, error)
}

// runCompletion prints the completion script of the shell args names.
func runCompletion(_ context.Context, gopts globalOptions, opts completionOptions, args []string) error {
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
		s, err := opts.fish()
		if err != nil {
			return fmt.Errorf("generate fish completion: %w", err)
		}
		script = s
	default:
		return usageErrorf("completion: unknown shell %q: want bash, zsh or fish", shell)
	}
	_, err := fmt.Fprint(gopts.stdout, strings.TrimLeft(script, "\n"))
	return err
}

// Adapted from urfave/cli v2's autocomplete/ scripts (MIT licence).
const bashCompletion = `
# bash completion for redkit
_redkit_complete() {
  local cur words cword
  COMPREPLY=()
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion -n "=:" || return
  else
    cur="${COMP_WORDS[COMP_CWORD]}"; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  fi
  local request=("${words[@]:0:$cword}")
  if [[ "$cur" == -* ]]; then request+=("$cur"); fi
  local opts
  opts=$("${request[@]}" --generate-bash-completion 2>/dev/null)
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _redkit_complete redkit
`

const zshCompletion = `
#compdef redkit
# zsh completion for redkit
_redkit() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _redkit redkit
`

// installCompletion replaces urfave/cli's default completers, which look
// at os.Args instead of the arguments run was given: the word before
// --generate-bash-completion decides between flags and commands.
func installCompletion(app *cli.App, args []string) {
	var prev string
	if n := len(args); n >= 2 && args[n-1] == "--generate-bash-completion" {
		prev = args[n-2]
	}
	wantFlags := strings.HasPrefix(prev, "-")
	printFlags := func(w io.Writer, flags []cli.Flag) {
		for _, f := range flags {
			for _, name := range f.Names() {
				if len(name) > 1 && strings.HasPrefix("--"+name, prev) {
					fmt.Fprintln(w, "--"+name)
				}
			}
		}
	}
	app.BashComplete = func(c *cli.Context) {
		if wantFlags {
			printFlags(c.App.Writer, []cli.Flag{cli.VersionFlag, cli.HelpFlag})
			return
		}
		for _, cmd := range c.App.VisibleCommands() {
			fmt.Fprintln(c.App.Writer, cmd.Name)
		}
	}
	for _, cmd := range app.Commands {
		cmd.BashComplete = func(c *cli.Context) {
			switch {
			case wantFlags:
				printFlags(c.App.Writer, append(cmd.VisibleFlags(), cli.HelpFlag))
			case cmd.Name == "completion":
				fmt.Fprintln(c.App.Writer, "bash\nzsh\nfish")
			}
		}
	}
}
