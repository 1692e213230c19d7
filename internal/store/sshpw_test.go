package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSSHPasswordSources(t *testing.T) {
	dir := t.TempDir()
	file := func(content string) string {
		p := filepath.Join(dir, "pw")
		os.WriteFile(p, []byte(content), 0o600)
		os.Chmod(p, 0o600)
		return p
	}
	t.Setenv("CUTOVER_SSH_PASSWORD", "from env")
	for _, c := range []struct{ content, want string }{
		{"s3cret\n", "s3cret"},
		{"s3cret\r\nsecond line\n", "s3cret"},
		{"no newline", "no newline"},
		{" spaces kept \n", " spaces kept "},
	} {
		pw, from, err := sshPassword(SSHOptions{PasswordFile: file(c.content)})
		if err != nil || pw != c.want || from != filepath.Join(dir, "pw") {
			t.Errorf("%q: got %q from %q, %v", c.content, pw, from, err)
		}
	}
	if _, _, err := sshPassword(SSHOptions{PasswordFile: file("\n")}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("an empty file: %v", err)
	}
	p := file("s3cret\n")
	os.Chmod(p, 0o640)
	if _, _, err := sshPassword(SSHOptions{PasswordFile: p}); err == nil || !strings.Contains(err.Error(), "can be read by other users (mode 0640)") {
		t.Errorf("a file others can read: %v", err)
	}
	if pw, from, _ := sshPassword(SSHOptions{}); pw != "from env" || from != "CUTOVER_SSH_PASSWORD" {
		t.Errorf("env: %q from %q", pw, from)
	}
	// The description of what was tried never holds the password.
	_, tried, err := authMethods(SSHOptions{PasswordFile: file("hunter2\n"), KeyFile: filepath.Join(dir, "missing-key")})
	if err == nil {
		t.Fatalf("a missing --ssh-key is an error even with a password (tried %s)", tried)
	}
	t.Setenv("HOME", dir) // no ~/.ssh keys
	t.Setenv("SSH_AUTH_SOCK", "")
	m, tried, err := authMethods(SSHOptions{PasswordFile: file("hunter2\n")})
	if err != nil || len(m) != 2 || strings.Contains(tried, "hunter2") || !strings.Contains(tried, "the password from") {
		t.Fatalf("password only: %d methods, tried %q, %v", len(m), tried, err)
	}
}

func TestParseJump(t *testing.T) {
	for in, want := range map[string]Location{
		"bastion":                {Scheme: "sftp", Host: "bastion", Port: "22"},
		"admin@bastion":          {Scheme: "sftp", User: "admin", Host: "bastion", Port: "22"},
		"admin@10.0.0.5:2222":    {Scheme: "sftp", User: "admin", Host: "10.0.0.5", Port: "2222"},
		"[fd00::1]:22":           {Scheme: "sftp", Host: "fd00::1", Port: "22"},
		"ops@jump.example.com:7": {Scheme: "sftp", User: "ops", Host: "jump.example.com", Port: "7"},
	} {
		if got, err := ParseJump(in); err != nil || got != want {
			t.Errorf("%q: got %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "admin@", "sftp://bastion", "bastion/path"} {
		if _, err := ParseJump(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
