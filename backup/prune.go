package backup

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redkit/redkit/storage"
)

// Policy says which backups to keep, with restic's meaning of its
// rules: a backup is kept if any rule keeps it. Days and weeks are UTC
// calendar days and ISO weeks of the backups' start times; a rule counts
// only days (weeks) that have backups.
type Policy struct {
	Last   int           // the newest Last backups
	Daily  int           // the newest backup of each of the last Daily days that have one
	Weekly int           // the newest backup of each of the last Weekly weeks that have one
	Within time.Duration // every backup started within Within of the newest one
}

// Empty tells a policy with no rule (which would keep only the newest).
func (p Policy) Empty() bool { return p == Policy{} }

// Decision is what a policy makes of one backup.
type Decision struct {
	Backup  *Manifest
	Keep    bool
	Reasons []string // why it is kept
}

// Apply decides for each backup (any order), newest first. The newest
// backup is always kept, and so is the newest generation of continuous
// backups of each source (it may be being written). until gives the generations' last
// restorable instants: Within keeps a generation whose range reaches
// into the window, though its base is older.
func (p Policy) Apply(backups []*Manifest, until map[string]time.Time) []Decision {
	ds := make([]Decision, len(backups))
	for i, m := range backups {
		ds[i] = Decision{Backup: m}
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Backup.Started.After(ds[j].Backup.Started) })
	keep := func(i int, why string) {
		ds[i].Keep = true
		ds[i].Reasons = append(ds[i].Reasons, why)
	}
	if len(ds) == 0 {
		return ds
	}
	keep(0, "newest")
	writing := map[string]bool{} // per source: its newest generation may be being written
	for i := range ds {
		if m := ds[i].Backup; m.Continuous && !writing[m.Source.URL] {
			writing[m.Source.URL] = true
			keep(i, "newest generation")
		}
	}
	for i := 0; i < len(ds) && i < p.Last; i++ {
		keep(i, fmt.Sprintf("last %d", p.Last))
	}
	bucket := func(n int, name string, key func(time.Time) string) {
		seen := map[string]bool{}
		for i := range ds {
			if len(seen) >= n {
				break
			}
			k := key(ds[i].Backup.Started.UTC())
			if !seen[k] {
				seen[k] = true
				keep(i, name+" "+k)
			}
		}
	}
	bucket(p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(p.Weekly, "weekly", func(t time.Time) string {
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	})
	if p.Within > 0 {
		newest := ds[0].Backup.Started
		for _, t := range until {
			if t.After(newest) {
				newest = t
			}
		}
		for i := range ds {
			end := ds[i].Backup.Started
			if t, ok := until[ds[i].Backup.ID]; ok && t.After(end) {
				end = t
			}
			if newest.Sub(end) <= p.Within {
				keep(i, "within "+p.Within.String())
			}
		}
	}
	return ds
}

// DeleteBackup removes a backup: its manifest first (so that a deletion
// cut short leaves an incomplete backup, never a complete one with
// objects missing), then its objects, then a generation's segments.
func DeleteBackup(ctx context.Context, b storage.Backend, m *Manifest) error {
	if err := b.Delete(ctx, Key(m.ID, ManifestName)); err != nil {
		return fmt.Errorf("delete backup %s: %w", m.ID, err)
	}
	objs, err := b.List(ctx, BackupsDir+m.ID+"/")
	if err != nil {
		return fmt.Errorf("delete backup %s: %w", m.ID, err)
	}
	for _, o := range objs {
		if err := b.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("delete backup %s: %w", m.ID, err)
		}
	}
	if m.Continuous {
		return DeleteSegments(ctx, b, m.ID)
	}
	return nil
}

// String describes the reasons.
func (d Decision) String() string { return strings.Join(d.Reasons, ", ") }
