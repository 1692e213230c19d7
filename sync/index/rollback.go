package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// Rollback runs `index ship --rollback DST`: each index below dst gets back
// the commit kept in <dir>.previous by the last ship. The files that commit
// displaces go to <dir>.previous in turn, so rolling back twice returns to
// where it started.
func Rollback(ctx context.Context, dst string, o Options) (*Report, error) {
	rep := newReport("index ship --rollback", "", dst)
	err := rollbackAll(ctx, dst, o, rep)
	return rep, rep.finish(err)
}

func rollbackAll(ctx context.Context, dst string, o Options, rep *Report) error {
	dp, rels, err := openIndexes(ctx, dst, o.ssh())
	if err != nil {
		return err
	}
	defer dp.Close()
	return rep.eachIndex(rels, func(rel string, res *Result) error {
		return rollbackOne(ctx, dp, rel, o, res)
	})
}

func rollbackOne(ctx context.Context, dp *place, rel string, o Options, res *Result) error {
	d := dp.dir(rel)
	dst, prev, swap := dirFS{dp.St, d}, dirFS{dp.St, d + previousSuffix}, dirFS{dp.St, d + stagingSuffix}
	if err := checkWriteLock(ctx, dp, d, o.Force, res); err != nil {
		return err
	}
	prevNames, err := listOrEmpty(ctx, prev)
	if err != nil {
		return err
	}
	commit, ok := lucene.LatestCommit(prevNames)
	if !ok {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s holds no commit: nothing to roll back", prev.dir))
		return nil
	}
	dstNames, err := dst.List(ctx)
	if err != nil {
		return err
	}
	rix, err := lucene.LoadCommit(ctx, overlayFS{top: prev, topNames: prevNames, base: dst}, commit)
	if err != nil {
		if errors.Is(err, lucene.ErrUnsupported) {
			return errs.Fatalf("%s (previous): %w", res.Index, err)
		}
		return errs.Permanentf("cannot roll back %s to %s: %w", res.Index, commit, err)
	}
	if ps := rix.Problems(); len(ps) > 0 {
		return errs.Permanentf("cannot roll back %s to %s: %s: %s", res.Index, rix.Commit.Name, ps[0].Name, ps[0].Problem)
	}
	res.describe(rix)
	if err := removeDir(ctx, swap); err != nil {
		return err
	}
	ren := dp.St.(store.Renamer)
	files := append([]lucene.File(nil), rix.Files...) // segments_N is last
	want := map[string]bool{}
	for _, f := range files {
		want[f.Name] = true
		res.FilesTotal++
		res.BytesTotal += f.Size
		if _, ok := prevNames[f.Name]; !ok {
			res.FilesReused++
			continue
		}
		if _, ok := dstNames[f.Name]; ok {
			if err := ren.Rename(ctx, dst.join(f.Name), swap.join(f.Name)); err != nil {
				return fmt.Errorf("move aside %s: %w", f.Name, err)
			}
		}
		if err := ren.Rename(ctx, prev.join(f.Name), dst.join(f.Name)); err != nil {
			return fmt.Errorf("restore %s: %w", f.Name, err)
		}
		res.FilesShipped++
		res.Shipped = append(res.Shipped, f.Name)
	}
	var gone []string
	for n := range dstNames {
		if !want[n] && !keep(n) {
			gone = append(gone, n)
		}
	}
	sort.Strings(gone)
	for _, n := range gone {
		if err := ren.Rename(ctx, dst.join(n), swap.join(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("retire %s: %w", n, err)
		}
		res.FilesRetired++
		res.Retired = append(res.Retired, n)
	}
	if err := removeDir(ctx, prev); err != nil {
		return err
	}
	if len(res.Shipped)+len(gone) > 0 {
		if err := ren.Rename(ctx, swap.dir, prev.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keep the displaced commit in %s: %w", prev.dir, err)
		}
	}
	o.logf("index %s: rolled back to %s", res.Index, rix.Commit.Name)
	after := newResult(rel)
	if err := verifyOne(ctx, dst, false, o.workers(), &progress.Counter{}, after); err != nil {
		return err
	}
	res.Problems = after.Problems
	return nil
}
