package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/store"
)

// Row is one manifest entry: what was synced, as the source was when read.
type Row struct {
	store.Entry        // Inode: the source inode of hard-linked names, else 0
	Hash        string // "algo:hex", empty when not hashed
	RunID       int64
}

// HasManifest reports whether pair has any manifest rows.
func (s *State) HasManifest(ctx context.Context, pair int64) (bool, error) {
	if err := s.merge(ctx, pair); err != nil {
		return false, err
	}
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM manifest WHERE pair_id=? LIMIT 1)`, pair).Scan(&n)
	return n > 0, err
}

// ManifestFiles returns how many files pair records with a content hash,
// and their bytes: what a read-back of every recorded file will read.
func (s *State) ManifestFiles(ctx context.Context, pair int64) (files, bytes int64, err error) {
	if err := s.merge(ctx, pair); err != nil {
		return 0, 0, err
	}
	err = s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM manifest WHERE pair_id=? AND type=? AND hash != ''`,
		pair, int(store.File)).Scan(&files, &bytes)
	if err != nil {
		err = fmt.Errorf("state: count manifest: %w", err)
	}
	return files, bytes, err
}

// Manifest calls fn for every row of pair in byte order of path (the order
// of Go string comparison). It reads through the driver's own rows, not
// database/sql's: its conversions took a third of the time, and a rerun of
// 10^6 entries waits for this read once its listing is done (1.7 s through
// database/sql, 1.1 s so).
func (s *State) Manifest(ctx context.Context, pair int64, fn func(Row) error) error {
	if err := s.merge(ctx, pair); err != nil {
		return err
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("state: read manifest: %w", err)
	}
	defer c.Close()
	err = c.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("the SQLite driver %T runs no queries", dc)
		}
		rows, err := q.QueryContext(ctx, `SELECT path, type, size, mtime_ns, mode, uid, gid, link_target, hash, run_id, link_inode
			FROM manifest WHERE pair_id=? ORDER BY path`, []driver.NamedValue{{Ordinal: 1, Value: pair}})
		if err != nil {
			return err
		}
		defer rows.Close()
		v := make([]driver.Value, 11)
		for {
			if err := rows.Next(v); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			var r Row
			r.Path, r.Target, r.Hash = text(v[0]), text(v[7]), text(v[8])
			r.Type, r.Size, r.ModTime = store.EntryType(integer(v[1])), integer(v[2]), store.Time(integer(v[3]))
			r.Mode, r.UID, r.GID = fs.FileMode(integer(v[4])), uint32(integer(v[5])), uint32(integer(v[6]))
			r.RunID, r.Inode = integer(v[9]), uint64(integer(v[10]))
			if err := fn(r); err != nil {
				return errStop{err}
			}
		}
	})
	if stop, ok := err.(errStop); ok {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("state: read manifest: %w", err)
	}
	return nil
}

// errStop carries fn's error out of Manifest unwrapped.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

// text and integer read a column the driver returned (a BLOB as []byte,
// TEXT as string, INTEGER as int64).
func text(v driver.Value) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	}
	return ""
}

func integer(v driver.Value) int64 {
	x, _ := v.(int64)
	return x
}

// ManifestWriter batches manifest changes into transactions. It is used
// from one goroutine (MergeBehind runs its merge on one of its own, and
// holds the rows given meanwhile).
//
// Rows that come in path order (a run's first ones: the directories it
// marks, the entries it adopts) go straight into the manifest. From the
// first that does not, and from the first removal, they are appended to
// manifest_log in the order given, and Close merges the log into manifest
// in path order (so does any read of the manifest that finds some left
// there, by a run that was killed). A run records its files in the order
// they finish (largest first), so straight into the manifest each row went
// to a random place in its tree: 10^6 of them took 27 µs a row, each
// commit rewriting a page for nearly every row in the write-ahead log.
// Through the log, 5.2 µs a row in any order (half of it the merge);
// straight in, in path order, 2.5 µs (BenchmarkManifestWriter, 200,000
// rows).
type ManifestWriter struct {
	s       *State
	pair    int64
	tx      *sql.Tx
	put     rowBatch // into the manifest
	log     rowBatch // into the log
	pending int
	logged  int64 // rows appended to the log
	// inOrder: every row so far came in path order and went into the
	// manifest, the last one at lastPath.
	inOrder  bool
	lastPath string
	begun    bool // see begin
	last     time.Time
	// merging, while MergeBehind's merge runs, gets its outcome; the rows
	// given meanwhile wait in held.
	merging chan error
	held    []heldRow
	// BeforeCommit, when set, runs before each commit: a durability
	// barrier, so that nothing is recorded before its data is on disk.
	BeforeCommit func() error
}

// NewManifestWriter starts writing manifest changes for pair.
func (s *State) NewManifestWriter(pair int64) *ManifestWriter {
	return &ManifestWriter{s: s, pair: pair, inOrder: true, last: time.Now()}
}

// manifestColumns are a manifest row's columns, also the log's but gone;
// upsert makes an insert of a recorded path replace its row.
const (
	manifestColumns = `pair_id, path, type, size, mtime_ns, mode, uid, gid, link_target, hash, run_id, link_inode`
	upsert          = ` ON CONFLICT(pair_id, path) DO UPDATE SET type=excluded.type, size=excluded.size,
		mtime_ns=excluded.mtime_ns, mode=excluded.mode, uid=excluded.uid, gid=excluded.gid, link_target=excluded.link_target,
		hash=excluded.hash, run_id=excluded.run_id, link_inode=excluded.link_inode`
)

func (w *ManifestWriter) begin() error {
	if w.tx != nil {
		return nil
	}
	if !w.begun {
		// A log left by a killed run goes in first: a row written
		// straight into the manifest must not be replaced by an older
		// one of the log at the merge.
		if err := w.s.merge(context.Background(), w.pair); err != nil {
			return err // says what failed
		}
		w.begun = true
	}
	if err := w.open(); err != nil {
		return w.s.failed("begin", err)
	}
	return nil
}

// open starts a transaction with its statements.
func (w *ManifestWriter) open() error {
	tx, err := w.s.db.Begin()
	if err != nil {
		return err
	}
	w.tx = tx
	w.put = newBatch(tx, `INSERT INTO manifest(`+manifestColumns+`) VALUES `, 12, upsert)
	w.log = newBatch(tx, `INSERT INTO manifest_log(`+manifestColumns+`, gone) VALUES `, 13, "")
	return nil
}

// batchRows is how many rows a rowBatch inserts with one statement: what
// database/sql and the driver cost a statement is paid once for them. With
// a statement a row, BenchmarkManifestWriter (200,000 rows) took 5.8 µs a
// row in finish order and 3.6 µs in path order; with 64, 5.2 and 2.5 µs.
const batchRows = 64

// rowBatch gathers rows for an INSERT of batchRows rows at once; rows
// left over when it is flushed go one by one. A row is in the transaction
// only once flushed: flush before a commit or a read of the table. Its
// statements are prepared when first used, so that a transaction of a few
// rows does not prepare the one of batchRows.
type rowBatch struct {
	tx          *sql.Tx
	one, many   string // the statements for a row and for batchRows
	oneS, manyS *sql.Stmt
	cols        int
	args        []any
	paths       []string // of the rows gathered, for errors
}

// newBatch batches insert (ending in "VALUES ") of rows of cols columns,
// followed by tail, in tx.
func newBatch(tx *sql.Tx, insert string, cols int, tail string) rowBatch {
	row := "(" + strings.Repeat("?,", cols-1) + "?)"
	return rowBatch{tx: tx, cols: cols, one: insert + row + tail,
		many: insert + strings.Repeat(row+",", batchRows-1) + row + tail}
}

// exec runs the statement *st (prepared from q when nil) with args.
func (b *rowBatch) exec(st **sql.Stmt, q string, args []any) error {
	if *st == nil {
		s, err := b.tx.Prepare(q)
		if err != nil {
			return err
		}
		*st = s
	}
	_, err := (*st).Exec(args...)
	return err
}

// add gathers the row of path with args, and inserts the batch once full.
func (b *rowBatch) add(path string, args ...any) error {
	b.args = append(b.args, args...)
	b.paths = append(b.paths, path)
	if len(b.paths) < batchRows {
		return nil
	}
	return b.flush()
}

// flush inserts the rows gathered.
func (b *rowBatch) flush() error {
	defer func() { b.args, b.paths = b.args[:0], b.paths[:0] }()
	if len(b.paths) == batchRows {
		if err := b.exec(&b.manyS, b.many, b.args); err != nil {
			return fmt.Errorf("%d rows from %q: %w", len(b.paths), b.paths[0], err)
		}
		return nil
	}
	for i, p := range b.paths {
		if err := b.exec(&b.oneS, b.one, b.args[i*b.cols:(i+1)*b.cols]); err != nil {
			return fmt.Errorf("%q: %w", p, err)
		}
	}
	return nil
}

// heldRow is a row given while the log was merged: put, or deleted.
type heldRow struct {
	r    Row
	gone bool
}

// MergeBehind starts merging what the run has recorded so far into the
// manifest, in the open transaction, which it then commits as Flush does
// (once BeforeCommit made the target durable), and returns while that
// runs. The rows given meanwhile are held in memory, and written once it
// is done, in path order: with the log then empty they go straight into
// the manifest. A run calls it when its copies are done: the merge and its
// commit then run beside the directories' metadata, on the core that
// would idle, instead of after it.
func (w *ManifestWriter) MergeBehind() error {
	if w.merging != nil || w.logged == 0 {
		return nil
	}
	if err := w.begin(); err != nil {
		return err
	}
	if err := w.flushRows(); err != nil {
		return err
	}
	done := make(chan error, 1)
	tx, before := w.tx, w.BeforeCommit
	go func() {
		done <- func() error {
			w.s.mergeMu.Lock()
			defer w.s.mergeMu.Unlock()
			if err := w.s.mergeIn(context.Background(), tx, w.pair); err != nil {
				tx.Rollback()
				return err
			}
			return w.commit(tx, before)
		}()
	}()
	w.merging, w.logged = done, 0
	w.tx, w.pending, w.last = nil, 0, time.Now()
	return nil
}

// settle waits for MergeBehind's merge, if one runs, and writes the rows
// held meanwhile.
func (w *ManifestWriter) settle() error {
	if w.merging == nil {
		return nil
	}
	err := <-w.merging
	w.merging = nil
	if err != nil {
		return err
	}
	w.inOrder, w.lastPath = true, "" // the log is empty
	held := w.held
	w.held = nil
	slices.SortStableFunc(held, func(a, b heldRow) int { return strings.Compare(a.r.Path, b.r.Path) })
	for _, h := range held {
		if h.gone {
			err = w.Delete(h.r.Path)
		} else {
			err = w.Put(h.r)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// hold keeps h while a merge runs, reporting whether it did.
func (w *ManifestWriter) hold(h heldRow) bool {
	if w.merging == nil {
		return false
	}
	select {
	case err := <-w.merging:
		w.merging <- err // settle takes it
		return false
	default:
		w.held = append(w.held, h)
		return true
	}
}

// Put records r.
func (w *ManifestWriter) Put(r Row) error {
	if w.hold(heldRow{r: r}) {
		return nil
	}
	if err := w.settle(); err != nil {
		return err
	}
	if err := w.begin(); err != nil {
		return err
	}
	var linkInode int64
	if r.Type == store.File && r.Nlink > 1 {
		linkInode = int64(r.Inode)
	}
	args := []any{w.pair, []byte(r.Path), int(r.Type), r.Size, r.ModTime.UnixNano(), int(r.Mode), r.UID, r.GID,
		[]byte(r.Target), r.Hash, r.RunID, linkInode, 0}
	var err error
	if w.inOrder && r.Path > w.lastPath {
		err = w.put.add(r.Path, args[:len(args)-1]...)
		w.lastPath = r.Path
	} else {
		w.inOrder = false
		err = w.log.add(r.Path, args...)
		w.logged++
	}
	if err != nil {
		return w.s.failed("record", err)
	}
	return w.tick()
}

// Delete forgets path.
func (w *ManifestWriter) Delete(path string) error {
	if w.hold(heldRow{r: Row{Entry: store.Entry{Path: path}}, gone: true}) {
		return nil
	}
	if err := w.settle(); err != nil {
		return err
	}
	if err := w.begin(); err != nil {
		return err
	}
	w.inOrder = false
	if err := w.log.add(path, w.pair, []byte(path), 0, 0, 0, 0, 0, 0, []byte{}, "", 0, 0, 1); err != nil {
		return w.s.failed("record", err)
	}
	w.logged++
	return w.tick()
}

func (w *ManifestWriter) tick() error {
	w.pending++
	if w.pending >= 2000 || time.Since(w.last) > time.Second {
		return w.Flush()
	}
	return nil
}

// Flush commits what is pending.
func (w *ManifestWriter) Flush() error {
	if err := w.settle(); err != nil {
		return err
	}
	w.last = time.Now()
	if w.tx == nil {
		return nil
	}
	if err := w.flushRows(); err != nil {
		return err
	}
	tx := w.tx
	w.tx, w.pending = nil, 0
	return w.commit(tx, w.BeforeCommit)
}

// flushRows inserts the rows gathered in the open transaction.
func (w *ManifestWriter) flushRows() error {
	if err := w.put.flush(); err != nil {
		return w.s.failed("record", err)
	}
	if err := w.log.flush(); err != nil {
		return w.s.failed("record", err)
	}
	return nil
}

// commit commits tx once before, when set, has made the target durable.
func (w *ManifestWriter) commit(tx *sql.Tx, before func() error) error {
	if before != nil {
		if err := before(); err != nil {
			tx.Rollback()
			return fmt.Errorf("state: make the target durable before recording it: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return w.s.failed("commit manifest", err)
	}
	return nil
}

// failed wraps an error of the state's database; one of its disk (full,
// read-only) stops the run and says where.
func (s *State) failed(what string, err error) error {
	var se interface{ Code() int }
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case 13: // SQLITE_FULL
			return errs.Fatalf("state %s: %s: the disk that holds the state directory is full (%w): free space there, or move the directory and point --state at it; the files copied since the last record are compared again by the next run", s.dir, what, err)
		case 8: // SQLITE_READONLY
			return errs.Fatalf("state %s: %s: the state directory cannot be written (%w)", s.dir, what, err)
		}
	}
	return fmt.Errorf("state: %s: %w", what, err)
}

// Logged is how many records w has appended to the log (not written
// straight into the manifest) since it was last merged.
func (w *ManifestWriter) Logged() int64 { return w.logged }

// Close commits what is pending and merges the run's records into the
// manifest.
func (w *ManifestWriter) Close() error {
	if err := w.Flush(); err != nil {
		return err
	}
	return w.s.merge(context.Background(), w.pair)
}

// merge moves pair's rows of manifest_log into manifest in one
// transaction, in path order (so each page of the manifest's tree is
// written once): of each path, the last thing recorded.
func (s *State) merge(ctx context.Context, pair int64) error {
	s.mergeMu.Lock() // two readers starting at once merge once
	defer s.mergeMu.Unlock()
	var pending bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM manifest_log WHERE pair_id=?)`, pair).Scan(&pending); err != nil {
		return s.failed("read the manifest log", err)
	}
	if !pending {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.failed("merge the manifest log", err)
	}
	defer tx.Rollback()
	if err := s.mergeIn(ctx, tx, pair); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.failed("merge the manifest log", err)
	}
	return nil
}

// mergeIn moves pair's rows of manifest_log into manifest within tx.
func (s *State) mergeIn(ctx context.Context, tx *sql.Tx, pair int64) error {
	// In path order, and of a path in the order recorded, the last one
	// winning; a removal is written as type -1, and those rows then go.
	for _, q := range []string{
		`INSERT INTO manifest(` + manifestColumns + `)
		SELECT pair_id, path, iif(gone, -1, type), size, mtime_ns, mode, uid, gid, link_target, hash, run_id, link_inode
		FROM manifest_log WHERE pair_id=?1 ORDER BY path, id` + upsert,
		`DELETE FROM manifest WHERE pair_id=?1 AND type=-1 AND path IN (SELECT path FROM manifest_log WHERE pair_id=?1 AND gone)`,
		`DELETE FROM manifest_log WHERE pair_id=?1`,
	} {
		if _, err := tx.ExecContext(ctx, q, pair); err != nil {
			return s.failed("merge the manifest log", err)
		}
	}
	return nil
}

// Clear removes every manifest row of pair.
func (s *State) Clear(ctx context.Context, pair int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM manifest_log WHERE pair_id=?`, pair); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM manifest WHERE pair_id=?`, pair)
	return err
}
