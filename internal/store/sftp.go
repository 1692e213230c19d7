package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/cutover/cutover/internal/errs"
)

// SFTP is a tree on a remote host, reached over several SSH connections
// (one SSH channel caps throughput at about its 2 MiB window per round trip).
type SFTP struct {
	loc   Location
	opts  SSHOptions
	auth  *sshAuth
	conns []*sshConn
	next  atomic.Uint32
	dirs  sync.Map
	lost  atomic.Int64 // connections found dead and closed, see drop

	streamMu sync.Mutex // see streamConn

	listedByFind atomic.Bool
	noFind       atomic.Value                 // string: why the listing fell back to READDIR
	rootFS       atomic.Value                 // string: the root's filesystem type, as find names it
	listedRoot   atomic.Pointer[Entry]        // the root as the last find listing gave it
	shellTooSlow atomic.Pointer[shellGivenUp] // why remote commands are no longer tried, see giveUpShell

	hashOnce  sync.Once // see remoteHashers
	hashTools []hashTool
	hashErr   error
	hashed    [3]atomic.Int64 // files hashed on the host, by hashTool
}

var (
	_ Store    = (*SFTP)(nil)
	_ Linker   = (*SFTP)(nil)
	_ Roomer   = (*SFTP)(nil)
	_ Stager   = (*SFTP)(nil)
	_ RootMeta = (*SFTP)(nil)
)

type sshConn struct {
	mu      sync.Mutex
	ssh     *ssh.Client
	sc      *sftp.Client
	streams int // tar streams on it, guarded by SFTP.streamMu
}

// DialSFTP connects to loc. The first connection is made at once so that
// configuration errors (host key, authentication, a missing root) surface
// before any work starts; the others are made when first used.
func DialSFTP(ctx context.Context, loc Location, opts SSHOptions, create bool) (*SFTP, error) {
	if opts.Conns <= 0 {
		opts.Conns = 4
	}
	auth, err := loadAuth(opts)
	if err != nil {
		return nil, err
	}
	s := &SFTP{loc: loc, opts: opts, auth: auth}
	for i := 0; i < opts.Conns; i++ {
		s.conns = append(s.conns, &sshConn{})
	}
	sc, err := s.conns[0].client(ctx, s)
	if err != nil {
		if errs.KindOf(err) == errs.Retryable {
			err = errs.Wrap(errs.Fatal, err)
		}
		return nil, err
	}
	if create {
		if err := sc.MkdirAll(loc.Path); err != nil {
			return nil, errs.Fatalf("create %s: %w", s, err)
		}
	}
	fi, err := sc.Stat(loc.Path)
	if err != nil {
		s.Close()
		return nil, errs.Fatalf("open %s: %w", s, err)
	}
	if !fi.IsDir() {
		s.Close()
		return nil, errs.Fatalf("%s is not a directory", s)
	}
	return s, nil
}

func (c *sshConn) client(ctx context.Context, s *SFTP) (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sc != nil {
		return c.sc, nil
	}
	cl, settled, err := dialSSH(ctx, s.loc, s.opts, s.auth)
	if err != nil {
		return nil, err
	}
	defer settled()
	sc, err := sftp.NewClient(cl, sftp.UseConcurrentWrites(true), sftp.UseFstat(true))
	if err != nil {
		cl.Close()
		return nil, errs.Retryablef("start sftp on %s: %w", s.loc.Host, err)
	}
	c.ssh, c.sc = cl, sc
	return sc, nil
}

// drop closes a connection that failed, so the next call reconnects, and
// says so once per connection.
func (s *SFTP) drop(c *sshConn, sc *sftp.Client, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sc == sc && c.shut() {
		n := s.lost.Add(1)
		s.opts.logf("ssh %s: connection lost (%v): what was in flight on it is retried over a new one (%d lost so far)", net.JoinHostPort(s.loc.Host, s.loc.Port), cause, n)
	}
}

// ConnectionsLost is how many connections were found dead (an error, a
// keepalive left unanswered) and dropped, each dialed again when next used.
func (s *SFTP) ConnectionsLost() int64 { return s.lost.Load() }

func (s *SFTP) pick(ctx context.Context) (*sshConn, *sftp.Client, error) {
	c := s.conns[int(s.next.Add(1))%len(s.conns)]
	sc, err := c.client(ctx, s)
	return c, sc, err
}

// classify turns connection-level failures into retryable errors and drops
// the connection so the next call reconnects.
func (s *SFTP) classify(c *sshConn, sc *sftp.Client, err error) error {
	if err == nil {
		return nil
	}
	if isConnErr(err) {
		s.drop(c, sc, err)
		return errs.Wrap(errs.Retryable, fmt.Errorf("connection to %s lost: %w", s.loc.Host, err))
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		switch se.FxCode() {
		case sftp.ErrSSHFxPermissionDenied:
			return errs.Wrap(errs.Permanent, fmt.Errorf("%w: %w", fs.ErrPermission, err))
		case sftp.ErrSSHFxNoSuchFile:
			return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		case sftp.ErrSSHFxFailure:
			if strings.Contains(strings.ToLower(se.Error()), "no space") {
				return errs.Wrap(errs.Fatal, fmt.Errorf("target disk full: %w", err))
			}
		}
	}
	return err
}

// trackWriter remembers the error of the writer it wraps.
type trackWriter struct {
	w   io.Writer
	err error
}

func (t *trackWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

func isConnErr(err error) bool {
	var ne *net.OpError
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.As(err, &ne)
}

func (s *SFTP) String() string { return s.loc.String() }

func (s *SFTP) Close() error {
	for _, c := range s.conns {
		c.mu.Lock()
		c.shut()
		c.mu.Unlock()
	}
	return nil
}

// shut closes the connection if it is open (the next use dials it again)
// and says whether it was; the caller holds c.mu.
func (c *sshConn) shut() bool {
	if c.sc == nil {
		return false
	}
	c.sc.Close()
	c.ssh.Close()
	c.sc, c.ssh = nil, nil
	return true
}

func (s *SFTP) abs(p string) string { return path.Join(s.loc.Path, p) }

func sftpEntry(rel string, fi fs.FileInfo) (Entry, bool) {
	e, ok := entryFromInfo(rel, fi)
	if st, isStat := fi.Sys().(*sftp.FileStat); isStat {
		e.UID, e.GID = st.UID, st.GID
	}
	return e, ok
}

func (s *SFTP) Lstat(ctx context.Context, p string) (Entry, error) {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return Entry{}, err
	}
	fi, err := sc.Lstat(s.abs(p))
	if err != nil {
		return Entry{}, s.classify(c, sc, err)
	}
	e, ok := sftpEntry(p, fi)
	if !ok {
		return e, errs.Wrap(errs.Permanent, fmt.Errorf("%s: %w", p, unsupportedType(fi.Mode())))
	}
	if e.Type == Symlink {
		e.Target, err = sc.ReadLink(s.abs(p))
	}
	return e, s.classify(c, sc, err)
}

// smallFile is the size up to which a file is read with one ReadAt of its
// known size plus one byte: open, read, fstat, close, and no EOF probe.
const smallFile = 4 << 20

var smallBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (s *SFTP) ReadFile(ctx context.Context, e Entry, w io.Writer) (Entry, error) {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return Entry{}, err
	}
	tw := &trackWriter{w: w}
	after, err := s.readFile(ctx, c, sc, e, tw)
	if tw.err != nil {
		return after, tw.err // the writer's (the target's) error, not the connection's
	}
	return after, s.classify(c, sc, err)
}

func (s *SFTP) readFile(ctx context.Context, c *sshConn, sc *sftp.Client, e Entry, w io.Writer) (Entry, error) {
	if e.Size == 0 && e.Type == File {
		// An empty file has nothing to read: one LSTAT round trip instead
		// of open, read, fstat and close. If it grew since the listing, it
		// is read as usual.
		fi, err := sc.Lstat(s.abs(e.Path))
		if err != nil {
			return Entry{}, err
		}
		if after, ok := sftpEntry(e.Path, fi); ok && after.Type == File && after.Size == 0 {
			return after, nil
		}
	}
	f, err := sc.Open(s.abs(e.Path))
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	release := s.interruptible(ctx, c, func() { f.Close() })
	defer release()
	if e.Size < smallFile {
		bp := smallBufs.Get().(*[]byte)
		defer smallBufs.Put(bp)
		if int64(cap(*bp)) < e.Size+1 {
			*bp = make([]byte, e.Size+1)
		}
		buf := (*bp)[:e.Size+1]
		n, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return Entry{}, err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return Entry{}, err
		}
	} else if _, err := f.WriteTo(w); err != nil {
		return Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return Entry{}, err
	}
	after, _ := sftpEntry(e.Path, fi)
	return after, nil
}

func (s *SFTP) mkdirAll(sc *sftp.Client, dir string) error {
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	if err := sc.MkdirAll(dir); err != nil {
		return err
	}
	s.dirs.Store(dir, true)
	return nil
}

func (s *SFTP) Mkdir(ctx context.Context, p string) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	return s.classify(c, sc, s.mkdirAll(sc, s.abs(p)))
}

// tempSeq tells apart the temporary names one process makes at once.
var tempSeq atomic.Uint64

func tempName(dir string) string {
	return path.Join(dir, fmt.Sprintf("%s%d-%d-%d.part", TempPrefix, time.Now().UnixNano(), os.Getpid(), tempSeq.Add(1)))
}

func (s *SFTP) Put(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error)) error {
	return putStaged(ctx, s, e, owner, fill)
}

// Stage writes e under a temporary name next to e.Path, with its metadata;
// Commit renames it into place.
func (s *SFTP) Stage(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error)) (Staged, error) {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := s.stage(sc, e, owner, fill)
	if err != nil {
		return nil, s.classify(c, sc, err)
	}
	return &staged{
		commit: func() error {
			if err := sc.PosixRename(tmp, s.abs(e.Path)); err != nil {
				sc.Remove(tmp)
				return s.classify(c, sc, fmt.Errorf("put %s: rename: %w", e.Path, err))
			}
			return nil
		},
		abort: func() { sc.Remove(tmp) },
	}, nil
}

func (s *SFTP) stage(sc *sftp.Client, e Entry, owner bool, fill func(io.Writer) (int64, error)) (_ string, err error) {
	dir := path.Dir(s.abs(e.Path))
	if err := s.mkdirAll(sc, dir); err != nil {
		return "", fmt.Errorf("put %s: %w", e.Path, err)
	}
	tmp := tempName(dir)
	f, err := sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", e.Path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			sc.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	n, err := fill(bw)
	if err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("put %s: %w", e.Path, err)
	}
	if n != e.Size {
		return "", errs.Retryablef("put %s: wrote %d bytes, want %d", e.Path, n, e.Size)
	}
	if err := f.Sync(); err != nil && !isUnsupported(err) {
		return "", fmt.Errorf("put %s: fsync: %w", e.Path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("put %s: close: %w", e.Path, err)
	}
	if err := s.setMeta(sc, tmp, e, owner); err != nil {
		return "", fmt.Errorf("put %s: %w", e.Path, err)
	}
	return tmp, nil
}

func isUnsupported(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported
}

func (s *SFTP) setMeta(sc *sftp.Client, full string, e Entry, owner bool) error {
	if e.Type == Symlink {
		return nil // SFTP v3 SETSTAT follows links: leave a link's own metadata alone
	}
	if owner {
		if err := sc.Chown(full, int(e.UID), int(e.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := sc.Chmod(full, toOSMode(e.Mode)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := sc.Chtimes(full, e.ModTime.Time(), e.ModTime.Time()); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

func (s *SFTP) Symlink(ctx context.Context, e Entry, owner bool) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	full := s.abs(e.Path)
	if err := s.mkdirAll(sc, path.Dir(full)); err != nil {
		return s.classify(c, sc, err)
	}
	tmp := tempName(path.Dir(full))
	if err := sc.Symlink(e.Target, tmp); err != nil {
		return s.classify(c, sc, fmt.Errorf("symlink %s: %w", e.Path, err))
	}
	if err := sc.PosixRename(tmp, full); err != nil {
		sc.Remove(tmp)
		return s.classify(c, sc, fmt.Errorf("symlink %s: %w", e.Path, err))
	}
	return nil
}

func (s *SFTP) SetMeta(ctx context.Context, e Entry, owner bool) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	return s.classify(c, sc, s.setMeta(sc, s.abs(e.Path), e, owner))
}

// ListedRoot is the root as the last find listing gave it, with its
// mtime's nanoseconds, which SFTP's stat (StatRoot) lacks.
func (s *SFTP) ListedRoot() (Entry, bool) {
	e := s.listedRoot.Load()
	if e == nil {
		return Entry{}, false
	}
	r := *e
	r.Path = ""
	return r, true
}

func (s *SFTP) StatRoot(ctx context.Context) (Entry, error) {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return Entry{}, err
	}
	fi, err := sc.Stat(s.loc.Path) // follows a root that is a link
	if err != nil {
		return Entry{}, s.classify(c, sc, err)
	}
	e, _ := sftpEntry("", fi)
	return e, nil
}

func (s *SFTP) SetRootMeta(ctx context.Context, e Entry, owner bool) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	e.Type = Dir // SETSTAT follows a root that is a link
	if err := s.setMeta(sc, s.loc.Path, e, owner); err != nil {
		return s.classify(c, sc, fmt.Errorf("the root %s: %w", s.loc.Path, err))
	}
	return nil
}

func (s *SFTP) Link(ctx context.Context, oldPath, newPath string) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	full := s.abs(newPath)
	tmp := tempName(path.Dir(full))
	if err := sc.Link(s.abs(oldPath), tmp); err != nil {
		return s.classify(c, sc, fmt.Errorf("link %s: %w", newPath, err))
	}
	if err := sc.PosixRename(tmp, full); err != nil {
		sc.Remove(tmp)
		return s.classify(c, sc, fmt.Errorf("link %s: %w", newPath, err))
	}
	// Renaming a link onto a name of the same file does nothing and
	// leaves both names (POSIX): newPath was already this file's.
	if err := sc.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.classify(c, sc, fmt.Errorf("link %s: remove %s: %w", newPath, tmp, err))
	}
	return nil
}

func (s *SFTP) Remove(ctx context.Context, p string) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	err = sc.Remove(s.abs(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure {
		// OpenSSH answers "failure" to REMOVE on a directory.
		err = sc.RemoveDirectory(s.abs(p))
	}
	if err == nil {
		s.dirs.Delete(s.abs(p))
	}
	return s.classify(c, sc, err)
}

func (s *SFTP) CleanTemp(ctx context.Context) (int, error) {
	var temps []string
	err := s.Walk(ctx, func(e Entry) error {
		if e.Type == File && IsTemp(path.Base(e.Path)) {
			temps = append(temps, e.Path)
		}
		return nil
	}, func(string, error) {})
	n := 0
	for _, t := range temps {
		if s.Remove(ctx, t) == nil {
			n++
		}
	}
	return n, err
}

// Room tells what the filesystem holding the root has left, as the
// server's statvfs@openssh.com says.
func (s *SFTP) Room(ctx context.Context) (Room, error) {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return Room{}, err
	}
	st, err := sc.StatVFS(s.loc.Path)
	if err != nil {
		return Room{}, s.classify(c, sc, err)
	}
	return Room{Bytes: st.FreeSpace(), BytesTotal: st.TotalSpace(), Inodes: st.Ffree, InodesTotal: st.Files}, nil
}
