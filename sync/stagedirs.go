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
	pair      int64
	dst       store.DirStager
	dirs      []string // staged, until published
	published []string // in place, still recorded as staged
}

// stageNewDirs stages the plan's new directories (made, by path) whose
// parent is at the target, recording them first: a killed run leaves them to the next one
// (recoverStaged). It returns nil when dst stages nothing.
func stageNewDirs(ctx context.Context, st *state.State, pair, run int64, dst store.Store, p *plan.Files, made map[string]bool) (*staging, error) {
	ds, ok := dst.(store.DirStager)
	if !ok || len(p.Dirs) == 0 {
		return nil, nil
	}
	var want []state.StagedDir
	for _, a := range p.Dirs {
		// A directory that replaces an entry of another type is made in
		// place, once that entry is gone; so is what is under it.
		if parent := path.Dir(a.Entry.Path); !a.Replace && !made[parent] {
			temp := path.Join(parent, fmt.Sprintf("%sdir-%d-%d.part", store.TempPrefix, run, len(want)))
			want = append(want, state.StagedDir{Path: a.Entry.Path, Temp: temp})
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	if err := st.StageDirs(ctx, pair, want); err != nil {
		return nil, err
	}
	s := &staging{st: st, pair: pair, dst: ds}
	for _, d := range want {
		err := ds.StageDir(ctx, d.Path, d.Temp)
		switch {
		case err == nil:
			s.dirs = append(s.dirs, d.Path)
			continue
		case !errors.Is(err, store.ErrNotStaged):
			s.publish(context.WithoutCancel(ctx)) // those staged so far
			return nil, err
		}
		if err := st.Unstage(ctx, pair, d.Path); err != nil {
			return nil, err
		}
	}
	if len(s.dirs) == 0 {
		return nil, nil
	}
	return s, nil
}

// publish puts the staged directories in place (migrate.FileOptions.Publish).
func (s *staging) publish(ctx context.Context) error {
	var errs []error
	for _, d := range s.dirs {
		if err := s.dst.PublishDir(ctx, d); err != nil {
			errs = append(errs, err)
			continue // left to the next run, as after a kill
		}
		s.published = append(s.published, d)
	}
	s.dirs = nil
	return errors.Join(errs...)
}

// forget drops the record of the directories in place, once sync has made
// their renames durable.
func (s *staging) forget(ctx context.Context, sync func(context.Context) error) error {
	if len(s.published) == 0 {
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
