package sync

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/cutover/cutover/internal/spill"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate"
	"github.com/cutover/cutover/plan"
)

// planner plans a tree, or a range of it (see ranges.go).
type planner struct {
	o       *FilesOptions
	popt    plan.Options
	has     bool   // the state has a record of the pair
	drifted *drift // with a record: what changed at the target since
	// n is about how many entries a range holds, when there are ranges.
	n int
	// untracked counts the entries the target holds that no run recorded
	// and the source lacks, deleted too (a mirror).
	untracked int
}

// plan plans src (sorted) against prev (the record's rows in src's range,
// or the target's with no record); tl is the target's listing in the
// range (a mirror with a record). What it finds goes to rep, and with note
// the deletions too (a dry run). It returns the plan and the number of
// entries the source no longer has (deleted with --delete).
func (pl *planner) plan(src []store.Entry, prev func(func(plan.Prev) error) error, tl *spill.Sorted, rep *FilesReport, note bool) (*plan.Files, int, error) {
	o := pl.o
	if pl.drifted != nil {
		if pl.drifted.listing {
			pl.drifted.listed = tl
		}
		prev = pl.drifted.prev(prev)
	}
	p, err := plan.Diff(src, prev, !pl.has, pl.popt)
	if err != nil {
		return nil, 0, err
	}
	if o.Delete && pl.has {
		// A mirror removes what the target holds beyond the source, also
		// what no run recorded (put there by hand or by another tool).
		extra, err := untracked(tl, src, p, &o.Filter)
		if err != nil {
			return nil, 0, err
		}
		if len(extra) > 0 {
			pl.untracked += len(extra)
			p.Deletes = append(p.Deletes, extra...)
			sort.Slice(p.Deletes, func(a, b int) bool { return p.Deletes[a].Entry.Path > p.Deletes[b].Entry.Path })
		}
		if err := keepExcluded(tl, p, &o.Filter, rep); err != nil {
			return nil, 0, err
		}
	}
	deletes := 0
	kept := p.Deletes[:0]
	for _, a := range p.Deletes {
		if note {
			rep.noteDeleted(a, !o.Delete && !a.TypeChange)
		}
		if a.TypeChange || o.Delete {
			kept = append(kept, a)
		}
		if !a.TypeChange {
			deletes++
		}
	}
	p.Deletes = kept
	return p, deletes, nil
}

// totals sum the plans of a run's ranges.
type totals struct {
	scanned, bytesTotal, unchanged, bytesToCopy, new int64
	copies, dirs, links, meta, deletes, removals     int
	dirMeta                                          int
}

func (t *totals) add(p *plan.Files, deletes int) {
	t.scanned += p.Scanned
	t.bytesTotal += p.BytesTotal
	t.unchanged += p.Unchanged
	t.bytesToCopy += p.BytesToCopy
	t.new += p.New
	t.copies += len(p.Copies)
	t.dirs += len(p.Dirs)
	t.links += len(p.Links)
	t.meta += len(p.Meta)
	t.deletes += deletes
	t.removals += len(p.Deletes)
	t.dirMeta += len(p.DirMeta)
}

// work says whether the plans change anything at the target.
func (t *totals) work() bool {
	return t.copies+t.dirs+t.links+t.meta+t.removals+t.dirMeta > 0
}

// partEntries is about how many paths a range holds when a listing of more
// than held entries is synced in ranges: an eighth, so that a range's
// entries, its record, the target's listing of it and its plan take less
// than the first held entries of the listing did.
func partEntries(held int) int { return max(1, held/8) }

// rangePlan is what the first pass over the ranges leaves to the second.
type rangePlan struct {
	cuts            []string
	carried         []carriedDir
	linked, parents map[string]bool
	rows            *spill.Log // a copy of the record, read again by the second pass
}

func (rp *rangePlan) close() { rp.rows.Close() }

// cursorPull reads a listing as the rows of a record (with no record, the
// plan compares the source with the target's listing).
func cursorPull(c *spill.Cursor) (func() (plan.Prev, bool), func() error) {
	return func() (plan.Prev, bool) {
		if !c.Next() {
			return plan.Prev{}, false
		}
		return plan.Prev{Entry: *c.Entry()}, true
	}, c.Err
}

// planRanges is the first pass over the ranges of a tree whose listing
// is src: it plans each range to add up what the run will do (for
// --max-delete, the progress and the room at the target), and keeps the
// plans of none. It reads the record once, from manifest, and keeps a copy
// on disk for the second pass. tl is the target's listing with a record
// and --delete; adoptFrom, with no record.
func (pl *planner) planRanges(src *spill.Sorted, manifest *prefetch, tl, adoptFrom *spill.Sorted, rep *FilesReport) (*rangePlan, totals, error) {
	var tot totals
	rp := &rangePlan{}
	var err error
	if rp.linked, rp.parents, err = hardLinked(src); err != nil {
		return nil, tot, err
	}
	var pull func() (plan.Prev, bool)
	var perr func() error
	if manifest != nil {
		if rp.rows, err = spill.NewLog(pl.o.StateDir); err != nil {
			return nil, tot, err
		}
		var addErr error
		pull = func() (plan.Prev, bool) {
			r, ok := <-manifest.rows
			if ok && addErr == nil {
				addErr = rp.rows.Add(&r.Entry, r.Hash)
			}
			return r, ok && addErr == nil
		}
		perr = func() error {
			if addErr != nil {
				return addErr
			}
			return manifest.err
		}
	} else {
		pull, perr = cursorPull(adoptFrom.Cursor())
	}
	r := rp.ranger(pl, src, tl, pull, perr)
	for {
		pt, err := r.next()
		if err != nil {
			rp.close()
			return nil, tot, err
		}
		if pt == nil {
			break
		}
		p, d, err := pl.plan(pt.src, each(pt.prev), spill.Of(pt.tl), rep, pl.o.DryRun)
		if err != nil {
			rp.close()
			return nil, tot, err
		}
		tot.add(p, d)
	}
	rp.cuts, rp.carried = r.cuts, r.carriedDirs()
	tot.dirMeta += len(rp.carried)
	return rp, tot, nil
}

// second returns the ranger of the second pass: the same ranges, the
// record read back from its copy.
func (rp *rangePlan) second(pl *planner, src, tl, adoptFrom *spill.Sorted) (*ranger, error) {
	var pull func() (plan.Prev, bool)
	var perr func() error
	if rp.rows != nil {
		rd, err := rp.rows.Reader()
		if err != nil {
			return nil, err
		}
		pull = func() (plan.Prev, bool) {
			e, h, ok := rd.Next()
			return plan.Prev{Entry: e, Hash: h}, ok
		}
		perr = rd.Err
	} else {
		pull, perr = cursorPull(adoptFrom.Cursor())
	}
	return rp.ranger(pl, src, tl, pull, perr).following(rp.cuts), nil
}

// ranger is a ranger over src, the record's rows that pull gives and the
// target's listing tl (nil when it was not listed, or is the record).
func (rp *rangePlan) ranger(pl *planner, src, tl *spill.Sorted, pull func() (plan.Prev, bool), perr func() error) *ranger {
	var tc *spill.Cursor
	if tl != nil {
		tc = tl.Cursor()
	}
	return newRanger(pl.n, pl.popt.Keep, src.Cursor(), pull, perr, tc, rp.linked, rp.parents)
}

// executor carries out plans.
type executor struct {
	ctx      context.Context
	o        *FilesOptions
	rep      *FilesReport
	src, dst store.Store
	mw       *state.ManifestWriter
	run      int64
	mopt     migrate.FileOptions
	stg      *staging
	record   func(migrate.Result) error
}

// part carries out p, the plan of entries (sorted). made are the new
// directories of earlier ranges whose subtree goes on into this one, open
// those whose subtree goes on past it.
func (x *executor) part(p *plan.Files, entries []store.Entry, made map[string]bool, open []openDir) error {
	for _, i := range p.Adopt {
		if err := x.mw.Put(state.Row{Entry: entries[i], RunID: x.run}); err != nil {
			return err
		}
		x.rep.Files.Adopted++
	}
	p.Adopt = nil
	later := map[string]bool{} // open past this range
	for _, d := range open {
		later[d.path] = true
	}
	// The metadata of a directory a later range writes in is set once
	// every range is done (ranges): set and recorded here, a run stopped
	// after this range would leave a record that is not so.
	p.DirMeta = slices.DeleteFunc(p.DirMeta, func(e store.Entry) bool { return later[e.Path] })
	all := madeDirs(p)
	for d := range made {
		all[d] = true
	}
	if err := unsettleDirs(x.mw, x.run, p, all); err != nil {
		return err
	}
	if x.stg != nil && len(p.Dirs) > 0 {
		// Staging records the directories through the state's own
		// connection: the records written so far (an earlier range's,
		// those adopted) are committed first, or it waits on their lock.
		if err := x.mw.Flush(); err != nil {
			return err
		}
	}
	n, err := x.stg.stage(x.ctx, p, all)
	if err != nil {
		return err
	}
	mopt := x.mopt
	if n > 0 {
		x.o.logf("%d new directories are written under temporary names (%sdir-*) and put in place when their files are written", n, store.TempPrefix)
	}
	if x.stg != nil && len(x.stg.dirs) > 0 {
		mopt.Publish = func(ctx context.Context) error { return x.stg.publishBut(ctx, later) }
		if x.o.leaveStaged {
			mopt.Publish = func(context.Context) error { return context.Canceled } // killed right before
		}
	}
	err = migrate.Files(x.ctx, x.src, x.dst, p, mopt, x.record)
	if err != nil && x.stg != nil && !x.o.leaveStaged {
		// A run stopped in a range puts in place also the directories a
		// later range was to write in: what they hold is whole (the rest
		// was removed), and the next run copies what is missing.
		if perr := x.stg.publish(context.WithoutCancel(x.ctx)); perr != nil {
			x.o.logf("warning: %v", perr)
		}
	}
	return err
}

// ranges is the second pass over the ranges of a tree whose listing is
// src: each range is planned again and carried out, then the metadata of
// the directories that spanned ranges is set.
func (x *executor) ranges(pl *planner, rp *rangePlan, src, tl, adoptFrom *spill.Sorted) error {
	var at []store.Entry
	for _, d := range rp.carried {
		if d.at {
			at = append(at, d.entry)
		}
	}
	if err := unsettleDirs(x.mw, x.run, &plan.Files{DirMeta: at}, nil); err != nil {
		return err
	}
	r, err := rp.second(pl, src, tl, adoptFrom)
	if err != nil {
		return err
	}
	made := map[string]bool{}
	scratch := &FilesReport{} // the first pass reported what the plans found
	for {
		pt, err := r.next()
		if err != nil {
			return err
		}
		if pt == nil {
			break
		}
		p, _, err := pl.plan(pt.src, each(pt.prev), spill.Of(pt.tl), scratch, false)
		if err != nil {
			return err
		}
		if err := x.part(p, pt.src, made, pt.open); err != nil {
			return err
		}
		made = map[string]bool{}
		for _, d := range pt.open {
			if d.made {
				made[d.path] = true
			}
		}
	}
	if r.ci != len(rp.cuts) {
		return fmt.Errorf("internal: the second pass over the ranges cut %d times, the first %d", r.ci, len(rp.cuts))
	}
	if len(rp.carried) == 0 {
		return nil
	}
	dirs := make([]store.Entry, len(rp.carried))
	for i, d := range rp.carried {
		dirs[i] = d.entry
	}
	mopt := x.mopt
	mopt.AfterCopies = nil
	return migrate.Files(x.ctx, x.src, x.dst, &plan.Files{DirMeta: dirs}, mopt, x.record)
}
