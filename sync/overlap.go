package sync

import (
	"path"
	"path/filepath"
	"strings"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/store"
)

// checkOverlap refuses a source and a target of which one holds the other,
// and a state directory inside either. A target inside the source is
// copied into itself by every run, one level deeper each time; a source
// inside the target is, to a mirror (--delete), something to remove; a
// state directory in the source changes while it is read, and in the
// target a mirror removes it. Local paths are compared with their
// symlinks resolved; SFTP paths on the same host and port as written.
func checkOverlap(o FilesOptions) error {
	if o.SourceStore != nil || o.TargetStore != nil {
		return nil
	}
	src, err := store.ParseLocation(o.Source)
	if err != nil {
		return err
	}
	dst, err := store.ParseLocation(o.Target)
	if err != nil {
		return err
	}
	switch {
	case holds(src, dst) && holds(dst, src):
		return errs.Usagef("the source and the target are the same directory (%s)", src)
	case holds(src, dst):
		return errs.Usagef("the target %s is inside the source %s: every run would copy the target into itself; choose a target outside the source", dst, src)
	case holds(dst, src):
		return errs.Usagef("the source %s is inside the target %s: a mirror (--delete) would remove it; choose a target that does not hold the source", src, dst)
	}
	if o.StateDir != "" {
		abs, err := filepath.Abs(o.StateDir)
		if err != nil {
			return errs.Usagef("--state %s: %v", o.StateDir, err)
		}
		st := store.Location{Scheme: "local", Path: abs}
		if holds(src, st) {
			return errs.Usagef("the state directory %s (--state) is inside the source %s, whose listing would copy it while it changes: give --state a directory outside the source and the target", abs, src)
		}
		if holds(dst, st) {
			return errs.Usagef("the state directory %s (--state) is inside the target %s, from which a mirror (--delete) would remove it: give --state a directory outside the source and the target", abs, dst)
		}
	}
	return nil
}

// holds says whether inner is outer or lies below it.
func holds(outer, inner store.Location) bool {
	if outer.Scheme != inner.Scheme {
		return false
	}
	o, i := outer.Path, inner.Path
	if outer.Scheme == "local" {
		o, i = resolved(o), resolved(i)
	} else if !strings.EqualFold(outer.Host, inner.Host) || outer.Port != inner.Port {
		return false
	}
	o, i = path.Clean(o), path.Clean(i)
	return i == o || o == "/" || strings.HasPrefix(i, o+"/")
}

// resolved is p with the symlinks of its longest existing ancestor
// resolved (a target is often not made yet).
func resolved(p string) string {
	rest := ""
	for dir := filepath.Clean(p); ; {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return p
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}
