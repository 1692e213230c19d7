package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/lucene"
	"github.com/cutover/cutover/internal/testenv"
)

const jiraIndexes = "../../testdata/jira811-home/jira-home-node1/caches/indexesV1"
const jiraSnapshots = "../../testdata/jira811-home/jira-home-shared/caches"

func opts() Options { return Options{Workers: 4, Log: io.Discard} }

// makeIndex8 makes a Lucene 8 index with real Lucene: three commits of
// fresh documents (three segments), then an update of some documents of the
// first commit (deletions: a .liv file, and a fourth segment).
func makeIndex8(t *testing.T, l *testenv.Lucene, index string) (docs string) {
	t.Helper()
	docs = filepath.Join(t.TempDir(), "docs")
	testenv.WriteDocs(t, filepath.Join(docs, "a"), 300, 600, 1)
	testenv.WriteDocs(t, filepath.Join(docs, "a", "sub"), 20, 400, 2)
	testenv.WriteDocs(t, filepath.Join(docs, "b"), 200, 800, 3)
	testenv.WriteDocs(t, filepath.Join(docs, "c"), 100, 300, 4)
	for _, d := range []string{"a", "b", "c"} {
		l.IndexFiles(t, index, filepath.Join(docs, d), true)
	}
	testenv.WriteDocs(t, filepath.Join(docs, "a", "sub"), 20, 500, 5)
	l.IndexFiles(t, index, filepath.Join(docs, "a", "sub"), true)
	return docs
}

func mustShip(t *testing.T, src, dst string) *Report {
	t.Helper()
	rep, err := Ship(context.Background(), src, dst, opts())
	if err != nil {
		t.Fatalf("ship: %v\n%s", err, rep.Markdown())
	}
	return rep
}

// commitFiles returns the files of the latest commit of a local index.
func commitFiles(t *testing.T, dir string) []lucene.File {
	t.Helper()
	ix, err := lucene.Load(context.Background(), lucene.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return ix.Files
}

// assertSameCommit checks that dst holds the latest commit of src, byte for byte.
func assertSameCommit(t *testing.T, src, dst string) {
	t.Helper()
	sf, df := commitFiles(t, src), commitFiles(t, dst)
	if len(sf) != len(df) || sf[len(sf)-1].Name != df[len(df)-1].Name {
		t.Fatalf("commit differs: %d files (%s) vs %d (%s)", len(sf), sf[len(sf)-1].Name, len(df), df[len(df)-1].Name)
	}
	for _, f := range sf {
		a, err1 := os.ReadFile(filepath.Join(src, f.Name))
		b, err2 := os.ReadFile(filepath.Join(dst, f.Name))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs (%v, %v)", f.Name, err1, err2)
		}
	}
}

func TestVerifyRealJiraIndexes(t *testing.T) {
	o := opts()
	o.Full = true
	rep, err := Verify(context.Background(), jiraIndexes, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.Markdown())
	}
	if len(rep.Indexes) != 6 || rep.Totals.FilesTotal != 82 {
		t.Fatalf("found %d indexes, %d files:\n%s", len(rep.Indexes), rep.Totals.FilesTotal, rep.Markdown())
	}
	for _, r := range rep.Indexes {
		if r.LuceneVersion != "7.3.1" || r.Format != 8 {
			t.Errorf("%s: Lucene %s format %d", r.Index, r.LuceneVersion, r.Format)
		}
	}
}

func TestShipRealJiraIndexesPassesCheckIndex(t *testing.T) {
	l := testenv.Lucene8(t)
	dst := filepath.Join(t.TempDir(), "indexesV1")
	rep := mustShip(t, jiraIndexes, dst)
	if rep.Totals.FilesShipped != 82 || rep.Totals.FilesReused != 0 {
		t.Fatalf("first ship: %+v", rep.Totals)
	}
	for _, r := range rep.Indexes {
		l.MustCheckIndex(t, filepath.Join(dst, r.Index))
		assertSameCommit(t, filepath.Join(jiraIndexes, r.Index), filepath.Join(dst, r.Index))
	}
	if _, err := os.Stat(filepath.Join(dst, "changes", "_15.si")); err == nil {
		t.Error("_15.si, not part of the commit, was shipped")
	}
	rep = mustShip(t, jiraIndexes, dst)
	if rep.Totals.FilesShipped != 0 || rep.Totals.FilesReused != 82 || rep.Totals.BytesShipped != 0 {
		t.Fatalf("second ship: %+v", rep.Totals)
	}
}

func TestDeltaShipMovesOnlyNewSegmentsAndRollsBack(t *testing.T) {
	l := testenv.Lucene8(t)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	docs := makeIndex8(t, l, src)
	mustShip(t, src, dst)
	l.MustCheckIndex(t, dst)
	assertSameCommit(t, src, dst)
	before := commitFiles(t, dst)

	// The source node indexes more: a new segment, and deletions in an old one.
	testenv.WriteDocs(t, filepath.Join(docs, "d"), 30, 400, 6)
	l.IndexFiles(t, src, filepath.Join(docs, "d"), true)
	testenv.WriteDocs(t, filepath.Join(docs, "b"), 5, 300, 7)
	l.IndexFiles(t, src, filepath.Join(docs, "b"), true)

	rep := mustShip(t, src, dst)
	r := rep.Indexes[0]
	l.MustCheckIndex(t, dst)
	assertSameCommit(t, src, dst)
	if r.FilesReused == 0 || r.FilesShipped == 0 || r.BytesShipped >= r.BytesTotal/2 {
		t.Fatalf("delta ship moved too much: %+v", r.Counts)
	}
	for _, n := range r.Shipped {
		if _, ok := findFile(before, n); ok {
			t.Errorf("%s was already on the target, identical, and was shipped again", n)
		}
	}
	prev := dst + previousSuffix
	if _, err := os.Stat(filepath.Join(prev, before[len(before)-1].Name)); err != nil {
		t.Fatalf("the replaced commit %s is not kept in %s: %v", before[len(before)-1].Name, prev, err)
	}

	// --rollback puts the former commit back, and a second one goes forward again.
	after := commitFiles(t, dst)
	if _, err := Rollback(context.Background(), dst, opts()); err != nil {
		t.Fatal(err)
	}
	l.MustCheckIndex(t, dst)
	if got := commitFiles(t, dst); got[len(got)-1].Name != before[len(before)-1].Name {
		t.Fatalf("after rollback the commit is %s, want %s", got[len(got)-1].Name, before[len(before)-1].Name)
	}
	if _, err := Rollback(context.Background(), dst, opts()); err != nil {
		t.Fatal(err)
	}
	l.MustCheckIndex(t, dst)
	if got := commitFiles(t, dst); got[len(got)-1].Name != after[len(after)-1].Name {
		t.Fatalf("after a second rollback the commit is %s, want %s", got[len(got)-1].Name, after[len(after)-1].Name)
	}
	assertSameCommit(t, src, dst)
}

func findFile(fs []lucene.File, name string) (lucene.File, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f, true
		}
	}
	return lucene.File{}, false
}

func TestShipOverSFTPBothWays(t *testing.T) {
	l := testenv.Lucene8(t)
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	src := filepath.Join(s.Dir, "src")
	makeIndex8(t, l, src)
	o := opts()
	o.SSH.KeyFile, o.SSH.KnownHosts, o.SSH.Conns = s.KeyFile, s.KnownHosts, 2

	local := filepath.Join(t.TempDir(), "idx")
	if rep, err := Ship(context.Background(), s.URL("", src), local, o); err != nil {
		t.Fatalf("%v\n%s", err, rep.Markdown())
	}
	l.MustCheckIndex(t, local)
	assertSameCommit(t, src, local)

	remote := filepath.Join(s.Dir, "remote-target", "idx")
	rep, err := Ship(context.Background(), local, s.URL("", remote), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.Markdown())
	}
	l.MustCheckIndex(t, remote)
	assertSameCommit(t, src, remote)
	o.Full = true
	if vr, err := Verify(context.Background(), s.URL("", remote), o); err != nil || len(vr.Indexes[0].Problems) != 0 {
		t.Fatalf("verify --full over sftp: %v %v", err, vr.Indexes)
	}
}

// corruptions damage a healthy index in the ways disks and people do.
var corruptions = map[string]func(t *testing.T, dir string) string{
	"flipped byte in the middle": func(t *testing.T, dir string) string {
		f := biggest(t, dir)
		b, _ := os.ReadFile(filepath.Join(dir, f))
		b[len(b)/2] ^= 0x01
		write(t, filepath.Join(dir, f), b)
		return f
	},
	"truncated file": func(t *testing.T, dir string) string {
		f := biggest(t, dir)
		b, _ := os.ReadFile(filepath.Join(dir, f))
		write(t, filepath.Join(dir, f), b[:len(b)-100])
		return f
	},
	"deleted file": func(t *testing.T, dir string) string {
		f := biggest(t, dir)
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
		return f
	},
	"garbled segments_N": func(t *testing.T, dir string) string {
		fs := commitFiles(t, dir)
		f := fs[len(fs)-1].Name
		b, _ := os.ReadFile(filepath.Join(dir, f))
		copy(b[len(b)/2:], "garbage!")
		write(t, filepath.Join(dir, f), b)
		return f
	},
}

func biggest(t *testing.T, dir string) string {
	fs := commitFiles(t, dir)
	sort.Slice(fs, func(i, j int) bool { return fs[i].Size > fs[j].Size })
	return fs[0].Name
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsAndRepairFixesEachCorruption(t *testing.T) {
	l := testenv.Lucene8(t)
	base := t.TempDir()
	src := filepath.Join(base, "healthy")
	makeIndex8(t, l, src)
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "node2")
			mustShip(t, src, dst)
			damaged := corrupt(t, dst)

			o := opts()
			o.Full = true
			rep, err := Verify(context.Background(), dst, o)
			if errs.ExitCode(err) != errs.ExitPartial {
				t.Fatalf("verify --full: exit %d (%v), want 1\n%s", errs.ExitCode(err), err, rep.Markdown())
			}
			if !mentions(rep.Indexes[0].Problems, damaged) {
				t.Fatalf("verify --full does not name %s: %v", damaged, rep.Indexes[0].Problems)
			}
			if ok, _ := l.CheckIndex(dst); ok {
				t.Fatalf("CheckIndex passes on the damaged index, cutover says %v", rep.Indexes[0].Problems)
			}

			rr, err := Repair(context.Background(), src, dst, opts())
			if err != nil {
				t.Fatalf("repair: %v\n%s", err, rr.Markdown())
			}
			if !mentions(rr.Indexes[0].Before, damaged) || len(rr.Indexes[0].Problems) != 0 {
				t.Fatalf("repair report: before %v, after %v", rr.Indexes[0].Before, rr.Indexes[0].Problems)
			}
			if rr.Indexes[0].FilesShipped == 0 || rr.Indexes[0].FilesShipped == rr.Indexes[0].FilesTotal {
				t.Errorf("repair shipped %d of %d files; want only the damaged segment", rr.Indexes[0].FilesShipped, rr.Indexes[0].FilesTotal)
			}
			l.MustCheckIndex(t, dst)
			assertSameCommit(t, src, dst)
		})
	}
}

func mentions(ps []lucene.Problem, file string) bool {
	for _, p := range ps {
		if p.File == file {
			return true
		}
	}
	return false
}

func TestLucene410Index(t *testing.T) {
	l4 := testenv.Lucene4(t)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	docs := filepath.Join(dir, "docs")
	testenv.WriteDocs(t, filepath.Join(docs, "a"), 200, 500, 1)
	testenv.WriteDocs(t, filepath.Join(docs, "a", "sub"), 10, 300, 2)
	testenv.WriteDocs(t, filepath.Join(docs, "b"), 100, 500, 3)
	l4.IndexFiles(t, src, filepath.Join(docs, "a"), true)
	l4.IndexFiles(t, src, filepath.Join(docs, "b"), true)
	testenv.WriteDocs(t, filepath.Join(docs, "a", "sub"), 10, 400, 4)
	l4.IndexFiles(t, src, filepath.Join(docs, "a", "sub"), true)

	o := opts()
	o.Full = true
	rep, err := Verify(context.Background(), src, o)
	if err != nil || rep.Indexes[0].Format != 3 {
		t.Fatalf("verify: %v\n%s", err, rep.Markdown())
	}
	mustShip(t, src, dst)
	l4.MustCheckIndex(t, dst)
	assertSameCommit(t, src, dst)

	// A flipped byte is found by the full check and repaired.
	damaged := corruptions["flipped byte in the middle"](t, dst)
	rep, _ = Verify(context.Background(), dst, o)
	if !mentions(rep.Indexes[0].Problems, damaged) {
		t.Fatalf("verify --full missed %s: %v", damaged, rep.Indexes[0].Problems)
	}
	if _, err := Repair(context.Background(), src, dst, opts()); err != nil {
		t.Fatal(err)
	}
	l4.MustCheckIndex(t, dst)
}

func TestJiraSnapshotsRestoreAndExport(t *testing.T) {
	l := testenv.Lucene8(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, "node", "caches", "indexesV1")
	var last *Report
	for _, n := range []string{"10001", "10100", "10200"} {
		rep, err := RestoreSnapshot(context.Background(), filepath.Join(jiraSnapshots, "IndexSnapshot_"+n+".tar.sz"), dst, opts())
		if err != nil {
			t.Fatalf("restore %s: %v\n%s", n, err, rep.Markdown())
		}
		if len(rep.Indexes) != 6 {
			t.Fatalf("restore %s: %d indexes", n, len(rep.Indexes))
		}
		for _, r := range rep.Indexes {
			l.MustCheckIndex(t, filepath.Join(dst, r.Index))
		}
		last = rep
	}
	if last.Totals.FilesReused == 0 {
		t.Error("restoring 10200 over 10100 reused no file")
	}
	if _, err := os.Stat(filepath.Join(dst, "reindex-metadata.properties")); err != nil {
		t.Errorf("reindex-metadata.properties not restored: %v", err)
	}

	// Export what was restored, restore the export elsewhere: same commits.
	archive := filepath.Join(dir, "IndexSnapshot_20000.tar.sz")
	if _, err := ExportSnapshot(context.Background(), dst, archive, opts()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(archive)
	if !bytes.HasPrefix(b, []byte("\xff\x06\x00\x00sNaPpY")) {
		t.Fatalf("export does not start with the Snappy stream identifier: % x", b[:10])
	}
	again := filepath.Join(dir, "node2", "indexesV1")
	if _, err := RestoreSnapshot(context.Background(), archive, again, opts()); err != nil {
		t.Fatal(err)
	}
	for _, r := range last.Indexes {
		assertSameCommit(t, filepath.Join(dst, r.Index), filepath.Join(again, r.Index))
		l.MustCheckIndex(t, filepath.Join(again, r.Index))
	}
}

func TestDamagedArchiveInstallsNothing(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(jiraSnapshots, "IndexSnapshot_10200.tar.sz"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.tar.sz")
	write(t, bad, b[:len(b)/2])
	dst := filepath.Join(dir, "indexesV1")
	_, err = RestoreSnapshot(context.Background(), bad, dst, opts())
	if err == nil {
		t.Fatal("a truncated archive was restored")
	}
	if _, serr := os.Stat(dst); serr == nil {
		t.Fatalf("the target was created from a damaged archive (%v)", err)
	}
	_, err = RestoreSnapshot(context.Background(), filepath.Join(dir, "missing.tar.sz"), dst, opts())
	if errs.ExitCode(err) != errs.ExitFatal {
		t.Fatalf("missing archive: exit %d (%v)", errs.ExitCode(err), err)
	}
}

func TestSnapshotOfALiveIndexPassesCheckIndex(t *testing.T) {
	l := testenv.Lucene8(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "live")
	docs := makeIndex8(t, l, src)
	// A writer keeps committing: each run updates documents (deletes and new
	// segments) and merges run as segments pile up.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			testenv.WriteDocs(t, filepath.Join(docs, "live"), 40, 300, int64(100+i))
			cmd := l.Cmd("org.apache.lucene.demo.IndexFiles", "-index", src, "-docs", filepath.Join(docs, "live"), "-update")
			if out, err := cmd.CombinedOutput(); err != nil && ctx.Err() == nil {
				t.Errorf("IndexFiles: %v\n%s", err, out)
				return
			}
		}
	}()
	defer func() { cancel(); <-done }()
	for i := 0; i < 6; i++ {
		out := filepath.Join(dir, fmt.Sprintf("snap-%d", i))
		rep, err := Snapshot(context.Background(), src, out, opts())
		if err != nil {
			t.Fatalf("snapshot %d: %v\n%s", i, err, rep.Markdown())
		}
		if _, err := os.Stat(filepath.Join(out, SnapshotManifestName)); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(out, SnapshotManifestName)) // CheckIndex tolerates it; keep the index pure anyway
		l.MustCheckIndex(t, out)
	}
}

func TestWriteLockHeldByALiveProcessIsRefused(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "indexesV1")
	mustShip(t, jiraIndexes, dst)
	lock := filepath.Join(dst, "issues", "write.lock")
	write(t, lock, nil)
	holder := holdLock(t, lock)
	defer holder()

	_, err := Ship(context.Background(), jiraIndexes, dst, opts())
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "held by process") {
		t.Fatalf("ship onto a locked index: exit %d, %v", errs.ExitCode(err), err)
	}
	o := opts()
	o.Force = true
	rep, err := Ship(context.Background(), jiraIndexes, dst, o)
	if err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, r := range rep.Indexes {
		warned = warned || len(r.Warnings) > 0
	}
	if !warned {
		t.Error("--force on a locked index gave no warning")
	}
}

// holdLock starts this test binary as a helper that holds an fcntl lock on
// path (as Lucene's NativeFSLockFactory does) until stopped.
func holdLock(t *testing.T, path string) func() {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$")
	cmd.Env = append(os.Environ(), "CUTOVER_HOLD_LOCK="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "locked" {
		t.Fatalf("lock helper: %q %v", buf, err)
	}
	return func() { stdin.Close(); cmd.Wait() }
}

func TestLockHelper(t *testing.T) {
	path := os.Getenv("CUTOVER_HOLD_LOCK")
	if path == "" {
		t.Skip("helper process for TestWriteLockHeldByALiveProcessIsRefused")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := lockFile(f); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked")
	io.Copy(io.Discard, os.Stdin)
}

func TestUnknownFormatIsRefusedWithExit3(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "issues")
	mustShip(t, filepath.Join(jiraIndexes, "issues"), dst)
	p := filepath.Join(dst, "segments_x")
	b, _ := os.ReadFile(p)
	b[4+9+3] = 42 // the segments format version
	write(t, p, b)
	rep, err := Verify(context.Background(), dst, opts())
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "42") {
		t.Fatalf("exit %d (%v)\n%s", errs.ExitCode(err), err, rep.Markdown())
	}
}

func TestInterruptedShipLeavesTheOldCommitAndResumes(t *testing.T) {
	l := testenv.Lucene8(t)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	makeIndex8(t, l, src)
	mustShip(t, filepath.Join(jiraIndexes, "issues"), dst) // the node has some other index
	oldCommit := commitFiles(t, dst)

	ctx, cancel := context.WithCancel(context.Background())
	o := opts()
	o.Workers = 1
	sent := 0
	o.afterSend = func(string) {
		if sent++; sent == 2 {
			cancel()
		}
	}
	_, err := Ship(ctx, src, dst, o)
	if !errs.Interrupted(err) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	// Nothing was switched: the node still opens its former commit, whole.
	if got := commitFiles(t, dst); got[len(got)-1].Name != oldCommit[len(oldCommit)-1].Name {
		t.Fatalf("interrupted ship changed the commit to %s", got[len(got)-1].Name)
	}
	if rep, err := Verify(context.Background(), dst, Options{Full: true, Log: io.Discard}); err != nil {
		t.Fatalf("the former commit is damaged: %v\n%s", err, rep.Markdown())
	}
	staged, _ := os.ReadDir(dst + stagingSuffix)
	if len(staged) < 2 {
		t.Fatalf("%d files staged, want the 2 sent before the interrupt", len(staged))
	}
	rep := mustShip(t, src, dst)
	if rep.Indexes[0].FilesShipped != rep.Indexes[0].FilesTotal-2 {
		t.Errorf("resume shipped %d of %d files; the 2 staged ones should not travel again", rep.Indexes[0].FilesShipped, rep.Indexes[0].FilesTotal)
	}
	l.MustCheckIndex(t, dst)
	assertSameCommit(t, src, dst)
	if _, err := os.Stat(dst + stagingSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging directory left behind: %v", err)
	}
}

func TestConfluenceJournalMarkerTravelsWithTheIndex(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "node0", "index")
	os.MkdirAll(filepath.Dir(src), 0o755)
	if out, err := exec.Command("cp", "-a", filepath.Join(jiraIndexes, "issues"), src).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	os.MkdirAll(filepath.Join(dir, "node0", "journal"), 0o755)
	write(t, filepath.Join(dir, "node0", "journal", "main_index"), []byte("1234\n"))
	dst := filepath.Join(dir, "node1", "index")
	rep := mustShip(t, src, dst)
	if rep.JournalMarker != "journal/main_index" {
		t.Fatalf("journal marker not reported: %+v", rep)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "node1", "journal", "main_index")); err != nil || string(b) != "1234\n" {
		t.Fatalf("journal marker on the target: %q %v", b, err)
	}
	// A Jira index directory (not named "index") carries nothing else.
	other := filepath.Join(dir, "node2", "indexesV1")
	mustShip(t, jiraIndexes, other)
	if _, err := os.Stat(filepath.Join(dir, "node2", "journal")); err == nil {
		t.Error("a journal directory appeared beside a Jira index")
	}
}
