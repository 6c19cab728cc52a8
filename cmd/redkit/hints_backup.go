package main

import (
	"errors"
	"strings"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// backupAdvice is the advice, naming flags, for the errors of the backup
// engine and the storage codec, which state facts only (adviceFor).
func backupAdvice(err error) []advice {
	var out []advice
	if ee := (*storage.EncryptedError)(nil); errors.As(err, &ee) {
		out = append(out, advice{ee.Error(), ee.Error() + ": give the identity file with --identity-file"})
	}
	if errors.Is(err, backup.ErrNoGenerations) {
		said := backup.ErrNoGenerations.Error()
		out = append(out, advice{said, said + " (backup --continuous writes them)"})
	}
	if ae := (*backup.AfterRecoveryPointError)(nil); errors.As(err, &ae) {
		said := ae.Error()
		out = append(out, advice{said, strings.TrimSuffix(said, ")") + "; --at latest restores everything stored)"})
	}
	return out
}
