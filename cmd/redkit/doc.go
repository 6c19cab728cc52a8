// Command redkit is a toolkit for Redis persistence: check, analyze,
// convert and compare RDB and AOF files, restore them into live servers,
// mirror a live server into another (sync), and take, verify, prune and
// restore backups (dump, backup). Run "redkit --help" for the commands.
//
// This package is the command layer only. What each command does lives
// in the engine packages: rdb and aof (the formats), sync (live servers:
// connections, writers, restore of keys, the replication link), storage
// (backends and the object codec), pipeline (source -> filter -> sink,
// for convert and every restore), backup (snapshot jobs, the catalog,
// continuous capture, point-in-time plans), internal/analysis and
// internal/compare. Nothing imports this package, and only it imports
// urfave/cli and the progress bar or calls os.Exit (in main alone).
//
// # One file per command
//
// Each command has its file (check.go, analyze.go, convert.go,
// restore.go, compare.go, sync.go, backup.go, dump.go, completion.go;
// a second file for a large part of one, such as check_aof.go or
// sync_native.go). The file holds the command's flags and help (with
// examples and its exit codes), an Action that fills an options struct
// from the flags and environment (REDKIT_* variables, password files),
// and a plain function
//
//	runX(ctx context.Context, gopts globalOptions, opts xOptions, args []string) error
//
// that checks the options, calls the engine and prints its report. runX
// takes no *cli.Context, so tests and other commands can call it with
// options of their own; gopts carries standard input and output, standard
// error and the run's reference instant. Files do not reach into another
// command's file: what several commands share lives in a file named for
// it:
//
//   - live.go: TLS flags, URLs and passwords of live servers
//     (endpointOptions, connOptions, passwordFor: option mapping; the
//     resolving and waiting is sync's Resolve and WaitInfo), the
//     replication link's timeout, and connectHint;
//   - filterflags.go: the key filter flags of every command that reads
//     keys; flagvalues.go: sizes and times given as flag values;
//   - inputs.go and output.go: reading inputs (compressed, stdin, AOF
//     directories) and writing outputs atomically; storage.go: storage
//     URLs and encryption keys; preflight.go: the --check probes of
//     restore and sync;
//   - progress.go: progress bars (on a terminal only, on stderr);
//     status.go: /status and /metrics; logging.go: the slog logger of
//     long-running commands; report.go: text shared by check and analyze;
//   - args.go: flags may follow positional arguments (reorderArgs moves
//     each command's flags first, using its flag definitions to know
//     which take a value, since urfave/cli stops at the first argument).
//
// # Errors, hints and exit codes
//
// The engines' errors say what happened (a typed or sentinel error with
// the key, the offset, the server and version) and never name a flag.
// hints.go turns them into advice in the words of the command line, with
// one list per engine (hints_backup.go, hints_pipeline.go, hints_lock.go):
// withAdvice puts the flag-naming advice back into an error's text (a
// conflict on a key gets "use --conflict replace or skip", a target too
// old for a mode "use --mode commands", an encrypted backup
// "--identity-file"), and adviceHandler does it for the engines'
// warnings. Everything that prints an engine's error goes through
// withAdvice; commands print a "hint:" line of their own where they
// know more (connectHint for a server that cannot be reached).
//
// errors.go has the one mapping from errors to exit codes, for every
// command and subcommand:
//
//	0    success
//	1    error (unreadable or invalid input, I/O failure)
//	2    usage error (bad flag or argument)
//	3    completed with problems (some keys corrupt or failed; the report
//	     covers what could be read)
//	130  interrupted (SIGINT/SIGTERM cancel the context)
//
// compare exits as diff(1) does (0 same, 1 different, 2 trouble). A
// command that printed its own error returns a reportedError, which only
// sets the code; report prints the others, with every URL's password
// stripped, as the last guard.
//
// # Memory
//
// memory.go is the one memory-limit policy: a soft limit for the garbage
// collector (streaming keeps the live heap small), raised by
// reserveMemory or memoryHint where a command holds memory live by
// design (upload buffers, payloads lent to a writer), lifted by
// liftMemoryLimit where the live heap grows with the data set (a replay
// held whole, compare's pending keys). GOMEMLIMIT, when set, wins.
//
// Data goes to stdout, messages, logs and progress to stderr. Tests run
// the app in-process through run and runIO.
package main
