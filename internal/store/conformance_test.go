package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// TestConformance runs the same operations on every Store: a local
// directory and a real OpenSSH sshd over SFTP.
func TestConformance(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		dir := t.TempDir()
		conformance(t, store.NewLocal(dir), dir)
	})
	t.Run("sftp", func(t *testing.T) {
		s := testenv.StartSSHD(t, testenv.SSHDOptions{})
		root := filepath.Join(s.Dir, "root")
		conformance(t, s.SFTP(t, root), root)
	})
}

func put(t *testing.T, st store.Store, p string, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	e := store.Entry{Path: p, Type: store.File, Size: int64(len(content)), Mode: mode, ModTime: store.TimeOf(mtime)}
	if err := st.Put(context.Background(), e, false, func(w io.Writer) (int64, error) {
		n, err := io.WriteString(w, content)
		return int64(n), err
	}); err != nil {
		t.Fatalf("put %s: %v", p, err)
	}
}

func conformance(t *testing.T, st store.Store, root string) {
	ctx := context.Background()
	mtime := time.Date(2024, 2, 29, 12, 30, 45, 0, time.UTC)

	// Put writes atomically, with mode and mtime, creating parents.
	put(t, st, "a/b/file.txt", "hello", 0o640, mtime)
	e, err := st.Lstat(ctx, "a/b/file.txt")
	if err != nil || e.Type != store.File || e.Size != 5 || e.Mode.Perm() != 0o640 || e.ModTime != store.TimeOf(mtime) {
		t.Fatalf("lstat after put: %+v %v", e, err)
	}
	var buf bytes.Buffer
	after, err := st.ReadFile(ctx, e, &buf)
	if err != nil || buf.String() != "hello" || after.Size != 5 {
		t.Fatalf("read: %q %+v %v", buf.String(), after, err)
	}
	// Put replaces; a short fill is refused and leaves the old content.
	put(t, st, "a/b/file.txt", "world!", 0o600, mtime)
	bad := store.Entry{Path: "a/b/file.txt", Type: store.File, Size: 100, Mode: 0o600, ModTime: store.TimeOf(mtime)}
	if err := st.Put(ctx, bad, false, func(w io.Writer) (int64, error) { n, err := io.WriteString(w, "short"); return int64(n), err }); err == nil {
		t.Fatal("a short write was accepted")
	}
	buf.Reset()
	e, _ = st.Lstat(ctx, "a/b/file.txt")
	if _, err := st.ReadFile(ctx, e, &buf); err != nil || buf.String() != "world!" {
		t.Fatalf("after a refused put: %q %v", buf.String(), err)
	}
	// Empty files.
	put(t, st, "empty", "", 0o644, mtime)
	buf.Reset()
	if e, err := st.Lstat(ctx, "empty"); err != nil || e.Size != 0 {
		t.Fatalf("empty: %+v %v", e, err)
	} else if after, err := st.ReadFile(ctx, e, &buf); err != nil || buf.Len() != 0 || after.Size != 0 {
		t.Fatalf("read empty: %v %+v", err, after)
	}

	// Symlinks are stored verbatim, never followed; creating one replaces.
	for _, target := range []string{"b/file.txt", "/etc/passwd", "../../outside", "dangling"} {
		if err := st.Symlink(ctx, store.Entry{Path: "a/link", Type: store.Symlink, Target: target, ModTime: store.TimeOf(mtime)}, false); err != nil {
			t.Fatalf("symlink to %s: %v", target, err)
		}
		if l, err := st.Lstat(ctx, "a/link"); err != nil || l.Type != store.Symlink || l.Target != target {
			t.Fatalf("lstat symlink %s: %+v %v", target, l, err)
		}
	}

	// SetMeta changes mode and mtime.
	later := mtime.Add(time.Hour)
	if err := st.SetMeta(ctx, store.Entry{Path: "a/b/file.txt", Type: store.File, Mode: 0o604, ModTime: store.TimeOf(later)}, false); err != nil {
		t.Fatal(err)
	}
	if e, _ := st.Lstat(ctx, "a/b/file.txt"); e.Mode.Perm() != 0o604 || e.ModTime != store.TimeOf(later) {
		t.Fatalf("setmeta: %+v", e)
	}

	// Mkdir is idempotent and makes parents.
	if err := st.Mkdir(ctx, "d/e/f"); err != nil {
		t.Fatal(err)
	}
	if err := st.Mkdir(ctx, "d/e/f"); err != nil {
		t.Fatal(err)
	}
	if e, err := st.Lstat(ctx, "d/e/f"); err != nil || e.Type != store.Dir {
		t.Fatalf("mkdir: %+v %v", e, err)
	}

	// Hard links share content.
	if l, ok := st.(store.Linker); ok {
		if err := l.Link(ctx, "a/b/file.txt", "d/hard"); err != nil {
			t.Fatal(err)
		}
		// Again onto the same file's other name: a rename between two
		// names of one file does nothing, and must leave no temporary.
		if err := l.Link(ctx, "a/b/file.txt", "d/hard"); err != nil {
			t.Fatal(err)
		}
		x, _ := st.Lstat(ctx, "a/b/file.txt")
		y, _ := st.Lstat(ctx, "d/hard")
		if y.Size != x.Size || (x.Inode != 0 && x.Inode != y.Inode) {
			t.Fatalf("link: %+v %+v", x, y)
		}
	}

	// Walk lists everything under the root, not the root itself.
	var paths []string
	if err := st.Walk(ctx, func(e store.Entry) error { paths = append(paths, e.Path); return nil }, func(p string, err error) { t.Errorf("walk %s: %v", p, err) }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	want := "a a/b a/b/file.txt a/link d d/e d/e/f empty"
	if _, ok := st.(store.Linker); ok {
		want = "a a/b a/b/file.txt a/link d d/e d/e/f d/hard empty"
	}
	if got := strings.Join(paths, " "); got != want {
		t.Fatalf("walk: %s, want %s", got, want)
	}

	// The optional capabilities the index commands need.
	if dr, ok := st.(store.DirReader); ok {
		ents, err := dr.ReadDir(ctx, "a")
		if err != nil || len(ents) != 2 {
			t.Fatalf("readdir: %+v %v", ents, err)
		}
	}
	if rr, ok := st.(store.RandomReader); ok {
		p := make([]byte, 3)
		if err := rr.ReadAt(ctx, "a/b/file.txt", p, 2); err != nil || string(p) != "rld" {
			t.Fatalf("readat: %q %v", p, err)
		}
		if err := rr.ReadAt(ctx, "a/b/file.txt", make([]byte, 10), 2); err == nil {
			t.Fatal("reading past the end succeeded")
		}
	}
	if rn, ok := st.(store.Renamer); ok {
		if err := rn.Rename(ctx, "empty", "moved/empty"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Lstat(ctx, "empty"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after rename the old name: %v", err)
		}
		if _, err := st.Lstat(ctx, "moved/empty"); err != nil {
			t.Fatal(err)
		}
	}

	// Missing paths are fs.ErrNotExist; Remove of a missing path is fine.
	if _, err := st.Lstat(ctx, "no/such"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lstat missing: %v", err)
	}
	if _, err := st.ReadFile(ctx, store.Entry{Path: "no/such", Type: store.File, Size: 3}, io.Discard); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read missing: %v", err)
	}
	for _, p := range []string{"a/link", "d/e/f", "no/such"} {
		if err := st.Remove(ctx, p); err != nil {
			t.Fatalf("remove %s: %v", p, err)
		}
	}
	if err := st.Remove(ctx, "a/b"); err == nil {
		t.Fatal("removing a non-empty directory succeeded")
	}

	// Temporary files of a killed run are cleaned, nothing else.
	for _, d := range []string{"", "a", "a/b"} { // at every depth, the root's included
		os.WriteFile(filepath.Join(root, d, store.TempPrefix+"123.part"), []byte("partial"), 0o600)
	}
	n, err := st.CleanTemp(ctx)
	if err != nil || n != 3 {
		t.Fatalf("cleantemp: %d %v", n, err)
	}
	if _, err := st.Lstat(ctx, "a/b/file.txt"); err != nil {
		t.Fatal("cleantemp removed a real file")
	}
}

func TestCleanPathRefusesEscapes(t *testing.T) {
	for _, p := range []string{"", "/abs", "a/../b", "..", "a//b", "./a", "a/."} {
		if store.CleanPath(p) == nil {
			t.Errorf("%q accepted", p)
		}
	}
	for _, p := range []string{"a", "a/b", "with space/ünï", "a..b"} {
		if err := store.CleanPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
}
