package index

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes a whole-file fcntl write lock, as Java's FileChannel.tryLock does.
func lockFile(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
}
