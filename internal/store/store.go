// Package store is one side of a file copy: a local directory (an EFS/NFS
// mount, EBS, a local disk) or a tree on a VM reached over SFTP.
//
// Paths are slash-separated and relative to the store's root; a Store never
// reads or writes outside its root and never follows symlinks. Writes are
// atomic: a file is written under a temporary name in its final directory,
// synced, and renamed into place, so a killed run never leaves a partial file
// under a real name. It is not responsible for deciding what to copy (see
// package plan) nor for retries (see package migrate).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/cutover/cutover/checksum"
)

// EntryType is the kind of a tree entry.
type EntryType uint8

const (
	File EntryType = iota + 1
	Dir
	Symlink
)

func (t EntryType) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return "unknown"
}

// Entry describes one file, directory or symlink.
//
// Fields are ordered and sized to pack tightly (80 bytes, was 104 with a
// time.Time and int owners): a sync of 10^6 files holds 10^6 of them, and a
// run with no state twice that.
type Entry struct {
	Path    string // relative to the root, slash-separated, never "" or absolute
	Target  string // symlink target, verbatim
	ModTime Time
	Size    int64
	Inode   uint64 // 0 when the lister cannot tell
	UID     uint32
	GID     uint32
	Mode    fs.FileMode // permission bits incl. setuid/setgid/sticky
	Nlink   uint32      // 0 when the lister cannot tell
	Type    EntryType
}

// Time is a modification time in nanoseconds since the Unix epoch (the
// manifest's unit): 8 bytes where a time.Time takes 24.
type Time int64

// TimeOf converts t.
func TimeOf(t time.Time) Time { return Time(t.UnixNano()) }

// Time converts t to a time.Time.
func (t Time) Time() time.Time { return time.Unix(0, int64(t)) }

// Unix gives the whole seconds of t, rounded down as time.Time's Unix does.
func (t Time) Unix() int64 {
	s := int64(t) / 1e9
	if int64(t)%1e9 < 0 {
		s--
	}
	return s
}

// UnixNano gives t in nanoseconds.
func (t Time) UnixNano() int64 { return int64(t) }

// Store is one side of a copy. Methods are safe for concurrent use.
//
// Errors: a missing path yields an error matching fs.ErrNotExist; errors that
// a retry may cure (a lost connection) are classified errs.Retryable; the
// Store reconnects by itself on the next call.
type Store interface {
	// String names the store for logs, without secrets.
	String() string
	// Walk calls fn for every entry under the root (not the root itself), in
	// no particular order, from one goroutine at a time. Entries that cannot
	// be listed are passed to bad and the walk goes on.
	Walk(ctx context.Context, fn func(Entry) error, bad func(path string, err error)) error
	// Lstat describes one entry without following symlinks.
	Lstat(ctx context.Context, path string) (Entry, error)
	// ReadFile writes the content of the file e to w and returns the file's
	// size and mtime as they were once reading had ended, so that callers can
	// tell a file that changed while it was read.
	ReadFile(ctx context.Context, e Entry, w io.Writer) (after Entry, err error)
	// Put writes a regular file atomically: fill writes its content into a
	// temporary file next to e.Path, which is then synced, renamed to
	// e.Path, and given e's mode, mtime and (when owner) owner.
	Put(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error)) error
	// Mkdir creates directory path and any missing parents.
	Mkdir(ctx context.Context, path string) error
	// Symlink creates (or atomically replaces) the symlink e.
	Symlink(ctx context.Context, e Entry, owner bool) error
	// SetMeta applies e's mode, mtime and (when owner) owner to an existing entry.
	SetMeta(ctx context.Context, e Entry, owner bool) error
	// Remove deletes a file, a symlink or an empty directory.
	Remove(ctx context.Context, path string) error
	// CleanTemp removes temporary files a killed run left behind.
	CleanTemp(ctx context.Context) (int, error)
	Close() error
}

// RootMeta is implemented by stores whose root directory's own mode, owner
// and mtime can be read and set, following the root when it is a symlink
// (a shared home reached through a link). The entry's Path is "".
type RootMeta interface {
	StatRoot(ctx context.Context) (Entry, error)
	SetRootMeta(ctx context.Context, e Entry, owner bool) error
}

// DirMaker is implemented by stores that can make a directory with its
// mode and owner at once, so that once the run has written into it only
// its mtime is left to set: one operation instead of three per directory
// at the end of a copy (11,726 directories in the benchmark's tree).
type DirMaker interface {
	// MakeDir makes directory e (as Mkdir does) and reports whole when it
	// made it here with e's mode and, when owner, e's owner.
	MakeDir(ctx context.Context, e Entry, owner bool) (whole bool, err error)
	// SetMtime sets the mtime of the entry at p, not following a symlink.
	SetMtime(ctx context.Context, p string, t Time) error
}

// Linker is implemented by stores that can make hard links.
type Linker interface {
	Link(ctx context.Context, oldPath, newPath string) error
}

// Roomer is implemented by stores that can tell what the filesystem
// holding their root has left (df, df -i).
type Roomer interface {
	Room(ctx context.Context) (Room, error)
}

// Room is what a filesystem has left, in bytes and inodes.
type Room struct {
	Bytes, BytesTotal   uint64
	Inodes, InodesTotal uint64 // InodesTotal 0: the filesystem reports none (btrfs)
}

// InodesShort says inodes, not bytes, are what runs out first: a smaller
// share of them is left.
func (r Room) InodesShort() bool {
	return r.InodesTotal > 0 && r.BytesTotal > 0 &&
		float64(r.Inodes)/float64(r.InodesTotal) < float64(r.Bytes)/float64(r.BytesTotal)
}

// Syncer is implemented by stores that can make all earlier writes durable
// at once (a local filesystem's syncfs), cheaper than one fsync per file.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Stager is implemented by stores that can write a file in two steps, so a
// caller can hold several written files back until it knows their source
// was consistent. Put is Stage followed by Commit.
type Stager interface {
	// Stage writes e as Put does, under a temporary name next to e.Path.
	Stage(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error)) (Staged, error)
}

// DirStager is implemented by stores that can make a directory new to the
// target under a temporary name beside its own: what a run writes in it
// then goes under its own name, with no temporary file and rename each
// (a rename per file was 8% of a full copy's time on a local disk, and is
// a round trip per file on EFS), and the directory is renamed into place
// once, by PublishDir. Until then nothing in it is visible under a real
// name. Paths are relative to the root, temp is a sibling of path.
type DirStager interface {
	// StageDir makes directory path, which must not exist, at temp; every
	// operation on path and below then acts on temp. ErrNotStaged when
	// path exists or its parent does not: it is then made as any other.
	StageDir(ctx context.Context, path, temp string) error
	// PublishDir renames staged directory path into place, merging it
	// into a directory that appeared there meanwhile.
	PublishDir(ctx context.Context, path string) error
	// RecoverDir puts in place directory temp, which a run killed before
	// its PublishDir left staged for path, after removing every regular
	// file in it that keep refuses (given its path under path): those
	// that run had not finished. It returns how many it removed; a temp
	// that is gone (published before it was forgotten) is no error.
	RecoverDir(ctx context.Context, path, temp string, keep func(path string) (bool, error)) (int, error)
}

// ErrNotStaged says a directory cannot be staged: it is made in place.
var ErrNotStaged = errors.New("directory not staged")

// Staged is a file written under a temporary name.
type Staged interface {
	// Commit renames it to its real name; on failure it is removed.
	Commit() error
	// Abort removes it.
	Abort()
}

// putStaged is Put for a Stager: Stage, then Commit.
func putStaged(ctx context.Context, s Stager, e Entry, owner bool, fill func(io.Writer) (int64, error)) error {
	st, err := s.Stage(ctx, e, owner, fill)
	if err != nil {
		return err
	}
	return st.Commit()
}

type staged struct {
	commit func() error
	abort  func()
}

func (s *staged) Commit() error { return s.commit() }
func (s *staged) Abort()        { s.abort() }

// Streamer is implemented by stores that can send many files in one
// stream (GNU tar over an SSH exec channel), without the request per file
// and per chunk that SFTP needs.
type Streamer interface {
	// OpenStream starts a stream; ErrNoExec says the store cannot stream.
	OpenStream(ctx context.Context) (FileStream, error)
}

// FileStream sends batches of files, one batch at a time.
type FileStream interface {
	// ReadFiles calls fn, in order, for each file of es it could read, with
	// its index in es, the entry as it stood when reading began (size,
	// mtime, mode, owner) and its content. Files it could not read are left
	// out: the caller reads them one by one to learn why. ErrStreamChanged
	// says some file changed while it was read, or one could not be read,
	// without saying which: the caller discards all that fn received. After
	// any error the stream must be closed.
	ReadFiles(ctx context.Context, es []Entry, fn func(i int, at Entry, r io.Reader) error) error
	Close() error
}

// TempPrefix starts the name of every temporary file a Store writes.
const TempPrefix = ".cutover-tmp-"

// IsTemp reports whether a base name is one of our temporary files.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, TempPrefix) && strings.HasSuffix(name, ".part")
}

// CleanPath checks that p is a relative, slash-separated path that stays
// inside the root.
func CleanPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is not relative", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("path %q is not clean", p)
		}
	}
	return nil
}

// Hasher is implemented by stores that can hash files where they are
// (b3sum, openssl or sha256sum on a remote host), so no content travels. fn is
// called once with the index of each path in paths, its error ErrNoExec
// for a file the store cannot hash there; HashFiles returns an error when
// the capability is not available, and the caller then reads the content.
type Hasher interface {
	HashFiles(ctx context.Context, paths []string, algo checksum.Algorithm, fn func(i int, sum checksum.Sum, err error)) error
	// FastestHash is the algorithm the store hashes fastest where it is.
	FastestHash(ctx context.Context) checksum.Algorithm
}

// DirReader is implemented by stores that can list one directory; path ""
// is the root.
type DirReader interface {
	ReadDir(ctx context.Context, path string) ([]Entry, error)
}

// RandomReader is implemented by stores that can read part of a file.
type RandomReader interface {
	// ReadAt fills p from offset off of the file at path.
	ReadAt(ctx context.Context, path string, p []byte, off int64) error
}

// Renamer is implemented by stores that can move an entry within the root,
// atomically replacing what newPath named.
type Renamer interface {
	Rename(ctx context.Context, oldPath, newPath string) error
}

// CopyFile writes the file e of src into dst as to (atomically, as Put
// does), streaming it without a second read.
func CopyFile(ctx context.Context, src Store, e Entry, dst Store, to Entry) error {
	return dst.Put(ctx, to, false, func(w io.Writer) (int64, error) {
		cw := &countWriter{w: w}
		_, err := src.ReadFile(ctx, e, cw)
		return cw.n, err
	})
}

// countWriter passes writes on and counts the bytes.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
