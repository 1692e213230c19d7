// Command latfs mounts a directory through FUSE with a fixed latency added to
// every request that would be a round trip to an NFS server: the stand-in
// for Amazon EFS in `make bench-efs` (no NFS server can run on this machine,
// and EFS itself is out of reach).
//
// EFS answers each operation in about a millisecond or more (writes ~2.7 ms,
// reads from 250 µs: ../shared/FILES.md), serves many clients in parallel,
// and is slow mainly for metadata: lookups, creates, renames, attribute
// changes, directory reads, and the commit that NFS makes on close. latfs
// makes every such request sleep -lat before it is served, and each read or
// write request -iolat, in parallel as EFS would. Attributes and names are
// cached by the kernel for a second (NFS's attribute cache), not for ever.
//
// Usage: latfs -lat 1ms -iolat 0 BACKING MOUNTPOINT (runs until SIGINT or
// SIGTERM, then unmounts).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

var lat, iolat time.Duration

func wait(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// node is a loopback node whose every request waits lat first.
type node struct{ fs.LoopbackNode }

func newNode(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
	return &node{fs.LoopbackNode{RootData: r}}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	wait(lat)
	return n.LoopbackNode.Lookup(ctx, name, out)
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	wait(lat)
	if h, ok := f.(*file); ok {
		f = h.f
	}
	return n.LoopbackNode.Getattr(ctx, f, out)
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	wait(lat)
	if h, ok := f.(*file); ok {
		f = h.f
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	wait(lat)
	return n.LoopbackNode.Mkdir(ctx, name, mode, out)
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	wait(lat)
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if fh != nil {
		fh = &file{f: fh.(*fs.LoopbackFile)}
	}
	return in, fh, fl, errno
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	wait(lat)
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if fh != nil {
		fh = &file{f: fh.(*fs.LoopbackFile)}
	}
	return fh, fl, errno
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	wait(lat)
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	wait(lat)
	return n.LoopbackNode.Rmdir(ctx, name)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	wait(lat)
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	wait(lat)
	return n.LoopbackNode.Symlink(ctx, target, name, out)
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	wait(lat)
	return n.LoopbackNode.Link(ctx, target, name, out)
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	wait(lat)
	return n.LoopbackNode.Readlink(ctx)
}

// OpendirHandle waits once for the directory: the round trip of its
// READDIR, which on NFS brings the entries' attributes along.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	wait(lat)
	h, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dir{h: h, n: n}, fl, 0
}

// dir is an open directory. It answers the lookups of READDIRPLUS at once:
// NFS returns a directory's attributes with its entries, so that listing a
// directory costs a round trip, not one per entry.
type dir struct {
	h fs.FileHandle
	n *node
}

func (d *dir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return d.n.LoopbackNode.Lookup(ctx, name, out)
}

func (d *dir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.h.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.h.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dir) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return d.h.(fs.FileFsyncdirer).Fsyncdir(ctx, flags)
}

func (d *dir) Releasedir(ctx context.Context, flags uint32) {
	d.h.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

// file is an open file: reads and writes wait iolat, the close's flush (an
// NFS commit) and fsync wait lat. Only what it declares is served, so the
// kernel never bypasses latfs through FUSE passthrough.
type file struct{ f *fs.LoopbackFile }

func (h *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	wait(iolat)
	return h.f.Read(ctx, buf, off)
}

func (h *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	wait(iolat)
	return h.f.Write(ctx, data, off)
}

func (h *file) Flush(ctx context.Context) syscall.Errno {
	wait(lat)
	return h.f.Flush(ctx)
}

func (h *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	wait(lat)
	return h.f.Fsync(ctx, flags)
}

func (h *file) Release(ctx context.Context) syscall.Errno { return h.f.Release(ctx) }

func (h *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.f.Getattr(ctx, out)
}

func (h *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return h.f.Setattr(ctx, in, out)
}

func (h *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.f.Lseek(ctx, off, whence)
}

func main() {
	flag.DurationVar(&lat, "lat", time.Millisecond, "latency of each metadata request, open and close")
	flag.DurationVar(&iolat, "iolat", 0, "latency of each read or write request")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: latfs [-lat D] [-iolat D] BACKING MOUNTPOINT")
		os.Exit(2)
	}
	backing, mnt := flag.Arg(0), flag.Arg(1)
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		fmt.Fprintln(os.Stderr, "latfs:", err)
		os.Exit(1)
	}
	r := &fs.LoopbackRoot{Path: backing, Dev: st.Dev, NewNode: newNode}
	r.RootNode = newNode(r, nil, "", &st)
	sec := time.Second
	srv, err := fs.Mount(mnt, r.RootNode, &fs.Options{
		MountOptions: fuse.MountOptions{AllowOther: true, FsName: "latfs", Name: "latfs", MaxWrite: 1 << 20, DisableXAttrs: true, DirectMount: true},
		EntryTimeout: &sec, AttrTimeout: &sec,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "latfs: mount:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		srv.Unmount()
	}()
	srv.Wait()
}
