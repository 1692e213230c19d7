package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/store"
)

// Suffixes of the directories kept beside an index.
const (
	previousSuffix = ".previous"
	stagingSuffix  = ".staging"
)

// manifestName is the sidecar manifest of SHA-256 hashes written into an
// index whose files have no footers (Lucene before 4.8). Lucene ignores it:
// it does not look like an index file.
const manifestName = ".cutover-index-manifest.json"

// dirFS is a lucene.FS over one directory of a store.
type dirFS struct {
	st  store.Store
	dir string // relative to the store's root; "" is the root
}

func (d dirFS) join(name string) string {
	if d.dir == "" {
		return name
	}
	return d.dir + "/" + name
}

func (d dirFS) List(ctx context.Context) (map[string]int64, error) {
	ents, err := d.st.(store.DirReader).ReadDir(ctx, d.dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(ents))
	for _, e := range ents {
		if e.Type == store.File {
			out[path.Base(e.Path)] = e.Size
		}
	}
	return out, nil
}

func (d dirFS) ReadAt(ctx context.Context, name string, p []byte, off int64) error {
	return d.st.(store.RandomReader).ReadAt(ctx, d.join(name), p, off)
}

// Stream reads a whole file; stores read by the size they are given, so it
// is looked up first.
func (d dirFS) Stream(ctx context.Context, name string, w io.Writer) error {
	e, err := d.st.Lstat(ctx, d.join(name))
	if err != nil {
		return err
	}
	if e.Type != store.File {
		return fmt.Errorf("%s is a %s, not a file", d.join(name), e.Type)
	}
	after, err := d.st.ReadFile(ctx, e, w)
	if err == nil && after.Size != e.Size {
		err = fmt.Errorf("%s changed size while read (%d → %d bytes)", d.join(name), e.Size, after.Size)
	}
	return err
}

// overlayFS reads from top where a file is present there, else from base.
// topNames is top's listing, taken once by the caller (top does not change
// while the overlay is read).
type overlayFS struct {
	top, base lucene.FS
	topNames  map[string]int64
}

func (o overlayFS) List(ctx context.Context) (map[string]int64, error) {
	b, err := o.base.List(ctx)
	if err != nil {
		return nil, err
	}
	for n, s := range o.topNames {
		b[n] = s
	}
	return b, nil
}

func (o overlayFS) pick(_ context.Context, name string) lucene.FS {
	if _, ok := o.topNames[name]; ok {
		return o.top
	}
	return o.base
}

func (o overlayFS) ReadAt(ctx context.Context, name string, p []byte, off int64) error {
	return o.pick(ctx, name).ReadAt(ctx, name, p, off)
}

func (o overlayFS) Stream(ctx context.Context, name string, w io.Writer) error {
	return o.pick(ctx, name).Stream(ctx, name, w)
}

// place is a directory argument opened as a store rooted at its parent, so
// that the rollback and staging directories beside each index are inside
// the store's root.
type place struct {
	Arg  string // as given, for reports
	St   store.Store
	Base string // the argument's last element, relative to St's root
}

func (p *place) Close() error { return p.St.Close() }

// openPlace opens the directory named by arg (a local path or sftp:// URL).
func openPlace(ctx context.Context, arg string, ssh store.SSHOptions, create bool) (*place, error) {
	loc, err := store.ParseLocation(arg)
	if err != nil {
		return nil, err
	}
	if loc.Path == "/" {
		return nil, errs.Usagef("%s: an index directory cannot be /", arg)
	}
	base := path.Base(loc.Path)
	loc.Path = path.Dir(loc.Path)
	st, err := store.Open(ctx, loc, ssh, create)
	if err != nil {
		return nil, err
	}
	for _, need := range []bool{isDirReader(st), isRandomReader(st), isRenamer(st)} {
		if !need {
			st.Close()
			return nil, errs.Fatalf("%s: this store cannot list, read at an offset or rename", arg)
		}
	}
	return &place{Arg: arg, St: st, Base: base}, nil
}

func isDirReader(s store.Store) bool    { _, ok := s.(store.DirReader); return ok }
func isRandomReader(s store.Store) bool { _, ok := s.(store.RandomReader); return ok }
func isRenamer(s store.Store) bool      { _, ok := s.(store.Renamer); return ok }

// dir returns the store path of the index at rel below the place.
func (p *place) dir(rel string) string {
	if rel == "" {
		return p.Base
	}
	return p.Base + "/" + rel
}

// maxDepth bounds the search for indexes below a directory (Jira's
// indexesV1/entities/<name> is two levels deep).
const maxDepth = 4

// findIndexes returns the relative paths of the indexes at or below the
// place: "" when the directory itself holds a segments_N file, else each
// sub-directory that does ("issues", "entities/portalpage", …), sorted.
// Directories beside an index that cutover keeps (.previous, .staging) are
// skipped.
func findIndexes(ctx context.Context, p *place) ([]string, error) {
	dr := p.St.(store.DirReader)
	var out []string
	var walk func(rel string, depth int) error
	walk = func(rel string, depth int) error {
		ents, err := dr.ReadDir(ctx, p.dir(rel))
		if err != nil {
			if rel == "" {
				if errors.Is(err, fs.ErrNotExist) {
					return errs.Fatalf("%s: no such directory", p.Arg)
				}
				return errs.Fatalf("%s: %w", p.Arg, err)
			}
			return fmt.Errorf("list %s: %w", rel, err)
		}
		var subdirs []string
		for _, e := range ents {
			name := path.Base(e.Path)
			if e.Type == store.File {
				if _, ok := lucene.SegmentsGen(name); ok {
					out = append(out, rel)
					return nil
				}
			}
			if e.Type == store.Dir && !strings.HasSuffix(name, previousSuffix) && !strings.HasSuffix(name, stagingSuffix) &&
				!strings.HasPrefix(name, ".") {
				subdirs = append(subdirs, path.Join(rel, name))
			}
		}
		if depth >= maxDepth {
			return nil
		}
		for _, s := range subdirs {
			if err := walk(s, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk("", 0); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errs.Fatalf("%s: no Lucene index here (no segments_N file in it or in its sub-directories)", p.Arg)
	}
	sort.Strings(out)
	return out, nil
}

// openIndexes opens the directory arg and finds the indexes at or below it.
// The caller closes the place.
func openIndexes(ctx context.Context, arg string, ssh store.SSHOptions) (*place, []string, error) {
	p, err := openPlace(ctx, arg, ssh, false)
	if err != nil {
		return nil, nil, err
	}
	rels, err := findIndexes(ctx, p)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, rels, nil
}

// eachIndex runs one for every index, each with its own Result in rep. An
// interrupt or a fatal error stops the rest; other errors are the index's.
func (rep *Report) eachIndex(rels []string, one func(rel string, res *Result) error) error {
	for _, rel := range rels {
		res := newResult(rel)
		rep.Indexes = append(rep.Indexes, res)
		err := one(rel, res)
		res.done(err)
		if err != nil && (errs.Interrupted(err) || errs.KindOf(err) == errs.Fatal) {
			return err
		}
	}
	return nil
}

// loadIndex loads the latest commit of one index, turning format errors
// into the exit codes users see: an unknown format is a refused
// precondition (exit 3).
func loadIndex(ctx context.Context, fsys lucene.FS, name string) (*lucene.Index, error) {
	ix, err := lucene.Load(ctx, fsys)
	if err != nil {
		if errors.Is(err, lucene.ErrUnsupported) {
			return nil, errs.Fatalf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return ix, nil
}
