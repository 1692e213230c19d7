package sync

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate"
)

// metaCheck compares the metadata a sync gives what it writes: the mode
// (not a symlink's, which Linux ignores), the owner when the run sets
// owners (as root), through the run's --chown-map and --chgrp-map, and the
// mtime at whole seconds (what SFTP carries; not a symlink's, which SFTP
// cannot set).
type metaCheck struct {
	owner      bool
	uids, gids map[int]int
}

func newMetaCheck(o *FilesOptions) metaCheck {
	return metaCheck{owner: os.Geteuid() == 0, uids: o.UIDMap, gids: o.GIDMap}
}

// compared says what diff compares, and hard links (linkCheck).
func (m metaCheck) compared() string {
	if m.owner {
		return "mode, mtime (to the second) and owner (mapped) of every entry and the root; hard links"
	}
	return "mode and mtime (to the second) of every entry and the root; hard links (not owners: not running as root, a sync does not set them)"
}

// diff says how at's metadata differs from want's, the source's entry as
// the sync would write it (mapped owners), which is `whose` ("at the
// source", "recorded"); "" when it does not.
func (m metaCheck) diff(want, at store.Entry, whose string) string {
	if want.Type == store.Symlink || at.Type != want.Type {
		return ""
	}
	var d []string
	if want.Mode != at.Mode {
		d = append(d, fmt.Sprintf("mode %s %s, %s at the target", octal(want.Mode), whose, octal(at.Mode)))
	}
	if w, differs := m.ownerDiffers(want, at); differs {
		d = append(d, fmt.Sprintf("owner %d:%d %s, %d:%d at the target", w.UID, w.GID, whose, at.UID, at.GID))
	}
	if want.ModTime.Unix() != at.ModTime.Unix() {
		d = append(d, fmt.Sprintf("mtime %s %s, %s at the target", clock(want.ModTime), whose, clock(at.ModTime)))
	}
	return strings.Join(d, "; ")
}

// ownerDiffers tells whether at's owner is not want's mapped (w), when
// the run sets owners.
func (m metaCheck) ownerDiffers(want, at store.Entry) (w store.Entry, differs bool) {
	w = migrate.MapOwner(want, m.uids, m.gids)
	return w, m.owner && (w.UID != at.UID || w.GID != at.GID)
}

// clock formats t to the second, in UTC.
func clock(t store.Time) string { return t.Time().UTC().Format("2006-01-02 15:04:05") }

// octal formats a mode as chmod takes it (0644, 2775).
func octal(m fs.FileMode) string {
	o := uint32(m.Perm())
	for bit, v := range map[fs.FileMode]uint32{fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000, fs.ModeSticky: 0o1000} {
		if m&bit != 0 {
			o |= v
		}
	}
	return fmt.Sprintf("%04o", o)
}

// linkCheck compares hard links: names that share a file at the source
// must share one at the target, and only those. Entries whose listing does
// not tell their inode (SFTP requests) are not compared.
type linkCheck struct {
	src map[uint64]linked // a source inode with names: its first name and that name's target inode
	dst map[uint64]linked // a target inode with names: its first name and that name's source inode
}

type linked struct {
	path  string
	inode uint64 // on the other side
}

func newLinkCheck() *linkCheck {
	return &linkCheck{src: map[uint64]linked{}, dst: map[uint64]linked{}}
}

// diff says how the hard links of e, the source's entry of a path (which
// is `whose`), and of t, the target's, differ; entries come in path order.
func (l *linkCheck) diff(e, t store.Entry, whose string) string {
	if e.Type != store.File || t.Type != store.File || e.Inode == 0 || t.Inode == 0 {
		return ""
	}
	if e.Nlink > 1 {
		if first, ok := l.src[e.Inode]; !ok {
			l.src[e.Inode] = linked{e.Path, t.Inode}
		} else if first.inode != t.Inode {
			return fmt.Sprintf("a hard link of %q %s, not at the target", first.path, whose)
		}
	}
	if t.Nlink > 1 {
		if first, ok := l.dst[t.Inode]; !ok {
			l.dst[t.Inode] = linked{e.Path, e.Inode}
		} else if first.inode != e.Inode {
			return fmt.Sprintf("a hard link of %q at the target, not %s", first.path, whose)
		}
	}
	return ""
}

// joined joins the reasons that are not empty.
func joined(reasons ...string) string {
	return strings.Join(slices.DeleteFunc(reasons, func(s string) bool { return s == "" }), "; ")
}
