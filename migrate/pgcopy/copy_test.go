package pgcopy

import (
	"testing"
)

func TestCopyRealJiraDumps(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ db, file string }{{"jira811", "jira811-db.sql"}, {"jira8", "jira8-db.sql"}} {
		t.Run(c.db, func(t *testing.T) {
			e.src.Psql(t, "postgres", "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='jira') THEN CREATE ROLE jira; END IF; END$$")
			loadJira(t, e.src, c.db, c.file)
			rep := mustCopy(t, e.opts(t, c.db))
			if rep.Verify == nil || rep.Verify.TablesChecked < 200 || rep.Verify.differences() != 0 {
				t.Fatalf("verify: %+v\n%s", rep.Verify, rep.Markdown())
			}
			t.Logf("%s: %d tables, %d rows, %d sequences in %.1fs", c.db, rep.Totals.Tables, rep.Totals.Rows, rep.Totals.Sequences, rep.DurationS)
		})
	}
}

func loadNasty(t *testing.T, e *env, db string) {
	t.Helper()
	e.src.Psql(t, "postgres", "CREATE DATABASE "+db)
	e.src.PsqlFile(t, db, "../../testdata/pg/nasty.sql")
}

func TestCopyNastySchemaSplitOnKeysAndPages(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "nasty")
	o := e.opts(t, "nasty")
	o.SplitLargerThan = 256 << 10 // jiraissue, jiraaction (numeric keys) and nokey (pages) are cut
	o.ChunkRows = 3000
	rep := mustCopy(t, o)
	splits := map[string]string{}
	for _, tr := range rep.Tables {
		splits[tr.Name] = tr.Split
	}
	if splits["public.jiraissue"] != "key" || splits["public.nokey"] != "ctid" || splits["public.everything"] != "whole" {
		t.Fatalf("splits: %v", splits)
	}
	if rep.Verify.ChunksChecked < 10 {
		t.Errorf("verify checked %d chunks", rep.Verify.ChunksChecked)
	}
	// Facts checked on the target itself, not through cutover.
	for q, want := range map[string]string{
		`SELECT count(*) FROM nokey`:                                               "20005",
		`SELECT count(*) FROM ONLY animal`:                                         "1",
		`SELECT count(*) FROM animal`:                                              "3",
		`SELECT count(*) FROM nocols`:                                              "3",
		`SELECT count(*) FROM events_2024`:                                         "1340",
		`SELECT n::text || ' ' || f8::text FROM everything WHERE id = 2`:           "Infinity -0",
		`SELECT n::text FROM everything WHERE id = 4`:                              "1.50",
		`SELECT length(t) || ' ' || length(b) FROM everything WHERE id = 6`:        "1120000 1200000",
		`SELECT g FROM everything WHERE id = 6`:                                    "12",
		`SELECT nextval('"AO_60DB71_SPRINT_ID_seq"')`:                              "31",
		`SELECT count(*) FROM issue_votes`:                                         "7",
		`SELECT relrowsecurity FROM pg_class WHERE relname = 'AO_60DB71_SPRINT'`:   "t",
		`SELECT obj_description('jiraissue'::regclass)`:                            "issues; with 'quotes'",
		`SELECT tableowner FROM pg_tables WHERE tablename = 'jiraissue'`:           "app",
		`SELECT prosrc LIKE '%must survive%' FROM pg_proc WHERE proname = 'touch'`: "t",
	} {
		if got := e.dst.Psql(t, "nasty", q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	if got := e.dst.Psql(t, "nasty", `SELECT "Id" FROM "Odd Schema"."Mixed Case Table" ORDER BY "Id" DESC LIMIT 1`); got != "50" {
		t.Errorf("identity column: %s", got)
	}
	// The identity sequence continues after the copied rows.
	if got := e.dst.Psql(t, "nasty", `INSERT INTO "Odd Schema"."Mixed Case Table" ("UPPER") VALUES ('new') RETURNING "Id"`); got != "51" {
		t.Errorf("identity after copy: %s", got)
	}
}

func TestCopyPgbenchWithForeignKeys(t *testing.T) {
	e := newEnv(t)
	e.src.Psql(t, "postgres", "CREATE DATABASE bench")
	e.src.Pgbench(t, "bench", 2)
	o := e.opts(t, "bench")
	o.SplitLargerThan = 8 << 20 // pgbench_accounts (26 MB) in chunks
	rep := mustCopy(t, o)
	if rep.Verify.differences() != 0 || rep.Totals.Rows != 200000+20+2 {
		t.Fatalf("rows %d\n%s", rep.Totals.Rows, rep.Markdown())
	}
	q := "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
	if got, want := e.dst.Psql(t, "bench", q), e.src.Psql(t, "bench", q); got != want || want == "0" {
		t.Errorf("foreign keys on the target: %s, source %s", got, want)
	}
}
