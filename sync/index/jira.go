package index

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang/snappy"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// Jira writes index snapshots into its shared home as
// caches/IndexSnapshot_<id>.tar.sz: a tar of issues/…, comments/…,
// changes/…, worklogs/…, entities/<name>/… (one Lucene index each) and
// reindex-metadata.properties, compressed with the Snappy framing format.

// maxArchiveEntry bounds one file of a snapshot archive (a guard against a
// garbled size field, not a limit of Lucene).
const maxArchiveEntry = 1 << 40

// RestoreSnapshot runs `index restore-snapshot ARCHIVE DST`: the archive is
// unpacked beside dst (or in the temporary directory for a remote dst),
// every index in it is verified in full, and it is then installed like
// `index ship` (delta, staged, segments_N last, the former commit kept in
// <dir>.previous). Other files of the archive are put at their path below dst.
func RestoreSnapshot(ctx context.Context, archive, dst string, o Options) (*Report, error) {
	rep := newReport("index restore-snapshot", archive, dst)
	err := restoreSnapshot(ctx, archive, dst, o, rep)
	return rep, rep.finish(err)
}

func restoreSnapshot(ctx context.Context, archive, dst string, o Options, rep *Report) error {
	tmpParent := os.TempDir()
	if loc, err := store.ParseLocation(dst); err != nil {
		return err
	} else if loc.Scheme == "local" {
		tmpParent = filepath.Dir(loc.Path)
		if err := os.MkdirAll(tmpParent, 0o755); err != nil {
			return errs.Fatalf("create %s: %w", tmpParent, err)
		}
	}
	tmp, err := os.MkdirTemp(tmpParent, ".cutover-restore-")
	if err != nil {
		return errs.Fatalf("unpack %s: %w", archive, err)
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "snapshot")
	others, err := unpack(ctx, archive, root)
	if err != nil {
		return err
	}
	o.logf("unpacked %s: %d other files", archive, len(others))
	vrep := newReport("verify", "", root)
	if err := verifyAll(ctx, root, Options{Workers: o.workers(), Full: true}, vrep); err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	for _, r := range vrep.Indexes {
		if len(r.Problems) > 0 {
			rep.Indexes = vrep.Indexes
			return errs.Permanentf("%s: index %s in the archive is damaged (%s: %s); nothing was installed", archive, r.Index, r.Problems[0].File, r.Problems[0].What)
		}
	}
	if err := shipAll(ctx, root, dst, o, false, rep); err != nil {
		return err
	}
	if len(others) == 0 {
		return nil
	}
	dp, err := openPlace(ctx, dst, o.ssh(), true)
	if err != nil {
		return err
	}
	defer dp.Close()
	for _, rel := range others {
		if err := putLocalFile(ctx, dp, filepath.Join(root, filepath.FromSlash(rel)), rel); err != nil {
			return err
		}
	}
	return nil
}

// unpack extracts a Snappy-framed tar into root. Names must be relative and
// clean; only regular files and directories are accepted. It returns the
// files that lie outside any index directory.
func unpack(ctx context.Context, archive, root string) ([]string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, errs.Fatalf("open %s: %w", archive, err)
	}
	defer f.Close()
	tr := tar.NewReader(snappy.NewReader(f))
	var files []string
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errs.Fatalf("%s: not a Snappy-framed tar archive or damaged: %w", archive, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			continue
		}
		if store.CleanPath(name) != nil {
			return nil, errs.Fatalf("%s: refusing entry %q: not a clean relative path", archive, h.Name)
		}
		full := filepath.Join(root, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(full, 0o755); err != nil {
				return nil, err
			}
			continue
		case tar.TypeReg:
		default:
			return nil, errs.Fatalf("%s: refusing entry %q of tar type %q (only files and directories)", archive, h.Name, h.Typeflag)
		}
		if h.Size < 0 || h.Size > maxArchiveEntry {
			return nil, errs.Fatalf("%s: entry %q has an impossible size %d", archive, h.Name, h.Size)
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		out, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, errs.Fatalf("%s: entry %q: %w", archive, h.Name, err)
		}
		n, err := io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, errs.Fatalf("%s: entry %q: %w", archive, h.Name, err)
		}
		if n != h.Size {
			return nil, errs.Fatalf("%s: entry %q is truncated (%d of %d bytes)", archive, h.Name, n, h.Size)
		}
		files = append(files, name)
	}
	// Files in a directory holding a segments_N belong to that index.
	indexDirs := map[string]bool{}
	for _, n := range files {
		if _, ok := lucene.SegmentsGen(path.Base(n)); ok {
			indexDirs[path.Dir(n)] = true
		}
	}
	if len(indexDirs) == 0 {
		return nil, errs.Fatalf("%s: the archive holds no Lucene index (no segments_N)", archive)
	}
	var others []string
	for _, n := range files {
		if !indexDirs[path.Dir(n)] {
			others = append(others, n)
		}
	}
	return others, nil
}

// putLocalFile copies a local file to rel below the place's directory.
func putLocalFile(ctx context.Context, p *place, from, rel string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	e := store.Entry{Path: p.dir(rel), Type: store.File, Size: fi.Size(), Mode: 0o644, ModTime: store.TimeOf(fi.ModTime())}
	return p.St.Put(ctx, e, false, func(w io.Writer) (int64, error) { return io.Copy(w, in) })
}

// ExportSnapshot runs `index export-snapshot SRC OUT`: the latest commit of
// each index at or below src (local or sftp://) is written, with the other
// regular files at src's top, into OUT as a tar compressed with the Snappy
// framing format, the layout Jira reads from its shared home. Each file's
// CRC32 is checked as it streams; when a merge on a live source removes a
// file, the archive is written again from the new commit.
func ExportSnapshot(ctx context.Context, src, out string, o Options) (*Report, error) {
	rep := newReport("index export-snapshot", src, out)
	err := exportSnapshot(ctx, src, out, o, rep)
	return rep, rep.finish(err)
}

func exportSnapshot(ctx context.Context, src, out string, o Options, rep *Report) error {
	if _, err := os.Lstat(out); err == nil {
		return errs.Fatalf("%s already exists", out)
	}
	sp, rels, err := openIndexes(ctx, src, o.ssh())
	if err != nil {
		return err
	}
	defer sp.Close()
	tmp := out + ".tmp-cutover"
	defer os.Remove(tmp)
	for attempt := 1; ; attempt++ {
		rep.Indexes = rep.Indexes[:0]
		err = writeArchive(ctx, sp, rels, tmp, o, rep)
		if !errors.Is(err, errSourceMoved) || attempt == maxSourceRetries {
			break
		}
		o.logf("export: the source committed while archiving (%v); starting over", err)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func writeArchive(ctx context.Context, sp *place, rels []string, tmp string, o Options, rep *Report) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return errs.Fatalf("create %s: %w", tmp, err)
	}
	defer f.Close()
	zw := snappy.NewBufferedWriter(f)
	tw := tar.NewWriter(zw)
	counter := &progress.Counter{}
	now := time.Now()
	for _, rel := range rels {
		res := newResult(rel)
		rep.Indexes = append(rep.Indexes, res)
		j := &job{o: o, sp: sp, res: res, src: dirFS{sp.St, sp.dir(rel)}}
		ix, err := j.loadSource(ctx)
		if err != nil {
			res.done(err)
			return err
		}
		res.describe(ix)
		for _, lf := range ix.Files {
			name := lf.Name
			if rel != "" {
				name = rel + "/" + lf.Name
			}
			if err := addToTar(ctx, tw, j.src, lf, name, now, ix.Commit.Footers(), counter); err != nil {
				res.done(err)
				return err
			}
			res.FilesTotal++
			res.FilesShipped++
			res.BytesTotal += lf.Size
			res.BytesShipped += lf.Size
		}
		res.done(nil)
	}
	if err := addOthers(ctx, tw, sp, rels, now, counter); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// addOthers archives the regular files at the top of a directory of
// indexes (Jira's reindex-metadata.properties), as Jira does.
func addOthers(ctx context.Context, tw *tar.Writer, sp *place, rels []string, now time.Time, c *progress.Counter) error {
	if len(rels) == 1 && rels[0] == "" {
		return nil // a single index: its directory holds nothing else worth taking
	}
	top := dirFS{sp.St, sp.Base}
	names, err := top.List(ctx)
	if err != nil {
		return err
	}
	for n, size := range names {
		if keep(n) || lucene.IsIndexFile(n) || strings.HasPrefix(n, "segments") || strings.HasPrefix(n, "pending_segments") {
			continue
		}
		if err := addToTar(ctx, tw, top, lucene.File{Name: n, Size: size}, n, now, false, c); err != nil {
			return err
		}
	}
	return nil
}

func addToTar(ctx context.Context, tw *tar.Writer, d dirFS, f lucene.File, name string, mtime time.Time, footer bool, c *progress.Counter) error {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: f.Size, Mode: 0o644, ModTime: mtime}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	cw := &checkWriter{w: tw, crc: crc, sha: io.Discard, limit: f.Size - 8, progress: c}
	err := d.Stream(ctx, f.Name, cw)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s vanished", errSourceMoved, f.Name)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if cw.n != f.Size {
		return fmt.Errorf("%w: %s changed size while archived", errSourceMoved, name)
	}
	if footer && f.Segment != "" && crc.Sum32() != f.CRC {
		return errs.Permanentf("%s: the source file does not match its footer (CRC %08x, footer %08x): the source index is damaged", name, crc.Sum32(), f.CRC)
	}
	return nil
}
