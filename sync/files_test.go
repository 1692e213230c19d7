package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/report"
	"github.com/cutover/cutover/internal/state"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

type env struct {
	sshd          *testenv.SSHD
	src, dst, dir string
}

func newEnv(t *testing.T) *env { return newEnvWith(t, testenv.SSHDOptions{}) }

// newEnvWith is newEnv with an sshd configured by o.
func newEnvWith(t *testing.T, o testenv.SSHDOptions) *env {
	t.Helper()
	s := testenv.StartSSHD(t, o)
	dir := t.TempDir()
	return &env{sshd: s, dir: dir, src: filepath.Join(dir, "src"), dst: filepath.Join(dir, "dst")}
}

func (e *env) opts() FilesOptions {
	o := FilesOptions{Source: e.sshd.URL("", e.src), Target: e.dst, StateDir: filepath.Join(e.dir, "state"),
		Workers: 8, MaxDelete: 1000, Verify: "transferred", Log: io.Discard}
	o.SSH.KeyFile, o.SSH.KnownHosts, o.SSH.Conns = e.sshd.KeyFile, e.sshd.KnownHosts, 2
	return o
}

func mustSync(t *testing.T, o FilesOptions) *FilesReport {
	t.Helper()
	rep, err := SyncFiles(context.Background(), o)
	if err != nil {
		t.Fatalf("sync: %v (report %+v, mismatched %+v)", err, rep.Files, rep.Verify.Mismatched)
	}
	return rep
}

func assertSame(t *testing.T, a, b string) {
	t.Helper()
	if d := testenv.TreeDiff(t, a, b, true, nil); len(d) > 0 {
		t.Fatalf("trees differ:\n%s", strings.Join(d, "\n"))
	}
}

func TestSyncNastyTreeOverRealSSHD(t *testing.T) {
	e := newEnv(t)
	if _, err := gentree.Tree(e.src, gentree.Options{Files: 300, Seed: 3, MaxBytes: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := gentree.Nasty(e.src); err != nil {
		t.Fatal(err)
	}
	o := e.opts()
	rep := mustSync(t, o)
	assertSame(t, e.src, e.dst)
	if rep.Lister != "find" || rep.Files.Copied == 0 || rep.Verify.Checked != rep.Files.Copied {
		t.Fatalf("first run: %+v lister %s verify %+v", rep.Files, rep.Lister, rep.Verify)
	}
	if rep.Files.Hardlinks != 1 {
		t.Fatalf("hard link pair not kept as a link: %+v", rep.Files)
	}
	if rep.Files.Streamed != rep.Files.Copied {
		t.Fatalf("the sshd has a shell and GNU tar, yet %d of %d files were not streamed", rep.Files.Copied-rep.Files.Streamed, rep.Files.Copied)
	}
	if rep.ConnectionsLost != 0 {
		t.Fatalf("%d connections counted lost in a run that lost none", rep.ConnectionsLost)
	}
	if rep.Memory.MaxResidentBytes <= 0 || !strings.Contains(rep.Markdown(), " at most resident") {
		t.Fatalf("the report says nothing of the memory taken: %+v", rep.Memory)
	}

	// A rerun with nothing changed copies nothing.
	rep = mustSync(t, o)
	if rep.Files.Copied != 0 || rep.Files.Unchanged != rep.Files.Scanned {
		t.Fatalf("no-change rerun: %+v", rep.Files)
	}

	// Change, add and delete; mirror with --delete.
	now := time.Now()
	gentree.WriteFile(filepath.Join(e.src, "nasty/with space.txt"), 999, 1, now)
	gentree.WriteFile(filepath.Join(e.src, "nasty/new\nfile"), 10, 2, now)
	os.Remove(filepath.Join(e.src, "nasty/tab\there.txt"))
	os.RemoveAll(filepath.Join(e.src, "nasty/deep/d00/d01"))
	os.Remove(filepath.Join(e.src, "nasty/link-dangling"))
	os.Mkdir(filepath.Join(e.src, "nasty/link-dangling"), 0o700) // a symlink becomes a directory
	os.Chmod(filepath.Join(e.src, "nasty/--"), 0o640)            // metadata only
	o.Delete = true
	rep = mustSync(t, o)
	assertSame(t, e.src, e.dst)
	if rep.Files.Copied != 2 || rep.Files.Deleted < 40 || rep.Files.MetadataUpdated < 1 {
		t.Fatalf("delta run: %+v", rep.Files)
	}

	// files verify agrees, then finds a tampered byte.
	vrep, err := VerifyFiles(context.Background(), o)
	if err != nil || vrep.Verify.MismatchedCount != 0 {
		t.Fatalf("verify: %v %+v", err, vrep.Verify)
	}
	if tp := vrep.Throughput; tp.ListS <= 0 || tp.TargetListS <= 0 || tp.CopyS <= 0 || tp.BytesPerS <= 0 || !strings.Contains(vrep.Markdown(), "of hashing both sides") {
		t.Fatalf("verify's report does not time its listings and hashing: %+v", tp)
	}
	// The source's files were hashed on its host: with b3sum where it has
	// it (BLAKE3), the names it would print escaped or altered (a newline, a
	// backslash, bytes that are not UTF-8) then read over SSH; else with
	// openssl and sha256sum (SHA-256).
	want, wantHash := "read from the SFTP server", "blake3"
	if _, err := exec.LookPath("b3sum"); err != nil {
		want, wantHash = "by sha256sum", "sha256"
	}
	if h := vrep.Verify.HashedBy; !strings.Contains(h["source"], "on its host (") || !strings.Contains(h["source"], want) || vrep.Hash != wantHash ||
		!strings.Contains(h["target"], "read from the page cache") || !strings.Contains(vrep.Markdown(), "| hashed |") {
		t.Fatalf("verify's report does not say how each side was hashed (want %q, %s): %q, %s", want, wantHash, h, vrep.Hash)
	}
	p := filepath.Join(e.dst, "nasty/ünïcödé-名前.txt")
	b, _ := os.ReadFile(p)
	b[10] ^= 1
	os.WriteFile(p, b, 0o644)
	vrep, err = VerifyFiles(context.Background(), o)
	if errs.ExitCode(err) != 1 || vrep.Verify.MismatchedCount != 1 || !strings.Contains(vrep.Verify.Mismatched[0].Reason, "content differs") {
		t.Fatalf("verify must find the tampered file: %v %+v", err, vrep.Verify)
	}
	// --verify all finds it too (against the recorded hash) and copies it
	// again: the target is the source's again.
	o.Verify = "all"
	rep = mustSync(t, o)
	if rep.Verify.MismatchedCount != 0 || rep.Files.RepairedCount != 1 || rep.Files.Repaired[0].Path != "nasty/ünïcödé-名前.txt" || rep.Files.Copied != 1 {
		t.Fatalf("--verify all: %+v, %+v", rep.Verify, rep.Files)
	}
	assertSame(t, e.src, e.dst)
}

func TestSyncRealJiraAttachmentTree(t *testing.T) {
	e := newEnv(t)
	abs, _ := filepath.Abs("../testdata/jira811-home")
	e.src = abs
	o := e.opts()
	o.Source = e.sshd.URL("", abs)
	o.Filter.Add(true, "jira-home-shared/caches/IndexSnapshot_*")
	o.Filter.Add(false, "jira-home-shared/caches/**")
	// Through the tar streams (the default), and file by file over SFTP.
	for _, streams := range []int{0, -1} {
		o.Streams = streams
		o.Target = filepath.Join(e.dir, fmt.Sprintf("dst%d", streams))
		o.StateDir = filepath.Join(e.dir, fmt.Sprintf("state%d", streams))
		rep := mustSync(t, o)
		if want := map[bool]int64{true: rep.Files.Copied, false: 0}[streams == 0]; rep.Files.Copied == 0 || rep.Files.Streamed != want {
			t.Fatalf("--streams %d: %d of %d files streamed, want %d", streams, rep.Files.Streamed, rep.Files.Copied, want)
		}
		if d := testenv.TreeDiff(t, e.src, o.Target, true, nil); len(d) != 0 {
			t.Fatalf("--streams %d:\n%s", streams, strings.Join(d, "\n"))
		}
		if _, err := os.Stat(filepath.Join(o.Target, "jira-home-shared/data/attachments/TEST/10000/TEST-23/thumbs")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListingFallsBackToReadDirWithoutShell(t *testing.T) {
	e := newEnvWith(t, testenv.SSHDOptions{Extra: []string{"ForceCommand internal-sftp"}})
	gentree.Tree(e.src, gentree.Options{Files: 50, Seed: 4})
	gentree.Nasty(e.src)
	rep := mustSync(t, e.opts())
	if rep.Lister != "sftp" || rep.Files.Streamed != 0 || rep.Files.Copied == 0 || !strings.Contains(rep.ListerFallback, "runs no commands") {
		t.Fatalf("lister %q (%s), %d of %d files streamed: want the sftp fallback for both, and why", rep.Lister, rep.ListerFallback, rep.Files.Streamed, rep.Files.Copied)
	}
	// SFTP carries whole seconds: compare mtimes at that precision; hard links are not seen.
	d := testenv.TreeDiff(t, e.src, e.dst, false, func(rel string) bool { return strings.HasPrefix(rel, "nasty/hard-") })
	if len(d) != 0 {
		t.Fatalf("%s", strings.Join(d, "\n"))
	}
	rep = mustSync(t, e.opts())
	if rep.Files.Copied != 0 {
		t.Fatalf("rerun copied %d", rep.Files.Copied)
	}
}

func TestMaxDeleteStopsBeforeDeleting(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 20, Seed: 5})
	o := e.opts()
	mustSync(t, o)
	os.RemoveAll(filepath.Join(e.src, "data"))
	o.Delete, o.MaxDelete = true, 3
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), "--max-delete") {
		t.Fatalf("want exit 3 naming --max-delete, got %v", err)
	}
	if rep.Files.Deleted != 0 {
		t.Fatal("deleted despite max-delete")
	}
	if _, err := os.Stat(filepath.Join(e.dst, "data/attachments")); err != nil {
		t.Fatal("target lost files: ", err)
	}
	// Without --delete the pending deletions are counted, not made.
	o.Delete = false
	rep = mustSync(t, o)
	if rep.Files.PendingDelete < 20 || rep.Files.Deleted != 0 {
		t.Fatalf("pending %+v", rep.Files)
	}
	// A dry run lists them, saying they wait for --delete.
	o.DryRun = true
	rep = mustSync(t, o)
	if int64(len(rep.Files.DeletedPaths)) != rep.Files.PendingDelete || !strings.HasSuffix(rep.Files.DeletedPaths[0].Reason, "(pending: removed with --delete)") {
		t.Fatalf("%d pending, listed %+v", rep.Files.PendingDelete, rep.Files.DeletedPaths)
	}
}

func TestHostKeyAndAuthErrorsAreFatal(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(e.src, 0o755)
	cases := []struct {
		name, want string
		mod        func(*FilesOptions)
	}{
		{"changed host key", "HOST KEY MISMATCH", func(o *FilesOptions) {
			p := filepath.Join(e.dir, "kh-mismatch")
			os.WriteFile(p, []byte(e.sshd.KnownHostsLine(testenv.OtherHostKey(t))), 0o600)
			o.SSH.KnownHosts = p
		}},
		{"unknown host key", "unknown host key", func(o *FilesOptions) {
			p := filepath.Join(e.dir, "kh-empty")
			os.WriteFile(p, nil, 0o600)
			o.SSH.KnownHosts = p
		}},
		{"wrong client key", "authentication as", func(o *FilesOptions) { o.SSH.KeyFile = testenv.NewKey(t, e.dir) }},
		{"unreachable host", "cannot reach", func(o *FilesOptions) { o.Source = "sftp://root@127.0.0.1:1/x" }},
		{"missing source root", "does not exist", func(o *FilesOptions) { o.Source = e.sshd.URL("", "/nonexistent/path") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := e.opts()
			c.mod(&o)
			_, err := SyncFiles(context.Background(), o)
			if errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want exit 3 with %q, got %d: %v", c.want, errs.ExitCode(err), err)
			}
			if _, err := os.Stat(e.dst); err == nil {
				entries, _ := os.ReadDir(e.dst)
				if len(entries) > 0 {
					t.Fatal("target written despite the refusal")
				}
			}
		})
	}
}

// asTestUser returns options that read the source as a non-root user, who
// meets "permission denied" where root would not.
func (e *env) asTestUser(t *testing.T) FilesOptions {
	t.Helper()
	testenv.EnsureUser(t, "cutovertest")
	return e.asUser(t, "cutovertest")
}

// asUser returns options that read the source as the user name.
func (e *env) asUser(t *testing.T, name string) FilesOptions {
	t.Helper()
	// The user must reach the tree: make the path world-traversable.
	os.Chmod(e.dir, 0o755)
	for p := filepath.Dir(e.dir); strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	o := e.opts()
	o.Source = e.sshd.URL(name, e.src)
	return o
}

func TestPermissionDeniedIsRecordedAndRunGoesOn(t *testing.T) {
	e := newEnv(t)
	o := e.asTestUser(t)
	gentree.Tree(e.src, gentree.Options{Files: 30, Seed: 6})
	secret := filepath.Join(e.src, "data/secret.bin")
	gentree.WriteFile(secret, 100, 1, time.Now())
	os.Chmod(secret, 0o000)
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	if rep.Files.FailedCount != 1 || rep.Files.Failed[0].Path != "data/secret.bin" || !strings.Contains(rep.Files.Failed[0].Reason, "permission denied") {
		t.Fatalf("failed list: %+v", rep.Files.Failed)
	}
	if rep.Files.Copied < 30 {
		t.Fatalf("the rest was not copied: %+v", rep.Files)
	}
	if _, err := os.Stat(filepath.Join(e.dst, "data/secret.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file that could not be read exists at the target")
	}
}

// A named pipe or a socket in the shared home cannot be copied: each is a
// failure that names what it is and how to leave it out (exit 1), the rest
// is copied, and excluding them makes the run clean; by every lister.
func TestSpecialFilesAreReportedAndCanBeExcluded(t *testing.T) {
	e := newEnvWith(t, testenv.SSHDOptions{})
	gentree.Tree(e.src, gentree.Options{Files: 10, Seed: 21})
	if err := syscall.Mkfifo(filepath.Join(e.src, "data/pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(e.src, "data/sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	noShell := testenv.StartSSHD(t, testenv.SSHDOptions{Extra: []string{"ForceCommand internal-sftp"}})
	for _, c := range []struct{ name, src, knownHosts string }{
		{"find", e.sshd.URL("", e.src), e.sshd.KnownHosts},
		{"readdir", noShell.URL("", e.src), noShell.KnownHosts},
		{"local", e.src, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := e.opts()
			o.Source, o.Target, o.StateDir = c.src, t.TempDir(), t.TempDir()
			o.SSH.KnownHosts = c.knownHosts
			if c.name == "readdir" {
				o.SSH.KeyFile = noShell.KeyFile
			}
			rep, err := SyncFiles(context.Background(), o)
			if errs.ExitCode(err) != 1 {
				t.Fatalf("want exit 1, got %v", err)
			}
			want := map[string]string{"data/pipe": "a named pipe (FIFO)", "data/sock": "a socket"}
			for _, f := range rep.Files.Failed {
				if w := want[f.Path]; w == "" || !strings.Contains(f.Reason, w) || !strings.Contains(f.Reason, "--exclude") {
					t.Errorf("failed %s: %s", f.Path, f.Reason)
				}
				delete(want, f.Path)
			}
			if len(want) > 0 || rep.Files.Copied < 10 {
				t.Fatalf("not reported: %v; copied %d", want, rep.Files.Copied)
			}
			o.Filter.Add(false, "data/pipe")
			o.Filter.Add(false, "data/sock")
			mustSync(t, o)
		})
	}
}

// Hard links stay hard links across runs: a group of three names on a
// first sync (the links waited for their primary's result, and a link
// made too early became a copy of its own), a fourth name added to a file
// left unchanged, and names renamed onto each other.
func TestHardLinkGroupsStayLinkedAcrossRuns(t *testing.T) {
	e := newEnv(t)
	os.MkdirAll(filepath.Join(e.src, "d"), 0o755)
	gentree.WriteFile(filepath.Join(e.src, "d/a"), 5000, 1, time.Unix(1e9, 0))
	for _, n := range []string{"b", "d/c"} {
		os.Link(filepath.Join(e.src, "d/a"), filepath.Join(e.src, n))
	}
	o := e.opts()
	for step, change := range []func(){
		func() {},
		func() { os.Link(filepath.Join(e.src, "d/a"), filepath.Join(e.src, "new\nname")) },
		func() { os.Link(filepath.Join(e.src, "d/a"), filepath.Join(e.src, "e")) },
	} {
		change()
		rep := mustSync(t, o)
		if d := testenv.TreeDiff(t, e.src, e.dst, true, nil); len(d) > 0 {
			t.Fatalf("step %d: %s (report %+v)", step, strings.Join(d, "\n"), rep.Files)
		}
		if rep.Files.Copied > 1 {
			t.Fatalf("step %d: %d files copied for one content", step, rep.Files.Copied)
		}
	}
}

// With --delete, a directory the source no longer has stays at the target
// when it holds entries the rules exclude (the run leaves those alone): it
// is reported as kept, the run is clean. One the source replaced by a file
// is a failure that says why. Once the excluded entries are gone, the next
// runs finish the job.
func TestExcludedEntriesKeepTheirDirectories(t *testing.T) {
	e := newEnv(t)
	for _, d := range []string{"gone/sub", "retyped"} {
		os.MkdirAll(filepath.Join(e.src, d), 0o755)
		gentree.WriteFile(filepath.Join(e.src, d, "f"), 100, 1, time.Unix(1e9, 0))
	}
	o := e.opts()
	o.Delete = true
	o.Filter.Add(false, "*.tmp")
	mustSync(t, o)
	for _, k := range []string{"gone/sub/cache.tmp", "retyped/cache.tmp"} {
		os.WriteFile(filepath.Join(e.dst, k), []byte("the target's own"), 0o644)
	}
	os.RemoveAll(filepath.Join(e.src, "gone"))
	os.RemoveAll(filepath.Join(e.src, "retyped"))
	gentree.WriteFile(filepath.Join(e.src, "retyped"), 10, 2, time.Unix(1e9, 0))
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 1 || rep.Files.FailedCount != 1 || rep.Files.Failed[0].Path != "retyped" ||
		!strings.Contains(rep.Files.Failed[0].Reason, "retyped/cache.tmp") {
		t.Fatalf("want one failure for retyped, naming its excluded entry: %v %+v", err, rep.Files.Failed)
	}
	if rep.Files.KeptCount != 2 || !strings.Contains(rep.Markdown(), "gone/sub/cache.tmp") {
		t.Fatalf("kept %d %+v, want gone and gone/sub", rep.Files.KeptCount, rep.Files.Kept)
	}
	for _, k := range []string{"gone/sub/cache.tmp", "retyped/cache.tmp"} {
		if b, err := os.ReadFile(filepath.Join(e.dst, k)); err != nil || string(b) != "the target's own" {
			t.Fatalf("%s: %q %v", k, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dst, "gone/sub/f")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("gone/sub/f is still at the target: %v", err)
	}
	// The user clears the excluded entries: the mirror completes.
	os.Remove(filepath.Join(e.dst, "gone/sub/cache.tmp"))
	os.Remove(filepath.Join(e.dst, "retyped/cache.tmp"))
	mustSync(t, o)
	if d := testenv.TreeDiff(t, e.src, e.dst, true, nil); len(d) > 0 {
		t.Fatalf("%s", strings.Join(d, "\n"))
	}
}

func TestSyncLocalToSFTPTarget(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 60, Seed: 13})
	gentree.Nasty(e.src)
	o := e.opts()
	o.Source, o.Target = e.src, e.sshd.URL("", e.dst)
	rep := mustSync(t, o)
	// SFTP sets whole-second mtimes and leaves a link's own metadata alone.
	d := testenv.TreeDiff(t, e.src, e.dst, false, nil)
	if len(d) != 0 {
		t.Fatalf("%s", strings.Join(d, "\n"))
	}
	if rep.Verify.Checked == 0 {
		t.Fatal("nothing verified")
	}
	rep = mustSync(t, o)
	if rep.Files.Copied != 0 {
		t.Fatalf("rerun copied %d", rep.Files.Copied)
	}
	// A mirror lists the SFTP target and compares it with the record: what
	// cutover set there (whole-second mtimes, modes) reads back as recorded.
	o.Delete = true
	if rep = mustSync(t, o); rep.Files.RepairedCount != 0 || rep.Files.Copied != 0 {
		t.Fatalf("mirror rerun repaired %v, copied %d", rep.Files.Repaired, rep.Files.Copied)
	}
}

func TestExcludedDirectoryWithIncludedChildrenKeepsItsMode(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, d := range []string{"caches/indexesV1/issues", "caches/other"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(src, "caches/indexesV1/issues/segments_1"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(src, "caches/other/junk"), []byte("y"), 0o644)
	os.Chmod(filepath.Join(src, "caches/indexesV1"), 0o710)
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 2, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	o.Filter.Add(true, "caches/indexesV1/**")
	o.Filter.Add(false, "caches/**")
	if _, err := SyncFiles(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "caches/indexesV1"))
	if err != nil || fi.Mode().Perm() != 0o710 {
		t.Fatalf("caches/indexesV1 on the target: %v %v, want mode 0710 from the source", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dst, "caches/other")); err == nil {
		t.Error("the excluded caches/other was copied")
	}
	if _, err := os.Stat(filepath.Join(dst, "caches/indexesV1/issues/segments_1")); err != nil {
		t.Error(err)
	}
}

func TestDeleteRemovesWhatNoRunRecorded(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(filepath.Join(src, "data"), 0o755)
	os.WriteFile(filepath.Join(src, "data", "a"), []byte("a"), 0o644)
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 2, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	o.Filter.Add(false, "tmp/**")
	if _, err := SyncFiles(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// Someone puts files at the target by hand.
	os.MkdirAll(filepath.Join(dst, "stray", "deep"), 0o755)
	os.WriteFile(filepath.Join(dst, "stray", "deep", "x"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dst, "data", "extra"), []byte("e"), 0o644)
	os.MkdirAll(filepath.Join(dst, "tmp"), 0o755)
	os.WriteFile(filepath.Join(dst, "tmp", "scratch"), []byte("s"), 0o644)
	if _, err := SyncFiles(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "data", "extra")); err != nil {
		t.Fatal("a sync without --delete removed a file")
	}
	paths := func(items []report.Item) string {
		var ps []string
		for _, it := range items {
			ps = append(ps, it.Path+": "+it.Reason)
		}
		sort.Strings(ps)
		return strings.Join(ps, "; ")
	}
	// A dry run lists what --delete would remove, and removes nothing.
	const want = "data/extra: not in the source; stray/deep/x: not in the source; stray/deep: not in the source; stray: not in the source"
	o.DryRun, o.Delete = true, true
	rep, err := SyncFiles(context.Background(), o)
	if err != nil || paths(rep.Files.DeletedPaths) != want || !strings.Contains(rep.Markdown(), "## Would delete (4)") {
		t.Fatalf("dry run: %v\n got %s\nwant %s", err, paths(rep.Files.DeletedPaths), want)
	}
	o.DryRun = false
	if _, err := os.Stat(filepath.Join(dst, "stray")); err != nil {
		t.Fatal("a dry run deleted")
	}
	rep, err = SyncFiles(context.Background(), o)
	if err != nil {
		t.Fatal(err, rep.Files.Failed)
	}
	if paths(rep.Files.DeletedPaths) != want || !strings.Contains(rep.Markdown(), "## Deleted (4)") {
		t.Fatalf("the report lists\n%s\nwant\n%s", paths(rep.Files.DeletedPaths), want)
	}
	for _, gone := range []string{"stray", "data/extra"} {
		if _, err := os.Stat(filepath.Join(dst, gone)); err == nil {
			t.Errorf("%s survived --delete", gone)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "tmp", "scratch")); err != nil {
		t.Error("--delete removed an excluded path")
	}
	if rep.Files.Deleted != 4 {
		t.Errorf("deleted %d, want 4 (stray, stray/deep, stray/deep/x, data/extra)", rep.Files.Deleted)
	}
	if rep.Throughput.TargetListS <= 0 {
		t.Error("the report does not say how long listing the target took")
	}
	o.MaxDelete = 0
	os.WriteFile(filepath.Join(dst, "data", "extra2"), []byte("e"), 0o644)
	if _, err := SyncFiles(context.Background(), o); err == nil {
		t.Error("--max-delete 0 did not stop an untracked deletion")
	}
}

func TestVerifySampleComparesAFixedShareOfContents(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(src, 0o755)
	for i := 0; i < 200; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d", i)), []byte(fmt.Sprintf("content %03d", i)), 0o644)
	}
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 2, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	if _, err := SyncFiles(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var in, out string
	for i := 0; i < 200 && (in == "" || out == ""); i++ {
		name := fmt.Sprintf("f%03d", i)
		if sampled(name, 0.1) {
			in = name
		} else {
			out = name
		}
	}
	for name, b := range map[string]string{in: "CONTENT XXX", out: "CONTENT YYY"} { // same size, other bytes; out is not in the sample
		st, _ := os.Stat(filepath.Join(dst, name))
		os.WriteFile(filepath.Join(dst, name), []byte(b), 0o644)
		os.Chtimes(filepath.Join(dst, name), st.ModTime(), st.ModTime()) // the content alone differs
	}
	o.VerifySample = 0.1
	rep, err := VerifyFiles(context.Background(), o)
	if err == nil || rep.Verify.MismatchedCount != 1 || rep.Verify.Mismatched[0].Path != in {
		t.Fatalf("sampled verify: %v %+v", err, rep.Verify)
	}
	if rep.Verify.Checked+rep.Verify.MismatchedCount < 200 {
		t.Errorf("checked %d entries, want all 200 for presence, type and size", rep.Verify.Checked)
	}
	o.VerifySample = 0
	if rep, _ := VerifyFiles(context.Background(), o); rep.Verify.MismatchedCount != 2 {
		t.Fatalf("full verify: %+v", rep.Verify)
	}
}

// The listing runs in two phases (the top levels, then the directories
// below in parallel sessions): an unreadable directory in either phase is
// reported by its path and the rest is listed and copied; a filesystem
// mounted inside the source is not crossed, at any depth.
func TestListingReportsUnreadableDirectoriesAndStaysOnOneFilesystem(t *testing.T) {
	e := newEnv(t)
	o := e.asTestUser(t)
	gentree.Tree(e.src, gentree.Options{Files: 60, Seed: 12})
	shallow := "data/closed"                   // listed by the first phase
	deep := "data/a/b/c/d/closed"              // below the first phase's depth
	mnt1, mnt2 := "x/y/z/mnt", "p/q/r/s/t/mnt" // a mount point at the first phase's depth, and below it
	for _, d := range []string{shallow, deep, mnt1, mnt2} {
		os.MkdirAll(filepath.Join(e.src, d), 0o755)
	}
	for _, d := range []string{shallow, deep} {
		gentree.WriteFile(filepath.Join(e.src, d, "hidden.txt"), 10, 1, time.Now())
		os.Chmod(filepath.Join(e.src, d), 0o700) // root's, closed to the test user
	}
	gentree.WriteFile(filepath.Join(e.src, "data/a/b/c/d/open.txt"), 10, 2, time.Now())
	for _, m := range []string{mnt1, mnt2} {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", filepath.Join(e.src, m)).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", filepath.Join(e.src, m)).Run() })
		os.WriteFile(filepath.Join(e.src, m, "other-fs.txt"), []byte("x"), 0o644)
	}
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	var failed []string
	for _, f := range rep.Files.Failed {
		failed = append(failed, f.Path)
	}
	sort.Strings(failed)
	if strings.Join(failed, ",") != deep+","+shallow {
		t.Fatalf("failed %q, want the two closed directories: %+v", failed, rep.Files.Failed)
	}
	if _, err := os.Stat(filepath.Join(e.dst, "data/a/b/c/d/open.txt")); err != nil {
		t.Fatal("a file next to a closed directory was not copied")
	}
	for _, m := range []string{mnt1, mnt2} {
		if _, err := os.Stat(filepath.Join(e.dst, m)); err != nil {
			t.Fatalf("mount point %s itself is not at the target", m)
		}
		if _, err := os.Stat(filepath.Join(e.dst, m, "other-fs.txt")); err == nil {
			t.Fatalf("the listing crossed into the filesystem mounted at %s", m)
		}
	}
	// Excluded, a closed directory is no failure: one rule for
	// directories only, one for a name at any depth.
	o.Filter.Add(false, shallow+"/")
	o.Filter.Add(false, "closed")
	if rep, err := SyncFiles(context.Background(), o); err != nil {
		t.Fatalf("with both closed directories excluded: %v %+v", err, rep.Files.Failed)
	}
}

// A host whose tar is not GNU tar (BusyBox, BSD) cannot stream: every file
// goes by SFTP requests and the copy is the same.
func TestHostWithoutGNUTarCopiesBySFTP(t *testing.T) {
	fake := t.TempDir()
	os.WriteFile(filepath.Join(fake, "tar"), []byte("#!/bin/sh\necho 'tar (busybox) 1.36'\n"), 0o755)
	e := newEnvWith(t, testenv.SSHDOptions{Extra: []string{"SetEnv PATH=" + fake + ":/usr/bin:/bin"}})
	gentree.Tree(e.src, gentree.Options{Files: 40, Seed: 13})
	gentree.Nasty(e.src)
	rep := mustSync(t, e.opts())
	if rep.Lister != "find" || rep.Files.Streamed != 0 || rep.Files.Copied == 0 {
		t.Fatalf("lister %q, %d of %d files streamed: want find, and SFTP for the copy", rep.Lister, rep.Files.Streamed, rep.Files.Copied)
	}
	assertSame(t, e.src, e.dst)
}

// A source root that is a symlink to the shared home (a common layout on
// VMs) is followed; links below it are copied as links.
func TestSourceRootThatIsASymlinkIsFollowed(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 30, Seed: 14})
	gentree.Nasty(e.src)
	link := filepath.Join(e.dir, "shared-home")
	if err := os.Symlink(e.src, link); err != nil {
		t.Fatal(err)
	}
	o := e.opts()
	o.Source = e.sshd.URL("", link)
	if rep := mustSync(t, o); rep.Files.Copied == 0 || rep.Lister != "find" {
		t.Fatalf("%s: %+v", rep.Lister, rep.Files)
	}
	assertSame(t, e.src, e.dst)
}

// A source that lists empty (an unmounted NFS shared home is an empty
// directory) is not mirrored: --delete would remove everything.
func TestEmptySourceIsNotMirrored(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 20, Seed: 15})
	o := e.opts()
	before := mustSync(t, o).Files.Copied
	entries, _ := os.ReadDir(e.src)
	for _, d := range entries {
		os.RemoveAll(filepath.Join(e.src, d.Name()))
	}
	o.Delete = true
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "empty source") || rep.Files.Deleted != 0 {
		t.Fatalf("want exit 3 and nothing deleted, got %v, %+v", err, rep.Files)
	}
	files := 0
	filepath.Walk(e.dst, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files++
		}
		return nil
	})
	if int64(files) != before {
		t.Fatalf("%d files at the target, %d were copied", files, before)
	}
}

// A server that allows few sessions per connection (MaxSessions 2: the
// SFTP channel and one more) refuses some of the parallel listing's and the
// streams' sessions: the listing runs them one after another, the copy falls
// back to SFTP, and the result is the same, with no entry listed twice.
func TestFewSessionsPerConnection(t *testing.T) {
	e := newEnvWith(t, testenv.SSHDOptions{Extra: []string{"MaxSessions 2"}})
	gentree.Tree(e.src, gentree.Options{Files: 80, Seed: 16})
	gentree.Nasty(e.src)
	rep := mustSync(t, e.opts())
	n := 0
	filepath.Walk(e.src, func(string, os.FileInfo, error) error { n++; return nil })
	if rep.Lister != "find" || rep.Files.Scanned != int64(n-1) {
		t.Fatalf("lister %s scanned %d entries, the tree has %d", rep.Lister, rep.Files.Scanned, n-1)
	}
	assertSame(t, e.src, e.dst)
}

// A login shell that greets on stdout (an echo in .bashrc) does not stop
// the find listing nor the tar streams: the greeting comes before the
// header of every remote command and is skipped.
func TestChattyLoginShell(t *testing.T) {
	e := newEnv(t)
	os.WriteFile(filepath.Join(e.sshd.Home, ".bashrc"), []byte("echo 'Welcome to the Jira VM'\nprintf 'no newline at the end'\n"), 0o644)
	gentree.Tree(e.src, gentree.Options{Files: 40, Seed: 17})
	gentree.Nasty(e.src)
	rep := mustSync(t, e.opts())
	if rep.Lister != "find" || rep.Files.Streamed != rep.Files.Copied {
		t.Fatalf("lister %q, %d of %d files streamed: the greeting got in the way", rep.Lister, rep.Files.Streamed, rep.Files.Copied)
	}
	assertSame(t, e.src, e.dst)
}

// A login shell that hangs in its start-up files (here as pyenv's rehash
// does, waiting for a lock a killed shell left behind) is given up after
// SSHOptions.ShellStart, once for the run, with what it printed: the sync
// goes on with SFTP requests alone. Before, each stream waited for the
// shell with no deadline, and a shell that never started hung the run.
func TestLoginShellThatHangsIsGivenUp(t *testing.T) {
	e := newEnv(t)
	rc := filepath.Join(e.sshd.Home, ".bashrc")
	os.WriteFile(rc, []byte("echo \"pyenv: cannot rehash: couldn't acquire lock\" >&2\nsleep 30\n"), 0o644)
	gentree.Tree(e.src, gentree.Options{Files: 40, Seed: 19})
	gentree.Nasty(e.src)
	o := e.opts()
	o.SSH.ShellStart = time.Second
	var log strings.Builder
	o.Log = &log
	rep := mustSync(t, o)
	if rep.Lister != "sftp" || rep.Files.Streamed != 0 || !strings.Contains(rep.ListerFallback, "did not start a command within 1s") {
		t.Fatalf("lister %q (%s), %d files streamed: want SFTP requests alone", rep.Lister, rep.ListerFallback, rep.Files.Streamed)
	}
	if n := strings.Count(log.String(), "SFTP requests alone from now on"); n != 1 || !strings.Contains(log.String(), "cannot rehash") {
		t.Fatalf("want one log line with the shell's message, got %d in:\n%s", n, log.String())
	}
	// SFTP carries whole seconds and sees no hard links (as without a shell).
	sameAtSeconds := func() {
		t.Helper()
		if d := testenv.TreeDiff(t, e.src, e.dst, false, func(rel string) bool { return strings.HasPrefix(rel, "nasty/hard-") }); len(d) != 0 {
			t.Fatalf("%s", strings.Join(d, "\n"))
		}
	}
	sameAtSeconds()
	// A shell that starts in time is used as ever.
	o.SSH.ShellStart = time.Minute
	os.WriteFile(rc, []byte("sleep 1\n"), 0o644)
	os.WriteFile(filepath.Join(e.src, "new.txt"), []byte("new"), 0o644)
	rep = mustSync(t, o)
	if rep.Lister != "find" || rep.Files.Copied == 0 || rep.Files.Streamed != rep.Files.Copied {
		t.Fatalf("lister %q, %d of %d files streamed: want find and a tar stream", rep.Lister, rep.Files.Streamed, rep.Files.Copied)
	}
	sameAtSeconds()
}

// An account whose login shell is not sh (tcsh here; csh and fish alike)
// is served as well: sshd hands every remote command to that shell, and
// cutover's commands reach /bin/sh through it unchanged. Before, tcsh
// refused the listing's `LC_ALL=C find` and the sync copied nothing.
func TestLoginShellThatIsNotSh(t *testing.T) {
	e := newEnv(t)
	testenv.EnsureUserWithShell(t, "cutovertcsh", "/usr/bin/tcsh")
	o := e.asUser(t, "cutovertcsh")
	gentree.Tree(e.src, gentree.Options{Files: 60, Seed: 18})
	gentree.Nasty(e.src)
	if out, err := exec.Command("chmod", "-R", "a+rX", e.src).CombinedOutput(); err != nil { // readable by the login
		t.Fatalf("%v: %s", err, out)
	}
	rep := mustSync(t, o)
	if rep.Lister != "find" || rep.Files.Copied == 0 || rep.Files.Streamed != rep.Files.Copied {
		t.Fatalf("lister %q, %d of %d files streamed: want find and tar streams", rep.Lister, rep.Files.Streamed, rep.Files.Copied)
	}
	assertSame(t, e.src, e.dst)
}

// fakeFind puts a find that runs script in front of the real one on the
// sshd's PATH.
func fakeFind(t *testing.T, script string) *env {
	t.Helper()
	fake := t.TempDir()
	os.WriteFile(filepath.Join(fake, "find"), []byte("#!/bin/sh\n"+script), 0o755)
	return newEnvWith(t, testenv.SSHDOptions{Extra: []string{"SetEnv PATH=" + fake + ":/usr/bin:/bin"}})
}

// A find without -printf (BusyBox's) lists nothing and fails: the listing
// falls back to SFTP requests and says why, instead of syncing an empty tree.
func TestFindWithoutPrintfFallsBackToSFTP(t *testing.T) {
	e := fakeFind(t, "echo 'find: unrecognized: -printf' >&2\nexit 1\n")
	gentree.Tree(e.src, gentree.Options{Files: 40, Seed: 19})
	o := e.opts()
	var log strings.Builder
	o.Log = &log
	rep := mustSync(t, o)
	if rep.Lister != "sftp" || rep.Files.Copied == 0 {
		t.Fatalf("lister %q copied %d: want the SFTP fallback", rep.Lister, rep.Files.Copied)
	}
	const why = "remote find listed nothing, not even the root: find: unrecognized: -printf"
	if !strings.Contains(log.String(), why) || rep.ListerFallback != why {
		t.Fatalf("the log and the report do not say why (report: %q):\n%s", rep.ListerFallback, log.String())
	}
	d := testenv.TreeDiff(t, e.src, e.dst, false, nil)
	if len(d) != 0 {
		t.Fatalf("%s", strings.Join(d, "\n"))
	}
}

// A find that fails once entries were passed on (here the finds below the
// top levels) stops the run with its message: a listing with holes would
// be taken for a source where files were deleted.
func TestFindFailingMidListingStopsTheRun(t *testing.T) {
	e := fakeFind(t, `case "$*" in *"-mindepth 1"*) echo 'find: memory exhausted' >&2; exit 2 ;; esac
exec /usr/bin/find "$@"
`)
	gentree.Tree(e.src, gentree.Options{Files: 40, Seed: 20})
	gentree.Nasty(e.src) // deeper than the first find goes
	o := e.opts()
	o.Delete = true
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(fmt.Sprint(err), "remote find failed (exit 124): find: memory exhausted") {
		t.Fatalf("want exit 3 with find's message, got %v", err)
	}
	if rep.Files.Copied != 0 || rep.Files.Deleted != 0 {
		t.Fatalf("a failed listing copied or deleted: %+v", rep.Files)
	}
}

// A target on a network filesystem (FUSE here, as NFS for EFS) gets four
// times the workers in flight, directories made parent by parent and
// deletions in parallel: the server ends up holding the source, nested
// directories, a mirrored deletion of a deep subtree and all.
func TestSyncOntoNetworkFilesystemTarget(t *testing.T) {
	e := newEnv(t)
	backing := filepath.Join(e.dir, "efs")
	os.MkdirAll(backing, 0o755)
	os.MkdirAll(e.dst, 0o755)
	testenv.BindFS(t, backing, e.dst)
	if _, err := gentree.Tree(e.src, gentree.Options{Files: 300, Seed: 4, MaxBytes: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := gentree.Nasty(e.src); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	o := e.opts()
	o.Log = &log
	rep := mustSync(t, o)
	assertSame(t, e.src, backing)
	if !strings.Contains(log.String(), "up to 32 operations in flight") || rep.Verify.Checked != rep.Files.Copied {
		t.Fatalf("not run as a network target: %+v\n%s", rep.Verify, log.String())
	}
	os.RemoveAll(filepath.Join(e.src, "nasty/deep/d00/d01"))
	os.RemoveAll(filepath.Join(e.src, "data/attachments"))
	o.Delete = true
	rep = mustSync(t, o)
	assertSame(t, e.src, backing)
	if rep.Files.Deleted < 300 {
		t.Fatalf("mirror: %+v", rep.Files)
	}
}

// A source on a network filesystem (FUSE here, as the NFS mount of a Data
// Center shared home) is told by the listing's find, and copied in more
// tar streams, one per 128 files: every byte arrives.
func TestSyncFromNetworkFilesystemSource(t *testing.T) {
	e := newEnv(t)
	backing := filepath.Join(e.dir, "nfs")
	if _, err := gentree.Tree(backing, gentree.Options{Files: 600, Seed: 6, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(e.src, 0o755)
	testenv.BindFS(t, backing, e.src)
	var log strings.Builder
	o := e.opts()
	o.Log = &log
	rep := mustSync(t, o)
	assertSame(t, backing, e.dst)
	if !strings.Contains(log.String(), "the source is on a network filesystem (fuse") || rep.Files.Streamed != rep.Files.Copied || !strings.HasPrefix(rep.SourceFS, "fuse") {
		t.Fatalf("not copied as from a network source: %+v\n%s", rep.Files, log.String())
	}
}

// Verification reads a target on a network filesystem from its server, not
// from the pages this host cached when it wrote and read back: a file that
// changed at the server (same size, same mtime) is a mismatch for `files
// verify`, and `--verify all` finds it and copies it again. The target is FUSE (bindfs), whose page
// cache outlives a change behind it, as the NFS client's does.
func TestVerifyReadsTheNetworkTargetNotItsPageCache(t *testing.T) {
	dir := t.TempDir()
	src, backing, dst := filepath.Join(dir, "src"), filepath.Join(dir, "efs"), filepath.Join(dir, "mnt")
	for _, d := range []string{src, backing, dst} {
		os.MkdirAll(d, 0o755)
	}
	testenv.BindFS(t, backing, dst, "-o", "kernel_cache")
	for i := 0; i < 20; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), []byte(fmt.Sprintf("attachment %02d", i)), 0o644)
	}
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 2, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	rep := mustSync(t, o)
	if rep.Verify.Checked != 20 || !strings.Contains(rep.Verify.ReadFrom, "fuse server") {
		t.Fatalf("verify: %+v", rep.Verify)
	}
	// The read-back left the pages cached; the server's copy changes.
	full := filepath.Join(backing, "f07")
	fi, _ := os.Stat(full)
	os.WriteFile(full, []byte("ATTACHMENT 07"), 0o644)
	os.Chtimes(full, fi.ModTime(), fi.ModTime())
	if b, _ := os.ReadFile(filepath.Join(dst, "f07")); string(b) != "attachment 07" {
		t.Fatalf("the mount shows the change at once (%q): this test proves nothing", b)
	}
	rep, err := VerifyFiles(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitPartial || rep.Verify.MismatchedCount != 1 || rep.Verify.Mismatched[0].Path != "f07" {
		t.Fatalf("files verify: %v %+v", err, rep.Verify)
	}
	o.Verify = "all"
	rep = mustSync(t, o)
	if rep.Verify.MismatchedCount != 0 || rep.Files.RepairedCount != 1 || rep.Files.Repaired[0].Path != "f07" {
		t.Fatalf("--verify all: %+v", rep.Verify)
	}
	if b, _ := os.ReadFile(full); string(b) != "attachment 07" {
		t.Fatalf("the server holds %q after --verify all", b)
	}
}

// An account that takes a password (a VM without keys set up): the password
// comes from a file or CUTOVER_SSH_PASSWORD, never the command line, and a
// wrong one is refused (exit 3) without being written anywhere.
func TestPasswordLogin(t *testing.T) {
	e := newEnvWith(t, testenv.SSHDOptions{Extra: []string{"PasswordAuthentication yes"}})
	testenv.EnsureUser(t, "cutoverpw")
	const password, wrong = "correct horse battery 9", "Tr0ub4dor&3"
	testenv.SetPassword(t, "cutoverpw", password)
	gentree.Tree(e.src, gentree.Options{Files: 30, Seed: 21})
	if out, err := exec.Command("chmod", "-R", "a+rX", e.src).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	o := e.asUser(t, "cutoverpw")
	o.SSH.KeyFile = "" // the password alone
	pwFile := filepath.Join(t.TempDir(), "password")
	os.WriteFile(pwFile, []byte(wrong+"\n"), 0o600)
	o.SSH.PasswordFile = pwFile
	_, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(fmt.Sprint(err), "authentication as cutoverpw@") || !strings.Contains(fmt.Sprint(err), "the password from "+pwFile) {
		t.Fatalf("wrong password: want exit 3 naming the password's file, got %v", err)
	}
	if strings.Contains(fmt.Sprint(err), wrong) {
		t.Fatal("the error shows the password")
	}
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	mustSync(t, o)
	assertSame(t, e.src, e.dst)
	t.Setenv("CUTOVER_SSH_PASSWORD", password)
	o.SSH.PasswordFile = ""
	if rep := mustSync(t, o); rep.Files.Copied != 0 {
		t.Fatalf("rerun copied %d", rep.Files.Copied)
	}
}

// Through a jump host (a bastion in front of the VMs, as ssh -J): the
// bastion's host key is checked in the same known_hosts and it takes the
// same key; one that does not forward stops the run with the reason, as
// does one whose host key is unknown, although the VM itself is reachable.
func TestJumpHost(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 30, Seed: 22})
	gentree.Nasty(e.src)
	keys, _ := os.ReadFile(filepath.Join(e.sshd.Dir, "authorized_keys"))
	bastion := func(extra ...string) *testenv.SSHD {
		b := testenv.StartSSHD(t, testenv.SSHDOptions{Extra: extra})
		os.WriteFile(filepath.Join(b.Dir, "authorized_keys"), keys, 0o644)
		return b
	}
	both := func(b *testenv.SSHD) string {
		p := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(p, []byte(e.sshd.KnownHostsLine(e.sshd.HostPub)+b.KnownHostsLine(b.HostPub)), 0o644)
		return p
	}
	me, _ := user.Current()
	b := bastion()
	o := e.opts()
	o.SSH.Jump, o.SSH.KnownHosts = me.Username+"@"+b.Addr(), both(b)
	rep := mustSync(t, o)
	if rep.Lister != "find" || rep.Files.Streamed != rep.Files.Copied {
		t.Fatalf("through the jump host: lister %q, %d of %d streamed", rep.Lister, rep.Files.Streamed, rep.Files.Copied)
	}
	assertSame(t, e.src, e.dst)

	closed := bastion("AllowTcpForwarding no")
	o.SSH.Jump, o.SSH.KnownHosts = me.Username+"@"+closed.Addr(), both(closed)
	if _, err := SyncFiles(context.Background(), o); errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(fmt.Sprint(err), "refused to forward") {
		t.Fatalf("a bastion that does not forward: want exit 3, got %v", err)
	}
	o.SSH.Jump, o.SSH.KnownHosts = b.Addr(), e.sshd.KnownHosts // user: $USER, as ssh -J
	if _, err := SyncFiles(context.Background(), o); errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(fmt.Sprint(err), "jump host "+b.Addr()+": unknown host key") {
		t.Fatalf("an unknown bastion: want exit 3, got %v", err)
	}
}

// An entry that vanishes between its directory's read and its stat (a
// temporary file of the running application) is reported as vanished, not
// as a failure: a rehearsal on a live VM does not end in exit 1 for it.
func TestEntryVanishedWhileListedIsNotAFailure(t *testing.T) {
	e := fakeFind(t, `/usr/bin/find "$@"; s=$?
case "$*" in *"-mindepth 1"*) echo "find: './data/attachments/export-123.tmp': No such file or directory" >&2; [ $s -eq 0 ] && s=1 ;; esac
exit $s
`)
	gentree.Tree(e.src, gentree.Options{Files: 40, Seed: 23})
	gentree.Nasty(e.src) // deep enough for the second phase of the listing
	rep := mustSync(t, e.opts())
	if rep.Lister != "find" || rep.Files.FailedCount != 0 || len(rep.Files.Vanished) == 0 || rep.Files.Vanished[0].Path != "data/attachments/export-123.tmp" {
		t.Fatalf("lister %s, failed %+v, vanished %+v", rep.Lister, rep.Files.Failed, rep.Files.Vanished)
	}
	assertSame(t, e.src, e.dst)
}

// A rerun trusts its record, so a file changed at the target since it was
// copied (by hand, by another tool) stays as it is; --verify all reads every
// recorded file back and copies again what differs, whatever differs: the
// content at the same size and mtime, the size, the file gone, a symlink in
// its place. A dry run lists them and changes nothing; a file the source no
// longer has is a mismatch until --delete removes it.
func TestVerifyAllCopiesAgainWhatChangedAtTheTarget(t *testing.T) {
	e := newEnv(t)
	mtime := time.Now().Add(-time.Hour)
	for i, name := range []string{"a/content", "a/size", "a/gone", "a/link", "a/kept", "a/dropped"} {
		gentree.WriteFile(filepath.Join(e.src, name), int64(4096+i), uint64(i), mtime)
	}
	o := e.opts()
	mustSync(t, o)

	flip := filepath.Join(e.dst, "a/content")
	b, _ := os.ReadFile(flip)
	b[100] ^= 1
	os.WriteFile(flip, b, 0o644)
	os.Chtimes(flip, mtime, mtime)
	os.Truncate(filepath.Join(e.dst, "a/size"), 10)
	os.Remove(filepath.Join(e.dst, "a/gone"))
	os.Remove(filepath.Join(e.dst, "a/link"))
	os.Symlink("../elsewhere", filepath.Join(e.dst, "a/link"))
	os.WriteFile(filepath.Join(e.dst, "a/dropped"), []byte("changed"), 0o644)
	os.Remove(filepath.Join(e.src, "a/dropped"))

	// A plain rerun goes by the record.
	if rep := mustSync(t, o); rep.Files.Copied != 0 {
		t.Fatalf("plain rerun copied %d", rep.Files.Copied)
	}
	o.Verify = "all"
	o.DryRun = true
	rep := mustSync(t, o)
	if rep.Files.RepairedCount != 5 || rep.Files.Copied != 4 || !strings.HasSuffix(rep.Files.Repaired[0].Reason, "(dry run: not repaired)") {
		t.Fatalf("dry run: %+v, %+v", rep.Verify, rep.Files)
	}
	if got, _ := os.ReadFile(flip); !bytes.Equal(got, b) {
		t.Fatal("the dry run changed the target")
	}

	o.DryRun = false
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitPartial || rep.Verify.MismatchedCount != 1 || rep.Verify.Mismatched[0].Path != "a/dropped" {
		t.Fatalf("--verify all: %v %+v", err, rep.Verify)
	}
	assertRepaired(t, rep, "a/content: content differs", "a/gone: target: ", "a/link: target is a symlink, want a file", "a/size: target size 10, recorded 4097")
	if rep.Files.Copied != 4 || rep.Verify.Checked != 6+4 {
		t.Fatalf("copied %d, checked %d", rep.Files.Copied, rep.Verify.Checked)
	}
	// --delete removes the file the source no longer has: nothing differs.
	o.Delete = true
	rep = mustSync(t, o)
	if rep.Verify.MismatchedCount != 0 || rep.Files.RepairedCount != 0 || rep.Files.Deleted != 1 {
		t.Fatalf("--delete --verify all: %+v, %+v", rep.Verify, rep.Files)
	}
	assertSame(t, e.src, e.dst)
}

// A mirror (--delete, as the final always runs) lists the target, and
// compares that listing with the record too: whatever was changed at the
// target since cutover wrote it (removed, rewritten, touched, a link
// pointed elsewhere, a directory gone, a mode changed, a directory's
// mtime changed by what was done in it) is redone, so the
// final's check that follows finds the target as the source. A dry run
// lists it and changes nothing.
func TestMirrorRedoesWhatChangedAtTheTarget(t *testing.T) {
	t.Run("in ranges", func(t *testing.T) { testMirrorRedoes(t, 0) })
	t.Run("whole", func(t *testing.T) { testMirrorRedoes(t, 1<<20) })
}

// testMirrorRedoes is TestMirrorRedoesWhatChangedAtTheTarget with the
// source's listing held up to sourceRun entries (0: TestMain's).
func testMirrorRedoes(t *testing.T, sourceRun int) {
	e := newEnv(t)
	mtime := time.Now().Add(-time.Hour)
	for i, name := range []string{"d/removed", "d/rewritten", "d/touched", "d/chmodded", "d/sub/inner", "d/same"} {
		gentree.WriteFile(filepath.Join(e.src, name), int64(1000+i), uint64(i), mtime)
	}
	os.Symlink("target-a", filepath.Join(e.src, "d/link"))
	os.Chtimes(filepath.Join(e.src, "d/sub"), mtime, mtime)
	os.Chtimes(filepath.Join(e.src, "d"), mtime, mtime)
	o := e.opts()
	o.sourceRun = sourceRun
	mustSync(t, o)

	dst := func(p string) string { return filepath.Join(e.dst, p) }
	os.Remove(dst("d/removed"))
	os.WriteFile(dst("d/rewritten"), []byte("by hand"), 0o644)
	b, _ := os.ReadFile(dst("d/touched"))
	b[0] ^= 1
	os.WriteFile(dst("d/touched"), b, 0o644) // same size, a new mtime
	os.Chmod(dst("d/chmodded"), 0o600)
	os.Remove(dst("d/link"))
	os.Symlink("target-b", dst("d/link"))
	os.RemoveAll(dst("d/sub"))

	o.Delete, o.DryRun = true, true
	rep := mustSync(t, o)
	if rep.Files.RepairedCount != 8 || !strings.HasSuffix(rep.Files.Repaired[0].Reason, "(dry run: not repaired)") {
		t.Fatalf("dry run: %+v", rep.Files)
	}
	if _, err := os.Stat(dst("d/removed")); err == nil {
		t.Fatal("the dry run changed the target")
	}
	o.DryRun = false
	rep = mustSync(t, o)
	assertRepaired(t, rep,
		"d/chmodded: mode 0600 at the target, recorded 0644",
		`d/link: points to "target-b" at the target, recorded "target-a"`,
		"d/removed: not at the target",
		"d/rewritten: size 7 at the target, recorded 1001",
		"d/sub/inner: not at the target",
		"d/sub: not at the target",
		"d/touched: modified at the target",
		"d: mtime ") // what was done in it changed it
	if rep.Verify.MismatchedCount != 0 || rep.Files.Deleted != 0 {
		t.Fatalf("%+v %+v", rep.Verify, rep.Files)
	}
	assertSame(t, e.src, e.dst)
	if rep := mustSync(t, o); rep.Files.RepairedCount != 0 || rep.Files.Copied != 0 {
		t.Fatalf("a rerun after the repair: %+v", rep.Files)
	}
}

// An entry the filters now exclude is left as it is at the target, changed
// there or not: neither redone nor a mismatch.
func TestExcludedEntriesChangedAtTheTargetAreLeftAlone(t *testing.T) {
	e := newEnv(t)
	gentree.WriteFile(filepath.Join(e.src, "caches/big"), 5000, 1, time.Now().Add(-time.Hour))
	gentree.WriteFile(filepath.Join(e.src, "data/kept"), 5000, 2, time.Now().Add(-time.Hour))
	o := e.opts()
	mustSync(t, o)
	os.WriteFile(filepath.Join(e.dst, "caches/big"), []byte("rebuilt by the application"), 0o644)
	if err := o.Filter.Add(false, "caches/**"); err != nil {
		t.Fatal(err)
	}
	o.Delete, o.Verify = true, "all"
	rep := mustSync(t, o)
	if rep.Files.RepairedCount != 0 || rep.Verify.MismatchedCount != 0 || rep.Files.Copied != 0 {
		t.Fatalf("%+v %+v", rep.Files, rep.Verify)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dst, "caches/big")); string(b) != "rebuilt by the application" {
		t.Fatalf("the excluded file was touched: %q", b)
	}
}

// The read-backs that can take hours on a large target (--verify all,
// `files verify`) count their progress: a total before they start, every
// file and byte once when they end.
func TestReadBacksCountTheirProgress(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	var bytes int64
	for i := range 30 {
		size := int64(i * 1000)
		bytes += size
		gentree.WriteFile(filepath.Join(src, fmt.Sprintf("d%d/f%02d", i%3, i)), size, uint64(i), time.Now())
	}
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 4, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	mustSync(t, o)

	st, err := state.Open(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	srcName, dstName, err := storeNames(o)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := st.Pair(context.Background(), "files", srcName, dstName)
	if err != nil {
		t.Fatal(err)
	}
	c := &progress.Counter{}
	checked, differ, err := verifyRecorded(context.Background(), st, pair, store.NewLocal(dst), 4, c)
	st.Close()
	if err != nil || checked != 30 || len(differ) != 0 {
		t.Fatalf("read-back: %d checked, %v differ, %v", checked, differ, err)
	}
	if c.FilesTotal.Load() != 30 || c.FilesDone.Load() != 30 || c.BytesTotal.Load() != bytes || c.BytesDone.Load() != bytes {
		t.Fatalf("verify all counted %d/%d files, %d/%d bytes, want 30 and %d", c.FilesDone.Load(), c.FilesTotal.Load(), c.BytesDone.Load(), c.BytesTotal.Load(), bytes)
	}

	var files []store.Entry
	store.NewLocal(src).Walk(context.Background(), func(e store.Entry) error {
		if e.Type == store.File {
			files = append(files, e)
		}
		return nil
	}, func(string, error) {})
	c = &progress.Counter{}
	rep := &FilesReport{}
	if err := compareHashes(context.Background(), store.NewLocal(src), store.NewLocal(dst), entryPointers(files), nil, checksum.SHA256, 4, c, rep); err != nil || rep.Verify.MismatchedCount != 0 {
		t.Fatalf("compare: %v %+v", err, rep.Verify)
	}
	if c.FilesDone.Load() != 60 || c.BytesDone.Load() != 2*bytes {
		t.Fatalf("files verify counted %d hashes, %d bytes, want 60 and %d", c.FilesDone.Load(), c.BytesDone.Load(), 2*bytes)
	}

	// A source that hashes on its host all but the files it hands back
	// (read here instead), and one whose hashing fails halfway (all read
	// here): each file counted once, and a tampered one among those read
	// here is found.
	refuse := func(p string) bool { return strings.HasSuffix(p, "7") }
	os.WriteFile(filepath.Join(dst, "d2/f17"), bytes17(t, filepath.Join(src, "d2/f17")), 0o644)
	for _, fail := range []bool{false, true} {
		c, rep = &progress.Counter{}, &FilesReport{}
		h := hostHasher{Local: store.NewLocal(src), refuse: refuse, fail: fail}
		if err := compareHashes(context.Background(), h, store.NewLocal(dst), entryPointers(files), nil, checksum.SHA256, 4, c, rep); err != nil {
			t.Fatal(err)
		}
		if rep.Verify.MismatchedCount != 1 || rep.Verify.Mismatched[0].Path != "d2/f17" {
			t.Fatalf("fail %v: want d2/f17 to differ, got %+v", fail, rep.Verify)
		}
		if c.FilesDone.Load() != 60 || c.BytesDone.Load() != 2*bytes {
			t.Fatalf("fail %v: counted %d hashes, %d bytes, want 60 and %d", fail, c.FilesDone.Load(), c.BytesDone.Load(), 2*bytes)
		}
	}
}

// bytes17 returns the content of the file at p with its first byte changed.
func bytes17(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil || len(b) == 0 {
		t.Fatalf("%s: %v", p, err)
	}
	b[0] ^= 1
	return b
}

// hostHasher hashes files "on its host" (here by reading them) except those
// refuse names, which it hands back with ErrNoExec, as a host whose only
// tool is openssl does with names openssl may escape; with fail, the call
// fails halfway, as on a lost connection.
type hostHasher struct {
	*store.Local
	refuse func(string) bool
	fail   bool
}

func (h hostHasher) FastestHash(context.Context) checksum.Algorithm { return checksum.SHA256 }

func (h hostHasher) HashFiles(ctx context.Context, paths []string, algo checksum.Algorithm, fn func(int, checksum.Sum, error)) error {
	for i, p := range paths {
		if h.fail && i == len(paths)/2 {
			return errors.New("connection lost")
		}
		if h.refuse(p) {
			fn(i, "", store.ErrNoExec)
			continue
		}
		w := checksum.NewWriter(algo, nil)
		_, err := h.ReadFile(ctx, store.Entry{Path: p}, w)
		fn(i, w.Sum(), err)
	}
	return nil
}

// assertRepaired checks the report's repaired entries, as "path: reason" in
// sorted order, against want: each the start of one.
func assertRepaired(t *testing.T, rep *FilesReport, want ...string) {
	t.Helper()
	var got []string
	for _, it := range rep.Files.Repaired {
		got = append(got, it.Path+": "+it.Reason)
	}
	slices.Sort(got)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Fatalf("repaired %q, want %q", got, want)
	}
}

// An EFS target that is not mounted lists as an empty directory: a mirror
// with a record of it refuses to copy everything again beneath the mount
// point, and says why.
func TestUnmountedTargetIsNotRefilled(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "efs")
	gentree.WriteFile(filepath.Join(src, "a/f"), 100, 1, time.Now())
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 2, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	mustSync(t, o)
	os.RemoveAll(dst)
	os.Mkdir(dst, 0o755) // the bare mount point
	o.Delete = true
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != errs.ExitFatal || !strings.Contains(err.Error(), "is it mounted?") || rep.Files.Copied != 0 {
		t.Fatalf("%v %+v", err, rep.Files)
	}
	if names, _ := os.ReadDir(dst); len(names) != 0 {
		t.Fatalf("the bare mount point got %d entries", len(names))
	}
}

// The check's probe times hashing on files both sides hold, or on the
// source alone before a first copy; it writes nothing.
func TestProbeCheckTimesBothSidesOrTheSourceAlone(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for i := range 300 {
		gentree.WriteFile(filepath.Join(src, fmt.Sprintf("d%d/f%03d", i%7, i)), int64(1+i*i*40), uint64(i), time.Now())
	}
	os.Mkdir(dst, 0o755)
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 4, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	for _, copied := range []bool{false, true} {
		if copied {
			mustSync(t, o)
		}
		m, err := ProbeCheck(context.Background(), o, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if m.SourceOnly == copied || m.Files < 150 || m.Bytes <= 0 || m.PerByte <= 0 || m.Estimate(1000, 1e9) <= m.Fixed {
			t.Fatalf("copied %v: %+v", copied, m)
		}
	}
	if d := testenv.TreeDiff(t, src, dst, true, nil); len(d) > 0 {
		t.Fatalf("the probe changed the target: %v", d)
	}
}

// stopAtDirMeta is a target that stops the run (as a kill would) when the
// run comes to set a directory's metadata, after every file is written.
type stopAtDirMeta struct {
	store.Store
	stop func()
}

func (s stopAtDirMeta) SetMeta(ctx context.Context, e store.Entry, owner bool) error {
	if e.Type == store.Dir {
		s.stop()
		return context.Canceled
	}
	return s.Store.SetMeta(ctx, e, owner)
}

// A run stopped after it wrote into a directory, and before it set that
// directory's mtime back (it does so last), leaves the mtime of the write:
// the next run sets it again. Before, the directory's record from an
// earlier run said it was in step, and no later run set it.
func TestInterruptedRunLeavesNoDirectoryMtimeBehind(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("one"), 0o644)
	old := time.Date(2024, 6, 1, 12, 0, 0, 123456789, time.UTC)
	for _, p := range []string{"a/b/f", "a/b", "a"} {
		os.Chtimes(filepath.Join(src, p), old, old)
	}
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 4, MaxDelete: 1000, Verify: "transferred", Log: io.Discard}
	mustSync(t, o)
	assertSame(t, src, dst)

	// The file changes in place (its directory's mtime does not); the run
	// that copies it is stopped before the directories' metadata.
	os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("two!"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := o
	stopped.TargetStore = stopAtDirMeta{Store: store.NewLocal(dst), stop: cancel}
	if _, err := SyncFiles(ctx, stopped); !errs.Interrupted(err) {
		t.Fatalf("the stopped run: %v, want interrupted", err)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "a", "b")); fi.ModTime().Equal(old) {
		t.Fatal("the stopped run left a/b's mtime as it was: the test stops it too late")
	}
	rep := mustSync(t, o)
	assertSame(t, src, dst)
	if rep.Files.Copied != 0 {
		t.Fatalf("the resumed run copied %d files, want 0 (the file was done)", rep.Files.Copied)
	}
	if rep = mustSync(t, o); rep.Files.Copied+rep.Files.MetadataUpdated != 0 {
		t.Fatalf("a third run did work: %+v", rep.Files)
	}
}

// A target the account cannot write to stops the run before it starts
// (exit 3, saying why), instead of failing each file: an SFTP target whose
// directory belongs to another user, and a read-only mount. Before, the
// first gave 110 failures and exit 1.
func TestUnwritableTargetStopsBeforeItStarts(t *testing.T) {
	e := newEnv(t)
	o := e.asTestUser(t)
	gentree.Tree(e.src, gentree.Options{Files: 30, Seed: 6})
	os.MkdirAll(e.dst, 0o755) // root's
	o.Source, o.Target = e.src, e.sshd.URL("cutovertest", e.dst)
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), "cannot write into the target") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("exit %d (%v), want 3 and why", errs.ExitCode(err), err)
	}
	if rep.Files.FailedCount != 0 || countEntries(t, e.dst) != 0 {
		t.Fatalf("%d failed, %d entries at the target: want nothing tried", rep.Files.FailedCount, countEntries(t, e.dst))
	}

	ro := filepath.Join(e.dir, "ro")
	os.MkdirAll(ro, 0o755)
	if out, err := exec.Command("mount", "--bind", ro, ro).CombinedOutput(); err != nil {
		t.Skipf("no read-only mount here (mount --bind: %v: %s)", err, out) // as mountSmallTmpfs
	}
	t.Cleanup(func() { exec.Command("umount", ro).Run() })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", ro).CombinedOutput(); err != nil {
		t.Skipf("no read-only mount here (remount: %v: %s)", err, out)
	}
	o = e.opts()
	o.Source, o.Target, o.StateDir = e.src, ro, filepath.Join(e.dir, "state-ro")
	if _, err = SyncFiles(context.Background(), o); errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), "read-only filesystem") {
		t.Fatalf("read-only target: exit %d (%v), want 3 and why", errs.ExitCode(err), err)
	}
}

func countEntries(t *testing.T, dir string) int {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(des)
}

// The target's root gets the source root's mode, mtime and (as root,
// mapped) owner, as rsync -a gives it with "src/ dst/", also through a
// source root that is a symlink and onto a target root that is one; a
// rerun finds nothing to do. Before, the root kept the mode and owner it
// was made with, and a Jira container running as 2001 could not write its
// own shared home's root.
func TestRootDirectoryIsMirrored(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 20, Seed: 21})
	old := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	os.Chmod(e.src, 0o750)
	os.Chown(e.src, 1001, 1002)
	os.Chtimes(e.src, old, old)
	link := filepath.Join(e.dir, "shared-home")
	os.Symlink(e.src, link)
	realDst := filepath.Join(e.dir, "efs")
	os.MkdirAll(realDst, 0o755)
	dstLink := filepath.Join(e.dir, "efs-link")
	os.Symlink(realDst, dstLink)
	for _, c := range []struct {
		name, source, target string
	}{
		{"over SFTP, through links", e.sshd.URL("", link), dstLink},
		{"local", e.src, filepath.Join(e.dir, "local")},
		{"onto an SFTP target", e.src, e.sshd.URL("", filepath.Join(e.dir, "sftp-target"))},
	} {
		targetDir := c.target
		if strings.HasPrefix(c.target, "sftp://") {
			targetDir = filepath.Join(e.dir, "sftp-target")
		}
		o := e.opts()
		o.Source, o.Target, o.StateDir = c.source, c.target, filepath.Join(e.dir, "state-"+c.name)
		o.UIDMap, o.GIDMap = map[int]int{1001: 2001}, map[int]int{1002: 2001}
		o.Delete = true // the target is listed too
		rep := mustSync(t, o)
		checkRoot := func(when string) {
			t.Helper()
			fi, err := os.Stat(targetDir)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode().Perm() != 0o750 || !fi.ModTime().Equal(old) || (os.Geteuid() == 0 && (st.Uid != 2001 || st.Gid != 2001)) {
				t.Errorf("%s, %s: the target's root is %v %v %d:%d, want 0750 %v 2001:2001", c.name, when, fi.Mode().Perm(), fi.ModTime(), st.Uid, st.Gid, old)
			}
		}
		checkRoot("first run")
		if l, _ := os.Lstat(dstLink); l.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s: the target's link was replaced", c.name)
		}
		if rep.Files.FailedCount != 0 {
			t.Fatalf("%s: %+v", c.name, rep.Files.Failed)
		}
		if rep = mustSync(t, o); rep.Files.MetadataUpdated+rep.Files.Copied != 0 {
			t.Errorf("%s: a rerun did work: %+v", c.name, rep.Files)
		}
		// A file new at the root, the root's own mtime as it was: the run's
		// write at the target's root changes its mtime, which must be set
		// back (an SFTP target's root was compared as listed at the start).
		name := "new-at-root-" + strings.ReplaceAll(c.name, " ", "-")
		os.WriteFile(filepath.Join(e.src, name), []byte(name), 0o644)
		os.Chtimes(e.src, old, old)
		if rep = mustSync(t, o); rep.Files.Copied != 1 {
			t.Errorf("%s: copied %d, want the new file", c.name, rep.Files.Copied)
		}
		checkRoot("a file new at the root")
	}
}

// files verify compares what a sync sets besides content: modes, owners
// (as root, through the maps), mtimes of files and directories, the root's
// own, and hard links; a mirroring sync puts back what was changed at the
// target.
func TestVerifyComparesMetadataAndTheMirrorRepairsIt(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.MkdirAll(filepath.Join(src, "a/b"), 0o755)
	old := time.Date(2020, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, p := range []string{"a/f1", "a/b/f2", "f3"} {
		gentree.WriteFile(filepath.Join(src, p), 100, 1, old)
	}
	os.Symlink("f3", filepath.Join(src, "link"))
	os.Link(filepath.Join(src, "a/b/f2"), filepath.Join(src, "a/b/f2link"))
	os.Chtimes(filepath.Join(src, "a/b"), old, old)
	root := os.Geteuid() == 0
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(dir, "state"), Workers: 2, MaxDelete: 10, Verify: "transferred", Log: io.Discard}
	if root {
		o.UIDMap, o.GIDMap = map[int]int{0: 2001}, map[int]int{0: 2001}
	}
	mustSync(t, o)
	compared := "| compared too | mode and mtime (to the second) of every entry" // and not owners
	if root {
		compared = "| compared too | mode, mtime (to the second) and owner (mapped)"
	}
	if rep, err := VerifyFiles(context.Background(), o); err != nil || rep.Verify.MismatchedCount != 0 || !strings.Contains(rep.Markdown(), compared) {
		t.Fatalf("verify after a sync: %v %+v\n%s", err, rep.Verify, rep.Markdown())
	}
	if root {
		// The same check without the maps expects the source's owners,
		// and says to give it the maps.
		o2 := o
		o2.UIDMap, o2.GIDMap = nil, nil
		var log strings.Builder
		o2.Log = &log
		if rep, _ := VerifyFiles(context.Background(), o2); rep.Verify.MismatchedCount < 5 || !strings.Contains(rep.Verify.Mismatched[0].Reason, "owner 0:0 at the source, 2001:2001 at the target") ||
			!strings.Contains(log.String(), "give verify the same maps") {
			t.Fatalf("verify without the owner maps: %+v\n%s", rep.Verify, log.String())
		}
	}

	os.Chmod(filepath.Join(dst, "a/f1"), 0o600)
	// A hard link broken by a copy that keeps everything else.
	f2link := filepath.Join(dst, "a/b/f2link")
	b, _ := os.ReadFile(f2link)
	os.Remove(f2link)
	os.WriteFile(f2link, b, 0o644)
	os.Chtimes(f2link, old, old)
	if root {
		os.Chown(f2link, 2001, 2001)
	}
	os.Chtimes(filepath.Join(dst, "a/b"), old.Add(time.Hour), old.Add(time.Hour))
	os.Chmod(dst, 0o700)
	want := map[string]string{"a/f1": "mode 0644 at the source, 0600 at the target", "a/b": "mtime 2020-05-01 12:00:00 at the source, 2020-05-01 13:00:00 at the target", ".": "the root: mode 0755 at the source, 0700 at the target",
		"a/b/f2link": `a hard link of "a/b/f2" at the source, not at the target`}
	if root {
		os.Chown(filepath.Join(dst, "f3"), 1234, 2001)
		want["f3"] = "owner 2001:2001 at the source, 1234:2001 at the target"
	}
	rep, err := VerifyFiles(context.Background(), o)
	if errs.ExitCode(err) != 1 || rep.Verify.MismatchedCount != int64(len(want)) {
		t.Fatalf("verify after changes at the target: %v %+v", err, rep.Verify)
	}
	for _, m := range rep.Verify.Mismatched {
		if !strings.Contains(m.Reason, want[m.Path]) || want[m.Path] == "" {
			t.Errorf("%s: %q, want %q", m.Path, m.Reason, want[m.Path])
		}
	}

	o.Delete = true // lists the target, so finds what changed there
	srep := mustSync(t, o)
	if srep.Files.RepairedCount != int64(len(want))-1 { // the root is mirrored on every run, not listed
		t.Errorf("the mirror repaired %+v", srep.Files.Repaired)
	}
	if rep, err := VerifyFiles(context.Background(), o); err != nil || rep.Verify.MismatchedCount != 0 {
		t.Fatalf("verify after the mirror: %v %+v", err, rep.Verify)
	}
}
