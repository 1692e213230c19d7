package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"

	_ "modernc.org/sqlite"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cutover-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "cutover")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func cutover(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return exitOf(t, exec.Command(bin, args...))
}

// exitOf runs cmd and returns its output and exit code.
func exitOf(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestHelpListsExitCodes(t *testing.T) {
	out, code := cutover(t, "files", "sync", "--help")
	if code != 0 || !strings.Contains(out, "130  interrupted") || !strings.Contains(out, "--max-delete") {
		t.Fatalf("%d %s", code, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"files", "sync", "onlyone"},
		{"files", "sync", "a", "b", "--no-such-flag"},
		{"files", "sync", "a", "b", "--verify", "sometimes"},
		{"files", "sync", "a", "b", "--bwlimit", "fast"},
		{"files", "sync", "a", "b", "--chown-map", "jira:2001"},
		{"files", "sync", "a", "b", "--chown-map", "4294967296:2001"},
		{"files", "sync", "sftp://u:secret@h/x", "b"},
	} {
		out, code := cutover(t, append(args, "--state", t.TempDir())...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, out)
		}
		if strings.Contains(out, "secret") {
			t.Errorf("%v: the password was printed: %s", args, out)
		}
	}
}

// TestKillAndResume kills cutover with SIGKILL mid-copy: no partial file may
// be visible under a real name, and the rerun cleans up and converges.
func TestKillAndResume(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	dir := t.TempDir()
	src, dst, state := filepath.Join(dir, "src"), filepath.Join(dir, "dst"), filepath.Join(dir, "state")
	// 600 files: more than the 512 that start tar streams, so the killed
	// run streams (its batches are renamed into place only once whole).
	if _, err := gentree.Tree(src, gentree.Options{Files: 600, Seed: 11, MedianKiB: 40, Sigma: 0.8}); err != nil {
		t.Fatal(err)
	}
	args := []string{"files", "sync", s.URL("", src), dst, "--state", state, "--ssh-key", s.KeyFile,
		"--known-hosts", s.KnownHosts, "--workers", "4"}
	cmd := exec.Command(bin, append(args, "--bwlimit", "8MB")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once some files are in place and recorded: the state commits
	// its records to its log every second, and the kill leaves them there,
	// not merged into the manifest.
	deadline := time.Now().Add(30 * time.Second)
	for (countFiles(dst) < 20 || loggedRows(t, state) == 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// The new directories are made under temporary names and renamed into
	// place at the end (see store.DirStager): what is in them is not
	// visible; every file under a real path must be whole.
	n, staged := 0, 0
	filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil || store.IsTemp(fi.Name()) {
			if err == nil && fi.IsDir() {
				staged++
				n += countFiles(p)
				return filepath.SkipDir
			}
			return nil
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dst, p)
		want, _ := os.ReadFile(filepath.Join(src, rel))
		got, _ := os.ReadFile(p)
		if string(want) != string(got) {
			t.Errorf("%s is visible but partial after kill -9", rel)
		}
		n++
		return nil
	})
	if n == 0 || n >= 605 {
		t.Fatalf("the kill came at a useless moment: %d files at the target", n)
	}
	if staged == 0 {
		t.Fatal("the killed run left no directory under a temporary name: the test no longer tests putting one in place")
	}
	rep := filepath.Join(dir, "resume.json")
	out, code := cutover(t, append(args, "--report", rep)...)
	if code != 0 {
		t.Fatalf("resume exit %d: %s", code, out)
	}
	var r struct {
		Files struct {
			Copied  int `json:"copied"`
			Adopted int `json:"adopted"`
		} `json:"files"`
	}
	b, _ := os.ReadFile(rep)
	json.Unmarshal(b, &r)
	if r.Files.Copied >= 605 {
		t.Fatalf("the resume copied everything again: %s", b)
	}
	// What the killed run recorded was read (its log merged), not found
	// again by listing the target.
	if r.Files.Adopted != 0 || strings.Contains(out, "no record of this pair") {
		t.Fatalf("the resume did not use the killed run's records (adopted %d):\n%s", r.Files.Adopted, out)
	}
	if !strings.Contains(out, "put them in place") {
		t.Errorf("the resume did not say it put the killed run's directories in place:\n%s", out)
	}
	if d := testenv.TreeDiff(t, src, dst, true, nil); len(d) > 0 {
		t.Fatalf("after resume:\n%s", strings.Join(d, "\n"))
	}
	// Flags before positionals work too, and a second run finds nothing to do.
	out, code = cutover(t, append([]string{"files", "sync", "--workers", "2"}, args[2:]...)...)
	if code != 0 || !strings.Contains(out, "copied 0") {
		t.Fatalf("%d %s", code, out)
	}
}

// loggedRows is how many records a running sync has committed to its
// state's log (read beside it, read-only: the database is in WAL mode).
func loggedRows(t *testing.T, state string) int {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(state, "state.db")+"?mode=ro&_pragma=busy_timeout(1000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM manifest_log`).Scan(&n); err != nil {
		return 0 // not made yet
	}
	return n
}

// countFiles counts the regular files under dir, in directories under
// temporary names too, but not temporary files.
func countFiles(dir string) int {
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !store.IsTemp(fi.Name()) {
			n++
		}
		return nil
	})
	return n
}

func TestSecondRunOnLockedStateIsRefused(t *testing.T) {
	state := t.TempDir()
	f, _ := os.OpenFile(filepath.Join(state, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	defer f.Close()
	syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	f.WriteString("pid 4242 on host vm-1 since earlier\n")
	out, code := cutover(t, "files", "sync", t.TempDir(), t.TempDir(), "--state", state)
	if code != 3 || !strings.Contains(out, "pid 4242") {
		t.Fatalf("%d %s", code, out)
	}
}

func TestInterruptWritesPartialReportAndExits130(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	gentree.Tree(src, gentree.Options{Files: 100, Seed: 12, MedianKiB: 100, Sigma: 0.5})
	rep := filepath.Join(dir, "r.json")
	cmd := exec.Command(bin, "files", "sync", src, dst, "--state", filepath.Join(dir, "st"), "--bwlimit", "4MB",
		"--report", rep, "--report-md", rep+".md")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for countFiles(dst) < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v", err)
	}
	b, _ := os.ReadFile(rep)
	if !strings.Contains(string(b), `"status": "interrupted"`) {
		t.Fatalf("report: %s", b)
	}
	if md, _ := os.ReadFile(rep + ".md"); !strings.Contains(string(md), "INTERRUPTED") {
		t.Fatalf("markdown: %s", md)
	}
}

// --max-duration stops a run as Ctrl-C does, at the time given: exit 130,
// a report that says so, and the same command then goes on from there.
func TestMaxDurationStopsCleanlyAndTheNextRunGoesOn(t *testing.T) {
	dir := t.TempDir()
	src, dst, state := filepath.Join(dir, "src"), filepath.Join(dir, "dst"), filepath.Join(dir, "st")
	gentree.Tree(src, gentree.Options{Files: 100, Seed: 13, MedianKiB: 100, Sigma: 0.5}) // 8 MB: 7 s at 1 MB/s, past its 1 MB burst
	rep := filepath.Join(dir, "r.json")
	out, code := cutover(t, "files", "sync", src, dst, "--state", state, "--bwlimit", "1MB", "--max-duration", "1.5s", "--report", rep)
	if code != 130 || !strings.Contains(out, "cutover: stopped at --max-duration 1.5s: the state keeps what this run finished") {
		t.Fatalf("exit %d: %s", code, out)
	}
	b, _ := os.ReadFile(rep)
	var first struct {
		Outcome string `json:"status"`
		Files   struct{ Copied int64 }
	}
	if err := json.Unmarshal(b, &first); err != nil || first.Outcome != "interrupted" || first.Files.Copied == 0 {
		t.Fatalf("report of the stopped run (%v): %s", err, b)
	}
	out, code = cutover(t, "files", "sync", src, dst, "--state", state, "--report", rep)
	b, _ = os.ReadFile(rep)
	var second struct{ Files struct{ Copied int64 } }
	json.Unmarshal(b, &second)
	if code != 0 || second.Files.Copied == 0 || first.Files.Copied+second.Files.Copied != int64(countFiles(src)) {
		t.Fatalf("the run after: exit %d, copied %d after %d: %s", code, second.Files.Copied, first.Files.Copied, out)
	}
	if d := testenv.TreeDiff(t, src, dst, true, nil); len(d) > 0 {
		t.Fatalf("after the run that went on, the target differs:\n%s", strings.Join(d, "\n"))
	}
	if out, code := cutover(t, "files", "sync", src, dst, "--state", state, "--max-duration", "-1s"); code != 2 {
		t.Errorf("a negative --max-duration: exit %d: %s", code, out)
	}
}

// --exclude-from and --include-from read globs from files and take their
// place among the other rules: first match wins, as rsync's filters.
func TestRuleFiles(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, p := range []string{"caches/indexsnapshots/snap.zip", "caches/indexesV2/x.cfs", "data/a.txt", "tmp/t", "log/atlassian-jira.log"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(src, p), []byte(p), 0o644)
	}
	inc := filepath.Join(dir, "include.txt")
	os.WriteFile(inc, []byte("# what the pod needs\ncaches/indexsnapshots/**\n"), 0o644)
	exc := filepath.Join(dir, "exclude.txt")
	os.WriteFile(exc, []byte("; Jira's caches are rebuilt\r\ncaches/**\n\ntmp/**\n"), 0o644)
	out, code := cutover(t, "files", "sync", src, dst, "--state", filepath.Join(dir, "state"),
		"--include-from", inc, "--exclude-from", exc, "--exclude", "log/**")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for p, want := range map[string]bool{"caches/indexsnapshots/snap.zip": true, "caches/indexesV2/x.cfs": false, "data/a.txt": true, "tmp/t": false, "log/atlassian-jira.log": false} {
		if _, err := os.Stat(filepath.Join(dst, p)); (err == nil) != want {
			t.Errorf("%s: copied %v, want %v", p, err == nil, want)
		}
	}
	if out, code := cutover(t, "files", "sync", src, dst, "--state", filepath.Join(dir, "state"), "--exclude-from", filepath.Join(dir, "missing")); code != 2 {
		t.Errorf("a missing rules file: exit %d, want 2: %s", code, out)
	}
}

// A dry run's summary says what would be copied and deleted, and nothing
// is: the target is as it was, as files verify then says.
func TestDryRunSaysWhatItWouldDo(t *testing.T) {
	dir := t.TempDir()
	src, dst, state := filepath.Join(dir, "src"), filepath.Join(dir, "dst"), filepath.Join(dir, "state")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(src, "new"), []byte("new"), 0o644)
	os.WriteFile(filepath.Join(dst, "old"), []byte("old"), 0o644)
	out, code := cutover(t, "files", "sync", src, dst, "--state", state, "--delete", "--dry-run")
	if code != 0 || !strings.Contains(out, "files sync (dry run, nothing changed): OK") ||
		!strings.Contains(out, "would copy 1 (3 bytes)") || !strings.Contains(out, "would delete 1") {
		t.Fatalf("exit %d: %s", code, out)
	}
	names, _ := os.ReadDir(dst)
	if len(names) != 1 || names[0].Name() != "old" {
		t.Fatalf("the dry run changed the target: %v", names)
	}
	// files verify says what it compared, not what it copied.
	out, code = cutover(t, "files", "verify", src, dst)
	if code != 1 || !strings.Contains(out, "files verify: ") || !strings.Contains(out, "mismatched 2") || strings.Contains(out, "copied") {
		t.Fatalf("files verify: exit %d, want 1 and 2 differences: %s", code, out)
	}
}
