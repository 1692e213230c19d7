package index

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// SnapshotManifestName is written at the top of every snapshot.
const SnapshotManifestName = "cutover-snapshot.json"

// SnapshotManifest describes a snapshot: per index, the files of the commit
// it holds with their size, footer CRC and segment id.
type SnapshotManifest struct {
	Source  string          `json:"source"`
	Created time.Time       `json:"created"`
	Indexes []SnapshotIndex `json:"indexes"`
}

// SnapshotIndex is one index of a snapshot.
type SnapshotIndex struct {
	Index  string         `json:"index"`
	Commit string         `json:"commit"`
	Files  []SnapshotFile `json:"files"`
}

// SnapshotFile is one file of a snapshot.
type SnapshotFile struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	CRC       string `json:"crc32,omitempty"`
	SegmentID string `json:"segment_id,omitempty"`
}

// Snapshot runs `index snapshot DIR --out OUT`: a point-in-time copy of the
// latest commit of each index at or below the local directory dir, made by
// hard-linking its files (Lucene never changes a file once written), with
// a manifest. When a merge deletes a file between reading the commit and
// linking it, the index is linked again from its new commit. out is
// created; it must not exist.
func Snapshot(ctx context.Context, dir, out string, o Options) (*Report, error) {
	rep := newReport("index snapshot", dir, out)
	err := snapshot(ctx, dir, out, o, rep)
	return rep, rep.finish(err)
}

func snapshot(ctx context.Context, dir, out string, o Options, rep *Report) error {
	loc, err := store.ParseLocation(dir)
	if err != nil {
		return err
	}
	if loc.Scheme != "local" {
		return errs.Usagef("index snapshot needs a local directory (it hard-links files); use `index ship` for %s", dir)
	}
	if _, err := os.Lstat(out); err == nil {
		return errs.Fatalf("%s already exists: give --out a new directory", out)
	}
	p, rels, err := openIndexes(ctx, dir, o.ssh())
	if err != nil {
		return err
	}
	defer p.Close()
	tmp := out + ".tmp-cutover"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	man := SnapshotManifest{Source: dir, Created: time.Now().UTC()}
	for _, rel := range rels {
		res := newResult(rel)
		rep.Indexes = append(rep.Indexes, res)
		si, err := snapshotOne(ctx, filepath.Join(loc.Path, rel), filepath.Join(tmp, rel), res, o)
		res.done(err)
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		si.Index = res.Index
		man.Indexes = append(man.Indexes, si)
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, SnapshotManifestName), b, 0o644); err != nil {
		return err
	}
	if err := syncTree(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

func snapshotOne(ctx context.Context, src, dst string, res *Result, o Options) (SnapshotIndex, error) {
	for attempt := 1; ; attempt++ {
		si, err := linkCommit(ctx, src, dst, res)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == maxSourceRetries {
			if err == nil {
				after := newResult(res.Index)
				if verr := verifyOne(ctx, lucene.DirFS(dst), res.FilesShipped > 0, 1, &progress.Counter{}, after); verr != nil {
					return si, verr
				}
				res.Problems = after.Problems
			}
			return si, err
		}
		o.logf("index %s: a merge removed a file while linking (%v); linking the new commit", res.Index, err)
		if err := os.RemoveAll(dst); err != nil {
			return si, err
		}
	}
}

// linkCommit hard-links the files of the latest commit of src into dst,
// segments_N last. Across filesystems it copies, checking each file's CRC.
func linkCommit(ctx context.Context, src, dst string, res *Result) (SnapshotIndex, error) {
	ix, err := loadIndex(ctx, lucene.DirFS(src), res.Index)
	if err != nil {
		return SnapshotIndex{}, err
	}
	for _, f := range ix.Problems() {
		if f.Problem == "missing" {
			return SnapshotIndex{}, fmt.Errorf("%s: %w", f.Name, fs.ErrNotExist)
		}
	}
	res.describe(ix)
	res.Counts = Counts{}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return SnapshotIndex{}, err
	}
	si := SnapshotIndex{Commit: ix.Commit.Name}
	for _, f := range ix.Files { // segments_N is last
		if err := ctx.Err(); err != nil {
			return si, err
		}
		from, to := filepath.Join(src, f.Name), filepath.Join(dst, f.Name)
		err := os.Link(from, to)
		if errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) {
			if res.FilesShipped == 0 {
				res.Warnings = append(res.Warnings, "the output is on another filesystem: files are copied, not hard-linked")
			}
			err = copyFile(from, to)
			res.FilesShipped++
			res.BytesShipped += f.Size
		} else if err == nil {
			res.FilesReused++
		}
		if err != nil {
			return si, err
		}
		res.FilesTotal++
		res.BytesTotal += f.Size
		sf := SnapshotFile{Name: f.Name, Size: f.Size, SegmentID: hex.EncodeToString(f.Header.ID)}
		if f.Footer {
			sf.CRC = fmt.Sprintf("%08x", f.CRC)
		}
		si.Files = append(si.Files, sf)
	}
	return si, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncTree fsyncs every directory under root (the links it holds) and root.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}
