// Package state is cutover's memory between runs: an embedded SQLite file
// in the state directory holding, per source/target pair, the manifest of
// what was synced, and the runs with their measured throughput.
//
// A lock file stops two runs from using one state directory at once. The
// schema is versioned and migrated forward on open. It does not decide what
// to copy; it only remembers.
package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite"

	"github.com/cutover/cutover/internal/errs"
)

// State is an open, locked state directory.
type State struct {
	dir     string
	db      *sql.DB
	lock    *os.File
	mergeMu sync.Mutex // see merge
}

// migrations are applied in order; never edit a released one, append.
var migrations = []string{
	`CREATE TABLE pairs (
		id INTEGER PRIMARY KEY,
		kind TEXT NOT NULL,
		source TEXT NOT NULL,
		target TEXT NOT NULL,
		lister TEXT NOT NULL DEFAULT '',
		UNIQUE(kind, source, target));
	CREATE TABLE manifest (
		pair_id INTEGER NOT NULL REFERENCES pairs(id),
		path BLOB NOT NULL,
		type INTEGER NOT NULL,
		size INTEGER NOT NULL,
		mtime_ns INTEGER NOT NULL,
		mode INTEGER NOT NULL,
		uid INTEGER NOT NULL,
		gid INTEGER NOT NULL,
		link_target BLOB NOT NULL DEFAULT x'',
		hash TEXT NOT NULL DEFAULT '',
		run_id INTEGER NOT NULL,
		PRIMARY KEY (pair_id, path)) WITHOUT ROWID;
	CREATE TABLE runs (
		id INTEGER PRIMARY KEY,
		pair_id INTEGER,
		command TEXT NOT NULL,
		started_at TEXT NOT NULL,
		finished_at TEXT,
		status TEXT NOT NULL,
		files_scanned INTEGER NOT NULL DEFAULT 0,
		files_copied INTEGER NOT NULL DEFAULT 0,
		bytes_copied INTEGER NOT NULL DEFAULT 0,
		files_deleted INTEGER NOT NULL DEFAULT 0,
		files_failed INTEGER NOT NULL DEFAULT 0,
		duration_s REAL NOT NULL DEFAULT 0,
		copy_seconds REAL NOT NULL DEFAULT 0,
		pid INTEGER NOT NULL,
		host TEXT NOT NULL);`,
	`CREATE TABLE db_items (
		pair_id INTEGER NOT NULL REFERENCES pairs(id),
		kind TEXT NOT NULL,
		name TEXT NOT NULL,
		chunk INTEGER NOT NULL DEFAULT -1,
		key_from TEXT NOT NULL DEFAULT '',
		key_to TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL,
		rows INTEGER NOT NULL DEFAULT 0,
		bytes INTEGER NOT NULL DEFAULT 0,
		duration_s REAL NOT NULL DEFAULT 0,
		run_id INTEGER NOT NULL,
		PRIMARY KEY (pair_id, kind, name, chunk));
	CREATE TABLE db_sums (
		pair_id INTEGER NOT NULL REFERENCES pairs(id),
		tbl TEXT NOT NULL,
		chunk INTEGER NOT NULL,
		key_from TEXT NOT NULL DEFAULT '',
		key_to TEXT NOT NULL DEFAULT '',
		side TEXT NOT NULL,
		rows INTEGER NOT NULL,
		sum TEXT NOT NULL,
		run_id INTEGER NOT NULL,
		PRIMARY KEY (pair_id, tbl, chunk, side));`,
	`CREATE TABLE flow_runs (
		id INTEGER PRIMARY KEY,
		phase TEXT NOT NULL,
		started_at TEXT NOT NULL,
		finished_at TEXT,
		status TEXT NOT NULL,
		predicted_s REAL NOT NULL DEFAULT 0,
		actual_s REAL NOT NULL DEFAULT 0,
		verdict TEXT NOT NULL DEFAULT '');
	CREATE TABLE flow_parts (
		flow_id INTEGER NOT NULL REFERENCES flow_runs(id),
		kind TEXT NOT NULL,
		name TEXT NOT NULL,
		predicted_s REAL NOT NULL,
		actual_s REAL NOT NULL,
		status TEXT NOT NULL,
		bytes INTEGER NOT NULL DEFAULT 0,
		items INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (flow_id, kind, name));`,
	// link_inode: the source inode of a file written as one of several
	// hard-linked names (0: none), so that a later run can tell names the
	// target does not hold linked (a run stopped between a copy and its
	// links, a name linked to another file since).
	`ALTER TABLE manifest ADD COLUMN link_inode INTEGER NOT NULL DEFAULT 0;`,
	// manifest_log: what a run records, in the order it records it (gone:
	// a removal), merged into manifest in path order once the run is done
	// (see ManifestWriter).
	`CREATE TABLE manifest_log (
		id INTEGER PRIMARY KEY,
		pair_id INTEGER NOT NULL,
		path BLOB NOT NULL,
		type INTEGER NOT NULL,
		size INTEGER NOT NULL,
		mtime_ns INTEGER NOT NULL,
		mode INTEGER NOT NULL,
		uid INTEGER NOT NULL,
		gid INTEGER NOT NULL,
		link_target BLOB NOT NULL,
		hash TEXT NOT NULL,
		run_id INTEGER NOT NULL,
		link_inode INTEGER NOT NULL,
		gone INTEGER NOT NULL);`,
	// staged_dirs: the directories a run made under a temporary name and
	// has not renamed into place yet (see StageDirs).
	`CREATE TABLE staged_dirs (
		pair_id INTEGER NOT NULL,
		path BLOB NOT NULL,
		temp BLOB NOT NULL,
		PRIMARY KEY (pair_id, path));`,
	// bwlimit: the cap on the run's read rate from the source (--bwlimit,
	// a rehearsal's rehearsal_bwlimit), in bytes a second; 0: none. A run
	// its cap held back tells the planner nothing of the copy's speed.
	`ALTER TABLE runs ADD COLUMN bwlimit INTEGER NOT NULL DEFAULT 0;`,
}

// Open opens (creating if needed) the state in dir and locks it.
func Open(dir string) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.Fatalf("state directory %s: %w", dir, err)
	}
	lock, err := acquire(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, "state.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=journal_size_limit(67108864)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		lock.Close()
		return nil, errs.Fatalf("open state: %w", err)
	}
	db.SetMaxOpenConns(4)
	s := &State{dir: dir, db: db, lock: lock}
	// SQLite's temporary files (the sort of a large merge of the manifest
	// log: about 100 bytes a record) go next to the state, on the disk
	// chosen for it, rather than in /var/tmp or $TMPDIR (on some hosts a
	// tmpfs, in memory); a full disk then is the state's, as errors say.
	// The setting is SQLite's, for the whole process.
	abs, err := filepath.Abs(dir)
	if err == nil {
		_, err = db.Exec(`PRAGMA temp_store_directory = '` + strings.ReplaceAll(abs, "'", "''") + `'`)
	}
	if err != nil {
		s.Close()
		return nil, errs.Fatalf("state %s: temporary files: %w", dir, err)
	}
	if err := s.migrate(); err != nil {
		s.Close()
		return nil, errs.Fatalf("state %s: %w", dir, err)
	}
	return s, nil
}

// Dir returns the state directory.
func (s *State) Dir() string { return s.dir }

// DB exposes the database to packages that keep their own tables.
func (s *State) DB() *sql.DB { return s.db }

func acquire(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, errs.Fatalf("state lock %s: %w", path, err)
	}
	// A holder that has let go empties the file first. Its lock can live on
	// for a moment after that: a process it was starting holds a copy of
	// every descriptor between fork and exec. An empty file is so tried
	// again for a while; a holder that is working has written its name.
	var holder []byte
	for try := 0; ; try++ {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if holder, _ = os.ReadFile(path); len(holder) > 0 || try == 40 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		who := strings.TrimSpace(string(holder))
		if who == "" {
			who = "another process"
		}
		return nil, errs.Fatalf("state directory %s is in use by %s; wait for that run to end, or use another --state", filepath.Dir(path), who)
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	return f, nil
}

func (s *State) migrate() error {
	if _, err := s.db.Exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	err := s.db.QueryRow(`SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.db.Exec(`INSERT INTO schema_version VALUES (0)`); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("state schema version %d is newer than this cutover (%d): upgrade cutover", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(`UPDATE schema_version SET version = ?`, i+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the lock and the database.
func (s *State) Close() error {
	err := s.db.Close()
	if s.lock != nil {
		s.lock.Truncate(0)
		s.lock.Close()
	}
	return err
}

// Pair returns the id of the kind/source/target pair, creating it.
func (s *State) Pair(ctx context.Context, kind, source, target string) (int64, error) {
	_, err := s.db.ExecContext(ctx, `INSERT INTO pairs(kind, source, target) VALUES (?,?,?) ON CONFLICT DO NOTHING`, kind, source, target)
	if err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	var id int64
	err = s.db.QueryRowContext(ctx, `SELECT id FROM pairs WHERE kind=? AND source=? AND target=?`, kind, source, target).Scan(&id)
	return id, err
}

// Lister returns the lister recorded for a pair's manifest ("find", "sftp", "local").
func (s *State) Lister(ctx context.Context, pair int64) (string, error) {
	var l string
	err := s.db.QueryRowContext(ctx, `SELECT lister FROM pairs WHERE id=?`, pair).Scan(&l)
	return l, err
}

// SetLister records which lister produced the pair's manifest.
func (s *State) SetLister(ctx context.Context, pair int64, lister string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE pairs SET lister=? WHERE id=?`, lister, pair)
	return err
}

// LastScanned is how many entries the pair's last finished run listed at
// its source, 0 when none did.
func (s *State) LastScanned(ctx context.Context, pair int64) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT files_scanned FROM runs WHERE pair_id=? AND status IN ('ok','partial')
		ORDER BY id DESC LIMIT 1`, pair).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// Run is one recorded run.
type Run struct {
	ID           int64
	Pair         int64
	Command      string
	Started      time.Time
	Finished     time.Time
	Status       string // running, ok, partial, failed, interrupted
	FilesScanned int64
	FilesCopied  int64
	BytesCopied  int64
	FilesDeleted int64
	FilesFailed  int64
	Duration     float64
	CopySeconds  float64
	BWLimit      int64 // the cap on the read rate, bytes a second; 0: none
}

// BeginRun records the start of a run.
func (s *State) BeginRun(ctx context.Context, pair int64, command string) (int64, error) {
	host, _ := os.Hostname()
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs(pair_id, command, started_at, status, pid, host) VALUES (?,?,?,?,?,?)`,
		pair, command, time.Now().UTC().Format(time.RFC3339Nano), "running", os.Getpid(), host)
	if err != nil {
		return 0, fmt.Errorf("state: begin run: %w", err)
	}
	return res.LastInsertId()
}

// FinishRun records a run's outcome.
func (s *State) FinishRun(ctx context.Context, r Run) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET finished_at=?, status=?, files_scanned=?, files_copied=?, bytes_copied=?,
		files_deleted=?, files_failed=?, duration_s=?, copy_seconds=?, bwlimit=? WHERE id=?`,
		time.Now().UTC().Format(time.RFC3339Nano), r.Status, r.FilesScanned, r.FilesCopied, r.BytesCopied,
		r.FilesDeleted, r.FilesFailed, r.Duration, r.CopySeconds, r.BWLimit, r.ID)
	return err
}

// Interrupted reports whether an earlier run of pair was killed before it
// finished (its status is still "running"), excluding run current.
func (s *State) Interrupted(ctx context.Context, pair, current int64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE pair_id=? AND status='running' AND id<>?`, pair, current).Scan(&n)
	return n > 0, err
}

// MarkAbandoned closes runs of pair that were killed.
func (s *State) MarkAbandoned(ctx context.Context, pair, current int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET status='killed' WHERE pair_id=? AND status='running' AND id<>?`, pair, current)
	return err
}

// Runs lists the runs of a pair (all pairs when pair is 0), oldest first.
func (s *State) Runs(ctx context.Context, pair int64) ([]Run, error) {
	q := `SELECT id, pair_id, command, started_at, COALESCE(finished_at,''), status, files_scanned, files_copied, bytes_copied,
		files_deleted, files_failed, duration_s, copy_seconds, bwlimit FROM runs`
	var args []any
	if pair != 0 {
		q += ` WHERE pair_id=?`
		args = append(args, pair)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var st, fin string
		if err := rows.Scan(&r.ID, &r.Pair, &r.Command, &st, &fin, &r.Status, &r.FilesScanned, &r.FilesCopied, &r.BytesCopied,
			&r.FilesDeleted, &r.FilesFailed, &r.Duration, &r.CopySeconds, &r.BWLimit); err != nil {
			return nil, err
		}
		r.Started, _ = time.Parse(time.RFC3339Nano, st)
		r.Finished, _ = time.Parse(time.RFC3339Nano, fin)
		out = append(out, r)
	}
	return out, rows.Err()
}
