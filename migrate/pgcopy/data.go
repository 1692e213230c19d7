package pgcopy

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/state"
)

// chunk is one transaction of a table copy: the whole table, a key range
// [from, to) (literals, "" open), or a range of heap pages.
type chunk struct {
	t        *pg.Table
	n        int // -1 for a whole table
	from, to string
	ctid     bool
	redo     bool // an earlier attempt may have committed rows: delete the range first
	estimate int64
}

func (ch chunk) item() state.DBItem {
	kind := "table"
	if ch.n >= 0 {
		kind = "chunk"
	}
	return state.DBItem{Kind: kind, Name: ch.t.String(), Chunk: ch.n, KeyFrom: ch.from, KeyTo: ch.to}
}

// where selects the chunk's rows ("" for a whole table).
func (ch chunk) where() string {
	if ch.n < 0 {
		return ""
	}
	col := ""
	if ch.ctid {
		col = "ctid"
	} else {
		col = pg.Ident(ch.t.Key.Column)
	}
	lit := func(s string) string {
		if ch.ctid {
			return "'(" + s + ",0)'::tid"
		}
		return s
	}
	var w string
	if ch.from != "" {
		w = col + " >= " + lit(ch.from)
	}
	if ch.to != "" {
		if w != "" {
			w += " AND "
		}
		w += col + " < " + lit(ch.to)
	}
	return w
}

// maxChunks bounds how many pieces one table is cut into.
const maxChunks = 256

// planChunks cuts the tables into copy units. Tables larger than the split
// size are cut on their integer key (even ranges between the snapshot's
// min and max) or else on heap pages; on resume, the cut of the first run
// is reused so that committed ranges stay exact.
func (c *copier) planChunks(ctx context.Context) ([]chunk, error) {
	var out []chunk
	for _, t := range c.tables {
		if t.Partitioned {
			continue
		}
		if prev := c.previousChunks(t); len(prev) > 0 {
			out = append(out, prev...)
			continue
		}
		n := int((t.Bytes + c.o.SplitLargerThan - 1) / c.o.SplitLargerThan)
		if t.Bytes <= c.o.SplitLargerThan || n < 2 {
			out = append(out, chunk{t: t, n: -1, estimate: t.Bytes})
			continue
		}
		// A multiple of the workers, so that none idles at the end.
		n = min((n+c.o.Jobs-1)/c.o.Jobs*c.o.Jobs, maxChunks)
		var cs []chunk
		var err error
		if t.Key != nil {
			cs, err = c.keyChunks(ctx, t, n)
		} else {
			cs = pageChunks(t, n)
		}
		if err != nil {
			return nil, err
		}
		for _, ch := range cs {
			it := ch.item()
			it.Status = "planned"
			if err := c.record(ctx, it); err != nil {
				return nil, err
			}
		}
		out = append(out, cs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].estimate > out[j].estimate })
	return out, nil
}

// previousChunks returns the chunks a killed run planned for t.
func (c *copier) previousChunks(t *pg.Table) []chunk {
	var cs []chunk
	for _, it := range c.done {
		if it.Kind == "chunk" && it.Name == t.String() {
			cs = append(cs, chunk{t: t, n: it.Chunk, from: it.KeyFrom, to: it.KeyTo, ctid: t.Key == nil})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].n < cs[j].n })
	for i := range cs {
		cs[i].estimate = t.Bytes / int64(len(cs))
	}
	return cs
}

func (c *copier) keyChunks(ctx context.Context, t *pg.Table, n int) ([]chunk, error) {
	bounds, err := keyBounds(ctx, c.coordTx, t, n)
	if err != nil {
		return nil, err
	}
	if bounds == nil {
		return []chunk{{t: t, n: -1, estimate: t.Bytes}}, nil
	}
	cs := make([]chunk, len(bounds)-1)
	for i := range cs {
		cs[i] = chunk{t: t, n: i, from: bounds[i], to: bounds[i+1], estimate: t.Bytes / int64(len(cs))}
	}
	return cs, nil
}

// keyBounds cuts the integer key range of t, as the transaction of q sees
// it, into at most n even ranges. It returns n+1 bounds whose first and
// last are "" (open), or nil for an empty table.
func keyBounds(ctx context.Context, q pg.Querier, t *pg.Table, n int) ([]string, error) {
	min, max, err := keyMinMax(ctx, q, t)
	if err != nil || min == nil {
		return nil, err
	}
	span := new(big.Int).Sub(max, min)
	span.Add(span, big.NewInt(1))
	if span.Cmp(big.NewInt(int64(n))) < 0 {
		n = int(span.Int64())
	}
	bounds := make([]string, n+1)
	for i := 1; i < n; i++ {
		b := new(big.Int).Mul(span, big.NewInt(int64(i)))
		b.Quo(b, big.NewInt(int64(n)))
		b.Add(b, min)
		bounds[i] = b.String()
	}
	return bounds, nil
}

// keyMinMax returns the smallest and largest key of t (nil for an empty table).
func keyMinMax(ctx context.Context, q pg.Querier, t *pg.Table) (*big.Int, *big.Int, error) {
	var lo, hi *string
	sql := fmt.Sprintf("SELECT min(%[1]s)::text, max(%[1]s)::text FROM ONLY %[2]s", pg.Ident(t.Key.Column), t.QName())
	if err := q.QueryRow(ctx, sql).Scan(&lo, &hi); err != nil {
		return nil, nil, fmt.Errorf("key range of %s: %w", t, err)
	}
	if lo == nil || hi == nil {
		return nil, nil, nil
	}
	min, ok1 := new(big.Int).SetString(*lo, 10)
	max, ok2 := new(big.Int).SetString(*hi, 10)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("key range of %s: %q..%q is not integral", t, *lo, *hi)
	}
	return min, max, nil
}

func pageChunks(t *pg.Table, n int) []chunk {
	pages := max(t.Pages, int64(n))
	cs := make([]chunk, n)
	for i := range cs {
		ch := chunk{t: t, n: i, ctid: true, estimate: t.Bytes / int64(n)}
		if i > 0 {
			ch.from = strconv.FormatInt(pages*int64(i)/int64(n), 10)
		}
		if i < n-1 {
			ch.to = strconv.FormatInt(pages*int64(i+1)/int64(n), 10)
		}
		cs[i] = ch
	}
	return cs
}

// tableProgress gathers a table's chunks into its report line.
type tableProgress struct {
	rep     *TableReport
	pending int
	start   time.Time
}

// copyData copies every chunk over o.Jobs workers, each with its own source
// connection in the snapshot and its own target connection.
func (c *copier) copyData(ctx context.Context) error {
	chunks, err := c.planChunks(ctx)
	if err != nil {
		return err
	}
	byTable := map[string]*tableProgress{}
	counter := &progress.Counter{Unit: "chunks"}
	var todo []chunk
	ctidRedo := map[string]bool{}
	for _, ch := range chunks {
		tp := byTable[ch.t.String()]
		if tp == nil {
			split := "whole"
			if ch.n >= 0 {
				split = map[bool]string{true: "ctid", false: "key"}[ch.ctid]
			}
			tp = &tableProgress{rep: &TableReport{Name: ch.t.String(), Split: split, Status: "ok"}, start: time.Now()}
			byTable[ch.t.String()] = tp
			c.rep.Tables = append(c.rep.Tables, tp.rep)
		}
		tp.rep.Chunks++
		if prev, ok := c.done[ch.item().Key()]; ok && prev.Status == "done" {
			tp.rep.Resumed++
			tp.rep.Rows += prev.Rows
			tp.rep.Bytes += prev.Bytes
			continue
		}
		if c.rep.Resumed {
			ch.redo = true
			if ch.ctid {
				ctidRedo[ch.t.String()] = true
			}
		}
		tp.pending++
		todo = append(todo, ch)
		counter.FilesTotal.Add(1)
		counter.BytesTotal.Add(ch.estimate)
	}
	// A page-range chunk cannot be deleted by its range on the target (the
	// target's pages differ): a resumed table cut on pages starts over.
	if len(ctidRedo) > 0 {
		var kept []chunk
		for _, ch := range todo {
			if !ctidRedo[ch.t.String()] {
				kept = append(kept, ch)
			}
		}
		for _, ch := range chunks {
			if ctidRedo[ch.t.String()] {
				if prev, ok := c.done[ch.item().Key()]; ok && prev.Status == "done" {
					tp := byTable[ch.t.String()]
					tp.rep.Resumed--
					tp.rep.Rows -= prev.Rows
					tp.rep.Bytes -= prev.Bytes
					tp.pending++
					counter.FilesTotal.Add(1)
					counter.BytesTotal.Add(ch.estimate)
				}
				ch.redo = false
				kept = append(kept, ch)
				// The table is emptied below: no chunk of it is done any
				// more, should this run be killed too.
				it := ch.item()
				it.Status = "planned"
				if err := c.record(ctx, it); err != nil {
					return err
				}
			}
		}
		for name := range ctidRedo {
			t := byTable[name]
			if _, err := c.target.Exec(ctx, "TRUNCATE ONLY "+tableByName(c.tables, name).QName()); err != nil {
				return fmt.Errorf("target: truncate %s to redo it: %w", name, err)
			}
			t.rep.Resumed = 0
		}
		todo = kept
	}
	disp := progress.Start(c.o.Log, "copy", counter, c.o.LogInterval)
	defer disp.Stop()

	var mu sync.Mutex
	err = parallel(ctx, c.o.Jobs, todo, func(gctx context.Context, queue <-chan chunk) error {
		wk := &worker{c: c}
		defer wk.close(context.WithoutCancel(gctx))
		for ch := range queue {
			start := time.Now()
			rows, bytes, err := wk.copyChunk(gctx, ch, counter)
			if err != nil {
				return err
			}
			it := ch.item()
			it.Status, it.Rows, it.Bytes, it.DurationS = "done", rows, bytes, time.Since(start).Seconds()
			mu.Lock()
			tp := byTable[ch.t.String()]
			tp.rep.Rows += rows
			tp.rep.Bytes += bytes
			tp.pending--
			if tp.pending == 0 {
				tp.rep.DurationS = round(time.Since(tp.start).Seconds())
				c.o.logf("db copy: table %s: %d rows, %d bytes in %.1fs (%d chunks)", tp.rep.Name, tp.rep.Rows, tp.rep.Bytes, tp.rep.DurationS, tp.rep.Chunks)
			}
			err = c.record(gctx, it)
			mu.Unlock()
			if err != nil {
				return err
			}
			counter.FilesDone.Add(1)
			if c.o.afterChunk != nil {
				c.o.afterChunk(ch.t.String(), ch.n)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.o.logf("db copy: data copied: %d chunks", len(todo))
	return nil
}

func tableByName(ts []*pg.Table, name string) *pg.Table {
	for _, t := range ts {
		if t.String() == name {
			return t
		}
	}
	return nil
}

// worker holds one source connection inside the snapshot and one target
// connection; either is reopened after a failure.
type worker struct {
	c        *copier
	src, dst *pgx.Conn
}

func (w *worker) close(ctx context.Context) {
	if w.src != nil {
		w.src.Close(ctx)
		w.src = nil
	}
	if w.dst != nil {
		w.dst.Close(ctx)
		w.dst = nil
	}
}

func (w *worker) open(ctx context.Context) error {
	c := w.c
	if w.src == nil {
		conn, err := c.o.Source.Connect(ctx, pg.SourceParams())
		if err != nil {
			return err
		}
		pg.ForRanges(ctx, conn)
		if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			conn.Close(ctx)
			return err
		}
		if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+pg.Literal(c.snapshot)); err != nil {
			conn.Close(ctx)
			return fmt.Errorf("source: import snapshot %s: %w", c.snapshot, err)
		}
		w.src = conn
	}
	if w.dst == nil {
		conn, err := c.o.Target.Connect(ctx, pg.TargetParams(c.o.MaintenanceWorkMem))
		if err != nil {
			return err
		}
		w.dst = conn
	}
	return nil
}

// maxChunkAttempts bounds the retries of a chunk whose connection died.
const maxChunkAttempts = 4

// copyChunk copies one chunk in one target transaction, retrying on a
// lost connection or a terminated backend. A retry first deletes the
// chunk's key range (or truncates the table), so no row is copied twice.
func (w *worker) copyChunk(ctx context.Context, ch chunk, counter *progress.Counter) (int64, int64, error) {
	for attempt := 1; ; attempt++ {
		rows, bytes, commitSent, err := w.attempt(ctx, ch, counter)
		if err == nil {
			return rows, bytes, nil
		}
		counter.BytesDone.Add(-bytes)
		w.close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if !pg.Retryable(err) || attempt == maxChunkAttempts {
			return 0, 0, errs.Fatalf("copy %s: %w", describeChunk(ch), err)
		}
		if ch.ctid && ch.n >= 0 && commitSent {
			return 0, 0, errs.Fatalf("copy %s: the connection was lost while committing, so whether the rows arrived is unknown; rerun with --resume (the table is copied again)", describeChunk(ch))
		}
		w.c.o.logf("db copy: %s: %v; retrying (attempt %d)", describeChunk(ch), err, attempt+1)
		ch.redo = true
		time.Sleep(time.Duration(attempt*attempt) * 200 * time.Millisecond)
	}
}

func describeChunk(ch chunk) string {
	if ch.n < 0 {
		return ch.t.String()
	}
	return fmt.Sprintf("%s chunk %d (%s)", ch.t, ch.n, ch.where())
}

type countingReader struct {
	r       io.Reader
	n       atomic.Int64
	counter *progress.Counter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	c.counter.BytesDone.Add(int64(n))
	return n, err
}

func (w *worker) attempt(ctx context.Context, ch chunk, counter *progress.Counter) (rows, bytes int64, commitSent bool, err error) {
	if err := w.open(ctx); err != nil {
		return 0, 0, false, err
	}
	t := ch.t
	binary := w.c.o.CopyFormat == "binary"
	tx, err := w.dst.Begin(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	whole := ch.n < 0
	if whole {
		if _, err := tx.Exec(ctx, "TRUNCATE ONLY "+t.QName()); err != nil {
			return 0, 0, false, err
		}
	} else if ch.redo && !ch.ctid {
		if _, err := tx.Exec(ctx, "DELETE FROM ONLY "+t.QName()+" WHERE "+ch.where()); err != nil {
			return 0, 0, false, err
		}
	}
	if len(t.Columns) == 0 {
		n, err := w.copyNoColumns(ctx, tx, ch)
		if err != nil {
			return 0, 0, false, err
		}
		return n, 0, true, tx.Commit(ctx)
	}
	// A whole table is read with COPY table TO, which skips the executor
	// (and, like ONLY, never includes inheritance children); a range needs
	// a query.
	out := "COPY " + t.QName() + " (" + t.ColumnList() + ") TO STDOUT"
	if wh := ch.where(); wh != "" {
		out = "COPY (SELECT " + t.ColumnList() + " FROM ONLY " + t.QName() + " WHERE " + wh + ") TO STDOUT"
	}
	in := "COPY " + t.QName() + " (" + t.ColumnList() + ") FROM STDIN"
	var opts []string
	if binary {
		out += " WITH (FORMAT binary)"
		opts = append(opts, "FORMAT binary")
	}
	if whole {
		opts = append(opts, "FREEZE")
	}
	if len(opts) > 0 {
		in += " WITH (" + strings.Join(opts, ", ") + ")"
	}
	var cr *countingReader
	tag, err, serr := pg.Stream(ctx, w.src.PgConn(), tx.Conn().PgConn(), out, in, func(r io.Reader) io.Reader {
		cr = &countingReader{r: r, counter: counter}
		return cr
	})
	if err != nil {
		if serr != nil && pg.Retryable(serr) {
			err = serr // the source died first; the target saw the pipe close
		}
		return 0, cr.n.Load(), false, err
	}
	if serr != nil {
		return 0, cr.n.Load(), false, serr
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, cr.n.Load(), true, err
	}
	return tag.RowsAffected(), cr.n.Load(), true, nil
}

// copyNoColumns copies a table without columns (it can still hold rows).
func (w *worker) copyNoColumns(ctx context.Context, tx pgx.Tx, ch chunk) (int64, error) {
	var n int64
	q := "SELECT count(*) FROM ONLY " + ch.t.QName()
	if wh := ch.where(); wh != "" {
		q += " WHERE " + wh
	}
	if err := w.src.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, err
	}
	_, err := tx.Exec(ctx, "INSERT INTO "+ch.t.QName()+" SELECT FROM generate_series(1, $1)", n)
	return n, err
}
