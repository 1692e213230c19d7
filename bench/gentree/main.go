// Command gentree writes the benchmark trees: a Jira-like shared home with
// log-normal file sizes, or many empty files, and changes a share of an
// existing tree. Benchmark support only.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cutover/cutover/internal/gentree"
)

func main() {
	out := flag.String("out", "", "directory to write")
	files := flag.Int("files", 20000, "number of files")
	sigma := flag.Float64("sigma", 1.45, "log-normal sigma of file sizes (median 25 KiB)")
	empty := flag.Int("empty", 0, "instead: this many empty files, 1000 per directory")
	change := flag.Float64("change", 0, "instead: rewrite this fraction of the files under -out")
	flag.Parse()
	switch {
	case *change > 0:
		var all []string
		filepath.Walk(*out, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				all = append(all, p)
			}
			return nil
		})
		sort.Strings(all)
		step := int(1 / *change)
		n := 0
		for i := 0; i < len(all); i += step {
			fi, _ := os.Stat(all[i])
			if err := gentree.WriteFile(all[i], fi.Size(), uint64(i)+7777, time.Now()); err != nil {
				fail(err)
			}
			n++
		}
		fmt.Printf("changed %d files\n", n)
	case *empty > 0:
		for i := 0; i < *empty; i++ {
			d := filepath.Join(*out, fmt.Sprintf("d%04d", i/1000))
			if i%1000 == 0 {
				if err := os.MkdirAll(d, 0o755); err != nil {
					fail(err)
				}
			}
			f, err := os.Create(filepath.Join(d, fmt.Sprintf("f%07d", i)))
			if err != nil {
				fail(err)
			}
			f.Close()
		}
		fmt.Printf("wrote %d empty files\n", *empty)
	default:
		n, err := gentree.Tree(*out, gentree.Options{Files: *files, Sigma: *sigma, Seed: 2026})
		if err != nil {
			fail(err)
		}
		fmt.Printf("wrote %d files, %.2f GB\n", *files, float64(n)/1e9)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
