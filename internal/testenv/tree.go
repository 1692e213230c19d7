package testenv

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
)

// TreeDiff compares two local trees entry by entry, their roots (".")
// included: type, size, content, permission bits, mtime (to the second
// unless exactNs), symlink targets, and hard links (entries sharing an
// inode in a share one in b). It returns
// the differences, empty when the trees are equal. skip filters paths out.
func TreeDiff(t testing.TB, a, b string, exactNs bool, skip func(rel string) bool) []string {
	t.Helper()
	ea, ia := scan(t, a, skip)
	eb, ib := scan(t, b, skip)
	var diffs []string
	add := func(p, what string) { diffs = append(diffs, p+": "+what) }
	keys := map[string]bool{}
	for k := range ea {
		keys[k] = true
	}
	for k := range eb {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		x, okA := ea[p]
		y, okB := eb[p]
		switch {
		case !okA:
			add(p, "only in target")
			continue
		case !okB:
			add(p, "missing in target")
			continue
		}
		if x.Mode().Type() != y.Mode().Type() {
			add(p, "type differs")
			continue
		}
		if x.Mode()&fs.ModeSymlink != 0 {
			la, _ := os.Readlink(filepath.Join(a, p))
			lb, _ := os.Readlink(filepath.Join(b, p))
			if la != lb {
				add(p, "symlink target differs: "+la+" vs "+lb)
			}
			continue
		}
		if x.Mode().Perm() != y.Mode().Perm() {
			add(p, "mode differs: "+x.Mode().String()+" vs "+y.Mode().String())
		}
		mtA, mtB := x.ModTime(), y.ModTime()
		if exactNs && !mtA.Equal(mtB) || !exactNs && mtA.Unix() != mtB.Unix() {
			add(p, "mtime differs: "+mtA.String()+" vs "+mtB.String())
		}
		if x.Mode().IsRegular() {
			ca, _ := os.ReadFile(filepath.Join(a, p))
			cb, _ := os.ReadFile(filepath.Join(b, p))
			if !bytes.Equal(ca, cb) {
				add(p, "content differs")
			}
		}
	}
	// Hard links: paths sharing an inode in a must share one in b.
	for _, group := range ia {
		if len(group) < 2 {
			continue
		}
		first := inode(eb[group[0]])
		for _, p := range group[1:] {
			if inode(eb[p]) != first {
				add(p, "hard link to "+group[0]+" lost")
			}
		}
	}
	_ = ib
	return diffs
}

func inode(fi fs.FileInfo) uint64 {
	if fi == nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func scan(t testing.TB, root string, skip func(string) bool) (map[string]fs.FileInfo, map[uint64][]string) {
	out := map[string]fs.FileInfo{}
	inodes := map[uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			// The root itself, as "." (its mode and mtime are mirrored too),
			// followed when it is a link.
			if skip == nil || !skip(".") {
				fi, err := os.Stat(root)
				if err != nil {
					return err
				}
				out["."] = fi
			}
			return nil
		}
		rel = filepath.ToSlash(rel)
		if skip != nil && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out[rel] = fi
		if fi.Mode().IsRegular() && fi.Sys().(*syscall.Stat_t).Nlink > 1 {
			ino := fi.Sys().(*syscall.Stat_t).Ino
			inodes[ino] = append(inodes[ino], rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range inodes {
		sort.Strings(g)
	}
	return out, inodes
}

// BindFS mounts dir at mnt with bindfs (FUSE) and opts for the test's
// lifetime: a filesystem served by another process, whose files can change
// behind this host's page cache, as an NFS server's can.
func BindFS(t testing.TB, dir, mnt string, opts ...string) {
	t.Helper()
	bin, err := exec.LookPath("bindfs")
	if err != nil {
		Missing(t, "bindfs (a FUSE filesystem)", "apt-get install bindfs")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		Missing(t, "/dev/fuse", "a kernel with FUSE")
	}
	if out, err := exec.Command(bin, append(opts, dir, mnt)...).CombinedOutput(); err != nil {
		t.Fatalf("bindfs %s %s: %v: %s", dir, mnt, err, out)
	}
	t.Cleanup(func() {
		if exec.Command("fusermount", "-u", mnt).Run() != nil {
			exec.Command("umount", "-l", mnt).Run()
		}
	})
}
