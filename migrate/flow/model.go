package flow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate"
	"github.com/cutover/cutover/plan"
	"github.com/cutover/cutover/sync"
)

// filesModel predicts a file sync: listing costs PerEntry seconds per
// source entry, copying PerFile seconds per file plus PerByte per byte.
type filesModel struct {
	PerEntry float64 `json:"per_entry_s"`
	PerFile  float64 `json:"per_file_s"`
	PerByte  float64 `json:"per_byte_s"`
	Basis    string  `json:"basis"` // "history (N runs)" or "probe (…)"
}

func (m filesModel) estimate(scanned, files, bytes int64) float64 {
	return m.PerEntry*float64(scanned) + m.PerFile*float64(files) + m.PerByte*float64(bytes)
}

// fitFiles fits the model to the runs of a file set (newest last). It
// needs two runs that copied different mixes of file counts and bytes; it
// returns false otherwise. Runs that their cap on the read rate held back
// (see heldBack) are left out: they time the cap, not the copy.
func fitFiles(runs []state.Run) (filesModel, bool) {
	var ok []state.Run
	capped := 0
	for _, r := range runs {
		if r.Status == "ok" && r.FilesScanned > 0 && r.Duration > 0 {
			if heldBack(r) {
				capped++
				continue
			}
			ok = append(ok, r)
		}
	}
	if len(ok) > 6 {
		ok = ok[len(ok)-6:]
	}
	if len(ok) < 2 {
		return filesModel{}, false
	}
	m := filesModel{Basis: fmt.Sprintf("history (%d runs)", len(ok))}
	if capped > 0 {
		m.Basis = fmt.Sprintf("history (%d runs; %d held back by their bwlimit left out)", len(ok), capped)
	}
	// Listing and planning: what the run spent outside copying, per entry.
	var over, entries float64
	for _, r := range ok {
		over += math.Max(r.Duration-r.CopySeconds, 0)
		entries += float64(r.FilesScanned)
	}
	m.PerEntry = over / entries
	// Copying: least squares of copy_s = PerFile·files + PerByte·bytes,
	// without intercept and never negative.
	var sff, sfb, sbb, sft, sbt float64
	for _, r := range ok {
		f, b, t := float64(r.FilesCopied), float64(r.BytesCopied), r.CopySeconds
		sff += f * f
		sfb += f * b
		sbb += b * b
		sft += f * t
		sbt += b * t
	}
	det := sff*sbb - sfb*sfb
	if det > 1e-9*sff*sbb && det > 0 {
		m.PerFile = (sft*sbb - sbt*sfb) / det
		m.PerByte = (sbt*sff - sft*sfb) / det
	}
	if m.PerFile < 0 || m.PerByte < 0 || det <= 1e-9*sff*sbb {
		// Degenerate mix: one rate for both, per byte-equivalent of a file.
		var work, secs float64
		for _, r := range ok {
			work += float64(r.BytesCopied) + float64(r.FilesCopied)*fileBytesEquivalent
			secs += r.CopySeconds
		}
		if work == 0 {
			return filesModel{}, false
		}
		m.PerByte = secs / work
		m.PerFile = m.PerByte * fileBytesEquivalent
	}
	return m, true
}

// heldBack says a run's cap on its read rate (a rehearsal's
// rehearsal_bwlimit, --bwlimit) slowed its copy: it read at half the cap
// or more on average, so the cap bound for much of the time.
func heldBack(r state.Run) bool {
	return r.BWLimit > 0 && r.CopySeconds > 0 && float64(r.BytesCopied)/r.CopySeconds >= float64(r.BWLimit)/2
}

// cappedEstimate is a copy's estimate under a cap on its read rate (0:
// none): no faster than the listing plus the bytes at the cap.
func (m filesModel) cappedEstimate(scanned, files, bytes, limit int64) float64 {
	est := m.estimate(scanned, files, bytes)
	if limit > 0 {
		est = math.Max(est, m.PerEntry*float64(scanned)+migrate.MinReadTime(bytes, limit).Seconds())
	}
	return est
}

// fileBytesEquivalent weighs one file's fixed cost in bytes when the runs
// cannot tell per-file and per-byte costs apart: the probe measures it.
var fileBytesEquivalent float64 = 64 << 10

// probeFiles measures a file set: a partial listing of the source, then a
// few small and a few large files copied into a scratch directory at the
// target, which is removed. It only reads the source.
func probeFiles(ctx context.Context, o sync.FilesOptions) (filesModel, error) {
	src, err := openStore(ctx, o.Source, o, false)
	if err != nil {
		return filesModel{}, err
	}
	defer src.Close()
	const want = 400
	var sample []store.Entry
	t0 := time.Now()
	listed := 0
	stop := errors.New("enough")
	err = src.Walk(ctx, func(e store.Entry) error {
		listed++
		if e.Type == store.File && o.Filter.Included(e.Path, false) {
			sample = append(sample, e)
		}
		if listed >= 5000 || len(sample) >= want {
			return stop
		}
		return nil
	}, func(string, error) {})
	if err != nil && !errors.Is(err, stop) {
		return filesModel{}, err
	}
	listS := time.Since(t0).Seconds()
	m := filesModel{PerEntry: listS / math.Max(float64(listed), 1)}
	if len(sample) == 0 {
		m.Basis = "probe (no files)"
		return m, nil
	}
	anc := existingAncestor(o.Target)
	dst, err := openStore(ctx, anc, o, false)
	if err != nil {
		return filesModel{}, err
	}
	defer dst.Close()
	scratch := fmt.Sprintf(".cutover-probe-%d", os.Getpid())
	defer removeScratch(context.WithoutCancel(ctx), dst, scratch)
	sampleCopy := func(dir string, files []store.Entry) (float64, int64, error) {
		if _, ok := dst.(*store.Local); ok {
			return copyAsSync(ctx, src, filepath.Join(anc, scratch, dir), files, o)
		}
		return copySample(ctx, src, dst, scratch+"/"+dir, files, o.Workers)
	}
	// Small files give the per-file cost, the largest ones the byte rate,
	// one file what each copy costs whatever it holds (a remote shell for
	// its tar stream, a syncfs), which is taken off the other two. Copied
	// one at a time by SFTP requests, the probe measured latency and SFTP
	// where a sync gets parallel tar streams: it predicted 101 s for a
	// first copy that took 14 s.
	//
	// The very first copy, untimed, opens what a sync opens once and
	// flushes with its syncfs what others left dirty on the target's
	// filesystem (0.68 s in bench-plan, just after pgbench wrote 750 MB:
	// more than the other copies took together).
	small, big := splitSample(sample)
	var warm, one []store.Entry
	if len(small) >= 2 {
		warm, one, small = small[:1], small[1:2], small[2:]
	}
	if _, _, err := sampleCopy("w", warm); err != nil {
		return filesModel{}, err
	}
	t1, _, err := sampleCopy("1", one)
	if err != nil {
		return filesModel{}, err
	}
	ts, bs, err := sampleCopy("s", small)
	if err != nil {
		return filesModel{}, err
	}
	tb, bb, err := sampleCopy("b", big)
	if err != nil {
		return filesModel{}, err
	}
	ns, nb := float64(len(small)), float64(len(big))
	if ts1, tb1 := ts-t1, tb-t1; ts1 > 0 && tb1 > 0 {
		if det := ns*float64(bb) - nb*float64(bs); det > 0 {
			m.PerFile = (ts1*float64(bb) - tb1*float64(bs)) / det
			m.PerByte = (ns*tb1 - nb*ts1) / det
		}
	}
	if m.PerFile <= 0 || m.PerByte <= 0 {
		// The two samples cannot be told apart: the byte rate of the large
		// files, and what is left of the small ones' time per file.
		m.PerByte = tb / math.Max(float64(bb), 1)
		m.PerFile = math.Max(ts-m.PerByte*float64(bs), 0) / math.Max(ns, 1)
	}
	if m.PerFile > 0 && m.PerByte > 0 {
		fileBytesEquivalent = m.PerFile / m.PerByte
	}
	m.Basis = fmt.Sprintf("probe (%d entries listed, %d small files, %d large files, %d bytes)", listed, len(small), len(big), bs+bb)
	return m, nil
}

func splitSample(s []store.Entry) (small, big []store.Entry) {
	var bigBytes int64
	for _, e := range s {
		switch {
		case e.Size < 64<<10 && len(small) < 240:
			small = append(small, e)
		case e.Size >= 64<<10 && e.Size <= 64<<20 && bigBytes < 64<<20: // a file of gigabytes would make the probe a copy
			big = append(big, e)
			bigBytes += e.Size
		}
	}
	return small, big
}

// copyAsSync copies files into the directory dir (created, local) with the
// engine and options of a sync: tar streams from a source that has them,
// its workers and the operations in flight of its target, the read-back,
// one syncfs. It returns how long that took and the bytes it copied.
func copyAsSync(ctx context.Context, src store.Store, dir string, files []store.Entry, o sync.FilesOptions) (float64, int64, error) {
	if len(files) == 0 {
		return 0, 0, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	dst := store.NewLocal(dir)
	dst.BatchSync = true
	es := slices.Clone(files)
	plan.SortEntries(es)
	p, err := plan.Diff(es, func(func(plan.Prev) error) error { return nil }, false, plan.Options{Empty: true})
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	var n int64
	err = migrate.Files(ctx, src, dst, p, migrate.FileOptions{Workers: o.Workers, TargetOps: sync.InFlight(dst, o.Workers),
		Verify: o.Verify != "none", Streams: o.Streams}, func(r migrate.Result) error {
		if r.Err == nil && r.Action.Kind == plan.Copy {
			n += r.Bytes // a file that changed or vanished is left out: the sample goes on
		}
		return nil
	})
	if err == nil {
		err = dst.Sync(ctx)
	}
	return time.Since(t0).Seconds(), n, err
}

// copySample copies files into dir at the target, each synced, up to
// workers at once (as an index ship does, and a file sync to a target that
// copyAsSync cannot stand in for), and returns how long that took and the
// bytes it copied. One at a time, a probe measured latency where a copy
// gets throughput.
func copySample(ctx context.Context, src, dst store.Store, dir string, files []store.Entry, workers int) (float64, int64, error) {
	t0 := time.Now()
	var n atomic.Int64
	var g errgroup.Group
	g.SetLimit(max(workers, 1))
	for i, e := range files {
		g.Go(func() error {
			pe := store.Entry{Path: fmt.Sprintf("%s/%d", dir, i), Type: store.File, Size: e.Size, Mode: 0o600, ModTime: e.ModTime}
			if err := store.CopyFile(ctx, src, e, dst, pe); err == nil {
				n.Add(e.Size) // a file that changed or vanished is left out: the sample goes on
			}
			return nil
		})
	}
	g.Wait()
	return time.Since(t0).Seconds(), n.Load(), ctx.Err()
}

func removeScratch(ctx context.Context, st store.Store, dir string) {
	var files, dirs []string
	dr, ok := st.(store.DirReader)
	if !ok {
		return
	}
	var walk func(string)
	walk = func(d string) {
		ents, err := dr.ReadDir(ctx, d)
		if err != nil {
			return
		}
		dirs = append(dirs, d)
		for _, e := range ents {
			if e.Type == store.Dir {
				walk(e.Path)
			} else {
				files = append(files, e.Path)
			}
		}
	}
	walk(dir)
	for _, f := range files {
		st.Remove(ctx, f)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		st.Remove(ctx, dirs[i])
	}
}

// existingAncestor returns a local target itself when it exists, else its
// nearest existing parent, so that a probe creates nothing that stays
// behind. Remote targets are returned as they are.
func existingAncestor(target string) string {
	loc, err := store.ParseLocation(target)
	if err != nil || loc.Scheme != "local" {
		return target
	}
	p := loc.Path
	for {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func openStore(ctx context.Context, arg string, o sync.FilesOptions, create bool) (store.Store, error) {
	loc, err := store.ParseLocation(arg)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, loc, o.SSH, create)
}

// dbModel predicts a database part (copy and verify together) in seconds
// per byte of the data that bounds the parallel copy: the largest table, or
// the total spread over the jobs, whichever is more.
type dbModel struct {
	PerByte float64 `json:"per_byte_s"`
	Fixed   float64 `json:"fixed_s"` // schema, sequences, connections
	Basis   string  `json:"basis"`
}

func parBytes(total, largest int64, jobs int) int64 {
	return max(largest, total/int64(max(jobs, 1)))
}

func (m dbModel) estimate(par int64) float64 { return m.Fixed + m.PerByte*float64(par) }

// fitParts fits seconds per byte (plus a fixed cost) to earlier flow parts
// of one kind and name; it needs two runs.
func fitParts(flows []state.FlowRun, kind, name string) (perByte, fixed float64, n int, ok bool) {
	var xs, ys []float64
	for _, f := range flows {
		for _, p := range f.Parts {
			if p.Kind == kind && p.Name == name && p.Status == "ok" && p.ActualS > 0 {
				xs = append(xs, float64(p.Bytes))
				ys = append(ys, p.ActualS)
			}
		}
	}
	if len(xs) > 6 {
		xs, ys = xs[len(xs)-6:], ys[len(ys)-6:]
	}
	if len(xs) == 0 {
		return 0, 0, 0, false
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(xs))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	last := len(xs) - 1
	switch {
	case len(xs) >= 2 && sxx > 0.01*mx*mx && sxy > 0:
		perByte = sxy / sxx
		fixed = math.Max(my-perByte*mx, 0)
	case xs[last] > 0:
		// One run, or runs of the same size: the latest is the best guide,
		// since it ran under the load of a rehearsal like the next one (the
		// first copied every file at the same time).
		perByte = ys[last] / xs[last]
	default:
		fixed = ys[last]
	}
	return perByte, fixed, len(xs), true
}
