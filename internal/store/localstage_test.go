package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
)

// putFile puts a file of content at p (see put).
func putFile(t *testing.T, l *store.Local, p, content string) {
	t.Helper()
	put(t, l, p, content, 0o644, time.Unix(1_700_000_000, 5))
}

// names lists everything under root as relative paths ("d/" for a
// directory).
func names(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if fi.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	return out
}

func TestStagedDirectoryIsInvisibleUntilPublished(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l := store.NewLocal(root)
	os.Mkdir(filepath.Join(root, "data"), 0o755)
	temp := "data/" + store.TempPrefix + "dir-1-0.part"
	if err := l.StageDir(ctx, "data/new", temp); err != nil {
		t.Fatal(err)
	}
	if err := l.Mkdir(ctx, "data/new/a/b"); err != nil {
		t.Fatal(err)
	}
	putFile(t, l, "data/new/a/b/f.txt", "hello")
	putFile(t, l, "data/new/g.txt", "world")
	if err := l.Symlink(ctx, store.Entry{Path: "data/new/link", Type: store.Symlink, Target: "g.txt", Mode: 0o777}, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Link(ctx, "data/new/g.txt", "data/new/a/hard.txt"); err != nil {
		t.Fatal(err)
	}
	// Written under their own names in the directory under a temporary
	// name: no temporary file each, nothing under a real path yet.
	got := strings.Join(names(t, root), " ")
	want := "data/ data/" + store.TempPrefix + "dir-1-0.part/ " + strings.Join([]string{"a/", "a/b/", "a/b/f.txt", "a/hard.txt", "g.txt", "link"}, " "+temp+"/")
	want = strings.Replace(want, "part/ a/", "part/ "+temp+"/a/", 1)
	if got != want {
		t.Fatalf("before publishing:\n got %s\nwant %s", got, want)
	}
	// Read through the store, the staged paths are the real ones.
	if e, err := l.Lstat(ctx, "data/new/a/b/f.txt"); err != nil || e.Size != 5 {
		t.Fatalf("lstat in a staged directory: %+v %v", e, err)
	}
	// A listing skips the directory under its temporary name, and what is in it.
	var listed []string
	l.Walk(ctx, func(e store.Entry) error { listed = append(listed, e.Path); return nil }, func(string, error) {})
	if strings.Join(listed, " ") != "data" {
		t.Fatalf("listed %v", listed)
	}
	if err := l.PublishDir(ctx, "data/new"); err != nil {
		t.Fatal(err)
	}
	got = strings.Join(names(t, root), " ")
	want = "data/ data/new/ data/new/a/ data/new/a/b/ data/new/a/b/f.txt data/new/a/hard.txt data/new/g.txt data/new/link"
	if got != want {
		t.Fatalf("after publishing:\n got %s\nwant %s", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "data/new/a/b/f.txt")); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	// Once in place, a file goes through a temporary name again.
	putFile(t, l, "data/new/g.txt", "again")
	if b, _ := os.ReadFile(filepath.Join(root, "data/new/g.txt")); string(b) != "again" {
		t.Fatalf("content %q", b)
	}
}

func TestStageDirRefusesWhatExists(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l := store.NewLocal(root)
	os.MkdirAll(filepath.Join(root, "there"), 0o755)
	for _, c := range []struct{ p, temp string }{
		{"there", store.TempPrefix + "dir-1-0.part"},                      // exists
		{"missing/child", "missing/" + store.TempPrefix + "dir-1-1.part"}, // parent missing
	} {
		if err := l.StageDir(ctx, c.p, c.temp); !errors.Is(err, store.ErrNotStaged) {
			t.Errorf("StageDir(%s): %v, want ErrNotStaged", c.p, err)
		}
	}
	if err := l.StageDir(ctx, "new", store.TempPrefix+"dir-1-2.part"); err != nil {
		t.Fatal(err)
	}
	if err := l.StageDir(ctx, "new/inner", "new/"+store.TempPrefix+"dir-1-3.part"); !errors.Is(err, store.ErrNotStaged) {
		t.Errorf("a directory in a staged one: %v, want ErrNotStaged", err)
	}
}

func TestPublishMergesIntoADirectoryThatAppeared(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l := store.NewLocal(root)
	if err := l.StageDir(ctx, "d", store.TempPrefix+"dir-1-0.part"); err != nil {
		t.Fatal(err)
	}
	putFile(t, l, "d/sub/mine.txt", "mine")
	putFile(t, l, "d/both.txt", "staged")
	// Someone else makes d meanwhile.
	os.MkdirAll(filepath.Join(root, "d/sub"), 0o755)
	os.WriteFile(filepath.Join(root, "d/theirs.txt"), []byte("theirs"), 0o644)
	os.WriteFile(filepath.Join(root, "d/both.txt"), []byte("old"), 0o644)
	if err := l.PublishDir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(t, root), " ")
	if want := "d/ d/both.txt d/sub/ d/sub/mine.txt d/theirs.txt"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "d/both.txt")); string(b) != "staged" {
		t.Fatalf("both.txt: %q, want the staged copy", b)
	}
}

func TestRecoverDirRemovesWhatIsNotKept(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	temp := store.TempPrefix + "dir-7-0.part"
	os.MkdirAll(filepath.Join(root, temp, "a"), 0o755)
	for p, c := range map[string]string{"a/done.txt": "done", "a/half.txt": "ha", "top.txt": "top", "a/" + store.TempPrefix + "1.part": "x"} {
		os.WriteFile(filepath.Join(root, temp, p), []byte(c), 0o644)
	}
	os.Symlink("top.txt", filepath.Join(root, temp, "a/sym"))
	l := store.NewLocal(root)
	var asked []string
	var mu sync.Mutex
	n, err := l.RecoverDir(ctx, "new", temp, func(p string) (bool, error) {
		mu.Lock()
		asked = append(asked, p)
		mu.Unlock()
		return p == "new/a/done.txt" || p == "new/top.txt", nil
	})
	if err != nil || n != 2 {
		t.Fatalf("RecoverDir: %d removed, %v; want 2", n, err)
	}
	if got := strings.Join(names(t, root), " "); got != "new/ new/a/ new/a/done.txt new/a/sym new/top.txt" {
		t.Fatalf("after recovery: %s (asked about %v)", got, asked)
	}
	// Published already (the temporary name is gone): nothing to do.
	if n, err := l.RecoverDir(ctx, "new", temp, nil); err != nil || n != 0 {
		t.Fatalf("again: %d %v", n, err)
	}
	// A lookup that fails stops the recovery and removes nothing.
	os.MkdirAll(filepath.Join(root, "x-"+temp), 0o755)
	os.WriteFile(filepath.Join(root, "x-"+temp, "f"), []byte("f"), 0o644)
	boom := errors.New("boom")
	if _, err := l.RecoverDir(ctx, "x", "x-"+temp, func(string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "x-"+temp, "f")); !bytes.Equal(b, []byte("f")) {
		t.Fatal("a file was removed although its lookup failed")
	}
}
