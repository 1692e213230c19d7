package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/testenv"
)

func TestDBCopyKillResumeAndReports(t *testing.T) {
	src, dst := testenv.StartPostgres(t, testenv.PGOptions{}), testenv.StartPostgres(t, testenv.PGOptions{})
	src.Psql(t, "postgres", "CREATE DATABASE jiradb")
	src.PsqlFile(t, "jiradb", "../../testdata/pg/nasty.sql")
	src.Psql(t, "jiradb", `CREATE TABLE changeitem (id numeric(18,0) PRIMARY KEY, field text, newvalue text);
INSERT INTO changeitem SELECT i, 'status', repeat(md5(i::text), 6) FROM generate_series(1, 400000) i; ANALYZE changeitem`)
	dst.Psql(t, "postgres", "CREATE ROLE jira LOGIN PASSWORD 'rds-secret-42'")
	dst.Psql(t, "postgres", "CREATE DATABASE jiradb OWNER jira")
	dst.Psql(t, "jiradb", "ALTER SCHEMA public OWNER TO jira")
	dir := t.TempDir()
	target := dst.DSN("jira", "rds-secret-42", "jiradb")
	args := []string{"db", "copy", "--source", src.AdminDSN("jiradb"), "--target", target, "--state", filepath.Join(dir, "state"),
		"--jobs", "2", "--split-larger-than", "4MB"}

	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n := dst.Psql(t, "jiradb", "SELECT coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'changeitem'), 0)"); n != "0" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	out, code := cutover(t, args...)
	if code != 3 || !strings.Contains(out, "--resume") {
		t.Fatalf("rerun without --resume: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "rds-secret-42") {
		t.Fatalf("the password was printed:\n%s", out)
	}
	js := filepath.Join(dir, "copy.json")
	out, code = cutover(t, append(args, "--resume", "--report", js, "--report-md", filepath.Join(dir, "copy.md"))...)
	if code != 0 {
		t.Fatalf("--resume: exit %d\n%s", code, out)
	}
	b, _ := os.ReadFile(js)
	if strings.Contains(string(b), "rds-secret-42") {
		t.Fatal("the password is in the report")
	}
	var r struct {
		Status  string `json:"status"`
		Resumed bool   `json:"resumed"`
		Tables  []map[string]any
		Verify  struct {
			TablesChecked int   `json:"tables_checked"`
			Mismatched    []any `json:"mismatched"`
		} `json:"verify"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "ok" || !r.Resumed || r.Verify.TablesChecked < 10 || len(r.Verify.Mismatched) != 0 || len(r.Tables) < 10 {
		t.Fatalf("report: %s", b)
	}
	for _, k := range []string{"name", "rows", "bytes", "duration_s"} {
		if _, ok := r.Tables[0][k]; !ok {
			t.Errorf("table entries lack %q", k)
		}
	}
	if got := dst.Psql(t, "jiradb", "SELECT count(*) || ' ' || count(DISTINCT id) FROM changeitem"); got != "400000 400000" {
		t.Fatalf("changeitem after kill -9 and --resume: %s", got)
	}

	// db verify on its own, then after tampering: exit 1 naming the range.
	vargs := []string{"db", "verify", "--source", src.AdminDSN("jiradb"), "--target", target, "--state", filepath.Join(dir, "state"), "--chunk-rows", "50000"}
	if out, code := cutover(t, vargs...); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	dst.Psql(t, "jiradb", "UPDATE changeitem SET newvalue = 'x' WHERE id = 123456")
	out, code = cutover(t, vargs...)
	if code != 1 || !strings.Contains(out, "public.changeitem where id in [") {
		t.Fatalf("verify after tampering: exit %d\n%s", code, out)
	}

	for _, a := range [][]string{
		{"db", "copy", "--target", target},
		{"db", "copy", "--source", "x", "--target", "y", "--copy-format", "xml"},
		{"db", "copy", "--source", "x", "--target", "y", "--drop-target", "--resume"},
		{"db", "copy", "--source", "x", "--target", "y", "--split-larger-than", "huge"},
		{"db", "verify", "--source", "x"},
	} {
		if out, code := cutover(t, append(a, "--state", t.TempDir())...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", a, code, out)
		}
	}
}
