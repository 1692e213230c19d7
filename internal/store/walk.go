package store

import (
	"cmp"
	"context"
	"sync"
)

// walkDirs lists a tree for Walk, reading up to workers directories at once
// (on NFS, and over SFTP without a shell, every directory costs round trips
// that one reader would wait for in turn). list returns the entries of the
// directory rel ("" is the root), symlink targets filled in, and passes to
// bad what it could not read; an error it returns ends the walk when fatal
// turns it into one, else it goes to bad. fn and bad are called one at a
// time, a directory before what it holds. A directory found while every
// worker is busy is read by the goroutine that found it, so the number of
// goroutines stays bounded as well, however wide the tree.
func walkDirs(ctx context.Context, workers int, list func(ctx context.Context, rel string, bad func(string, error)) ([]Entry, error),
	fatal func(rel string, err error) error, fn func(Entry) error, bad func(string, error)) error {
	var (
		mu       sync.Mutex // serialises fn and bad, guards firstErr
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, workers)
	)
	report := func(p string, err error) {
		mu.Lock()
		bad(p, err)
		mu.Unlock()
	}
	var visit func(rel string)
	visit = func(rel string) {
		defer wg.Done()
		if ctx.Err() != nil {
			mu.Lock()
			firstErr = cmp.Or(firstErr, ctx.Err())
			mu.Unlock()
			return
		}
		entries, err := list(ctx, rel, report)
		mu.Lock()
		if err != nil {
			if ferr := fatal(rel, err); ferr != nil {
				firstErr = cmp.Or(firstErr, ferr)
			} else {
				bad(rel, err)
			}
		}
		for _, e := range entries {
			if firstErr != nil {
				break
			}
			firstErr = fn(e)
		}
		stopped := firstErr != nil
		mu.Unlock()
		if stopped {
			return
		}
		for _, e := range entries {
			if e.Type != Dir {
				continue
			}
			wg.Add(1)
			select {
			case sem <- struct{}{}:
				go func() {
					defer func() { <-sem }()
					visit(e.Path)
				}()
			default: // every worker busy: this one goes down itself
				visit(e.Path)
			}
		}
	}
	wg.Add(1)
	visit("")
	wg.Wait()
	return firstErr
}
