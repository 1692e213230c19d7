package sync

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/internal/errs"
	"github.com/cutover/cutover/internal/progress"
)

// defaultStall is how long a run may go with nothing moving before it
// stops (FilesOptions.StallTimeout 0).
const defaultStall = 10 * time.Minute

// stallWatch stops a run in which nothing moves for a while: no entry
// listed, no byte read, no action done. A read stuck on a hung NFS mount
// under the source's shared home blocks for ever while sshd, which is not
// stuck, still answers every keepalive, and an unattended rehearsal would
// wait until someone looked. What moves is counted by tick (the listing,
// the results) and read from the copy's progress counter.
type stallWatch struct {
	moved   atomic.Int64
	counter atomic.Pointer[progress.Counter]
	fired   chan struct{} // closed once the watch stopped the run
}

type stallKey struct{}

// stallOf is the run's watch (nil outside a run: tick does nothing).
func stallOf(ctx context.Context) *stallWatch {
	w, _ := ctx.Value(stallKey{}).(*stallWatch)
	return w
}

func (w *stallWatch) tick() {
	if w != nil {
		w.moved.Add(1)
	}
}

// watch registers the copy's counter, whose bytes and files move too.
func (w *stallWatch) watch(c *progress.Counter) {
	if w != nil {
		w.counter.Store(c)
	}
}

func (w *stallWatch) progress() int64 {
	n := w.moved.Load()
	if c := w.counter.Load(); c != nil {
		n += c.BytesDone.Load() + c.FilesDone.Load()
	}
	return n
}

// watched runs fn under a stall watch and returns its error, or the
// watch's when the watch stopped it. Work that does not end within a
// grace after that (a write stuck in the kernel at a hung NFS or EFS mount
// at the target, which nothing in the process can interrupt) is left
// behind: watched returns, for the caller to report and exit, and the
// next run cleans up after it as after a kill.
func watched(ctx context.Context, limit time.Duration, logf func(string, ...any), fn func(context.Context) error) error {
	wctx, w, end := watchStall(ctx, limit, logf)
	defer end()
	errc := make(chan error, 1)
	go func() { errc <- fn(wctx) }()
	select {
	case err := <-errc:
		return stalled(wctx, err)
	case <-w.fired:
	}
	grace := min(max(limit/2, time.Second), time.Minute)
	select {
	case err := <-errc:
		return stalled(wctx, err)
	case <-time.After(grace):
		logf("the run did not end within %s of being stopped: leaving what is stuck (a write in the kernel at a hung mount?)", grace)
		return &leftBehind{cause: context.Cause(wctx), grace: grace}
	}
}

// watchStall returns ctx with a watch that cancels it, with a fatal error
// as its cause, once nothing moved for limit (0: defaultStall; never when
// limit < 0), and the function that ends the watch.
func watchStall(ctx context.Context, limit time.Duration, logf func(string, ...any)) (context.Context, *stallWatch, func()) {
	if limit == 0 {
		limit = defaultStall
	}
	w := &stallWatch{fired: make(chan struct{})}
	ctx = context.WithValue(ctx, stallKey{}, w)
	if limit < 0 {
		return ctx, w, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		every := max(limit/10, 100*time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		last, since := w.progress(), time.Now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				if n := w.progress(); n != last {
					last, since = n, now
					continue
				}
				if now.Sub(since) >= limit {
					logf("nothing moved for %s: stopping the run (is a read stuck at the source or the target, such as on a hung NFS mount?); the next run resumes where this one stopped", limit)
					cancel(errs.Fatalf("nothing moved for %s (no entry listed, no byte read, no file done): the source or the target does not answer, though the SSH connection does (a hung NFS mount under the shared home looks like this); check it, then run again to resume; --stall-timeout sets the limit", limit))
					close(w.fired)
					return
				}
			}
		}
	}()
	return ctx, w, func() { close(done); cancel(nil) }
}

// stalled is the watch's error when it stopped ctx, else err.
func stalled(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && cause != context.Canceled && errs.KindOf(cause) == errs.Fatal {
		return cause
	}
	return err
}

// leftBehind is the error of a run whose work was left stuck (see
// watched): its state may not be written to any more, since the stuck
// work may hold it.
type leftBehind struct {
	cause error
	grace time.Duration
}

func (e *leftBehind) Error() string {
	return fmt.Sprintf("%v; the run did not end within %s of being stopped, so a write is stuck in the kernel (a hung NFS or EFS mount at the target?): the next run cleans up after it", e.cause, e.grace)
}

func (e *leftBehind) Unwrap() error { return e.cause }
