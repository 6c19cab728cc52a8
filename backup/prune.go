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
// rules (restic forget): a backup is kept if any rule keeps it. The rules
// apply to each source's backups separately (SourceInfo.Key groups
// them), as restic's apply to each host and paths. Hours, days, weeks,
// months and years are UTC (weeks are ISO weeks) of the backups' start
// times; a rule counts only the hours (days...) that have backups.
type Policy struct {
	Last    int           // the newest Last backups
	Hourly  int           // the newest backup of each of the last Hourly hours that have one
	Daily   int           // the newest backup of each of the last Daily days that have one
	Weekly  int           // the newest backup of each of the last Weekly weeks that have one
	Monthly int           // the newest backup of each of the last Monthly months that have one
	Yearly  int           // the newest backup of each of the last Yearly years that have one
	Within  time.Duration // every backup started within Within of the source's newest one
}

// Empty tells a policy with no rule (which would keep only the newest
// backup of each source).
func (p Policy) Empty() bool { return p == Policy{} }

// Negative tells a policy with a negative count.
func (p Policy) Negative() bool {
	return p.Last < 0 || p.Hourly < 0 || p.Daily < 0 || p.Weekly < 0 || p.Monthly < 0 || p.Yearly < 0 || p.Within < 0
}

// Decision is what a policy makes of one backup.
type Decision struct {
	Backup  *Manifest
	Source  string // the backup's source: SourceInfo.Key, the group the rules counted it in
	Keep    bool
	Reasons []string // why it is kept
}

// Key names a source for retention: backups with one key are one
// source's, to which a policy's rules apply together. A live server is
// its address as --from gave it, host:port (a cluster's, the node given;
// a database in the URL is left out, since a snapshot holds every
// database), and a Sentinel's master its Sentinels' addresses and the
// master's name (host:port,host:port/NAME), so that a failover keeps one
// source; a file or an AOF directory is its path as given. Credentials
// and the scheme (TLS or not) are not part of it.
func (s SourceInfo) Key() string {
	if s.Kind != "live" {
		if s.URL == "" {
			return s.Host
		}
		return s.URL
	}
	rest, ok := strings.CutPrefix(s.URL, "redis")
	if !ok {
		if s.Host != "" {
			return strings.ToLower(s.Host)
		}
		return s.URL
	}
	rest = strings.TrimPrefix(rest, "s")
	sentinel := strings.HasPrefix(rest, "+sentinel://")
	if _, r, ok := strings.Cut(rest, "://"); ok {
		rest = r
	}
	path := ""
	if i := strings.Index(rest, "/"); i >= 0 {
		rest, path = rest[:i], rest[i+1:]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:] // credentials
	}
	rest = strings.ToLower(rest)
	if sentinel {
		name, _, _ := strings.Cut(path, "/") // the master, then perhaps a database
		return rest + "/" + name
	}
	return rest
}

// Apply decides for each backup (any order), newest first. The rules
// apply to each source's backups separately (SourceInfo.Key): the newest
// backup of each source is always kept, and so is the newest generation
// of continuous backups of each source (it may be being written). until
// gives the generations' last restorable instants: Within keeps a
// generation whose range reaches into the window, though its base is
// older.
func (p Policy) Apply(backups []*Manifest, until map[string]time.Time) []Decision {
	ds := make([]Decision, len(backups))
	for i, m := range backups {
		ds[i] = Decision{Backup: m, Source: m.Source.Key()}
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Backup.Started.After(ds[j].Backup.Started) })
	groups := map[string][]int{} // each source's decisions, newest first
	var order []string
	for i := range ds {
		k := ds[i].Source
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		p.apply(ds, groups[k], until)
	}
	return ds
}

// apply decides for one source's backups: ds[idx[0]], ds[idx[1]]...,
// newest first.
func (p Policy) apply(ds []Decision, idx []int, until map[string]time.Time) {
	keep := func(i int, why string) {
		ds[i].Keep = true
		ds[i].Reasons = append(ds[i].Reasons, why)
	}
	keep(idx[0], "newest")
	for _, i := range idx {
		if ds[i].Backup.Continuous {
			keep(i, "newest generation") // it may be being written
			break
		}
	}
	for n, i := range idx {
		if n >= p.Last {
			break
		}
		keep(i, fmt.Sprintf("last %d", p.Last))
	}
	bucket := func(n int, name string, key func(time.Time) string) {
		seen := map[string]bool{}
		for _, i := range idx {
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
	bucket(p.Hourly, "hourly", func(t time.Time) string { return t.Format("2006-01-02T15") })
	bucket(p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") })
	bucket(p.Weekly, "weekly", func(t time.Time) string {
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	})
	bucket(p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") })
	bucket(p.Yearly, "yearly", func(t time.Time) string { return t.Format("2006") })
	if p.Within > 0 {
		end := func(i int) time.Time {
			e := ds[i].Backup.Started
			if t, ok := until[ds[i].Backup.ID]; ok && t.After(e) {
				e = t
			}
			return e
		}
		var newest time.Time
		for _, i := range idx {
			if e := end(i); e.After(newest) {
				newest = e
			}
		}
		for _, i := range idx {
			if newest.Sub(end(i)) <= p.Within {
				keep(i, "within "+p.Within.String())
			}
		}
	}
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
