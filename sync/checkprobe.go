package sync

import (
	"context"
	"errors"
	"time"

	"github.com/cutover/cutover/internal/progress"
	"github.com/cutover/cutover/internal/store"
)

// CheckProbe is what ProbeCheck measured: how long `files verify` took to
// hash a sample of files on both sides.
type CheckProbe struct {
	Files   int64   `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// SourceOnly: the target held none of the sample (before a first
	// copy), so only the source side was timed.
	SourceOnly bool `json:"source_only,omitempty"`
}

// ProbeCheck times the hashing that `files verify` does, on the first
// files the source lists (up to maxFiles and maxBytes) that the filters
// take: both sides at once for those the target holds at the same size,
// as the check hashes them, else the source side alone. It writes nothing.
func ProbeCheck(ctx context.Context, o FilesOptions, maxFiles int, maxBytes int64) (CheckProbe, error) {
	src, dst, err := openStores(ctx, &o, false)
	if err != nil {
		return CheckProbe{}, err
	}
	defer src.Close()
	defer dst.Close()
	var sample []store.Entry
	var sampled int64
	listed := 0
	enough := errors.New("enough")
	err = src.Walk(ctx, func(e store.Entry) error {
		listed++
		if e.Type == store.File && o.Filter.Included(e.Path, false) && sampled+e.Size <= maxBytes {
			sample = append(sample, e)
			sampled += e.Size
		}
		if len(sample) >= maxFiles || listed >= 20*maxFiles {
			return enough
		}
		return nil
	}, func(string, error) {})
	if err != nil && !errors.Is(err, enough) {
		return CheckProbe{}, err
	}
	var both []store.Entry
	var bytes int64
	for _, e := range sample {
		if t, err := dst.Lstat(ctx, e.Path); err == nil && t.Type == store.File && t.Size == e.Size {
			both = append(both, e)
			bytes += e.Size
		}
	}
	c := &progress.Counter{}
	t0 := time.Now()
	if len(both) == 0 {
		_, _, err := hashSide(ctx, src, sample, o.Workers, c)
		return CheckProbe{Files: int64(len(sample)), Bytes: sampled, Seconds: time.Since(t0).Seconds(), SourceOnly: true}, err
	}
	err = compareHashes(ctx, src, dst, both, o.Workers, c, &FilesReport{})
	return CheckProbe{Files: int64(len(both)), Bytes: bytes, Seconds: time.Since(t0).Seconds()}, err
}
