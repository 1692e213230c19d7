package sync

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"

	"github.com/cutover/cutover/internal/spill"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate"
	"github.com/cutover/cutover/plan"
)

// A rerun trusts its record of the target, so an entry changed at the
// target since cutover wrote it (by hand, by another tool, by a fault of
// the storage) would never be repaired. Where the run reads the target
// anyway, it compares: with --delete (the final always mirrors) the
// target's listing is compared with the record, and --verify all reads
// every recorded file back. What differs is planned as changed at the
// source, so the run copies it again, or fixes its mode.

// targetDiff is a recorded entry that the target no longer holds as it was
// written: why, and how to mark its record so that the plan redoes it.
type targetDiff struct {
	path   string
	reason string
	fix    func(*plan.Prev)
}

// recopy marks a recorded entry for writing again: a file with a size no
// file has, a symlink with a target none has, a directory with an mtime
// none has (its metadata is set again, and made where it is missing).
// retype marks another type in its place.
func recopy(r *plan.Prev) {
	switch r.Type {
	case store.Dir:
		r.ModTime = -1
	case store.Symlink:
		r.Target = "\x00"
	default:
		r.Size = -1
	}
}

// setMetaAgain marks a recorded entry whose metadata differs at the
// target: a mode no source has, so the plan sets its metadata again.
func setMetaAgain(at *store.Entry) func(*plan.Prev) {
	mode := at.Mode | fs.ModeIrregular
	return func(r *plan.Prev) { r.Mode = mode }
}

func retype(t store.EntryType) func(*plan.Prev) { return func(r *plan.Prev) { r.Type = t } }

// listedDiff compares a recorded entry with the target's listing of it
// (nil: not there), owners as mc says (the record holds the source's,
// which --chown-map changes).
func listedDiff(rec store.Entry, at *store.Entry, mc metaCheck) (targetDiff, bool) {
	var w store.Entry // the record with its owner mapped
	var ownerDiff bool
	if at != nil && rec.Type != store.Symlink {
		w, ownerDiff = mc.ownerDiffers(rec, *at)
	}
	switch {
	case at == nil:
		return targetDiff{reason: "not at the target", fix: recopy}, true
	case at.Type != rec.Type:
		return targetDiff{reason: fmt.Sprintf("a %v at the target", at.Type), fix: retype(at.Type)}, true
	case rec.Type == store.File && at.Size != rec.Size:
		return targetDiff{reason: fmt.Sprintf("size %d at the target, recorded %d", at.Size, rec.Size), fix: recopy}, true
	case rec.Type == store.File && at.ModTime.Unix() != rec.ModTime.Unix():
		return targetDiff{reason: fmt.Sprintf("modified at the target (mtime %s, recorded %s)", clock(at.ModTime), clock(rec.ModTime)), fix: recopy}, true
	case rec.Type == store.Symlink && at.Target != rec.Target:
		return targetDiff{reason: fmt.Sprintf("points to %q at the target, recorded %q", at.Target, rec.Target), fix: recopy}, true
	case rec.Type != store.Symlink && at.Mode != rec.Mode:
		// Never a source's mode, so the plan sets it again whatever the
		// source's is now: also when it is the target's (a hard link's
		// other name set it there, in a run that listed this one before).
		return targetDiff{reason: fmt.Sprintf("mode %s at the target, recorded %s", octal(at.Mode), octal(rec.Mode)), fix: setMetaAgain(at)}, true
	case ownerDiff:
		return targetDiff{reason: fmt.Sprintf("owner %d:%d at the target, %d:%d recorded", at.UID, at.GID, w.UID, w.GID), fix: setMetaAgain(at)}, true
	case rec.Type == store.Dir && rec.ModTime != -1 && at.ModTime.Unix() != rec.ModTime.Unix():
		// A run sets a directory's mtime once it has written into it; -1
		// is a directory a run stopped before settling (unsettleDirs).
		return targetDiff{reason: fmt.Sprintf("mtime %s at the target, recorded %s", clock(at.ModTime), clock(rec.ModTime)), fix: recopy}, true
	}
	return targetDiff{}, false
}

// drift is what the run found changed at the target, by path. Entries the
// filters now exclude are not looked at: the run leaves them as they are.
type drift struct {
	differ   map[string]targetDiff
	excluded func(path string, isDir bool) bool
	// listed is the target's listing (sorted by path, as the record is),
	// when listing is set: compared with each recorded entry on the way.
	listed  *spill.Sorted
	listing bool
	meta    metaCheck // how owners compare
}

// prev passes on the record with what differs at the target marked
// changed.
func (d *drift) prev(each func(func(plan.Prev) error) error) func(func(plan.Prev) error) error {
	if len(d.differ) == 0 && !d.listing {
		return each // nothing to compare or mark
	}
	return func(fn func(plan.Prev) error) error {
		c := d.listed.Cursor()
		more := c.Next()
		links := newLinkCheck()
		err := each(func(r plan.Prev) error {
			td, ok := d.differ[r.Path]
			if !ok && d.listing {
				for more && c.Entry().Path < r.Path {
					more = c.Next()
				}
				if err := c.Err(); err != nil {
					return err
				}
				var at *store.Entry
				if more && c.Entry().Path == r.Path {
					at = c.Entry()
				}
				if td, ok = listedDiff(r.Entry, at, d.meta); !ok && at != nil && r.Type == store.File && r.Inode != 0 {
					// Recorded as one name of a file with several: the
					// plan links it to the first again.
					rec := r.Entry
					rec.Nlink = 2
					if why := links.diff(rec, *at, "recorded"); why != "" {
						td, ok = targetDiff{reason: why, fix: recopy}, true
					}
				}
				if ok {
					td.path = r.Path
					d.differ[r.Path] = td
				}
			}
			if ok && d.excluded(r.Path, r.Type == store.Dir) {
				delete(d.differ, r.Path)
				ok = false
			}
			if ok {
				td.fix(&r)
			}
			return fn(r)
		})
		if err != nil {
			return err
		}
		return c.Err()
	}
}

// settled notes an entry redone, or deleted (the source no longer has it).
func (d *drift) settled(r migrate.Result, rep *FilesReport) {
	td, ok := d.differ[r.Action.Entry.Path]
	if !ok || r.Err != nil || r.Vanished {
		return
	}
	switch r.Action.Kind {
	case plan.Copy, plan.Symlink, plan.HardLink, plan.Mkdir, plan.SetMeta:
		rep.repaired(td.path, td.reason)
	case plan.Delete:
		if r.Action.TypeChange {
			return // something in the entry's way, removed: it follows
		}
	default:
		return
	}
	delete(d.differ, td.path)
}

// finish reports what differed and was not redone (it failed, or the
// source no longer has it and --delete was not given) as mismatched; a dry
// run, as what would be redone.
func (d *drift) finish(rep *FilesReport, dryRun bool) {
	for _, p := range slices.Sorted(maps.Keys(d.differ)) {
		if dryRun {
			rep.repaired(p, d.differ[p].reason+" (dry run: not repaired)")
		} else {
			rep.mismatch(p, d.differ[p].reason)
		}
	}
	clear(d.differ)
}
