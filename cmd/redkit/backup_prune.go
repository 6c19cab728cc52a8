package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
)

func newBackupPruneCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:         "prune",
		Usage:        "delete the backups a retention policy does not keep, for each source apart",
		ArgsUsage:    "[STORAGE_URL]",
		OnUsageError: onUsageError,
		UsageText: `redkit backup prune [STORAGE_URL] [--keep-last N] [--keep-hourly H] [--keep-daily D] [--keep-weekly W] [--keep-monthly M] [--keep-yearly Y] [--keep-within DURATION] [--dry-run]

examples:
   redkit backup prune s3://backups/orders --keep-last 24 --keep-daily 7 --keep-weekly 4 --keep-monthly 12
   redkit backup prune file:///var/backups/redis --keep-within 48h --dry-run
   REDKIT_STORAGE=s3://backups/orders redkit backup prune --keep-hourly 48 --keep-daily 30 --keep-yearly 5`,
		Description: `Keeps a backup if any rule keeps it, as restic's forget does:
--keep-last N the newest N; --keep-hourly H, --keep-daily D,
--keep-weekly W, --keep-monthly M, --keep-yearly Y the newest of each
of the last H hours (D days, W ISO weeks, M months, Y years) that have
backups; --keep-within DURATION every backup started within DURATION
of the newest one (units h, m, s; 7d is 168h). Hours, days, weeks,
months and years are UTC.

The rules apply to each source's backups separately, as restic's apply
to each host: --keep-last 1 over a storage holding the backups of two
servers keeps one of each, and the newest backup of each source is
never deleted. A source is what the backup's manifest records: a live
server by the address --from named (host:port; a cluster by the node
named; a database in the URL is left out, a snapshot holding every
database), a Sentinel's master by its Sentinels and its name
(host:port,host:port/NAME, so that a failover keeps one source), an
RDB file or an AOF directory by its path as given. Credentials and TLS
are not part of it. Incomplete backups (no manifest: in progress, or
left by a run that died) are never touched.

It takes the storage's lock (another run holding it: exit 11, naming
it), prints each backup kept (and why) or deleted, with its source, and
with --dry-run deletes nothing. --format json prints the same as a JSON
array: id, started, source, action (keep, delete or would-delete),
reasons.

A continuous backup's generation goes whole: its base, then its
segments, so that no segment outlives its base (segments left without
one by a prune cut short are deleted too). The newest generation of
each source is always kept (it may be being written), and
--keep-within keeps a generation whose restorable range reaches into
the window, however old its base.

` + storageArgHelp + exitCodesHelp,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "keep-last", Usage: "keep the newest `N` backups of each source"},
			&cli.IntFlag{Name: "keep-hourly", Usage: "keep the newest backup of each of the last `H` hours that have one"},
			&cli.IntFlag{Name: "keep-daily", Usage: "keep the newest backup of each of the last `D` days that have one"},
			&cli.IntFlag{Name: "keep-weekly", Usage: "keep the newest backup of each of the last `W` ISO weeks that have one"},
			&cli.IntFlag{Name: "keep-monthly", Usage: "keep the newest backup of each of the last `M` months that have one"},
			&cli.IntFlag{Name: "keep-yearly", Usage: "keep the newest backup of each of the last `Y` years that have one"},
			&cli.StringFlag{Name: "keep-within", Usage: "keep every backup started within `DURATION` of its source's newest (e.g. 48h, 7d)"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "say what would be deleted, delete nothing"},
			&cli.DurationFlag{Name: "lock-timeout", Value: 15 * time.Minute, EnvVars: []string{"REDKIT_LOCK_TIMEOUT"}, Usage: "take over a storage lock not refreshed for `DURATION` (its run died)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
			logFormatFlag(),
		}, storageFlags()...),
		Action: func(c *cli.Context) error {
			return runBackupPrune(c.Context, gopts, backupPruneOptions{
				policy: backup.Policy{Last: c.Int("keep-last"), Hourly: c.Int("keep-hourly"), Daily: c.Int("keep-daily"), Weekly: c.Int("keep-weekly"),
					Monthly: c.Int("keep-monthly"), Yearly: c.Int("keep-yearly")},
				keepWithin: c.String("keep-within"), dryRun: c.Bool("dry-run"), lockTimeout: c.Duration("lock-timeout"),
				format: c.String("format"), logFormat: c.String("log-format"), storage: storageOptionsFromFlags(c),
			}, c.Args().Slice())
		},
	}
}

// backupPruneOptions are backup prune's flags.
type backupPruneOptions struct {
	policy      backup.Policy // its counts; Within from keepWithin
	keepWithin  string
	dryRun      bool
	lockTimeout time.Duration
	format      string // text or json
	logFormat   string // text or json
	storage     storageOptions
}

// pruneRow is one line of backup prune's report.
type pruneRow struct {
	ID      string   `json:"id"`
	Started string   `json:"started"`
	Source  string   `json:"source"` // the source the rules counted it in (backup.SourceInfo.Key)
	Action  string   `json:"action"` // keep, delete, would-delete
	Reasons []string `json:"reasons,omitempty"`
}

func runBackupPrune(ctx context.Context, gopts globalOptions, opts backupPruneOptions, args []string) error {
	p := opts.policy
	if v := opts.keepWithin; v != "" {
		d, err := parseLongDuration(v)
		if err != nil || d <= 0 {
			return usageErrorf("backup prune: --keep-within %q: want a duration such as 48h or 7d", v)
		}
		p.Within = d
	}
	if p.Negative() {
		return usageErrorf("backup prune: --keep-* counts must not be negative")
	}
	if p.Empty() {
		return usageErrorf("backup prune: no --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly or --keep-within: that would delete all but the newest backup of each source; say what to keep")
	}
	format := opts.format
	url, err := storageArg("backup prune", args)
	if err != nil {
		return err
	}
	b, log, err := openSubcommandStorage(ctx, gopts, "backup prune", format, opts.logFormat, opts.storage, url)
	if err != nil {
		return err
	}
	rep, err := backup.Prune(ctx, b, backup.PruneOptions{Policy: p, DryRun: opts.dryRun, LockTimeout: opts.lockTimeout, Log: log})
	if err != nil {
		if errors.As(err, new(*backup.LockError)) {
			return lockedExit(fmt.Errorf("backup %w", err)) // "backup prune: the storage is locked...", exit 11
		}
		return fmt.Errorf("backup prune: %w", err)
	}
	rows := []pruneRow{}
	for _, a := range rep.Actions {
		r := pruneRow{ID: a.ID, Source: a.Source, Action: "keep", Reasons: a.Reasons}
		if a.Backup != nil {
			r.Started = a.Backup.Started.Format(time.RFC3339)
		}
		if !a.Keep {
			r.Action = "delete"
			if opts.dryRun {
				r.Action = "would-delete"
			}
		}
		rows = append(rows, r)
	}
	if len(rep.Incomplete) > 0 {
		log.Warn(fmt.Sprintf("backup prune: %d incomplete backup(s) left alone: %s", len(rep.Incomplete), strings.Join(rep.Incomplete, ", ")), "incomplete", rep.Incomplete)
	}
	if format == "json" {
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(gopts.stdout, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		src := r.Source
		if src == "" {
			src = "-" // segments without their base
		}
		why := ""
		if len(r.Reasons) > 0 {
			why = "\t(" + strings.Join(r.Reasons, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s\n", r.Action, r.ID, r.Started, src, why)
	}
	return tw.Flush()
}

// parseLongDuration is time.ParseDuration with days: 7d, 1d12h.
func parseLongDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, err
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	return days + d, err
}
