package store

import (
	"context"
	"io"

	"github.com/cutover/cutover/checksum"

	"golang.org/x/sys/unix"
)

// ReadBacker reads a file as its storage holds it, past this host's page
// cache where the two can differ. Verification reads with it. w must be
// done with the bytes of each Write when it returns, and must not hand
// them to another goroutine: on a local disk they may be the file's
// mapping, and a fault in reading them (the file truncated meanwhile) is
// caught in the reading goroutine only.
type ReadBacker interface {
	ReadBack(ctx context.Context, e Entry, w io.Writer) (Entry, error)
}

// ReadBackStager is implemented by stores that can read a file back, as
// ReadBack does, while they stage it (see Stager), before they let go of
// it.
type ReadBackStager interface {
	// StageReadBack is Stage, and then writes the file as its storage
	// holds it to back, under the same rule as ReadBack's w.
	StageReadBack(ctx context.Context, e Entry, owner bool, fill func(io.Writer) (int64, error), back io.Writer) (Staged, error)
}

// networkFS names the filesystems (statfs f_type) whose pages cached on
// this host may differ from what their server holds: the NFS client keeps
// the pages it wrote, and reads them back without asking the server.
var networkFS = map[uint32]string{
	0x6969:     "nfs", // EFS
	0xFF534D42: "cifs",
	0xFE534D42: "smb2",
	0x517B:     "smb",
	0x65735546: "fuse", // sshfs, s3fs, mountpoint-s3
	0x00C36400: "ceph",
	0x01021997: "9p",
	0x0BD00BD0: "lustre",
	0x5346414F: "afs",
}

// Network names the network filesystem that holds the root ("nfs" for
// EFS), or "" for a local one.
func (l *Local) Network() string {
	l.fsOnce.Do(func() {
		var st unix.Statfs_t
		if unix.Statfs(l.root, &st) == nil {
			l.network = networkFS[uint32(st.Type)]
		}
	})
	return l.network
}

// ReadBack reads e as the storage holds it. On a network filesystem the
// file's cached pages are dropped first (they are clean: NFS writes a file
// back to the server, and commits it, when it is closed), so that reading
// back a file just written asks the server, as an end-to-end check must;
// on a local disk the page cache is what the disk gets, and is read.
func (l *Local) ReadBack(ctx context.Context, e Entry, w io.Writer) (Entry, error) {
	if l.Network() != "" {
		return l.read(ctx, e, w, readUncached)
	}
	return l.read(ctx, e, w, readMap)
}

// ReadStored reads e from s as its storage holds it: ReadBack where s
// offers it, else ReadFile.
func ReadStored(ctx context.Context, s Store, e Entry, w io.Writer) (Entry, error) {
	if rb, ok := s.(ReadBacker); ok {
		return rb.ReadBack(ctx, e, w)
	}
	return s.ReadFile(ctx, e, w)
}

// HashStored hashes e as s stores it (ReadStored) with algo. The hasher
// goes back for reuse (checksum.Writer.Release) only once the read ended
// well: a read that returned early may have a reader still writing to it.
func HashStored(ctx context.Context, s Store, e Entry, algo checksum.Algorithm) (checksum.Sum, error) {
	hw := checksum.NewWriter(algo, nil)
	if _, err := ReadStored(ctx, s, e, hw); err != nil {
		return "", err
	}
	defer hw.Release()
	return hw.Sum(), nil
}
