package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cutover/cutover/internal/errs"
)

// Local is a directory on a mounted filesystem (EFS/NFS, EBS, local disk).
type Local struct {
	// BatchSync skips the fsync of each file: the caller makes writes
	// durable in batches with Sync (one syncfs) before it records them.
	BatchSync bool
	root      string
	dirs      sync.Map // directories known to exist
	noSetgid  sync.Map // directories known to pass no setgid bit to what is made in them: true, or false when they do
	fsOnce    sync.Once
	network   string // see Network
	stages    stages // directories made under a temporary name (see StageDir)
}

var (
	_ Store          = (*Local)(nil)
	_ Linker         = (*Local)(nil)
	_ Roomer         = (*Local)(nil)
	_ Syncer         = (*Local)(nil)
	_ Stager         = (*Local)(nil)
	_ ReadBacker     = (*Local)(nil)
	_ ReadBackStager = (*Local)(nil)
	_ RootMeta       = (*Local)(nil)
	_ DirMaker       = (*Local)(nil)
)

// NewLocal returns a store rooted at the absolute directory root.
func NewLocal(root string) *Local { return &Local{root: filepath.Clean(root)} }

func (l *Local) String() string { return l.root }
func (l *Local) Close() error   { return nil }

// abs returns the absolute path of p, which is under the temporary name of
// a staged directory when p is in one.
func (l *Local) abs(p string) string {
	full, _ := l.locate(p)
	return full
}

// locate is abs, and says whether p is in a staged directory.
func (l *Local) locate(p string) (full string, staged bool) {
	p, staged = l.where(p)
	return filepath.Join(l.root, filepath.FromSlash(p)), staged
}

// unsupportedType says why an entry of mode m is not copied, and what to
// do about it, as rsync -a, which skips such files, says too.
func unsupportedType(m fs.FileMode) error {
	var kind string
	switch t := m.Type(); {
	case t&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	case t&fs.ModeCharDevice != 0:
		kind = "a character device"
	case t&fs.ModeDevice != 0:
		kind = "a block device"
	default:
		kind = fmt.Sprintf("a file of type %v", t)
	}
	return fmt.Errorf("%s, which cannot be copied (--exclude it to leave it out)", kind)
}

func entryFromInfo(rel string, fi fs.FileInfo) (Entry, bool) {
	e := Entry{Path: rel, ModTime: TimeOf(fi.ModTime()), Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
	switch {
	case fi.Mode().IsRegular():
		e.Type, e.Size = File, fi.Size()
	case fi.IsDir():
		e.Type = Dir
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Type = Symlink
	default:
		return e, false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = st.Uid, st.Gid
		e.Inode, e.Nlink = st.Ino, uint32(st.Nlink)
	}
	return e, true
}

// Walk lists the tree, reading up to walkWorkers directories at once, four
// times as many on a network filesystem (see walkDirs). Sockets, devices
// and fifos are reported to bad.
func (l *Local) Walk(ctx context.Context, fn func(Entry) error, bad func(string, error)) error {
	if _, err := os.Lstat(l.root); err != nil {
		return errs.Fatalf("list %s: %w", l.root, err)
	}
	fatal := func(rel string, err error) error {
		if rel == "" {
			return errs.Fatalf("list %s: %w", l.root, err)
		}
		return nil
	}
	return walkDirs(ctx, l.walkers(), l.readDir, fatal, fn, bad)
}

// readDir returns the entries of directory rel, passing to bad those it
// cannot read or does not copy.
func (l *Local) readDir(_ context.Context, rel string, bad func(string, error)) ([]Entry, error) {
	names, err := readDirNames(l.abs(rel))
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(names))
	for _, name := range names {
		if IsTemp(name) {
			continue // ours, with what is in it (a staged directory)
		}
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		fi, err := os.Lstat(l.abs(p))
		if err != nil {
			if !errs.IsNotExist(err) {
				bad(p, err)
			}
			continue
		}
		e, ok := entryFromInfo(p, fi)
		if !ok {
			bad(p, unsupportedType(fi.Mode()))
			continue
		}
		if e.Type == Symlink {
			if e.Target, err = os.Readlink(l.abs(p)); err != nil {
				bad(p, err)
				continue
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// walkers is how many directories to read at once: walkWorkers, four times
// as many on a network filesystem.
func (l *Local) walkers() int {
	if l.Network() != "" {
		return 4 * walkWorkers
	}
	return walkWorkers
}

// walkWorkers is how many directories Walk reads at once: on NFS (a shared
// home mounted from a filer, or EFS as the target) every directory costs
// round trips to the server, which a single reader would wait for in turn.
const walkWorkers = 16

func readDirNames(dir string) ([]string, error) {
	f, err := openFile(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func (l *Local) Lstat(_ context.Context, p string) (Entry, error) {
	fi, err := os.Lstat(l.abs(p))
	if err != nil {
		return Entry{}, err
	}
	e, ok := entryFromInfo(p, fi)
	if !ok {
		return e, errs.Wrap(errs.Permanent, fmt.Errorf("%s: %w", p, unsupportedType(fi.Mode())))
	}
	if e.Type == Symlink {
		e.Target, err = os.Readlink(l.abs(p))
	}
	return e, err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (l *Local) ReadFile(ctx context.Context, e Entry, w io.Writer) (Entry, error) {
	return l.read(ctx, e, w, readCopy)
}

// How read reads: into a buffer (readCopy); the same, once the file's
// pages are dropped from the page cache (readUncached, see ReadBack); or,
// for a file of mapMin bytes or more, through a mapping (readMapped),
// which only a w that takes the bytes in Write's goroutine may be given.
const (
	readCopy = iota
	readUncached
	readMap
)

// read is ReadFile, reading as how says.
func (l *Local) read(ctx context.Context, e Entry, w io.Writer, how int) (Entry, error) {
	fi, err := readPath(ctx, l.abs(e.Path), w, how, e.Size)
	if err != nil {
		return Entry{}, err
	}
	after, _ := entryFromInfo(e.Path, fi)
	return after, nil
}

// readPath opens the file at full and reads it as readOpen does.
func readPath(ctx context.Context, full string, w io.Writer, how int, size int64) (fs.FileInfo, error) {
	f, err := openFile(full, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readOpen(ctx, f, w, how, size)
}

// readOpen writes the content of f, read from its start as how says, to
// w, and returns f's metadata after the read; size is what f is expected
// to hold (a mapping is made only for a file expected to be large).
func readOpen(ctx context.Context, f *os.File, w io.Writer, how int, size int64) (fs.FileInfo, error) {
	if how == readUncached {
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return nil, fmt.Errorf("drop the cached pages of %s: %w", f.Name(), err)
		}
	}
	mapped := false
	if how == readMap && size >= mapMin {
		// The size now, which a mapping needs; the read is judged by the
		// one after it, as any other.
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() >= mapMin {
			if err := readMapped(ctx, f, fi.Size(), w); err != nil {
				return nil, err
			}
			mapped = true
		}
	}
	if !mapped {
		buf := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(buf)
		if _, err := io.CopyBuffer(w, readerOnly{ctxReader{ctx, io.NewSectionReader(f, 0, math.MaxInt64)}}, *buf); err != nil {
			return nil, err
		}
	}
	return f.Stat()
}

// readerOnly hides WriterTo/ReaderFrom so that CopyBuffer uses our buffer.
type readerOnly struct{ io.Reader }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ensureDir makes sure dir exists: one mkdir when its parent exists, as it
// does when directories are created parents first.
func (l *Local) ensureDir(dir string) error {
	if _, ok := l.dirs.Load(dir); ok {
		return nil
	}
	err := os.Mkdir(dir, 0o755)
	switch {
	case errors.Is(err, fs.ErrExist):
		stat := os.Lstat
		if dir == l.root {
			stat = os.Stat // the root may be a link to the directory (/var/atlassian/shared → /mnt/efs)
		}
		fi, serr := stat(dir)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: a %v is in the way", dir, fi.Mode().Type())
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	l.dirs.Store(dir, true)
	return nil
}

func (l *Local) Mkdir(_ context.Context, p string) error {
	if err := l.ensureDir(l.abs(p)); err != nil {
		return fmt.Errorf("mkdir %s: %w", p, err)
	}
	return nil
}

// MakeDir makes directory e with its mode, and its owner when owner, where
// mkdir gives the mode whole: no setuid, setgid or sticky bit, nothing the
// umask takes away, no setgid bit passed on by its parent, and room for
// its owner to write in it (root too: a container's root may lack
// CAP_DAC_OVERRIDE). Otherwise, or when the directory is there already,
// it is made as Mkdir does and not whole: its metadata is set at the end.
func (l *Local) MakeDir(ctx context.Context, e Entry, owner bool) (bool, error) {
	full := l.abs(e.Path)
	perm := e.Mode & fs.ModePerm
	if _, ok := l.dirs.Load(full); ok || e.Mode != perm || perm&umask != 0 || perm&0o300 != 0o300 || !l.passesNoSetgid(filepath.Dir(full)) {
		return false, l.Mkdir(ctx, e.Path)
	}
	if err := unix.Mkdir(full, uint32(perm)); err != nil {
		// There already (made on the way to a file), in the way, or
		// its parent missing: as Mkdir.
		return false, l.Mkdir(ctx, e.Path)
	}
	if owner {
		if err := os.Lchown(full, int(e.UID), int(e.GID)); err != nil {
			return false, fmt.Errorf("mkdir %s: chown: %w", e.Path, err)
		}
	}
	l.dirs.Store(full, true)
	l.noSetgid.Store(full, true)
	return true, nil
}

// passesNoSetgid tells whether directory dir is known to have no setgid
// bit, which mkdir would pass on to a new directory in it (with dir's
// group): made whole in this run, or looked at once.
func (l *Local) passesNoSetgid(dir string) bool {
	if v, ok := l.noSetgid.Load(dir); ok {
		return v.(bool)
	}
	fi, err := os.Stat(dir)
	no := err == nil && fi.Mode()&fs.ModeSetgid == 0
	if err == nil {
		l.noSetgid.Store(dir, no)
	}
	return no
}

// SetMtime sets the mtime of the entry at p, not following a symlink.
func (l *Local) SetMtime(_ context.Context, p string, t Time) error {
	if err := setMtimeAt(l.abs(p), t); err != nil {
		return fmt.Errorf("set mtime of %s: %w", p, err)
	}
	return nil
}

func (l *Local) Put(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error)) error {
	return putStaged(ctx, l, e, owner, fill)
}

// Stage writes e under a temporary name next to e.Path, with its metadata;
// Commit renames it into place. In a staged directory (see StageDir) it
// writes e under its own name, and Commit has nothing left to do.
func (l *Local) Stage(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error)) (Staged, error) {
	return l.stage(ctx, e, owner, fill, nil)
}

// StageReadBack is Stage, and then reads the file back as ReadBack does:
// on a local disk through the descriptor that wrote it, before closing it,
// which costs no second open by name and finds its pages still in the
// processor's caches (a full copy: 3.25 s against 3.44 s, see
// docs/benchmarks.md); on a network filesystem once it is closed (written
// back to the server), past the page cache.
func (l *Local) StageReadBack(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error), back io.Writer) (Staged, error) {
	return l.stage(ctx, e, owner, fill, back)
}

// stage is Stage, reading the file back into back unless it is nil.
func (l *Local) stage(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error), back io.Writer) (st Staged, err error) {
	full, direct := l.locate(e.Path)
	dir := filepath.Dir(full)
	if err := l.ensureDir(dir); err != nil {
		return nil, fmt.Errorf("put %s: %w", e.Path, err)
	}
	var f *os.File
	var chmod bool
	if direct {
		// In a staged directory: under its own name, which nothing sees
		// before the directory is in place (a killed run's unfinished
		// files are removed then, see RecoverDir). Unless a file is there
		// already: replaced, as anywhere else.
		perm, ch := createPerm(e.Mode)
		f, err = openFile(full, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, perm)
		switch {
		case err == nil:
			chmod = ch
		case errors.Is(err, fs.ErrExist):
			direct = false
		default:
			return nil, fmt.Errorf("put %s: %w", e.Path, err)
		}
	}
	if !direct {
		if f, chmod, err = createTemp(dir, e.Mode); err != nil {
			return nil, fmt.Errorf("put %s: %w", e.Path, err)
		}
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := fill(f)
	if err != nil {
		return nil, err
	}
	if n != e.Size {
		return nil, errs.Retryablef("put %s: wrote %d bytes, want %d", e.Path, n, e.Size)
	}
	if err := setMetaFile(f, e, owner, chmod); err != nil {
		return nil, fmt.Errorf("put %s: %w", e.Path, err)
	}
	if !l.BatchSync {
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("put %s: fsync: %w", e.Path, err)
		}
	}
	// A read-back that fails is worth another try, as the one after a
	// Commit is (verifyWritten).
	network := l.Network() != ""
	if back != nil && !network {
		if _, err := readOpen(ctx, f, back, readMap, e.Size); err != nil {
			return nil, errs.Retryablef("put %s: read back: %w", e.Path, err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("put %s: close: %w", e.Path, err)
	}
	if back != nil && network {
		if _, err := readPath(ctx, tmp, back, readUncached, e.Size); err != nil {
			return nil, errs.Retryablef("put %s: read back: %w", e.Path, err)
		}
	}
	return &staged{
		commit: func() error {
			if direct {
				return nil
			}
			if err := rename(tmp, full); err != nil {
				os.Remove(tmp)
				return fmt.Errorf("put %s: rename: %w", e.Path, err)
			}
			return nil
		},
		abort: func() { os.Remove(tmp) },
	}, nil
}

func setMetaLocal(full string, e Entry, owner bool) error {
	if owner {
		if err := os.Lchown(full, int(e.UID), int(e.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if e.Type != Symlink {
		if err := os.Chmod(full, toOSMode(e.Mode)); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := setMtimeAt(full, e.ModTime); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

// setMtimeAt sets the atime and mtime of the entry at full to t, not
// following a symlink.
func setMtimeAt(full string, t Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, full, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// setMetaFile applies e's owner, mode (when chmod) and mtime through an
// open file: no path lookups.
func setMetaFile(f *os.File, e Entry, owner, chmod bool) error {
	if owner {
		if err := f.Chown(int(e.UID), int(e.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if chmod {
		if err := f.Chmod(toOSMode(e.Mode)); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(e.ModTime.UnixNano()), unix.NsecToTimespec(e.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(int(f.Fd()), "", ts, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

// umask is the process's file mode creation mask, read once at start.
var umask = func() fs.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return fs.FileMode(m)
}()

// createTemp creates a temporary file in dir for content that will have
// mode, and says whether the file still needs a chmod. On a network
// filesystem every chmod is a round trip to the server (1–3 ms on EFS), so
// the file is created with its final permissions when it can be: when
// they leave its owner the right to write (a file created read-only is
// written through its open descriptor on a local disk, but not by every
// NFS server) and carry no setuid, setgid or sticky bit (a chown clears
// the first two; they are set after it). Under its temporary name the
// content is then readable by whom it will be readable by under its own.
func createTemp(dir string, mode fs.FileMode) (f *os.File, chmod bool, err error) {
	perm, chmod := createPerm(mode)
	for range 100 {
		name := filepath.Join(dir, TempPrefix+strconv.FormatUint(uint64(rand.Uint32()), 10)+".part")
		f, err = openFile(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			return f, chmod, err
		}
	}
	return nil, false, err
}

// createPerm returns the permissions to create a file of mode with (see
// createTemp), and whether it needs a chmod once written.
func createPerm(mode fs.FileMode) (perm fs.FileMode, chmod bool) {
	perm = mode & fs.ModePerm
	chmod = mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || perm&0o200 == 0 || perm&umask != 0
	if chmod {
		perm = 0o600
	}
	return perm, chmod
}

// rename is rename(2). os.Rename first stats the new name, to refuse to
// replace a directory (rename(2) refuses that itself): a round trip per
// file on a network filesystem.
func rename(from, to string) error {
	if err := unix.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// toOSMode converts permission bits (with setuid etc. as fs.FileMode flags) for os.Chmod.
func toOSMode(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

func (l *Local) Symlink(_ context.Context, e Entry, owner bool) error {
	full := l.abs(e.Path)
	dir := filepath.Dir(full)
	if err := l.ensureDir(dir); err != nil {
		return fmt.Errorf("symlink %s: %w", e.Path, err)
	}
	tmp := filepath.Join(dir, fmt.Sprintf("%s%d.part", TempPrefix, time.Now().UnixNano()))
	if err := os.Symlink(e.Target, tmp); err != nil {
		return fmt.Errorf("symlink %s: %w", e.Path, err)
	}
	if err := setMetaLocal(tmp, e, owner); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("symlink %s: %w", e.Path, err)
	}
	if err := rename(tmp, full); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("symlink %s: %w", e.Path, err)
	}
	return nil
}

func (l *Local) SetMeta(_ context.Context, e Entry, owner bool) error {
	if err := setMetaLocal(l.abs(e.Path), e, owner); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	return nil
}

func (l *Local) StatRoot(context.Context) (Entry, error) {
	fi, err := os.Stat(l.root)
	if err != nil {
		return Entry{}, err
	}
	e, _ := entryFromInfo("", fi)
	return e, nil
}

func (l *Local) SetRootMeta(_ context.Context, e Entry, owner bool) error {
	e.Type = Dir
	// The trailing slash follows a root that is a symlink, which lchown
	// and utimensat(AT_SYMLINK_NOFOLLOW) would otherwise change instead.
	if err := setMetaLocal(l.root+"/", e, owner); err != nil {
		return fmt.Errorf("the root %s: %w", l.root, err)
	}
	return nil
}

func (l *Local) Link(_ context.Context, oldPath, newPath string) error {
	full := l.abs(newPath)
	if err := l.ensureDir(filepath.Dir(full)); err != nil {
		return err
	}
	tmp := tempName(filepath.Dir(full))
	if err := os.Link(l.abs(oldPath), tmp); err != nil {
		return fmt.Errorf("link %s: %w", newPath, err)
	}
	if err := rename(tmp, full); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", newPath, err)
	}
	// Renaming a link onto a name of the same file does nothing and
	// leaves both names (POSIX): newPath was already this file's.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("link %s: remove %s: %w", newPath, tmp, err)
	}
	return nil
}

func (l *Local) Remove(_ context.Context, p string) error {
	err := os.Remove(l.abs(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		l.dirs.Delete(l.abs(p))
	}
	return err
}

// CleanTemp removes the temporary files a killed run left, reading
// directories as Walk does, several at once: on EFS each directory read is
// a round trip, and one reader at a time took minutes for a shared home of
// 10^5 directories before a resumed run could start.
func (l *Local) CleanTemp(ctx context.Context) (int, error) {
	var n atomic.Int64
	list := func(_ context.Context, rel string, _ func(string, error)) ([]Entry, error) {
		des, err := os.ReadDir(l.abs(rel))
		if err != nil {
			return nil, err
		}
		var dirs []Entry
		for _, d := range des {
			p := d.Name()
			if rel != "" {
				p = rel + "/" + p
			}
			switch {
			case d.IsDir():
				dirs = append(dirs, Entry{Path: p, Type: Dir})
			case IsTemp(d.Name()):
				if os.Remove(l.abs(p)) == nil {
					n.Add(1)
				}
			}
		}
		return dirs, nil
	}
	// What cannot be read is skipped, as before: the rerun's copy meets it.
	err := walkDirs(ctx, l.walkers(), list, func(string, error) error { return nil }, func(Entry) error { return nil }, func(string, error) {})
	return int(n.Load()), err
}

// Room tells what the filesystem holding the root has left.
func (l *Local) Room(context.Context) (Room, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(l.root, &st); err != nil {
		return Room{}, err
	}
	bs := uint64(st.Frsize) // the unit of the block counts (statfs(2)); an NFS client's Bsize is its wsize
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	return Room{Bytes: st.Bavail * bs, BytesTotal: st.Blocks * bs, Inodes: st.Ffree, InodesTotal: st.Files}, nil
}

// Sync makes every write to the filesystem holding the root durable (syncfs).
func (l *Local) Sync(context.Context) error {
	f, err := os.Open(l.root)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", l.root, err)
	}
	return nil
}
