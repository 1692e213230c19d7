package sync

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate"
	"github.com/cutover/cutover/plan"
)

// targetDiff is a recorded file that the target no longer holds as it was
// copied: changed, truncated or replaced there since (by hand, by another
// tool, by a fault of the storage).
type targetDiff struct {
	path   string
	reason string
	at     store.EntryType // what the target holds there instead; 0: nothing
}

// verifyRecorded re-hashes every recorded target file and compares it with
// the source hash recorded when it was copied. It returns how many it
// checked and, by path, those that differ.
func verifyRecorded(ctx context.Context, st *state.State, pair int64, dst store.Store, workers int) (int64, map[string]targetDiff, error) {
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
// does not, and what the target holds there.
func checkOne(ctx context.Context, dst store.Store, e store.Entry, want string) targetDiff {
	t, err := dst.Lstat(ctx, e.Path)
	if err != nil {
		return targetDiff{reason: "target: " + err.Error()}
	}
	if t.Type != store.File {
		return targetDiff{reason: fmt.Sprintf("target is a %v, want a file", t.Type), at: t.Type}
	}
	if t.Size != e.Size {
		return targetDiff{reason: fmt.Sprintf("target size %d, recorded %d", t.Size, e.Size), at: t.Type}
	}
	hw := checksum.NewWriter(checksum.Sum(want).Algorithm(), nil)
	if _, err := store.ReadStored(ctx, dst, t, hw); err != nil {
		return targetDiff{reason: "read target: " + err.Error(), at: t.Type}
	}
	if got := hw.Sum(); string(got) != want {
		return targetDiff{reason: fmt.Sprintf("content differs: target %s, recorded source %s", got, want), at: t.Type}
	}
	return targetDiff{}
}

// recheck is --verify all of a pair with a record: every recorded file is
// read back from the target while the source is listed, and a file the
// target no longer holds as it was copied is copied again in the same run,
// as if it had changed at the source.
type recheck struct {
	done    chan struct{}
	checked int64
	differ  map[string]targetDiff
	err     error
}

func startRecheck(ctx context.Context, st *state.State, pair int64, dst store.Store, workers int) *recheck {
	v := &recheck{done: make(chan struct{})}
	go func() {
		defer close(v.done)
		v.checked, v.differ, v.err = verifyRecorded(ctx, st, pair, dst, workers)
	}()
	return v
}

// wait waits for the read-back and counts what it checked.
func (v *recheck) wait(rep *FilesReport) error {
	<-v.done
	rep.Verify.Checked += v.checked
	return v.err
}

// prev passes on the record with each file that differs at the target
// marked changed: a size no file has, or the type the target holds there.
func (v *recheck) prev(each func(func(plan.Prev) error) error) func(func(plan.Prev) error) error {
	return func(fn func(plan.Prev) error) error {
		return each(func(r plan.Prev) error {
			if d, ok := v.differ[r.Path]; ok {
				if d.at == 0 || d.at == store.File {
					r.Size = -1
				} else {
					r.Type = d.at
				}
			}
			return fn(r)
		})
	}
}

// settled notes a file copied again, or deleted (the source no longer has it).
func (v *recheck) settled(r migrate.Result, rep *FilesReport) {
	d, ok := v.differ[r.Action.Entry.Path]
	if !ok || r.Err != nil || r.Vanished {
		return
	}
	switch r.Action.Kind {
	case plan.Copy:
		rep.recopied(d.path, d.reason)
	case plan.Delete:
		if r.Action.TypeChange {
			return // a directory in the file's way: the copy follows
		}
	default:
		return
	}
	delete(v.differ, d.path)
}

// finish reports what differed and was not copied again (it failed, or the
// source no longer has it) as mismatched; a dry run, as what would be
// copied again.
func (v *recheck) finish(rep *FilesReport, dryRun bool) {
	paths := slices.Sorted(maps.Keys(v.differ))
	for _, p := range paths {
		if dryRun {
			rep.recopied(p, v.differ[p].reason+" (dry run: not copied)")
		} else {
			rep.mismatch(p, v.differ[p].reason)
		}
	}
	v.differ = nil
}
