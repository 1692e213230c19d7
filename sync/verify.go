package sync

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
)

// verifyRecorded re-hashes every recorded target file and compares it with
// the source hash recorded when it was copied, counting its progress in c.
// It returns how many it checked and, by path, those that differ.
func verifyRecorded(ctx context.Context, st *state.State, pair int64, dst store.Store, workers int, c *progress.Counter) (int64, map[string]targetDiff, error) {
	files, bytes, err := st.ManifestFiles(ctx, pair)
	if err != nil {
		return 0, nil, err
	}
	c.FilesTotal.Store(files)
	c.BytesTotal.Store(bytes)
	type item struct {
		e    store.Entry
		hash string
	}
	items := make(chan item, 256)
	results := make(chan targetDiff, 256)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(items)
		return st.Manifest(gctx, pair, func(r state.Row) error {
			if r.Type != store.File || r.Hash == "" {
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
				d := checkOne(gctx, dst, it.e, it.hash)
				d.path = it.e.Path
				c.FilesDone.Add(1)
				c.BytesDone.Add(it.e.Size)
				results <- d
			}
			return nil
		})
	}
	go func() { wg.Wait(); close(results) }()
	var checked int64
	differ := map[string]targetDiff{}
	for d := range results {
		checked++
		if d.reason != "" {
			differ[d.path] = d
		}
	}
	return checked, differ, g.Wait()
}

// checkOne hashes one target file and says why it does not match, if it
// does not (an empty reason if it does).
func checkOne(ctx context.Context, dst store.Store, e store.Entry, want string) targetDiff {
	t, err := dst.Lstat(ctx, e.Path)
	if err != nil {
		return targetDiff{reason: "target: " + err.Error(), fix: recopy}
	}
	if t.Type != store.File {
		return targetDiff{reason: fmt.Sprintf("target is a %v, want a file", t.Type), fix: retype(t.Type)}
	}
	if t.Size != e.Size {
		return targetDiff{reason: fmt.Sprintf("target size %d, recorded %d", t.Size, e.Size), fix: recopy}
	}
	got, err := store.HashStored(ctx, dst, t, checksum.Sum(want).Algorithm())
	if err != nil {
		return targetDiff{reason: "read target: " + err.Error(), fix: recopy}
	}
	if string(got) != want {
		return targetDiff{reason: fmt.Sprintf("content differs: target %s, recorded source %s", got, want), fix: recopy}
	}
	return targetDiff{}
}

// recheck is --verify all of a pair with a record: every recorded file is
// read back from the target while the source is listed; what differs is
// repaired in the same run (see drift).
type recheck struct {
	done    chan struct{}
	checked int64
	differ  map[string]targetDiff
	err     error
}

// startRecheck starts the read-back, its progress shown on o's log.
func startRecheck(ctx context.Context, o *FilesOptions, st *state.State, pair int64, dst store.Store) *recheck {
	v := &recheck{done: make(chan struct{})}
	go func() {
		defer close(v.done)
		c := &progress.Counter{}
		disp := progress.Start(o.Log, "verify all", c, o.LogInterval)
		defer disp.Stop()
		v.checked, v.differ, v.err = verifyRecorded(ctx, st, pair, dst, InFlight(dst, o.Workers), c)
	}()
	return v
}

// wait waits for the read-back and counts what it checked.
func (v *recheck) wait(rep *FilesReport) error {
	<-v.done
	rep.Verify.Checked += v.checked
	return v.err
}
