package lucene

import (
	"context"
	"fmt"
	"hash/crc32"
	"sort"
	"sync"
)

// Problem names a damaged or missing file and what is wrong with it.
type Problem struct {
	File string `json:"file"`
	What string `json:"what"`
}

// Verify reports the problems of index ix: those the cheap checks of Load
// found (missing files, bad headers, ids or footers, impossible lengths),
// and when full the files whose content does not match their footer CRC32,
// sub-files of compound files included. Files are read by up to workers
// goroutines; progress, when set, is called with each batch of bytes read.
func Verify(ctx context.Context, fsys FS, ix *Index, full bool, workers int, progress func(int64)) ([]Problem, error) {
	var probs []Problem
	for _, f := range ix.Problems() {
		probs = append(probs, Problem{File: f.Name, What: f.Problem})
	}
	if !full {
		return probs, nil
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(workers, 1))
		ferr error
	)
	for _, f := range ix.Files {
		if f.Problem != "" || !f.Footer || f.Segment == "" {
			continue // segments_N was checked whole by Load
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(f File) {
			defer func() { <-sem; wg.Done() }()
			ps, err := CheckCRC(ctx, fsys, f, ix.Compound[f.Name], progress)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && ferr == nil {
				ferr = err
			}
			probs = append(probs, ps...)
		}(f)
	}
	wg.Wait()
	if ferr != nil {
		return nil, ferr
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].File < probs[j].File })
	return probs, nil
}

// CheckCRC recomputes the CRC32 of file f (and of the sub-files ents when f
// is a compound file) in one pass, and compares each with its footer.
func CheckCRC(ctx context.Context, fsys FS, f File, ents []CFEntry, progress func(int64)) ([]Problem, error) {
	w := newCRCWriter(f.Size, ents, progress)
	if err := fsys.Stream(ctx, f.Name, w); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return []Problem{{File: f.Name, What: "cannot read: " + err.Error()}}, nil
	}
	var probs []Problem
	if w.pos != f.Size {
		return []Problem{{File: f.Name, What: fmt.Sprintf("read %d bytes, the listing said %d (changed while read?)", w.pos, f.Size)}}, nil
	}
	if w.whole != f.CRC {
		probs = append(probs, Problem{File: f.Name, What: fmt.Sprintf("checksum mismatch: content %08x, footer %08x", w.whole, f.CRC)})
	}
	for _, e := range w.ents {
		ft, err := ParseFooter(e.tail[:])
		switch {
		case err != nil:
			probs = append(probs, Problem{File: f.Name, What: fmt.Sprintf("sub-file %s: %v", e.Name, err)})
		case ft.CRC != e.crc:
			probs = append(probs, Problem{File: f.Name, What: fmt.Sprintf("sub-file %s: checksum mismatch: content %08x, footer %08x", e.Name, e.crc, ft.CRC)})
		}
	}
	return probs, nil
}

type entCRC struct {
	CFEntry
	crc  uint32
	tail [FooterLen]byte
}

// crcWriter computes, as a file streams through it, the CRC32 of bytes
// [0, size-8) and of each sub-file's [off, off+len-8), and keeps the last
// 16 bytes of each sub-file (its footer).
type crcWriter struct {
	pos, size int64
	whole     uint32
	ents      []entCRC
	progress  func(int64)
}

func newCRCWriter(size int64, ents []CFEntry, progress func(int64)) *crcWriter {
	w := &crcWriter{size: size, progress: progress}
	for _, e := range ents {
		w.ents = append(w.ents, entCRC{CFEntry: e})
	}
	return w
}

// overlap returns the part of p (which starts at file offset pos) that lies
// in [a, b).
func overlap(p []byte, pos, a, b int64) []byte {
	lo, hi := max(a, pos), min(b, pos+int64(len(p)))
	if lo >= hi {
		return nil
	}
	return p[lo-pos : hi-pos]
}

func (w *crcWriter) Write(p []byte) (int, error) {
	w.whole = crc32.Update(w.whole, crc32.IEEETable, overlap(p, w.pos, 0, w.size-8))
	for i := range w.ents {
		e := &w.ents[i]
		end := e.Offset + e.Length
		if end <= w.pos || e.Offset >= w.pos+int64(len(p)) {
			continue
		}
		e.crc = crc32.Update(e.crc, crc32.IEEETable, overlap(p, w.pos, e.Offset, end-8))
		if t := overlap(p, w.pos, end-FooterLen, end); t != nil {
			start := max(w.pos, end-FooterLen) - (end - FooterLen)
			copy(e.tail[start:], t)
		}
	}
	w.pos += int64(len(p))
	if w.progress != nil {
		w.progress(int64(len(p)))
	}
	return len(p), nil
}
