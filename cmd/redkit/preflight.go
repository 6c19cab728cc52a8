package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/redkit/redkit/internal/preflight"
	rsync "github.com/redkit/redkit/sync"
)

// Pre-flight checks (sync --check, restore --check): the checks are
// internal/preflight's; here, options from flags, the flags in the
// checks' advice, the report and its exit code.

type preflightResult struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
}

// checkHint is a check's advice in the flags that follow it, appended to
// its detail; conflict is restore's --conflict.
func checkHint(c preflight.Check, conflict string) string {
	switch c.Advice {
	case preflight.UseMaster:
		return ": point --to at a master"
	case preflight.LeaveOutTypes:
		return ", or leave their keys out with --type"
	case preflight.MapDBs:
		return " unless --db-map"
	case preflight.ChooseDBs:
		return ": choose with --db and --db-map"
	case preflight.FlushTarget:
		return " (--flush-target empties the target first)"
	case preflight.IncludeExpired:
		return " (--expired include sends them)"
	case preflight.Flushing:
		return "; --flush empties it first"
	case preflight.ResolveConflicts:
		return "; use --conflict replace or skip, or --flush"
	case preflight.ConflictApplies:
		return fmt.Sprintf(": --conflict %s applies", conflict)
	case preflight.LeaveOutKeys:
		return " or leave them out with --match or --regex"
	}
	return ""
}

// reportChecks prints the results; the error sets exit code 1 when a check
// failed.
func reportChecks(gopts globalOptions, res *preflight.Result, conflict, format, what string) error {
	results := make([]preflightResult, 0, len(res.Checks))
	for _, c := range res.Checks {
		results = append(results, preflightResult{c.Name, string(c.Status), c.Detail + checkHint(c, conflict)})
	}
	n := res.Failed()
	if format == "json" {
		enc := json.NewEncoder(gopts.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			OK     bool              `json:"ok"`
			Checks []preflightResult `json:"checks"`
		}{n == 0, results})
	} else {
		tw := tabwriter.NewWriter(gopts.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Check, r.Status, r.Detail)
		}
		tw.Flush()
	}
	l := newCmdLog(gopts)
	if n > 0 {
		l.error(fmt.Sprintf("%s --check: %d of %d checks failed: the %s would not work as it stands", what, n, len(results), what), "", "checks_failed", n, "checks", len(results))
		return reportedError(exitError, fmt.Errorf("%d checks failed", n))
	}
	if format != "json" {
		l.info(fmt.Sprintf("%s --check: the %s can run", what, what))
	}
	return nil
}

// checkSide is one server of a check: its address, facts and options.
type checkSide struct {
	name string // for messages: the URL without password
	addr string
	info *rsync.ServerInfo
	opts *rsync.Options
}

func (s *checkSide) side() *preflight.Side {
	return &preflight.Side{Name: s.name, Addr: s.addr, Info: s.info, Conn: s.opts}
}

// syncCheck runs the pre-flight checks of a sync.
func syncCheck(ctx context.Context, gopts globalOptions, format string, src, dst *checkSide, srcAddrs []string, opts rsync.SyncOptions) error {
	res, err := preflight.Sync(ctx, src.side(), dst.side(), preflight.SyncOptions{
		Masters:       srcAddrs,
		Filter:        opts.Filter,
		FlushTarget:   opts.FlushTarget,
		ForwardPubSub: opts.ForwardPubSub,
	})
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return reportChecks(gopts, res, "", format, "sync")
}

// restoreCheck runs the pre-flight checks of a restore of path.
func restoreCheck(ctx context.Context, gopts globalOptions, opts restoreOptions, path string) error {
	ep, err := rsync.ParseURL(opts.to)
	if err != nil {
		return usageErrorf("restore: --to: %v", err)
	}
	if opts.password != "" {
		ep.SetPassword(opts.password)
	}
	copts, err := connOptions(ep, opts.tls, opts.timeout, "redkit")
	if err != nil {
		return usageErrorf("restore: %v", err)
	}
	addr, info, err := rsync.Resolve(ctx, ep, &copts, rsync.ConnectRetryFor, nil)
	if err != nil {
		if h := connectHint(err); h != "" {
			newCmdLog(gopts).error(fmt.Sprintf("restore: %s: %s", ep, err), h)
			return reportedError(exitError, err)
		}
		return fmt.Errorf("restore: %s: %s", ep, rsync.Redact(err.Error()))
	}
	res, err := preflight.Restore(ctx, &preflight.Side{Name: ep.String(), Addr: addr, Info: info, Conn: &copts}, path, preflight.RestoreOptions{
		Stdin:       gopts.stdin,
		Filter:      opts.filter,
		DBMap:       opts.dbMap,
		DropExpired: opts.restore.DropExpired,
		Now:         opts.restore.Now,
		Flush:       opts.flush,
		Conflict:    opts.restore.Conflict,
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return reportChecks(gopts, res, opts.restore.Conflict, opts.format, "restore")
}
