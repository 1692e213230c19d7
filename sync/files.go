package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/filter"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/spill"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate"
	"github.com/cutover/cutover/plan"
)

// FilesOptions are the options of `files sync`.
type FilesOptions struct {
	Source, Target string
	StateDir       string
	Workers        int
	DryRun         bool
	Delete         bool
	MaxDelete      int
	Filter         filter.Filter
	BWLimit        int64
	// MaxDuration stops the run cleanly after it, as Ctrl-C does (0: never):
	// a bulk copy run only at night, a rehearsal kept to its window.
	MaxDuration    time.Duration
	UIDMap, GIDMap map[int]int
	Checksum       bool
	Verify         string  // none, transferred, all
	VerifySample   float64 // files verify: the fraction of files whose content is compared (0: all)
	SSH            store.SSHOptions
	Log            io.Writer // progress and log lines (stderr)
	LogInterval    time.Duration
	// Streams: tar streams from an SFTP source (0: the default, -1: none,
	// every file with its own SFTP requests).
	Streams int
	// StallTimeout stops the run (exit 3) when nothing moves for that long
	// (0: 10 minutes; below 0: never).
	StallTimeout time.Duration
	// Stores, when set, are used instead of opening Source and Target (tests).
	SourceStore, TargetStore store.Store
	// sourceRun (tests), when set, is the package's sourceRun for this run.
	sourceRun int
	// leaveStaged (tests) ends the run as one killed right before it puts
	// its staged directories in place: they are left under their
	// temporary names, and the directories' metadata is not set.
	leaveStaged bool
}

// held is the most entries of the source's listing a run holds: the
// package's sourceRun, or the options' own (tests).
func (o *FilesOptions) held() int {
	if o.sourceRun > 0 {
		return o.sourceRun
	}
	return sourceRun
}

func (o *FilesOptions) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// SyncFiles runs `files sync`. It always returns a report, filled as far as
// the run got, with an error that maps to the exit code.
func SyncFiles(ctx context.Context, o FilesOptions) (*FilesReport, error) {
	rep := &FilesReport{Command: "files sync", Source: o.Source, Target: o.Target, Outcome: report.Started(),
		DryRun: o.DryRun, Hash: string(checksum.Content), Verify: VerifyStats{Mode: o.Verify}, Throughput: Throughput{BWLimit: o.BWLimit}}
	logMemoryCap(&o)
	ctx, stop := withMaxDuration(ctx, o.MaxDuration)
	err := stop(syncFiles(ctx, o, rep))
	rep.Memory = memoryUse()
	rep.Finish(err)
	return rep, err
}

// withMaxDuration cancels ctx after d (0: never), as Ctrl-C does: the
// run stops cleanly. The returned stop releases the timer and turns the
// run's error into one that says it stopped at its --max-duration.
func withMaxDuration(ctx context.Context, d time.Duration) (context.Context, func(error) error) {
	if d <= 0 {
		return ctx, func(err error) error { return err }
	}
	ctx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(d, func() { cancel(errs.ErrMaxDuration) })
	return ctx, func(err error) error {
		t.Stop()
		defer cancel(nil)
		if errs.Interrupted(err) && errors.Is(context.Cause(ctx), errs.ErrMaxDuration) {
			return maxDurationError(d) // what was in flight ended with the cancel, and says no more
		}
		return err
	}
}

// maxDurationError is a run stopped at its --max-duration: an interruption
// (context.Canceled, exit 130) that says when, and what next.
type maxDurationError time.Duration

func (e maxDurationError) Error() string {
	return fmt.Sprintf("%v %s: the state keeps what this run finished, and the same command goes on from there", errs.ErrMaxDuration, time.Duration(e))
}

func (e maxDurationError) Is(target error) bool {
	return target == errs.ErrMaxDuration || target == context.Canceled
}

// storeNames are the names openStores' stores will have (their String).
func storeNames(o FilesOptions) (src, dst string, err error) {
	name := func(s store.Store, raw string) (string, error) {
		if s != nil {
			return s.String(), nil
		}
		loc, err := store.ParseLocation(raw)
		return loc.String(), err
	}
	if src, err = name(o.SourceStore, o.Source); err != nil {
		return "", "", err
	}
	dst, err = name(o.TargetStore, o.Target)
	return src, dst, err
}

func openStores(ctx context.Context, o *FilesOptions, createTarget bool) (src, dst store.Store, err error) {
	src, dst = o.SourceStore, o.TargetStore
	if o.SSH.Log == nil {
		o.SSH.Log = o.Log
	}
	if src == nil {
		loc, err := store.ParseLocation(o.Source)
		if err != nil {
			return nil, nil, err
		}
		if src, err = store.Open(ctx, loc, o.SSH, false); err != nil {
			return nil, nil, err
		}
	}
	if dst == nil {
		loc, err := store.ParseLocation(o.Target)
		if err != nil {
			src.Close()
			return nil, nil, err
		}
		if dst, err = store.Open(ctx, loc, o.SSH, createTarget); err != nil {
			src.Close()
			return nil, nil, err
		}
	}
	return src, dst, nil
}

// countLost puts in rep the SSH connections that src and dst found lost.
func countLost(rep *FilesReport, src, dst store.Store) {
	rep.ConnectionsLost = 0
	for _, s := range []store.Store{src, dst} {
		if l, ok := s.(interface{ ConnectionsLost() int64 }); ok {
			rep.ConnectionsLost += l.ConnectionsLost()
		}
	}
}

func listerOf(s store.Store) string {
	switch v := s.(type) {
	case *store.SFTP:
		if v.PreciseMtimes() {
			return "find"
		}
		return "sftp"
	case *store.Local:
		return "local"
	}
	return fmt.Sprintf("%T", s)
}

// listSource lists and filters a store into a sorted slice, with room for
// about expect entries from the start (0: unknown). A listing of more
// than run entries (0: no bound) is sorted in runs of that many in dir
// instead, and returned as spilled.
func listSource(ctx context.Context, s store.Store, f *filter.Filter, rep *FilesReport, expect int64, run int, dir string) (_ []store.Entry, spilled *spill.Sorted, err error) {
	// Room for what the last run listed and a little growth: growing the
	// slice copies it every time and touches fresh memory for the copy
	// (on a VM, a fault to the host for each new page).
	// Room the process may not have is not taken ahead: the listing stops
	// when it needs it. The memory limit rises as the listing grows.
	room := int(expect + expect/16)
	if run > 0 {
		room = min(room, run)
	}
	if hold(0, int64(room)*bytesPerListed) != nil {
		room = 0
	}
	out := make([]store.Entry, 0, room)
	var owed int64 // bytes listed that hold has not counted yet
	counted := 0   // entries counted, by an earlier attempt too
	tooMany := func(err error) error { return fmt.Errorf("list %s: %d entries so far: %w", s, len(out), err) }
	var runs *spill.Sorter // once the listing passes run entries
	var sum treeSummary
	reset := func() error {
		out, sum = out[:0], treeSummary{}
		if runs != nil {
			return runs.Reset()
		}
		return nil
	}
	defer func() {
		if err != nil && runs != nil {
			runs.Discard()
		}
	}()
	err = listFiltered(ctx, s, f, rep, reset, func(e store.Entry) error {
		sum.add(&e)
		if run > 0 && (len(out) == run || runs != nil && len(out) == cap(out)) {
			// Written out as a run, and from here on held an eighth of
			// that at a time: the ranges a large tree is synced in hold
			// about as many (partEntries).
			if runs == nil {
				runs = spill.NewSorter(dir, run)
			}
			if err := runs.WriteRun(out); err != nil {
				return err
			}
			if len(out) == run {
				out = make([]store.Entry, 0, partEntries(run))
			} else {
				clear(out)
				out = out[:0]
			}
		}
		if runs != nil {
			out = append(out, e)
			return nil
		}
		if len(out) == cap(out) {
			// Grown here, by a quarter, once hold knows of the new
			// array, which is live beside the old while it is copied;
			// near the memory limit, by as little as it can.
			more := max(cap(out)/4, listEntriesStep)
			if hold(0, int64(cap(out)+more)*entrySize) != nil {
				more = listEntriesStep
				if err := hold(0, int64(cap(out)+more)*entrySize); err != nil {
					return tooMany(err)
				}
			}
			out = slices.Grow(out, more)
		}
		out = append(out, e)
		if len(out) <= counted {
			return nil // counted when an attempt before this one listed it
		}
		counted++
		if owed += bytesPerListed + int64(max(0, len(e.Path)+len(e.Target)-pathIncluded)); owed >= holdStep {
			if err := hold(owed, 0); err != nil {
				return tooMany(err)
			}
			owed = 0
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sum.report(rep)
	if runs != nil {
		if err := runs.WriteRun(out); err != nil {
			return nil, nil, err
		}
		spilled, err = runs.Sorted()
		return nil, spilled, err
	}
	plan.SortEntries(out)
	return out, nil, nil
}

// treeSummary is what a listing says of the tree, taken as it is listed:
// its newest mtime, and the bytes under each top directory.
type treeSummary struct {
	tops   map[string]*TopDir
	newest store.Time
	n      int
}

func (t *treeSummary) add(e *store.Entry) {
	if t.n++; t.n == 1 || e.ModTime > t.newest {
		t.newest = e.ModTime
	}
	if e.Type != store.File {
		return
	}
	top, _, found := strings.Cut(e.Path, "/")
	if !found {
		top = "."
	}
	if t.tops == nil {
		t.tops = map[string]*TopDir{}
	}
	d := t.tops[top]
	if d == nil {
		d = &TopDir{Dir: top}
		t.tops[top] = d
	}
	d.Files++
	d.Bytes += e.Size
}

// report puts in rep the newest mtime and the 50 top directories that hold
// the most bytes.
func (t *treeSummary) report(rep *FilesReport) {
	if t.n > 0 {
		rep.NewestMtime = t.newest.Time()
	}
	rep.TopDirs = rep.TopDirs[:0]
	for _, d := range t.tops {
		rep.TopDirs = append(rep.TopDirs, *d)
	}
	sort.Slice(rep.TopDirs, func(i, j int) bool { return rep.TopDirs[i].Bytes > rep.TopDirs[j].Bytes })
	if len(rep.TopDirs) > 50 {
		rep.TopDirs = rep.TopDirs[:50]
	}
}

// listFiltered walks s and hands add what the rules include, then the
// directories the rules exclude that hold included entries; reset starts
// the taking again (the walk restarts when its connection is lost). What
// could not be listed, and what vanished while it was, goes to rep.
func listFiltered(ctx context.Context, s store.Store, f *filter.Filter, rep *FilesReport, reset func() error, add func(store.Entry) error) error {
	type bad struct{ path, why string }
	var bads []bad
	var vanished []string
	var excluded int64
	var excludedDirs map[string]store.Entry
	var holding map[string]bool // the directories that hold included entries, when rules exclude some
	err := walk(ctx, s, func() error {
		bads, vanished, excluded = bads[:0], vanished[:0], 0
		excludedDirs, holding = map[string]store.Entry{}, map[string]bool{}
		return reset()
	}, func(e store.Entry) error {
		if !f.Included(e.Path, e.Type == store.Dir) {
			excluded++
			if e.Type == store.Dir {
				excludedDirs[e.Path] = e
			}
			return nil
		}
		if !f.Empty() {
			for d := path.Dir(e.Path); d != "." && !holding[d]; d = path.Dir(d) {
				holding[d] = true
			}
		}
		return add(e)
	}, func(p string, err error) {
		// What the rules leave out is no failure, whatever its type
		// (an unreadable directory, a socket): the walk does not
		// prune, and cannot say which kind a rule meant.
		if !f.Included(p, false) || !f.Included(p, true) {
			return
		}
		if errs.IsNotExist(err) {
			vanished = append(vanished, p) // gone since its directory was read
			return
		}
		bads = append(bads, bad{p, "list: " + err.Error()})
	})
	if err != nil {
		return err
	}
	// A directory that a rule excludes but that holds included entries
	// (--include 'caches/indexesV1/**' --exclude 'caches/**' excludes the
	// directory caches/indexesV1 itself) is taken too, so the target gets
	// its mode, owner and mtime rather than a default.
	for d, e := range excludedDirs {
		if holding[d] {
			if err := add(e); err != nil {
				return err
			}
			excluded--
		}
	}
	rep.Files.Excluded += excluded
	for _, b := range bads {
		rep.fail(b.path, b.why)
	}
	for _, p := range vanished {
		if len(rep.Files.Vanished) < maxListed {
			rep.Files.Vanished = append(rep.Files.Vanished, report.NewItem(p, "vanished from the source while it was listed"))
		}
	}
	return nil
}

func syncFiles(ctx context.Context, o FilesOptions, rep *FilesReport) error {
	if o.Verify == "" {
		o.Verify = "transferred"
		rep.Verify.Mode = o.Verify
	}
	switch o.Verify {
	case "none", "transferred", "all":
	default:
		return errs.Usagef("--verify must be none, transferred or all, not %q", o.Verify)
	}
	if err := checkOverlap(o); err != nil {
		return err
	}
	st, err := state.Open(o.StateDir)
	if err != nil {
		return err
	}
	defer st.Close()
	// The SSH handshake mostly waits on the server: the manifest is read
	// meanwhile (see prefetch), keyed by the names the stores will have.
	srcName, dstName, err := storeNames(o)
	if err != nil {
		return err
	}
	pair, err := st.Pair(ctx, "files", srcName, dstName)
	if err != nil {
		return err
	}
	has, err := st.HasManifest(ctx, pair)
	if err != nil {
		return err
	}
	var manifest *prefetch
	if has {
		manifest = prefetchManifest(ctx, st, pair)
		defer manifest.stop()
	}
	src, dst, err := openStores(ctx, &o, !o.DryRun)
	if err != nil {
		return err
	}
	defer src.Close()
	defer dst.Close()
	defer countLost(rep, src, dst)
	rep.Source, rep.Target = src.String(), dst.String()
	rep.Verify.ReadFrom = readFrom(dst)
	if rep.Source != srcName || rep.Target != dstName {
		return fmt.Errorf("internal: stores opened as %s → %s, not %s → %s", rep.Source, rep.Target, srcName, dstName)
	}
	var run int64
	if !o.DryRun {
		if run, err = st.BeginRun(ctx, pair, "files sync"); err != nil {
			return err
		}
		rep.RunID = run
		if killed, _ := st.Interrupted(ctx, pair, run); killed {
			n, err := dst.CleanTemp(ctx)
			if err != nil {
				return fmt.Errorf("clean temporary files of a killed run: %w", err)
			}
			rep.Files.TempCleaned = n
			o.logf("an earlier run was interrupted: removed %d temporary files at the target", n)
			st.MarkAbandoned(ctx, pair, run)
		}
		dirs, removed, err := recoverStaged(ctx, st, pair, dst)
		if err != nil {
			return fmt.Errorf("put in place the directories an earlier run left under temporary names: %w", err)
		}
		rep.Files.StagedRecovered, rep.Files.StagedRemoved = dirs, removed
		if dirs > 0 {
			o.logf("an earlier run stopped before it put %d new directories in place: put them in place, without the %d files in them it had not finished", dirs, removed)
		}
	}
	err = watched(ctx, o.StallTimeout, o.logf, func(ctx context.Context) error {
		return syncPair(ctx, o, st, pair, run, src, dst, manifest, rep)
	})
	err = fullTarget(ctx, stateDiskFull(o.StateDir, err), dst)
	if lb := (*leftBehind)(nil); !o.DryRun && !errors.As(err, &lb) { // the stuck work may hold the state's write lock
		st.FinishRun(context.WithoutCancel(ctx), state.Run{ID: run, Status: errs.Status(err), FilesScanned: rep.Files.Scanned, FilesCopied: rep.Files.Copied,
			BytesCopied: rep.Files.BytesCopied, FilesDeleted: rep.Files.Deleted, FilesFailed: rep.Files.FailedCount,
			Duration: time.Since(rep.StartedAt).Seconds(), CopySeconds: rep.Throughput.CopyS, BWLimit: o.BWLimit})
	}
	return err
}

// syncPair syncs src to dst; manifest is the pair's record, nil when there
// is none.
func syncPair(ctx context.Context, o FilesOptions, st *state.State, pair, run int64, src, dst store.Store, manifest *prefetch, rep *FilesReport) error {
	has := manifest != nil
	t0 := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a listing of the target still running
	// The target is listed when the state has no record of the pair, and
	// for a mirror (--delete): at the same time as the source, which is
	// another machine (on EFS every directory read is a round trip to the
	// NFS server).
	expect, _ := st.LastScanned(ctx, pair) // a hint, for both listings
	var target *listing
	if !has {
		o.logf("no record of this pair in the state: listing the target %s", dst)
	}
	if !has || o.Delete {
		target = listAsync(ctx, dst, o.StateDir)
		defer target.close()
	}
	// --verify all reads every recorded file back from the target while the
	// source is listed; what differs is redone (see drift).
	var rc *recheck
	if has && o.Verify == "all" {
		rc = startRecheck(ctx, &o, st, pair, dst)
		defer func() { cancel(); <-rc.done }() // an early return stops the read-back
	}
	if _, ok := src.(*store.SFTP); ok && o.SSH.LowPriority {
		rep.SourceLowPriority = true
		o.logf("at %s, cutover's commands and their SSH session run at nice 19 and best-effort I/O priority 7 (--low-priority)", src)
	}
	o.logf("listing %s", src)
	held := o.held()
	entries, spilled, err := listSource(ctx, src, &o.Filter, rep, expect, held, o.StateDir)
	if err != nil {
		return err
	}
	defer spilled.Close()
	lister := listerOf(src)
	rep.Lister = lister
	rep.Throughput.ListS = time.Since(t0).Seconds()
	listed := len(entries) + spilled.Len()
	o.logf("listed %d entries in %.1fs", listed, rep.Throughput.ListS)
	if s, ok := src.(*store.SFTP); ok {
		rep.SourceFS = s.RootFS()
	}
	if s, ok := src.(*store.SFTP); ok && lister == "sftp" {
		if rep.ListerFallback = s.NoFindReason(); rep.ListerFallback != "" {
			o.logf("warning: listed by SFTP requests, a round trip per directory: %s", rep.ListerFallback)
		}
	}

	owner := os.Geteuid() == 0
	if !owner && (len(o.UIDMap) > 0 || len(o.GIDMap) > 0) {
		o.logf("warning: not running as root: owners are not set, --chown-map and --chgrp-map are ignored")
	}
	if has && listed == 0 && o.Delete && !o.DryRun {
		// An unmounted NFS shared home lists as an empty directory: a
		// mirror would delete everything earlier runs copied.
		return errs.Fatalf("the source %s lists no entries while earlier runs copied from it: refusing to mirror an empty source (is the shared home mounted?); nothing was deleted", src)
	}
	recorded, _ := st.Lister(ctx, pair)
	popt := plan.Options{Checksum: o.Checksum, Owner: owner,
		PreciseMtime: has && recorded == lister && lister != "sftp", Delete: true,
		Keep: func(p string, isDir bool) bool { return !o.Filter.Included(p, isDir) }}
	var prev func(func(plan.Prev) error) error
	var tl *spill.Sorted        // the target's listing, with a record and --delete
	var adoptFrom *spill.Sorted // the target's listing, with no record
	var drifted *drift          // what changed at the target since written
	if has {
		drifted = &drift{differ: map[string]targetDiff{}, excluded: popt.Keep, meta: newMetaCheck(&o)}
		if rc != nil {
			if err := rc.wait(rep); err != nil {
				return fmt.Errorf("verify all: %w", err)
			}
			drifted.differ = rc.differ
		}
		if o.Delete {
			if tl, err = target.wait(rep); err != nil {
				return fmt.Errorf("list the target for --delete: %w", err)
			}
			if tl.Len() == 0 && !o.DryRun {
				// An EFS target that is not mounted lists as an empty
				// directory: repairing it would copy the whole shared home
				// onto the local disk beneath the mount point.
				return errs.Fatalf("the target %s lists no entries while earlier runs copied into it: refusing to copy everything again (is it mounted?); nothing was copied or deleted. If it was emptied on purpose, use a new --state directory", dst)
			}
			drifted.listed, drifted.listing = tl, true
		}
		prev = manifest.each // with what changed at the target marked (planner.plan)
		defer drifted.finish(rep, o.DryRun)
	} else {
		// No record: compare with the target itself (a rerun after the state
		// was lost, or a target that was pre-seeded by other means).
		if adoptFrom, err = target.wait(rep); err != nil {
			return err
		}
		if adoptFrom.Runs() > 0 {
			o.logf("the target's listing of %d entries is sorted in %d runs on disk (%s)", adoptFrom.Len(), adoptFrom.Runs(), o.StateDir)
		}
		popt.Empty = adoptFrom.Len() == 0
		prev = func(fn func(plan.Prev) error) error {
			return adoptFrom.Each(func(e *store.Entry) error { return fn(plan.Prev{Entry: *e}) })
		}
	}
	pl := &planner{o: &o, popt: popt, has: has, drifted: drifted, n: partEntries(held)}
	var p *plan.Files // the plan, of a tree synced whole
	var rp *rangePlan // the ranges, of a tree synced range by range
	var tot totals
	if spilled == nil {
		d := 0
		if p, d, err = pl.plan(entries, prev, tl, rep, o.DryRun); err != nil {
			return err
		}
		tot.add(p, d)
		if err := hold(int64(len(p.Dirs)+len(p.Copies)+len(p.Links)+len(p.Meta)+len(p.Deletes))*bytesPerAction, 0); err != nil {
			return fmt.Errorf("plan: %w; nothing was copied or deleted", err)
		}
	} else {
		o.logf("the source's listing of %d entries is sorted in %d runs on disk (%s): the tree is planned and copied in ranges of about %d", spilled.Len(), spilled.Runs(), o.StateDir, pl.n)
		if err := hold(int64(pl.n)*(2*bytesPerListed+bytesPerAction), 0); err != nil {
			return fmt.Errorf("plan: %w; nothing was copied or deleted", err)
		}
		if rp, tot, err = pl.planRanges(spilled, manifest, tl, adoptFrom, rep); err != nil {
			return err
		}
		defer rp.close()
	}
	if drifted != nil && len(drifted.differ) > 0 {
		o.logf("%d entries at the target are not as cutover wrote them (changed there since): they are redone", len(drifted.differ))
	}
	if pl.untracked > 0 {
		o.logf("%d entries at the target were not put there by cutover and are not in the source: they are deleted too", pl.untracked)
	}
	rep.Files.Scanned, rep.Files.BytesTotal, rep.Files.Unchanged = tot.scanned, tot.bytesTotal, tot.unchanged
	deletes := tot.deletes
	if !o.Delete {
		rep.Files.PendingDelete = int64(deletes)
		deletes = 0
	}
	if o.Delete && deletes > o.MaxDelete {
		return errs.Fatalf("--delete would remove %d entries at the target, more than --max-delete %d: nothing was deleted and nothing copied. Check the source is the right one (an unmounted or emptied source looks like this); if the deletions are expected, raise --max-delete", deletes, o.MaxDelete)
	}
	o.logf("plan: %d to copy (%s), %d unchanged, %d directories, %d links, %d metadata fixes, %d deletions",
		tot.copies, progress.Bytes(tot.bytesToCopy), tot.unchanged, tot.dirs, tot.links, tot.meta, deletes)
	if o.BWLimit > 0 && tot.bytesToCopy > 0 && !o.DryRun {
		o.logf("reading at most %s from the source (--bwlimit): the copy takes %s or more",
			progress.Rate(o.BWLimit), migrate.MinReadTime(tot.bytesToCopy, o.BWLimit).Round(100*time.Millisecond))
	}
	if o.DryRun {
		rep.Files.Copied = int64(tot.copies)
		rep.Files.BytesCopied = tot.bytesToCopy
		rep.Files.Deleted = int64(deletes)
		return nil
	}
	root := newRootMirror(ctx, src, dst, owner, o) // before the probe writes into the root
	if tot.work() {                                // a range plan's carried directories count in it
		if err := probeWritable(ctx, dst); err != nil {
			return err
		}
	}
	if rs, ok := dst.(store.Roomer); ok {
		r, err := rs.Room(ctx)
		switch {
		case err != nil:
		case uint64(tot.bytesToCopy) > r.Bytes:
			return errs.Fatalf("target %s has %s free but this run must write %s: free space or grow the volume first",
				dst, progress.Bytes(int64(r.Bytes)), progress.Bytes(tot.bytesToCopy))
		case r.InodesTotal > 0 && uint64(tot.new) > r.Inodes:
			// A volume made with ext4's default of an inode per 16 KiB
			// runs out of inodes before bytes under a shared home of
			// small files.
			return errs.Fatalf("target %s has %d free inodes (df -i) but this run creates %d files, directories and symlinks: make room, or make the filesystem again with more inodes (mkfs.ext4 -i 4096); nothing was copied",
				dst, r.Inodes, tot.new)
		}
	}
	if err := st.SetLister(ctx, pair, lister); err != nil {
		return err
	}
	mw := st.NewManifestWriter(pair)
	if l, ok := dst.(*store.Local); ok {
		// One syncfs per manifest commit instead of one fsync per file.
		l.BatchSync = true
		mw.BeforeCommit = func() error { return l.Sync(context.WithoutCancel(ctx)) }
	}
	counter := &progress.Counter{}
	counter.FilesTotal.Store(int64(tot.copies + tot.links + tot.meta))
	counter.BytesTotal.Store(tot.bytesToCopy)
	disp := progress.Start(o.Log, "copy", counter, o.LogInterval)
	targetOps := InFlight(dst, o.Workers)
	if targetOps != o.Workers {
		o.logf("the target is on a network filesystem: up to %d operations in flight at once (4 × --workers)", targetOps)
	}
	networkSource := false
	if store.IsNetworkFS(rep.SourceFS) {
		networkSource = true
		o.logf("the source is on a network filesystem (%s): up to %d tar streams", rep.SourceFS, o.Workers)
	}
	mopt := migrate.FileOptions{Workers: o.Workers, TargetOps: targetOps, NetworkSource: networkSource, Owner: owner, UIDMap: o.UIDMap, GIDMap: o.GIDMap,
		Verify: o.Verify != "none", BWLimit: o.BWLimit, Progress: counter, PreciseMtime: lister == "local", Streams: o.Streams}
	if o.BWLimit > 0 {
		mopt.Limiter = migrate.NewLimiter(o.BWLimit)
	}
	// The records of the copies are merged into the manifest while the
	// directories' metadata is set (0.11-0.13 s of a 3.3 s full copy of
	// 20,010 files, on one core, which otherwise came after it).
	noteMerge := func() {
		if n := mw.Logged(); n >= 100_000 {
			o.logf("state: merging this run's %d records into the manifest (about 3 s per 10^6)", n)
		}
	}
	mopt.AfterCopies = func() error {
		noteMerge()
		return mw.MergeBehind()
	}
	t1 := time.Now()
	stall := stallOf(ctx)
	stall.watch(counter)
	x := &executor{ctx: ctx, o: &o, rep: rep, src: src, dst: dst, mw: mw, run: run, mopt: mopt,
		stg: newStaging(st, pair, run, dst),
		record: func(r migrate.Result) error {
			if drifted != nil {
				drifted.settled(r, rep)
			}
			stall.tick()
			return recordResult(mw, run, r, rep)
		}}
	var runErr error
	if rp == nil {
		runErr = x.part(p, entries, nil, nil)
	} else {
		runErr = x.ranges(pl, rp, spilled, tl, adoptFrom)
	}
	disp.Stop()
	rep.Throughput.CopyS = time.Since(t1).Seconds()
	if rep.Throughput.CopyS > 0 {
		rep.Throughput.BytesPerS = float64(rep.Files.BytesCopied) / rep.Throughput.CopyS
		rep.Throughput.FilesPerS = float64(rep.Files.Copied) / rep.Throughput.CopyS
	}
	// The run's records go into the manifest now, in path order; those of
	// a run stopped by an error wait for the next run to read them.
	record := mw.Flush
	if runErr == nil {
		record = mw.Close
		noteMerge()
	}
	if err := record(); err != nil && runErr == nil {
		runErr = err
	}
	if err := x.stg.forget(context.WithoutCancel(ctx), syncOf(dst)); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return runErr
	}
	root.finish(ctx, rep)
	if drifted != nil {
		drifted.finish(rep, false)
	}
	o.logf("done: %d copied (%s), %d unchanged, %d deleted, %d failed, verify %s: %d checked, %d mismatched",
		rep.Files.Copied, progress.Bytes(rep.Files.BytesCopied), rep.Files.Unchanged, rep.Files.Deleted,
		rep.Files.FailedCount, o.Verify, rep.Verify.Checked, rep.Verify.MismatchedCount)
	if rep.Files.FailedCount > 0 || rep.Verify.MismatchedCount > 0 {
		return partial(rep)
	}
	return nil
}

// fullTarget explains a run stopped by a full target (ENOSPC, EDQUOT):
// which volume, what is left on it, and that the same command resumes.
func fullTarget(ctx context.Context, err error, dst store.Store) error {
	if !errs.IsDiskFull(err) {
		return err
	}
	what := "full"
	if errors.Is(err, syscall.EDQUOT) {
		what = "over its quota"
	}
	if rs, ok := dst.(store.Roomer); ok {
		if r, rerr := rs.Room(ctx); rerr == nil {
			// The files this run had in flight are removed by now: what
			// is left says which of the two ran out, not that one is 0.
			if r.InodesShort() {
				what += " of inodes (df -i)"
			}
			what += " (" + progress.Bytes(int64(r.Bytes)) + " free"
			if r.InodesTotal > 0 {
				what += fmt.Sprintf(", %d free inodes", r.Inodes)
			}
			what += ")"
		}
	}
	return errs.Wrap(errs.Fatal, fmt.Errorf("the target %s is %s: make room or grow the volume, then run the same command again: it goes on from the files this run finished, and none is left partial under its name; %w", dst, what, err))
}

// madeDirs is the set of the directories p makes (p.Dirs), by path.
func madeDirs(p *plan.Files) map[string]bool {
	made := make(map[string]bool, len(p.Dirs))
	for _, a := range p.Dirs {
		made[a.Entry.Path] = true
	}
	return made
}

// unsettled is the mtime recorded for a directory whose metadata the run
// has yet to set (-1 ns, which no source directory has): any plan then
// sees it differ.
const unsettled = store.Time(-1)

// unsettleDirs records, before anything is written, that the directories
// which the run writes or removes in, and whose metadata it sets last
// (plan.DirMeta), are not in step. Writing inside a directory changes its
// mtime; a run stopped before the end left it so, with a record from an
// earlier run that said it was in step, and no later run set it again.
// The end of the run records them as they are.
func unsettleDirs(mw *state.ManifestWriter, run int64, p *plan.Files, made map[string]bool) error {
	n := 0
	for _, d := range p.DirMeta {
		if made[d.Path] {
			continue // made by the run: not recorded until their metadata is set
		}
		d.ModTime = unsettled
		if err := mw.Put(state.Row{Entry: d, RunID: run}); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return mw.Flush()
}

func recordResult(mw *state.ManifestWriter, run int64, r migrate.Result, rep *FilesReport) error {
	e := r.Entry
	if r.Vanished {
		if len(rep.Files.Vanished) < maxListed {
			rep.Files.Vanished = append(rep.Files.Vanished, report.NewItem(e.Path, "vanished from the source during the run"))
		}
		return nil
	}
	if r.Err != nil {
		if errors.Is(r.Err, context.Canceled) {
			return nil
		}
		rep.fail(e.Path, r.Action.Kind.String()+": "+r.Err.Error())
		return nil
	}
	switch r.Action.Kind {
	case plan.Delete:
		rep.Files.Deleted++
		rep.noteDeleted(r.Action, false)
		return mw.Delete(e.Path)
	case plan.Mkdir:
		rep.Files.DirsCreated++
		return nil
	case plan.Copy:
		if r.Unchanged {
			rep.Files.Unchanged++
			return nil
		}
		if r.Bytes > 0 || e.Size == 0 {
			rep.Files.Copied++
			rep.Files.BytesCopied += r.Bytes
			if r.Streamed {
				rep.Files.Streamed++
			}
		} else {
			rep.Files.MetadataUpdated++
		}
		if r.Verified {
			rep.Verify.Checked++
		}
	case plan.Symlink:
		rep.Files.Symlinks++
	case plan.HardLink:
		if r.Unchanged {
			rep.Files.Unchanged++
			return nil
		}
		rep.Files.Hardlinks++
	case plan.SetMeta:
		if e.Type != store.Dir {
			rep.Files.MetadataUpdated++
		}
	}
	return mw.Put(state.Row{Entry: e, Hash: r.Hash, RunID: run})
}

func partial(rep *FilesReport) error {
	return &errs.PartialError{Failed: int(rep.Files.FailedCount), Mismatched: int(rep.Verify.MismatchedCount)}
}

// listAttempts bounds the restarts of a listing whose connection was lost.
const listAttempts = 6

// walk lists s (leaving out cutover's temporary files), and lists it again
// from the start, after reset, when the connection is lost (the store
// reconnects), a few times, as a lost connection while copying does.
func walk(ctx context.Context, s store.Store, reset func() error, fn func(store.Entry) error, onErr func(string, error)) error {
	stall := stallOf(ctx)
	for attempt := 1; ; attempt++ {
		if err := reset(); err != nil {
			return err
		}
		err := s.Walk(ctx, func(e store.Entry) error {
			stall.tick()
			if store.IsTemp(path.Base(e.Path)) {
				return nil
			}
			return fn(e)
		}, func(p string, err error) {
			stall.tick()
			onErr(p, err)
		})
		if err == nil || errs.KindOf(err) != errs.Retryable || attempt == listAttempts || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt*attempt) * 200 * time.Millisecond)
	}
}

// untracked lists the target and returns a delete for every entry that is
// neither in the source listing src (sorted) nor already deleted by the
// plan. What the filter excludes stays, and so does every directory that
// holds something that stays.
func untracked(tl *spill.Sorted, src []store.Entry, p *plan.Files, f *filter.Filter) ([]plan.Action, error) {
	known := make(map[string]bool, len(p.Deletes))
	for _, a := range p.Deletes {
		known[a.Entry.Path] = true
	}
	var cands []store.Entry
	stays := map[string]bool{} // directories holding something that stays
	i := 0
	c := tl.Cursor()
	for c.Next() {
		t := c.Entry()
		for i < len(src) && src[i].Path < t.Path {
			i++
		}
		inSource := i < len(src) && src[i].Path == t.Path
		if inSource || known[t.Path] || !f.Included(t.Path, t.Type == store.Dir) {
			for d := path.Dir(t.Path); d != "." && !stays[d]; d = path.Dir(d) {
				stays[d] = true
			}
			continue
		}
		cands = append(cands, *t)
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	var out []plan.Action
	for i := range cands {
		if !stays[cands[i].Path] {
			out = append(out, plan.Action{Kind: plan.Delete, Entry: &cands[i]})
		}
	}
	return out, nil
}

// keepExcluded leaves at the target the directories that hold entries the
// rules exclude, which a run never touches: a directory the source no
// longer has stays, and is reported as kept; one the source replaced by a
// file or a symlink is a failure that says why, instead of a removal that
// fails on a directory not empty. tl is the target's listing, unfiltered.
func keepExcluded(tl *spill.Sorted, p *plan.Files, f *filter.Filter, rep *FilesReport) error {
	if f.Empty() {
		return nil
	}
	holds := map[string]string{} // directory → an excluded entry below it
	err := tl.Each(func(t *store.Entry) error {
		if f.Included(t.Path, t.Type == store.Dir) {
			return nil
		}
		for d := path.Dir(t.Path); d != "." && holds[d] == ""; d = path.Dir(d) {
			holds[d] = t.Path
		}
		return nil
	})
	if err != nil || len(holds) == 0 {
		return err
	}
	blocked := map[string]bool{}
	deletes := p.Deletes[:0]
	for _, a := range p.Deletes {
		ex := holds[a.Entry.Path]
		switch {
		case a.Entry.Type != store.Dir || ex == "":
			deletes = append(deletes, a)
		case a.TypeChange:
			blocked[a.Entry.Path] = true
			rep.fail(a.Entry.Path, fmt.Sprintf("the source has no directory here any more, but the target's holds entries the rules exclude (%s): remove them at the target, or change the rules", ex))
		default:
			rep.Files.KeptCount++
			if len(rep.Files.Kept) < maxListed {
				rep.Files.Kept = append(rep.Files.Kept, report.NewItem(a.Entry.Path, "not in the source, but holds entries the rules exclude ("+ex+")"))
			}
		}
	}
	p.Deletes = deletes
	if len(blocked) > 0 {
		// What would have replaced a blocked directory waits for it.
		drop := func(as []plan.Action) []plan.Action {
			return slices.DeleteFunc(as, func(a plan.Action) bool { return blocked[a.Entry.Path] })
		}
		p.Copies, p.Links = drop(p.Copies), drop(p.Links)
	}
	return nil
}

// targetRun is the most entries of the target's listing held in memory
// (2^16, about 10 MB): the listing of a larger target is sorted in runs of
// that many, written beside the state, and merged back as it is read.
// Every use of it reads it once, in path order.
var targetRun = 1 << 16

// listing is a listing of the target running in the background.
type listing struct {
	done   chan struct{}
	cancel context.CancelFunc
	sorted *spill.Sorted
	err    error
	secs   float64
}

// listAsync lists s, unfiltered, until ctx ends or close is called; runs
// that do not fit in memory go to dir.
func listAsync(ctx context.Context, s store.Store, dir string) *listing {
	ctx, cancel := context.WithCancel(ctx)
	l := &listing{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		t0 := time.Now()
		l.sorted, l.err = listSorted(ctx, s, &filter.Filter{}, &FilesReport{}, dir)
		l.secs = time.Since(t0).Seconds()
	}()
	return l
}

// listSorted lists and filters s in path order, as listSource does, with
// no more than targetRun entries in memory (the rest in sorted runs in
// dir). Of a target, what a sync cannot list is left out (rep is not the
// run's): the plan compares what the source has with what it finds.
func listSorted(ctx context.Context, s store.Store, f *filter.Filter, rep *FilesReport, dir string) (*spill.Sorted, error) {
	if err := hold(int64(targetRun)*bytesPerListed, 0); err != nil {
		return nil, fmt.Errorf("list %s: %w", s, err)
	}
	srt := spill.NewSorter(dir, targetRun)
	if err := listFiltered(ctx, s, f, rep, srt.Reset, srt.Add); err != nil {
		srt.Discard()
		return nil, err
	}
	return srt.Sorted()
}

// stateDiskFull says which disk filled up while a listing was written out
// in sorted runs, or the record copied (a spill.Error): the state
// directory's, not the target's, which fullTarget names.
func stateDiskFull(dir string, err error) error {
	var se *spill.Error
	if !errs.IsDiskFull(err) || !errors.As(err, &se) {
		return err
	}
	return errs.Fatalf("state %s: the disk that holds the state directory is full (%v): it holds the sorted runs of listings too large for memory, about 60 bytes an entry: free space there, or move the directory and point --state at it", dir, err)
}

// spillDir is where a listing's runs go: the state directory, or the
// system's temporary one when it does not exist (files verify).
func spillDir(state string) string {
	if fi, err := os.Stat(state); err == nil && fi.IsDir() {
		return state
	}
	return ""
}

// wait returns the listing and records how long it took in rep. The
// listing is the caller's until close.
func (l *listing) wait(rep *FilesReport) (*spill.Sorted, error) {
	<-l.done
	rep.Throughput.TargetListS = l.secs
	return l.sorted, l.err
}

// close stops the listing if it still runs, and gives back its runs.
func (l *listing) close() {
	if l == nil {
		return
	}
	l.cancel()
	<-l.done
	l.sorted.Close()
}

// InFlight is how many operations to keep in flight at once on s for a
// run of the given workers: four times as many on a network filesystem,
// where each create, chmod, rename or read waits on the server
// (milliseconds on EFS) and more in flight, not more CPU, speeds them up:
// a 2,000-file copy at 1 ms per request took 3.2 s with 16 and 2.2 s with
// 64 (make bench-efs).
func InFlight(s store.Store, workers int) int {
	if l, ok := s.(*store.Local); ok && l.Network() != "" {
		return 4 * workers
	}
	return workers
}

// prefetchRows bounds how far a manifest is read ahead of the diff: 64Ki
// rows, about 10 MB.
const prefetchRows = 64 << 10

// prefetch reads a pair's manifest in the background while the SSH
// handshake and the listing of the source wait on the server: reading it
// costs 58 ms for 31,736 rows (modernc's SQLite takes a mutex for every
// column it hands out). The bound keeps a tree of millions of entries from
// holding its manifest twice.
type prefetch struct {
	rows   chan plan.Prev
	err    error // set before rows is closed
	cancel context.CancelFunc
}

func prefetchManifest(ctx context.Context, st *state.State, pair int64) *prefetch {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetch{rows: make(chan plan.Prev, prefetchRows), cancel: cancel}
	go func() {
		defer close(p.rows)
		p.err = st.Manifest(ctx, pair, func(r state.Row) error {
			select {
			case p.rows <- plan.Prev{Entry: r.Entry, Hash: r.Hash}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return p
}

// each passes every row to fn, in path order; it can be called once.
func (p *prefetch) each(fn func(plan.Prev) error) error {
	for r := range p.rows {
		if err := fn(r); err != nil {
			return err
		}
	}
	return p.err
}

// stop ends the reading, if it still runs, and waits for it.
func (p *prefetch) stop() {
	p.cancel()
	for range p.rows {
	}
}
