package migrate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// changingSource is a real local store whose file "hot" is rewritten while
// it is being read, the first `times` times.
type changingSource struct {
	*store.Local
	root  string
	times int32
	reads atomic.Int32
	del   bool
}

func (c *changingSource) ReadFile(ctx context.Context, e store.Entry, w io.Writer) (store.Entry, error) {
	if e.Path == "hot" && c.reads.Add(1) <= c.times {
		p := filepath.Join(c.root, "hot")
		if c.del {
			os.Remove(p)
		} else {
			os.WriteFile(p, []byte(fmt.Sprintf("version %d, longer than before", c.reads.Load())), 0o644)
			os.Chtimes(p, time.Now(), time.Now().Add(time.Duration(c.reads.Load())*time.Second))
		}
	}
	return c.Local.ReadFile(ctx, e, w)
}

func setup(t *testing.T) (string, string, []store.Entry) {
	src, dst := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "hot"), []byte("version 0"), 0o644)
	os.WriteFile(filepath.Join(src, "cold"), []byte("steady"), 0o644)
	var es []store.Entry
	store.NewLocal(src).Walk(context.Background(), func(e store.Entry) error { es = append(es, e); return nil }, func(string, error) {})
	plan.SortEntries(es)
	return src, dst, es
}

func run(t *testing.T, src store.Store, dst store.Store, es []store.Entry) ([]Result, error) {
	p, err := plan.Diff(es, func(func(plan.Prev) error) error { return nil }, false, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rs []Result
	err = Files(context.Background(), src, dst, p, FileOptions{Workers: 2, Verify: true, PreciseMtime: true}, func(r Result) error {
		rs = append(rs, r)
		return nil
	})
	return rs, err
}

func byPath(rs []Result, p string) Result {
	for _, r := range rs {
		if r.Entry.Path == p && r.Action.Kind == plan.Copy {
			return r
		}
	}
	return Result{}
}

func TestFileChangedWhileReadIsRetried(t *testing.T) {
	src, dst, es := setup(t)
	cs := &changingSource{Local: store.NewLocal(src), root: src, times: 1}
	rs, err := run(t, cs, store.NewLocal(dst), es)
	if err != nil {
		t.Fatal(err)
	}
	r := byPath(rs, "hot")
	if r.Err != nil || r.Vanished {
		t.Fatalf("hot: %+v", r)
	}
	want, _ := os.ReadFile(filepath.Join(src, "hot"))
	got, _ := os.ReadFile(filepath.Join(dst, "hot"))
	if !bytes.Equal(want, got) || r.Entry.Size != int64(len(want)) {
		t.Fatalf("target has %q, source %q; recorded size %d", got, want, r.Entry.Size)
	}
}

func TestFileThatKeepsChangingIsReported(t *testing.T) {
	src, dst, es := setup(t)
	cs := &changingSource{Local: store.NewLocal(src), root: src, times: 100}
	rs, err := run(t, cs, store.NewLocal(dst), es)
	if err != nil {
		t.Fatal(err)
	}
	r := byPath(rs, "hot")
	if r.Err == nil || !strings.Contains(r.Err.Error(), "kept changing") {
		t.Fatalf("hot: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dst, "hot")); !os.IsNotExist(err) {
		t.Fatal("a file that never read consistently is visible at the target")
	}
	if byPath(rs, "cold").Err != nil {
		t.Fatal("cold failed")
	}
	assertNoTemps(t, dst)
}

func TestFileThatVanishesIsNotAFailure(t *testing.T) {
	src, dst, es := setup(t)
	cs := &changingSource{Local: store.NewLocal(src), root: src, times: 1, del: true}
	rs, err := run(t, cs, store.NewLocal(dst), es)
	if err != nil {
		t.Fatal(err)
	}
	if r := byPath(rs, "hot"); !r.Vanished || r.Err != nil {
		t.Fatalf("hot: %+v", r)
	}
	assertNoTemps(t, dst)
}

// fullDisk is a real local target whose writes fail with ENOSPC after
// limit bytes, through Put, Stage and StageReadBack.
type fullDisk struct {
	*store.Local
	limit int64
	used  atomic.Int64
}

type enospcWriter struct {
	w io.Writer
	d *fullDisk
}

func (e enospcWriter) Write(p []byte) (int, error) {
	if e.d.used.Add(int64(len(p))) > e.d.limit {
		return 0, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	}
	return e.w.Write(p)
}

func (d *fullDisk) Put(ctx context.Context, e store.Entry, owner bool, fill func(io.Writer) (int64, error)) error {
	return d.Local.Put(ctx, e, owner, func(w io.Writer) (int64, error) { return fill(enospcWriter{w, d}) })
}

func (d *fullDisk) Stage(ctx context.Context, e store.Entry, owner bool, fill func(io.Writer) (int64, error)) (store.Staged, error) {
	return d.Local.Stage(ctx, e, owner, func(w io.Writer) (int64, error) { return fill(enospcWriter{w, d}) })
}

func (d *fullDisk) StageReadBack(ctx context.Context, e store.Entry, owner bool, fill func(io.Writer) (int64, error), back io.Writer) (store.Staged, error) {
	return d.Local.StageReadBack(ctx, e, owner, func(w io.Writer) (int64, error) { return fill(enospcWriter{w, d}) }, back)
}

func TestFullDiskStopsTheRunAndLeavesNothingPartial(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for i := 0; i < 40; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), bytes.Repeat([]byte{byte(i)}, 100<<10), 0o644)
	}
	var es []store.Entry
	store.NewLocal(src).Walk(context.Background(), func(e store.Entry) error { es = append(es, e); return nil }, func(string, error) {})
	plan.SortEntries(es)
	_, err := run(t, store.NewLocal(src), &fullDisk{Local: store.NewLocal(dst), limit: 1 << 20}, es)
	if errs.ExitCode(err) != errs.ExitFatal || !errs.IsDiskFull(err) {
		t.Fatalf("want a fatal disk-full error, got %v", err)
	}
	assertNoTemps(t, dst)
	ents, _ := os.ReadDir(dst)
	if len(ents) == 0 || len(ents) >= 40 {
		t.Fatalf("%d files at the target", len(ents))
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dst, e.Name()))
		if len(b) != 100<<10 {
			t.Fatalf("%s is partial: %d bytes", e.Name(), len(b))
		}
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && store.IsTemp(fi.Name()) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

// A file copied alone that reaches the disk other than it was read is
// found so by its read-back, as it is staged, and not put in place: a
// retry copies it whole, and when every attempt goes wrong the error says
// what happened.
func TestFileWrittenWrongIsNotPutInPlace(t *testing.T) {
	for _, every := range []bool{false, true} {
		src, dst := t.TempDir(), t.TempDir()
		want := bytes.Repeat([]byte("b"), 5000)
		os.WriteFile(filepath.Join(src, "bad"), want, 0o644)
		var es []store.Entry
		store.NewLocal(src).Walk(context.Background(), func(e store.Entry) error { es = append(es, e); return nil }, func(string, error) {})
		p, err := plan.Diff(es, func(func(plan.Prev) error) error { return nil }, false, plan.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d := &flippingTarget{Local: store.NewLocal(dst), every: every}
		var rs []Result
		err = Files(context.Background(), store.NewLocal(src), d, p, FileOptions{Workers: 2, Verify: true, Retries: 1}, func(r Result) error {
			rs = append(rs, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !d.flipped.Load() {
			t.Fatal("nothing was flipped: the test tested nothing")
		}
		r := byPath(rs, "bad")
		got, rerr := os.ReadFile(filepath.Join(dst, "bad"))
		if every {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "corrupted on transfer") || rerr == nil {
				t.Fatalf("every attempt flipped: %+v; at the target: %d bytes (%v)", r, len(got), rerr)
			}
		} else if r.Err != nil || !r.Verified || !bytes.Equal(got, want) {
			t.Fatalf("the first attempt flipped: %+v; at the target: %d bytes", r, len(got))
		}
		assertNoTemps(t, dst)
	}
}
