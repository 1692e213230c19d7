package store

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"testing"
	"time"
	"unsafe"
)

// A listing of 10^6 entries holds 10^6 of them (a run with no state, two
// listings): the issue bounds such a sync to 500 MB.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(Entry{}); n > 80 {
		t.Fatalf("Entry takes %d bytes, want at most 80", n)
	}
}

func TestTime(t *testing.T) {
	for _, tm := range []time.Time{time.Unix(0, 0), time.Unix(-1, 999_999_999), time.Unix(-2, 1), time.Unix(4102444800, 1), time.Unix(1700000000, 123456789)} {
		got := TimeOf(tm)
		if got.Unix() != tm.Unix() || got.UnixNano() != tm.UnixNano() || !got.Time().Equal(tm) {
			t.Errorf("%v: Unix %d UnixNano %d Time %v", tm, got.Unix(), got.UnixNano(), got.Time())
		}
	}
	if ft, err := parseFindTime("1700000000.1234567890"); err != nil || ft != TimeOf(time.Unix(1700000000, 123456789)) {
		t.Errorf("parseFindTime: %v %v", ft, err)
	}
}

// A file is created with its final permissions when that is safe (a chmod
// is a round trip on EFS), and chmod'ed otherwise; either way it ends with
// the mode asked for.
func TestStageModes(t *testing.T) {
	l := NewLocal(t.TempDir())
	ctx := context.Background()
	for _, c := range []struct {
		mode  fs.FileMode
		chmod bool
	}{
		{0o644, false}, {0o600, false}, {0o755, false},
		{0o444, true},             // no write for its owner: created 0600, written, then chmod'ed
		{0o664, umask&0o020 != 0}, // cut by the umask
		{fs.ModeSetuid | 0o755, true}, {fs.ModeSetgid | 0o750, true}, {fs.ModeSticky | 0o644, true},
	} {
		f, chmod, err := createTemp(l.root, c.mode)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		os.Remove(f.Name())
		if chmod != c.chmod {
			t.Errorf("%v: chmod %v, want %v", c.mode, chmod, c.chmod)
		}
		e := Entry{Path: fmt.Sprintf("f%o", uint32(c.mode)), Type: File, Size: 1, Mode: c.mode, ModTime: TimeOf(time.Unix(1e9, 0))}
		if err := l.Put(ctx, e, false, func(w io.Writer) (int64, error) { n, err := w.Write([]byte("x")); return int64(n), err }); err != nil {
			t.Fatal(err)
		}
		got, err := l.Lstat(ctx, e.Path)
		if err != nil || got.Mode != c.mode {
			t.Errorf("%v: stored as %v (%v)", c.mode, got.Mode, err)
		}
	}
}

// MakeDir makes a directory whole (mode and owner; only its mtime left)
// only where mkdir alone gives the mode: whatever it says, the directory
// ends with its mode, owner and mtime once SetMeta or SetMtime follows.
func TestMakeDirWholeOnlyWhereMkdirGivesTheMode(t *testing.T) {
	l := NewLocal(t.TempDir())
	ctx := context.Background()
	os.Mkdir(l.abs("sgid"), 0o755)
	os.Chmod(l.abs("sgid"), fs.ModeSetgid|0o755) // passes its setgid bit to new directories
	owner := os.Geteuid() == 0
	for _, c := range []struct {
		path  string
		mode  fs.FileMode
		whole bool
	}{
		{"a", 0o755, true}, {"a/b", 0o700, true}, {"c", 0o711, true},
		{"d", 0o775, umask&0o020 == 0}, // cut by the umask
		{"e", 0o555, false},            // no write for its owner (nor for a root without CAP_DAC_OVERRIDE)
		{"f", fs.ModeSetgid | 0o755, false}, {"g", fs.ModeSticky | 0o777, false},
		{"sgid/h", 0o755, false},
		{"a", 0o755, false}, // there already
	} {
		e := Entry{Path: c.path, Type: Dir, Mode: c.mode, UID: 2001, GID: 2002, ModTime: TimeOf(time.Unix(1e9, 0))}
		whole, err := l.MakeDir(ctx, e, owner)
		if err != nil || whole != c.whole {
			t.Errorf("%s %v: whole %v (%v), want %v", c.path, c.mode, whole, err, c.whole)
		}
		if whole {
			err = l.SetMtime(ctx, e.Path, e.ModTime)
		} else {
			err = l.SetMeta(ctx, e, owner)
		}
		got, serr := l.Lstat(ctx, e.Path)
		if err != nil || serr != nil || got.Mode != c.mode || got.ModTime != e.ModTime || owner && (got.UID != 2001 || got.GID != 2002) {
			t.Errorf("%s: %+v (%v %v), want mode %v, owner 2001:2002", c.path, got, err, serr, c.mode)
		}
	}
}

// BenchmarkParseFindRecord parses one record of the remote find's listing,
// as a rerun does for every entry of the tree.
func BenchmarkParseFindRecord(b *testing.B) {
	const rec = "f 1234567 1 25600 1700000000.1234567890 644 2001 2001 data/attachments/JRA/10000/JRA-123/10456"
	for b.Loop() {
		if _, ok, err := parseFindRecord(rec, ""); !ok || err != nil {
			b.Fatal(err)
		}
	}
}

func TestIsNetworkFS(t *testing.T) {
	for fs, want := range map[string]bool{"nfs4": true, "nfs": true, "cifs": true, "fuse.sshfs": true, "fuse": true, "ceph": true,
		"ext4": false, "xfs": false, "tmpfs": false, "overlay": false, "fuseblk": false, "btrfs": false, "": false} {
		if IsNetworkFS(fs) != want {
			t.Errorf("%q: %v", fs, !want)
		}
	}
}
