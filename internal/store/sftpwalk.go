package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/internal/errs"
)

// ErrNoExec says the server refused or could not run the find listing.
var ErrNoExec = errors.New("remote find is not available")

// Walk lists the tree with `find -printf` streams over SSH exec channels
// (see walkFind): no round trip per directory. Where the server has no
// shell (ForceCommand internal-sftp, no find), it falls back to parallel
// ReadDir.
func (s *SFTP) Walk(ctx context.Context, fn func(Entry) error, bad func(string, error)) error {
	err := s.walkFind(ctx, fn, bad)
	if errors.Is(err, ErrNoExec) {
		return s.walkReadDir(ctx, fn, bad)
	}
	return err
}

// PreciseMtimes reports whether the last listing carried sub-second mtimes.
func (s *SFTP) PreciseMtimes() bool { return s.listedByFind.Load() }

// NoFindReason says why the last listing did not use find ("" if it did
// or was not tried).
func (s *SFTP) NoFindReason() string {
	r, _ := s.noFind.Load().(string)
	return r
}

// RootFS is the type of the filesystem that holds the root ("ext4",
// "nfs4", "fuse.sshfs"), as the listing's find named it; "" when the tree
// was not listed by find.
func (s *SFTP) RootFS() string {
	r, _ := s.rootFS.Load().(string)
	return r
}

// IsNetworkFS says whether a filesystem type, as find's %F or /proc/mounts
// name it, is reached over the network: a Jira Data Center shared home is
// an NFS mount on each node, where every open and every directory read
// waits on the server.
func IsNetworkFS(fstype string) bool {
	switch fstype {
	case "nfs", "nfs4", "cifs", "smb2", "smb3", "smbfs", "ceph", "9p", "lustre", "afs", "gpfs", "glusterfs", "beegfs", "efs",
		"fuse": // a FUSE mount that names no subtype (bindfs); fuseblk is a local disk
		return true
	}
	return strings.HasPrefix(fstype, "fuse.") // sshfs, s3fs, glusterfs over FUSE
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// findFormat is one record per entry: "%y %i %n %s %T@ %m %U %G PATH" and
// the link target, each NUL-terminated; the first phase puts the device
// number and the filesystem type first.
const findFormat = `%y %i %n %s %T@ %m %U %G %P\0%l\0`

// Listing in two phases: one find lists the top findDepth levels (and the
// device of each entry; -H follows the root when it is a symlink, as the
// SFTP side does, and nothing below it), then up to findSessions finds list the
// directories at that depth in parallel, each on its own exec channel. On a
// VM with several cores, and above all on a shared home that is itself on
// NFS, where find waits on every directory, that divides the listing time;
// there (the root's filesystem is a network one) twice as many finds run.
const (
	findDepth    = 4
	findSessions = 4
)

func (s *SFTP) walkFind(ctx context.Context, fn func(Entry) error, bad func(string, error)) error {
	var mu sync.Mutex // fn and bad are called from one goroutine at a time
	emit := func(e Entry) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(e)
	}
	report := func(p string, err error) {
		mu.Lock()
		defer mu.Unlock()
		bad(p, err)
	}
	s.noFind.Store("")
	s.rootFS.Store("")
	below := func(ctx context.Context, dirs io.Reader) error {
		// xargs runs nothing when it reads no directories, exits 123 when a
		// find exited 1 (some entries unreadable, each reported) and stops
		// at once, exiting 124, when one exits 255: what any other failure
		// of find is turned into.
		complaints, err := s.runFind(ctx, fmt.Sprintf(`cd %s && LC_ALL=C xargs -0 -r sh -c 'find "$@" -xdev -mindepth 1 -printf "%s" || [ $? -eq 1 ] || exit 255' sh; s=$?; [ $s -eq 123 ] && s=1; printf 'cutover-end %%d\0' $s`,
			shellQuote(s.loc.Path), strings.ReplaceAll(findFormat, "%P", "%p")), dirs, nil, "./", func(rec, link string) error {
			e, ok, perr := parseFindRecord(rec, link)
			if perr != nil || !ok {
				return s.badRecord(e, perr, report)
			}
			return emit(e)
		})
		s.findComplaints(complaints, report)
		return err
	}
	// The finds of the second phase start as soon as the first one has its
	// session (a server's MaxSessions refuses the later ones, not it), so
	// that their remote shells (10-20 ms each) start while it runs; each
	// reads the directories it lists from its stdin once the first ends.
	pctx, pcancel := context.WithCancel(ctx)
	var pending []*pendingFind
	startAll := func() {
		for range findSessions {
			pending = append(pending, startPending(pctx, below))
		}
	}
	defer func() {
		pcancel()
		for _, p := range pending {
			p.abandon()
		}
	}()
	rootDev := ""
	var frontier []string
	complaints, err := s.runFind(ctx, fmt.Sprintf(`LC_ALL=C find -H %s -xdev -mindepth 0 -maxdepth %d -printf '%%D %%F %s'; printf 'cutover-end %%d\0' $?`,
		shellQuote(s.loc.Path), findDepth, findFormat), nil, startAll, "", func(rec, link string) error {
		dev, rec, _ := strings.Cut(rec, " ")
		fstype, rec, _ := strings.Cut(rec, " ")
		if rootDev == "" { // find prints its start point, the root, first
			rootDev = dev
			s.rootFS.Store(fstype)
			if e, ok, err := parseFindRecord(rec, link); err == nil && ok && e.Type == Dir {
				s.listedRoot.Store(&e) // with its mtime's nanoseconds, which SFTP's stat lacks
			}
			return nil
		}
		e, ok, perr := parseFindRecord(rec, link)
		if perr != nil || !ok {
			return s.badRecord(e, perr, report)
		}
		if e.Type == Dir && dev == rootDev && strings.Count(e.Path, "/") == findDepth-1 {
			frontier = append(frontier, e.Path)
		}
		return emit(e)
	})
	if rootDev == "" && (err == nil || errors.As(err, new(*findFailed))) {
		// Nothing was passed on, not even the root: a find that is not
		// GNU find (BusyBox has no -printf) or that could not run at all.
		// SFTP lists the tree instead and reports the root's own error.
		if err == nil {
			msg := "no message"
			if len(complaints) > 0 {
				msg = complaints[0]
			}
			err = fmt.Errorf("remote find listed nothing, not even the root: %s", msg)
		}
		s.noFind.Store(err.Error())
		return fmt.Errorf("%w: %w", ErrNoExec, err)
	}
	if p := s.shellTooSlow.Load(); p != nil && errors.Is(err, ErrNoExec) {
		s.noFind.Store(p.why)
	} else if errors.Is(err, ErrNoExec) {
		s.noFind.Store("the server runs no commands for this account (ForceCommand internal-sftp, a login shell that runs none, no /bin/sh or base64, or no session left under MaxSessions)")
	}
	s.findComplaints(complaints, report)
	if err != nil || len(frontier) == 0 {
		return err
	}
	// A server that allows fewer sessions per connection (MaxSessions)
	// refuses some: those groups run after the others, one at a time. The
	// listing cannot fall back to READDIR now that entries were passed on.
	var (
		deferred [][]byte
		dmu      sync.Mutex
		g        errgroup.Group
	)
	sessions := findSessions
	if IsNetworkFS(s.RootFS()) {
		sessions *= 2 // each find waits on the server for every directory
	}
	for len(pending) < sessions {
		pending = append(pending, startPending(pctx, below))
	}
	for k, p := range pending {
		var dirs bytes.Buffer
		for i := k; i < len(frontier); i += sessions {
			dirs.WriteString("./" + frontier[i] + "\x00")
		}
		g.Go(func() error {
			err := p.list(dirs.Bytes()) // none: it lists nothing
			switch {
			case errors.Is(err, ErrNoExec) && dirs.Len() == 0:
				return nil
			case errors.Is(err, ErrNoExec):
				dmu.Lock()
				deferred = append(deferred, dirs.Bytes())
				dmu.Unlock()
				return nil
			case err != nil:
				pcancel() // the others stop too
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, dirs := range deferred {
		// The server frees a session's slot a moment after it ended.
		err := below(ctx, bytes.NewReader(dirs))
		for try := 1; errors.Is(err, ErrNoExec) && try < 6; try++ {
			select {
			case <-time.After(time.Duration(try) * 100 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			err = below(ctx, bytes.NewReader(dirs))
		}
		if errors.Is(err, ErrNoExec) {
			// Not ErrNoExec itself: entries were passed on, so Walk must not
			// fall back to READDIR and pass them again.
			why := "the server refused another session (MaxSessions?)"
			if p := s.shellTooSlow.Load(); p != nil {
				why = p.why
			}
			return errs.Retryablef("list %s: %s", s, why)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pendingFind is a find of the listing's second phase, started before the
// directories it lists are known.
type pendingFind struct {
	in     *io.PipeWriter
	done   chan error
	handed bool
}

var errListingEnded = errors.New("the listing ended")

func startPending(ctx context.Context, below func(context.Context, io.Reader) error) *pendingFind {
	pr, pw := io.Pipe()
	p := &pendingFind{in: pw, done: make(chan error, 1)}
	go func() {
		err := below(ctx, pr)
		pr.CloseWithError(errListingEnded) // a session that was refused never reads its stdin
		p.done <- err
	}()
	return p
}

// list hands p its directories (none: it lists nothing) and waits for it.
func (p *pendingFind) list(dirs []byte) error {
	p.handed = true
	p.in.Write(dirs) // fails only when the find already ended, which its own error says why
	p.in.Close()
	return <-p.done
}

// abandon ends a find that was never handed its directories (the first
// phase failed): its context is cancelled first.
func (p *pendingFind) abandon() {
	if !p.handed {
		p.in.CloseWithError(errListingEnded)
		<-p.done
	}
}

// badRecord reports an entry of a type that is not copied, or fails the
// listing on a record it cannot parse.
func (s *SFTP) badRecord(e Entry, perr error, report func(string, error)) error {
	if perr != nil {
		return fmt.Errorf("list %s: %w", s, perr)
	}
	report(e.Path, unsupportedType(e.Mode))
	return nil
}

// runFind runs one find command and calls rec for each record, with strip
// removed from the start of each path; opened, when not nil, is called once
// the command has its session. It returns find's complaints about
// entries it could not read when find listed the rest, and a *findFailed
// when find failed as a whole.
func (s *SFTP) runFind(ctx context.Context, cmd string, stdin io.Reader, opened func(), strip string, rec func(rec, link string) error) ([]string, error) {
	rc, err := s.startSession(ctx, s.conns[0], cmd, stdin, opened)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := rc.out
	sawEnd, status := false, 0
	for {
		f1, err := r.ReadBytes(0)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errs.Retryablef("list %s: %w", s, err)
		}
		record := string(f1[:len(f1)-1])
		if st, ok := strings.CutPrefix(record, "cutover-end "); ok {
			sawEnd = true
			if status, err = strconv.Atoi(st); err != nil {
				return nil, fmt.Errorf("list %s: bad end of listing %q", s, record)
			}
			break
		}
		f2, err := r.ReadBytes(0)
		if err != nil {
			return nil, errs.Retryablef("list %s: truncated listing: %w", s, err)
		}
		if strip != "" {
			if i := strings.Index(record, " "+strip); i >= 0 && strings.Count(record[:i], " ") == 7 {
				record = record[:i+1] + record[i+1+len(strip):]
			}
		}
		if err := rec(record, string(f2[:len(f2)-1])); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !sawEnd {
		return nil, errs.Retryablef("list %s: listing ended early", s)
	}
	rc.Wait()
	var complaints []string
	for _, line := range strings.Split(strings.TrimSpace(rc.stderr.String()), "\n") {
		if strings.HasPrefix(line, "find: ") {
			complaints = append(complaints, line) // not the login shell's chatter (no home directory, motd)
		}
	}
	// Exit 1 with complaints is a listing that skipped what it could not
	// read, each reported; any other failure is the listing's own.
	if status != 0 && (status != 1 || len(complaints) == 0) {
		return nil, &findFailed{status: status, stderr: rc.stderr.String()}
	}
	s.listedByFind.Store(true)
	return complaints, nil
}

// findComplaints reports each entry find could not read. One that vanished
// between its directory's read and its stat (a live application's
// temporary file) matches fs.ErrNotExist.
func (s *SFTP) findComplaints(lines []string, bad func(string, error)) {
	for _, line := range lines {
		err := errors.New(strings.TrimPrefix(line, "find: "))
		if strings.HasSuffix(line, ": No such file or directory") {
			err = fmt.Errorf("%w (%s)", fs.ErrNotExist, err)
		}
		bad(findErrPath(line, s.loc.Path), err)
	}
}

// findFailed is a remote find that ran to its end and failed as a whole.
type findFailed struct {
	status int
	stderr string
}

func (f *findFailed) Error() string {
	// find's own first complaint, else the last line: the login shell's
	// chatter (no home directory, motd) comes first.
	msg := "no message"
	for _, line := range strings.Split(strings.TrimSpace(f.stderr), "\n") {
		if strings.HasPrefix(line, "find: ") {
			msg = line
			break
		}
		if line != "" {
			msg = line
		}
	}
	return fmt.Sprintf("remote find failed (exit %d): %s", f.status, msg)
}

// findErrPath extracts the root-relative path from a find error line.
func findErrPath(line, root string) string {
	i := strings.IndexAny(line, "'‘")
	if i < 0 {
		return ""
	}
	rest := line[i+1:]
	if strings.HasPrefix(line[i:], "‘") {
		rest = line[i+len("‘"):]
	}
	j := strings.LastIndexAny(rest, "'’")
	if j < 0 {
		return ""
	}
	p := strings.TrimPrefix(strings.TrimPrefix(rest[:j], root), "/")
	return strings.TrimPrefix(p, "./")
}

// parseFindRecord parses "%y %i %n %s %T@ %m %U %G %P" and the link target.
func parseFindRecord(rec, link string) (Entry, bool, error) {
	parts := strings.SplitN(rec, " ", 9)
	if len(parts) != 9 {
		return Entry{}, false, fmt.Errorf("bad listing record %q", rec)
	}
	// The path is copied out of the record: a substring would keep the
	// whole record (its mode, size, times: 60 bytes more) alive as long as
	// the listing, 60 MB for 10^6 entries.
	e := Entry{Path: strings.Clone(parts[8])}
	nums := make([]uint64, 0, 6)
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseUint(parts[i], 10, 64)
		if err != nil {
			return e, false, fmt.Errorf("bad listing record %q: %w", rec, err)
		}
		nums = append(nums, v)
	}
	mode, err := strconv.ParseUint(parts[5], 8, 32)
	if err != nil {
		return e, false, fmt.Errorf("bad mode in %q", rec)
	}
	mt, err := parseFindTime(parts[4])
	if err != nil {
		return e, false, fmt.Errorf("bad mtime in %q", rec)
	}
	e.Inode, e.Nlink, e.Size, e.UID, e.GID = nums[0], uint32(nums[1]), int64(nums[2]), uint32(nums[3]), uint32(nums[4])
	e.ModTime = mt
	e.Mode = unixPerm(uint32(mode))
	switch parts[0] {
	case "f":
		e.Type = File
	case "d":
		e.Type, e.Size = Dir, 0
	case "l":
		e.Type, e.Size, e.Target = Symlink, 0, link
	default: // not copied: the type is only for the message
		t, known := map[string]fs.FileMode{"p": fs.ModeNamedPipe, "s": fs.ModeSocket, "c": fs.ModeDevice | fs.ModeCharDevice, "b": fs.ModeDevice}[parts[0]]
		if !known {
			t = fs.ModeIrregular
		}
		e.Mode |= t
		return e, false, nil
	}
	return e, true, nil
}

func parseFindTime(s string) (Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, err
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return 0, err
		}
	}
	return Time(secs*1e9 + ns), nil
}

// unixPerm converts unix permission bits (with 07000) to an fs.FileMode.
func unixPerm(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// walkReadDir lists the tree with SFTP READDIR, several directories at once
// (see walkDirs).
func (s *SFTP) walkReadDir(ctx context.Context, fn func(Entry) error, bad func(string, error)) error {
	s.listedByFind.Store(false)
	fatal := func(rel string, err error) error {
		if rel == "" || errs.KindOf(err) == errs.Retryable {
			return fmt.Errorf("list %s: %w", s.abs(rel), err)
		}
		return nil
	}
	return walkDirs(ctx, 2*len(s.conns), s.readDir, fatal, fn, bad)
}

// readDir returns the entries of directory rel, passing to bad the symlinks
// whose target it cannot read; entries of types not copied are left out.
func (s *SFTP) readDir(ctx context.Context, rel string, bad func(string, error)) ([]Entry, error) {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return nil, err
	}
	infos, err := sc.ReadDir(s.abs(rel))
	if err = s.classify(c, sc, err); err != nil {
		return nil, err
	}
	var entries []Entry
	for _, fi := range infos {
		p := path.Join(rel, fi.Name())
		e, ok := sftpEntry(p, fi)
		if !ok {
			bad(p, unsupportedType(fi.Mode()))
			continue
		}
		if e.Type == Symlink {
			if e.Target, err = sc.ReadLink(s.abs(p)); err != nil {
				bad(p, err)
				continue
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}
