package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/redkit/redkit/storage"
	"github.com/redkit/redkit/storage/file"
	"github.com/redkit/redkit/storage/s3"
)

// Flags and helpers of the commands that use backup storage.

const storageCategory = "Storage"

// storageFlags configure s3:// access; credentials and the region come
// from the AWS SDK's default chain.
func storageFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "s3-endpoint", EnvVars: []string{"AWS_ENDPOINT_URL_S3"}, Category: storageCategory,
			Usage: "`URL` of an S3-compatible store (http://127.0.0.1:7070); default AWS"},
		&cli.BoolFlag{Name: "s3-path-style", EnvVars: []string{"REDKIT_S3_PATH_STYLE"}, Category: storageCategory,
			Usage: "path-style addressing (bucket in the path), automatic for an IP or localhost endpoint"},
		&cli.StringFlag{Name: "s3-region", EnvVars: []string{"AWS_REGION"}, Category: storageCategory, Usage: "`REGION` of the bucket (default from the AWS profile, else us-east-1)"},
	}
}

// storageEnv names the storage of backup (without --to), backup list,
// prune and verify (without STORAGE_URL) and restore @ID|@latest, as
// RESTIC_REPOSITORY does for restic.
const storageEnv = "REDKIT_STORAGE"

// isStorageURL tells a storage URL (or a backup of REDKIT_STORAGE's,
// @ID or @latest) from a file path: restore's input.
func isStorageURL(s string) bool {
	return strings.HasPrefix(s, "s3://") || strings.HasPrefix(s, "file://") || strings.HasPrefix(s, "@")
}

// storageArg is the storage of backup list, prune or verify: their one
// argument, else REDKIT_STORAGE. An argument @ID or @latest names a
// backup of REDKIT_STORAGE's.
func storageArg(cmd string, args []string) (string, error) {
	switch {
	case len(args) > 1:
		return "", usageErrorf("%s: one STORAGE_URL, please (got %d arguments: %s)", cmd, len(args), strings.Join(args, " "))
	case len(args) == 1 && !strings.HasPrefix(args[0], "@"):
		return args[0], nil
	}
	env := os.Getenv(storageEnv)
	if env == "" {
		if len(args) == 1 {
			return "", usageErrorf("%s: %s names a backup of %s, which is not set: give STORAGE_URL%s", cmd, args[0], storageEnv, args[0])
		}
		if os.Getenv(deprecatedBackupTo) != "" {
			return "", usageErrorf("%s: no storage: %s is set, but it is the old name that only backup reads: rename it %s (or give STORAGE_URL)", cmd, deprecatedBackupTo, storageEnv)
		}
		return "", usageErrorf("%s: no storage: give STORAGE_URL or set %s", cmd, storageEnv)
	}
	if len(args) == 1 {
		return strings.TrimRight(env, "/") + args[0], nil
	}
	return env, nil
}

// backupRef is the storage and the backup an argument of restore names:
// STORAGE_URL[/ID|@ID|@latest], or @ID|@latest of REDKIT_STORAGE's.
func backupRef(cmd, arg string) (string, string, error) {
	if strings.HasPrefix(arg, "@") {
		s, err := storageArg(cmd, []string{arg})
		if err != nil {
			return "", "", err
		}
		arg = s
	}
	url, id := splitBackupRef(arg)
	return url, id, nil
}

// storageURL is the canonical URL of a storage given as s3://BUCKET/PREFIX,
// file:///DIR or a plain directory path (a file:// storage). A relative
// directory (a relative path, or file://rel/dir) is made absolute against
// the working directory, and relative says so: under cron that is the
// home directory.
func storageURL(raw string) (url string, relative bool, err error) {
	switch {
	case raw == "":
		return "", false, usageErrorf("no storage URL: want file:///DIR, a directory, or s3://BUCKET/PREFIX")
	case strings.HasPrefix(raw, "s3://"):
		if _, _, err := s3.ParseURL(raw); err != nil {
			return "", false, usageErrorf("%v", err)
		}
		return raw, false, nil
	case strings.HasPrefix(raw, "file://"):
		dir, err := file.ParseURL(raw)
		if err != nil {
			return "", false, usageErrorf("%v", err)
		}
		raw = dir
	case strings.Contains(raw, "://"):
		return "", false, usageErrorf("storage URL %q: want file:///DIR, a directory, or s3://BUCKET/PREFIX", raw)
	}
	if filepath.IsAbs(raw) {
		return "file://" + filepath.ToSlash(filepath.Clean(raw)), false, nil
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return "", false, usageErrorf("storage directory %s: %v", raw, err)
	}
	return "file://" + filepath.ToSlash(abs), true, nil
}

// backupIDPattern matches the ids backup.NewID makes.
var backupIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// splitBackupRef splits STORAGE_URL[/ID|@ID|@latest] into the storage's
// URL and the backup asked for ("latest" when none).
func splitBackupRef(raw string) (string, string) {
	if i := strings.LastIndex(raw, "@"); i > strings.Index(raw, "://")+2 && !strings.Contains(raw[i:], "/") {
		return raw[:i], raw[i+1:]
	}
	trimmed := strings.TrimRight(raw, "/")
	if i := strings.LastIndex(trimmed, "/"); i >= 0 && backupIDPattern.MatchString(trimmed[i+1:]) {
		return trimmed[:i], trimmed[i+1:]
	}
	return raw, "latest"
}

// storageOptions are the storage flags: s3:// access.
type storageOptions struct {
	s3Endpoint  string
	s3PathStyle bool
	s3Region    string
}

func storageOptionsFromFlags(c *cli.Context) storageOptions {
	return storageOptions{s3Endpoint: c.String("s3-endpoint"), s3PathStyle: c.Bool("s3-path-style"), s3Region: c.String("s3-region")}
}

// openStorageURL opens the backend of a storage (storageURL), warning on
// log when a relative directory was made absolute.
func openStorageURL(ctx context.Context, opts storageOptions, raw string, log *slog.Logger) (storage.Backend, error) {
	url, relative, err := storageURL(raw)
	if err != nil {
		return nil, err
	}
	if relative {
		log.Warn(fmt.Sprintf("storage %s is relative: it resolved to %s, under the working directory (under cron, the home directory); give an absolute path (file:///DIR) to be sure", raw, url),
			"storage", raw, "resolved", url)
	}
	if strings.HasPrefix(url, "s3://") {
		return s3.New(ctx, url, s3.Options{Endpoint: opts.s3Endpoint, PathStyle: opts.s3PathStyle, Region: opts.s3Region})
	}
	dir, err := file.ParseURL(url)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return file.New(dir)
}

// recipientsFromFlags reads --encrypt-to and --recipients-file: age
// X25519 public keys (age1...). An identity (a secret key) given as a
// recipient is refused without being shown.
func recipientsFromFlags(encryptTo []string, recipientsFile string) ([]age.Recipient, []string, error) {
	type key struct{ from, k string }
	var keys []key
	for _, k := range encryptTo {
		keys = append(keys, key{"--encrypt-to", k})
	}
	if f := recipientsFile; f != "" {
		lines, err := readKeyLines(f)
		if err != nil {
			return nil, nil, usageErrorf("--recipients-file: %v", err)
		}
		for _, k := range lines {
			keys = append(keys, key{"--recipients-file " + f, k})
		}
	}
	var rs []age.Recipient
	var pub []string
	for _, k := range keys {
		if isAgeIdentity(k.k) {
			return nil, nil, usageErrorf("%s: that is an age identity (a secret key, AGE-SECRET-KEY-1...), not a recipient: give its public key (age1..., which age-keygen -y prints from the identity file); the secret key stays with restore --identity-file", k.from)
		}
		if !strings.HasPrefix(strings.ToLower(k.k), "age1") {
			// Not shown: it may be a secret mangled beyond recognition.
			return nil, nil, usageErrorf("%s: a recipient (%d characters) is not an age public key: want age1...", k.from, len(k.k))
		}
		r, err := age.ParseX25519Recipient(k.k)
		if err != nil {
			return nil, nil, usageErrorf("%s: recipient %q: %v (want an age public key, age1...)", k.from, k.k, err)
		}
		rs = append(rs, r)
		pub = append(pub, k.k)
	}
	return rs, pub, nil
}

// isAgeIdentity tells whether s is an age identity, a secret key
// (AGE-SECRET-KEY-1..., or a plugin's AGE-PLUGIN-...), in either case.
func isAgeIdentity(s string) bool {
	u := strings.ToUpper(strings.TrimSpace(s))
	return strings.HasPrefix(u, "AGE-SECRET-KEY-") || strings.HasPrefix(u, "AGE-PLUGIN-")
}

// readIdentities reads the age identities of --identity-file's files.
func readIdentities(files []string) ([]age.Identity, error) {
	var ids []age.Identity
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, usageErrorf("--identity-file: %v", err)
		}
		got, err := age.ParseIdentities(fh)
		fh.Close()
		if err != nil {
			return nil, usageErrorf("--identity-file %s: %v", f, err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// readKeyLines reads a file's lines, less blanks and # comments.
func readKeyLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// openSubcommandStorage checks the --format and --log-format of backup
// list, prune or verify (cmd) and opens the storage url with a logger
// in that log format.
func openSubcommandStorage(ctx context.Context, gopts globalOptions, cmd, format, logFormat string, so storageOptions, url string) (storage.Backend, *slog.Logger, error) {
	if format != "text" && format != "json" {
		return nil, nil, usageErrorf("%s: --format %q: want text or json", cmd, format)
	}
	if logFormat != "text" && logFormat != "json" {
		return nil, nil, usageErrorf("%s: --log-format %q: want text or json", cmd, logFormat)
	}
	log := newLogger(gopts.stderr, logFormat, false)
	b, err := openStorageURL(ctx, so, url, log)
	return b, log, err
}
