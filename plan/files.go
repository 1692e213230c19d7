package plan

import (
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cutover/cutover/internal/store"
)

// Kind is what an action does.
type Kind uint8

const (
	Mkdir Kind = iota + 1
	Copy
	Symlink
	HardLink
	SetMeta
	Delete
)

func (k Kind) String() string {
	return [...]string{"", "mkdir", "copy", "symlink", "hardlink", "setmeta", "delete"}[k]
}

// Action is one step of a run.
//
// A run of 10^6 files holds 10^6 actions, so an action is 24 bytes: it
// points at its entry in the listing (which the plan keeps) and at the few
// strings that hard links, --checksum copies and metadata fixes need,
// rather than holding copies (136 bytes).
type Action struct {
	// Entry is the source entry (for Delete: the recorded one).
	Entry *store.Entry
	// With holds the hashes and link of the actions that have them; nil
	// for the others.
	With *With
	Kind Kind
	// Replace: an entry of another type is in the way and is removed first.
	Replace bool
	// SameMeta (with IfHashDiffers): the record's mtime, mode and owner
	// are the source's, so a matching hash leaves the entry as it is. Of a
	// HardLink: the name is recorded as it is now; it stays as it is when
	// its primary is not written again and has the name's recorded hash.
	SameMeta bool
	// TypeChange: a Delete that clears the way for an entry of another type.
	TypeChange bool
}

// With is what only some actions need.
type With struct {
	// LinkTo is the path a HardLink points at.
	LinkTo string
	// IfHashDiffers (with --checksum): copy only when the source content's
	// hash differs from this recorded hash; otherwise just fix metadata.
	// Of a HardLink with SameMeta: the name's recorded hash.
	IfHashDiffers string
	// Hash is the recorded content hash of an unchanged entry; of a
	// HardLink, its primary's when that is unchanged (not copied again).
	Hash string
}

// LinkTo is With.LinkTo, or "".
func (a *Action) LinkTo() string {
	if a.With == nil {
		return ""
	}
	return a.With.LinkTo
}

// IfHashDiffers is With.IfHashDiffers, or "".
func (a *Action) IfHashDiffers() string {
	if a.With == nil {
		return ""
	}
	return a.With.IfHashDiffers
}

// Hash is With.Hash, or "".
func (a *Action) Hash() string {
	if a.With == nil {
		return ""
	}
	return a.With.Hash
}

// Prev is one entry of the previous state.
type Prev struct {
	store.Entry
	Hash string
}

// Options steer the comparison.
type Options struct {
	// Checksum decides by content hash instead of size and mtime.
	Checksum bool
	// PreciseMtime compares mtimes to the nanosecond; else to whole seconds
	// (SFTP carries whole seconds; find and local listings nanoseconds).
	PreciseMtime bool
	// Owner compares uid/gid (when owners are preserved).
	Owner bool
	// Delete plans removals of recorded entries the source no longer has.
	Delete bool
	// Keep says whether a recorded entry that the source lacks is outside
	// the sync's scope (excluded), so that it is never deleted.
	Keep func(p string, isDir bool) bool
	// Empty says the previous side holds nothing (a first run): every entry
	// will be copied, and room for all of them is made at once.
	Empty bool
}

// Files is the plan for one file set.
type Files struct {
	Dirs    []Action // directories to create, in path order (parents first)
	Copies  []Action // files and symlinks to write
	Links   []Action // hard links, made after the copies
	Meta    []Action // metadata fixes of unchanged content
	Deletes []Action // children before parents
	// Adopt lists entries found identical at the target with no record
	// (by their index in the source listing, 4 bytes where a copy of each
	// would take 120: a tree of 10^6 is adopted whole): they are recorded
	// without being copied, and with no hash, since none was computed.
	Adopt []int32
	// DirMeta are the source directories whose metadata is applied last:
	// new ones, changed ones, and those inside which entries are written or
	// removed (which changes their mtime).
	DirMeta []store.Entry
	touched map[string]bool
	// recorded and linkIno hold, for the compared files that have other
	// names (hard links), the recorded hash (for links to a primary left
	// unchanged) and the source inode recorded with them (a name recorded
	// under another inode, or none, is not linked at the target as it is
	// at the source now).
	recorded map[string]string
	linkIno  map[string]uint64

	Scanned     int64
	Unchanged   int64
	BytesToCopy int64
	BytesTotal  int64
	// New counts the files, symlinks and directories the target does not
	// hold yet: each takes an inode there (a rewrite or a change of type
	// replaces one).
	New int64
}

// SortEntries sorts a listing by path in byte order, the order of the
// manifest. A large listing is split around a sampled median and its halves
// sorted at once, on as many cores as there are: the parallel listing hands
// its entries over unordered, and the plan waits for the sort.
func SortEntries(es []store.Entry) {
	sortEntries(es, runtime.GOMAXPROCS(0))
}

// parallelSortMin is the smallest part that is split for another core:
// splitting costs a pass over it and goroutine start-up.
const parallelSortMin = 1 << 13

func sortEntries(es []store.Entry, cores int) {
	if cores < 2 || len(es) < parallelSortMin {
		slices.SortFunc(es, func(a, b store.Entry) int { return strings.Compare(a.Path, b.Path) })
		return
	}
	k := partitionEntries(es)
	var wg sync.WaitGroup
	wg.Go(func() { sortEntries(es[:k], cores/2) })
	sortEntries(es[k:], cores-cores/2)
	wg.Wait()
}

// partitionEntries moves the entries whose path sorts before a pivot (the
// median of a sample) to the front and returns how many there are; both
// parts are non-empty.
func partitionEntries(es []store.Entry) int {
	sample := make([]string, 0, 31)
	for i := range cap(sample) {
		sample = append(sample, es[i*(len(es)-1)/(cap(sample)-1)].Path)
	}
	slices.Sort(sample)
	pivot := sample[len(sample)/2]
	k := 0
	for i := range es {
		if es[i].Path < pivot {
			es[i], es[k] = es[k], es[i]
			k++
		}
	}
	if k == 0 { // the pivot is the smallest path: it alone goes first
		for i := range es {
			if es[i].Path == pivot {
				es[i], es[0] = es[0], es[i]
				return 1
			}
		}
	}
	return k
}

// Diff merges src (sorted by path) with prev (which must call its function
// in path order) and returns the plan. adopt is true when prev is a listing
// of the target rather than a record.
func Diff(src []store.Entry, prev func(func(Prev) error) error, adopt bool, opt Options) (*Files, error) {
	p := &Files{touched: map[string]bool{}, recorded: map[string]string{}, linkIno: map[string]uint64{}}
	if opt.Empty {
		// A first run copies everything: room for it all at once saves the
		// copies that append's growth would make (168 MB for 10^6 files).
		// Only then: the collector counts untouched capacity as heap, and a
		// rerun of 10^6 entries that copies a few would carry it for nothing.
		p.Copies = make([]Action, 0, len(src))
	}
	i := 0
	emitNew := func(e *store.Entry, replace bool) {
		p.touch(e.Path)
		p.New++
		switch e.Type {
		case store.Dir:
			p.Dirs = append(p.Dirs, Action{Kind: Mkdir, Entry: e, Replace: replace})
			p.touched[e.Path] = true
		case store.Symlink:
			p.Copies = append(p.Copies, Action{Kind: Symlink, Entry: e, Replace: replace})
		case store.File:
			p.Copies = append(p.Copies, Action{Kind: Copy, Entry: e, Replace: replace})
			p.BytesToCopy += e.Size
		}
	}
	onlyPrev := func(r Prev) {
		if opt.Keep != nil && opt.Keep(r.Path, r.Type == store.Dir) {
			return
		}
		if opt.Delete {
			gone := r.Entry // only this branch moves a copy to the heap
			p.Deletes = append(p.Deletes, Action{Kind: Delete, Entry: &gone})
			p.touch(r.Path)
		}
	}
	err := prev(func(r Prev) error {
		for i < len(src) && src[i].Path < r.Path {
			emitNew(&src[i], false)
			i++
		}
		if i < len(src) && src[i].Path == r.Path {
			p.compare(src, i, r, adopt, opt)
			i++
			return nil
		}
		onlyPrev(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for ; i < len(src); i++ {
		emitNew(&src[i], false)
	}
	if c := cap(p.Copies); c > 1024 && c > 2*len(p.Copies) {
		p.Copies = slices.Clip(slices.Clone(p.Copies)) // the plan outlives the listing; no spare room
	}
	for _, e := range src {
		p.Scanned++
		p.BytesTotal += e.Size
	}
	// Children before parents.
	sort.Slice(p.Deletes, func(a, b int) bool { return p.Deletes[a].Entry.Path > p.Deletes[b].Entry.Path })
	p.hardLinks(src)
	for _, e := range src {
		if e.Type == store.Dir && p.touched[e.Path] {
			p.DirMeta = append(p.DirMeta, e)
		}
	}
	return p, nil
}

// touch marks the directory holding rel: its mtime changes when rel is
// written or removed.
func (p *Files) touch(rel string) {
	if d := path.Dir(rel); d != "." {
		p.touched[d] = true
	}
}

func (p *Files) compare(src []store.Entry, i int, r Prev, adopt bool, opt Options) {
	e := &src[i]
	if e.Type == store.File && r.Type == store.File && e.Nlink > 1 {
		if r.Hash != "" {
			p.recorded[e.Path] = r.Hash
		}
		if !adopt { // a target's listing holds the target's inodes
			p.linkIno[e.Path] = r.Inode
		}
	}
	if e.Type != r.Type {
		p.touch(e.Path)
		if r.Type == store.Dir {
			// A directory becomes a file or link: its content goes first.
			dir := r.Entry // only this branch moves a copy to the heap
			p.Deletes = append(p.Deletes, Action{Kind: Delete, Entry: &dir, TypeChange: true})
		}
		switch e.Type {
		case store.Dir:
			p.Dirs = append(p.Dirs, Action{Kind: Mkdir, Entry: e, Replace: true})
			p.touched[e.Path] = true
		case store.Symlink:
			p.Copies = append(p.Copies, Action{Kind: Symlink, Entry: e, Replace: r.Type != store.Dir})
		default:
			p.Copies = append(p.Copies, Action{Kind: Copy, Entry: e, Replace: r.Type != store.Dir})
			p.BytesToCopy += e.Size
		}
		return
	}
	sameTime := e.ModTime.Unix() == r.ModTime.Unix()
	if opt.PreciseMtime {
		sameTime = e.ModTime == r.ModTime
	}
	sameMeta := e.Mode == r.Mode && (!opt.Owner || (e.UID == r.UID && e.GID == r.GID))
	switch e.Type {
	case store.Dir:
		if !sameTime || !sameMeta || adopt {
			p.touched[e.Path] = true
			return
		}
	case store.Symlink:
		if e.Target != r.Target {
			p.touch(e.Path)
			p.Copies = append(p.Copies, Action{Kind: Symlink, Entry: e})
			return
		}
		if !sameMeta && opt.Owner || adopt {
			p.Meta = append(p.Meta, Action{Kind: SetMeta, Entry: e})
			return
		}
	case store.File:
		if opt.Checksum && e.Size == r.Size && r.Hash != "" {
			p.touch(e.Path) // rewritten if the content differs
			p.Copies = append(p.Copies, Action{Kind: Copy, Entry: e, With: &With{IfHashDiffers: r.Hash}, SameMeta: sameTime && sameMeta})
			p.BytesToCopy += e.Size
			return
		}
		// A name recorded as one of a file's hard links that now names
		// another file may hold other content with the same size and
		// mtime (ln -f): the inode tells.
		relinked := !adopt && r.Inode != 0 && e.Inode != 0 && e.Inode != r.Inode
		if e.Size != r.Size || !sameTime || (opt.Checksum && r.Hash == "") || relinked {
			p.touch(e.Path)
			p.Copies = append(p.Copies, Action{Kind: Copy, Entry: e})
			p.BytesToCopy += e.Size
			return
		}
		if !sameMeta {
			p.Meta = append(p.Meta, Action{Kind: SetMeta, Entry: e, With: &With{Hash: r.Hash}})
			return
		}
	}
	p.Unchanged++
	if adopt {
		p.Adopt = append(p.Adopt, int32(i))
	}
}

// hardLinks turns copies of files that share an inode at the source into one
// copy plus hard links, so they stay linked at the target.
func (p *Files) hardLinks(src []store.Entry) {
	primary := map[uint64]string{}
	for _, e := range src {
		if e.Type == store.File && e.Nlink > 1 && e.Inode != 0 {
			if _, ok := primary[e.Inode]; !ok {
				primary[e.Inode] = e.Path
			}
		}
	}
	if len(primary) == 0 {
		return
	}
	changed := map[uint64]bool{}
	for _, a := range p.Copies {
		if a.Kind == Copy && a.Entry.Nlink > 1 {
			changed[a.Entry.Inode] = true
		}
	}
	for _, e := range src {
		if ino, ok := p.linkIno[e.Path]; ok && ino != e.Inode && primary[e.Inode] != "" {
			changed[e.Inode] = true // recorded unlinked, or linked to another file
		}
	}
	if len(changed) == 0 {
		return
	}
	copies := p.Copies[:0]
	copied := map[string]bool{} // primaries copied in this run
	moved := map[string]bool{}  // names whose record differs from the source
	for _, a := range p.Copies {
		if a.Kind == Copy && changed[a.Entry.Inode] && primary[a.Entry.Inode] != a.Entry.Path {
			p.BytesToCopy -= a.Entry.Size
			moved[a.Entry.Path] = a.IfHashDiffers() == "" || !a.SameMeta
			continue
		}
		if a.Kind == Copy && changed[a.Entry.Inode] {
			copied[a.Entry.Path] = true
		}
		copies = append(copies, a)
	}
	p.Copies = copies
	for i := range src {
		e := &src[i]
		if e.Type != store.File || !changed[e.Inode] || e.Nlink < 2 {
			continue
		}
		if primary[e.Inode] == e.Path {
			if ino, ok := p.linkIno[e.Path]; ok && (ino != e.Inode || p.recorded[e.Path] == "") && !copied[e.Path] {
				// Recorded under another inode (or none): the name may
				// hold other content with the same size and mtime, and
				// its links will share what the target has. Copied; also
				// when recorded with no hash, which its links need.
				p.touch(e.Path)
				p.Copies = append(p.Copies, Action{Kind: Copy, Entry: e})
				p.BytesToCopy += e.Size
				copied[e.Path] = true
			}
			continue
		}
		p.touch(e.Path)
		w := &With{LinkTo: primary[e.Inode]}
		a := Action{Kind: HardLink, Entry: e, With: w}
		if h, known := p.recorded[e.Path]; known && !moved[e.Path] && p.linkIno[e.Path] == e.Inode {
			a.SameMeta, w.IfHashDiffers = true, h
		}
		if !copied[w.LinkTo] {
			// A new name of a file left unchanged: linked to the
			// primary the target already holds.
			w.Hash = p.recorded[w.LinkTo]
		}
		p.Links = append(p.Links, a)
	}
}
