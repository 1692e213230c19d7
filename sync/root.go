package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/migrate"
)

// rootMirror gives the target's root directory the source root's mode,
// mtime and (as root, mapped) owner, as rsync -a does with "src/ dst/",
// once everything inside it is written (which changes its mtime). A Jira
// container runs as uid 2001 and must own its shared home's root, not
// only what is inside. It compares the roots as they are, so a run stopped
// before its end is made good by the next.
type rootMirror struct {
	dst     store.RootMeta
	owner   bool
	precise bool // a local target holds nanoseconds; an SFTP one whole seconds
	want    store.Entry
	inStep  bool // the target's root was the source's before the run
	err     error
}

// newRootMirror reads both roots before the run writes anything; nil
// when a store cannot (the run then leaves the root alone).
func newRootMirror(ctx context.Context, src, dst store.Store, owner bool, o FilesOptions) *rootMirror {
	sr, ok := src.(store.RootMeta)
	dr, ok2 := dst.(store.RootMeta)
	if !ok || !ok2 {
		return nil
	}
	_, localDst := dst.(*store.Local)
	m := &rootMirror{dst: dr, owner: owner, precise: localDst}
	want, err := sourceRoot(ctx, src, sr)
	if err != nil {
		m.err = fmt.Errorf("the source's root: %w", err)
		return m
	}
	m.want = migrate.MapOwner(want, o.UIDMap, o.GIDMap)
	m.inStep, m.err = m.same(ctx)
	return m
}

// sourceRoot is the source's root as its listing gave it (an SFTP
// source listed by find: to the nanosecond), else as sr stats it.
func sourceRoot(ctx context.Context, src store.Store, sr store.RootMeta) (store.Entry, error) {
	if s, ok := src.(*store.SFTP); ok {
		if e, listed := s.ListedRoot(); listed {
			return e, nil
		}
	}
	return sr.StatRoot(ctx)
}

func (m *rootMirror) same(ctx context.Context) (bool, error) {
	have, err := m.dst.StatRoot(ctx)
	if err != nil {
		return false, fmt.Errorf("the target's root: %w", err)
	}
	sameTime := m.want.ModTime == have.ModTime
	if !m.precise {
		sameTime = m.want.ModTime.Unix() == have.ModTime.Unix()
	}
	return sameTime && m.want.Mode == have.Mode && (!m.owner || (m.want.UID == have.UID && m.want.GID == have.GID)), nil
}

// finish sets the target's root when it differs. Setting back what the
// run itself disturbed (its writes at the root changed the mtime) is no
// metadata update of the tree and is not counted as one.
func (m *rootMirror) finish(ctx context.Context, rep *FilesReport) {
	if m == nil {
		return
	}
	same, err := m.same(ctx)
	if err = errors.Join(m.err, err); err == nil && !same {
		if err = m.dst.SetRootMeta(ctx, m.want, m.owner); err == nil && !m.inStep {
			rep.Files.MetadataUpdated++
		}
	}
	if err != nil {
		rep.fail(".", "the root's mode, owner and mtime: "+err.Error())
	}
}

// probeWritable writes and removes an empty file at the target's root, so
// that a target the account cannot write to (a directory of another owner,
// an EFS access point whose POSIX user is another, a read-only mount)
// stops the run before it starts (exit 3), rather than fail each file.
func probeWritable(ctx context.Context, dst store.Store) error {
	name := fmt.Sprintf("%sprobe-%d.part", store.TempPrefix, os.Getpid()) // a temporary: a killed run's is cleaned
	e := store.Entry{Path: name, Type: store.File, Mode: 0o600, ModTime: store.TimeOf(time.Now())}
	err := dst.Put(ctx, e, false, func(io.Writer) (int64, error) { return 0, nil })
	if err == nil {
		if err = dst.Remove(ctx, name); err == nil {
			return nil
		}
	}
	switch {
	case errors.Is(err, os.ErrPermission):
		return errs.Fatalf("cannot write into the target %s (%v): give the account cutover logs in or runs as write access to it (on EFS, the access point's POSIX user), or run as its owner", dst, err)
	case errors.Is(err, syscall.EROFS):
		return errs.Fatalf("the target %s is on a read-only filesystem (%v): remount it read-write", dst, err)
	}
	return fmt.Errorf("write a test file into the target %s: %w", dst, err)
}
