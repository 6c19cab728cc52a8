package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/bytesize"
	"github.com/redkit/redkit/storage"
)

func newBackupVerifyCommand(gopts globalOptions) *cli.Command {
	return &cli.Command{
		Name:         "verify",
		Usage:        "download a backup and check it whole, without restoring it",
		ArgsUsage:    "[STORAGE_URL[/ID|@ID|@latest]]",
		OnUsageError: onUsageError,
		UsageText: `redkit backup verify [STORAGE_URL[/ID|@ID|@latest] | @ID | @latest] [--identity-file FILE] [--format json]

examples:
   redkit backup verify s3://backups/orders@latest
   redkit backup verify file:///var/backups/redis/20261126T021911Z-f83756
   REDKIT_STORAGE=s3://backups/orders redkit backup verify @20261126T021911Z-f83756 --format json`,
		Description: `Downloads each object of the backup (the newest without an id),
checks its SHA-256 against the manifest, decrypts it (--identity-file)
and decompresses it, parses the RDB whole (its CRC64 included) and
compares the keys per database with the manifest's; for a continuous
backup's base, every segment of its generation too (SHA-256, each
record's CRC-32C, the record count). Every object is checked, even
after one fails. Exits 0 if everything holds, 1 otherwise.

--format json prints one JSON object on stdout: id, storage, objects
(each with its stored and raw sizes, its SHA-256 and sha256_ok, its
keys per database or AOF commands, ok and the error), keys (per
database, the manifest's), segments (checked, records, stored_bytes:
a continuous base's), ok, and problems (a list, empty when ok). A
backup read key by key (its source refused replication) says so: a
"note" line in text; in JSON "consistency": "per-key", scan_started and
scan_ended, and each object's source_mode.

` + storageArgHelp + `With @ID or @latest alone, the backup is one of REDKIT_STORAGE's.

` + exitCodesHelp,
		Flags: append([]cli.Flag{
			identityFileFlag(),
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
			logFormatFlag(),
		}, storageFlags()...),
		Action: func(c *cli.Context) error {
			return runBackupVerify(c.Context, gopts, backupVerifyOptions{identityFiles: c.StringSlice("identity-file"), format: c.String("format"),
				logFormat: c.String("log-format"), storage: storageOptionsFromFlags(c)}, c.Args().Slice())
		},
	}
}

// backupVerifyOptions are backup verify's flags.
type backupVerifyOptions struct {
	identityFiles []string
	format        string // text or json
	logFormat     string // text or json
	storage       storageOptions
}

// verifyReport is backup verify --format json's output.
type verifyReport struct {
	ID       string           `json:"id"`
	Storage  string           `json:"storage"`
	Objects  []verifiedObject `json:"objects"`
	Keys     map[int]int64    `json:"keys"` // per database, as the manifest counts them
	Segments *verifiedSegs    `json:"segments,omitempty"`
	// A backup read key by key: "per-key", and when the scan ran.
	Consistency string    `json:"consistency,omitempty"`
	ScanStarted time.Time `json:"scan_started,omitzero"`
	ScanEnded   time.Time `json:"scan_ended,omitzero"`
	OK          bool      `json:"ok"`
	Problems    []string  `json:"problems"`
}

type verifiedObject struct {
	Name        string        `json:"name"`
	StoredBytes int64         `json:"stored_bytes"`
	RawBytes    int64         `json:"raw_bytes"`
	SHA256      string        `json:"sha256"`
	SHA256OK    bool          `json:"sha256_ok"` // the stored bytes have the manifest's SHA-256
	RDBVersion  int           `json:"rdb_version,omitempty"`
	Keys        map[int]int64 `json:"keys,omitempty"`
	Commands    int64         `json:"commands,omitempty"`    // an AOF file's
	SourceMode  string        `json:"source_mode,omitempty"` // scan: read key by key
	OK          bool          `json:"ok"`
	Error       string        `json:"error,omitempty"`
}

type verifiedSegs struct {
	Checked     int   `json:"checked"`
	Records     int64 `json:"records"`
	StoredBytes int64 `json:"stored_bytes"`
	OK          bool  `json:"ok"`
}

func runBackupVerify(ctx context.Context, gopts globalOptions, opts backupVerifyOptions, args []string) error {
	ref, err := storageArg("backup verify", args)
	if err != nil {
		return err
	}
	url, id := splitBackupRef(ref)
	b, _, err := openSubcommandStorage(ctx, gopts, "backup verify", opts.format, opts.logFormat, opts.storage, url)
	if err != nil {
		return err
	}
	m, err := backup.Resolve(ctx, b, id)
	if err != nil {
		return fmt.Errorf("backup verify: %w", err)
	}
	ids, err := readIdentities(opts.identityFiles)
	if err != nil {
		return err
	}
	if m.Encryption != nil && len(ids) == 0 {
		return usageErrorf("backup verify: backup %s is encrypted with age (to %v): give its identity with --identity-file", m.ID, m.Encryption.Recipients)
	}
	codec := storage.Codec{Identities: ids}
	rep := verifyReport{ID: m.ID, Storage: b.URL(), Keys: m.Keys, Objects: []verifiedObject{}, Problems: []string{},
		Consistency: m.Consistency, ScanStarted: m.ScanStarted, ScanEnded: m.ScanEnded}
	var failed []error
	for _, e := range m.Objects {
		o := verifiedObject{Name: e.Name, StoredBytes: e.StoredBytes, RawBytes: e.RawBytes, SHA256: e.SHA256, RDBVersion: e.RDBVersion, Keys: e.Keys, Commands: e.Commands, SourceMode: string(e.SourceMode)}
		err := backup.VerifyObject(ctx, b, m, e, codec)
		// A key count that differs was read from bytes whose checksum held.
		o.OK, o.SHA256OK = err == nil, err == nil || errors.Is(err, backup.ErrKeyCount)
		if err != nil {
			o.Error = err.Error()
			rep.Problems = append(rep.Problems, e.Name+": "+err.Error())
			failed = append(failed, err)
		} else if opts.format == "text" {
			what := fmt.Sprintf("RDB %d, %d keys", e.RDBVersion, sumKeys(e.Keys))
			if e.Role == "incr" || e.Role == "base" && e.RDBVersion == 0 {
				what = fmt.Sprintf("AOF, %d commands", e.Commands)
			}
			if e.SourceMode == backup.SourceScan {
				what += " read key by key"
			}
			fmt.Fprintf(gopts.stdout, "ok  %s/%s  %s stored, %s of %s, SHA-256 %s\n", m.ID, e.Name, bytesize.Format(e.StoredBytes), bytesize.Format(e.RawBytes), what, e.SHA256[:min(16, len(e.SHA256))])
		}
		rep.Objects = append(rep.Objects, o)
	}
	var genErr error
	if m.Continuous {
		// A continuous backup's base: its generation's segments too.
		g, err := backup.VerifyGeneration(ctx, b, m, codec)
		rep.Segments = &verifiedSegs{Checked: g.Segments, Records: g.Records, StoredBytes: g.StoredBytes, OK: err == nil}
		if err != nil {
			genErr = err
			rep.Problems = append(rep.Problems, "generation "+m.ID+": "+err.Error())
		} else if opts.format == "text" {
			fmt.Fprintf(gopts.stdout, "ok  %s: %d segment(s), %s stored, %d records, SHA-256 and CRC-32C of each\n", m.ID, g.Segments, bytesize.Format(g.StoredBytes), g.Records)
		}
	}
	rep.OK = len(rep.Problems) == 0
	if m.PerKey() && opts.format == "text" {
		fmt.Fprintf(gopts.stdout, "note  %s: per-key consistency: keys read from %s to %s (UTC), each as of when it was read\n", m.ID,
			m.ScanStarted.Format("2006-01-02 15:04:05.000"), m.ScanEnded.Format("2006-01-02 15:04:05.000"))
	}
	if opts.format == "json" {
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	switch {
	case len(failed) > 0:
		err := fmt.Errorf("backup verify: backup %s: %w", m.ID, errors.Join(failed...))
		return &codedError{code: exitError, err: err}
	case genErr != nil:
		return &codedError{code: exitError, err: fmt.Errorf("backup verify: generation %s: %w", m.ID, genErr)}
	}
	return nil
}
