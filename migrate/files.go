package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// FileOptions configure a file copy.
type FileOptions struct {
	Workers int
	// TargetOps bounds the operations at the target in flight at once
	// (mkdirs, creates, renames, metadata, read-backs, deletions; default
	// Workers), and with them the files copied one by one (by SFTP
	// requests: each waits as long on the target as on the source). A
	// network filesystem wants more than Workers: each operation waits on
	// its server, not on this host. Per-file copies of 2,000 files at 1 ms
	// per request took 3.4–3.6 s with 16, 2.2–2.3 s with 64.
	TargetOps int
	// Owner applies uid/gid at the target (mapped through the maps).
	Owner  bool
	UIDMap map[int]int
	GIDMap map[int]int
	// Verify re-reads every written file from the target and compares its
	// hash with the one computed while streaming from the source.
	Verify bool
	// BWLimit caps the read rate from the source in bytes/s (0: none).
	BWLimit int64
	// Limiter, when set, is the cap's, shared by the calls of Files of one
	// run (a tree copied range by range): each call would otherwise start
	// with a full burst.
	Limiter *rate.Limiter
	// PreciseMtime: the source reports nanosecond mtimes after a read.
	PreciseMtime bool
	// Retries of a retryable error per item (default 5), and how often a
	// file that changes while read is retried (default 3).
	Retries        int
	ChangedRetries int
	// Streams is how many tar streams copy files from a source that can
	// stream (an SFTP host with GNU tar) at most; 0 picks (4, or Workers
	// from a network source), -1 copies every file with its own SFTP
	// requests.
	Streams int
	// NetworkSource: the source's files are on a network filesystem (the
	// NFS mount of a Data Center shared home). tar reads them one after
	// another, each open and close a round trip to the NFS server, so a
	// copy gets a stream per 128 files instead of per 2,048.
	NetworkSource bool
	Progress      *progress.Counter
	// Publish, when set, is called once every action is done or stopped,
	// before the directories' metadata is set (it may change the mtime
	// of some): it puts the directories made under temporary names in
	// place (see store.DirStager).
	Publish func(context.Context) error
	// AfterCopies, when set, is called from the recorder's goroutine once
	// every result of the copies (and links, and metadata fixes) is
	// recorded, before the directories' metadata is set; its error stops
	// the run as the recorder's.
	AfterCopies func() error
}

// Result is the outcome of one action, passed to the recorder in order of
// completion from one goroutine at a time.
type Result struct {
	Action plan.Action
	Entry  store.Entry // the source entry as copied
	Hash   string
	Bytes  int64
	Err    error
	// Vanished: the source entry disappeared before it could be copied.
	Vanished bool
	// Verified: the written content was read back and matched.
	Verified bool
	// Streamed: the content came in a tar stream, not by SFTP requests.
	Streamed bool
	// Unchanged: a --checksum copy found the content and metadata as
	// recorded, and did nothing.
	Unchanged bool

	// barrier, when set, is closed by the results' consumer once every
	// result sent before it is recorded (it is no result itself); then,
	// when set, is called by it at that point instead.
	barrier chan struct{}
	then    func() error
}

// errChanged says a source file changed while it was read.
var errChanged = errors.New("changed while being read")

// Files executes a plan: deletions first (they free space and clear type
// changes), then directories, copies (largest first), hard links, metadata
// fixes, and directory metadata last. record is called for every result
// from a single goroutine. A fatal error stops the run at once and is
// returned; per-item errors are only passed to record. To hold no second
// copy of a list of 10^6 actions, Files sorts and partitions p.Copies in
// place: afterwards its length holds, its content does not.
func Files(ctx context.Context, src, dst store.Store, p *plan.Files, opt FileOptions, record func(Result) error) error {
	if opt.Workers <= 0 {
		opt.Workers = 16
	}
	if opt.TargetOps <= 0 {
		opt.TargetOps = opt.Workers
	}
	if opt.Retries <= 0 {
		opt.Retries = 5
	}
	if opt.ChangedRetries <= 0 {
		opt.ChangedRetries = 3
	}
	if opt.Progress == nil {
		opt.Progress = &progress.Counter{}
	}
	x := &fileExec{src: src, dst: dst, opt: opt, primaries: map[string]primary{}}
	if opt.BWLimit > 0 {
		x.limiter = opt.Limiter
	}
	if opt.BWLimit > 0 && x.limiter == nil {
		x.limiter = NewLimiter(opt.BWLimit)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	results := make(chan Result, 1024)
	var recErr error
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		for r := range results {
			if r.barrier != nil {
				close(r.barrier)
				continue
			}
			if r.then != nil {
				if recErr != nil {
					continue
				}
				if err := r.then(); err != nil {
					recErr = err
					cancel(err)
				}
				continue
			}
			if r.Err == nil && r.Entry.Type == store.File && r.Entry.Nlink > 1 {
				x.mu.Lock()
				x.primaries[r.Entry.Path] = primary{hash: r.Hash, unchanged: r.Unchanged}
				x.mu.Unlock()
			}
			if recErr != nil {
				continue
			}
			if err := record(r); err != nil {
				recErr = err
				cancel(err)
			}
		}
	}()

	copies := func(ctx context.Context) error {
		rest := largestFirst(p.Copies)
		if sr, ok := src.(store.Streamer); ok && opt.Streams >= 0 {
			var err error
			if rest, err = x.streamCopies(ctx, sr, rest, results); err != nil {
				return err
			}
		}
		return x.stage(ctx, rest, opt.TargetOps, results) // what could not stream
	}
	stages := []func() error{
		func() error { return x.deletes(ctx, p.Deletes, opt.TargetOps, results) },
		func() error {
			// Directories are made while the files copy: a file whose
			// directory is not made yet makes it on its way (the stores'
			// Stage does), and every directory's mode and mtime are set
			// last anyway. On EFS the 1,187 directories of a 2,000-file
			// copy took 0.5 s of 1.7 s, mostly waiting on the locks of a
			// few wide parents while the other workers idled. Unless an
			// entry of another type is in a directory's way: that goes
			// first, before a file could meet it.
			if slices.ContainsFunc(p.Dirs, func(a plan.Action) bool { return a.Replace }) {
				if err := x.mkdirs(ctx, p.Dirs, opt.TargetOps, results); err != nil {
					return err
				}
				return copies(ctx)
			}
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return x.mkdirs(gctx, p.Dirs, opt.TargetOps, results) })
			g.Go(func() error { return copies(gctx) })
			return g.Wait()
		},
		func() error {
			// A link takes its hash from its primary's result: wait until
			// the consumer has every copy's (it runs behind the copies).
			if len(p.Links) > 0 {
				b := make(chan struct{})
				select {
				case results <- Result{barrier: b}:
				case <-ctx.Done():
					return ctx.Err()
				}
				select {
				case <-b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return x.stage(ctx, p.Links, opt.TargetOps, results)
		},
		func() error { return x.stage(ctx, p.Meta, opt.TargetOps, results) },
	}
	var runErr error
	for _, run := range stages {
		if runErr = run(); runErr != nil {
			break
		}
	}
	if opt.Publish != nil {
		// Also after an error: every file written is whole, the others
		// were removed.
		if err := opt.Publish(context.WithoutCancel(ctx)); err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr == nil {
		if s, ok := dst.(store.Syncer); ok && len(p.Copies) > 0 {
			// The files are written: their write-back starts now, while
			// the directories' metadata is set, instead of at the record's
			// next sync, which then waits less (its error is that sync's).
			go s.Sync(context.WithoutCancel(ctx))
		}
		if opt.AfterCopies != nil {
			select {
			case results <- Result{then: opt.AfterCopies}:
			case <-ctx.Done():
			}
		}
		runErr = x.dirMeta(ctx, p, results)
	}
	close(results)
	<-recDone
	if recErr != nil {
		return recErr
	}
	if c := context.Cause(ctx); runErr == nil && c != nil && !errors.Is(c, context.Canceled) {
		runErr = c
	}
	return runErr
}

type fileExec struct {
	src, dst store.Store
	opt      FileOptions
	limiter  *rate.Limiter
	mu       sync.Mutex
	// primaries holds the results of the files with other names (hard
	// links) written in this run, for their links.
	primaries map[string]primary
	// madeWhole holds the directories made in this run with their mode
	// and owner (store.DirMaker): at the end, only their mtime is set.
	madeWhole sync.Map
}

// primary is a hard-link primary's result: its content hash, and whether
// a --checksum copy left it as it was.
type primary struct {
	hash      string
	unchanged bool
}

// largestFirst sorts in place (a copy would double the plan's memory on
// trees of millions of files).
func largestFirst(as []plan.Action) []plan.Action {
	sort.SliceStable(as, func(i, j int) bool { return as[i].Entry.Size > as[j].Entry.Size })
	return as
}

// stage runs actions over at most limit workers. A fatal error cancels the
// stage and is returned.
func (x *fileExec) stage(ctx context.Context, actions []plan.Action, limit int, results chan<- Result) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, a := range actions {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			r := x.do(gctx, a)
			if r.Err != nil && (errs.KindOf(r.Err) == errs.Fatal || errs.Interrupted(r.Err)) {
				return r.Err
			}
			select {
			case results <- r:
			case <-gctx.Done():
				return gctx.Err()
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func (x *fileExec) mapped(e store.Entry) store.Entry { return MapOwner(e, x.opt.UIDMap, x.opt.GIDMap) }

// MapOwner is e with its uid and gid mapped as --chown-map and
// --chgrp-map say (unmapped ids stay).
func MapOwner(e store.Entry, uids, gids map[int]int) store.Entry {
	if v, ok := uids[int(e.UID)]; ok {
		e.UID = uint32(v)
	}
	if v, ok := gids[int(e.GID)]; ok {
		e.GID = uint32(v)
	}
	return e
}

// do executes one action with retries of retryable errors.
func (x *fileExec) do(ctx context.Context, a plan.Action) Result {
	var r Result
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		r = x.once(ctx, a)
		if r.Err == nil || errs.KindOf(r.Err) != errs.Retryable || attempt >= x.opt.Retries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			r.Err = ctx.Err()
			return r
		}
		backoff = min(backoff*2, 8*time.Second)
	}
	if ctx.Err() != nil && r.Err != nil {
		r.Err = ctx.Err()
	}
	if a.Kind != plan.Delete && a.Entry.Type != store.Dir {
		x.opt.Progress.FilesDone.Add(1) // the items FilesTotal counts: copies, links, metadata fixes
	}
	return r
}

func (x *fileExec) once(ctx context.Context, a plan.Action) Result {
	e := *a.Entry
	r := Result{Action: a, Entry: e, Hash: a.Hash()}
	switch a.Kind {
	case plan.Delete:
		r.Err = x.dst.Remove(ctx, e.Path)
	case plan.Mkdir:
		if a.Replace {
			if err := x.dst.Remove(ctx, e.Path); err != nil {
				r.Err = err
				return r
			}
		}
		if dm, ok := x.dst.(store.DirMaker); ok {
			var whole bool
			if whole, r.Err = dm.MakeDir(ctx, x.mapped(e), x.opt.Owner); whole {
				x.madeWhole.Store(e.Path, true)
			}
		} else {
			r.Err = x.dst.Mkdir(ctx, e.Path)
		}
	case plan.Symlink:
		r.Err = x.dst.Symlink(ctx, x.mapped(e), x.opt.Owner)
	case plan.SetMeta:
		if _, whole := x.madeWhole.Load(e.Path); whole && e.Type == store.Dir {
			r.Err = x.dst.(store.DirMaker).SetMtime(ctx, e.Path, e.ModTime) // its mode and owner since made
			break
		}
		if e.Type == store.Dir {
			r.Err = x.dst.Mkdir(ctx, e.Path)
		}
		if r.Err == nil {
			r.Err = x.dst.SetMeta(ctx, x.mapped(e), x.opt.Owner)
		}
	case plan.HardLink:
		r = x.link(ctx, a)
	case plan.Copy:
		r = x.copyFile(ctx, a)
	}
	return r
}

func (x *fileExec) link(ctx context.Context, a plan.Action) Result {
	l, ok := x.dst.(store.Linker)
	x.mu.Lock()
	p, known := x.primaries[a.LinkTo()] // copied in this run
	x.mu.Unlock()
	h, same := p.hash, p.unchanged
	known = known && h != "" // a name recorded without a hash would stay so
	if !known && a.Hash() != "" {
		h, known, same = a.Hash(), true, true // unchanged since a run recorded it
	}
	if known && same && a.SameMeta && a.IfHashDiffers() == h {
		// Neither the primary nor this name changed: still linked.
		return Result{Action: a, Entry: *a.Entry, Hash: h, Unchanged: true}
	}
	// Copied instead of linked, a name is recorded as not linked (Nlink
	// 1), so that the next run links it again.
	unlinked := *a.Entry
	unlinked.Nlink = 1
	if !ok || !known {
		return x.copyFile(ctx, plan.Action{Kind: plan.Copy, Entry: &unlinked})
	}
	err := l.Link(ctx, a.LinkTo(), a.Entry.Path)
	if errs.IsNotExist(err) {
		// The primary is gone from the target (removed there since):
		// this name gets the content itself.
		return x.copyFile(ctx, plan.Action{Kind: plan.Copy, Entry: &unlinked})
	}
	return Result{Action: a, Entry: *a.Entry, Hash: h, Err: err}
}

// copyFile copies one file, retrying when it changes while read.
func (x *fileExec) copyFile(ctx context.Context, a plan.Action) Result {
	e := *a.Entry
	for changed := 0; ; changed++ {
		r := x.copyOnce(ctx, a, e)
		if !errors.Is(r.Err, errChanged) {
			return r
		}
		if changed >= x.opt.ChangedRetries {
			r.Err = errs.Permanentf("%s: kept changing while being read (%d attempts)", e.Path, changed+1)
			return r
		}
		fresh, err := x.src.Lstat(ctx, e.Path)
		if errs.IsNotExist(err) {
			return Result{Action: a, Entry: e, Vanished: true}
		}
		if err != nil {
			return Result{Action: a, Entry: e, Err: err}
		}
		if fresh.Type != store.File {
			return Result{Action: a, Entry: e, Err: errs.Permanentf("%s: became a %v while being copied", e.Path, fresh.Type)}
		}
		fresh.Inode, fresh.Nlink = e.Inode, e.Nlink
		x.opt.Progress.BytesTotal.Add(fresh.Size - e.Size)
		e = fresh
	}
}

func (x *fileExec) sameAsListed(e, after store.Entry) bool {
	if after.Size != e.Size {
		return false
	}
	if x.opt.PreciseMtime {
		return after.ModTime == e.ModTime
	}
	return after.ModTime.Unix() == e.ModTime.Unix()
}

func (x *fileExec) copyOnce(ctx context.Context, a plan.Action, e store.Entry) Result {
	r := Result{Action: a, Entry: e}
	if want := a.IfHashDiffers(); want != "" {
		sum, after, err := x.hashSource(ctx, e, checksum.Sum(want).Algorithm())
		if err != nil {
			r.Err = x.srcErr(e, err)
			return r
		}
		if !x.sameAsListed(e, after) {
			r.Err = errChanged
			return r
		}
		if string(sum) == want {
			r.Hash = string(sum)
			if a.SameMeta {
				r.Unchanged = true
				return r
			}
			r.Err = x.dst.SetMeta(ctx, x.mapped(e), x.opt.Owner)
			return r
		}
	}
	var srcErr error
	st, sum, verified, err := x.writeFile(ctx, x.mapped(e), func(w io.Writer) (int64, checksum.Sum, error) {
		hw := checksum.NewWriter(checksum.Content, &progressWriter{w: w, x: x, ctx: ctx})
		after, err := x.src.ReadFile(ctx, e, hw)
		if err != nil {
			srcErr = err
			return hw.N, "", x.srcErr(e, err)
		}
		if hw.N != e.Size || !x.sameAsListed(e, after) {
			srcErr = errChanged
			return hw.N, "", errChanged
		}
		return hw.N, hw.Sum(), nil
	})
	if err != nil {
		if errors.Is(err, errChanged) || errors.Is(srcErr, errChanged) {
			r.Err = errChanged
			return r
		}
		if srcErr != nil && errs.IsNotExist(srcErr) {
			r.Vanished = true
			return r
		}
		r.Err = err
		return r
	}
	if r.Err = st.Commit(); r.Err != nil {
		return r
	}
	r.Hash, r.Bytes = string(sum), e.Size
	if verified {
		r.Verified = true
		return r
	}
	r.Verified, r.Err = x.verifyWritten(ctx, e, sum)
	return r
}

// verifyWritten reads back a file just written, when asked to, and
// compares it with the hash computed while it streamed from the source.
func (x *fileExec) verifyWritten(ctx context.Context, e store.Entry, sum checksum.Sum) (bool, error) {
	if !x.opt.Verify {
		return false, nil
	}
	got, err := store.HashStored(ctx, x.dst, x.mapped(e), sum.Algorithm())
	if err != nil {
		return false, errs.Retryablef("verify %s: %w", e.Path, err)
	}
	if got != sum {
		return false, corrupted(e, sum, got)
	}
	return true, nil
}

// corrupted says that e was read back other than it streamed.
func corrupted(e store.Entry, sum, got checksum.Sum) error {
	return errs.Retryablef("verify %s: corrupted on transfer: source %s, target %s", e.Path, sum, got)
}

func (x *fileExec) srcErr(e store.Entry, err error) error {
	if errs.KindOf(err) == errs.Fatal {
		// A full or read-only disk is the target's; the source can only fail per item.
		return err
	}
	return fmt.Errorf("read %s: %w", e.Path, err)
}

// hashSource hashes a source file with algo, the algorithm of the hash it
// is compared with.
func (x *fileExec) hashSource(ctx context.Context, e store.Entry, algo checksum.Algorithm) (checksum.Sum, store.Entry, error) {
	hw := checksum.NewWriter(algo, nil)
	after, err := x.src.ReadFile(ctx, e, &progressWriter{w: hw, x: x, ctx: ctx})
	return hw.Sum(), after, err
}

// progressWriter counts bytes and applies the bandwidth limit.
type progressWriter struct {
	w   io.Writer
	x   *fileExec
	ctx context.Context
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if err := p.x.account(p.ctx, len(b)); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

// bwBurst is what a cap of limit bytes a second lets through at once: a
// second's worth, at most 4 MiB.
func bwBurst(limit int64) int64 { return min(limit, 4<<20) }

// NewLimiter is the limiter of a cap of limit bytes a second.
func NewLimiter(limit int64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(limit), int(bwBurst(limit)))
}

// MinReadTime is the least time reading n bytes takes under a cap of limit
// bytes a second (0: none).
func MinReadTime(n, limit int64) time.Duration {
	if limit <= 0 || n <= bwBurst(limit) {
		return 0
	}
	return time.Duration(float64(n-bwBurst(limit)) / float64(limit) * float64(time.Second))
}

// account waits for the bandwidth limit to allow n bytes read from the
// source, and counts them in the progress.
func (x *fileExec) account(ctx context.Context, n int) error {
	if l := x.limiter; l != nil {
		for rest := n; rest > 0; {
			m := min(rest, l.Burst())
			if err := l.WaitN(ctx, m); err != nil {
				return err
			}
			rest -= m
		}
	}
	x.opt.Progress.BytesDone.Add(int64(n))
	return nil
}

// dirMeta applies directory metadata last, since writing inside a directory
// changes its mtime.
func (x *fileExec) dirMeta(ctx context.Context, p *plan.Files, results chan<- Result) error {
	actions := make([]plan.Action, len(p.DirMeta))
	for i := range p.DirMeta {
		actions[i] = plan.Action{Kind: plan.SetMeta, Entry: &p.DirMeta[i]}
	}
	return x.stage(ctx, actions, x.opt.TargetOps, results)
}
