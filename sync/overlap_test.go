package sync

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cutover/cutover/internal/errs"
)

// A source and a target of which one holds the other, or a state directory
// inside either, are refused (exit 2) before anything is read or written,
// symlinks resolved. Before, a target inside the source was copied into
// itself, one level deeper each run.
func TestOverlappingSourceTargetAndStateAreRefused(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(src, "data"), 0o755)
	os.WriteFile(filepath.Join(src, "data", "f"), []byte("x"), 0o644)
	os.Symlink(src, filepath.Join(dir, "alias")) // the source under another name
	other := filepath.Join(dir, "efs")
	for _, c := range []struct{ source, target, state, want string }{
		{src, filepath.Join(src, "copy"), "", "inside the source"},
		{src, filepath.Join(dir, "alias", "new", "copy"), "", "inside the source"},
		{src, dir, "", "inside the target"},
		{filepath.Join(dir, "alias"), src, "", "the same directory"},
		{src, other, filepath.Join(other, ".cutover"), "inside the target"},
		{src, other, filepath.Join(dir, "alias", ".cutover"), "inside the source"},
		{"sftp://u@vm:22/srv/home", "sftp://u@VM:22/srv/home/sub", "", "inside the source"},
	} {
		state := c.state
		if state == "" {
			state = filepath.Join(dir, "state")
		}
		o := FilesOptions{Source: c.source, Target: c.target, StateDir: state, Workers: 2, MaxDelete: 1000, Delete: true, Log: io.Discard}
		_, err := SyncFiles(context.Background(), o)
		if errs.ExitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s → %s (state %s): exit %d (%v), want 2 and %q", c.source, c.target, state, errs.ExitCode(err), err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "copy")); err == nil {
		t.Fatal("a refused run made its target")
	}
	// Siblings that share a prefix are not nested.
	o := FilesOptions{Source: src, Target: src + "-copy", StateDir: filepath.Join(dir, "state"), Workers: 2, MaxDelete: 1000, Log: io.Discard}
	mustSync(t, o)
	assertSame(t, src, src+"-copy")
}
