package migrate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
	"github.com/cutover/cutover/plan"
)

// sftpSource serves dir from a real sshd.
func sftpSource(t *testing.T, dir string) *store.SFTP {
	return testenv.StartSSHD(t, testenv.SSHDOptions{}).SFTP(t, dir)
}

func listed(t *testing.T, dir string) []store.Entry {
	t.Helper()
	var es []store.Entry
	store.NewLocal(dir).Walk(context.Background(), func(e store.Entry) error { es = append(es, e); return nil }, func(string, error) {})
	plan.SortEntries(es)
	return es
}

// touchingSource streams from a real sshd and rewrites "hot" after the
// stream has sent its first byte, the first time only.
type touchingSource struct {
	*store.SFTP
	root    string
	touched atomic.Bool
	opened  atomic.Int32
}

func (s *touchingSource) OpenStream(ctx context.Context) (store.FileStream, error) {
	fs, err := s.SFTP.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	s.opened.Add(1)
	return &touchingStream{FileStream: fs, s: s}, nil
}

type touchingStream struct {
	store.FileStream
	s *touchingSource
}

func (t *touchingStream) ReadFiles(ctx context.Context, es []store.Entry, fn func(int, store.Entry, io.Reader) error) error {
	return t.FileStream.ReadFiles(ctx, es, func(i int, at store.Entry, r io.Reader) error {
		if es[i].Path != "hot" || t.s.touched.Load() {
			return fn(i, at, r)
		}
		var first [1]byte
		if _, err := io.ReadFull(r, first[:]); err != nil {
			return err
		}
		f, _ := os.OpenFile(filepath.Join(t.s.root, "hot"), os.O_WRONLY, 0)
		f.WriteAt([]byte("rewritten"), 1000)
		f.Close()
		t.s.touched.Store(true)
		return fn(i, at, io.MultiReader(bytes.NewReader(first[:]), r))
	})
}

// A file rewritten while the stream reads it makes tar report the batch;
// nothing of that batch is installed from the stream, and each of its
// files is copied again on its own, so the target ends with the content
// the source has now.
func TestStreamedBatchWithAChangedFileIsCopiedAgainFileByFile(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "hot"), bytes.Repeat([]byte("h"), 64<<20), 0o644)
	for i := 0; i < 20; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("small%02d", i)), bytes.Repeat([]byte{byte('a' + i)}, 3000+i), 0o644)
	}
	es := listed(t, src)
	ts := &touchingSource{SFTP: sftpSource(t, src), root: src}
	rs, err := run(t, ts, store.NewLocal(dst), es)
	if err != nil {
		t.Fatal(err)
	}
	if !ts.touched.Load() || ts.opened.Load() == 0 {
		t.Fatal("the stream never read hot: the test tested nothing")
	}
	for _, e := range es {
		r := byPath(rs, e.Path)
		if r.Err != nil || !r.Verified {
			t.Fatalf("%s: %+v", e.Path, r)
		}
		want, _ := os.ReadFile(filepath.Join(src, e.Path))
		got, _ := os.ReadFile(filepath.Join(dst, e.Path))
		if !bytes.Equal(want, got) {
			t.Fatalf("%s differs at the target", e.Path)
		}
	}
	for _, e := range es {
		if r := byPath(rs, e.Path); e.Path == "hot" && r.Entry.ModTime == e.ModTime {
			t.Fatal("hot was recorded with the mtime it had before it was rewritten")
		}
	}
	assertNoTemps(t, dst)
}

// flippingTarget is a real local target that flips a bit of the first
// file named bad that it writes (of every one, with every), as a bad disk
// or cable would.
type flippingTarget struct {
	*store.Local
	flipped atomic.Bool
	every   bool
}

type flipWriter struct {
	w    io.Writer
	flip *atomic.Bool
}

func (f flipWriter) Write(p []byte) (int, error) {
	if len(p) > 0 && f.flip.CompareAndSwap(false, true) {
		b := bytes.Clone(p)
		b[len(b)/2] ^= 1
		return f.w.Write(b)
	}
	return f.w.Write(p)
}

func (d *flippingTarget) StageReadBack(ctx context.Context, e store.Entry, owner bool, fill func(io.Writer) (int64, error), back io.Writer) (store.Staged, error) {
	if path.Base(e.Path) != "bad" {
		return d.Local.StageReadBack(ctx, e, owner, fill, back)
	}
	if d.every {
		d.flipped.Store(false)
	}
	return d.Local.StageReadBack(ctx, e, owner, func(w io.Writer) (int64, error) { return fill(flipWriter{w, &d.flipped}) }, back)
}

// A streamed file that reaches the disk other than it came is found so by
// its read-back, as it is staged: it is not installed, but copied again
// alone (and read back again), and the target ends with the source's
// bytes, small files and large ones alike.
func TestStreamedFileWrittenWrongIsCopiedAgainAlone(t *testing.T) {
	for _, size := range []int{5000, 3 << 20} {
		src, dst := t.TempDir(), t.TempDir()
		os.Mkdir(filepath.Join(src, "d"), 0o755)
		os.WriteFile(filepath.Join(src, "d", "bad"), bytes.Repeat([]byte("b"), size), 0o644)
		for i := 0; i < 20; i++ {
			os.WriteFile(filepath.Join(src, "d", fmt.Sprintf("good%02d", i)), bytes.Repeat([]byte{byte('a' + i)}, 3000+i), 0o644)
		}
		es := listed(t, src)
		d := &flippingTarget{Local: store.NewLocal(dst)}
		rs, err := run(t, sftpSource(t, src), d, es)
		if err != nil {
			t.Fatal(err)
		}
		if !d.flipped.Load() {
			t.Fatal("nothing was flipped: the test tested nothing")
		}
		for _, e := range es {
			if e.Type != store.File {
				continue
			}
			r := byPath(rs, e.Path)
			if r.Err != nil || !r.Verified || r.Streamed == (e.Path == "d/bad") {
				t.Fatalf("%d bytes: %s: %+v", size, e.Path, r)
			}
			want, _ := os.ReadFile(filepath.Join(src, e.Path))
			got, _ := os.ReadFile(filepath.Join(dst, e.Path))
			if !bytes.Equal(want, got) {
				t.Fatalf("%d bytes: %s differs at the target", size, e.Path)
			}
		}
		assertNoTemps(t, dst)
	}
}

// A full disk while streaming stops the run: nothing partial, no
// temporary files, and every file that is in place is whole.
func TestStreamedCopyStopsOnAFullDisk(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for i := 0; i < 40; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), bytes.Repeat([]byte{byte(i)}, 100<<10), 0o644)
	}
	d := &fullDisk{Local: store.NewLocal(dst), limit: 1 << 20}
	_, err := run(t, sftpSource(t, src), d, listed(t, src))
	if errs.ExitCode(err) != errs.ExitFatal || !errs.IsDiskFull(err) {
		t.Fatalf("want a fatal disk-full error, got %v", err)
	}
	assertNoTemps(t, dst)
	ents, _ := os.ReadDir(dst)
	for _, e := range ents {
		if b, _ := os.ReadFile(filepath.Join(dst, e.Name())); len(b) != 100<<10 {
			t.Fatalf("%s is partial: %d bytes", e.Name(), len(b))
		}
	}
}
