package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

func newManCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:        "man",
		Hidden:      true, // for packagers: goreleaser's before hooks run it
		Usage:       "write the man pages: redkit(1) and one per command, as redkit-backup(1) and redkit-backup-list(1)",
		ArgsUsage:   " ",
		UsageText:   "redkit man [--dir DIR]\n\nexample: redkit man --dir dist/man && man -l dist/man/redkit-backup.1",
		Description: "Without --dir, prints redkit(1), which lists every command and subcommand with\nits flags. With --dir, writes that page and one per command and subcommand\n(redkit-COMMAND.1, redkit-COMMAND-SUBCOMMAND.1: the help text in full) into DIR.\n\n" + exitCodesHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "write every page into `DIR` (created if needed)"},
		},
		Action: func(c *cli.Context) error {
			return runMan(c.Context, gopts, manOptions{dir: c.String("dir"), app: c.App}, c.Args().Slice())
		},
	}
}

// manOptions: dir is where the pages go ("": redkit.1 on stdout); app is
// the app whose commands they describe.
type manOptions struct {
	dir string
	app *cli.App
}

func runMan(_ context.Context, gopts globalOptions, opts manOptions, args []string) error {
	if len(args) > 0 {
		return usageErrorf("man: unexpected argument %q (the pages go to --dir DIR)", args[0])
	}
	pages, err := manPages(opts.app)
	if err != nil {
		return err
	}
	if opts.dir == "" {
		_, err := fmt.Fprint(gopts.stdout, pages["redkit.1"])
		return err
	}
	if err := os.MkdirAll(opts.dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(pages))
	for name := range pages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(opts.dir, name), []byte(pages[name]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// manPages renders the app's man pages in section 1 with urfave/cli's
// ToMan: redkit.1 (every command and subcommand, briefly, with flags),
// then a page per command and subcommand, named by its path
// (redkit-backup-list.1) with its whole help text. Keys are file names.
func manPages(app *cli.App) (map[string]string, error) {
	cmds := docCommands(app.Commands)
	var all []string // page names but redkit's, for SEE ALSO
	var collect func(prefix string, cmds []*cli.Command)
	collect = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			all = append(all, prefix+"-"+c.Name)
			collect(prefix+"-"+c.Name, c.Subcommands)
		}
	}
	collect("redkit", cmds)

	pages := map[string]string{}
	root := &cli.App{
		Name:        app.Name,
		Usage:       app.Usage,
		UsageText:   app.UsageText,
		Description: manText(app.Description),
		Flags:       []cli.Flag{cli.HelpFlag, cli.VersionFlag},
		Commands:    cmds,
	}
	page, err := root.ToManWithSection(1)
	if err != nil {
		return nil, fmt.Errorf("man page redkit: %w", err)
	}
	pages["redkit.1"] = page + seeAlso(all)

	var render func(path []string, cmds []*cli.Command) error
	render = func(path []string, cmds []*cli.Command) error {
		for _, c := range cmds {
			p := append(append([]string{}, path...), c.Name)
			name := "redkit-" + strings.Join(p, "-")
			usageText := c.UsageText
			if usageText == "" {
				usageText = "redkit " + strings.Join(p, " ") + " [flags] " + c.ArgsUsage
			}
			a := &cli.App{
				Name:        name,
				Usage:       c.Usage,
				UsageText:   usageText,
				Description: manText(c.Description),
				Flags:       c.VisibleFlags(),
				Commands:    c.Subcommands,
			}
			page, err := a.ToManWithSection(1)
			if err != nil {
				return fmt.Errorf("man page %s: %w", name, err)
			}
			// A command's own flags, not global ones.
			page = strings.Replace(page, ".SH GLOBAL OPTIONS", ".SH OPTIONS", 1)
			related := []string{"redkit"}
			for _, other := range all {
				if other != name && (strings.HasPrefix(other, name+"-") || strings.HasPrefix(name, other+"-")) {
					related = append(related, other)
				}
			}
			pages[name+".1"] = page + seeAlso(related)
			if err := render(p, c.Subcommands); err != nil {
				return err
			}
		}
		return nil
	}
	if err := render(nil, cmds); err != nil {
		return nil, err
	}
	return pages, nil
}

// docCommands copies the visible commands without urfave/cli's help
// command, which setup adds to the command that runs.
func docCommands(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" {
			continue
		}
		cp := *c
		cp.Subcommands = docCommands(c.Subcommands)
		out = append(out, &cp)
	}
	return out
}

// seeAlso is a roff SEE ALSO section naming pages of section 1.
func seeAlso(pages []string) string {
	if len(pages) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(".SH SEE ALSO\n")
	for i, p := range pages {
		sep := ","
		if i == len(pages)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, ".BR %s (1)%s\n", p, sep)
	}
	return b.String()
}

// manText turns help text (plain text with hard line breaks, tables and
// examples indented) into the Markdown ToMan reads: paragraphs with
// Markdown's special characters escaped, so that "*" or "_" stay
// themselves, and indented lines as code blocks, so that tables keep
// their columns.
func manText(s string) string {
	var b strings.Builder
	inCode := false
	for _, line := range strings.Split(s, "\n") {
		indented := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		switch {
		case strings.TrimSpace(line) == "":
			b.WriteString("\n")
			inCode = false
			continue
		case indented && !inCode:
			b.WriteString("\n") // a code block cannot interrupt a paragraph
			inCode = true
		case !indented && inCode:
			b.WriteString("\n")
			inCode = false
		}
		if indented {
			b.WriteString("    " + line + "\n")
			continue
		}
		b.WriteString(mdEscape(line) + "\n")
	}
	return b.String()
}

// mdEscape backslash-escapes the characters Markdown would read as markup.
func mdEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune("\\`*_[]<>#|~", r) || (i == 0 && strings.ContainsRune("-+=:", r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
