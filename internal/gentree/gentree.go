// Package gentree generates shared-home-like trees for the demo, tests and
// benchmarks: Jira's attachment layout (PROJECT/bucket/ISSUE/id), log-normal
// file sizes (median ~25 KiB with a tail of large files), and optionally the
// nasty names and links that real shared homes contain. It only writes
// under the directory it is given.
package gentree

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options shape a generated tree.
type Options struct {
	Files     int
	MedianKiB float64 // median file size (default 25)
	Sigma     float64 // log-normal sigma (default 1.6)
	MaxBytes  int64   // cap on one file (default 64 MiB)
	Seed      uint64
}

// Tree writes a Jira-like shared home under dir and returns the bytes written.
func Tree(dir string, o Options) (int64, error) {
	if o.MedianKiB == 0 {
		o.MedianKiB = 25
	}
	if o.Sigma == 0 {
		o.Sigma = 1.6
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	r := rand.New(rand.NewPCG(o.Seed, 42))
	var total int64
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < o.Files; i++ {
		proj := []string{"JRA", "OPS", "HR", "WEB"}[i%4]
		rel := filepath.Join("data", "attachments", proj, fmt.Sprint(10000+(i/400)*10000), fmt.Sprintf("%s-%d", proj, 1+i/7), fmt.Sprint(10000+i))
		size := int64(o.MedianKiB * 1024 * math.Exp(o.Sigma*r.NormFloat64()))
		size = max(0, min(size, o.MaxBytes))
		if err := WriteFile(filepath.Join(dir, rel), size, r.Uint64(), base.Add(time.Duration(i)*time.Minute)); err != nil {
			return total, err
		}
		total += size
	}
	for _, d := range []string{"plugins/installed-plugins", "export", "caches/indexesV1", "log", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return total, err
		}
	}
	for i := 0; i < 5; i++ {
		WriteFile(filepath.Join(dir, "plugins", "installed-plugins", fmt.Sprintf("plugin_%d.jar", i)), 200<<10, uint64(i), base)
		WriteFile(filepath.Join(dir, "log", fmt.Sprintf("atlassian-jira.log.%d", i)), 50<<10, uint64(i), base)
	}
	return total, nil
}

// WriteFile writes size pseudo-random (poorly compressible) bytes with mtime.
func WriteFile(path string, size int64, seed uint64, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 64<<10)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		for i := 0; i < int(n); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < int(n); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, mtime, mtime)
}

// Nasty writes entries with names and links that break naive tools: spaces,
// newlines, tabs, leading dashes, non-UTF-8 bytes, 200-byte names, a 40-deep
// path, empty files and directories, symlinks relative, absolute, dangling
// and escaping the root, and a hard link pair.
func Nasty(dir string) error {
	mt := time.Date(2024, 6, 1, 12, 0, 0, 123456789, time.UTC)
	files := []string{
		"nasty/with space.txt", "nasty/new\nline.txt", "nasty/tab\there.txt", "nasty/-leading-dash",
		"nasty/--", "nasty/non-utf8-\xff\xfe.bin", "nasty/" + strings.Repeat("n", 200), "nasty/quote'\"`$(x).txt",
		"nasty/back\\slash", "nasty/ünïcödé-名前.txt",
	}
	deep := "nasty/deep"
	for i := 0; i < 40; i++ {
		deep += fmt.Sprintf("/d%02d", i)
	}
	files = append(files, deep+"/bottom.txt")
	for i, f := range files {
		if err := WriteFile(filepath.Join(dir, f), int64(100+i*37), uint64(i), mt); err != nil {
			return err
		}
	}
	if err := WriteFile(filepath.Join(dir, "nasty/empty-file"), 0, 0, mt); err != nil {
		return err
	}
	for _, d := range []string{"nasty/empty-dir", "nasty/empty dir with space/inner-empty"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return err
		}
	}
	links := map[string]string{
		"nasty/link-relative": "with space.txt",
		"nasty/link-absolute": "/etc/hostname",
		"nasty/link-dangling": "does/not/exist",
		"nasty/link-escaping": "../../../../../../etc/passwd",
		"nasty/link-to-dir":   "empty-dir",
	}
	for l, t := range links {
		if err := os.Symlink(t, filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	if err := WriteFile(filepath.Join(dir, "nasty/hard-a"), 4096, 7, mt); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(dir, "nasty/hard-a"), filepath.Join(dir, "nasty/hard-b")); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, "nasty/with space.txt"), 0o600); err != nil {
		return err
	}
	return os.Chmod(filepath.Join(dir, "nasty/-leading-dash"), 0o755)
}
