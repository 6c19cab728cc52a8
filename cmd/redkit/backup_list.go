package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
)

// storageArgHelp says where list, prune and verify find their storage.
const storageArgHelp = `STORAGE_URL is file:///DIR, a directory (a relative one is made
absolute, with a warning saying where: under cron, the working
directory is the home directory), or s3://BUCKET/PREFIX. Without it,
REDKIT_STORAGE names the storage, as RESTIC_REPOSITORY does for restic:
the one variable that backup (without --to), backup list, prune,
verify and restore @ID|@latest all read.

`

func newBackupListCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:         "list",
		Usage:        "list the backups in a storage",
		ArgsUsage:    "[STORAGE_URL]",
		OnUsageError: onUsageError,
		UsageText: `redkit backup list [STORAGE_URL] [--format json]

examples:
   redkit backup list s3://backups/orders
   REDKIT_STORAGE=/var/backups/redis redkit backup list --format json`,
		Description: `Lists the complete backups (those with a manifest), oldest first: id,
start time (UTC), source, keys, stored size, compression. Incomplete
ones (in progress, or left by a run that died) are counted on stderr
(a JSON line with --log-format json). Then the generations of
continuous backups: each with the instants it restores to (from its
base's snapshot to its recovery point, UTC, to the millisecond), its
replication offsets, segments, commands and size; a generation missing
segments (a gap) restores only up to the gap: a GAP line under it gives
the offsets missing and the segments after them, which cannot be
replayed, and stderr says so too. --format json gives the backups, a
continuous base with its "generation" (and its "gap"). A backup of a
source that refused replication, read key by key, is marked "per-key"
with when its keys were read (UTC); in JSON, "consistency": "per-key",
"scan_started" and "scan_ended".

` + storageArgHelp + exitCodesHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
			logFormatFlag(),
		}, storageFlags()...),
		Action: func(c *cli.Context) error {
			return runBackupList(c.Context, gopts, backupListOptions{format: c.String("format"), logFormat: c.String("log-format"), storage: storageOptionsFromFlags(c)}, c.Args().Slice())
		},
	}
}

// backupListOptions are backup list's flags.
type backupListOptions struct {
	format    string // text or json
	logFormat string // text or json
	storage   storageOptions
}

func runBackupList(ctx context.Context, gopts globalOptions, opts backupListOptions, args []string) error {
	format := opts.format
	url, err := storageArg("backup list", args)
	if err != nil {
		return err
	}
	b, log, err := openSubcommandStorage(ctx, gopts, "backup list", format, opts.logFormat, opts.storage, url)
	if err != nil {
		return err
	}
	l, err := backup.List(ctx, b)
	if err != nil {
		return fmt.Errorf("backup list: %w", err)
	}
	if len(l.Incomplete) > 0 {
		log.Warn(fmt.Sprintf("backup list: %d incomplete backup(s) without a manifest (in progress, or left by a run that died): %s",
			len(l.Incomplete), strings.Join(l.Incomplete, ", ")), "incomplete", l.Incomplete)
	}
	for _, id := range slices.Sorted(maps.Keys(l.Damaged)) {
		log.Warn(fmt.Sprintf("backup list: backup %s is damaged and left out", id), "id", id, "err", l.Damaged[id].Error())
	}
	gens, err := backup.ListGenerations(ctx, b, l)
	if err != nil {
		return fmt.Errorf("backup list: %w", err)
	}
	byID := map[string]*backup.Generation{}
	for _, g := range gens {
		byID[g.ID()] = g
		if g.Gap != nil {
			log.Warn(fmt.Sprintf("backup list: %v: generation %s restores only up to %s", g.Gap, g.ID(), g.Until().Format(time.RFC3339Nano)),
				"generation", g.ID(), "until", g.Until().Format(time.RFC3339Nano))
		}
	}
	if format == "json" {
		// gap: the offsets missing, and what is stored after them but
		// cannot be replayed.
		type gap struct {
			FromOffset     int64  `json:"from_offset"`
			ToOffset       int64  `json:"to_offset"`
			SegmentsAfter  int    `json:"segments_after"`
			AfterEndOffset int64  `json:"after_end_offset"`
			Error          string `json:"error"`
		}
		type generation struct {
			From         time.Time `json:"from"`
			Until        time.Time `json:"until"`
			StartOffset  int64     `json:"start_offset"`
			EndOffset    int64     `json:"end_offset"`
			Segments     int       `json:"segments"`
			Commands     int64     `json:"commands"`
			SegmentBytes int64     `json:"segment_bytes"`
			Gap          *gap      `json:"gap,omitempty"`
		}
		type entry struct {
			*backup.Manifest
			Generation *generation `json:"generation,omitempty"`
		}
		out := []entry{}
		for _, m := range l.Backups {
			e := entry{Manifest: m}
			if g := byID[m.ID]; g != nil {
				e.Generation = &generation{From: g.From(), Until: g.Until(), EndOffset: g.EndOffset(), Segments: len(g.Segments),
					Commands: g.Commands(), SegmentBytes: g.SegmentBytes()}
				if m.Replication != nil {
					e.Generation.StartOffset = m.Replication.Offset
				}
				if g.Gap != nil {
					e.Generation.Gap = &gap{FromOffset: g.Gap.From, ToOffset: g.Gap.To, SegmentsAfter: g.Gap.After, AfterEndOffset: g.Gap.AfterEnd, Error: g.Gap.Error()}
				}
			}
			out = append(out, e)
		}
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(gopts.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED (UTC)\tSOURCE\tKEYS\tSIZE\tCOMPRESSION")
	for _, m := range l.Backups {
		comp := m.Compression
		if m.Encryption != nil {
			comp += "+age"
		}
		kind := ""
		if m.Continuous {
			kind = "  (continuous base)"
		}
		if m.PerKey() {
			kind += "  (per-key: keys read " + m.ScanStarted.Format("2006-01-02 15:04:05") + " to " + m.ScanEnded.Format("2006-01-02 15:04:05") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s%s\n", m.ID, m.Started.Format("2006-01-02 15:04:05"), sourceLabel(m.Source), m.TotalKeys(), bytesize.Format(m.StoredBytes), comp, kind)
	}
	if err := tw.Flush(); err != nil || len(gens) == 0 {
		return err
	}
	fmt.Fprintln(gopts.stdout)
	tw = tabwriter.NewWriter(gopts.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GENERATION\tRESTORES FROM (UTC)\tUNTIL (UTC)\tOFFSETS\tSEGMENTS\tCOMMANDS\tSIZE")
	for _, g := range gens {
		start := int64(0)
		if g.Base.Replication != nil {
			start = g.Base.Replication.Offset
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d-%d\t%d\t%d\t%s\n", g.ID(), g.From().Format("2006-01-02 15:04:05.000"), g.Until().Format("2006-01-02 15:04:05.000"),
			start, g.EndOffset(), len(g.Segments), g.Commands(), bytesize.Format(g.SegmentBytes()))
		if g.Gap != nil {
			fmt.Fprintf(tw, "\t\t\tGAP: offsets %d-%d missing; %d segment(s) after it, up to offset %d, cannot be replayed\n", g.Gap.From, g.Gap.To, g.Gap.After, g.Gap.AfterEnd)
		}
	}
	return tw.Flush()
}
