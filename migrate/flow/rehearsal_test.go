package flow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/config"
	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/testenv"
	"github.com/cutover/cutover/migrate"
	"github.com/cutover/cutover/sync"
)

// Rehearsals run while the application serves users from the source VM:
// presync runs its commands there at low priority (rehearsal_low_priority;
// the store's TestLowPriority… checks what that does on the host) and
// reads each file set's source at most at its rehearsal_bwlimit; the plan
// predicts the rehearsal at that rate, the run is recorded with its cap
// and left out of the copy's timing (the cap held it back), and the final
// reads at full speed and normal priority.
func TestRehearsalsSpareTheVMAndTheFinalDoesNot(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	dir := t.TempDir()
	home := filepath.Join(s.Dir, "shared")
	if _, err := gentree.Tree(home, gentree.Options{Files: 40, Seed: 11, MaxBytes: 256 << 10}); err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20 // the tree's 2-3 MB take two seconds or more
	cfgText := fmt.Sprintf(`state: ./state
workers: 4
files:
  - name: shared-home
    source: %s
    target: ./efs/shared
    rehearsal_bwlimit: %d
    rehearsal_low_priority: true
    ssh_key: %s
    known_hosts: %s
`, s.URL("", home), limit, s.KeyFile, s.KnownHosts)
	r := runnerFor(t, dir, cfgText)
	ctx := context.Background()

	plan, err := r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := plan.Phases[1].Parts[0].Bytes
	atCap := migrate.MinReadTime(total, limit).Seconds()
	for _, ph := range plan.Phases[:2] { // bulk, presync
		pe := ph.Parts[0]
		if pe.EstimateS < atCap || !strings.Contains(pe.Basis, "reads capped at 1.05 MB/s (rehearsal_bwlimit)") {
			t.Errorf("%s: predicted %.2f s for %d bytes at %d bytes a second: %s", ph.Name, pe.EstimateS, total, limit, pe.Basis)
		}
	}
	if fin := plan.Phases[2].Parts[0]; fin.EstimateS >= atCap || strings.Contains(fin.Basis, "capped") {
		t.Errorf("the final is predicted capped: %.2f s: %s", fin.EstimateS, fin.Basis)
	}

	rep, err := r.Presync(ctx)
	if err != nil {
		t.Fatalf("presync: %v\n%s", err, rep.Markdown())
	}
	fr := rep.Parts[0].Report.(*sync.FilesReport)
	if !fr.SourceLowPriority {
		t.Error("presync did not run the source's commands at low priority")
	}
	if fr.Throughput.BWLimit != limit || fr.Files.BytesCopied != total || fr.Throughput.CopyS < 0.9*atCap {
		t.Fatalf("presync read %d bytes of %d in %.2f s, cap %d (report: %d)", fr.Files.BytesCopied, total, fr.Throughput.CopyS, limit, fr.Throughput.BWLimit)
	}
	runs := fileRuns(t, r)
	if last := runs[len(runs)-1]; last.BWLimit != limit || !heldBack(last) {
		t.Fatalf("the presync's run: %+v", last)
	}

	// --bwlimit 0: this rehearsal is not capped, whatever the config says.
	os.WriteFile(filepath.Join(home, "new-attachment.bin"), make([]byte, 256<<10), 0o644)
	none := int64(0)
	r.Opt.BWLimit = &none
	if rep, err = r.Presync(ctx); err != nil {
		t.Fatalf("presync --bwlimit 0: %v\n%s", err, rep.Markdown())
	}
	r.Opt.BWLimit = nil
	if fr := rep.Parts[0].Report.(*sync.FilesReport); fr.Throughput.BWLimit != 0 || fr.Files.Copied != 1 {
		t.Fatalf("presync --bwlimit 0 copied %d files with a cap of %d", fr.Files.Copied, fr.Throughput.BWLimit)
	}

	os.WriteFile(filepath.Join(home, "last-attachment.bin"), make([]byte, 256<<10), 0o644)
	r.Opt.Now = func() time.Time { return time.Now().Add(time.Hour) } // the shared home has been quiet
	if rep, err = r.Final(ctx); err != nil || rep.Verdict != "GO" {
		t.Fatalf("final: %v\n%s", err, rep.Markdown())
	}
	if fr := rep.Parts[0].Report.(*sync.FilesReport); fr.SourceLowPriority || fr.Throughput.BWLimit != 0 {
		t.Errorf("the final ran at low priority (%v) or capped (%d)", fr.SourceLowPriority, fr.Throughput.BWLimit)
	}
	runs = fileRuns(t, r)
	if last := runs[len(runs)-1]; last.BWLimit != 0 || last.FilesCopied != 1 {
		t.Fatalf("the final's run: %+v", last)
	}
	if d := testenv.TreeDiff(t, home, filepath.Join(dir, "efs", "shared"), true, nil); len(d) > 0 {
		t.Fatalf("after final the target differs:\n%s", strings.Join(d, "\n"))
	}
	// The capped first copy times the cap, not the copy: the model fits
	// the two uncapped runs alone and says so.
	if m, ok := fitFiles(runs); !ok || !strings.Contains(m.Basis, "2 runs; 1 held back by their bwlimit left out") {
		t.Fatalf("fit of %d runs: %v %+v", len(runs), ok, m)
	}
}

// fileRuns are the recorded runs of the config's first file set.
func fileRuns(t *testing.T, r *Runner) []state.Run {
	t.Helper()
	st, err := state.Open(r.filesState(r.Cfg.Files[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(context.Background(), 0)
	if err != nil || len(runs) == 0 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	return runs
}

// A run whose cap bound for much of its copy is left out of the fit; one
// that read well under its cap (a small delta) still times the copy.
func TestFitLeavesOutRunsTheirCapHeldBack(t *testing.T) {
	const perFile, perByte = 2e-3, 1e-8 // 100 MB/s
	run := func(files, bytes, limit int64) state.Run {
		copyS := perFile*float64(files) + perByte*float64(bytes)
		if limit > 0 {
			copyS = max(copyS, float64(bytes)/float64(limit))
		}
		return state.Run{Status: "ok", FilesScanned: 1000, FilesCopied: files, BytesCopied: bytes, CopySeconds: copyS, Duration: copyS + 0.5, BWLimit: limit}
	}
	// A bulk copy at its cap, a delta of small files well under it, and
	// one with no cap.
	runs := []state.Run{run(1000, 1e9, 10e6), run(100, 1e6, 10e6), run(200, 5e7, 0)}
	if !heldBack(runs[0]) || heldBack(runs[1]) || heldBack(runs[2]) {
		t.Fatalf("held back: %v %v %v", heldBack(runs[0]), heldBack(runs[1]), heldBack(runs[2]))
	}
	m, ok := fitFiles(runs)
	if !ok || !strings.Contains(m.Basis, "1 held back") {
		t.Fatalf("fit: %v %+v", ok, m)
	}
	if d := m.PerByte/perByte - 1; d > 0.01 || d < -0.01 {
		t.Errorf("per byte %.3g, want %.3g: the capped run counted", m.PerByte, perByte)
	}
	if got := m.cappedEstimate(0, 0, 1e9, 10e6); got < 99 {
		t.Errorf("1 GB at 10 MB/s predicted in %.1f s", got)
	}
	if got, want := m.cappedEstimate(0, 0, 1e9, 0), m.estimate(0, 0, 1e9); got != want {
		t.Errorf("uncapped estimate %.1f s, want %.1f s", got, want)
	}
}

// An index set's rehearsal_low_priority lowers presync's ship, not the
// final's.
func TestIndexShipsOfRehearsalsAtLowPriority(t *testing.T) {
	r := &Runner{Cfg: &config.Config{Workers: 4}}
	x := config.IndexSet{Name: "node-1", Source: "sftp://jira@node-0/x", Target: "/y", RehearsalLowPriority: true}
	if !r.indexOptions(x, true).SSH.LowPriority || r.indexOptions(x, false).SSH.LowPriority {
		t.Fatal("presync's ship not lowered, or the final's lowered")
	}
	x.RehearsalLowPriority = false
	if r.indexOptions(x, true).SSH.LowPriority {
		t.Fatal("lowered without rehearsal_low_priority")
	}
}
