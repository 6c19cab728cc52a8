package backup

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redkit/redkit/storage"
)

// PruneOptions configure Prune.
type PruneOptions struct {
	Policy Policy
	// DryRun decides and deletes nothing (and takes no lock).
	DryRun bool
	// LockTimeout: a lock not refreshed for that long is taken over.
	LockTimeout time.Duration
	Log         *slog.Logger // nil: no logs
}

// PruneAction is what Prune did, or would do (a dry run), with a backup
// (a continuous base: its generation whole), or with the segments of a
// generation whose base is gone.
type PruneAction struct {
	ID      string    // the backup's, or the generation's
	Backup  *Manifest // nil: segments without their base
	Source  string    // the backup's source (SourceInfo.Key); "" for segments without their base
	Keep    bool
	Reasons []string // why it is kept (or deleted)
}

// PruneReport is what Prune did: its actions, in order, and the
// incomplete backups (no manifest) it left alone.
type PruneReport struct {
	Actions    []PruneAction
	Incomplete []string
}

// Prune deletes the backups the policy does not keep (Policy.Apply), a
// continuous base's generation whole, then segments left without a base
// (a prune cut short), the storage's lock held (unless DryRun: a
// *LockError when it cannot be taken). A deletion that fails stops it:
// its error says how many were deleted before.
func Prune(ctx context.Context, b storage.Backend, o PruneOptions) (*PruneReport, error) {
	if !o.DryRun {
		log := logOrDiscard(o.Log)
		lock, err := Lock(ctx, b, "prune", o.LockTimeout, log)
		if err != nil {
			return nil, err
		}
		defer releaseLock(ctx, lock, log)
	}
	l, gens, err := listGenerations(ctx, b)
	if err != nil {
		return nil, err
	}
	until := map[string]time.Time{}
	for _, g := range gens {
		until[g.ID()] = g.Until()
	}
	rep := &PruneReport{Incomplete: l.Incomplete}
	deleted := 0
	for _, d := range o.Policy.Apply(l.Backups, until) {
		if !d.Keep && !o.DryRun {
			if err := DeleteBackup(ctx, b, d.Backup); err != nil {
				return nil, fmt.Errorf("%w (%d deleted before it)", err, deleted)
			}
			deleted++
		}
		rep.Actions = append(rep.Actions, PruneAction{ID: d.Backup.ID, Backup: d.Backup, Source: d.Source, Keep: d.Keep, Reasons: d.Reasons})
	}
	// Segments whose base is gone (a prune cut short) restore nothing.
	orphans, err := OrphanGenerations(ctx, b, l)
	if err != nil {
		return nil, err
	}
	for _, gen := range orphans {
		if !o.DryRun {
			if err := DeleteSegments(ctx, b, gen); err != nil {
				return nil, fmt.Errorf("%w (%d deleted before it)", err, deleted)
			}
		}
		rep.Actions = append(rep.Actions, PruneAction{ID: gen, Reasons: []string{"segments without their base"}})
	}
	return rep, nil
}

// listGenerations lists the backups, then the generations of the
// continuous ones.
func listGenerations(ctx context.Context, b storage.Backend) (*Listing, []*Generation, error) {
	l, err := List(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	gens, err := ListGenerations(ctx, b, l)
	if err != nil {
		return nil, nil, err
	}
	return l, gens, nil
}
