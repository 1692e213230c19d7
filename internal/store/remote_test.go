package store_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// With LowPriority the remote commands and the SSH session that serves
// them (the shell's parent, which encrypts what they send) run at nice 19
// and the lowest best-effort I/O priority on the host; without, as sshd
// starts them.
func TestLowPriorityLowersTheRemoteCommandsAndTheirSession(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	root := filepath.Join(s.Dir, "home")
	os.MkdirAll(root, 0o755)
	// nice is field 19 of /proc/PID/stat, the 17th after the command's
	// name, which may hold spaces ("(sshd: root@notty)").
	const probe = `for p in $$ $PPID; do sed 's/.*) //' /proc/$p/stat | cut -d' ' -f17; done; ionice -p $$ $PPID`
	for _, low := range []bool{false, true} {
		loc, err := store.ParseLocation(s.URL("", root))
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.DialSFTP(context.Background(), loc, store.SSHOptions{KeyFile: s.KeyFile, KnownHosts: s.KnownHosts, LowPriority: low}, false)
		if err != nil {
			t.Fatal(err)
		}
		out, err := store.RunRemote(context.Background(), st, probe)
		st.Close()
		want := "19\n19\nbest-effort: prio 7\nbest-effort: prio 7\n"
		if !low {
			// as this process runs, whose child the sshd is
			mine, err := exec.Command("sh", "-c", strings.ReplaceAll(probe, "$$ $PPID", "$PPID $PPID")).Output()
			if err != nil {
				t.Fatal(err)
			}
			want = string(mine)
		}
		if err != nil || out != want {
			t.Errorf("LowPriority %v: %v, printed %q, want %q", low, err, out, want)
		}
	}
}

// What a target has left, through SFTP (statvfs@openssh.com) and locally
// (statfs), for the same directory: the same filesystem's totals.
func TestRoomOverSFTPAndLocallyAgree(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	root := filepath.Join(s.Dir, "home")
	remote, err := s.SFTP(t, root).Room(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	local, err := store.NewLocal(root).Room(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if remote.BytesTotal == 0 || remote.BytesTotal != local.BytesTotal || remote.InodesTotal != local.InodesTotal || remote.Inodes == 0 {
		t.Fatalf("over SFTP %+v, locally %+v", remote, local)
	}
}
