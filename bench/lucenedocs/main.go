// Command lucenedocs writes text documents for Lucene's demo indexer
// (bench/index.sh): words drawn with a Zipf distribution from a large
// random vocabulary, so that the index has realistic term dictionaries and
// postings.
//
//	go run ./bench/lucenedocs -out DIR -docs 20000 -size 8192 -seed 1
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "", "directory to write documents into (created)")
	docs := flag.Int("docs", 1000, "number of documents")
	size := flag.Int("size", 8192, "approximate bytes per document")
	seed := flag.Int64("seed", 1, "random seed (same seed, same documents)")
	vocab := flag.Int("vocab", 300000, "vocabulary size")
	perDir := flag.Int("per-dir", 1000, "documents per sub-directory")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	r := rand.New(rand.NewSource(42)) // the vocabulary is the same for every seed
	words := make([]string, *vocab)
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for i := range words {
		n := 3 + r.Intn(8)
		b := make([]byte, n)
		for j := range b {
			b[j] = letters[r.Intn(len(letters))]
		}
		words[i] = string(b)
	}
	r = rand.New(rand.NewSource(*seed))
	z := rand.NewZipf(r, 1.1, 2, uint64(*vocab-1))
	for i := 0; i < *docs; i++ {
		dir := filepath.Join(*out, fmt.Sprintf("d%04d", i / *perDir))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("doc-%07d.txt", i)))
		if err != nil {
			log.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for n := 0; n < *size; {
			k, _ := w.WriteString(words[z.Uint64()])
			w.WriteByte(' ')
			n += k + 1
		}
		if err := w.Flush(); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
}
