package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/aof"
	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/internal/dumpfile"
	"github.com/redkit/redkit/storage"
)

// Inputs of analyze and check that are backups: STORAGE_URL[/ID|@ID|@latest]
// (or @ID|@latest of REDKIT_STORAGE's), each of whose objects is read from
// the storage through its checksum, decryption and decompression
// (backup.ObjectStream), never through a temporary file.

// identityFileFlag is --identity-file, as restore and backup verify take
// it: the age identities of an encrypted backup.
func identityFileFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "identity-file", EnvVars: []string{"REDKIT_IDENTITY_FILE"},
		Usage: "an encrypted backup: age identities in `FILE` (as age-keygen writes them; repeatable)"}
}

// backupInputFlags are the flags of a command whose inputs may be
// backups: --identity-file and the storage's.
func backupInputFlags() []cli.Flag { return append([]cli.Flag{identityFileFlag()}, storageFlags()...) }

// backupInputOptions are backupInputFlags' values.
type backupInputOptions struct {
	identityFiles []string
	storage       storageOptions
}

func backupInputOptionsFromFlags(c *cli.Context) backupInputOptions {
	return backupInputOptions{identityFiles: c.StringSlice("identity-file"), storage: storageOptionsFromFlags(c)}
}

// inputSpec is one input of analyze or check: a file (or "-"), or an
// object of a backup.
type inputSpec struct {
	name string         // the path, or STORAGE_URL/ID/OBJECT: what reports call it
	obj  *backupObject  // an object of a backup; nil for a file
	aof  *backupAOFSpec // a backup of a multi-part AOF: all its objects at once

	model string // memory model the stats use; "" = chosen from the dump
}

// backupObject is one object of a backup to read.
type backupObject struct {
	b     storage.Backend
	m     *backup.Manifest
	e     backup.ObjectEntry
	codec storage.Codec
}

// backupAOFSpec is a backup of a multi-part AOF.
type backupAOFSpec struct {
	b     storage.Backend
	m     *backup.Manifest
	codec storage.Codec
}

// compression is how the object is stored, for reports: zstd, gzip or
// none, and "+age" when encrypted.
func (o *backupObject) compression() dumpfile.Compression {
	c := o.m.Compression
	if c == "" {
		c = "none"
	}
	if o.m.Encryption != nil {
		c += "+age"
	}
	return dumpfile.Compression(c)
}

// fileInputs are the arguments as files, for a command none of whose
// inputs is a backup.
func fileInputs(args []string) []inputSpec {
	specs := make([]inputSpec, len(args))
	for i, a := range args {
		specs[i] = inputSpec{name: a}
	}
	return specs
}

// expandInputs turns a command's arguments into its inputs: a file as
// it is, a backup (isStorageURL) as each of its objects, resolved and
// checked to be readable with the identities given. Errors are usage
// errors (a URL with credentials, an encrypted backup without an
// identity) or the catalog's (no such backup, an unreadable storage).
func expandInputs(ctx context.Context, gopts globalOptions, cmd string, opts backupInputOptions, args []string) ([]inputSpec, error) {
	var specs []inputSpec
	for _, arg := range args {
		if !isStorageURL(arg) {
			specs = append(specs, inputSpec{name: arg})
			continue
		}
		got, err := backupInputs(ctx, gopts, cmd, opts, arg)
		if err != nil {
			return nil, err
		}
		specs = append(specs, got...)
	}
	return specs, nil
}

// backupInputs resolves the backup arg names and returns its objects.
func backupInputs(ctx context.Context, gopts globalOptions, cmd string, opts backupInputOptions, arg string) ([]inputSpec, error) {
	if err := refuseCredentials(cmd, arg); err != nil {
		return nil, err
	}
	url, id, err := backupRef(cmd, arg)
	if err != nil {
		return nil, err
	}
	b, err := openStorageURL(ctx, opts.storage, url, newLogger(gopts.stderr, gopts.logFormat, false))
	if err != nil {
		return nil, err
	}
	m, err := backup.Resolve(ctx, b, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	ids, err := readIdentities(opts.identityFiles)
	if err != nil {
		return nil, err
	}
	if m.Encryption != nil && len(ids) == 0 {
		return nil, usageErrorf("%s: backup %s is encrypted with age (to %s): give its identity with --identity-file", cmd, m.ID, strings.Join(m.Encryption.Recipients, ", "))
	}
	codec := storage.Codec{Identities: ids}
	base := strings.TrimRight(url, "/") + "/" + m.ID
	if m.AOFManifest != "" {
		return []inputSpec{{name: base, aof: &backupAOFSpec{b: b, m: m, codec: codec}}}, nil
	}
	if len(m.Objects) == 0 {
		return nil, fmt.Errorf("%s: backup %s has no snapshot object", cmd, m.ID)
	}
	specs := make([]inputSpec, len(m.Objects))
	for i, e := range m.Objects {
		specs[i] = inputSpec{name: base + "/" + e.Name, obj: &backupObject{b: b, m: m, e: e, codec: codec}}
	}
	return specs, nil
}

// refuseCredentials refuses a storage URL with a user or a password in
// it, naming it without them: an s3:// storage takes its credentials
// from the AWS SDK's chain, and a file:// one has none.
func refuseCredentials(cmd, arg string) error {
	scheme, rest, ok := strings.Cut(arg, "://")
	if !ok {
		return nil
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 && !hasPath && isBackupName(authority[i+1:]) {
		authority = authority[:i] // s3://bucket@latest
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return nil
	}
	shown := scheme + "://xxxxx@" + authority[at+1:]
	if hasPath {
		shown += "/" + path
	}
	return usageErrorf("%s: storage URL %s: credentials do not go in the URL (here masked): an s3:// storage takes them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a profile", cmd, shown)
}

// isBackupName tells a backup's name after "@": latest or an id.
func isBackupName(s string) bool { return s == "latest" || backupIDPattern.MatchString(s) }

// openBackupObject opens an object's content, verified as it streams.
func openBackupObject(ctx context.Context, o *backupObject) (*backup.ObjectStream, error) {
	return backup.OpenStream(ctx, o.b, o.m, o.e, o.codec)
}

// openBackupAOF opens a backed-up multi-part AOF as one reader of its
// files in order; close calls every object's Close (its checksum) and
// returns the first *backup.ChecksumError, else the first error.
func openBackupAOF(ctx context.Context, s *backupAOFSpec) (*aof.Reader, func() error, error) {
	am, err := aof.ParseManifest(strings.NewReader(s.m.AOFManifest))
	if err != nil {
		return nil, nil, fmt.Errorf("backup %s: its AOF manifest: %w", s.m.ID, err)
	}
	byFile := map[string]backup.ObjectEntry{}
	for _, e := range s.m.Objects {
		byFile[e.File] = e
	}
	var opened []*backup.ObjectStream
	closeAll := func() error {
		var first, sum error
		for _, st := range opened {
			err := st.Close()
			if first == nil {
				first = err
			}
			if sum == nil && errors.As(err, new(*backup.ChecksumError)) {
				sum = err
			}
		}
		opened = nil
		if sum != nil {
			return sum
		}
		return first
	}
	ar, err := aof.NewMultiReader(ctx, am, func(name string) (io.ReadCloser, error) {
		e, ok := byFile[name]
		if !ok {
			return nil, fmt.Errorf("backup %s has no object for the AOF file %s", s.m.ID, name)
		}
		st, err := backup.OpenStream(ctx, s.b, s.m, e, s.codec)
		if err != nil {
			return nil, err
		}
		opened = append(opened, st)
		return io.NopCloser(st), nil // closed (and checked) by closeAll
	})
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("backup %s: %w", s.m.ID, err)
	}
	return ar, func() error { ar.Close(); return closeAll() }, nil
}

// describeBackupError classifies the failures proper to a backup's
// object (describeError): damaged in the storage, missing, or not
// decrypted by the identities given.
func describeBackupError(err error) (kind, hint string, ok bool) {
	var nm *age.NoIdentityMatchError
	switch {
	case errors.As(err, new(*backup.ChecksumError)):
		return "corrupt", "its stored bytes do not have the SHA-256 that the backup's manifest records: the object was damaged in the storage, so what was read from it cannot be trusted. Analyze or restore another backup (redkit backup list STORAGE_URL).", true
	case errors.As(err, &nm):
		return "unreadable", "none of the --identity-file identities decrypts the backup: give the identity whose public key (age1...) the backup's manifest lists as a recipient.", true
	case errors.Is(err, storage.ErrEncrypted):
		return "unreadable", "the backup is encrypted: give its identity with --identity-file.", true
	}
	return "", "", false
}

// inputStatus is an input's status in analyze's summary: ok,
// INCOMPLETE (read up to damage), or FAILED VERIFICATION (an object of a
// backup whose SHA-256 does not match its manifest: its keys were read,
// but from damaged bytes).
func inputStatus(r *inputResult) string {
	switch {
	case r.err == nil:
		return "ok"
	case errors.As(r.err, new(*backup.ChecksumError)):
		return "FAILED VERIFICATION"
	}
	return "INCOMPLETE"
}
