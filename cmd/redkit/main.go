package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// Stamped by goreleaser: -X main.version=... -X main.commit=... -X main.date=...
var version, commit, date string

func main() {
	setDefaultMemoryLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// REDKIT_CPUPROFILE=FILE writes a CPU profile of the run (for go tool
	// pprof): how performance problems get diagnosed on real data.
	if p := os.Getenv("REDKIT_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	pprof.StopCPUProfile()
	// REDKIT_MEMPROFILE=FILE writes the allocations of the run (go tool
	// pprof -sample_index=alloc_space): what keeps the collector busy.
	if p := os.Getenv("REDKIT_MEMPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(code)
}

// run runs redkit with args (args[0] is the program name) and returns the
// exit code. Standard input is os.Stdin.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, os.Stdin, stdout, stderr)
}

// runIO is run with an explicit standard input, for tests.
func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	gopts := globalOptions{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now(), logFormat: logFormatOf(args, os.Getenv)}
	app := newApp(gopts)
	installCompletion(app, args)
	err := app.RunContext(ctx, reorderArgs(app, args))
	return report(ctx, stderr, err, gopts.logFormat)
}

// globalOptions carries what every command needs from its environment.
type globalOptions struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            time.Time // reference for expiries: one instant per run
	logFormat      string    // "text" or "json": --log-format or REDKIT_LOG_FORMAT, read before the flags (logFormatOf)
}

const exitCodesHelp = `EXIT CODES (the same for every command):
   0    success
   1    error: unreadable, corrupt, truncated or invalid input (check and analyze alike),
        a refused connection, an I/O failure
   2    usage error: a bad flag or argument (compare: also trouble, as diff(1) and cmp(1))
   3    completed with problems that did not stop it (keys that failed, empty collections,
        a repaired AOF tail, a gap); the report says which
   11   the storage is locked by another run (backup, backup --continuous, backup prune): the message names its holder
   130  interrupted (SIGINT or SIGTERM)
   compare: 0 identical, 1 different, 2 trouble`

func newApp(gopts globalOptions) *cli.App {
	app := &cli.App{
		Name:                 "redkit",
		Usage:                "check, analyze and migrate Redis persistence files",
		UsageText:            "redkit [--version] <command> [flags] [arguments]\n\nexample: redkit analyze --top 20 dump.rdb",
		Version:              versionString(),
		EnableBashCompletion: true,
		Reader:               gopts.stdin,
		Writer:               gopts.stdout,
		ErrWriter:            gopts.stderr,
		Description:          "Flags may come before or after arguments; \"--\" ends flags.\nCompressed dumps (gzip, zstd) are read transparently; \"-\" reads standard input.\n\n" + exitCodesHelp,
		Commands: []*cli.Command{
			newCheckCommand(gopts),
			newAnalyzeCommand(gopts),
			newConvertCommand(gopts),
			newRestoreCommand(gopts),
			newCompareCommand(gopts),
			newSyncCommand(gopts),
			newBackupCommand(gopts),
			newDumpCommand(gopts),
			newCompletionCommand(gopts),
			newManCommand(gopts),
		},
		// urfave/cli would call os.Exit for ExitCoder errors: report does
		// the mapping instead.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(version, commit, date, bi)
}

// versionFrom is the version line: what goreleaser stamped (-X), else
// what the Go toolchain recorded in the binary (bi: the module's version
// for a "go install ...@v1.2.3", a pseudo-version and the commit for a
// "go build" in a checkout), else "dev", "none" and "unknown".
func versionFrom(v, c, d string, bi *debug.BuildInfo) string {
	// goreleaser stamps "none" and "unknown" when it knows nothing (a
	// snapshot in a clone without a remote): what Go recorded is better.
	if c == "none" {
		c = ""
	}
	if d == "unknown" {
		d = ""
	}
	if bi != nil {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		var rev, at string
		var dirty bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if c == "" && rev != "" {
			c = rev[:min(len(rev), 12)]
			if dirty {
				c += "-dirty"
			}
		}
		if d == "" {
			d = at
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "none"
	}
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, built %s)", v, c, d)
}
