package sync

import (
	"path"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/spill"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// sourceRun is the most entries of the source's listing a sync holds (about
// 250 MB resident for 2^20 entries with short paths): the listing of a
// larger tree is sorted in runs on disk, and the tree is synced range by
// range of the path order (partEntries), each range planned and copied as
// a tree of its own. See docs/memory.md.
var sourceRun = 1 << 20

// A range holds everything the plan must see at once:
//   - a directory's subtree: in byte order a directory D comes before
//     D/…, and the only paths between them extend D with a byte below '/'
//     (D-x, D.txt). So the directories whose subtree is not finished at a
//     point of the order are prefixes of the paths that follow: a stack,
//     no deeper than a path. A range ends only where every directory on
//     it stays a directory at the target (in the source, recorded and
//     listed as one, or kept by the rules): what is removed, replaced or
//     was never recorded is planned with all it holds.
//   - the names of a file with several (hard links): those are set aside
//     and planned together after the last range.
//
// What the stack's directories need past the range that holds them is
// carried: their metadata is set again once every range is done (writing
// in a directory changes its mtime), and a new directory made under a
// temporary name is put in place once its subtree is written.

// openDir is a directory whose subtree the merge has not passed yet.
type openDir struct {
	path  string
	entry store.Entry // the source's
	// kept: a directory at the target before and after the run, or one
	// the run makes (made); a range may end inside it.
	kept, made bool
	inSource   bool
	// at: the target has it already (recorded, or listed with no record).
	at bool
}

// carriedDir is a directory whose metadata is set once every range is
// done.
type carriedDir struct {
	entry store.Entry
	at    bool // at the target before the run: its record is unsettled first
}

// rangePart is a range of the path order: the source's entries in it,
// the record's rows (the target's listing, with no record) and the
// target's listing.
type rangePart struct {
	src  []store.Entry
	prev []plan.Prev
	tl   []store.Entry
	// open are the directories whose subtree goes on past the range.
	open []openDir
}

// ranger cuts the merge of the source's listing, the record and the
// target's listing into ranges of about n entries.
type ranger struct {
	n    int
	keep func(string, bool) bool

	src *spill.Cursor
	sOK bool
	// pull gives the record's next row (the target's entry, with no
	// record); perr says why it ended, if not at the end.
	pull  func() (plan.Prev, bool)
	perr  func() error
	pHead plan.Prev
	pOK   bool
	tl    *spill.Cursor // nil when not listed (or when it is the record)
	tOK   bool

	// linked are the source's files with other names, set aside;
	// parents their directories, kept to set their metadata again.
	linked, parents map[string]bool
	aside           rangePart
	asideDone       bool
	asideParents    []carriedDir

	stack []openDir
	// cuts are the first paths of each range after the first: found by
	// the first pass, followed by the second.
	cuts   []string
	follow bool
	ci     int
	// carried are the source's directories open at some cut, by path.
	carried map[string]carriedDir
}

func newRanger(n int, keep func(string, bool) bool, src *spill.Cursor, pull func() (plan.Prev, bool), perr func() error, tl *spill.Cursor, linked, parents map[string]bool) *ranger {
	r := &ranger{n: max(1, n), keep: keep, src: src, pull: pull, perr: perr, tl: tl, linked: linked, parents: parents, carried: map[string]carriedDir{}}
	r.sOK = src.Next()
	r.pHead, r.pOK = pull()
	if tl != nil {
		r.tOK = tl.Next()
	}
	return r
}

// following makes r cut where an earlier ranger over the same streams cut.
func (r *ranger) following(cuts []string) *ranger {
	r.cuts, r.follow = cuts, true
	return r
}

// head is the smallest path at the head of the streams.
func (r *ranger) head() (string, bool) {
	var b string
	ok := false
	consider := func(p string) {
		if !ok || p < b {
			b, ok = p, true
		}
	}
	if r.sOK {
		consider(r.src.Entry().Path)
	}
	if r.pOK {
		consider(r.pHead.Path)
	}
	if r.tOK {
		consider(r.tl.Entry().Path)
	}
	return b, ok
}

// closeBefore pops the directories whose subtree ends before b.
func (r *ranger) closeBefore(b string) {
	for len(r.stack) > 0 && b >= r.stack[len(r.stack)-1].path+"0" {
		r.stack = r.stack[:len(r.stack)-1]
	}
}

// cut says whether the range ends before b.
func (r *ranger) cut(b string) bool {
	if r.follow {
		if r.ci < len(r.cuts) && r.cuts[r.ci] == b {
			r.ci++
			return true
		}
		return false
	}
	for _, d := range r.stack {
		if !d.kept {
			return false
		}
	}
	r.cuts = append(r.cuts, b)
	for _, d := range r.stack {
		if d.inSource {
			r.carried[d.path] = carriedDir{d.entry, d.at}
		}
	}
	return true
}

// next returns the next range, then the hard-linked files set aside; nil
// at the end.
func (r *ranger) next() (*rangePart, error) {
	pt := &rangePart{}
	count := 0
	for {
		b, ok := r.head()
		if !ok {
			break
		}
		r.closeBefore(b)
		if count >= r.n && r.cut(b) {
			pt.open = slices.Clone(r.stack)
			return pt, nil
		}
		to := pt
		if r.linked[b] {
			to = &r.aside
		}
		var st, pt0, tt store.EntryType
		var se store.Entry
		if r.sOK && r.src.Entry().Path == b {
			se = *r.src.Entry()
			st = se.Type
			to.src = append(to.src, se)
			r.sOK = r.src.Next()
		}
		if r.pOK && r.pHead.Path == b {
			pt0 = r.pHead.Type
			to.prev = append(to.prev, r.pHead)
			r.pHead, r.pOK = r.pull()
		}
		if r.tOK && r.tl.Entry().Path == b {
			tt = r.tl.Entry().Type
			to.tl = append(to.tl, *r.tl.Entry())
			r.tOK = r.tl.Next()
		}
		count++
		if st == store.Dir && r.parents[b] {
			r.asideParents = append(r.asideParents, carriedDir{se, pt0 == store.Dir})
		}
		if st == store.Dir || pt0 == store.Dir || tt == store.Dir {
			same := func(t store.EntryType) bool { return t == 0 || t == store.Dir }
			d := openDir{path: b, entry: se, inSource: st == store.Dir, at: pt0 == store.Dir}
			d.kept = st == store.Dir && same(pt0) && same(tt) || st == 0 && r.keep(b, true)
			d.made = st == store.Dir && pt0 == 0 && tt == 0
			r.stack = append(r.stack, d)
		}
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	r.stack = nil
	if count > 0 {
		return pt, nil
	}
	if !r.asideDone && len(r.aside.src)+len(r.aside.prev)+len(r.aside.tl) > 0 {
		r.asideDone = true
		a := r.aside
		r.aside = rangePart{}
		return &a, nil
	}
	return nil, nil
}

func (r *ranger) err() error {
	if err := r.src.Err(); err != nil {
		return err
	}
	if r.tl != nil {
		if err := r.tl.Err(); err != nil {
			return err
		}
	}
	return r.perr()
}

// carriedDirs are the source's directories whose metadata is set again
// once every range is done: those open at a cut, and those holding
// hard-linked files (written after the last range), in path order.
func (r *ranger) carriedDirs() []carriedDir {
	for _, d := range r.asideParents {
		r.carried[d.entry.Path] = d
	}
	out := make([]carriedDir, 0, len(r.carried))
	for _, d := range r.carried {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b carriedDir) int { return strings.Compare(a.entry.Path, b.entry.Path) })
	return out
}

// each passes rows to fn: a range's part of the record, as plan.Diff takes
// it.
func each(rows []plan.Prev) func(func(plan.Prev) error) error {
	return func(fn func(plan.Prev) error) error {
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// hardLinked are the source's files with other names, and their
// directories.
func hardLinked(l *spill.Sorted) (files, dirs map[string]bool, err error) {
	files, dirs = map[string]bool{}, map[string]bool{}
	err = l.Each(func(e *store.Entry) error {
		if e.Type == store.File && e.Nlink > 1 {
			files[e.Path] = true
			dirs[path.Dir(e.Path)] = true
		}
		return nil
	})
	return files, dirs, err
}
