// Package sync runs cutover's repeated delta syncs: list the source, diff
// against the manifest in the state, execute the plan, verify, record, and
// report. `files sync` and `files verify` live here; Lucene index shipping
// will too. It wires the other packages together and holds no I/O of its own.
package sync
