package store_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// StageReadBack hands back what it wrote, as the disk holds it: on a local
// disk through the descriptor that wrote it (small files read, large ones
// mapped), on a network filesystem (here FUSE) once closed; in a plain
// directory, through a temporary name, and in a staged one, under the
// file's own name. The file is in place, whole, after Commit.
func TestStageReadBackHandsBackWhatItWrote(t *testing.T) {
	backing, mnt := t.TempDir(), t.TempDir()
	testenv.BindFS(t, backing, mnt)
	ctx := context.Background()
	for _, root := range []string{t.TempDir(), mnt} {
		l := store.NewLocal(root)
		if err := os.Mkdir(filepath.Join(root, "plain"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := l.StageDir(ctx, "staged", store.TempPrefix+"dir-1-0.part"); err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{"plain", "staged"} {
			for _, size := range []int{0, 100, 256<<10 - 1, 256 << 10, 4<<20 + 12345} {
				b := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
				e := store.Entry{Path: filepath.Join(dir, "f"), Type: store.File, Size: int64(size), Mode: 0o640, ModTime: store.Time(time.Unix(1_700_000_000, 0).UnixNano())}
				var back bytes.Buffer
				st, err := l.StageReadBack(ctx, e, false, func(w io.Writer) (int64, error) {
					n, err := w.Write(b)
					return int64(n), err
				}, &back)
				if err != nil {
					t.Fatalf("%s, %s, %d bytes: %v", root, dir, size, err)
				}
				if !bytes.Equal(back.Bytes(), b) {
					t.Fatalf("%s, %s, %d bytes: read back %d bytes that differ", root, dir, size, back.Len())
				}
				if err := st.Commit(); err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				if _, err := l.ReadFile(ctx, e, &got); err != nil || !bytes.Equal(got.Bytes(), b) {
					t.Fatalf("%s, %s, %d bytes: in place %d bytes (%v)", root, dir, size, got.Len(), err)
				}
				if err := l.Remove(ctx, e.Path); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := l.PublishDir(ctx, "staged"); err != nil {
			t.Fatal(err)
		}
		if left := names(t, root); len(left) != 2 {
			t.Fatalf("%s: left %q", root, left)
		}
	}
}

// The read-back reads the file, not what was given to write: a file that
// another writer truncated after the write is handed back as it is then.
func TestStageReadBackReadsTheFileAsItIs(t *testing.T) {
	l := store.NewLocal(t.TempDir())
	b := bytes.Repeat([]byte("x"), 1<<20)
	e := store.Entry{Path: "f", Type: store.File, Size: int64(len(b)), Mode: 0o644}
	var back bytes.Buffer
	st, err := l.StageReadBack(context.Background(), e, false, func(w io.Writer) (int64, error) {
		n, err := w.Write(b)
		if err == nil {
			err = w.(*os.File).Truncate(10)
		}
		return int64(n), err
	}, &back)
	if err != nil {
		t.Fatal(err)
	}
	st.Abort()
	if back.String() != "xxxxxxxxxx" {
		t.Fatalf("read back %d bytes, want the 10 the file holds", back.Len())
	}
}
