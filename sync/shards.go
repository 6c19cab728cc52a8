package sync

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
)

// Shard is one master of a cluster source and the slots it serves.
type Shard struct {
	FirstSlot int // names the shard across failovers
	Ranges    []SlotRange
	Master    string
}

// ClusterShards groups CLUSTER SLOTS by master, ordered by first slot.
func ClusterShards(ctx context.Context, addr string, opts *Options) ([]Shard, error) {
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ranges, err := ClusterSlots(c)
	if err != nil {
		return nil, err
	}
	by := map[string]*Shard{}
	var out []*Shard
	for _, r := range ranges {
		s := by[r.Master]
		if s == nil {
			s = &Shard{FirstSlot: r.Start, Master: r.Master}
			by[r.Master] = s
			out = append(out, s)
		}
		s.Ranges = append(s.Ranges, r)
		s.FirstSlot = min(s.FirstSlot, r.Start)
	}
	shards := make([]Shard, len(out))
	for i, s := range out {
		shards[i] = *s
	}
	slices.SortFunc(shards, func(a, b Shard) int { return a.FirstSlot - b.FirstSlot })
	if len(shards) == 0 {
		return nil, fmt.Errorf("cluster at %s serves no slots", addr)
	}
	return shards, nil
}

// ShardResolver returns the address of the master serving slot, asking
// the nodes it knows (seeds, then every node seen) with CLUSTER SLOTS:
// it follows failovers.
func ShardResolver(seeds []string, slot int, opts *Options) func(ctx context.Context) (string, error) {
	var mu gosync.Mutex
	known := slices.Clone(seeds)
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		addrs := slices.Clone(known)
		mu.Unlock()
		var errs []error
		for _, a := range addrs {
			c, err := Dial(ctx, a, opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ranges, err := ClusterSlots(c)
			c.Close()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			mu.Lock()
			for _, r := range ranges {
				for _, n := range append([]string{r.Master}, r.Replicas...) {
					if n != "" && !slices.Contains(known, n) {
						known = append(known, n)
					}
				}
			}
			mu.Unlock()
			for _, r := range ranges {
				if r.Start <= slot && slot <= r.End && r.Master != "" {
					return r.Master, nil
				}
			}
			errs = append(errs, fmt.Errorf("%s: no master serves slot %d", a, slot))
		}
		return "", fmt.Errorf("cluster source: %w", errors.Join(errs...))
	}
}

// ShardFile is the checkpoint file of one shard of a cluster source:
// "sync.json" becomes "sync.slot5461.json".
func ShardFile(path string, firstSlot int) string {
	if path == "" {
		return ""
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".slot" + strconv.Itoa(firstSlot) + ext
}

// RunAll runs syncers together until all are done; the first error
// stops the others (each saving its position) and is returned.
func RunAll(ctx context.Context, syncers []*Syncer) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(syncers))
	var wg gosync.WaitGroup
	for i, s := range syncers {
		wg.Go(func() {
			if err := s.Run(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", s.opts.SourceName, err)
				cancel(errs[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Aggregate sums the statuses of several syncers: phase the least
// advanced, counts and lags summed or the largest, each shard listed.
func Aggregate(sts []SyncStatus) SyncStatus {
	if len(sts) == 1 {
		return sts[0]
	}
	rank := map[string]int{PhaseConnecting: 0, PhaseBackoff: 1, PhaseFullSync: 2, PhaseStreaming: 3, PhaseDone: 4}
	out := SyncStatus{Phase: PhaseDone, Shards: sts}
	for _, st := range sts {
		if rank[st.Phase] < rank[out.Phase] {
			out.Phase = st.Phase
		}
		out.FullSyncs += st.FullSyncs
		out.FullBytes += st.FullBytes
		if st.FullBytesTotal < 0 || out.FullBytesTotal < 0 {
			out.FullBytesTotal = -1
		} else {
			out.FullBytesTotal += st.FullBytesTotal
		}
		out.FullKeys += st.FullKeys
		out.FullKeysTotal += st.FullKeysTotal
		out.LagBytes += st.LagBytes
		out.LagSeconds = max(out.LagSeconds, st.LagSeconds)
		out.Commands += st.Commands
		out.Skipped += st.Skipped
		out.Errors += st.Errors
		out.Reconnects += st.Reconnects
		if st.LastError != "" {
			out.LastError = st.LastError
		}
	}
	return out
}
