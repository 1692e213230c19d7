package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sys/unix"

	"github.com/cutover/cutover/internal/errs"
)

// SSHOptions configure SFTP stores.
type SSHOptions struct {
	KeyFile    string // private key; else the agent, else ~/.ssh/id_*
	KnownHosts string // default ~/.ssh/known_hosts
	// Jump is a host to connect through, "[user@]host[:port]" as ssh -J
	// takes it (a bastion in front of the VMs): its host key is checked
	// against the same known_hosts and it takes the same credentials.
	Jump string
	// PasswordFile holds the account's password on its first line, tried
	// after the keys (password, then keyboard-interactive); else the
	// CUTOVER_SSH_PASSWORD environment variable, if set.
	PasswordFile string
	Conns        int // SSH connections for data (default 4)
	// Keepalive is the interval of SSH keepalive probes; a connection whose
	// probe is not answered within the same interval is closed (default 15s).
	Keepalive time.Duration
	// LowPriority runs every remote command (the listing's find, the tar
	// streams, the hashers) and the SSH session serving it on the host at
	// the lowest CPU priority (nice 19) and the lowest best-effort I/O
	// priority (ionice -c 2 -n 7): a rehearsal yields to the application
	// on a VM that still serves users. What the host cannot do is skipped.
	LowPriority bool
	// ShellStart bounds the wait for the remote login shell to start a
	// command (default 30s); past it, the run uses SFTP requests alone.
	ShellStart time.Duration
	// Log receives a line for each connection closed for want of an answer,
	// each connection found lost and a login shell given up (nil: none).
	Log io.Writer
}

func (o SSHOptions) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

func homeFile(name string) string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(h, ".ssh", name)
}

// authMethods returns the keys (--ssh-key, else the agent, else
// ~/.ssh/id_*) and then the password, if one is given, and says what they
// are for error messages (never the password itself).
func authMethods(opts SSHOptions) ([]ssh.AuthMethod, string, error) {
	password, fromPW, err := sshPassword(opts)
	if err != nil {
		return nil, "", err
	}
	methods, tried, err := keyMethods(opts)
	if err != nil && (password == "" || opts.KeyFile != "") {
		return nil, "", err
	}
	if password != "" {
		methods = append(methods, ssh.Password(password), ssh.KeyboardInteractive(func(user, instruction string, questions []string, echos []bool) ([]string, error) {
			answers := make([]string, len(questions))
			for i := range answers {
				answers[i] = password // PAM asks "Password:" this way
			}
			return answers, nil
		}))
		if tried != "" {
			tried += " and "
		}
		tried += "the password from " + fromPW
	}
	return methods, tried, nil
}

// sshPassword reads the password and says where it came from.
func sshPassword(opts SSHOptions) (password, from string, err error) {
	if opts.PasswordFile != "" {
		f, err := os.Open(opts.PasswordFile)
		if err != nil {
			return "", "", errs.Usagef("read the SSH password: %w", err)
		}
		defer f.Close()
		// As libpq with ~/.pgpass and ssh with private keys: a secret that
		// others can read is refused (checked on the file that is read).
		fi, err := f.Stat()
		if err != nil {
			return "", "", errs.Usagef("read the SSH password: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", "", errs.Usagef("the SSH password file %s can be read by other users (mode %04o): chmod 600 it", opts.PasswordFile, fi.Mode().Perm())
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return "", "", errs.Usagef("read the SSH password: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if line = strings.TrimSuffix(line, "\r"); line == "" {
			return "", "", errs.Usagef("the SSH password file %s is empty", opts.PasswordFile)
		}
		return line, opts.PasswordFile, nil
	}
	if pw := os.Getenv("CUTOVER_SSH_PASSWORD"); pw != "" {
		return pw, "CUTOVER_SSH_PASSWORD", nil
	}
	return "", "", nil
}

func keyMethods(opts SSHOptions) ([]ssh.AuthMethod, string, error) {
	if opts.KeyFile != "" {
		s, err := loadKey(opts.KeyFile)
		if err != nil {
			return nil, "", err
		}
		return []ssh.AuthMethod{ssh.PublicKeys(s)}, "key " + opts.KeyFile, nil
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			return []ssh.AuthMethod{ssh.PublicKeysCallback(agent.NewClient(c).Signers)}, "the SSH agent", nil
		}
	}
	var signers []ssh.Signer
	var tried []string
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := homeFile(n)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		s, err := loadKey(p)
		if err != nil {
			return nil, "", err
		}
		signers = append(signers, s)
		tried = append(tried, p)
	}
	if len(signers) == 0 {
		return nil, "", errs.Usagef("no SSH key nor password: give --ssh-key FILE or --ssh-password-file FILE, start an SSH agent, or create ~/.ssh/id_ed25519")
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, "keys " + strings.Join(tried, ", "), nil
}

func loadKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.Usagef("read SSH key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, errs.Usagef("SSH key %s is protected by a passphrase: load it into ssh-agent instead", path)
	}
	if err != nil {
		return nil, errs.Usagef("parse SSH key %s: %w", path, err)
	}
	return s, nil
}

// hostKeyChecker checks host keys against known_hosts and explains refusals.
type hostKeyChecker struct {
	file string
	cb   ssh.HostKeyCallback
	err  error // the last refusal, explained
}

func newHostKeyChecker(file string) (*hostKeyChecker, error) {
	if file == "" {
		file = homeFile("known_hosts")
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		return nil, errs.Fatalf("read known_hosts %s: %w (host keys are always checked: add the server's key with ssh-keyscan)", file, err)
	}
	return &hostKeyChecker{file: file, cb: cb}, nil
}

func (h *hostKeyChecker) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := h.cb(hostname, remote, key)
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		host, port, _ := net.SplitHostPort(hostname)
		fp := ssh.FingerprintSHA256(key)
		if len(ke.Want) == 0 {
			h.err = errs.Fatalf("unknown host key for %s (%s %s): not in %s. Check the fingerprint out of band, then add it with: ssh-keyscan -p %s %s >> %s",
				hostname, key.Type(), fp, h.file, port, host, h.file)
		} else {
			h.err = errs.Fatalf("HOST KEY MISMATCH for %s: the server sent %s %s but %s:%d expects %s. This may be an attack; if the server was legitimately rebuilt, remove the old entry with: ssh-keygen -R '[%s]:%s' -f %s",
				hostname, key.Type(), fp, ke.Want[0].Filename, ke.Want[0].Line, ssh.FingerprintSHA256(ke.Want[0].Key), host, port, h.file)
		}
	} else if err != nil {
		h.err = errs.Fatalf("host key for %s: %w", hostname, err)
	}
	return err
}

// algorithms returns the key types known_hosts holds for hostport, so that
// the server is asked for a key we can check.
func (h *hostKeyChecker) algorithms(hostport string) []string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	probe, _ := ssh.NewPublicKey(pub)
	var ke *knownhosts.KeyError
	if err := h.cb(hostport, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, probe); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		t := k.Key.Type()
		cands := []string{t}
		if t == ssh.KeyAlgoRSA {
			cands = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, c := range cands {
			if !seen[c] {
				seen[c] = true
				algos = append(algos, c)
			}
		}
	}
	return algos
}

// sshAuth is the client's authentication, loaded once per store and
// shared by its connections (keys parsed once, one agent client).
type sshAuth struct {
	methods []ssh.AuthMethod
	tried   string
}

func loadAuth(opts SSHOptions) (*sshAuth, error) {
	m, tried, err := authMethods(opts)
	if err != nil {
		return nil, err
	}
	return &sshAuth{methods: m, tried: tried}, nil
}

// dialSSH opens one SSH connection. Errors are fatal when they concern
// configuration (host key, authentication) and retryable when the network
// may recover. known_hosts is read at every dial, so an entry added during
// a long run is honoured by its reconnects. Until settled is called, the
// connection acknowledges every segment at once (see quickAckConn): call it
// once the first session is open.
func dialSSH(ctx context.Context, loc Location, opts SSHOptions, a *sshAuth) (_ *ssh.Client, settled func(), err error) {
	hk, err := newHostKeyChecker(opts.KnownHosts)
	if err != nil {
		return nil, nil, err
	}
	auth, tried := a.methods, a.tried
	user := loc.User
	if user == "" {
		user = os.Getenv("USER")
	}
	addr := net.JoinHostPort(loc.Host, loc.Port)
	cfg := &ssh.ClientConfig{
		User:              user,
		Auth:              auth,
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hk.algorithms(knownhosts.Normalize(addr)),
		Timeout:           15 * time.Second,
	}
	nc, closeJump, err := dialTCP(ctx, addr, opts, a)
	if err != nil {
		return nil, nil, err
	}
	qc := newQuickAckConn(nc)
	nc.SetDeadline(time.Now().Add(30 * time.Second)) // a jump host's channel has none: its keepalive guards it
	c, chans, reqs, err := ssh.NewClientConn(qc, addr, cfg)
	if err != nil {
		nc.Close()
		closeJump()
		if hk.err != nil {
			return nil, nil, hk.err
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, nil, errs.Fatalf("authentication as %s@%s failed (tried %s): check --ssh-key and the server's authorized_keys, or the password", user, addr, tried)
		}
		return nil, nil, errs.Retryablef("ssh handshake with %s: %w", addr, err)
	}
	nc.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	go keepalive(client, opts, addr)
	go func() {
		client.Wait()
		closeJump()
	}()
	return client, qc.settled, nil
}

// dialTCP opens the byte stream to addr: a TCP connection, or with
// opts.Jump a channel forwarded by the jump host (one SSH connection to it
// per connection to addr, closed with the stream's client).
func dialTCP(ctx context.Context, addr string, opts SSHOptions, a *sshAuth) (net.Conn, func(), error) {
	if opts.Jump == "" {
		d := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, errs.Retryablef("cannot reach %s: %w", addr, err)
		}
		return nc, func() {}, nil
	}
	jloc, err := ParseJump(opts.Jump)
	if err != nil {
		return nil, nil, err
	}
	jopts := opts
	jopts.Jump = ""
	jc, _, err := dialSSH(ctx, jloc, jopts, a)
	if err != nil {
		return nil, nil, fmt.Errorf("jump host %s: %w", opts.Jump, err)
	}
	nc, err := jc.DialContext(ctx, "tcp", addr)
	if err != nil {
		jc.Close()
		if strings.Contains(err.Error(), "administratively prohibited") {
			return nil, nil, errs.Fatalf("the jump host %s refused to forward to %s: its sshd needs AllowTcpForwarding yes (%w)", opts.Jump, addr, err)
		}
		return nil, nil, errs.Retryablef("cannot reach %s through the jump host %s: %w", addr, opts.Jump, err)
	}
	return nc, func() { jc.Close() }, nil
}

// ParseJump parses a jump host, "[user@]host[:port]" (user: $USER, port:
// 22), as ssh -J takes it.
func ParseJump(s string) (Location, error) {
	l := Location{Scheme: "sftp", Port: "22"}
	hostport := s
	if u, h, ok := strings.Cut(s, "@"); ok {
		l.User, hostport = u, h
	}
	l.Host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		l.Host, l.Port = h, p
	}
	if n, err := strconv.Atoi(l.Port); err != nil || n < 1 || n > 65535 || l.Host == "" || strings.ContainsAny(l.Host, "/@ ") {
		return Location{}, errs.Usagef("jump host %q: want [user@]host[:port]", s)
	}
	return l, nil
}

// quickAckConn sets TCP_QUICKACK before each read until settled. OpenSSH's
// sshd turns off Nagle's algorithm only when a session starts; until then a
// small packet it sends while an earlier one is unacknowledged waits for
// our ACK, which Linux delays by up to 40 ms. Opening the first session
// of a connection hit that every time: 42 ms instead of 2 ms (measured on
// OpenSSH 9.2), on each of the connections a run opens. Later reads need no
// setsockopt, which a transfer of gigabytes would pay per read.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
	on  atomic.Bool
}

func newQuickAckConn(nc net.Conn) *quickAckConn {
	c := &quickAckConn{Conn: nc}
	if tc, ok := nc.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw = raw
			c.on.Store(true)
		}
	}
	return c
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	if c.on.Load() {
		c.raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) })
	}
	return c.Conn.Read(p)
}

func (c *quickAckConn) settled() { c.on.Store(false) }

// keepalive probes the server and closes a connection that stops answering,
// so that a half-open TCP connection cannot hang a transfer forever.
func keepalive(c *ssh.Client, opts SSHOptions, addr string) {
	every := opts.Keepalive
	if every <= 0 {
		every = 15 * time.Second
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() { _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); reply <- err }()
		select {
		case err := <-reply:
			if err != nil {
				c.Close()
				return
			}
		case <-time.After(every):
			opts.logf("ssh %s: no answer to a keepalive within %s: closing the connection", addr, every)
			c.Close()
			return
		case <-done:
			return
		}
	}
}
