package testenv

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The test server's sessions run none of the account's start-up files:
// HOME is the server's own empty directory, and SetEnv lines of a test are
// merged with it (sshd reads only the first SetEnv line).
func TestSSHDSessionsHaveTheirOwnHome(t *testing.T) {
	s := StartSSHD(t, SSHDOptions{Extra: []string{"SetEnv CUTOVER_PROBE=1"}})
	if _, err := exec.LookPath("ssh"); err != nil {
		Missing(t, "the OpenSSH client", "apt-get install openssh-client")
	}
	out, err := exec.Command("ssh", "-p", strconv.Itoa(s.Port), "-i", s.KeyFile, "-o", "UserKnownHostsFile="+s.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", s.Host,
		`printf '%s|%s|%s' "$HOME" "$CUTOVER_PROBE" "$PYENV_ROOT"`).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v: %s", err, out)
	}
	want := filepath.Join(s.Dir, "home") + "|1|"
	if got := string(out); !strings.HasSuffix(got, want) {
		t.Fatalf("session environment %q, want HOME|CUTOVER_PROBE|PYENV_ROOT = %q", got, want)
	}
}
