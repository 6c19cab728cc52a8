// Command redkit is a toolkit for Redis persistence files: check and
// analyze RDB dumps. Run "redkit --help" for the commands.
//
// This package is the command layer only: one file per command (flags,
// help with examples and exit codes, then a plain runX(ctx, gopts, opts,
// args)), the filter flags shared by every command that reads dumps,
// progress bars and the mapping from errors to exit codes:
//
//	0    success
//	1    error (unreadable or invalid input, I/O failure)
//	2    usage error
//	3    completed with problems (a report over partly unreadable input)
//	130  interrupted (SIGINT/SIGTERM cancel the context)
//
// Flags may follow positional arguments: reorderArgs moves each command's
// flags first, using that command's flag definitions to know which flags
// take a value, because urfave/cli stops at the first argument. Data goes
// to stdout, messages and progress to stderr; nothing but main calls
// os.Exit, and tests run the app in-process through run/runIO.
package main
