package sync

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// CheckModel predicts the hashing of `files verify` (its listings aside):
// Fixed seconds once, plus PerFile seconds per file and PerByte per byte.
type CheckModel struct {
	Fixed   float64 `json:"fixed_s"`
	PerFile float64 `json:"per_file_s"`
	PerByte float64 `json:"per_byte_s"`
	Files   int64   `json:"files"` // hashed by the probe, on each side
	Bytes   int64   `json:"bytes"`
	// SourceOnly: the target held none of the files sampled (before a
	// first copy), so only the source side was timed.
	SourceOnly bool `json:"source_only,omitempty"`
}

// Estimate is the hashing of files files and bytes bytes.
func (m CheckModel) Estimate(files, bytes float64) float64 {
	return m.Fixed + m.PerFile*files + m.PerByte*bytes
}

// ProbeCheck times the hashing that `files verify` does, on files among
// the first the source lists that the filters take and that the target
// holds at the same size (as the source lists them before a first copy,
// the source side then timed alone): up to 600 of the smallest, a sixth
// of them, and the largest up to maxBytes. It writes nothing.
func ProbeCheck(ctx context.Context, o FilesOptions, maxBytes int64) (CheckModel, error) {
	src, dst, err := openStores(ctx, &o, false)
	if err != nil {
		return CheckModel{}, err
	}
	defer src.Close()
	defer dst.Close()
	var listed []store.Entry
	n := 0
	enough := errors.New("enough")
	err = src.Walk(ctx, func(e store.Entry) error {
		if n++; n > 20000 {
			return enough
		}
		if e.Type == store.File && e.Size > 0 && o.Filter.Included(e.Path, false) {
			listed = append(listed, e)
		}
		return nil
	}, func(string, error) {})
	if err != nil && !errors.Is(err, enough) {
		return CheckModel{}, err
	}
	// The sample: the smallest files and the largest that the target
	// holds, or, when the smallest ones are none of them, as the source
	// lists them. Each is looked up at the target, a bounded number, at
	// once (on EFS a lookup is a round trip).
	slices.SortFunc(listed, func(a, b store.Entry) int { return cmp.Compare(a.Size, b.Size) })
	held := func(cands []store.Entry) []bool {
		ok := make([]bool, len(cands))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(max(o.Workers, 1))
		for i, e := range cands {
			g.Go(func() error {
				t, err := dst.Lstat(gctx, e.Path)
				ok[i] = err == nil && t.Type == store.File && t.Size == e.Size
				return nil
			})
		}
		g.Wait()
		return ok
	}
	want := min(probeSmall, len(listed)/2) // the rest for the large ones
	cands := listed[:2*want]
	var small, large []store.Entry
	next := 0 // past the last small one
	for i, ok := range held(cands) {
		if ok && len(small) < want {
			small, next = append(small, cands[i]), i+1
		}
	}
	m := CheckModel{SourceOnly: len(small) == 0}
	if m.SourceOnly {
		small, next = listed[:want], want
	}
	// The largest that fit in maxBytes, from those after the small ones.
	var fit []store.Entry
	var fitBytes int64
	for j := len(listed) - 1; j >= next && len(fit) < 100 && fitBytes < maxBytes; j-- {
		if e := listed[j]; fitBytes+e.Size <= maxBytes {
			fit = append(fit, e)
			fitBytes += e.Size
		}
	}
	if m.SourceOnly {
		large = fit
	} else {
		for i, ok := range held(fit) {
			if ok {
				large = append(large, fit[i])
			}
		}
	}
	if len(small) < 2 {
		return m, nil // too few files to tell anything
	}
	t0 := time.Now()
	algo := verifyHash(ctx, src, dst) // asks a host for its tools, once per check
	ask := time.Since(t0).Seconds()
	hashFor := func(files []store.Entry) (float64, error) {
		if len(files) == 0 {
			return 0, nil
		}
		return timeHashing(ctx, src, dst, files, algo, o.Workers, m.SourceOnly)
	}
	// Asking for the tools is fixed, and the first hashing dials the
	// connections: what it takes beyond the same hashing again is fixed.
	// Then a part of the small files and all of them: the difference is
	// per file; the rest of the part's time is what any hashing costs (a
	// remote command per connection: every call here has as many). The
	// large files then give the cost per byte.
	few := small[:len(small)/6+1]
	var t [4]float64
	for i, files := range [][]store.Entry{small, few, small, large} {
		var err error
		if t[i], err = hashFor(files); err != nil {
			return m, err
		}
	}
	cold, tFew, tSmall, tLarge := t[0], t[1], t[2], t[3]
	m.PerFile = math.Max(tSmall-tFew, 0) / float64(len(small)-len(few))
	call := math.Max(tFew-m.PerFile*float64(len(few)), 0)
	if bl := sizeOf(large); bl > 0 {
		m.PerByte = (tLarge - call - m.PerFile*float64(len(large))) / bl
		if m.PerByte <= 0 {
			// Below what this machine's noise lets the probe tell apart
			// (a small tree: a few MB): at most all of it.
			m.PerByte = tLarge / bl
		}
	}
	m.Fixed = ask + math.Max(cold-tSmall, 0) + call
	m.Files = int64(len(small) + len(large))
	m.Bytes = int64(sizeOf(small) + sizeOf(large))
	return m, nil
}

// probeSmall is how many small files ProbeCheck hashes.
const probeSmall = 600

func sizeOf(files []store.Entry) float64 {
	var n int64
	for _, e := range files {
		n += e.Size
	}
	return float64(n)
}

// timeHashing times the check's hashing of files with algo: both sides at
// once, or the source side alone.
func timeHashing(ctx context.Context, src, dst store.Store, files []store.Entry, algo checksum.Algorithm, workers int, sourceOnly bool) (float64, error) {
	c := &progress.Counter{}
	t0 := time.Now()
	var err error
	if sourceOnly {
		_, err = hashSide(ctx, src, entryPointers(files), algo, workers, c)
	} else {
		err = compareHashes(ctx, src, dst, entryPointers(files), nil, algo, workers, c, &FilesReport{})
	}
	return time.Since(t0).Seconds(), err
}
