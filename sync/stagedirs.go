package sync

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// staging holds the directories new to the target that a run makes under
// temporary names (see store.DirStager): the top of each new subtree, so
// that the files in it are written under their own names, with no
// temporary file and rename each.
type staging struct {
	st        *state.State
	pair, run int64
	dst       store.DirStager
	dirs      []string // staged, until published
	published []string // in place, still recorded as staged
	seq       int      // temporary names given
}

// newStaging returns what stages dst's new directories; nil when dst
// stages nothing.
func newStaging(st *state.State, pair, run int64, dst store.Store) *staging {
	ds, ok := dst.(store.DirStager)
	if !ok {
		return nil
	}
	return &staging{st: st, pair: pair, run: run, dst: ds}
}

// stage stages the plan's new directories (made, by path) whose parent is
// at the target, recording them first: a killed run leaves them to the
// next one (recoverStaged). It returns how many it staged.
func (s *staging) stage(ctx context.Context, p *plan.Files, made map[string]bool) (int, error) {
	if s == nil || len(p.Dirs) == 0 {
		return 0, nil
	}
	var want []state.StagedDir
	for _, a := range p.Dirs {
		// A directory that replaces an entry of another type is made in
		// place, once that entry is gone; so is what is under it.
		if parent := path.Dir(a.Entry.Path); !a.Replace && !made[parent] {
			temp := path.Join(parent, fmt.Sprintf("%sdir-%d-%d.part", store.TempPrefix, s.run, s.seq))
			s.seq++
			want = append(want, state.StagedDir{Path: a.Entry.Path, Temp: temp})
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	if err := s.st.StageDirs(ctx, s.pair, want); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range want {
		err := s.dst.StageDir(ctx, d.Path, d.Temp)
		switch {
		case err == nil:
			s.dirs = append(s.dirs, d.Path)
			n++
			continue
		case !errors.Is(err, store.ErrNotStaged):
			s.publish(context.WithoutCancel(ctx)) // those staged so far
			return n, err
		}
		if err := s.st.Unstage(ctx, s.pair, d.Path); err != nil {
			return n, err
		}
	}
	return n, nil
}

// publish puts the staged directories in place (migrate.FileOptions.Publish).
func (s *staging) publish(ctx context.Context) error {
	return s.publishBut(ctx, nil)
}

// publishBut puts in place the staged directories but those in open
// (whose subtree a later range writes).
func (s *staging) publishBut(ctx context.Context, open map[string]bool) error {
	var errs []error
	left := s.dirs[:0]
	for _, d := range s.dirs {
		if open[d] {
			left = append(left, d)
			continue
		}
		if err := s.dst.PublishDir(ctx, d); err != nil {
			errs = append(errs, err)
			continue // left to the next run, as after a kill
		}
		s.published = append(s.published, d)
	}
	s.dirs = left
	return errors.Join(errs...)
}

// forget drops the record of the directories in place, once sync has made
// their renames durable.
func (s *staging) forget(ctx context.Context, sync func(context.Context) error) error {
	if s == nil || len(s.published) == 0 {
		return nil
	}
	if err := sync(ctx); err != nil {
		return fmt.Errorf("make the target durable: %w", err)
	}
	for _, d := range s.published {
		if err := s.st.Unstage(ctx, s.pair, d); err != nil {
			return err
		}
	}
	s.published = nil
	return nil
}

// recoverStaged puts in place the directories that a killed run had
// staged, first removing the files in them that it had not recorded (it
// may have been writing them); it returns how many directories and
// files.
func recoverStaged(ctx context.Context, st *state.State, pair int64, dst store.Store) (dirs, removed int, err error) {
	ds, ok := dst.(store.DirStager)
	if !ok {
		return 0, 0, nil
	}
	staged, err := st.Staged(ctx, pair)
	if err != nil || len(staged) == 0 {
		return 0, 0, err
	}
	rec, err := st.NewRecorder(ctx, pair)
	if err != nil {
		return 0, 0, err
	}
	defer rec.Close()
	// A file the killed run recorded was whole, and on disk (it records
	// after a syncfs); one written again goes through a temporary name,
	// its own being taken, so a recorded file is never half written.
	keep := func(p string) (bool, error) {
		t, ok, err := rec.Lookup(ctx, p)
		return ok && t == store.File, err
	}
	for _, d := range staged {
		n, err := ds.RecoverDir(ctx, d.Path, d.Temp, keep)
		removed += n
		if err != nil {
			return dirs, removed, err
		}
		dirs++
	}
	s := &staging{st: st, pair: pair, published: make([]string, 0, len(staged))}
	for _, d := range staged {
		s.published = append(s.published, d.Path)
	}
	return dirs, removed, s.forget(ctx, syncOf(dst))
}

// syncOf returns what makes dst's writes durable.
func syncOf(dst store.Store) func(context.Context) error {
	if s, ok := dst.(store.Syncer); ok {
		return s.Sync
	}
	return func(context.Context) error { return nil }
}
