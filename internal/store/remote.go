package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cutover/cutover/internal/errs"
)

// remoteHeader is printed by the remote shell before any command of ours,
// so that a server without a shell (ForceCommand internal-sftp answers an
// exec with an SFTP server and no output) is told from an empty result.
const remoteHeader = "cutover-list-1"

// defaultShellStart bounds the wait for a remote shell to start our
// command: a login shell that hangs in its start-up files (pyenv's
// `rehash` waits 60 s for a lock file that a killed shell left behind; a
// home directory on a dead NFS server waits for ever) would otherwise
// stall every listing, stream and hash of the run.
const defaultShellStart = 30 * time.Second

// remoteCmd is a command running in the remote shell over an SSH exec channel.
type remoteCmd struct {
	sess   *ssh.Session
	out    *bufio.Reader
	stderr syncBuffer
	stop   func()
}

// abandonAfter is how long an interrupted command or request may take to
// end before its connection is closed under it (see interruptible).
const abandonAfter = 3 * time.Second

// interruptible arranges that when ctx ends, abort runs (it closes a
// session or a file), and that if the caller has not called the returned
// release within abandonAfter, connection c is closed too. Closing a
// session or a file ends nothing while the remote process is stuck in the
// kernel (a read on a hung NFS mount under the shared home): sshd closes
// the channel only once the process exits, and an SFTP server answers no
// request meanwhile. Only closing the connection ends the reads blocked
// on it, so that Ctrl-C stops such a run. release may be called more than
// once.
func (s *SFTP) interruptible(ctx context.Context, c *sshConn, abort func()) (release func()) {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		abort()
		select {
		case <-done:
		case <-time.After(abandonAfter):
			s.abandon(c)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			stop()
			close(done)
		})
	}
}

// abandon closes connection c under what is still running on it, once a
// run was stopped; the next use dials it again. It is no lost connection.
func (s *SFTP) abandon(c *sshConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.shut() {
		return
	}
	s.opts.logf("ssh %s: a remote command or request did not end within %s of the run's stop (a read stuck on the host, as on a hung NFS mount?): its connection is closed", net.JoinHostPort(s.loc.Host, s.loc.Port), abandonAfter)
}

// syncBuffer is a bytes.Buffer that the session's stderr copier writes
// while another goroutine may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startRemote runs cmd in the remote shell with stdin (may be nil) and
// reads the header. It returns ErrNoExec when the server cannot run it.
func (s *SFTP) startRemote(ctx context.Context, cmd string, stdin io.Reader) (*remoteCmd, error) {
	c, _, err := s.pick(ctx)
	if err != nil {
		return nil, err
	}
	return s.startRemoteOn(ctx, c, cmd, stdin)
}

// startRemoteOn is startRemote on connection c (the first one is always
// open: commands that move little data need not wait for a new one).
func (s *SFTP) startRemoteOn(ctx context.Context, c *sshConn, cmd string, stdin io.Reader) (*remoteCmd, error) {
	return s.startSession(ctx, c, cmd, stdin, nil)
}

// startSession is startRemoteOn; opened, when not nil, is called once the
// session is open, before the command starts.
func (s *SFTP) startSession(ctx context.Context, c *sshConn, cmd string, stdin io.Reader, opened func()) (*remoteCmd, error) {
	if why := s.shellTooSlow.Load(); why != nil {
		return nil, why
	}
	if _, err := c.client(ctx, s); err != nil {
		return nil, err
	}
	c.mu.Lock()
	cl := c.ssh
	c.mu.Unlock()
	if cl == nil {
		return nil, errs.Retryablef("connection to %s lost", s.loc.Host)
	}
	sess, err := cl.NewSession()
	if err != nil {
		return nil, s.noExecOrLost(c, err)
	}
	if opened != nil {
		opened()
	}
	rc := &remoteCmd{sess: sess, stop: s.interruptible(ctx, c, func() { sess.Close() })}
	sess.Stdin = stdin
	sess.Stderr = &rc.stderr
	out, err := sess.StdoutPipe()
	if err != nil {
		rc.Close()
		return nil, ErrNoExec
	}
	script := fmt.Sprintf("printf '%s\\0'; %s", remoteHeader, cmd)
	if s.opts.LowPriority {
		script = lowPriority + script
	}
	if err := sess.Start(posixCommand(script)); err != nil {
		rc.Close()
		return nil, ErrNoExec
	}
	rc.out = bufio.NewReaderSize(out, 1<<20)
	// A login shell may print a greeting first (an echo in .bashrc): it
	// comes before the header and is skipped.
	wait := s.opts.ShellStart
	if wait <= 0 {
		wait = defaultShellStart
	}
	// The read runs apart: closing a session does not end a read of it
	// until sshd answers the close, and sshd answers it only once the
	// shell has exited, so a shell that hangs would hang the read as well.
	// That read then ends when the shell does, or with the connection.
	type result struct {
		head string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		head, err := rc.out.ReadString(0)
		got <- result{head, err}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var r result
	late := false
	select {
	case r = <-got:
	case <-timer.C:
		late, r.err = true, fmt.Errorf("no header within %s", wait)
	case <-ctx.Done():
		rc.Close()
		return nil, ctx.Err()
	}
	if r.err != nil || !strings.HasSuffix(r.head, remoteHeader+"\x00") {
		rc.Close() // not drained: a command that waits on its stdin would never end
		if r.err == nil {
			r.err = errors.New("no header")
		}
		err := s.noExecOrLost(c, r.err)
		if late && errors.Is(err, ErrNoExec) {
			err = s.giveUpShell(wait, rc.stderr.String())
		}
		return nil, err
	}
	return rc, nil
}

// giveUpShell records that the remote shell did not start a command
// within wait, with what it printed on stderr meanwhile: the rest of the
// run uses SFTP requests alone (ErrNoExec at once), rather than wait as
// long again for each listing, stream and hash.
func (s *SFTP) giveUpShell(wait time.Duration, stderr string) error {
	who := s.loc.Host
	if s.loc.User != "" {
		who = s.loc.User + "@" + who
	}
	msg := fmt.Sprintf("the login shell of %s did not start a command within %s", who, wait)
	if stderr = strings.TrimSpace(stderr); stderr != "" {
		msg += fmt.Sprintf(" (it printed: %q)", firstLines(stderr, 3))
	}
	if s.shellTooSlow.CompareAndSwap(nil, &shellGivenUp{why: msg + "; check the account's start-up files (~/.bashrc, ~/.profile)"}) {
		s.opts.logf("ssh %s: %s: SFTP requests alone from now on, which lists and copies more slowly", s.loc.Host, msg)
	}
	return s.shellTooSlow.Load()
}

// shellGivenUp is ErrNoExec for a login shell given up (see giveUpShell);
// why says what happened.
type shellGivenUp struct{ why string }

func (e *shellGivenUp) Error() string { return ErrNoExec.Error() + ": " + e.why }
func (e *shellGivenUp) Unwrap() error { return ErrNoExec }

// firstLines is at most n lines of text.
func firstLines(text string, n int) string {
	lines := strings.SplitN(text, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

// posixCommand returns the exec request that runs script with /bin/sh,
// whatever the account's login shell. sshd hands the request to that shell,
// and csh, tcsh and fish do not read sh's syntax (an `LC_ALL=C find`
// prefix, `$(…)`, `case`, a newline in quotes). The request is only words
// and one single-quoted string with no backslash, newline, `!` or quote
// inside, which every one of those shells reads alike; the script travels
// in base64 (GNU coreutils and BusyBox have base64; without it the header
// never comes and the caller falls back to SFTP alone).
// lowPriority lowers the priority of the remote shell and of its parent,
// the SSH session that encrypts what it sends (it runs as the user, who
// may lower it), before the command runs (see SSHOptions.LowPriority).
// Best-effort I/O at its lowest rather than the idle class, which only
// gets the disk when no one else wants it and could stall a rehearsal for
// as long as the application reads. A host without renice or ionice runs
// the command as it is.
const lowPriority = `renice -n 19 -p $$ $PPID >/dev/null 2>&1; ionice -c 2 -n 7 -p $$ $PPID >/dev/null 2>&1; `

func posixCommand(script string) string {
	return `exec /bin/sh -c 'eval "$(printf %s ` + base64.StdEncoding.EncodeToString([]byte(script)) + ` | base64 -d)"'`
}

// noExecOrLost tells a server that cannot run commands (ErrNoExec, so the
// caller falls back to SFTP alone) from a connection that died, which is
// dropped and reported as retryable: a keepalive request answers which.
func (s *SFTP) noExecOrLost(c *sshConn, cause error) error {
	c.mu.Lock()
	cl, sc := c.ssh, c.sc
	c.mu.Unlock()
	if cl != nil {
		if _, _, err := cl.SendRequest("keepalive@openssh.com", true, nil); err == nil {
			return ErrNoExec
		}
	}
	s.drop(c, sc, cause)
	return errs.Retryablef("connection to %s lost: %w", s.loc.Host, cause)
}

// Wait waits for the command to exit; stderr is complete afterwards.
func (r *remoteCmd) Wait() error { return r.sess.Wait() }

// Close ends the session.
func (r *remoteCmd) Close() {
	r.stop()
	r.sess.Close()
}
