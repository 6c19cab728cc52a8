package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	rsync "github.com/redkit/redkit/sync"
)

func newDumpCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "dump",
		Usage:     "take a live server's snapshot into an RDB file, as a replica",
		ArgsUsage: " ",
		UsageText: `redkit dump --from URL -o FILE

examples:
   redkit dump --from redis://10.0.0.5:6379 -o dump.rdb
   REDKIT_FROM_PASSWORD=s3cret redkit dump --from redis://default@cache:6379 -o - | zstd > dump.rdb.zst
   redkit dump --from redis+sentinel://s1:26379/mymaster -o /var/backups/redis.rdb`,
		Description: `Connects to the server as a replica (REPLCONF rdb-only, PSYNC, as
redis-cli --rdb does: nothing of the server's disk is needed) and writes
the snapshot it sends to FILE, checking it on the way (the whole RDB is
parsed, its CRC64 included, and its keys counted per database). FILE is
written under a temporary name beside it and renamed into place only
once complete and valid; "-" writes to standard output. A progress bar
shows on a terminal. A cluster node gives only its own slots' keys: use
redkit backup for a whole cluster.

The password can come from REDKIT_FROM_PASSWORD or --from-password-file
instead of the URL, to keep it off the command line.

` + passwordRule + `

` + exitCodesHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "from", EnvVars: []string{"REDKIT_FROM_URL"}, Usage: "the server's `URL`: redis://, rediss:// or redis+sentinel://"},
			&cli.StringFlag{Name: "from-password-file", Usage: "read the server's password from `FILE` (REDKIT_FROM_PASSWORD also works); the URL's bare userinfo (redis://USER@host) is then the user"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the RDB to `FILE` (- for standard output)"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "give up when the server sends nothing for `DURATION` (a stalled link): connecting, a reply, the snapshot's next byte"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"REDKIT_QUIET"}, Usage: "no progress bar and no summary"},
		}, tlsFlags()...),
		Action: func(c *cli.Context) error {
			opts := dumpOptions{from: c.String("from"), fromPasswordFile: c.String("from-password-file"), output: c.String("output"),
				timeout: c.Duration("timeout"), quiet: c.Bool("quiet"), tls: tlsFromFlags(c)}
			return runDump(c.Context, gopts, opts, c.Args().Slice())
		},
	}
}

// dumpOptions are dump's flags.
type dumpOptions struct {
	from, fromPasswordFile string
	output                 string // a file, or - for standard output
	timeout                time.Duration
	quiet                  bool
	tls                    rsync.TLSOptions
}

func runDump(ctx context.Context, gopts globalOptions, opts dumpOptions, args []string) error {
	if len(args) > 0 {
		return usageErrorf("dump: unexpected argument %q: the server is --from, the file -o", args[0])
	}
	from, out := opts.from, opts.output
	if from == "" || out == "" {
		return usageErrorf("dump: --from URL and -o FILE are both needed")
	}
	ep, copts, err := endpointOptions("dump", "from", from, opts.fromPasswordFile, "REDKIT_FROM_PASSWORD", opts.tls, opts.timeout)
	if err != nil {
		return err
	}
	addr, info, err := rsync.Resolve(ctx, ep, &copts, rsync.ConnectRetryFor, nil)
	if err != nil {
		return liveConnectError(gopts, "dump", ep.String(), err)
	}
	if info.Cluster {
		fmt.Fprintf(gopts.stderr, "redkit: dump: %s is a cluster node: the snapshot holds its own slots' keys only (redkit backup takes every master's)\n", ep)
	}
	start := time.Now()
	l, err := rsync.OpenLink(ctx, addr, rsync.ReplicaOptions{Conn: copts, RDBOnly: true, Timeout: linkTimeoutOf(opts.timeout)})
	if err != nil {
		return liveConnectError(gopts, "dump", ep.String(), err)
	}
	defer l.Close()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	snap, err := l.Snapshot()
	if err != nil {
		return fmt.Errorf("dump: snapshot of %s: %w", ep, err)
	}

	o, err := openOutput(out, gopts.stdout)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	defer o.abort()
	var n atomic.Int64
	bar := startProgress(gopts.stderr, opts.quiet, "dump", l.SnapshotSize())
	bar.count(n.Load)
	keys, version, _, err := backup.CopySnapshot(backup.SourceReader(snap, "the snapshot"), o, writeWhat(out), false, &n)
	bar.stop()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("dump: %w", ctx.Err())
		}
		if out != "-" {
			fmt.Fprintf(gopts.stderr, "redkit: dump: %s: %v\n%s was not written\n", ep, err, out)
			return reportedError(exitError, err)
		}
		return fmt.Errorf("dump: %s: %w", ep, err)
	}
	if err := o.commit(); err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	if !opts.quiet {
		var dbs []string
		for _, db := range sortedKeys(keys) {
			dbs = append(dbs, fmt.Sprintf("db%d=%d", db, keys[db]))
		}
		fmt.Fprintf(gopts.stderr, "redkit: dump: %s -> %s: RDB %d, %s, %d keys (%s) in %.1fs\n", ep, out, version, bytesize.Format(n.Load()),
			sumKeys(keys), strings.Join(dbs, " "), time.Since(start).Seconds())
	}
	return nil
}

// sortedKeys lists a key map's databases in order.
func sortedKeys(keys map[int]int64) []int {
	dbs := make([]int, 0, len(keys))
	for db := range keys {
		dbs = append(dbs, db)
	}
	slices.Sort(dbs)
	return dbs
}
