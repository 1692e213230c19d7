package pgcopy

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/checksum/pgsum"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/state"
)

// Verify runs `db verify`: both databases are read in consistent
// snapshots and compared table by table, key range by key range, inside
// each server, then sequences and definitions.
func Verify(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := newReport("db verify", o.Source.Redacted(), o.Target.Redacted())
	rep.Verify = &VerifyReport{}
	err := func() error {
		st, err := state.Open(o.StateDir)
		if err != nil {
			return errs.Fatalf("%w", err)
		}
		defer st.Close()
		pair, err := st.Pair(ctx, "db", o.Source.Redacted(), o.Target.Redacted())
		if err != nil {
			return err
		}
		run, err := st.BeginRun(ctx, pair, "db verify")
		if err != nil {
			return err
		}
		v := &verifier{o: o, pair: pair, runID: run, st: st, rep: rep.Verify}
		err = v.run(ctx)
		st.FinishRun(context.WithoutCancel(ctx), state.Run{ID: run, Status: errs.Status(err), Duration: time.Since(rep.StartedAt).Seconds()})
		return err
	}()
	return rep, rep.finish(err)
}

// verifier compares the two databases.
type verifier struct {
	o           Options
	pair, runID int64
	st          *state.State
	srcSnapshot string // set by db copy: compare exactly what was copied
	rep         *VerifyReport
	hash        pgsum.Hash
	mu          sync.Mutex
	sums        []state.ChunkSum
}

// side is one database held in a snapshot for the comparison.
type side struct {
	ep       pg.Endpoint
	conn     *pgx.Conn
	tx       pgx.Tx
	snapshot string
}

func openSide(ctx context.Context, ep pg.Endpoint, snapshot string) (*side, error) {
	conn, err := ep.Connect(ctx, pg.SourceParams())
	if err != nil {
		return nil, err
	}
	pg.ForRanges(ctx, conn)
	s := &side{ep: ep, conn: conn, snapshot: snapshot}
	if s.tx, err = conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	if snapshot != "" {
		_, err = s.tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+pg.Literal(snapshot))
	} else {
		err = s.tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&s.snapshot)
	}
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("%s: snapshot: %w", ep.Side, err)
	}
	return s, nil
}

func (s *side) close(ctx context.Context) {
	s.tx.Rollback(ctx)
	s.conn.Close(ctx)
}

// task is one key range of one table to compare.
type task struct {
	src, dst *pg.Table
	chunk    int
	r        pgsum.Range
	depth    int
}

// maxVerifyChunks bounds the checksum ranges of one table.
const maxVerifyChunks = 4096

func (v *verifier) run(ctx context.Context) error {
	start := time.Now()
	defer func() { v.rep.DurationS = round(time.Since(start).Seconds()) }()
	if v.rep.Mismatched == nil {
		v.rep.Mismatched, v.rep.Sequences, v.rep.Definitions = []Mismatch{}, []Mismatch{}, []string{}
	}
	src, err := openSide(ctx, v.o.Source, v.srcSnapshot)
	if err != nil {
		return err
	}
	defer src.close(context.WithoutCancel(ctx))
	dst, err := openSide(ctx, v.o.Target, "")
	if err != nil {
		return err
	}
	defer dst.close(context.WithoutCancel(ctx))
	if v.hash, err = pgsum.Between(ctx, src.conn, dst.conn); err != nil {
		return err
	}
	v.rep.Checksum = v.hash.Name()
	stables, err := pg.Tables(ctx, src.tx)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dtables, err := pg.Tables(ctx, dst.tx)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	byName := map[string]*pg.Table{}
	for _, t := range dtables {
		byName[t.String()] = t
	}
	var tasks []task
	for _, t := range stables {
		d := byName[t.String()]
		delete(byName, t.String())
		if t.Partitioned {
			continue
		}
		v.rep.TablesChecked++
		if d == nil {
			v.mismatch(Mismatch{Table: t.String(), What: "missing on the target"})
			continue
		}
		if diff := columnDiff(t, d); diff != "" {
			v.mismatch(Mismatch{Table: t.String(), What: diff})
			continue
		}
		ts, err := v.plan(ctx, src.tx, t, d)
		if err != nil {
			return err
		}
		tasks = append(tasks, ts...)
	}
	for name, t := range byName {
		if !t.Partitioned {
			v.rep.Definitions = append(v.rep.Definitions, "table "+name+" exists only on the target")
		}
	}
	if err := v.compareChunks(ctx, src.snapshot, dst.snapshot, tasks); err != nil {
		return err
	}
	if err := v.compareSequences(ctx, src.tx, dst.tx); err != nil {
		return err
	}
	if err := v.compareDefinitions(ctx, src.tx, dst.tx); err != nil {
		return err
	}
	sort.Slice(v.rep.Mismatched, func(i, j int) bool { return v.rep.Mismatched[i].Table < v.rep.Mismatched[j].Table })
	sort.Strings(v.rep.Definitions)
	return v.st.PutChunkSums(context.WithoutCancel(ctx), v.pair, v.runID, v.sums)
}

func columnDiff(s, d *pg.Table) string {
	var a, b []string
	for _, c := range s.Columns {
		a = append(a, c.Name+" "+c.Type)
	}
	for _, c := range d.Columns {
		b = append(b, c.Name+" "+c.Type)
	}
	if strings.Join(a, ", ") != strings.Join(b, ", ") {
		return fmt.Sprintf("columns differ: source (%s), target (%s)", strings.Join(a, ", "), strings.Join(b, ", "))
	}
	return ""
}

// plan cuts a table into checksum ranges of about ChunkRows rows on its
// integer key; other tables are hashed whole (order-independent).
func (v *verifier) plan(ctx context.Context, q pg.Querier, t, d *pg.Table) ([]task, error) {
	if t.Key == nil {
		return []task{{src: t, dst: d, chunk: 0}}, nil
	}
	n := int(min(max(t.Rows/v.o.ChunkRows+1, 1), maxVerifyChunks))
	bounds, err := keyBounds(ctx, q, t, n)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if bounds == nil {
		return []task{{src: t, dst: d, chunk: 0, r: pgsum.Range{Column: t.Key.Column}}}, nil
	}
	out := make([]task, len(bounds)-1)
	for i := range out {
		out[i] = task{src: t, dst: d, chunk: i, r: pgsum.Range{Column: t.Key.Column, From: bounds[i], To: bounds[i+1]}}
	}
	return out, nil
}

type sum struct {
	rows int64
	a, b string
}

func (v *verifier) compareChunks(ctx context.Context, srcSnap, dstSnap string, tasks []task) error {
	counter := &progress.Counter{Unit: "ranges"}
	counter.FilesTotal.Store(int64(len(tasks)))
	disp := progress.Start(v.o.Log, "verify", counter, v.o.LogInterval)
	defer disp.Stop()
	return parallel(ctx, v.o.Jobs, tasks, func(gctx context.Context, queue <-chan task) error {
		s, err := openSide(gctx, v.o.Source, srcSnap)
		if err != nil {
			return err
		}
		defer s.close(context.WithoutCancel(gctx))
		d, err := openSide(gctx, v.o.Target, dstSnap)
		if err != nil {
			return err
		}
		defer d.close(context.WithoutCancel(gctx))
		for tk := range queue {
			if err := v.check(gctx, s, d, tk); err != nil {
				return err
			}
			counter.FilesDone.Add(1)
		}
		return nil
	})
}

// checksum runs the checksum query of a range on both sides at once.
func checksum(ctx context.Context, s, d *side, tk task, h pgsum.Hash) (sum, sum, error) {
	var a, b sum
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		errA = s.tx.QueryRow(ctx, pgsum.Query(tk.src, tk.r, h)).Scan(&a.rows, &a.a, &a.b)
	}()
	errB = d.tx.QueryRow(ctx, pgsum.Query(tk.src, tk.r, h)).Scan(&b.rows, &b.a, &b.b)
	wg.Wait()
	if errA != nil {
		return a, b, fmt.Errorf("source: checksum %s: %w", tk.src, errA)
	}
	if errB != nil {
		return a, b, fmt.Errorf("target: checksum %s: %w", tk.src, errB)
	}
	return a, b, nil
}

// maxBisect bounds how far a differing range is narrowed down.
const (
	maxBisectDepth = 20
	bisectRows     = 16
	maxPerTable    = 20
)

func (v *verifier) check(ctx context.Context, s, d *side, tk task) error {
	a, b, err := checksum(ctx, s, d, tk, v.hash)
	if err != nil {
		return err
	}
	if tk.depth == 0 {
		v.mu.Lock()
		v.rep.ChunksChecked++
		v.rep.RowsChecked += a.rows
		name := tk.src.String()
		v.sums = append(v.sums,
			state.ChunkSum{Table: name, Chunk: tk.chunk, KeyFrom: tk.r.From, KeyTo: tk.r.To, Side: "source", Rows: a.rows, Sum: a.a + "/" + a.b},
			state.ChunkSum{Table: name, Chunk: tk.chunk, KeyFrom: tk.r.From, KeyTo: tk.r.To, Side: "target", Rows: b.rows, Sum: b.a + "/" + b.b})
		v.mu.Unlock()
	}
	if a == b {
		return nil
	}
	// Narrow a differing key range down by halves, so that the report
	// points at the rows.
	if tk.src.Key != nil && tk.depth < maxBisectDepth && max(a.rows, b.rows) > bisectRows {
		if halves, ok := v.split(ctx, s, tk); ok {
			for _, h := range halves {
				if err := v.check(ctx, s, d, h); err != nil {
					return err
				}
			}
			return nil
		}
	}
	what := "rows differ"
	if a.rows != b.rows {
		what = fmt.Sprintf("row counts differ (%d vs %d)", a.rows, b.rows)
	}
	m := Mismatch{Table: tk.src.String(), SourceRows: a.rows, TargetRows: b.rows, What: what}
	if tk.src.Key != nil {
		m.KeyColumn, m.KeyFrom, m.KeyTo = tk.src.Key.Column, tk.r.From, tk.r.To
	}
	v.mismatch(m)
	return nil
}

func (v *verifier) mismatch(m Mismatch) {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, x := range v.rep.Mismatched {
		if x.Table == m.Table {
			n++
		}
	}
	if n < maxPerTable {
		v.rep.Mismatched = append(v.rep.Mismatched, m)
	}
}

// split halves a key range; open ends take the source's min or max.
func (v *verifier) split(ctx context.Context, s *side, tk task) ([]task, bool) {
	lo, hi := new(big.Int), new(big.Int)
	if tk.r.From == "" || tk.r.To == "" {
		min, max, err := keyMinMax(ctx, s.tx, tk.src)
		if err != nil || min == nil {
			return nil, false
		}
		lo.Set(min)
		hi.Add(max, big.NewInt(1))
	}
	if tk.r.From != "" {
		lo.SetString(tk.r.From, 10)
	}
	if tk.r.To != "" {
		hi.SetString(tk.r.To, 10)
	}
	if new(big.Int).Sub(hi, lo).Cmp(big.NewInt(2)) < 0 {
		return nil, false
	}
	mid := new(big.Int).Add(lo, hi)
	mid.Quo(mid, big.NewInt(2))
	a, b := tk, tk
	a.depth, b.depth = tk.depth+1, tk.depth+1
	a.r.To, b.r.From = mid.String(), mid.String()
	return []task{a, b}, true
}

func (v *verifier) compareSequences(ctx context.Context, s, d pgx.Tx) error {
	ss, err := pg.Sequences(ctx, s)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	ds, err := pg.Sequences(ctx, d)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	dm := map[string]pg.Sequence{}
	for _, x := range ds {
		dm[x.Schema+"."+x.Name] = x
	}
	for _, x := range ss {
		name := x.Schema + "." + x.Name
		y, ok := dm[name]
		switch {
		case !ok:
			v.rep.Sequences = append(v.rep.Sequences, Mismatch{Table: name, What: "missing on the target"})
		case x.LastValue != y.LastValue || x.IsCalled != y.IsCalled:
			v.rep.Sequences = append(v.rep.Sequences, Mismatch{Table: name,
				What: fmt.Sprintf("source last_value %d (is_called %v), target %d (is_called %v)", x.LastValue, x.IsCalled, y.LastValue, y.IsCalled)})
		}
	}
	return nil
}

// definitions are the catalog facts compared by text: indexes,
// constraints, triggers, row-level security and policies.
const definitions = `
SELECT 'index ' || schemaname || '.' || indexname, indexdef FROM pg_indexes
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg\_toast%'
UNION ALL
SELECT 'constraint ' || n.nspname || '.' || c.relname || '.' || con.conname, pg_get_constraintdef(con.oid)
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'trigger ' || n.nspname || '.' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'row security ' || n.nspname || '.' || c.relname, 'enabled ' || c.relrowsecurity || ', forced ' || c.relforcerowsecurity
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND (c.relrowsecurity OR c.relforcerowsecurity) AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'policy ' || schemaname || '.' || tablename || '.' || policyname,
       permissive || ' ' || cmd || ' to ' || array_to_string(roles, ',') || ' using ' || coalesce(qual, '') || ' check ' || coalesce(with_check, '')
  FROM pg_policies`

func readDefinitions(ctx context.Context, q pgx.Tx) (map[string]string, error) {
	if _, err := q.Exec(ctx, "SET LOCAL search_path = ''"); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, definitions)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var k, d string
		if err := rows.Scan(&k, &d); err != nil {
			return nil, err
		}
		out[k] = d
	}
	return out, rows.Err()
}

func (v *verifier) compareDefinitions(ctx context.Context, s, d pgx.Tx) error {
	sd, err := readDefinitions(ctx, s)
	if err != nil {
		return fmt.Errorf("source: read definitions: %w", err)
	}
	dd, err := readDefinitions(ctx, d)
	if err != nil {
		return fmt.Errorf("target: read definitions: %w", err)
	}
	for k, def := range sd {
		switch other, ok := dd[k]; {
		case !ok:
			v.rep.Definitions = append(v.rep.Definitions, k+" is missing on the target")
		case other != def:
			v.rep.Definitions = append(v.rep.Definitions, fmt.Sprintf("%s differs: source %q, target %q", k, def, other))
		}
	}
	for k := range dd {
		if _, ok := sd[k]; !ok {
			v.rep.Definitions = append(v.rep.Definitions, k+" exists only on the target")
		}
	}
	return nil
}
