package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// serverChange rewrites a file behind the mount, as another NFS client or
// a failing server would, keeping its size and mtime: nothing tells this
// host's page cache that it is stale.
func serverChange(t *testing.T, full, content string) {
	t.Helper()
	fi, err := os.Stat(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(full, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// On a network filesystem (here FUSE, with the kernel keeping its page
// cache across opens, as the NFS client does while a file's attributes
// stay the same) ReadBack reads what the server holds; ReadFile reads the
// cached pages.
func TestReadBackReadsTheServerNotThePageCache(t *testing.T) {
	backing, mnt := t.TempDir(), t.TempDir()
	testenv.BindFS(t, backing, mnt, "-o", "kernel_cache")
	l := store.NewLocal(mnt)
	if l.Network() != "fuse" {
		t.Fatalf("Network() = %q on a FUSE mount", l.Network())
	}
	if n := store.NewLocal(backing).Network(); n != "" {
		t.Fatalf("Network() = %q on a local filesystem", n)
	}
	put(t, l, "f", "what cutover wrote", 0o644, time.Now().Add(-time.Hour))
	e := store.Entry{Path: "f", Type: store.File, Size: 18}
	// The NFS client keeps the pages it wrote; FUSE writes through, and
	// keeps the pages a read brings in.
	if _, err := l.ReadFile(context.Background(), e, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	serverChange(t, filepath.Join(backing, "f"), "the server has it!")
	var cached, stored strings.Builder
	if _, err := l.ReadFile(context.Background(), e, &cached); err != nil {
		t.Fatal(err)
	}
	if cached.String() != "what cutover wrote" {
		t.Fatalf("the mount does not keep its page cache (read %q): this test proves nothing", cached.String())
	}
	if _, err := store.ReadStored(context.Background(), l, e, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.String() != "the server has it!" {
		t.Fatalf("read back %q: the cached pages, not the server's", stored.String())
	}
}
