package store

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openFile is os.OpenFile for regular files and directories, without the
// runtime's poller. os.OpenFile offers every file it opens to the poller:
// fcntl to set O_NONBLOCK, an epoll_ctl that a regular file or directory
// refuses, fcntl twice to clear it again; os.NewFile checks the flags once.
// A copy opens each file twice (written, read back) and each directory it
// lists: a local sync of 20,000 files made 287,000 system calls more.
func openFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	for {
		fd, err := unix.Open(name, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}
