package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

var _ DirStager = (*Local)(nil)

// stages maps the directories a Local has staged to their temporary
// names (both relative to the root).
type stages struct {
	mu sync.RWMutex
	m  map[string]string
	n  atomic.Int32 // len(m), read without the lock on every path
}

// where returns the relative path at which p is now: under the temporary
// name of the staged directory it is in, with in true, if it is in one.
func (l *Local) where(p string) (at string, in bool) {
	if l.stages.n.Load() == 0 {
		return p, false
	}
	l.stages.mu.RLock()
	defer l.stages.mu.RUnlock()
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			if t, ok := l.stages.m[p[:i]]; ok {
				return t + p[i:], true
			}
		}
	}
	return p, false
}

func (l *Local) StageDir(_ context.Context, p, temp string) error {
	if _, in := l.where(p); in {
		return ErrNotStaged // already under a staged directory
	}
	if _, err := os.Lstat(l.abs(p)); !errors.Is(err, fs.ErrNotExist) {
		return ErrNotStaged // there already (or unknown): made in place
	}
	full := l.abs(temp)
	if err := os.Mkdir(full, 0o755); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
			// Its parent is missing (made on the way), or a directory
			// of a state since removed has the temporary name.
			return ErrNotStaged
		}
		return fmt.Errorf("mkdir %s (as %s): %w", p, temp, err)
	}
	l.dirs.Store(full, true)
	l.stages.mu.Lock()
	if l.stages.m == nil {
		l.stages.m = map[string]string{}
	}
	l.stages.m[p] = temp
	l.stages.n.Store(int32(len(l.stages.m)))
	l.stages.mu.Unlock()
	return nil
}

func (l *Local) PublishDir(_ context.Context, p string) error {
	l.stages.mu.Lock()
	temp, ok := l.stages.m[p]
	delete(l.stages.m, p)
	l.stages.n.Store(int32(len(l.stages.m)))
	l.stages.mu.Unlock()
	if !ok {
		return nil
	}
	return l.publish(p, temp)
}

// publish renames temp to p, or merges it into a p that exists.
func (l *Local) publish(p, temp string) error {
	from, to := l.abs(temp), l.abs(p)
	if err := moveInto(from, to); err != nil {
		return fmt.Errorf("put directory %s in place (from %s): %w", p, temp, err)
	}
	return nil
}

// moveInto renames from to to when to does not exist; when both are
// directories, it moves from's entries into to, one by one, and removes
// from. An entry of from replaces a file or link of the same name in to:
// it is the newer copy.
func moveInto(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE here (an old NFS client): look first.
		if _, lerr := os.Lstat(to); errors.Is(lerr, fs.ErrNotExist) {
			return rename(from, to)
		}
		err = unix.EEXIST
	}
	if !errors.Is(err, unix.EEXIST) {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	fi, ferr := os.Lstat(from)
	ti, terr := os.Lstat(to)
	if ferr != nil || terr != nil {
		return errors.Join(ferr, terr)
	}
	switch {
	case fi.IsDir() && ti.IsDir():
		names, err := readDirNames(from)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := moveInto(filepath.Join(from, n), filepath.Join(to, n)); err != nil {
				return err
			}
		}
		return os.Remove(from)
	case !fi.IsDir() && !ti.IsDir():
		return rename(from, to)
	}
	return fmt.Errorf("%s: a %v is in the way of a %v", to, ti.Mode().Type(), fi.Mode().Type())
}

func (l *Local) RecoverDir(ctx context.Context, p, temp string, keep func(path string) (bool, error)) (int, error) {
	full := l.abs(temp)
	if _, err := os.Lstat(full); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	// Directories are read several at once, and nothing else is looked
	// at: on EFS every request is a round trip, and a killed first copy
	// can leave most of a shared home here.
	var removed atomic.Int64
	list := func(_ context.Context, rel string, _ func(string, error)) ([]Entry, error) {
		des, err := os.ReadDir(filepath.Join(full, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		var dirs []Entry
		for _, d := range des {
			r := path.Join(rel, d.Name())
			switch {
			case d.IsDir():
				dirs = append(dirs, Entry{Path: r, Type: Dir})
				continue
			case !d.Type().IsRegular():
				continue // a symlink is made whole, under a temporary name
			}
			ok := false
			if !IsTemp(d.Name()) {
				if ok, err = keep(path.Join(p, r)); err != nil {
					return nil, err
				}
			}
			if !ok {
				if err := os.Remove(filepath.Join(full, filepath.FromSlash(r))); err != nil {
					return nil, err
				}
				removed.Add(1)
			}
		}
		return dirs, nil
	}
	fatal := func(_ string, err error) error { return err }
	err := walkDirs(ctx, l.walkers(), list, fatal, func(Entry) error { return nil }, func(string, error) {})
	if err != nil {
		return int(removed.Load()), fmt.Errorf("recover staged directory %s (at %s): %w", p, temp, err)
	}
	return int(removed.Load()), l.publish(p, temp)
}
