package sync

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/spill"
	"github.com/cutover/cutover/internal/store"
)

// VerifyFiles runs `files verify`: it lists both sides as they are now,
// hashes every file on both, and lists every difference. It writes nothing.
func VerifyFiles(ctx context.Context, o FilesOptions) (*FilesReport, error) {
	rep := &FilesReport{Command: "files verify", Source: o.Source, Target: o.Target, Outcome: report.Started(),
		Verify: VerifyStats{Mode: "all"}}
	logMemoryCap(&o)
	err := watched(ctx, o.StallTimeout, o.logf, func(ctx context.Context) error { return verifyFiles(ctx, o, rep) })
	if err == nil && (rep.Verify.MismatchedCount > 0 || rep.Files.FailedCount > 0) {
		err = partial(rep)
	}
	if rep.Verify.MismatchedCount > 0 {
		// A sync trusts its record and would not redo an entry changed at
		// the target since; with --delete or --verify all it reads the
		// target and does (see drift).
		o.logf("%d entries differ: `cutover files sync` with --delete or --verify all, and this state, redoes what changed at the target since it was written", rep.Verify.MismatchedCount)
	}
	rep.Memory = memoryUse()
	rep.Finish(err)
	return rep, err
}

func verifyFiles(ctx context.Context, o FilesOptions, rep *FilesReport) error {
	src, dst, err := openStores(ctx, &o, false)
	if err != nil {
		return err
	}
	defer src.Close()
	defer dst.Close()
	defer countLost(rep, src, dst)
	rep.Source, rep.Target = src.String(), dst.String()
	rep.Verify.ReadFrom = readFrom(dst)
	var se []store.Entry
	var sl, te *spill.Sorted // the listings, read once in path order
	held := o.held()
	g, gctx := errgroup.WithContext(ctx)
	t0 := time.Now()
	g.Go(func() (err error) {
		se, sl, err = listSource(gctx, src, &o.Filter, rep, 0, held, spillDir(o.StateDir))
		rep.Throughput.ListS = time.Since(t0).Seconds()
		return
	})
	tr := &FilesReport{}
	g.Go(func() (err error) {
		te, err = listSorted(gctx, dst, &o.Filter, tr, spillDir(o.StateDir))
		rep.Throughput.TargetListS = time.Since(t0).Seconds()
		return
	})
	err = g.Wait()
	defer te.Close()
	defer sl.Close()
	if err != nil {
		return stateDiskFull(o.StateDir, err)
	}
	if sl == nil {
		sl = spill.Of(se)
	}
	rep.Lister = listerOf(src)
	rep.Files.Scanned = int64(sl.Len())
	mc, lc := newMetaCheck(&o), newLinkCheck()
	rep.Verify.Compared = mc.compared()
	verifyRoot(ctx, src, dst, mc, rep)
	c := &progress.Counter{Unit: "hashes"}
	disp := progress.Start(o.Log, "verify", c, o.LogInterval)
	defer disp.Stop()
	stallOf(ctx).watch(c)
	algo := verifyHash(ctx, src, dst)
	rep.Hash = string(algo)
	// The files whose content is compared are hashed a batch at a time:
	// all at once when the source's listing is held, else as many as a
	// range of a sync holds.
	batchMax := partEntries(held)
	if sl.Runs() == 0 {
		batchMax = sl.Len()
	}
	var both []*store.Entry      // files whose content is compared, this batch
	bothMeta := map[int]string{} // how those of both differ in metadata, by index
	var compared, heldCompared int
	var hashS float64
	hash := func() error {
		if len(both) == 0 {
			return nil
		}
		if n := len(both) - heldCompared; n > 0 {
			if err := hold(int64(n)*bytesPerCompared, 0); err != nil {
				return fmt.Errorf("compare %d files: %w", len(both), err)
			}
			heldCompared = len(both)
		}
		t1 := time.Now()
		err := compareHashes(ctx, src, dst, both, bothMeta, algo, max(o.Workers, 1), c, rep)
		hashS += time.Since(t1).Seconds()
		compared += len(both)
		clear(both)
		both = both[:0]
		clear(bothMeta)
		return err
	}
	tc := te.Cursor()
	more := tc.Next()
	sc := sl.Cursor()
	for sc.Next() {
		e := sc.Entry()
		rep.Files.BytesTotal += e.Size
		for more && tc.Entry().Path < e.Path {
			rep.mismatch(tc.Entry().Path, "only at the target")
			more = tc.Next()
		}
		if !more || tc.Entry().Path != e.Path {
			rep.mismatch(e.Path, "missing at the target")
			continue
		}
		t := *tc.Entry()
		more = tc.Next()
		md := joined(mc.diff(*e, t, "at the source"), lc.diff(*e, t, "at the source"))
		switch {
		case t.Type != e.Type:
			rep.mismatch(e.Path, fmt.Sprintf("source is a %v, target a %v", e.Type, t.Type))
		case e.Type == store.Symlink && e.Target != t.Target:
			rep.mismatch(e.Path, fmt.Sprintf("symlink target %q at the source, %q at the target", e.Target, t.Target))
		case e.Type == store.File && e.Size != t.Size:
			rep.mismatch(e.Path, fmt.Sprintf("size %d at the source, %d at the target", e.Size, t.Size))
		case e.Type == store.File && sampled(e.Path, o.VerifySample):
			if len(both) == batchMax {
				if err := hash(); err != nil {
					return err
				}
			}
			if md != "" {
				bothMeta[len(both)] = md
			}
			if sl.Runs() > 0 {
				kept := *e // the cursor's, until it moves on
				e = &kept
			}
			both = append(both, e)
			c.BytesTotal.Add(2 * e.Size)
			c.FilesTotal.Add(2)
		case md != "":
			rep.mismatch(e.Path, md)
		default: // present, same type, size, link target and metadata (a file's content not sampled)
			rep.Verify.Checked++
		}
	}
	for ; more; more = tc.Next() {
		rep.mismatch(tc.Entry().Path, "only at the target")
	}
	err = errors.Join(sc.Err(), tc.Err())
	if err == nil {
		err = hash()
	}
	if mc.owner && len(o.UIDMap)+len(o.GIDMap) == 0 && rep.Verify.MismatchedCount > 0 && strings.Contains(rep.Verify.Mismatched[0].Reason, "owner ") {
		o.logf("owners differ: if the sync ran with --chown-map or --chgrp-map, give verify the same maps")
	}
	// For `files verify` the "copy" phase is the hashing of both sides,
	// and its rates are of the files compared (each hashed twice).
	rep.Throughput.CopyS = hashS
	if hashS > 0 {
		rep.Throughput.BytesPerS = float64(c.BytesTotal.Load()/2) / hashS
		rep.Throughput.FilesPerS = float64(compared) / hashS
	}
	return err
}

// verifyRoot compares the roots' own metadata, which a sync mirrors (as
// rsync -a does for "src/ dst/"): a Jira container must own its shared
// home's root too. Stores that cannot tell are not compared.
func verifyRoot(ctx context.Context, src, dst store.Store, mc metaCheck, rep *FilesReport) {
	sr, ok := src.(store.RootMeta)
	dr, ok2 := dst.(store.RootMeta)
	if !ok || !ok2 {
		return
	}
	want, err := sourceRoot(ctx, src, sr)
	at, err2 := dr.StatRoot(ctx)
	if err = errors.Join(err, err2); err != nil {
		rep.fail(".", "the roots' mode, owner and mtime: "+err.Error())
	} else if md := mc.diff(want, at, "at the source"); md != "" {
		rep.mismatch(".", "the root: "+md)
	}
}

// verifyHash picks the hash of `files verify`: BLAKE3 (twice SHA-256's
// speed here, and b3sum's on a host), unless a side hashes on its host and
// has no b3sum: SHA-256 then, which openssl or sha256sum computes there.
// Both are cryptographic.
func verifyHash(ctx context.Context, src, dst store.Store) checksum.Algorithm {
	for _, s := range []store.Store{src, dst} {
		if h, ok := s.(store.Hasher); ok && h.FastestHash(ctx) != checksum.BLAKE3 {
			return checksum.SHA256
		}
	}
	return checksum.BLAKE3
}

// compareHashes hashes files on both sides at once with algo (on the
// remote host where the store can, reading the rest), counting each hash
// in c, and records differences: in content, and those in metadata that
// meta gives (by index in files).
func compareHashes(ctx context.Context, src, dst store.Store, files []*store.Entry, meta map[int]string, algo checksum.Algorithm, workers int, c *progress.Counter, rep *FilesReport) error {
	var sh, dh *hashed
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { sh, err = hashSide(gctx, src, files, algo, workers, c); return })
	g.Go(func() (err error) { dh, err = hashSide(gctx, dst, files, algo, workers, c); return })
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if rep.hashing == nil {
		rep.hashing = map[string]*hashing{"source": {}, "target": {}}
	}
	rep.hashing["source"].add(sh.how)
	rep.hashing["target"].add(dh.how)
	rep.Verify.HashedBy = map[string]string{"source": rep.hashing["source"].String(), "target": rep.hashing["target"].String()}
	for i, e := range files {
		rep.Verify.Checked++
		serr, derr := sh.fails[i], dh.fails[i]
		var d []string
		if serr == nil && derr != nil {
			d = append(d, "hash target: "+derr.Error())
		} else if serr == nil && sh.sums[i] != dh.sums[i] {
			d = append(d, fmt.Sprintf("content differs: source %s, target %s", sh.sum(i), dh.sum(i)))
		}
		if md := meta[i]; md != "" {
			d = append(d, md)
		}
		switch {
		case serr != nil:
			rep.fail(e.Path, "hash source: "+serr.Error())
		case len(d) > 0:
			rep.mismatch(e.Path, strings.Join(d, "; "))
		}
	}
	return nil
}

// hashed is what hashSide found: each file's hash or error, and how the
// side was hashed ("20008 on its host (20008 by openssl dgst), 2 read from
// the SFTP server"). A hash is kept as its bytes (32 for SHA-256 and
// BLAKE3) and errors apart: 32 bytes a file, where a checksum.Sum ("blake3:"
// and 64 hex digits) and a nil error took 112, on each side.
type hashed struct {
	algo  checksum.Algorithm
	size  int // of a digest
	sums  [][32]byte
	mu    gosync.Mutex
	fails map[int]error
	how   hashing
}

// hashing is how a side's files were hashed, over the batches of a run:
// "20008 on its host (20008 by openssl dgst), 2 read from the SFTP server".
type hashing struct {
	onHost int
	by     string // what the host hashed with
	failed string // why the host hashed none, when it did not
	here   int
	from   string // where the files hashed here were read from
}

func (h *hashing) add(b hashing) {
	h.onHost += b.onHost
	h.here += b.here
	if b.by != "" {
		h.by = b.by
	}
	if b.failed != "" {
		h.failed = b.failed
	}
	h.from = b.from
}

func (h *hashing) String() string {
	var how []string
	switch {
	case h.onHost > 0 && h.by != "":
		how = append(how, fmt.Sprintf("%d on its host (%s)", h.onHost, h.by))
	case h.onHost > 0:
		how = append(how, fmt.Sprintf("%d on its host", h.onHost))
	case h.failed != "":
		how = append(how, "none on its host ("+h.failed+")")
	}
	if h.here > 0 || len(how) == 0 {
		how = append(how, fmt.Sprintf("%d read from %s", h.here, h.from))
	}
	return strings.Join(how, ", ")
}

func newHashed(algo checksum.Algorithm, n int) *hashed {
	return &hashed{algo: algo, size: checksum.New(algo).Size(), sums: make([][32]byte, n), fails: map[int]error{}}
}

// set records file i's hash or error.
func (h *hashed) set(i int, sum checksum.Sum, err error) {
	if err == nil {
		_, hexd, _ := strings.Cut(string(sum), ":")
		if len(hexd) != 2*h.size || sum.Algorithm() != h.algo {
			err = fmt.Errorf("not a %s hash: %q", h.algo, sum)
		} else if _, derr := hex.Decode(h.sums[i][:], []byte(hexd)); derr != nil {
			err = fmt.Errorf("not a %s hash: %q", h.algo, sum)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.fails[i] = err
	} else {
		delete(h.fails, i) // a failed remote hashing's, replaced by a read here
	}
}

// sum is file i's hash, written as a checksum.Sum.
func (h *hashed) sum(i int) checksum.Sum { return checksum.Make(h.algo, h.sums[i][:h.size]) }

// hashSide hashes files on s with algo: on its host where s can (a
// Hasher), reading the rest here, up to workers at once; each hash is
// counted in c. A file that cannot be read has its error in fails.
func hashSide(ctx context.Context, s store.Store, files []*store.Entry, algo checksum.Algorithm, workers int, c *progress.Counter) (*hashed, error) {
	h := newHashed(algo, len(files))
	read := make([]bool, len(files)) // hashed by reading the file here
	for i := range read {
		read[i] = true
	}
	if hs, ok := s.(store.Hasher); ok {
		paths := make([]string, len(files))
		for i, e := range files {
			paths[i] = e.Path
		}
		var n, bytes atomic.Int64
		err := hs.HashFiles(ctx, paths, algo, func(i int, sum checksum.Sum, err error) {
			if errors.Is(err, store.ErrNoExec) {
				return // not hashed there: read below
			}
			read[i] = false
			h.set(i, sum, err)
			n.Add(1)
			bytes.Add(files[i].Size)
			c.FilesDone.Add(1)
			c.BytesDone.Add(files[i].Size)
		})
		if err != nil {
			for i := range read {
				read[i] = true // whatever a failed remote hashing left is replaced
			}
			c.FilesDone.Add(-n.Load())
			c.BytesDone.Add(-bytes.Load())
			h.how.failed = err.Error()
		} else if n.Load() > 0 {
			h.how.onHost = int(n.Load())
			if by, ok := s.(interface{ HashedBy() string }); ok {
				h.how.by = by.HashedBy()
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	here := 0
	for i, e := range files {
		if !read[i] {
			continue
		}
		here++
		g.Go(func() error {
			sum, err := store.HashStored(gctx, s, *e, algo)
			c.FilesDone.Add(1)
			c.BytesDone.Add(e.Size)
			h.set(i, sum, err)
			return nil
		})
	}
	h.how.here, h.how.from = here, readFrom(s)
	return h, g.Wait()
}

// entryPointers points at each of files.
func entryPointers(files []store.Entry) []*store.Entry {
	ps := make([]*store.Entry, len(files))
	for i := range files {
		ps[i] = &files[i]
	}
	return ps
}

// sampled picks a fixed fraction of the paths (all when fraction is 0 or
// 1), the same paths on every run, so that reruns check the same files.
func sampled(p string, fraction float64) bool {
	if fraction <= 0 || fraction >= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(p))
	return float64(h.Sum64()%1_000_000) < fraction*1_000_000
}
