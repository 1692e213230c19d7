package store_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// Files hashed on the host carry the same SHA-256 as their content, whatever
// their names and whichever tool the host has; a file the account cannot
// read is reported alone; a name openssl may escape goes to sha256sum, or
// back to the caller where the host has no sha256sum.
func TestRemoteHashingTakesAnyNameWithEitherTool(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	uid, gid := testenv.EnsureUser(t, "cutoverhash")
	root := filepath.Join(s.Dir, "home")
	files := map[string]string{
		"plain": "one", "a b": "two", " lead": "three", "trail ": "four", "-dash": "five",
		"star *in": "six", "two  spaces": "seven", "back\\slash": "eight", "new\nline": "nine",
		"cr\rname": "ten", "bad\xff": "eleven", "empty": "", "dir/deep/file": strings.Repeat("x", 1<<20),
		"unreadable": "secret",
	}
	var paths []string
	for p, content := range files {
		writeFiles(t, root, map[string]string{p: content})
		paths = append(paths, p)
	}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		os.Lchown(p, uid, gid)
		return err
	})
	os.Chmod(filepath.Join(root, "unreadable"), 0)
	os.Chmod(s.Dir, 0o755)
	escaped := func(p string) bool { return strings.ContainsAny(p, "\n\r\\") }

	for _, tools := range [][]string{nil, {"openssl", "sha256sum"}, {"sha256sum"}, {"openssl"}} {
		st := s.SFTPAs(t, "cutoverhash", root)
		if tools != nil {
			store.SetHashTools(st, tools...)
		}
		got := make([]checksum.Sum, len(paths))
		errs := make([]error, len(paths))
		calls := 0
		err := st.HashFiles(context.Background(), paths, checksum.SHA256, func(i int, sum checksum.Sum, err error) {
			got[i], errs[i] = sum, err
			calls++
		})
		if err != nil {
			t.Fatalf("tools %v: %v", tools, err)
		}
		if calls != len(paths) {
			t.Fatalf("tools %v: %d answers for %d files", tools, calls, len(paths))
		}
		if tools == nil {
			// The probe finds what this host (the server's) has.
			want := []string{}
			if _, err := exec.LookPath("openssl"); err == nil {
				want = append(want, "openssl dgst")
			}
			want = append(want, "sha256sum")
			if got := store.HashTools(st); !slices.Equal(got, want) {
				t.Fatalf("the probe found %q on this host, want %q", got, want)
			}
		}
		for i, p := range paths {
			switch {
			case p == "unreadable":
				if errs[i] == nil || !strings.Contains(errs[i].Error(), "Permission denied") {
					t.Errorf("tools %v: unreadable file: got %v, want permission denied", tools, errs[i])
				}
			case len(tools) == 1 && tools[0] == "openssl" && escaped(p):
				if !errors.Is(errs[i], store.ErrNoExec) {
					t.Errorf("tools %v: %q: got %v, want ErrNoExec (for the caller to read it)", tools, p, errs[i])
				}
			case errs[i] != nil:
				t.Errorf("tools %v: %q: %v", tools, p, errs[i])
			case got[i] != checksum.Bytes(checksum.SHA256, []byte(files[p])):
				t.Errorf("tools %v: %q: got %s, want %s", tools, p, got[i], checksum.Bytes(checksum.SHA256, []byte(files[p])))
			}
		}
	}

	st := s.SFTPAs(t, "cutoverhash", root)
	store.SetHashTools(st)
	if err := st.HashFiles(context.Background(), paths, checksum.SHA256, func(int, checksum.Sum, error) {}); !errors.Is(err, store.ErrNoExec) {
		t.Fatalf("a host with neither tool: got %v, want ErrNoExec", err)
	}
}
