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
