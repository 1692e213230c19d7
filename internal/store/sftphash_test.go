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
	"unicode/utf8"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// Files hashed on the host carry the same hash as their content (SHA-256
// or BLAKE3), whatever their names and whichever tools the host has; a
// file the account cannot read is reported alone; a name a tool may print
// escaped or altered goes to another tool for the same hash, or back to the
// caller where the host has none.
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
	altered := func(p string) bool { return escaped(p) || !utf8.ValidString(p) } // by b3sum

	for _, c := range []struct {
		tools    []string
		algo     checksum.Algorithm
		handBack func(string) bool // the names handed back to be read
	}{
		{nil, checksum.SHA256, func(string) bool { return false }},
		{[]string{"openssl", "sha256sum"}, checksum.SHA256, func(string) bool { return false }},
		{[]string{"sha256sum"}, checksum.SHA256, func(string) bool { return false }},
		{[]string{"openssl"}, checksum.SHA256, escaped},
		{[]string{"openssl", "sha256sum", "b3sum"}, checksum.BLAKE3, altered},
	} {
		tools := c.tools
		st := s.SFTPAs(t, "cutoverhash", root)
		if tools != nil {
			store.SetHashTools(st, tools...)
		}
		got := make([]checksum.Sum, len(paths))
		errs := make([]error, len(paths))
		calls := 0
		err := st.HashFiles(context.Background(), paths, c.algo, func(i int, sum checksum.Sum, err error) {
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
			for _, tool := range []struct{ bin, name string }{{"openssl", "openssl dgst"}, {"sha256sum", "sha256sum"}, {"b3sum", "b3sum"}} {
				if _, err := exec.LookPath(tool.bin); err == nil {
					want = append(want, tool.name)
				}
			}
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
			case c.handBack(p):
				if !errors.Is(errs[i], store.ErrNoExec) {
					t.Errorf("tools %v: %q: got %v, want ErrNoExec (for the caller to read it)", tools, p, errs[i])
				}
			case errs[i] != nil:
				t.Errorf("tools %v: %q: %v", tools, p, errs[i])
			case got[i] != checksum.Bytes(c.algo, []byte(files[p])):
				t.Errorf("tools %v: %q: got %s, want %s", tools, p, got[i], checksum.Bytes(c.algo, []byte(files[p])))
			}
		}
	}

	// A host without a tool for the hash asked.
	for _, c := range []struct {
		tools []string
		algo  checksum.Algorithm
	}{{nil, checksum.SHA256}, {[]string{"b3sum"}, checksum.SHA256}, {[]string{"openssl", "sha256sum"}, checksum.BLAKE3}} {
		st := s.SFTPAs(t, "cutoverhash", root)
		store.SetHashTools(st, c.tools...)
		if err := st.HashFiles(context.Background(), paths, c.algo, func(int, checksum.Sum, error) {}); !errors.Is(err, store.ErrNoExec) {
			t.Fatalf("tools %v, %s: got %v, want ErrNoExec", c.tools, c.algo, err)
		}
		if fast := st.FastestHash(context.Background()); (fast == checksum.BLAKE3) != slices.Contains(c.tools, "b3sum") {
			t.Errorf("tools %v: the fastest hash is %s", c.tools, fast)
		}
	}
}
