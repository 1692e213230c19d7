package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"
)

var (
	_ DirReader    = (*Local)(nil)
	_ RandomReader = (*Local)(nil)
	_ Renamer      = (*Local)(nil)
	_ DirReader    = (*SFTP)(nil)
	_ RandomReader = (*SFTP)(nil)
	_ Renamer      = (*SFTP)(nil)
)

func (l *Local) ReadDir(_ context.Context, p string) ([]Entry, error) {
	ents, err := os.ReadDir(l.abs(p))
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ents))
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil {
			continue // removed since the listing
		}
		if e, ok := entryFromInfo(path.Join(p, de.Name()), fi); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *Local) ReadAt(_ context.Context, p string, buf []byte, off int64) error {
	f, err := openFile(l.abs(p), unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return readFullAt(f, p, buf, off)
}

func readFullAt(r io.ReaderAt, p string, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = fmt.Errorf("read %s: %d bytes at %d: %w", p, n, off, io.ErrUnexpectedEOF)
	}
	return err
}

// Rename moves oldPath to newPath (creating newPath's parents) and syncs
// both directories, so the move survives a crash.
func (l *Local) Rename(_ context.Context, oldPath, newPath string) error {
	to := l.abs(newPath)
	if err := l.ensureDir(filepath.Dir(to)); err != nil {
		return fmt.Errorf("rename %s: %w", oldPath, err)
	}
	if err := os.Rename(l.abs(oldPath), to); err != nil {
		return err
	}
	for _, d := range []string{filepath.Dir(to), filepath.Dir(l.abs(oldPath))} {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("rename %s: %w", oldPath, err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

func (s *SFTP) ReadDir(ctx context.Context, p string) ([]Entry, error) {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return nil, err
	}
	fis, err := sc.ReadDir(s.abs(p))
	if err != nil {
		return nil, s.classify(c, sc, err)
	}
	out := make([]Entry, 0, len(fis))
	for _, fi := range fis {
		if e, ok := sftpEntry(path.Join(p, fi.Name()), fi); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *SFTP) ReadAt(ctx context.Context, p string, buf []byte, off int64) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	f, err := sc.Open(s.abs(p))
	if err != nil {
		return s.classify(c, sc, err)
	}
	defer f.Close()
	return s.classify(c, sc, readFullAt(f, p, buf, off))
}

// Rename moves oldPath to newPath with posix-rename@openssh.com, replacing
// newPath. SFTP has no directory fsync: the server's filesystem decides
// when the rename is durable.
func (s *SFTP) Rename(ctx context.Context, oldPath, newPath string) error {
	c, sc, err := s.pick(ctx)
	if err != nil {
		return err
	}
	to := s.abs(newPath)
	if err := s.mkdirAll(sc, path.Dir(to)); err != nil {
		return s.classify(c, sc, fmt.Errorf("rename %s: %w", oldPath, err))
	}
	return s.classify(c, sc, sc.PosixRename(s.abs(oldPath), to))
}
