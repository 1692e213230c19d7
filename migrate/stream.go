package migrate

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/checksum"
	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/store"
	"github.com/cutover/cutover/plan"
)

// Batches of a stream: at most this many files or bytes (a larger file
// goes alone), and smaller when the copy is small, so that each stream
// gets several batches: the streams share the work evenly, and a killed
// run loses little (a batch is renamed into place only once whole). Each
// batch starts a remote head and tar: 2048 files or 128 MiB, against 512
// or 32 MiB, took the bench's full copy 3.64-3.70 s against 3.72-3.92 s
// (medians of two sets of 6 alternating rounds, faster in 9 of 12).
const (
	batchFiles    = 2048
	batchBytes    = 128 << 20
	minBatchFiles = 16
	minBatchBytes = 1 << 20
	// Files up to bufferedFile are read whole from the stream and written
	// by the stream's writers, several at once, since a high-latency target
	// (EFS: milliseconds per create, chmod, rename) needs parallel writes to
	// keep up with one stream; larger files are written as they stream.
	bufferedFile = 1 << 20
	// A copy gets a stream per streamBytes or streamFiles, up to
	// FileOptions.Streams. The first stream runs on the connection the
	// listing opened; each one more costs a remote shell and a connection
	// (35-45 ms on loopback before it carries anything), which only bulk
	// wins back. One stream with the copy's writers took 0.36-0.41 s for a
	// rerun that copied 201 files (15 MB), per-file SFTP over 4
	// connections 0.42-0.46 s; for 10 files 0.31-0.33 s against 0.35-0.37 s.
	streamBytes = 64 << 20
	streamFiles = 2048
	// From a source on a network filesystem, tar waits on the server to
	// open and close every file: one stream per networkStreamFiles files,
	// up to Workers. 2,000 files at 1 ms per request took 4.7 s to copy
	// in 3 streams and 1.5 s in 16 (listing aside; make bench-nfs-source).
	networkStreamFiles = 128
)

// Buffers for whole small files, in two sizes so that the common file of a
// few KiB does not hold (nor, after each collection empties the pools,
// allocate) a MiB.
var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
	fileBufs  = sync.Pool{New: func() any { b := make([]byte, bufferedFile); return &b }}
	noBuf     = new([]byte)
)

func getBuf(size int64) (*[]byte, func()) {
	switch {
	case size == 0:
		return noBuf, func() {}
	case size <= 64<<10:
		bp := smallBufs.Get().(*[]byte)
		return bp, func() { smallBufs.Put(bp) }
	}
	bp := fileBufs.Get().(*[]byte)
	return bp, func() { fileBufs.Put(bp) }
}

// streamCopies copies files through src's streams, several at once: one
// remote tar per batch instead of SFTP's requests per file and per 32 KiB.
// Every file of a batch is written under a temporary name and renamed into
// place only once the whole stream ended well, since tar tells that some
// file changed while it was read but not which. It returns the actions it
// did not complete (a file that changed, could not be read, or a batch that
// failed), which the caller copies one by one; only fatal errors and
// interruptions are returned as errors.
func (x *fileExec) streamCopies(ctx context.Context, sr store.Streamer, actions []plan.Action, results chan<- Result) ([]plan.Action, error) {
	// Partition in place, keeping the order: a copy of the list would
	// cost 168 MB on a tree of 10^6 files.
	var rest []plan.Action
	var total int64
	n := 0
	for _, a := range actions {
		if a.Kind == plan.Copy && a.IfHashDiffers() == "" && a.Entry.Type == store.File {
			actions[n] = a
			n++
			total += a.Entry.Size
		} else {
			rest = append(rest, a)
		}
	}
	streamable := actions[:n]
	streams, perFiles := x.opt.Streams, int64(streamFiles)
	if x.opt.NetworkSource {
		perFiles = networkStreamFiles
	}
	if streams == 0 {
		streams = min(x.opt.Workers, 4)
		if x.opt.NetworkSource {
			streams = x.opt.Workers
		}
	}
	if len(streamable) == 0 {
		return rest, nil
	}
	streams = int(min(int64(streams), max(1, (total+streamBytes-1)/streamBytes, (int64(len(streamable))+perFiles-1)/perFiles)))
	perStream := int64(4 * streams)
	maxFiles := int(min(batchFiles, max(minBatchFiles, int64(len(streamable))/perStream)))
	maxBytes := min(batchBytes, max(minBatchBytes, total/perStream))
	var batches [][]plan.Action
	for lo := 0; lo < len(streamable); {
		hi, bytes := lo, int64(0)
		for hi < len(streamable) && hi-lo < maxFiles && (hi == lo || bytes+streamable[hi].Entry.Size <= maxBytes) {
			bytes += streamable[hi].Entry.Size
			hi++
		}
		batches = append(batches, streamable[lo:hi])
		lo = hi
	}
	writers := max(1, x.opt.TargetOps/streams)
	var (
		off     atomic.Bool // the source cannot stream: the rest goes one by one
		failed  = make(chan []plan.Action, len(batches))
		g, gctx = errgroup.WithContext(ctx)
		queue   = make(chan []plan.Action)
	)
	g.Go(func() error {
		defer close(queue)
		for _, b := range batches {
			select {
			case queue <- b:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range streams {
		g.Go(func() (err error) {
			var fs store.FileStream
			// The previous batch is installed (renamed, read back) while
			// this one streams: one install in flight per stream.
			// installing holds one value but while an install runs, which
			// puts it back; the stream does not end before its install.
			installing := make(chan error, 1)
			installing <- nil
			defer func() {
				if ierr := <-installing; err == nil {
					err = ierr
				}
				if fs != nil {
					fs.Close()
				}
			}()
			for b := range queue {
				if fs == nil && !off.Load() {
					var err error
					if fs, err = sr.OpenStream(gctx); errors.Is(err, store.ErrNoExec) {
						off.Store(true)
					} else if err != nil && (errs.KindOf(err) == errs.Fatal || gctx.Err() != nil) {
						return err
					}
				}
				if fs == nil {
					failed <- b
					continue
				}
				rb, err := x.streamBatch(gctx, fs, b, writers)
				if err != nil {
					fs.Close()
					fs = nil
					if errs.KindOf(err) == errs.Fatal || errs.Interrupted(err) || gctx.Err() != nil {
						return err
					}
					failed <- b
					continue
				}
				if err := <-installing; err != nil {
					installing <- err
					rb.abort()
					return err
				}
				go func() {
					left, err := x.install(gctx, rb, writers, results)
					failed <- left
					installing <- err
				}()
			}
			return nil
		})
	}
	err := g.Wait()
	close(failed)
	for b := range failed {
		rest = append(rest, b...)
	}
	if err == nil {
		err = ctx.Err()
	}
	return rest, err
}

// received is a batch written under temporary names, to install or abort.
type received struct {
	batch []plan.Action
	done  []*written // by index in batch; nil: not written (changed since the listing)
}

// written is a file received and staged under a temporary name.
type written struct {
	st       store.Staged
	sum      checksum.Sum
	verified bool // read back as it was staged, and found equal
}

// abort removes what the batch wrote.
func (rb received) abort() {
	for _, w := range rb.done {
		if w != nil {
			w.st.Abort()
		}
	}
}

// streamBatch receives one batch through one stream, writing it under
// temporary names with up to writers goroutines. After an error the stream
// must be closed; nothing of the batch is left at the target, and the
// caller copies it file by file.
func (x *fileExec) streamBatch(ctx context.Context, fs store.FileStream, batch []plan.Action, writers int) (received, error) {
	rb := received{batch: batch, done: make([]*written, len(batch))} // each index is set by one writer
	done := rb.done
	var counted atomic.Int64
	entries := make([]store.Entry, len(batch))
	for i, a := range batch {
		entries[i] = *a.Entry
	}
	wg, wctx := errgroup.WithContext(ctx)
	wg.SetLimit(writers)
	// write stages one file; a fatal error (a full disk) stops the batch,
	// any other leaves the file to the caller.
	write := func(i int, fill func(io.Writer) (int64, checksum.Sum, error)) error {
		st, sum, verified, err := x.writeFile(wctx, x.mapped(*batch[i].Entry), fill)
		if err != nil {
			if errs.KindOf(err) == errs.Fatal || errs.Interrupted(err) {
				return err
			}
			return nil // copied again alone (read back other than written: its read-back then says so)
		}
		done[i] = &written{st: st, sum: sum, verified: verified}
		return nil
	}
	err := fs.ReadFiles(wctx, entries, func(i int, at store.Entry, r io.Reader) error {
		e := batch[i].Entry
		if at.Size != e.Size || !x.sameAsListed(*e, at) {
			return nil // changed since the listing: copied alone, after a fresh look
		}
		if e.Size > bufferedFile {
			return write(i, func(w io.Writer) (int64, checksum.Sum, error) {
				buf := copyBufs.Get().(*[]byte)
				defer copyBufs.Put(buf)
				hw := checksum.NewWriter(checksum.Content, w)
				n, err := copyWhole(hw, x.metered(wctx, r, &counted), *buf)
				sum := hw.Sum()
				hw.Release() // written by this goroutine alone, and done
				return n, sum, err
			})
		}
		bp, put := getBuf(e.Size)
		b := (*bp)[:e.Size]
		if _, err := io.ReadFull(x.metered(wctx, r, &counted), b); err != nil {
			put()
			return err
		}
		wg.Go(func() error {
			defer put()
			return write(i, func(w io.Writer) (int64, checksum.Sum, error) {
				n, err := w.Write(b)
				return int64(n), checksum.Bytes(checksum.Content, b), err
			})
		})
		return nil
	})
	if werr := wg.Wait(); werr != nil {
		err = werr // a writer's fatal error, which also ended the stream
	}
	if err != nil {
		rb.abort()
		x.opt.Progress.BytesDone.Add(-counted.Load())
		return received{}, err
	}
	return rb, nil
}

// install renames a batch whose every file was read whole and unchanged
// into place, reads each file back and reports it; it returns the files it
// could not install, to be copied one by one (a fatal error stops it).
func (x *fileExec) install(ctx context.Context, rb received, writers int, results chan<- Result) ([]plan.Action, error) {
	batch, done := rb.batch, rb.done
	var mu sync.Mutex
	var left []plan.Action
	leave := func(a plan.Action) {
		mu.Lock()
		left = append(left, a)
		mu.Unlock()
	}
	cg, cctx := errgroup.WithContext(ctx)
	cg.SetLimit(writers)
	for i, w := range done {
		a := batch[i]
		if w == nil {
			leave(a)
			continue
		}
		cg.Go(func() error {
			if err := w.st.Commit(); err != nil {
				if errs.KindOf(err) == errs.Fatal {
					return err
				}
				leave(a)
				return nil
			}
			r := Result{Action: a, Entry: *a.Entry, Hash: string(w.sum), Bytes: a.Entry.Size, Streamed: true, Verified: w.verified}
			if !w.verified {
				if r.Verified, r.Err = x.verifyWritten(cctx, *a.Entry, w.sum); r.Err != nil {
					leave(a)
					return nil
				}
			}
			x.opt.Progress.FilesDone.Add(1)
			select {
			case results <- r:
				return nil
			case <-cctx.Done():
				return cctx.Err()
			}
		})
	}
	return left, cg.Wait()
}

// writeFile stages e at the target with fill, which returns the hash of
// what it wrote: through the target's Stage, or Put for a target without
// one (the file is then in place at once). Where the target can read a
// file back as it stages it, and the run verifies what it writes, the file
// is read back so (the read-back of --verify transferred, with no second
// open by name): one read back other than written is removed, with the
// error corrupted, and verified says the others were.
func (x *fileExec) writeFile(ctx context.Context, e store.Entry, fill func(io.Writer) (int64, checksum.Sum, error)) (st store.Staged, sum checksum.Sum, verified bool, err error) {
	put := func(w io.Writer) (n int64, err error) {
		n, sum, err = fill(w)
		return n, err
	}
	if s, ok := x.dst.(store.ReadBackStager); ok && x.opt.Verify {
		hw := checksum.NewWriter(checksum.Content, nil)
		if st, err = s.StageReadBack(ctx, e, x.opt.Owner, put, hw); err != nil {
			return nil, sum, false, err
		}
		back := hw.Sum()
		hw.Release() // read in this goroutine, and done
		if back != sum {
			st.Abort()
			return nil, sum, false, corrupted(e, sum, back)
		}
		return st, sum, true, nil
	}
	if s, ok := x.dst.(store.Stager); ok {
		st, err = s.Stage(ctx, e, x.opt.Owner, put)
		return st, sum, false, err
	}
	return installed{}, sum, false, x.dst.Put(ctx, e, x.opt.Owner, put)
}

// installed is what a target without Stage wrote: already in place.
type installed struct{}

func (installed) Commit() error { return nil }
func (installed) Abort()        {}

// metered counts what r reads in the progress and in n, and applies the
// bandwidth limit.
func (x *fileExec) metered(ctx context.Context, r io.Reader, n *atomic.Int64) io.Reader {
	return &meteredReader{r: r, x: x, ctx: ctx, n: n}
}

type meteredReader struct {
	r   io.Reader
	x   *fileExec
	ctx context.Context
	n   *atomic.Int64
}

func (m *meteredReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n > 0 {
		if werr := m.x.account(m.ctx, n); werr != nil {
			return n, werr
		}
		m.n.Add(int64(n))
	}
	return n, err
}

// copyWhole copies r to w through buf, filling buf before each write, so
// that every write but the last is len(buf) long and starts on a block
// boundary of the file. io.CopyBuffer writes what each read returns, here
// what an SSH packet or two held: a write that ends inside a block makes
// the kernel zero the rest of that block, which the next write fills again
// (1.7% of the machine's CPU in a full copy).
func copyWhole(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := fill(r, buf)
		if k > 0 {
			wk, werr := w.Write(buf[:k])
			n += int64(wk)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// fill reads into buf until it is full or r returns an error (io.EOF
// included, unlike io.ReadFull, which cannot tell r's own
// io.ErrUnexpectedEOF from its own).
func fill(r io.Reader, buf []byte) (int, error) {
	k := 0
	for k < len(buf) {
		m, err := r.Read(buf[k:])
		k += m
		if err != nil {
			return k, err
		}
	}
	return k, nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
