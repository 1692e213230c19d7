package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/pg"
	"github.com/cutover/cutover/internal/state"
)

// dump runs pg_dump for one section of the schema in the copy's snapshot.
func (c *copier) dump(ctx context.Context, section string) (string, []entry, error) {
	args := []string{"--schema-only", "--section=" + section, "--snapshot=" + c.snapshot, "--no-password"}
	if !c.o.KeepOwners {
		args = append(args, "--no-owner")
	}
	if !c.o.KeepACLs {
		args = append(args, "--no-acl")
	}
	out, err := c.o.Source.PgDump(ctx, c.o.PgDump, args...)
	if err != nil {
		return "", nil, errs.Fatalf("%w", err)
	}
	pre, entries, err := parseDump(out)
	if err != nil {
		return "", nil, errs.Fatalf("%s: %w", section, err)
	}
	return pre, entries, nil
}

// session prepares a target connection to run dump entries: the dump's
// own preamble (search_path and the like), and SET ROLE for --target-owner
// so that every object created belongs to that role.
func (c *copier) session(ctx context.Context, conn *pgx.Conn, preamble string) error {
	if preamble != "" {
		if _, err := conn.PgConn().Exec(ctx, preamble).ReadAll(); err != nil {
			return fmt.Errorf("target: dump preamble: %w", err)
		}
	}
	if c.o.TargetOwner != "" {
		if _, err := conn.Exec(ctx, "SET ROLE "+pg.Ident(c.o.TargetOwner)); err != nil {
			return errs.Fatalf("target: --target-owner %s: %w (the login role must be a member of it)", c.o.TargetOwner, err)
		}
	}
	return nil
}

var createSchema = regexp.MustCompile(`^CREATE SCHEMA (\S+);$`)

// preData applies the pre-data section in one target transaction: a killed
// run leaves no half schema. Comments on extensions, which need the
// extension's owner (not the case on RDS), are skipped with a warning.
func (c *copier) preData(ctx context.Context) error {
	it := state.DBItem{Kind: "pre-data", Name: "schema", Chunk: -1}
	if c.isDone(it) {
		return nil
	}
	start := time.Now()
	pre, entries, err := c.dump(ctx, "pre-data")
	if err != nil {
		return err
	}
	tx, err := c.target.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := c.session(ctx, tx.Conn(), pre); err != nil {
		return err
	}
	for _, e := range entries {
		sql := e.SQL
		if e.Type == "SCHEMA" {
			sql = createSchema.ReplaceAllString(sql, "CREATE SCHEMA IF NOT EXISTS $1;")
		}
		tolerate := e.Type == "COMMENT" && strings.HasPrefix(e.Name, "EXTENSION ")
		if tolerate {
			if _, err := tx.Exec(ctx, "SAVEPOINT cutover_entry"); err != nil {
				return err
			}
		}
		if _, err := tx.Conn().PgConn().Exec(ctx, sql).ReadAll(); err != nil {
			var pe *pgconn.PgError
			if tolerate && errors.As(err, &pe) && pe.Code == "42501" {
				tx.Exec(ctx, "ROLLBACK TO SAVEPOINT cutover_entry")
				c.rep.Preflight.Warnings = append(c.rep.Preflight.Warnings, fmt.Sprintf("skipped %s: %s", e.Name, pe.Message))
				continue
			}
			return errs.Fatalf("target: pre-data %s %s: %w", e.Type, e.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("target: commit pre-data: %w", err)
	}
	it.Status, it.DurationS = "done", time.Since(start).Seconds()
	c.o.logf("db copy: schema (pre-data) applied: %d statements in %.1fs", len(entries), it.DurationS)
	return c.record(ctx, it)
}

// keyConstraint is a primary key or unique constraint of the source that
// can be built as an index first and attached afterwards.
type keyConstraint struct {
	indexDef, index string
	deferrable      bool
	deferred        bool
}

func (c *copier) keyConstraints(ctx context.Context) (map[string]keyConstraint, error) {
	rows, err := c.coordTx.Query(ctx, `
SELECT n.nspname, con.conname, pg_get_indexdef(con.conindid), ic.relname, con.condeferrable, con.condeferred
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class ic ON ic.oid = con.conindid
WHERE con.contype IN ('p', 'u') AND t.relkind = 'r' AND NOT t.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		return nil, fmt.Errorf("source: list key constraints: %w", err)
	}
	out := map[string]keyConstraint{}
	for rows.Next() {
		var schema, name string
		var k keyConstraint
		if err := rows.Scan(&schema, &name, &k.indexDef, &k.index, &k.deferrable, &k.deferred); err != nil {
			return nil, err
		}
		out[schema+"\x00"+name] = k
	}
	return out, rows.Err()
}

// unquote turns an identifier as pg_dump writes it back into the name.
func unquote(id string) string {
	if strings.HasPrefix(id, `"`) && strings.HasSuffix(id, `"`) && len(id) >= 2 {
		return strings.ReplaceAll(id[1:len(id)-1], `""`, `"`)
	}
	return id
}

// step is one post-data statement to run.
type step struct {
	key  string // state key
	what string // for messages
	sql  string
}

// postData builds indexes in parallel (primary keys and unique constraints
// of plain tables as unique indexes, attached afterwards), runs the rest of
// the post-data section in dump order, then adds foreign keys in parallel.
func (c *copier) postData(ctx context.Context) error {
	pre, entries, err := c.dump(ctx, "post-data")
	if err != nil {
		return err
	}
	keys, err := c.keyConstraints(ctx)
	if err != nil {
		return err
	}
	var build, serial, fks, late []step
	for _, e := range entries {
		s := step{key: e.key(), what: e.Type + " " + e.Name, sql: e.SQL}
		switch {
		case e.Type == "INDEX":
			build = append(build, s)
		case e.Type == "CONSTRAINT":
			if m := addKey.FindStringSubmatch(e.SQL); m != nil {
				if k, ok := keys[e.Schema+"\x00"+unquote(m[2])]; ok {
					build = append(build, step{key: e.key() + " index", what: "index of " + s.what, sql: k.indexDef})
					s.sql = fmt.Sprintf("ALTER TABLE ONLY %s ADD CONSTRAINT %s %s USING INDEX %s", m[1], m[2], m[3], pg.Ident(k.index))
					if k.deferrable {
						s.sql += " DEFERRABLE"
						if k.deferred {
							s.sql += " INITIALLY DEFERRED"
						}
					}
				}
			}
			serial = append(serial, s)
		case e.Type == "FK CONSTRAINT":
			fks = append(fks, s)
		case e.Type == "COMMENT" && strings.Contains(e.SQL, " ON CONSTRAINT "):
			late = append(late, s)
		default:
			serial = append(serial, s)
		}
	}
	c.rep.Totals.Indexes, c.rep.Totals.PostData = len(build), len(entries)
	t0 := time.Now()
	if err := c.runSteps(ctx, pre, build, c.o.Jobs, "index"); err != nil {
		return err
	}
	c.rep.phase("indexes", t0)
	t0 = time.Now()
	if err := c.runSteps(ctx, pre, serial, 1, "post-data"); err != nil {
		return err
	}
	if err := c.runSteps(ctx, pre, fks, c.o.Jobs, "foreign key"); err != nil {
		return err
	}
	if err := c.runSteps(ctx, pre, late, 1, "post-data"); err != nil {
		return err
	}
	if err := c.refreshMatviews(ctx); err != nil {
		return err
	}
	c.rep.phase("constraints", t0)
	return nil
}

// runSteps runs statements over up to jobs target connections, skipping
// those an earlier run committed and retrying deadlocks (parallel foreign
// keys lock both tables) and lost connections.
func (c *copier) runSteps(ctx context.Context, preamble string, steps []step, jobs int, kind string) error {
	var todo []step
	for _, s := range steps {
		if !c.isDone(state.DBItem{Kind: "post-data", Name: s.key, Chunk: -1}) {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	var mu sync.Mutex
	return parallel(ctx, jobs, todo, func(gctx context.Context, queue <-chan step) error {
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(context.WithoutCancel(gctx))
			}
		}()
		for s := range queue {
			for attempt := 1; ; attempt++ {
				if conn == nil {
					var err error
					if conn, err = c.o.Target.Connect(gctx, pg.TargetParams(c.o.MaintenanceWorkMem)); err != nil {
						return err
					}
					if err := c.session(gctx, conn, preamble); err != nil {
						return err
					}
				}
				start := time.Now()
				_, err := conn.PgConn().Exec(gctx, s.sql).ReadAll()
				if err == nil {
					mu.Lock()
					err = c.record(gctx, state.DBItem{Kind: "post-data", Name: s.key, Chunk: -1, Status: "done", DurationS: time.Since(start).Seconds()})
					mu.Unlock()
					if err != nil {
						return err
					}
					break
				}
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if !pg.Retryable(err) || attempt == 4 {
					return errs.Fatalf("target: %s %s: %w", kind, s.what, err)
				}
				conn.Close(context.WithoutCancel(gctx))
				conn = nil
				time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
			}
		}
		return nil
	})
}

// refreshMatviews fills the materialized views the source has populated
// (their data is not part of a schema-only dump).
func (c *copier) refreshMatviews(ctx context.Context) error {
	rows, err := c.coordTx.Query(ctx, `SELECT schemaname, matviewname FROM pg_matviews WHERE ispopulated ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var s, n string
		err := r.Scan(&s, &n)
		return pg.Ident(s, n), err
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := c.target.Exec(ctx, "REFRESH MATERIALIZED VIEW "+n); err != nil {
			return errs.Fatalf("target: refresh %s: %w", n, err)
		}
	}
	return nil
}

// sequences sets every sequence of the target to its value in the snapshot.
func (c *copier) sequences(ctx context.Context) error {
	seqs, err := pg.Sequences(ctx, c.coordTx)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if _, err := c.target.Exec(ctx, "SELECT pg_catalog.setval($1::regclass, $2, $3)", pg.Ident(s.Schema, s.Name), s.LastValue, s.IsCalled); err != nil {
			return errs.Fatalf("target: set sequence %s.%s: %w", s.Schema, s.Name, err)
		}
	}
	c.rep.Totals.Sequences = len(seqs)
	return nil
}

// analyze runs ANALYZE on every copied table, in parallel.
func (c *copier) analyze(ctx context.Context) error {
	var steps []step
	for _, t := range c.tables {
		steps = append(steps, step{key: "analyze " + t.String(), what: t.String(), sql: "ANALYZE " + t.QName()})
	}
	return c.runSteps(ctx, "", steps, c.o.Jobs, "analyze")
}
