package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// Ship runs `index ship SRC DST`: each index at or below src is installed
// at the same relative path below dst, moving only the files that differ.
func Ship(ctx context.Context, src, dst string, o Options) (*Report, error) {
	rep := newReport("index ship", src, dst)
	err := shipAll(ctx, src, dst, o, false, rep)
	return rep, rep.finish(err)
}

// Repair runs `index repair SRC DST`: verify --full on dst, ship what is
// damaged, missing or different from the healthy src, verify --full again.
func Repair(ctx context.Context, src, dst string, o Options) (*Report, error) {
	rep := newReport("index repair", src, dst)
	rep.Full = true
	err := shipAll(ctx, src, dst, o, true, rep)
	return rep, rep.finish(err)
}

func shipAll(ctx context.Context, src, dst string, o Options, repair bool, rep *Report) error {
	sp, err := openPlace(ctx, src, o.ssh(), false)
	if err != nil {
		return err
	}
	defer sp.Close()
	dp, err := openPlace(ctx, dst, o.ssh(), !o.DryRun)
	if err != nil {
		return err
	}
	defer dp.Close()
	rels, err := findIndexes(ctx, sp)
	if err != nil {
		return err
	}
	counter := &progress.Counter{}
	disp := progress.Start(o.Log, "ship", counter, o.LogInterval)
	defer disp.Stop()
	failed := false
	err = rep.eachIndex(rels, func(rel string, res *Result) error {
		j := &job{o: o, sp: sp, dp: dp, rel: rel, repair: repair, res: res, counter: counter}
		err := j.run(ctx)
		failed = failed || err != nil || len(res.Problems) > 0
		return err
	})
	if err != nil {
		return err
	}
	if !failed && !o.DryRun {
		return shipJournalMarker(ctx, sp, dp, rep)
	}
	return nil
}

// journalMarker is where Confluence records how far its index has applied
// the journal: <local-home>/journal/main_index, beside <local-home>/index.
// An index that travels without it is re-indexed from the wrong point.
const journalMarker = "journal/main_index"

// shipJournalMarker copies Confluence's journal marker along with an index
// directory named "index", once every index of it was installed.
func shipJournalMarker(ctx context.Context, sp, dp *place, rep *Report) error {
	if sp.Base != "index" {
		return nil
	}
	e, err := sp.St.Lstat(ctx, journalMarker)
	if err != nil || e.Type != store.File {
		return nil // not Confluence, or no marker: nothing to carry
	}
	to := e
	to.Mode = 0o644
	if err := store.CopyFile(ctx, sp.St, e, dp.St, to); err != nil {
		return fmt.Errorf("copy Confluence's %s: %w", journalMarker, err)
	}
	rep.JournalMarker = journalMarker
	return nil
}

// job ships one index.
type job struct {
	o       Options
	sp, dp  *place
	rel     string
	repair  bool
	res     *Result
	counter *progress.Counter

	src, dst, stage, prev dirFS
	six                   *lucene.Index
	sums                  map[string]string // SHA-256 of source files without footers
	mu                    sync.Mutex
}

// maxSourceRetries bounds how often a ship starts over because a merge on
// the live source removed a file of the commit being shipped.
const maxSourceRetries = 5

func (j *job) run(ctx context.Context) error {
	j.src = dirFS{j.sp.St, j.sp.dir(j.rel)}
	d := j.dp.dir(j.rel)
	j.dst, j.stage, j.prev = dirFS{j.dp.St, d}, dirFS{j.dp.St, d + stagingSuffix}, dirFS{j.dp.St, d + previousSuffix}
	if !j.o.DryRun {
		if err := checkWriteLock(ctx, j.dp, d, j.o.Force, j.res); err != nil {
			return err
		}
	}
	var damaged map[string]bool
	if j.repair {
		before := newResult(j.rel)
		if err := verifyOne(ctx, j.dst, true, j.o.workers(), &progress.Counter{}, before); err != nil && !errors.Is(err, lucene.ErrNoCommit) {
			if errs.Interrupted(err) || errs.KindOf(err) == errs.Fatal {
				return err
			}
		}
		j.res.Before = before.Problems
		damaged = map[string]bool{}
		for _, p := range before.Problems {
			damaged[p.File] = true
		}
	}
	for attempt := 1; ; attempt++ {
		err := j.ship(ctx, damaged)
		if !errors.Is(err, errSourceMoved) || attempt == maxSourceRetries {
			if errors.Is(err, errSourceMoved) {
				return errs.Permanentf("%s: the source index kept changing under %d attempts (a merge removed files being shipped): %w", j.rel, attempt, err)
			}
			return err
		}
		j.o.logf("index %s: the source committed while shipping (%v); starting over from its new commit", j.res.Index, err)
	}
}

// errSourceMoved says a file of the source commit vanished: a merge on the
// live source committed and deleted it.
var errSourceMoved = errors.New("source commit changed")

// loadSource loads the source's latest commit, retrying when a live
// writer's merge removes files between the listing and the reads.
func (j *job) loadSource(ctx context.Context) (*lucene.Index, error) {
	for attempt := 1; ; attempt++ {
		ix, err := loadIndex(ctx, j.src, "source "+j.res.Index)
		missing := err != nil && errors.Is(err, fs.ErrNotExist)
		if err == nil {
			for _, f := range ix.Problems() {
				missing = missing || f.Problem == "missing"
			}
		}
		if missing && attempt < maxSourceRetries {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, err
		}
		if ps := ix.Problems(); len(ps) > 0 {
			return nil, errs.Permanentf("source index %s is damaged, refusing to ship it: %s: %s (run `cutover index verify --full` on the source)", j.res.Index, ps[0].Name, ps[0].Problem)
		}
		return ix, nil
	}
}

// ship plans and installs one index once.
func (j *job) ship(ctx context.Context, damaged map[string]bool) error {
	six, err := j.loadSource(ctx)
	if err != nil {
		return err
	}
	j.six, j.sums = six, map[string]string{}
	res := j.res
	res.describe(six)
	res.Counts = Counts{}
	res.Shipped, res.Retired = nil, nil
	for _, f := range six.Files {
		res.FilesTotal++
		res.BytesTotal += f.Size
	}
	dstNames, err := listOrEmpty(ctx, j.dst)
	if err != nil {
		return fmt.Errorf("list target: %w", err)
	}
	stageNames, err := listOrEmpty(ctx, j.stage)
	if err != nil {
		return fmt.Errorf("list staging: %w", err)
	}
	p, err := j.plan(ctx, dstNames, stageNames, damaged)
	if err != nil {
		return err
	}
	res.FilesReused = len(p.reuse)
	if j.o.DryRun {
		for _, f := range append(p.send, p.staged...) {
			res.FilesShipped++
			res.BytesShipped += f.Size
			res.Shipped = append(res.Shipped, f.Name)
		}
		return nil
	}
	if len(p.send)+len(p.staged) == 0 && dstCommit(dstNames) == six.Commit.Name {
		j.o.logf("index %s: up to date at %s (%d files reused)", res.Index, six.Commit.Name, len(p.reuse))
		return j.check(ctx)
	}
	j.counter.FilesTotal.Add(int64(len(p.send)))
	for _, f := range p.send {
		j.counter.BytesTotal.Add(f.Size)
	}
	if err := j.transfer(ctx, p.send); err != nil {
		return err
	}
	if err := j.install(ctx, append(p.send, p.staged...), dstNames); err != nil {
		return err
	}
	return j.check(ctx)
}

// dstCommit names the latest commit among the target's files.
func dstCommit(names map[string]int64) string {
	n, _ := lucene.LatestCommit(names)
	return n
}

func listOrEmpty(ctx context.Context, d dirFS) (map[string]int64, error) {
	m, err := d.List(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int64{}, nil
	}
	return m, err
}

type shipPlan struct {
	reuse, send, staged []lucene.File
}

// plan decides, per segment, what can stay: a segment's files are reused
// when every one of them is on the target with the same name, length,
// footer CRC, segment id and suffix (and, for repair, passed the full
// check); otherwise the whole segment is sent, from the staging directory
// when a killed run already put an identical copy there. Per-commit files
// (segments_N, .liv, update files) are decided one by one.
func (j *job) plan(ctx context.Context, dstNames, stageNames map[string]int64, damaged map[string]bool) (*shipPlan, error) {
	perCommit := j.six.PerCommit()
	groups := map[string][]lucene.File{}
	var keys []string
	for _, f := range j.six.Files {
		key := f.Segment
		if key == "" || perCommit[f.Name] {
			key = "file:" + f.Name
		}
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], f)
	}
	sort.Strings(keys)
	p := &shipPlan{}
	for _, k := range keys {
		all := true
		for _, f := range groups[k] {
			same, err := j.same(ctx, f, j.dst, dstNames)
			if err != nil {
				return nil, err
			}
			if !same || damaged[f.Name] {
				all = false
				break
			}
		}
		if all {
			p.reuse = append(p.reuse, groups[k]...)
			continue
		}
		for _, f := range groups[k] {
			staged, err := j.same(ctx, f, j.stage, stageNames)
			if err != nil {
				return nil, err
			}
			if staged {
				p.staged = append(p.staged, f)
			} else {
				p.send = append(p.send, f)
			}
		}
	}
	sort.Slice(p.send, func(a, b int) bool { return p.send[a].Size > p.send[b].Size })
	return p, nil
}

// same reports whether the file f of the source commit is present, identical,
// in the target directory d.
func (j *job) same(ctx context.Context, f lucene.File, d dirFS, names map[string]int64) (bool, error) {
	size, ok := names[f.Name]
	if !ok || size != f.Size {
		return false, nil
	}
	c := j.six.Commit
	if f.Segment == "" || !c.Footers() {
		// segments_N, and every file of a pre-4.8 index: compare content.
		a, err := j.sourceSum(ctx, f.Name)
		if err != nil {
			return false, err
		}
		b, err := sha256Of(ctx, d, f.Name)
		if err != nil {
			return false, nil
		}
		return a == b, nil
	}
	t := lucene.Stat(ctx, d, f.Name, size, c.IndexHeaders(), true)
	return t.Problem == "" && t.Footer && t.CRC == f.CRC && bytes.Equal(t.Header.ID, f.Header.ID) &&
		t.Header.Suffix == f.Header.Suffix && t.Header.Codec == f.Header.Codec, nil
}

func (j *job) sourceSum(ctx context.Context, name string) (string, error) {
	j.mu.Lock()
	s, ok := j.sums[name]
	j.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := sha256Of(ctx, j.src, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %s vanished", errSourceMoved, name)
		}
		return "", fmt.Errorf("read source %s: %w", name, err)
	}
	j.mu.Lock()
	j.sums[name] = s
	j.mu.Unlock()
	return s, nil
}

// transfer copies files from the source into the staging directory, each
// written under a temporary name, synced and renamed, its CRC32 (or SHA-256
// for files without footers) checked as it streams.
func (j *job) transfer(ctx context.Context, files []lucene.File) error {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, j.o.workers())
		mu    sync.Mutex
		first error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(f lucene.File) {
			defer func() { <-sem; wg.Done() }()
			err := j.sendOne(ctx, f)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
					cancel()
				}
				return
			}
			j.res.FilesShipped++
			j.res.BytesShipped += f.Size
			j.res.Shipped = append(j.res.Shipped, f.Name)
			j.counter.FilesDone.Add(1)
			if j.o.afterSend != nil {
				j.o.afterSend(f.Name)
			}
		}(f)
	}
	wg.Wait()
	return first
}

// maxAttempts bounds the retries of one file after a lost connection.
const maxAttempts = 4

func (j *job) sendOne(ctx context.Context, f lucene.File) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err = j.sendAttempt(ctx, f); err == nil || errs.KindOf(err) != errs.Retryable {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Duration(attempt*attempt) * 200 * time.Millisecond)
	}
	return err
}

func (j *job) sendAttempt(ctx context.Context, f lucene.File) error {
	footers := j.six.Commit.Footers()
	e := store.Entry{Path: j.stage.join(f.Name), Type: store.File, Size: f.Size, Mode: 0o644, ModTime: store.TimeOf(time.Now())}
	return j.dp.St.Put(ctx, e, false, func(w io.Writer) (int64, error) {
		crc := crc32.NewIEEE()
		needSum := f.Segment == "" || !footers // identity by content: segments_N, pre-4.8 files
		var sha hash.Hash
		var shaW io.Writer = io.Discard
		if needSum {
			sha = sha256.New()
			shaW = sha
		}
		cw := &checkWriter{w: w, crc: crc, sha: shaW, limit: f.Size - 8, progress: j.counter}
		_, err := j.sp.St.ReadFile(ctx, store.Entry{Path: j.src.join(f.Name), Type: store.File, Size: f.Size}, cw)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return cw.n, fmt.Errorf("%w: %s vanished", errSourceMoved, f.Name)
			}
			return cw.n, err
		}
		if cw.n != f.Size {
			return cw.n, errs.Retryablef("%s: read %d bytes, the commit's listing said %d", f.Name, cw.n, f.Size)
		}
		if footers && f.Segment != "" && crc.Sum32() != f.CRC {
			return cw.n, errs.Permanentf("%s: the source file does not match its own footer (CRC %08x, footer %08x): the source index is damaged",
				f.Name, crc.Sum32(), f.CRC)
		}
		if needSum {
			sum := hex.EncodeToString(sha.Sum(nil))
			want, err := j.sourceSum(ctx, f.Name)
			if err != nil {
				return cw.n, err
			}
			if sum != want {
				return cw.n, fmt.Errorf("%w: %s changed while shipped", errSourceMoved, f.Name)
			}
		}
		return cw.n, nil
	})
}

// checkWriter passes data on while computing the CRC32 of its first limit
// bytes (a file's footer CRC covers all but its last 8) and its SHA-256.
type checkWriter struct {
	w        io.Writer
	crc, sha io.Writer
	n, limit int64
	progress *progress.Counter
}

func (c *checkWriter) Write(p []byte) (int, error) {
	if c.n < c.limit {
		c.crc.Write(p[:min(int64(len(p)), c.limit-c.n)])
	}
	c.sha.Write(p)
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.progress.BytesDone.Add(int64(n))
	return n, err
}

// install switches the staged files into the index: data files first, then
// segments_N, each displacing a same-named file into <dir>.previous; then
// every file the new commit does not reference moves there too. Each staged
// file was fsynced by Put, and each rename fsyncs the directories it
// touches (on stores that can), so segments_N is durable only after every
// file it references. (A filesystem-wide syncfs would also flush unrelated
// dirty data, such as the source's fresh segments on a shared disk.)
func (j *job) install(ctx context.Context, staged []lucene.File, dstNames map[string]int64) error {
	st := j.dp.St
	if err := j.resetPrevious(ctx, dstNames); err != nil {
		return err
	}
	commit := j.six.Commit.Name
	sort.Slice(staged, func(a, b int) bool {
		if (staged[a].Name == commit) != (staged[b].Name == commit) {
			return staged[b].Name == commit
		}
		return staged[a].Name < staged[b].Name
	})
	ren := st.(store.Renamer)
	for _, f := range staged {
		if _, ok := dstNames[f.Name]; ok {
			if err := ren.Rename(ctx, j.dst.join(f.Name), j.prev.join(f.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("move aside %s: %w", f.Name, err)
			}
		}
		if err := ren.Rename(ctx, j.stage.join(f.Name), j.dst.join(f.Name)); err != nil {
			return fmt.Errorf("install %s: %w", f.Name, err)
		}
	}
	if err := j.retire(ctx); err != nil {
		return err
	}
	if !j.six.Commit.Footers() {
		if err := j.writeManifest(ctx); err != nil {
			return err
		}
	}
	if err := st.Remove(ctx, j.stage.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		j.res.Warnings = append(j.res.Warnings, fmt.Sprintf("could not remove %s: %v", j.stage.dir, err))
	}
	j.o.logf("index %s: installed %s (%d files shipped, %d reused, %d retired)", j.res.Index, commit, j.res.FilesShipped, j.res.FilesReused, j.res.FilesRetired)
	return nil
}

// resetPrevious empties <dir>.previous before a new install when the
// target's current commit is whole: it becomes the new rollback point.
// After an interrupted install the old rollback files are kept.
func (j *job) resetPrevious(ctx context.Context, dstNames map[string]int64) error {
	if _, ok := lucene.LatestCommit(dstNames); !ok {
		return nil
	}
	ix, err := lucene.Load(ctx, j.dst)
	if err != nil || len(ix.Problems()) > 0 {
		return nil
	}
	return removeDir(ctx, j.prev)
}

func removeDir(ctx context.Context, d dirFS) error {
	names, err := listOrEmpty(ctx, d)
	if err != nil {
		return err
	}
	for n := range names {
		if err := d.st.Remove(ctx, d.join(n)); err != nil {
			return fmt.Errorf("clear %s: %w", d.dir, err)
		}
	}
	if err := d.st.Remove(ctx, d.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear %s: %w", d.dir, err)
	}
	return nil
}

// keep reports whether a file that the commit does not reference stays in
// the index directory anyway.
func keep(name string) bool {
	return name == "write.lock" || name == manifestName || store.IsTemp(name)
}

// retire moves every file the new commit does not reference into
// <dir>.previous: older segments_N generations (Lucene opens the highest),
// segments.gen, and the segments a merge or the former index left.
func (j *job) retire(ctx context.Context) error {
	names, err := j.dst.List(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, f := range j.six.Files {
		want[f.Name] = true
	}
	var gone []string
	for n := range names {
		if !want[n] && !keep(n) {
			gone = append(gone, n)
		}
	}
	sort.Strings(gone)
	for _, n := range gone {
		if err := j.dp.St.(store.Renamer).Rename(ctx, j.dst.join(n), j.prev.join(n)); err != nil {
			return fmt.Errorf("retire %s: %w", n, err)
		}
		j.res.FilesRetired++
		j.res.Retired = append(j.res.Retired, n)
	}
	return nil
}

func (j *job) writeManifest(ctx context.Context) error {
	m := manifest{Commit: j.six.Commit.Name, Files: map[string]manifestEntry{}}
	for _, f := range j.six.Files {
		s, err := j.sourceSum(ctx, f.Name)
		if err != nil {
			return err
		}
		m.Files[f.Name] = manifestEntry{Size: f.Size, SHA256: s}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	e := store.Entry{Path: j.dst.join(manifestName), Type: store.File, Size: int64(len(b)), Mode: 0o644, ModTime: store.TimeOf(time.Now())}
	return j.dp.St.Put(ctx, e, false, func(w io.Writer) (int64, error) {
		n, err := w.Write(b)
		return int64(n), err
	})
}

// check verifies the installed index: the commit must be the source's and
// pass verify (full for repair).
func (j *job) check(ctx context.Context) error {
	after := newResult(j.rel)
	if err := verifyOne(ctx, j.dst, j.repair, j.o.workers(), &progress.Counter{}, after); err != nil {
		return fmt.Errorf("verify the installed index: %w", err)
	}
	j.res.Problems = after.Problems
	if after.Commit != j.six.Commit.Name && len(after.Problems) == 0 {
		j.res.Problems = append(j.res.Problems, lucene.Problem{File: after.Commit,
			What: fmt.Sprintf("the target's latest commit is %s, want %s", after.Commit, j.six.Commit.Name)})
	}
	if j.repair {
		j.res.BytesChecked = after.BytesChecked
	}
	return nil
}
