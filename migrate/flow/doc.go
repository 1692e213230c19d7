// Package flow drives a whole installation from cutover.yaml: `plan` (an
// inventory, the delta against the state, and the phases bulk → presync →
// final with estimated durations), `presync` (a rehearsal: file deltas, index
// ships, a database copy into the rehearsal target), `final` (preflight,
// then the last file delta with deletions, the database copy and the index
// ships at once, full verification and a GO/NO-GO report) and `status`.
//
// Estimates come from a throughput model fitted to the earlier runs in the
// state (per-entry listing cost, per-file cost and bytes per second for
// files; seconds per byte for a database copy and its verification), or,
// with no history yet, from a short probe that reads the sources and writes
// into a scratch location at the target which it removes. Never from
// constants.
//
// Each part keeps its own state under <state>/files/<name> and
// <state>/db/<name>, so that the parts of `final` run concurrently.
package flow
