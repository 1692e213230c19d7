package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/state"
)

// Options are the options of `db copy` and `db verify`.
type Options struct {
	Source, Target     pg.Endpoint
	StateDir           string
	Jobs               int    // parallel table/chunk/index workers
	SplitLargerThan    int64  // bytes; tables larger are copied in chunks
	CopyFormat         string // text or binary
	DropTarget         bool
	Resume             bool
	TargetOwner        string // role that owns every restored object
	KeepOwners         bool   // pg_dump without --no-owner
	KeepACLs           bool   // pg_dump without --no-acl
	Verify             string // none or all (db copy)
	ChunkRows          int64  // verify: rows per checksum chunk
	MaintenanceWorkMem string
	PgDump             string // pg_dump to run (default: on PATH)
	Log                io.Writer
	LogInterval        time.Duration

	afterChunk func(table string, chunk int) // tests: called after a chunk committed
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

func (o *Options) defaults() {
	o.Source.Side, o.Target.Side = "source", "target"
	if o.Jobs < 1 {
		o.Jobs = 2
	}
	if o.SplitLargerThan <= 0 {
		o.SplitLargerThan = 512 << 20
	}
	if o.CopyFormat == "" {
		o.CopyFormat = "text"
	}
	if o.Verify == "" {
		o.Verify = "all"
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 200_000
	}
	if o.MaintenanceWorkMem == "" {
		o.MaintenanceWorkMem = "512MB"
	}
	if o.PgDump == "" {
		o.PgDump = "pg_dump"
	}
}

// Copy runs `db copy`. It always returns a report, filled as far as the run
// got, with an error that maps to the exit code.
func Copy(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := newReport("db copy", o.Source.Redacted(), o.Target.Redacted())
	err := (&copier{o: o, rep: rep}).run(ctx)
	return rep, rep.finish(err)
}

// copier is one run of `db copy`.
type copier struct {
	o        Options
	rep      *Report
	st       *state.State
	pair     int64
	runID    int64
	done     map[string]state.DBItem
	coord    *pgx.Conn // source coordinator, holds the snapshot
	coordTx  pgx.Tx
	target   *pgx.Conn
	snapshot string
	tables   []*pg.Table
}

func (c *copier) run(ctx context.Context) (err error) {
	o := c.o
	if o.CopyFormat != "text" && o.CopyFormat != "binary" {
		return errs.Usagef("--copy-format %q: want text or binary", o.CopyFormat)
	}
	if o.Verify != "none" && o.Verify != "all" {
		return errs.Usagef("--verify %q: want none or all", o.Verify)
	}
	if c.st, err = state.Open(o.StateDir); err != nil {
		return errs.Fatalf("%w", err)
	}
	defer c.st.Close()
	if c.pair, err = c.st.Pair(ctx, "db", o.Source.Redacted(), o.Target.Redacted()); err != nil {
		return err
	}
	if c.runID, err = c.st.BeginRun(ctx, c.pair, "db copy"); err != nil {
		return err
	}
	defer func() {
		c.st.FinishRun(context.WithoutCancel(ctx), state.Run{ID: c.runID, Status: errs.Status(err), Duration: time.Since(c.rep.StartedAt).Seconds(),
			CopySeconds: c.rep.SnapshotHeld})
	}()
	if c.coord, err = o.Source.Connect(ctx, pg.SourceParams()); err != nil {
		return err
	}
	defer c.coord.Close(context.WithoutCancel(ctx))
	if c.target, err = o.Target.Connect(ctx, pg.TargetParams(o.MaintenanceWorkMem)); err != nil {
		return err
	}
	defer c.target.Close(context.WithoutCancel(ctx))
	if err := c.preflight(ctx); err != nil {
		return err
	}
	if err := c.prepareTarget(ctx); err != nil {
		return err
	}
	start := time.Now()
	if c.coordTx, err = c.coord.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}); err != nil {
		return fmt.Errorf("source: begin the snapshot transaction: %w", err)
	}
	defer func() {
		c.coordTx.Rollback(context.WithoutCancel(ctx))
		c.rep.SnapshotHeld = round(time.Since(start).Seconds())
	}()
	if err := c.coordTx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&c.snapshot); err != nil {
		return fmt.Errorf("source: export a snapshot: %w", err)
	}
	if c.rep.Resumed {
		c.rep.Snapshot = "resumed: work left by the killed run read a new snapshot " + c.snapshot +
			"; the copy is exact only if the source was quiet between the runs (db verify tells)"
	} else {
		c.rep.Snapshot = "one snapshot (" + c.snapshot + ") for the schema, every table and the sequences"
	}
	o.logf("db copy: snapshot %s exported on the source", c.snapshot)
	if c.tables, err = pg.Tables(ctx, c.coordTx); err != nil {
		return err
	}
	if err := c.checkBinary(); err != nil {
		return err
	}
	t0 := time.Now()
	if err := c.preData(ctx); err != nil {
		return err
	}
	c.rep.phase("pre_data", t0)
	t0 = time.Now()
	if err := c.copyData(ctx); err != nil {
		return err
	}
	c.rep.phase("data", t0)
	if err := c.postData(ctx); err != nil {
		return err
	}
	t0 = time.Now()
	if err := c.sequences(ctx); err != nil {
		return err
	}
	c.rep.phase("sequences", t0)
	t0 = time.Now()
	if err := c.analyze(ctx); err != nil {
		return err
	}
	c.rep.phase("analyze", t0)
	if o.Verify == "all" {
		t0 = time.Now()
		v := &verifier{o: o, pair: c.pair, runID: c.runID, st: c.st, srcSnapshot: c.snapshot, rep: &VerifyReport{}}
		c.rep.Verify = v.rep
		err := v.run(ctx)
		c.rep.phase("verify", t0)
		if err != nil {
			return err
		}
	}
	return nil
}

// preflight checks, before anything is written, what would make the copy
// fail or come out wrong: pg_dump older than the source, extensions the
// target lacks, different encodings; a different collation is a warning.
func (c *copier) preflight(ctx context.Context) error {
	p := &c.rep.Preflight
	p.CopyFormat = c.o.CopyFormat
	si, err := pg.Info(ctx, c.coord)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	ti, err := pg.Info(ctx, c.target)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	p.SourceVersion, p.TargetVersion = si.Major, ti.Major
	p.SourceEncoding, p.TargetEncoding = si.Encoding, ti.Encoding
	p.SourceCollation, p.TargetCollation = si.Collate, ti.Collate
	if p.PgDumpVersion, err = pg.PgDumpMajor(c.o.PgDump); err != nil {
		return err
	}
	var problems []string
	if p.PgDumpVersion < si.Major {
		problems = append(problems, fmt.Sprintf("pg_dump on PATH is version %d, older than the source server (%d): install postgresql-client-%d or give --pg-dump",
			p.PgDumpVersion, si.Major, si.Major))
	}
	if ti.Major < si.Major {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the target server (%d) is older than the source (%d): the schema may use features it lacks", ti.Major, si.Major))
	}
	for name := range si.Extensions {
		if _, installed := ti.Extensions[name]; !installed && !ti.Available[name] {
			p.MissingExtensions = append(p.MissingExtensions, name)
		}
	}
	if len(p.MissingExtensions) > 0 {
		problems = append(problems, "extensions the target cannot install: "+strings.Join(p.MissingExtensions, ", "))
	}
	if si.Encoding != ti.Encoding {
		problems = append(problems, fmt.Sprintf("database encoding differs: source %s, target %s (create the target database with ENCODING '%s')",
			si.Encoding, ti.Encoding, si.Encoding))
	}
	if si.Collate != ti.Collate || si.Ctype != ti.Ctype {
		p.Warnings = append(p.Warnings, fmt.Sprintf("collation differs: source %s/%s, target %s/%s (Jira wants C or a UTF-8 collation; text sorts differently)",
			si.Collate, si.Ctype, ti.Collate, ti.Ctype))
	}
	for _, w := range p.Warnings {
		c.o.logf("db copy: warning: %s", w)
	}
	if len(problems) > 0 {
		return errs.Fatalf("preflight: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkBinary allows binary COPY only where it is portable: the same major
// version on both sides and no column of a user-defined type.
func (c *copier) checkBinary() error {
	if c.o.CopyFormat != "binary" {
		return nil
	}
	p := c.rep.Preflight
	if p.SourceVersion != p.TargetVersion {
		return errs.Fatalf("--copy-format binary needs the same PostgreSQL major version on both sides (source %d, target %d)", p.SourceVersion, p.TargetVersion)
	}
	for _, t := range c.tables {
		for _, col := range t.Columns {
			if col.UserType {
				return errs.Fatalf("--copy-format binary: column %s.%s has the user-defined type %s, whose binary form carries server-specific type ids; use text",
					t, col.Name, col.Type)
			}
		}
	}
	return nil
}

// prepareTarget refuses a target that holds tables unless --drop-target
// (drop the source's schemas there) or --resume (continue a killed copy).
func (c *copier) prepareTarget(ctx context.Context) error {
	n, some, err := pg.UserRelations(ctx, c.target)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	items, err := c.st.DBItems(ctx, c.pair)
	if err != nil {
		return err
	}
	switch {
	case c.o.Resume && len(items) > 0:
		c.done = items
		c.rep.Resumed = true
		return nil
	case c.o.Resume && n > 0:
		return errs.Fatalf("--resume: the state in %s has no copy of this source to this target, and the target is not empty (%d relations, e.g. %s)",
			c.o.StateDir, n, strings.Join(some, ", "))
	case n > 0 && !c.o.DropTarget:
		return errs.Fatalf("the target database is not empty (%d relations, e.g. %s): pass --drop-target to drop the source's schemas there first, or --resume to continue a killed copy",
			n, strings.Join(some, ", "))
	}
	c.done = map[string]state.DBItem{}
	if err := c.st.ClearDB(ctx, c.pair); err != nil {
		return err
	}
	if n > 0 && c.o.DropTarget {
		return c.dropTarget(ctx)
	}
	return nil
}

// dropTarget drops, in the target, the schemas the source defines and
// everything in them. The public schema itself stays (it belongs to the
// database); what it holds is dropped.
func (c *copier) dropTarget(ctx context.Context) error {
	schemas, err := pg.Schemas(ctx, c.coord)
	if err != nil {
		return err
	}
	for _, s := range schemas {
		var sql string
		if s == "public" {
			sql = dropPublicContents
		} else {
			sql = "DROP SCHEMA IF EXISTS " + pg.Ident(s) + " CASCADE"
		}
		if _, err := c.target.Exec(ctx, sql); err != nil {
			return errs.Fatalf("--drop-target: drop schema %s on the target: %w", s, err)
		}
		c.o.logf("db copy: --drop-target: dropped %s on the target", s)
	}
	return nil
}

// dropPublicContents drops every object in the public schema that no
// extension owns.
const dropPublicContents = `DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r','p','v','m','S','f')
             AND NOT c.relispartition
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format(CASE r.relkind WHEN 'v' THEN 'DROP VIEW IF EXISTS public.%I CASCADE'
                                  WHEN 'm' THEN 'DROP MATERIALIZED VIEW IF EXISTS public.%I CASCADE'
                                  WHEN 'S' THEN 'DROP SEQUENCE IF EXISTS public.%I CASCADE'
                                  WHEN 'f' THEN 'DROP FOREIGN TABLE IF EXISTS public.%I CASCADE'
                                  ELSE 'DROP TABLE IF EXISTS public.%I CASCADE' END, r.relname);
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t
           WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e','d','c','r','m') AND (t.typrelid = 0 OR
                 (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('e', 'i'))
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS public.%I CASCADE', r.typname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
  LOOP
    EXECUTE format(CASE r.prokind WHEN 'p' THEN 'DROP PROCEDURE IF EXISTS %s CASCADE' WHEN 'a' THEN 'DROP AGGREGATE IF EXISTS %s CASCADE'
                                  ELSE 'DROP FUNCTION IF EXISTS %s CASCADE' END, r.sig);
  END LOOP;
END $$`

// isDone reports whether an item committed in an earlier run.
func (c *copier) isDone(it state.DBItem) bool {
	d, ok := c.done[it.Key()]
	return ok && d.Status == "done"
}

func (c *copier) record(ctx context.Context, it state.DBItem) error {
	it.RunID = c.runID
	return c.st.PutDBItem(context.WithoutCancel(ctx), c.pair, it)
}

var errNotRetryable = errors.New("not retryable")
