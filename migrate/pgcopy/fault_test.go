package pgcopy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/testenv"
)

func TestNonEmptyTargetIsRefusedUnlessDropTarget(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	o := e.opts(t, "shop")
	e.dst.Psql(t, "shop", "CREATE TABLE public.leftover (x int); INSERT INTO leftover VALUES (1); CREATE SCHEMA \"Odd Schema\" AUTHORIZATION app")
	_, err := Copy(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("copy onto a non-empty target: exit %d (%v)", errs.ExitCode(err), err)
	}
	if got := e.dst.Psql(t, "shop", "SELECT count(*) FROM leftover"); got != "1" {
		t.Fatalf("the refused copy changed the target: %s", got)
	}
	o.DropTarget = true
	rep := mustCopy(t, o)
	if rep.Verify.differences() != 0 {
		t.Fatal(rep.Markdown())
	}
	if got := e.dst.Psql(t, "shop", "SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'"); got != "0" {
		t.Errorf("--drop-target kept public.leftover")
	}
}

func TestConnectionErrorsAreFatalAndSayNoPassword(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	o := e.opts(t, "shop")
	bad := o
	bad.Target.DSN = e.dst.DSN("app", "wrong-secret-123", "shop")
	rep, err := Copy(context.Background(), bad)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("wrong password: exit %d (%v)", errs.ExitCode(err), err)
	}
	if strings.Contains(err.Error(), "wrong-secret-123") || strings.Contains(rep.Target, "wrong-secret-123") || strings.Contains(rep.Markdown(), "wrong-secret-123") {
		t.Fatalf("the password was printed: %v / %s", err, rep.Target)
	}
	bad.Target.DSN = "postgres://app:pw@127.0.0.1:1/shop?sslmode=disable&connect_timeout=3"
	if _, err := Copy(context.Background(), bad); errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("unreachable host: exit %d (%v)", errs.ExitCode(err), err)
	}
	bad.Target.DSN = e.dst.DSN("app", "app-secret", "no_such_db")
	if _, err := Copy(context.Background(), bad); errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing database: exit %d (%v)", errs.ExitCode(err), err)
	}
}

func TestVerifyFindsTamperedRowsAndNarrowsTheRange(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	o := e.opts(t, "shop")
	o.ChunkRows = 5000
	mustCopy(t, o)
	e.dst.Psql(t, "shop", "UPDATE jiraissue SET summary = summary || '!' WHERE id = 17321")
	e.dst.Psql(t, "shop", "DELETE FROM jiraaction WHERE id = 9")
	e.dst.Psql(t, "shop", "UPDATE everything SET n = 1.5 WHERE id = 4") // 1.50 → 1.5: same number, different value
	e.dst.Psql(t, "shop", "SELECT setval('\"AO_60DB71_SPRINT_ID_seq\"', 99)")
	e.dst.Psql(t, "shop", "DROP INDEX issue_pkey_idx")
	rep, err := Verify(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitPartial {
		t.Fatalf("exit %d (%v)\n%s", errs.ExitCode(err), err, rep.Markdown())
	}
	v := rep.Verify
	found := map[string]Mismatch{}
	for _, m := range v.Mismatched {
		found[m.Table] = m
	}
	m, ok := found["public.jiraissue"]
	if !ok || m.KeyColumn != "id" || !inRange(t, m, 17321) || spanOf(t, m) > 100 {
		t.Errorf("jiraissue: %+v", m)
	}
	if m, ok := found["public.jiraaction"]; !ok || m.SourceRows != m.TargetRows+1 || !inRange(t, m, 9) {
		t.Errorf("jiraaction: %+v", m)
	}
	if _, ok := found["public.everything"]; !ok {
		t.Errorf("numeric scale 1.50 → 1.5 not seen")
	}
	if len(v.Sequences) != 1 || !strings.Contains(v.Sequences[0].Table, "AO_60DB71_SPRINT_ID_seq") {
		t.Errorf("sequences: %+v", v.Sequences)
	}
	if !strings.Contains(strings.Join(v.Definitions, "\n"), "index public.issue_pkey_idx is missing on the target") {
		t.Errorf("definitions: %v", v.Definitions)
	}
	if len(found) != 3 {
		t.Errorf("mismatched tables: %v", v.Mismatched)
	}
}

func inRange(t *testing.T, m Mismatch, id int64) bool {
	lo, hi := int64(-1<<62), int64(1<<62)
	if m.KeyFrom != "" {
		lo = atoi(t, m.KeyFrom)
	}
	if m.KeyTo != "" {
		hi = atoi(t, m.KeyTo)
	}
	return lo <= id && id < hi
}

func spanOf(t *testing.T, m Mismatch) int64 {
	if m.KeyFrom == "" || m.KeyTo == "" {
		return 1 << 62
	}
	return atoi(t, m.KeyTo) - atoi(t, m.KeyFrom)
}

func atoi(t *testing.T, s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not an integer bound: %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// bigTable adds a table large enough to be copied in many chunks.
func bigTable(t *testing.T, e *env, db string, rows int) {
	e.src.Psql(t, db, `CREATE TABLE changeitem (id numeric(18,0) PRIMARY KEY, groupid numeric(18,0), field text, oldvalue text, newvalue text);
INSERT INTO changeitem SELECT i, i / 3, 'status', md5(i::text), repeat(md5((i * 7)::text), 4) FROM generate_series(1, `+itoa(rows)+`) i; ANALYZE changeitem`)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTerminatedWorkerRedoesItsChunkWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	bigTable(t, e, "shop", 300000)
	o := e.opts(t, "shop")
	o.SplitLargerThan = 4 << 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var killed atomic.Int32
	go func() {
		for ctx.Err() == nil && killed.Load() < 2 {
			for _, side := range []struct{ p func(string) string }{
				{func(q string) string { return e.dst.Psql(t, "shop", q) }},
				{func(q string) string { return e.src.Psql(t, "shop", q) }},
			} {
				out := side.p(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = 'cutover' AND state = 'active' AND query LIKE 'COPY%changeitem%' AND pid <> pg_backend_pid()`)
				if out != "0" {
					killed.Add(1)
					break
				}
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	rep := mustCopy(t, o)
	cancel()
	if killed.Load() == 0 {
		t.Fatal("no COPY backend was caught to terminate; make the table bigger")
	}
	if rep.Verify.differences() != 0 {
		t.Fatalf("after %d terminated backends: %s", killed.Load(), rep.Markdown())
	}
	if got := e.dst.Psql(t, "shop", "SELECT count(*) - count(DISTINCT id) FROM changeitem"); got != "0" {
		t.Fatalf("%s duplicate rows", got)
	}
	t.Logf("%d backends terminated mid-COPY; copy and verify clean", killed.Load())
}

func TestInterruptedCopyResumes(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	bigTable(t, e, "shop", 200000)
	o := e.opts(t, "shop")
	o.SplitLargerThan = 2 << 20
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	o.afterChunk = func(string, int) {
		if n.Add(1) == 3 {
			cancel()
		}
	}
	_, err := Copy(ctx, o)
	if !errs.Interrupted(err) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	// Without --resume the half-filled target is refused.
	o.afterChunk = nil
	if _, err := Copy(context.Background(), o); errs.ExitCode(err) != errs.ExitFatal {
		t.Fatalf("rerun without --resume: %v", err)
	}
	o.Resume = true
	rep := mustCopy(t, o)
	if !rep.Resumed || !strings.Contains(rep.Snapshot, "new snapshot") {
		t.Errorf("the report does not say the copy resumed on a new snapshot: %q", rep.Snapshot)
	}
	resumed := 0
	for _, tr := range rep.Tables {
		resumed += tr.Resumed
	}
	if resumed == 0 {
		t.Error("no chunk was skipped as done by the interrupted run")
	}
	if rep.Verify.differences() != 0 {
		t.Fatal(rep.Markdown())
	}
	if got := e.dst.Psql(t, "shop", "SELECT count(*) - count(DISTINCT id) FROM changeitem"); got != "0" {
		t.Fatalf("%s duplicate rows", got)
	}
}

func TestBinaryFormatAndTargetOwner(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	o := e.opts(t, "shop")
	e.dst.Psql(t, "postgres", "CREATE ROLE jira NOLOGIN; GRANT jira TO app; GRANT CREATE ON DATABASE shop TO jira")
	e.dst.Psql(t, "shop", "GRANT CREATE ON SCHEMA public TO jira")
	o.CopyFormat = "binary"
	o.TargetOwner = "jira"
	_, err := Copy(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "user-defined type") {
		t.Fatalf("binary with enum columns: %v", err)
	}
	e.src.Psql(t, "shop", "DROP TABLE everything CASCADE")
	rep := mustCopy(t, o)
	if rep.Verify.differences() != 0 {
		t.Fatal(rep.Markdown())
	}
	if got := e.dst.Psql(t, "shop", "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname IN ('public', 'Odd Schema')"); got != "jira" {
		t.Errorf("owners: %s", got)
	}
}

func TestOldPgDumpIsRefused(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	o := e.opts(t, "shop")
	fake := t.TempDir() + "/pg_dump"
	writeScript(t, fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
	o.PgDump = fake
	_, err := Copy(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "older than the source") {
		t.Fatalf("old pg_dump: %v", err)
	}
	if got := e.dst.Psql(t, "shop", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); got != "0" {
		t.Fatal("the refused copy wrote to the target")
	}
}

func TestIAMAuthWithoutTLSIsRefused(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	o := e.opts(t, "shop")
	var calls atomic.Int32
	o.Target.DSN = strings.Replace(e.dst.DSN("app", "", "shop"), "sslmode=disable", "sslmode=disable", 1)
	o.Target.IAMAuth = true
	o.Target.Token = func(_ context.Context, endpoint, region, user string) (string, error) {
		calls.Add(1)
		if user != "app" || !strings.HasPrefix(endpoint, "127.0.0.1:") {
			t.Errorf("token for %s@%s", user, endpoint)
		}
		return "app-secret", nil
	}
	_, err := Copy(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitUsage || !strings.Contains(err.Error(), "needs TLS") {
		t.Fatalf("IAM over a plain connection: %v", err)
	}
}

func TestTLSVerifyFullAndIAMTokens(t *testing.T) {
	cert := testenv.NewTLSCert(t, "localhost")
	e := &env{src: testenv.StartPostgres(t, testenv.PGOptions{}), dst: testenv.StartPostgres(t, cert.PGOptions()), state: t.TempDir()}
	loadNasty(t, e, "shop")
	o := e.opts(t, "shop")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, cert.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(other, testenv.NewTLSCert(t, "localhost").CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := func(host, rootcert string) string {
		return fmt.Sprintf("postgres://app@%s:%d/shop?sslmode=verify-full&sslrootcert=%s", host, e.dst.Port, rootcert)
	}
	var calls atomic.Int32
	o.Target.IAMAuth = true
	o.Target.Token = func(_ context.Context, endpoint, region, user string) (string, error) {
		calls.Add(1)
		return "app-secret", nil // the role's password stands in for an RDS token
	}
	for _, c := range []struct{ name, dsn string }{
		{"a CA that did not sign the server's certificate", dsn("localhost", other)},
		{"a host name the certificate does not name", dsn("127.0.0.1", ca)},
	} {
		o.Target.DSN = c.dsn
		_, err := Copy(context.Background(), o)
		if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "TLS certificate") {
			t.Fatalf("%s: exit %d (%v)", c.name, errs.ExitCode(err), err)
		}
	}
	calls.Store(0)
	o.Target.DSN = dsn("localhost", ca)
	rep := mustCopy(t, o)
	if rep.Verify.differences() != 0 {
		t.Fatal(rep.Markdown())
	}
	// coordinator, 2 copy workers, index/post-data workers, 2 verify workers…: one token each.
	if calls.Load() < 5 {
		t.Errorf("%d IAM tokens for the whole copy; want one per connection", calls.Load())
	}
	if got := e.dst.Psql(t, "shop", "SELECT count(*) FROM pg_stat_ssl WHERE ssl"); got == "" {
		t.Error("pg_stat_ssl unreadable")
	}
}

func TestInterruptedPageChunkedTableStartsOverOnResume(t *testing.T) {
	e := newEnv(t)
	loadNasty(t, e, "shop")
	e.src.Psql(t, "shop", "INSERT INTO nokey SELECT i % 100, repeat('y', 200) FROM generate_series(1, 60000) i; ANALYZE nokey")
	o := e.opts(t, "shop")
	o.SplitLargerThan = 1 << 20 // nokey (no key: pages) and the numeric-key tables are cut
	ctx, cancel := context.WithCancel(context.Background())
	var nokeyDone atomic.Int32
	o.afterChunk = func(table string, chunk int) {
		if table == "public.nokey" && nokeyDone.Add(1) == 2 {
			cancel()
		}
	}
	if _, err := Copy(ctx, o); !errs.Interrupted(err) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	o.afterChunk, o.Resume = nil, true
	rep := mustCopy(t, o)
	if rep.Verify.differences() != 0 {
		t.Fatal(rep.Markdown())
	}
	if got, want := e.dst.Psql(t, "shop", "SELECT count(*) FROM nokey"), e.src.Psql(t, "shop", "SELECT count(*) FROM nokey"); got != want {
		t.Fatalf("nokey: %s rows on the target, %s on the source", got, want)
	}
}
