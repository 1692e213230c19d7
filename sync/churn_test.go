package sync

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/gentree"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/internal/testenv"
)

// Rehearsals see a shared home that the application changes between runs
// in every way a filesystem allows. Each round applies seeded random
// changes to the source (new, rewritten, touched, re-moded, re-owned,
// moved, deleted files and directories; an entry replaced by one of
// another type; hard links made and broken; symlinks, some dangling),
// mirrors it over the real sshd, and then the target must equal the
// source entry by entry (content, mode, owner, mtime to the nanosecond,
// link targets, hard links), and a rerun must find nothing to do.
// CUTOVER_CHURN_SEEDS=N runs N seeds instead of eight. After each round
// `files verify` must find both sides equal.
func TestRandomChurnIsMirroredExactly(t *testing.T) {
	ways := []struct {
		name    string
		set     func(*env, *FilesOptions)
		exactNs bool // SFTP sets whole seconds
		// before: each round's sync comes after a run "interrupted" at a
		// random moment, or after one during which the source kept
		// changing ("concurrent", a rehearsal while the application runs).
		before string
	}{
		{"tar streams", func(*env, *FilesOptions) {}, true, ""},
		{"SFTP requests", func(_ *env, o *FilesOptions) { o.Streams = -1 }, true, ""},
		{"onto an SFTP target", func(e *env, o *FilesOptions) { o.Source, o.Target = e.src, e.sshd.URL("", e.dst) }, false, ""},
		{"--checksum and --verify all", func(_ *env, o *FilesOptions) { o.Checksum, o.Verify = true, "all" }, true, ""},
		{"interrupted and resumed", func(*env, *FilesOptions) {}, true, "interrupted"},
		// As a kill leaves it: new directories under temporary names,
		// with files the run had not finished in them.
		{"killed and resumed", func(*env, *FilesOptions) {}, true, "killed"},
		{"--exclude '*.tmp', the target's own kept", func(_ *env, o *FilesOptions) { o.Filter.Add(false, "*.tmp") }, true, ""},
		{"--chown-map and --chgrp-map", func(_ *env, o *FilesOptions) {
			o.UIDMap, o.GIDMap = map[int]int{2000: 4000, 0: 2001}, map[int]int{3001: 5001, 0: 2001}
		}, true, ""},
		// What it meets depends on timing, so each run of it differs. It
		// found a name recorded as linked with no hash, whose new links
		// were then copied as files run after run (seed 7, one run in two).
		{"changed while it runs", func(*env, *FilesOptions) {}, true, "concurrent"},
		// Every way above is synced in ranges of a few entries (TestMain);
		// this one plans the tree whole, as a tree of up to 2^20 entries is.
		{"whole, in one range", func(_ *env, o *FilesOptions) { o.sourceRun = 1 << 20 }, true, ""},
	}
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10} // one for each way; more for a soak:
	if n, _ := strconv.Atoi(os.Getenv("CUTOVER_CHURN_SEEDS")); n > len(seeds) {
		for s := len(seeds); s < n; s++ {
			seeds = append(seeds, uint64(s+1))
		}
	}
	for i, seed := range seeds {
		w := ways[i%len(ways)]
		t.Run(fmt.Sprint(w.name, ", seed ", seed), func(t *testing.T) {
			t.Parallel() // each waits mostly on its own sshd's logins
			e := newEnv(t)
			gentree.Tree(e.src, gentree.Options{Files: 60, Seed: seed, MedianKiB: 8})
			c := &churner{t: t, root: e.src, r: rand.New(rand.NewPCG(seed, 99)), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			o := e.opts()
			o.Delete, o.MaxDelete = true, 100000
			w.set(e, &o)
			var kept []string
			for round := 0; round <= 8; round++ {
				var did []string
				left := 0 // directories a "killed" run left staged
				if round > 0 {
					for range 25 {
						did = append(did, c.change())
					}
				}
				if w.before == "concurrent" && round > 0 {
					done := make(chan error)
					go func() { _, err := SyncFiles(context.Background(), o); done <- err }()
					for range 25 {
						time.Sleep(time.Duration(c.r.IntN(60)) * time.Millisecond)
						did = append(did, "while it ran: "+c.change())
					}
					// Files that kept changing may fail it (exit 1); nothing
					// else may.
					if err := <-done; err != nil && errs.ExitCode(err) != 1 {
						t.Fatalf("round %d: the run during changes: %v", round, err)
					}
				}
				// stopped runs o (or, killed, as a kill right before it
				// puts its staged directories in place would leave it)
				// and stops it after up to max.
				stopped := func(o FilesOptions, max time.Duration, what string) {
					ctx, cancel := context.WithCancel(context.Background())
					stop := time.AfterFunc(time.Duration(c.r.Int64N(int64(max))), cancel)
					_, err := SyncFiles(ctx, o)
					stop.Stop()
					cancel()
					if err != nil && !errs.Interrupted(err) {
						t.Fatalf("round %d: the run to %s: %v", round, what, err)
					}
				}
				if w.before == "killed" && round > 0 {
					k := o
					k.leaveStaged = true
					stopped(k, 300*time.Millisecond, "kill")
					left = plantPartials(t, e.dst)
					did = append(did, fmt.Sprintf("killed: %d directories left staged", left))
				}
				if w.before == "interrupted" && round > 0 {
					stopped(o, 1500*time.Millisecond, "interrupt")
				}
				rep := mustSync(t, o)
				if rep.Files.StagedRecovered != left || rep.Files.StagedRemoved < left {
					t.Fatalf("round %d: %d directories left staged, %d put in place, %d half-written files removed", round, left, rep.Files.StagedRecovered, rep.Files.StagedRemoved)
				}
				excluded := func(rel string) bool { return !o.Filter.Included(rel, false) }
				if o.Filter.Empty() {
					excluded = nil
				} else {
					for _, k := range kept {
						if b, err := os.ReadFile(filepath.Join(e.dst, k)); err != nil || string(b) != k {
							t.Fatalf("round %d: the target's own excluded %s is gone or changed (%v)\n  %s", round, k, err, strings.Join(did, "\n  "))
						}
					}
				}
				if round == 0 && !o.Filter.Empty() {
					// The target's own files, which the rules exclude: kept.
					// Their directories are left alone by the churn: a
					// directory of kept entries that the source removed is
					// TestExcludedEntriesKeepTheirDirectories's.
					c.protect = map[string]bool{"log": true, "plugins": true, "plugins/installed-plugins": true}
					for _, k := range []string{"keep.tmp", "log/keep.tmp", "plugins/installed-plugins/keep.tmp"} {
						c.must(os.WriteFile(filepath.Join(e.dst, k), []byte(k), 0o644))
						if fi, err := os.Stat(filepath.Join(e.src, filepath.Dir(k))); err == nil {
							os.Chtimes(filepath.Join(e.dst, filepath.Dir(k)), fi.ModTime(), fi.ModTime())
						}
						kept = append(kept, k)
					}
				}
				if d := testenv.TreeDiff(t, e.src, e.dst, w.exactNs, excluded); len(d) > 0 {
					t.Fatalf("round %d: the target differs after changes\n  %s\ndifferences:\n  %s", round, strings.Join(did, "\n  "), strings.Join(d, "\n  "))
				}
				if d := ownerDiff(t, e.src, e.dst, o.UIDMap, o.GIDMap); len(d) > 0 {
					t.Fatalf("round %d: owners differ after changes\n  %s\ndifferences:\n  %s", round, strings.Join(did, "\n  "), strings.Join(d, "\n  "))
				}
				if rep.Files.FailedCount > 0 || rep.Verify.MismatchedCount > 0 {
					t.Fatalf("round %d: %d failed, %d mismatched: %+v", round, rep.Files.FailedCount, rep.Verify.MismatchedCount, rep.Files.Failed)
				}
				if vr, err := VerifyFiles(context.Background(), o); err != nil {
					t.Fatalf("round %d: files verify: %v %+v %+v", round, err, vr.Verify.Mismatched, vr.Files.Failed)
				}
				again := mustSync(t, o)
				if f := again.Files; f.Copied+f.Deleted+f.MetadataUpdated+f.DirsCreated+f.Symlinks+f.Hardlinks > 0 {
					t.Fatalf("round %d: a rerun with nothing changed did work: %+v\nafter changes\n  %s", round, f, strings.Join(did, "\n  "))
				}
			}
		})
	}
}

// churner changes a tree at random, the way an application and its admins
// do between two rehearsals.
type churner struct {
	t       *testing.T
	root    string
	r       *rand.Rand
	now     time.Time
	n       int
	protect map[string]bool // directories not to remove, move or replace
}

func (c *churner) abs(rel string) string { return filepath.Join(c.root, filepath.FromSlash(rel)) }

// entries lists the tree's files, directories and symlinks.
func (c *churner) entries() (files, dirs, links []string) {
	filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == c.root {
			return err
		}
		rel, _ := filepath.Rel(c.root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			links = append(links, rel)
		case d.IsDir():
			dirs = append(dirs, rel)
		default:
			files = append(files, rel)
		}
		return nil
	})
	return
}

func (c *churner) pick(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[c.r.IntN(len(list))]
}

// fresh is a new name in a random existing directory (or the root),
// sometimes one that needs quoting.
func (c *churner) fresh(dirs []string) string {
	c.n++
	names := []string{"new %d", "n-%d.txt", "-dash%d", "tab\t%d", "ünï%d", "q'%d\"", "nl\n%d", "t%d.tmp"}
	name := fmt.Sprintf(names[c.r.IntN(len(names))], c.n)
	if d := c.pick(dirs); d != "" && c.r.IntN(4) > 0 {
		return d + "/" + name
	}
	return name
}

func (c *churner) tick() time.Time {
	c.now = c.now.Add(time.Duration(1+c.r.IntN(5000)) * time.Millisecond).Add(time.Duration(c.r.IntN(1e6)))
	return c.now
}

func (c *churner) write(rel string) {
	if err := gentree.WriteFile(c.abs(rel), int64(c.r.IntN(40<<10)), c.r.Uint64(), c.tick()); err != nil {
		c.t.Fatal(err)
	}
}

func (c *churner) must(err error) {
	if err != nil {
		c.t.Helper()
		c.t.Fatal(err)
	}
}

// change makes one random change and says what it did.
func (c *churner) change() string {
	files, dirs, links := c.entries()
	f, d, l := c.pick(files), c.pick(dirs), c.pick(links)
	if c.protect[d] {
		d = ""
	}
	switch k := c.r.IntN(17); {
	case k == 0 || f == "":
		p := c.fresh(dirs)
		c.write(p)
		return "new file " + p
	case k == 1: // rewritten in place: a hard link's other names see it too
		fh, err := os.OpenFile(c.abs(f), os.O_WRONLY|os.O_TRUNC, 0)
		c.must(err)
		fh.Write([]byte(strings.Repeat("x", c.r.IntN(9000))))
		fh.Close()
		c.must(os.Chtimes(c.abs(f), c.tick(), c.tick()))
		return "rewrote " + f
	case k == 2: // same size, new content and mtime
		b, err := os.ReadFile(c.abs(f))
		c.must(err)
		for i := range b {
			b[i]++
		}
		c.must(os.WriteFile(c.abs(f), b, 0))
		c.must(os.Chtimes(c.abs(f), c.tick(), c.tick()))
		return "changed the bytes of " + f
	case k == 3:
		c.must(os.Chtimes(c.abs(f), c.tick(), c.tick()))
		return "touched " + f
	case k == 4:
		target := f
		if c.r.IntN(2) == 0 && d != "" {
			target = d
		}
		// The last is setgid: on a directory, mkdir passes it on (with
		// the group) to the directories made in it.
		c.must(os.Chmod(c.abs(target), []fs.FileMode{0o600, 0o640, 0o755, 0o700, fs.ModeSetgid | 0o775}[c.r.IntN(5)]))
		return "chmod " + target
	case k == 5:
		c.must(os.Lchown(c.abs(f), 2000+c.r.IntN(3), 3000+c.r.IntN(3)))
		return "chown " + f
	case k == 6:
		c.must(os.Remove(c.abs(f)))
		return "deleted " + f
	case k == 7 && d != "":
		c.must(os.RemoveAll(c.abs(d)))
		return "deleted the directory " + d
	case k == 8:
		to := c.fresh(dirs)
		c.must(os.Rename(c.abs(f), c.abs(to)))
		return "moved " + f + " to " + to
	case k == 9 && d != "":
		to := c.fresh(slices.DeleteFunc(dirs, func(x string) bool { return x == d || strings.HasPrefix(x, d+"/") }))
		c.must(os.Rename(c.abs(d), c.abs(to)))
		return "moved the directory " + d + " to " + to
	case k == 10: // a file becomes a directory
		c.must(os.Remove(c.abs(f)))
		c.write(f + "/inside")
		return "replaced the file " + f + " by a directory"
	case k == 11 && d != "": // a directory becomes a file
		c.must(os.RemoveAll(c.abs(d)))
		c.write(d)
		return "replaced the directory " + d + " by a file"
	case k == 12: // a file becomes a symlink, to a sibling or nowhere
		c.must(os.Remove(c.abs(f)))
		target := []string{"../x", "sibling", "/etc/passwd", "no/such/file"}[c.r.IntN(4)]
		c.must(os.Symlink(target, c.abs(f)))
		return "replaced " + f + " by a symlink to " + target
	case k == 13 && l != "": // a symlink becomes a file or a directory
		c.must(os.Remove(c.abs(l)))
		if c.r.IntN(2) == 0 {
			c.must(os.Mkdir(c.abs(l), 0o755))
			c.must(os.Chtimes(c.abs(l), c.tick(), c.tick()))
			return "replaced the symlink " + l + " by a directory"
		}
		c.write(l)
		return "replaced the symlink " + l + " by a file"
	case k == 14:
		p := c.fresh(dirs)
		c.must(os.Link(c.abs(f), c.abs(p)))
		return "hard link " + p + " to " + f
	case k == 16: // a name becomes another file's (ln -f)
		other := c.pick(files)
		a, errA := os.Stat(c.abs(f))
		b, errB := os.Stat(c.abs(other))
		if other == f || errA != nil || errB != nil || a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) {
			break // the same size and mtime: only --checksum can tell (as rsync without -c)
		}
		c.n++
		tmp := c.abs(fmt.Sprintf("ln-tmp-%d", c.n))
		c.must(os.Link(c.abs(other), tmp))
		c.must(os.Rename(tmp, c.abs(f)))
		os.Remove(tmp) // left when both were names of one file already
		return "made " + f + " a hard link to " + other
	case k == 15:
		p := c.fresh(dirs)
		c.must(os.Mkdir(c.abs(p), 0o750))
		c.must(os.Chtimes(c.abs(p), c.tick(), c.tick()))
		return "new empty directory " + p
	}
	p := c.fresh(dirs)
	c.write(p)
	return "new file " + p
}

// ownerDiff compares the owners of two trees' entries (symlinks too), as
// the maps change them.
func ownerDiff(t *testing.T, a, b string, uids, gids map[int]int) []string {
	mapped := func(m map[int]int, id uint32) uint32 {
		if v, ok := m[int(id)]; ok {
			return uint32(v)
		}
		return id
	}
	var out []string
	filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == a {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		x, errA := os.Lstat(p)
		y, errB := os.Lstat(filepath.Join(b, rel))
		if errA != nil || errB != nil {
			return nil // TreeDiff reports these
		}
		sx, sy := x.Sys().(*syscall.Stat_t), y.Sys().(*syscall.Stat_t)
		if mapped(uids, sx.Uid) != sy.Uid || mapped(gids, sx.Gid) != sy.Gid {
			out = append(out, fmt.Sprintf("%q: %d:%d (mapped %d:%d) vs %d:%d", rel, sx.Uid, sx.Gid, mapped(uids, sx.Uid), mapped(gids, sx.Gid), sy.Uid, sy.Gid))
		}
		return nil
	})
	return out
}

// plantPartials writes, in every directory under a temporary name in dst,
// a file as a killed run could have left half written, and returns how
// many such directories there are.
func plantPartials(t *testing.T, dst string) int {
	t.Helper()
	n := 0
	filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.IsDir() || !store.IsTemp(fi.Name()) {
			return nil
		}
		n++
		if err := os.WriteFile(filepath.Join(p, "half-written"), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		return filepath.SkipDir
	})
	return n
}
