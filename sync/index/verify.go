package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// Options are shared by the index commands.
type Options struct {
	SSH         store.SSHOptions
	Workers     int  // parallel file transfers and checks
	Full        bool // verify: recompute every CRC32
	Force       bool // ship: install although write.lock is held
	DryRun      bool // ship: plan only (what would be shipped), change nothing
	Log         io.Writer
	LogInterval time.Duration

	afterSend func(name string) // tests: called after each file is staged
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

func (o *Options) workers() int { return max(o.Workers, 1) }

// ssh is o.SSH, with connection events going to o.Log unless it says where.
func (o *Options) ssh() store.SSHOptions {
	s := o.SSH
	if s.Log == nil {
		s.Log = o.Log
	}
	return s
}

// Verify runs `index verify DIR`: for each index at or below dir, the
// latest commit's files are checked for presence, headers (segment id and
// generation suffix), footers and lengths, and with o.Full their CRC32.
func Verify(ctx context.Context, dir string, o Options) (*Report, error) {
	rep := newReport("index verify", "", dir)
	rep.Full = o.Full
	err := verifyAll(ctx, dir, o, rep)
	return rep, rep.finish(err)
}

func verifyAll(ctx context.Context, dir string, o Options, rep *Report) error {
	p, rels, err := openIndexes(ctx, dir, o.ssh())
	if err != nil {
		return err
	}
	defer p.Close()
	counter := &progress.Counter{}
	disp := progress.Start(o.Log, "verify", counter, o.LogInterval)
	defer disp.Stop()
	return rep.eachIndex(rels, func(rel string, res *Result) error {
		return verifyOne(ctx, dirFS{p.St, p.dir(rel)}, o.Full, o.workers(), counter, res)
	})
}

// verifyOne verifies one index into res. A commit that cannot be read is a
// problem of its segments_N, not an error of the run.
func verifyOne(ctx context.Context, fsys lucene.FS, full bool, workers int, counter *progress.Counter, res *Result) error {
	ix, err := loadIndex(ctx, fsys, res.Index)
	if err != nil {
		if errs.KindOf(err) == errs.Fatal || errs.Interrupted(err) || errors.Is(err, lucene.ErrNoCommit) {
			return err
		}
		name := "segments_N"
		if names, lerr := fsys.List(ctx); lerr == nil {
			if n, ok := lucene.LatestCommit(names); ok {
				name = n
			}
		}
		res.Problems = append(res.Problems, lucene.Problem{File: name, What: err.Error()})
		return nil
	}
	res.describe(ix)
	for _, f := range ix.Files {
		res.FilesTotal++
		res.BytesTotal += max(f.Size, 0)
	}
	counter.FilesTotal.Add(int64(len(ix.Files)))
	if full {
		counter.BytesTotal.Add(res.BytesTotal)
	}
	probs, err := lucene.Verify(ctx, fsys, ix, full, workers, func(n int64) {
		counter.BytesDone.Add(n)
	})
	if err != nil {
		return err
	}
	counter.FilesDone.Add(int64(len(ix.Files)))
	if full && !ix.Commit.Footers() {
		mp, err := checkManifest(ctx, fsys, ix)
		if err != nil {
			return err
		}
		probs = append(probs, mp...)
	}
	if full {
		res.BytesChecked = res.BytesTotal
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].File < probs[j].File })
	res.Problems = append(res.Problems, probs...)
	return nil
}

// manifest is the sidecar of an index without footers: the size and
// SHA-256 of each file of its commit.
type manifest struct {
	Commit string                   `json:"commit"`
	Files  map[string]manifestEntry `json:"files"`
}

type manifestEntry struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func readManifest(ctx context.Context, fsys lucene.FS) (*manifest, error) {
	var buf bytes.Buffer
	if err := fsys.Stream(ctx, manifestName, &buf); err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("%s: %w", manifestName, err)
	}
	return &m, nil
}

// checkManifest compares the files of a pre-4.8 commit with the sidecar
// manifest, when there is one for this commit.
func checkManifest(ctx context.Context, fsys lucene.FS, ix *lucene.Index) ([]lucene.Problem, error) {
	m, err := readManifest(ctx, fsys)
	if err != nil || m.Commit != ix.Commit.Name {
		return nil, nil // no manifest for this commit: nothing more can be checked
	}
	var probs []lucene.Problem
	for _, f := range ix.Files {
		want, ok := m.Files[f.Name]
		if !ok || f.Problem != "" || f.Segment == "" {
			continue
		}
		sum, err := sha256Of(ctx, fsys, f.Name)
		if err != nil {
			if errs.Interrupted(err) {
				return nil, err
			}
			probs = append(probs, lucene.Problem{File: f.Name, What: "cannot read: " + err.Error()})
			continue
		}
		if f.Size != want.Size || sum != want.SHA256 {
			probs = append(probs, lucene.Problem{File: f.Name, What: fmt.Sprintf("differs from the manifest: %d bytes sha256 %s, want %d bytes %s", f.Size, sum, want.Size, want.SHA256)})
		}
	}
	return probs, nil
}

func sha256Of(ctx context.Context, fsys lucene.FS, name string) (string, error) {
	h := sha256.New()
	if err := fsys.Stream(ctx, name, h); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
