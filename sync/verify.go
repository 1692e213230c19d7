package sync

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
)

// verifyRecorded re-hashes every target file that this run did not write
// and compares it with the source hash recorded when it was copied.
func verifyRecorded(ctx context.Context, st *state.State, pair int64, dst store.Store, workers int, run int64, rep *FilesReport) error {
	type item struct {
		e    store.Entry
		hash string
	}
	items := make(chan item, 256)
	type result struct {
		e      store.Entry
		reason string
	}
	results := make(chan result, 256)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(items)
		return st.Manifest(gctx, pair, func(r state.Row) error {
			if r.Type != store.File || r.Hash == "" || r.RunID == run {
				return nil
			}
			select {
			case items <- item{r.Entry, r.Hash}:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	var wg errgroup.Group
	for range max(workers, 1) {
		wg.Go(func() error {
			for it := range items {
				results <- result{it.e, checkOne(gctx, dst, it.e, it.hash)}
			}
			return nil
		})
	}
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		rep.Verify.Checked++
		if r.reason != "" {
			rep.mismatch(r.e.Path, r.reason)
		}
	}
	return g.Wait()
}

// checkOne hashes one target file and returns why it does not match, or "".
func checkOne(ctx context.Context, dst store.Store, e store.Entry, want string) string {
	t, err := dst.Lstat(ctx, e.Path)
	if err != nil {
		return "target: " + err.Error()
	}
	if t.Type != store.File {
		return fmt.Sprintf("target is a %v, want a file", t.Type)
	}
	if t.Size != e.Size {
		return fmt.Sprintf("target size %d, recorded %d", t.Size, e.Size)
	}
	hw := checksum.NewWriter(checksum.Sum(want).Algorithm(), nil)
	if _, err := store.ReadStored(ctx, dst, t, hw); err != nil {
		return "read target: " + err.Error()
	}
	if got := hw.Sum(); string(got) != want {
		return fmt.Sprintf("content differs: target %s, recorded source %s", got, want)
	}
	return ""
}
