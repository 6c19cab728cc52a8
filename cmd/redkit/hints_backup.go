package main

import (
	"errors"
	"strings"

	"github.com/redkit/redkit/backup"
	"github.com/redkit/redkit/storage"
)

// backupHint is the advice, naming flags, that redkit prints with an
// error of the backup engine; "" for none. The engine's errors state
// facts only.
func backupHint(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, storage.ErrEncrypted):
		return "give the identity file with --identity-file"
	case errors.Is(err, backup.ErrNoGenerations):
		return "backup --continuous writes them"
	case errors.Is(err, backup.ErrAfterRecoveryPoint):
		return "--at latest restores everything stored"
	}
	return ""
}

// withBackupHint is err's message with backupHint's advice where redkit
// prints it: after the message, or inside its closing parenthesis.
func withBackupHint(err error) string {
	msg := err.Error()
	hint := backupHint(err)
	switch {
	case hint == "":
		return msg
	case errors.Is(err, storage.ErrEncrypted):
		return msg + ": " + hint
	case errors.Is(err, backup.ErrAfterRecoveryPoint) && strings.HasSuffix(msg, ")"):
		return strings.TrimSuffix(msg, ")") + "; " + hint + ")"
	}
	return msg + " (" + hint + ")"
}
