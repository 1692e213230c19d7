package sync

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/store"
)

func TestDroppedConnectionsAreReconnectedAndRetried(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 120, Seed: 7, MedianKiB: 60})
	o := e.opts()
	o.BWLimit = 4 << 20 // about two seconds of copying
	done := make(chan struct{})
	var rep *FilesReport
	var err error
	go func() { rep, err = SyncFiles(context.Background(), o); close(done) }()
	dropped := 0
	for i := 0; i < 3; i++ {
		time.Sleep(500 * time.Millisecond)
		dropped += e.sshd.DropConnections()
	}
	<-done
	if dropped == 0 {
		t.Fatal("no connection was dropped: the test did not test anything")
	}
	if err != nil {
		t.Fatalf("sync after %d dropped connections: %v %+v", dropped, err, rep.Files.Failed)
	}
	assertSame(t, e.src, e.dst)
}

// A server that stops answering without closing its connections (a
// half-open connection: a VPN or NAT that lost its state, a VM frozen by
// its host) must not hang the run: keepalives find each such connection,
// close it, and the copy goes on over new ones.
func TestUnansweringServerIsLeftAndRetried(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 120, Seed: 17, MedianKiB: 60})
	o := e.opts()
	o.BWLimit = 4 << 20 // about two seconds of copying
	o.SSH.Keepalive = 300 * time.Millisecond
	var log strings.Builder
	o.Log = &lockedWriter{w: &log}
	done := make(chan struct{})
	var rep *FilesReport
	var err error
	go func() { rep, err = SyncFiles(context.Background(), o); close(done) }()
	time.Sleep(700 * time.Millisecond)
	frozen := e.sshd.FreezeConnections(t)
	if frozen == 0 {
		t.Fatal("no connection was frozen: the test did not test anything")
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		// Not a timing assertion: a run that waits forever on a peer that
		// never answers is the fault under test.
		t.Fatalf("the sync still waits on %d frozen server processes", frozen)
	}
	if err != nil {
		t.Fatalf("sync after freezing %d server processes: %v %+v", frozen, err, rep.Files.Failed)
	}
	assertSame(t, e.src, e.dst)
	if rep.ConnectionsLost == 0 || !strings.Contains(log.String(), "no answer to a keepalive within 300ms") {
		t.Fatalf("%d connections lost, log:\n%s", rep.ConnectionsLost, log.String())
	}
	if md := rep.Markdown(); !strings.Contains(md, "| connections lost |") {
		t.Fatalf("the Markdown report does not say that connections were lost:\n%s", md)
	}
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu gosync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestBWLimitCapsTheReadRate(t *testing.T) {
	e := newEnv(t)
	n, _ := gentree.Tree(e.src, gentree.Options{Files: 40, Seed: 8, MedianKiB: 50, Sigma: 0.1})
	o := e.opts()
	o.BWLimit = n / 2 // the copy must take about two seconds
	rep := mustSync(t, o)
	if rep.Throughput.BytesPerS > float64(o.BWLimit)*1.5 {
		t.Fatalf("rate %.0f B/s above the limit %d", rep.Throughput.BytesPerS, o.BWLimit)
	}
}

func TestFullTargetIsRefusedUpFront(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 20, Seed: 9, MedianKiB: 300, Sigma: 0.1})
	mountSmallTmpfs(t, e.dst, "size=2m")
	rep, err := SyncFiles(context.Background(), e.opts())
	if errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), "free") {
		t.Fatalf("want exit 3 about free space, got %v", err)
	}
	if rep.Files.Copied != 0 {
		t.Fatal("copied despite the refusal")
	}
	ents, _ := os.ReadDir(e.dst)
	if len(ents) != 0 {
		t.Fatalf("target not left empty: %v", ents)
	}
}

// A volume with bytes to spare but too few inodes for the tree (ext4's
// default of one per 16 KiB under a shared home of small files) is refused
// before anything is written, and one that runs out of them while copying
// says so.
func TestTargetWithoutInodesForTheTree(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 60, Seed: 4, MedianKiB: 2})
	mountSmallTmpfs(t, e.dst, "size=64m,nr_inodes=40")
	rep, err := SyncFiles(context.Background(), e.opts())
	if errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), "free inodes (df -i) but this run creates") {
		t.Fatalf("want exit 3 about inodes, got %v", err)
	}
	if ents, _ := os.ReadDir(e.dst); rep.Files.Copied != 0 || len(ents) != 0 {
		t.Fatalf("copied %d despite the refusal: %v", rep.Files.Copied, ents)
	}
	// Another writer takes the inodes after the check passed.
	mountSmallTmpfs(t, e.dst, "size=64m,nr_inodes=400")
	o := e.opts()
	o.SourceStore = &slowStart{Store: mustOpen(t, o), before: func() {
		for i := range 400 {
			if os.WriteFile(filepath.Join(e.dst, fmt.Sprint("other-", i)), nil, 0o644) != nil {
				break
			}
		}
	}}
	_, err = SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), " is full of inodes (df -i) (") {
		t.Fatalf("want exit 3 naming the inodes, got %v", err)
	}
}

func TestFullTargetMidCopyStopsCleanly(t *testing.T) {
	e := newEnv(t)
	gentree.Tree(e.src, gentree.Options{Files: 20, Seed: 9, MedianKiB: 80, Sigma: 0.1})
	mountSmallTmpfs(t, e.dst, "size=4m")
	// Another writer fills the volume after the free-space check passed.
	filler := filepath.Join(e.dst, "other-writer")
	o := e.opts()
	o.SourceStore = &slowStart{Store: mustOpen(t, o), before: func() { gentree.WriteFile(filler, 3<<20, 1, time.Now()) }}
	rep, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 3 || !errs.IsDiskFull(err) {
		t.Fatalf("want exit 3 for a full disk, got %v: %+v", err, rep.Files.Failed)
	}
	if msg := err.Error(); !strings.Contains(msg, "the target "+e.dst+" is full (") || !strings.Contains(msg, "free inodes)") || !strings.Contains(msg, "run the same command again") {
		t.Errorf("the error does not say which volume is full, what it has left and what to do: %v", err)
	}
	filepath.Walk(e.dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || p == filler {
			return nil
		}
		if store.IsTemp(fi.Name()) {
			t.Errorf("temporary file left: %s", p)
			return nil
		}
		rel, _ := filepath.Rel(e.dst, p)
		want, _ := os.ReadFile(filepath.Join(e.src, rel))
		got, _ := os.ReadFile(p)
		if string(want) != string(got) {
			t.Errorf("%s is visible but incomplete", rel)
		}
		return nil
	})
	// After space is freed the rerun converges.
	os.Remove(filler)
	mustSync(t, e.opts())
	assertSame(t, e.src, e.dst)
}

// mountSmallTmpfs mounts a tmpfs of size (e.g. "2m") on dir for the test,
// a real volume that fills up. It needs root.
// mountSmallTmpfs mounts a tmpfs with options ("size=2m,nr_inodes=40")
// on dir for the test's length.
func mountSmallTmpfs(t *testing.T, dir, options string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	os.MkdirAll(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

func mustOpen(t *testing.T, o FilesOptions) store.Store {
	loc, _ := store.ParseLocation(o.Source)
	s, err := store.Open(context.Background(), loc, o.SSH, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// slowStart runs before() once, before the first file is read.
type slowStart struct {
	store.Store
	before func()
	once   gosync.Once
}

func (s *slowStart) ReadFile(ctx context.Context, e store.Entry, w io.Writer) (store.Entry, error) {
	s.once.Do(s.before)
	return s.Store.ReadFile(ctx, e, w)
}

// A state directory whose disk fills up mid-run stops the run (exit 3)
// naming that disk, and once there is room the next run finishes the copy.
func TestFullStateDiskStopsAndResumes(t *testing.T) {
	dir := t.TempDir()
	src, dst, stateDisk := filepath.Join(dir, "src"), filepath.Join(dir, "dst"), filepath.Join(dir, "statedisk")
	for d := range 5 {
		os.MkdirAll(filepath.Join(src, fmt.Sprint("d", d)), 0o755)
		for f := range 1000 {
			os.WriteFile(filepath.Join(src, fmt.Sprint("d", d), fmt.Sprint("attachment-", f)), nil, 0o644)
		}
	}
	mountSmallTmpfs(t, stateDisk, "size=200k")
	o := FilesOptions{Source: src, Target: dst, StateDir: filepath.Join(stateDisk, "state"), Workers: 4, MaxDelete: 1000, Verify: "transferred", Log: io.Discard}
	_, err := SyncFiles(context.Background(), o)
	if errs.ExitCode(err) != 3 || !strings.Contains(err.Error(), "the disk that holds the state directory is full") {
		t.Fatalf("exit %d (%v), want 3 and the state's disk named", errs.ExitCode(err), err)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=20m", stateDisk).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	mustSync(t, o)
	assertSame(t, src, dst)
	if rep := mustSync(t, o); rep.Files.Copied != 0 {
		t.Fatalf("a rerun copied %d", rep.Files.Copied)
	}
}
