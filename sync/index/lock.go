package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/store"
)

// lockHolder probes write.lock with fcntl(F_GETLK), the kind of lock Java's
// FileChannel.tryLock (Lucene's NativeFSLockFactory) takes. It returns the
// pid of a live process holding it, or 0.
func lockHolder(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return 0, fmt.Errorf("probe %s: %w", path, err)
	}
	if lk.Type == unix.F_UNLCK {
		return 0, nil
	}
	return int(lk.Pid), nil
}

// checkWriteLock enforces that the node owning the target index is
// stopped: write.lock held by a live process on a local directory is
// refused unless force; a write.lock that cannot be probed (SFTP) or is not
// held is a warning, since a stopped Lucene leaves the file behind.
func checkWriteLock(ctx context.Context, p *place, dir string, force bool, res *Result) error {
	lockPath := dir + "/write.lock"
	if _, err := p.St.Lstat(ctx, lockPath); err != nil {
		return nil
	}
	if l, ok := p.St.(*store.Local); ok {
		full := filepath.Join(l.String(), filepath.FromSlash(lockPath))
		pid, err := lockHolder(full)
		if err == nil && pid != 0 {
			msg := fmt.Sprintf("%s is held by process %d: the node that owns this index is running; stop it first", full, pid)
			if !force {
				return errs.Fatalf("%s (or pass --force)", msg)
			}
			res.Warnings = append(res.Warnings, msg+" (--force given: installing anyway)")
			return nil
		}
		if err == nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s exists but no process holds it (a stopped node leaves it behind)", full))
			return nil
		}
	}
	res.Warnings = append(res.Warnings, fmt.Sprintf("%s exists and cannot be probed on %s: make sure the node that owns this index is stopped", lockPath, p.St))
	return nil
}
