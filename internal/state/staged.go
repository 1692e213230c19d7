package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cutover/cutover/internal/store"
)

// StagedDir is a directory new to the target that a run made under a
// temporary name beside its own (Temp, a path relative to the target's
// root, as Path is), so that it could write the files in it under their
// own names; it is renamed into place when the run ends.
type StagedDir struct{ Path, Temp string }

// StageDirs records ds for pair, before they are made: a run killed before
// it renamed them leaves them to the next one (see Staged). It commits, so
// a manifest row recorded later under one of them is never on disk
// without it.
func (s *State) StageDirs(ctx context.Context, pair int64, ds []StagedDir) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.failed("record staged directories", err)
	}
	defer tx.Rollback()
	for _, d := range ds {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO staged_dirs(pair_id, path, temp) VALUES (?,?,?)`, pair, []byte(d.Path), []byte(d.Temp)); err != nil {
			return s.failed("record staged directories", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.failed("record staged directories", err)
	}
	return nil
}

// Staged returns the directories of pair that a run staged and did not
// rename into place (it was killed), in path order.
func (s *State) Staged(ctx context.Context, pair int64) ([]StagedDir, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT path, temp FROM staged_dirs WHERE pair_id=? ORDER BY path`, pair)
	if err != nil {
		return nil, fmt.Errorf("state: read staged directories: %w", err)
	}
	defer rows.Close()
	var ds []StagedDir
	for rows.Next() {
		var p, t []byte
		if err := rows.Scan(&p, &t); err != nil {
			return nil, fmt.Errorf("state: read staged directories: %w", err)
		}
		ds = append(ds, StagedDir{Path: string(p), Temp: string(t)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: read staged directories: %w", err)
	}
	return ds, nil
}

// Unstage forgets staged directory path of pair, once it is in place.
func (s *State) Unstage(ctx context.Context, pair int64, path string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM staged_dirs WHERE pair_id=? AND path=?`, pair, []byte(path)); err != nil {
		return s.failed("forget a staged directory", err)
	}
	return nil
}

// Recorder looks up single rows of pair's manifest, with the records of a
// killed run merged in first.
type Recorder struct {
	stmt *sql.Stmt
	pair int64
}

// NewRecorder prepares lookups in pair's manifest; Close it.
func (s *State) NewRecorder(ctx context.Context, pair int64) (*Recorder, error) {
	if err := s.merge(ctx, pair); err != nil {
		return nil, err
	}
	stmt, err := s.db.PrepareContext(ctx, `SELECT type FROM manifest WHERE pair_id=? AND path=?`)
	if err != nil {
		return nil, fmt.Errorf("state: look up the manifest: %w", err)
	}
	return &Recorder{stmt: stmt, pair: pair}, nil
}

// Lookup returns the recorded type of path; ok is false when path is not
// recorded.
func (r *Recorder) Lookup(ctx context.Context, path string) (t store.EntryType, ok bool, err error) {
	var typ int64
	err = r.stmt.QueryRowContext(ctx, r.pair, []byte(path)).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("state: look up %q in the manifest: %w", path, err)
	}
	return store.EntryType(typ), true, nil
}

// Close releases the lookup.
func (r *Recorder) Close() error { return r.stmt.Close() }
