package flow

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/testenv"
)

// TestPlanPresyncFinalEndToEnd drives the whole flow against a real sshd,
// two real PostgreSQL clusters and real Lucene indexes (Jira's).
func TestPlanPresyncFinalEndToEnd(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	src, dst := testenv.StartPostgres(t, testenv.PGOptions{}), testenv.StartPostgres(t, testenv.PGOptions{})
	dir := t.TempDir()
	home := filepath.Join(s.Dir, "shared")
	if _, err := gentree.Tree(home, gentree.Options{Files: 300, Seed: 5, MaxBytes: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	idxSrc := filepath.Join(dir, "node0", "indexesV1")
	if out, err := exec.Command("cp", "-a", "../../testdata/jira811-home/jira-home-node1/caches/indexesV1", idxSrc+"/").CombinedOutput(); err != nil {
		os.MkdirAll(filepath.Dir(idxSrc), 0o755)
		if out, err = exec.Command("cp", "-a", "../../testdata/jira811-home/jira-home-node1/caches/indexesV1", idxSrc).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	src.Psql(t, "postgres", "CREATE DATABASE jiradb")
	src.PsqlFile(t, "jiradb", "../../testdata/pg/nasty.sql")
	for _, db := range []string{"jiradb", "rehearsal"} {
		dst.Psql(t, "postgres", "CREATE DATABASE "+db)
	}
	cfgText := fmt.Sprintf(`state: ./state
workers: 8
jobs: 2
max_delete: 100
verify: transferred
verify_sample: 0.5
quiet_minutes: 10
files:
  - name: shared-home
    source: %s
    target: ./efs/shared
    exclude: ["tmp/**"]
    ssh_key: %s
    known_hosts: %s
databases:
  - name: jira
    source: %s
    target: %s
    rehearsal_target: %s
indexes:
  - name: node-1
    source: %s
    target: ./node1/indexesV1
`, s.URL("", home), s.KeyFile, s.KnownHosts, src.AdminDSN("jiradb"), dst.AdminDSN("jiradb"), dst.AdminDSN("rehearsal"), idxSrc)
	r := runnerFor(t, dir, cfgText)
	ctx := context.Background()

	plan, err := r.Plan(ctx)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, plan.Markdown())
	}
	if len(plan.Phases) != 3 || plan.Phases[0].Name != "bulk" || plan.Phases[0].Done || plan.WindowS <= 0 || plan.WindowHighS <= plan.WindowS {
		t.Fatalf("first plan:\n%s", plan.Markdown())
	}
	if _, err := os.Stat(filepath.Join(dir, "efs")); err == nil {
		t.Error("plan created the files target")
	}
	for _, db := range []string{"jiradb", "rehearsal"} {
		if out := dst.Psql(t, db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cutover_probe%'"); strings.TrimSpace(out) != "0" {
			t.Errorf("the database probe left its scratch schema in %s: %q", db, out)
		}
	}
	for _, pe := range plan.Phases[0].Parts {
		if pe.Kind == "database" && !strings.Contains(pe.Basis, "primary key built") {
			t.Errorf("the database probe built no primary key: %s", pe.Basis)
		}
	}
	// verify_sample: the final checks half the files' content after its
	// delta, and the plan's final counts that check, timed on the source
	// alone while the target holds nothing.
	assertFinalCheck(t, plan, 0.5, true)
	// The final also verifies every byte of each shipped index: timed on
	// the source while the target holds none.
	assertIndexVerify(t, plan, "at the source")

	for i := 1; i <= 2; i++ {
		rep, err := r.Presync(ctx)
		if err != nil {
			t.Fatalf("presync %d: %v\n%s", i, err, rep.Markdown())
		}
		if len(rep.Parts) != 3 || rep.NextWindowS <= 0 {
			t.Fatalf("presync %d:\n%s", i, rep.Markdown())
		}
		if i == 1 {
			// Change the sources while the application "runs".
			os.WriteFile(filepath.Join(home, "new-attachment.bin"), []byte("new"), 0o644)
			mustRemoveOne(t, home)
			src.Psql(t, "jiradb", "INSERT INTO jiraissue (id, pkey) VALUES (999999, 'NEW-1'); UPDATE jiraissue SET summary = 'changed' WHERE id = 10005; DELETE FROM jiraaction WHERE id < 10")
		}
	}
	if d := testenv.TreeDiff(t, home, filepath.Join(dir, "efs", "shared"), true, nil); len(d) == 0 {
		t.Fatal("presync mirrored a deletion (it should not without --delete)")
	}

	// A session of the application on the source database stops the final.
	app, err := pgx.Connect(ctx, src.AdminDSN("jiradb")+"&application_name=JIRA")
	if err != nil {
		t.Fatal(err)
	}
	r.Opt.Now = func() time.Time { return time.Now().Add(time.Hour) } // the shared home has been quiet
	rep, err := r.Final(ctx)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "sessions on the source database") || rep.Verdict != "NO-GO" {
		t.Fatalf("final with the application connected: exit %d (%v)\n%s", errs.ExitCode(err), err, rep.Markdown())
	}
	app.Close(ctx)
	// A shared home changed a minute ago is not quiet either.
	r.Opt.Now = nil
	if _, err := r.Final(ctx); errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "quiet_minutes") {
		t.Fatalf("final right after a change: %v", err)
	}

	// Someone changed the copy on EFS after the presyncs: the final's mirror
	// finds it in the target's listing and redoes it (a file truncated, a
	// file removed and so its directory's mtime changed).
	// A third keeps its size and mtime with a byte changed: only a check of
	// the content finds it (verify: all, which the final then redoes).
	var tampered []string
	efs := filepath.Join(dir, "efs", "shared")
	filepath.WalkDir(efs, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(efs, p)
		fi, serr := os.Stat(filepath.Join(home, rel))
		if err == nil && serr == nil && d.Type().IsRegular() && fi.Size() > 0 && len(tampered) < 3 {
			tampered = append(tampered, p) // a file the source still has
		}
		return nil
	})
	if len(tampered) < 3 {
		t.Fatal("no files at the target to change")
	}
	os.Truncate(tampered[0], 1)
	os.Remove(tampered[1])
	// which changed its directory's mtime (to another second than the
	// source's, whenever this runs)
	long := time.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Dir(tampered[1]), long, long)
	fi, _ := os.Stat(tampered[2])
	b, _ := os.ReadFile(tampered[2])
	b[0] ^= 1
	os.WriteFile(tampered[2], b, fi.Mode())
	os.Chtimes(tampered[2], fi.ModTime(), fi.ModTime())

	r.Opt.Now = func() time.Time { return time.Now().Add(time.Hour) }
	r.Cfg.Verify = "all"
	rep, err = r.Final(ctx)
	if err != nil || rep.Verdict != "GO" {
		t.Fatalf("final: %v\n%s", err, rep.Markdown())
	}
	md := rep.Markdown()
	for _, want := range []string{"3 changed at the target since written, redone", "repair: ", "1 changed at the target since written, redone", "recheck: ", "on its host ("} {
		if !strings.Contains(md, want) {
			t.Errorf("the final's report does not say %q:\n%s", want, md)
		}
	}
	if d := testenv.TreeDiff(t, home, filepath.Join(dir, "efs", "shared"), true, nil); len(d) > 0 {
		t.Fatalf("after final the target differs:\n%s", strings.Join(d, "\n"))
	}
	if got := dst.Psql(t, "jiradb", "SELECT summary FROM jiraissue WHERE id = 10005"); got != "changed" {
		t.Errorf("final database: %q", got)
	}
	for _, p := range rep.Parts {
		if p.ActualS <= 0 || p.PredictedS <= 0 {
			t.Errorf("%s %s: predicted %.2f, actual %.2f", p.Kind, p.Name, p.PredictedS, p.ActualS)
		}
	}
	reports, _ := filepath.Glob(filepath.Join(dir, "state", "final-*.json"))
	if len(reports) == 0 {
		t.Error("final wrote no report into the state directory")
	}
	runs, err := r.Status(ctx)
	if err != nil || len(runs) < 3 {
		t.Fatalf("status: %v %+v", err, runs)
	}
	// After two presyncs the window comes from history.
	plan, err = r.Plan(ctx)
	if err != nil || !strings.HasPrefix(plan.WindowBasis, "history") || !plan.Phases[0].Done {
		t.Fatalf("plan after the flow: %v\n%s", err, plan.Markdown())
	}
	assertFinalCheck(t, plan, 1, false) // verify: all, both sides timed
	assertIndexVerify(t, plan, "at the target")
}

// runnerFor writes cfgText as dir's cutover.yaml and loads it.
func runnerFor(t *testing.T, dir, cfgText string) *Runner {
	t.Helper()
	cfgPath := filepath.Join(dir, "cutover.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Cfg: cfg, Opt: Options{Log: io.Discard}}
}

// assertIndexVerify checks that the plan's final includes the full verify
// of each index set, timed on a sample of where.
func assertIndexVerify(t *testing.T, plan *PlanReport, where string) {
	t.Helper()
	x := plan.Inventory.Indexes[0]
	if x.FinalVerifyS <= 0 || !strings.Contains(x.FinalVerifyBasis, where) {
		t.Fatalf("the final's index verify (want it timed on a sample %s): %.3f s, %s", where, x.FinalVerifyS, x.FinalVerifyBasis)
	}
	for _, pe := range plan.Phases[2].Parts {
		if pe.Kind == "index" && (pe.EstimateS < x.FinalVerifyS || !strings.Contains(pe.Basis, "then verify --full of every byte")) {
			t.Errorf("the final's index part does not count its verify (%.3f s): %.3f s, %s", x.FinalVerifyS, pe.EstimateS, pe.Basis)
		}
	}
}

// assertFinalCheck checks that the plan's final includes the check of
// fraction of the files' content, probed on the source alone or on both
// sides.
func assertFinalCheck(t *testing.T, plan *PlanReport, fraction float64, sourceOnly bool) {
	t.Helper()
	c := plan.Inventory.Files[0].FinalCheck
	if c == nil || c.Fraction != fraction || c.Model.SourceOnly != sourceOnly || c.Model.Files == 0 || c.Model.PerFile+c.Model.PerByte <= 0 || c.EstimateS <= 0 {
		t.Fatalf("final check (want %g of the files, source only %v): %+v\n%s", fraction, sourceOnly, c, plan.Markdown())
	}
	for _, pe := range plan.Phases[2].Parts {
		if pe.Kind == "files" && (pe.EstimateS < c.EstimateS || !strings.Contains(pe.Basis, fmt.Sprintf("then the check of %.0f%% of the files' content", 100*fraction))) {
			t.Errorf("the final's files part does not count its check (%.2f s): %.2f s, %s", c.EstimateS, pe.EstimateS, pe.Basis)
		}
	}
}

func mustRemoveOne(t *testing.T, root string) {
	t.Helper()
	var victim string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err == nil && fi.Mode().IsRegular() && victim == "" && !strings.HasPrefix(rel, "tmp/") {
			victim = p
		}
		return nil
	})
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
}
