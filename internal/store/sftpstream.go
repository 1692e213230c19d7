package store

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/cutover/cutover/internal/errs"
)

var _ Streamer = (*SFTP)(nil)

// ErrStreamChanged says a file changed, or could not be read, while a
// stream sent its batch.
var ErrStreamChanged = errors.New("a file changed or could not be read while the stream sent it")

// streamScript serves batches on one exec channel, so the login shell
// starts once per stream, not once per batch. Each batch arrives as its
// length in bytes on a line, then that many bytes of NUL-separated names
// (read by GNU head, which reads no further than it is told to), each
// starting with "./" so that tar cannot take one for an option (as tar
// before 1.29, without --verbatim-files-from, would); GNU tar archives them
// (no recursion, hard links sent as content, PAX headers for nanosecond
// mtimes and any name, 128 KiB writes) and a
// 512-byte line after the archive gives tar's exit status: 0 all read, 1
// some file changed while read (tar checks size and ctime once done).
// Status 2 (a file could not be read) ends the channel.
const streamScript = `cd %s || exit 3
case $(LC_ALL=C tar --version 2>/dev/null; LC_ALL=C head --version 2>/dev/null) in
  *"GNU tar"*"GNU coreutils"*) echo cutover-tar-1 ;;
  *) echo cutover-no-tar; exit 0 ;;
esac
while read -r n && [ "$n" -gt 0 ]; do
  head -c "$n" | LC_ALL=C tar -c -f - -b 256 --format=posix --pax-option=delete=atime,delete=ctime --null --no-recursion --hard-dereference -T - 2>/dev/null
  s=$?
  [ $s -le 1 ] || exit $s
  printf '%%-511s\n' "cutover-batch-end $s"
done
`

// tarStream is one remote shell serving batches.
type tarStream struct {
	s      *SFTP
	c      *sshConn
	rc     *remoteCmd
	stdin  *io.PipeWriter
	closed sync.Once
}

// OpenStream starts a remote shell that streams batches with GNU tar;
// ErrNoExec when the host cannot run it.
func (s *SFTP) OpenStream(ctx context.Context) (FileStream, error) {
	pr, pw := io.Pipe()
	c := s.streamConn()
	rc, err := s.startRemoteOn(context.WithoutCancel(ctx), c, fmt.Sprintf(streamScript, shellQuote(s.loc.Path)), pr)
	if err != nil {
		s.streamDone(c)
		pw.Close()
		return nil, err
	}
	t := &tarStream{s: s, c: c, rc: rc, stdin: pw}
	hello, err := rc.out.ReadString('\n')
	if err != nil || hello != "cutover-tar-1\n" {
		t.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, errs.Retryablef("stream from %s: %w", s, err)
		}
		return nil, ErrNoExec
	}
	return t, nil
}

func (t *tarStream) Close() error {
	t.stdin.Close()
	t.rc.Close()
	t.closed.Do(func() { t.s.streamDone(t.c) })
	return nil
}

// streamConn picks the connection for a new stream and counts the stream
// on it: an open connection that carries no stream yet, else one not yet
// open (dialed when the stream starts), else the open one with the fewest
// streams. A copy that needs one stream thus runs on the connection the
// listing opened and waits for no dial (35-45 ms on loopback); the streams
// of a large copy each get a connection, since one sshd process encrypts
// the whole of a connection.
func (s *SFTP) streamConn() *sshConn {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	var idle, closed, least *sshConn
	for _, c := range s.conns {
		c.mu.Lock()
		open := c.sc != nil
		c.mu.Unlock()
		switch {
		case open && c.streams == 0 && idle == nil:
			idle = c
		case !open && closed == nil:
			closed = c
		}
		if open && (least == nil || c.streams < least.streams) {
			least = c
		}
	}
	c := cmp.Or(idle, closed, least, s.conns[0])
	c.streams++
	return c
}

func (s *SFTP) streamDone(c *sshConn) {
	s.streamMu.Lock()
	c.streams--
	s.streamMu.Unlock()
}

func (t *tarStream) ReadFiles(ctx context.Context, es []Entry, fn func(i int, at Entry, r io.Reader) error) error {
	if len(es) == 0 {
		return nil // an empty batch would end the remote loop
	}
	var names bytes.Buffer
	for _, e := range es {
		names.WriteString("./")
		names.WriteString(e.Path)
		names.WriteByte(0)
	}
	req := append([]byte(strconv.Itoa(names.Len())+"\n"), names.Bytes()...)
	wrote := make(chan error, 1)
	go func() { _, err := t.stdin.Write(req); wrote <- err }()
	release := t.s.interruptible(ctx, t.c, func() { t.rc.sess.Close() })
	defer release()
	err := t.read(es, fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	if err := <-wrote; err != nil {
		return t.fail(err)
	}
	return nil
}

func (t *tarStream) read(es []Entry, fn func(i int, at Entry, r io.Reader) error) error {
	tr := tar.NewReader(t.rc.out)
	next := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return t.fail(err)
		}
		i := indexFrom(es, next, strings.TrimPrefix(h.Name, "./"))
		if i < 0 {
			return t.fail(fmt.Errorf("unexpected entry %q", h.Name))
		}
		next = i + 1
		if h.Typeflag != tar.TypeReg {
			continue // no longer a file: the caller looks at it alone
		}
		at := es[i]
		at.Size, at.ModTime = h.Size, TimeOf(h.ModTime)
		at.UID, at.GID, at.Mode = uint32(h.Uid), uint32(h.Gid), unixPerm(uint32(h.Mode))
		if err := fn(i, at, tr); err != nil {
			return err
		}
	}
	status, err := readBatchEnd(t.rc.out)
	if err != nil {
		return t.fail(err)
	}
	if status != 0 {
		return ErrStreamChanged
	}
	return nil
}

// readBatchEnd skips the zeros that pad the archive to a whole record and
// reads the status line that follows.
func readBatchEnd(r *bufio.Reader) (int, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != 0 {
			r.UnreadByte()
			break
		}
	}
	var line [512]byte
	if _, err := io.ReadFull(r, line[:]); err != nil {
		return 0, err
	}
	f := strings.Fields(string(line[:]))
	if len(f) != 2 || f[0] != "cutover-batch-end" {
		return 0, fmt.Errorf("bad batch end %q", strings.TrimSpace(string(line[:])))
	}
	return strconv.Atoi(f[1])
}

// fail reports a broken stream; a file that could not be read ends the
// remote shell (tar status 2), and that is ErrStreamChanged too, so the
// caller looks at each file alone.
func (t *tarStream) fail(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		var ee interface{ ExitStatus() int }
		if werr := t.rc.Wait(); errors.As(werr, &ee) && ee.ExitStatus() == 2 {
			return fmt.Errorf("%w (tar exit status 2)", ErrStreamChanged)
		}
	}
	return errs.Retryablef("stream from %s: %w", t.s, err)
}

// indexFrom finds name in es at or after from.
func indexFrom(es []Entry, from int, name string) int {
	for i := from; i < len(es); i++ {
		if es[i].Path == name {
			return i
		}
	}
	return -1
}
