package pgcopy

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// parallel feeds items, in order, to up to workers goroutines that each run
// work over the shared queue (so each can hold its own connections for all
// the items it takes). The first error cancels the others and is returned.
func parallel[T any](ctx context.Context, workers int, items []T, work func(ctx context.Context, queue <-chan T) error) error {
	queue := make(chan T)
	g, gctx := errgroup.WithContext(ctx)
	for w := 0; w < min(workers, max(len(items), 1)); w++ {
		g.Go(func() error { return work(gctx, queue) })
	}
	g.Go(func() error {
		defer close(queue)
		for _, it := range items {
			select {
			case queue <- it:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	return g.Wait()
}
