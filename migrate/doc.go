// Package migrate executes planned actions with bounded worker pools: copy
// a file (stream, hash, write to a temporary name, sync, rename, verify),
// make a link, fix metadata, delete. It never exposes a partial result and
// retries transient errors with backoff in this one layer. It does not
// decide what to do (package plan) nor remember it (the caller records each
// Result in the state).
package migrate
