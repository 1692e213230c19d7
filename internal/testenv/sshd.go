package testenv

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cutover/cutover/internal/store"
)

// Missing skips t, or fails it in CI, because a server binary is missing.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("%s not found; install it with: %s", what, install)
	if os.Getenv("CI") != "" {
		t.Fatal("CI: " + msg)
	}
	t.Skip(msg)
}

// SSHD is a running OpenSSH server.
type SSHD struct {
	Host       string
	Port       int
	Dir        string // world-readable scratch directory of this server
	KeyFile    string // authorized client private key
	KnownHosts string // known_hosts with the server's host key
	HostPub    ssh.PublicKey
	// Home is the sessions' HOME, empty at first: a test writes the login
	// shell's start-up files there (.bashrc: bash, run by sshd, reads that
	// and never BASH_ENV).
	Home string
	cmd  *exec.Cmd
}

// SSHDOptions tune the server.
type SSHDOptions struct {
	// Extra sshd_config lines, e.g. "ForceCommand internal-sftp".
	Extra []string
}

func sshdPath() string {
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("sshd")
	return p
}

// StartSSHD starts sshd for the test's lifetime.
func StartSSHD(t testing.TB, o SSHDOptions) *SSHD {
	t.Helper()
	bin := sshdPath()
	if bin == "" {
		Missing(t, "OpenSSH sshd", "apt-get install openssh-server")
	}
	dir, err := os.MkdirTemp("", "cutover-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // sshd reads authorized_keys as the logging-in user
	os.MkdirAll("/run/sshd", 0o755)

	hostPriv := writeKey(t, filepath.Join(dir, "host_key"))
	clientPriv := writeKey(t, filepath.Join(dir, "client_key"))
	clientPub, _ := ssh.NewPublicKey(clientPriv.Public())
	hostPub, _ := ssh.NewPublicKey(hostPriv.Public())
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	// The sessions' HOME is an empty directory of the server's: a login
	// shell then runs none of the account's own start-up files. root's
	// ~/.bashrc on these machines runs `pyenv rehash`, which takes a lock
	// file; a shell killed while holding it (a test that kills connections)
	// leaves it behind, and every later login then waits 60 s for it.
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	// sshd takes the first value of a keyword: o.Extra goes first, so that
	// it can override the defaults below; its SetEnv is merged with ours
	// (sshd reads only the first SetEnv line).
	setenv := "SetEnv HOME=" + home
	var extra []string
	for _, l := range o.Extra {
		if rest, ok := strings.CutPrefix(l, "SetEnv "); ok {
			setenv += " " + rest
			continue
		}
		extra = append(extra, l)
	}
	cfg := append(append(extra, setenv),
		"Port "+strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey "+filepath.Join(dir, "host_key"),
		"PidFile "+filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile "+filepath.Join(dir, "authorized_keys"),
		"StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp",
		"LogLevel ERROR", "MaxSessions 100", "MaxStartups 100:30:200", "ClientAliveInterval 0",
	)
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &SSHD{Host: "127.0.0.1", Port: port, Dir: dir, KeyFile: filepath.Join(dir, "client_key"),
		KnownHosts: filepath.Join(dir, "known_hosts"), HostPub: hostPub, Home: home}
	if err := os.WriteFile(s.KnownHosts, []byte(s.KnownHostsLine(hostPub)), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	s.cmd = exec.Command(bin, "-D", "-e", "-f", conf)
	s.cmd.Stderr = &stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// Addr is host:port.
func (s *SSHD) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL returns sftp://user@host:port/abs for a path on this machine.
func (s *SSHD) URL(userName, abs string) string {
	if userName == "" {
		u, _ := user.Current()
		userName = u.Username
	}
	return fmt.Sprintf("sftp://%s@%s%s", userName, s.Addr(), abs)
}

// SFTP opens an SFTP store on root (created if missing) as the current
// user over two connections; it is closed when the test ends.
func (s *SSHD) SFTP(t testing.TB, root string) *store.SFTP {
	t.Helper()
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return s.SFTPAs(t, "", root)
}

// usermod runs a user-database command with stdin, again while another
// process holds the database's lock; done, if given, says the work was
// done meanwhile by someone else.
func usermod(t testing.TB, stdin string, done func() bool, args ...string) {
	t.Helper()
	for try := 0; ; try++ {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err == nil || (done != nil && done()) {
			return
		}
		if try == 20 {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SetPassword sets the password of a test user (see EnsureUser), for a
// server started with "PasswordAuthentication yes".
func SetPassword(t testing.TB, name, password string) {
	t.Helper()
	usermod(t, name+":"+password+"\n", nil, "chpasswd")
}

// SFTPAs is SFTP as the given user (see EnsureUser).
func (s *SSHD) SFTPAs(t testing.TB, userName, root string) *store.SFTP {
	t.Helper()
	loc, err := store.ParseLocation(s.URL(userName, root))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.DialSFTP(context.Background(), loc, store.SSHOptions{KeyFile: s.KeyFile, KnownHosts: s.KnownHosts, Conns: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// KnownHostsLine is a known_hosts line binding key to this server.
func (s *SSHD) KnownHostsLine(key ssh.PublicKey) string {
	return fmt.Sprintf("[%s]:%d %s", s.Host, s.Port, ssh.MarshalAuthorizedKey(key))
}

// DropConnections kills the per-connection sshd processes, as a network
// failure would, while the listener keeps accepting new connections.
func (s *SSHD) DropConnections() int {
	n := 0
	for _, pid := range children(s.cmd.Process.Pid) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// FreezeConnections stops (SIGSTOP) every process of every open
// connection, as a peer that no longer answers would: the TCP connections
// stay open and the kernel still takes their data, but no SSH reply comes,
// as on a half-open connection whose NAT or VPN state was lost. The
// listener keeps accepting new connections. The frozen processes are
// killed when the test ends; it returns how many were stopped.
func (s *SSHD) FreezeConnections(t testing.TB) int {
	var pids []int
	stopped := map[int]bool{}
	// A second pass stops what a process forked while the first went on.
	for range 2 {
		for todo := children(s.cmd.Process.Pid); len(todo) > 0; {
			pid := todo[0]
			todo = append(todo[1:], children(pid)...)
			if !stopped[pid] && syscall.Kill(pid, syscall.SIGSTOP) == nil {
				stopped[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return len(pids)
}

func children(ppid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

func writeKey(t testing.TB, path string) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return priv
}

// NewKey writes a fresh, unauthorized private key into dir.
func NewKey(t testing.TB, dir string) string {
	p := filepath.Join(dir, fmt.Sprintf("other_key_%d", time.Now().UnixNano()))
	writeKey(t, p)
	return p
}

// OtherHostKey returns a public key that is not the server's.
func OtherHostKey(t testing.TB) ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// EnsureUser creates a system user (root only) for tests that need a
// non-root login, and returns its uid and gid.
func EnsureUser(t testing.TB, name string) (int, int) {
	t.Helper()
	return EnsureUserWithShell(t, name, "/bin/sh")
}

// EnsureUserWithShell is EnsureUser with the given login shell, which must
// be installed (tcsh: apt-get install tcsh).
func EnsureUserWithShell(t testing.TB, name, shell string) (int, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a test user needs root")
	}
	if _, err := os.Stat(shell); err != nil {
		Missing(t, "the login shell "+shell, "apt-get install "+filepath.Base(shell))
	}
	if _, err := user.Lookup(name); err != nil {
		// Another package's tests may be adding a user at the same moment
		// (one of them holds /etc/passwd's lock): try again a few times.
		exists := func() bool { _, err := user.Lookup(name); return err == nil }
		usermod(t, "", exists, "useradd", "--system", "--no-create-home", "--shell", shell, name)
	}
	usermod(t, "", nil, "usermod", "--shell", shell, name)
	// A locked account (no password) is refused by sshd even for keys: unlock with a '*' hash.
	usermod(t, "", nil, "usermod", "-p", "*", name)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}
