package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves a command's flags in front of its positional
// arguments, because urfave/cli (like the flag package) stops parsing
// flags at the first positional argument. Which flags take a value comes
// from the command's own flag definitions; "--" still ends flags. The
// shell completion flag stays last, where urfave/cli looks for it.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		i++ // global flags, all boolean
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	if len(cmd.Subcommands) > 0 {
		// "backup list URL --format json": the subcommand's flags.
		if i+1 >= len(args) || cmd.Command(args[i+1]) == nil {
			return args
		}
		i++
		cmd = cmd.Command(args[i])
	}
	rest := args[i+1:]
	var tail []string
	if n := len(rest); n > 0 && rest[n-1] == "--generate-bash-completion" {
		rest, tail = rest[:n-1], rest[n-1:]
	}
	out := append([]string{}, args[:i+1]...)
	out = append(out, reorder(cmd.Flags, rest)...)
	return append(out, tail...)
}

func reorder(flags []cli.Flag, args []string) []string {
	takesValue := map[string]bool{}
	for _, f := range flags {
		d, ok := f.(cli.DocGenerationFlag)
		for _, name := range f.Names() {
			takesValue[name] = ok && d.TakesValue()
		}
	}
	var fl, pos []string
	dashdash := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			dashdash = true
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		fl = append(fl, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(args) {
			fl = append(fl, args[i+1])
			i++
		}
	}
	if dashdash {
		fl = append(fl, "--")
	}
	return append(fl, pos...)
}
