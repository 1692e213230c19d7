package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// Remote commands run under /bin/sh whatever the login shell: here tcsh,
// with a root whose name has a quote and a space, lists the tree with find
// and hashes files on the host.
func TestRemoteCommandsUnderTcsh(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	testenv.EnsureUserWithShell(t, "cutovertcsh", "/usr/bin/tcsh")
	root := filepath.Join(s.Dir, "shared home's")
	files := map[string]string{"a b.txt": "hello", "dir/it's $HOME.bin": "x\n"}
	var paths []string
	for p, content := range files {
		writeFiles(t, root, map[string]string{p: content})
		os.Chmod(filepath.Join(root, p), 0o644)
		os.Chmod(filepath.Dir(filepath.Join(root, p)), 0o755)
		paths = append(paths, p)
	}
	st := s.SFTPAs(t, "cutovertcsh", root)
	var listed []string
	err := st.Walk(context.Background(), func(e store.Entry) error {
		listed = append(listed, e.Path)
		return nil
	}, func(p string, err error) { t.Errorf("list %s: %v", p, err) })
	if err != nil || !st.PreciseMtimes() || len(listed) != 3 {
		t.Fatalf("listed %q by find %v: %v (want 3 entries, by find)", listed, st.PreciseMtimes(), err)
	}
	got := make([]checksum.Sum, len(paths))
	err = st.HashFiles(context.Background(), paths, checksum.SHA256, func(i int, sum checksum.Sum, err error) {
		if err != nil {
			t.Errorf("%s: %v", paths[i], err)
		}
		got[i] = sum
	})
	if err != nil {
		t.Fatalf("remote hashing under tcsh: %v", err)
	}
	for i, p := range paths {
		if want := checksum.Bytes(checksum.SHA256, []byte(files[p])); got[i] != want {
			t.Errorf("%s: got %s, want %s", p, got[i], want)
		}
	}
}
