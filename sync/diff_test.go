package sync

import (
	"context"
	"testing"

	"github.com/redkit/redkit/internal/redistest"
)

// diffKeys logs the keys that differ between a source and its mirror,
// to explain a digest mismatch.
func diffKeys(t *testing.T, src, dst *redistest.Server) {
	ctx := context.Background()
	for db := 0; db < 16; db++ {
		a, b := src.Client().Conn(), dst.Client().Conn()
		a.Select(ctx, db)
		b.Select(ctx, db)
		ka, _ := a.Keys(ctx, "*").Result()
		n := 0
		for _, k := range ka {
			da, _ := a.Do(ctx, "DEBUG", "DIGEST-VALUE", k).Slice()
			db2, _ := b.Do(ctx, "DEBUG", "DIGEST-VALUE", k).Slice()
			ta, _ := a.Type(ctx, k).Result()
			pa, _ := a.PTTL(ctx, k).Result()
			pb, _ := b.PTTL(ctx, k).Result()
			if len(da) == 0 || len(db2) == 0 || da[0] != db2[0] || (pa < 0) != (pb < 0) {
				if n < 10 {
					t.Logf("db %d key %q (%s) differs: digest %v vs %v, pttl %v vs %v", db, k, ta, da, db2, pa, pb)
					if ta == "string" {
						va, _ := a.Get(ctx, k).Result()
						vb, _ := b.Get(ctx, k).Result()
						t.Logf("  values %.60q vs %.60q", va, vb)
					}
				}
				n++
			}
		}
		kb, _ := b.DBSize(ctx).Result()
		kbs, _ := b.Keys(ctx, "*").Result()
		for _, k := range kbs {
			if e, _ := a.Exists(ctx, k).Result(); e == 0 {
				pb, _ := b.PTTL(ctx, k).Result()
				t.Logf("db %d: only the target has %q (pttl %v)", db, k, pb)
			}
		}
		if n > 0 || int64(len(ka)) != kb {
			t.Logf("db %d: %d keys differ; %d vs %d keys", db, n, len(ka), kb)
		}
		a.Close()
		b.Close()
	}
}
